//! Which requests analysis needs whole. The proxy knows nothing about OpenID Connect; it asks
//! this predicate (handed to it as a plain function) when a request arrives: a yes keeps the
//! record with its bodies on a queue that is never dropped from, a no keeps a summary that may
//! be dropped when the machine is saturated. The answer follows what analysis has learned:
//! authentik's and the common default paths, the endpoints named by every discovery document
//! seen, authentik's flow pages, and any request carrying an authorization response.
//!
//! A request it said no to is asked about again when its response head arrives, because only
//! the answer shows some login steps: a provider's resume URL (oidc-provider's
//! `/authorize/<uid>`, Keycloak's `/login-actions/…`, authentik's executor when it redirects)
//! answers with the code in its `Location`; a provider's login page or `form_post` page is
//! HTML; its login form redirects on to the resume URL; it sets its session cookies on the
//! way. All but the first count only on a provider's host (one a discovery document named)
//! while a login is open (the analyzer keeps that count here), so a provider's other pages
//! stay summaries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::classify::{EndpointBook, ExchangeKind, classify_request, is_provider_flow, normalize_host};
use super::messages::Discovery;
use crate::capture::RequestRecord;

/// Shared between the analyzer (which teaches it) and the proxy's capture (which asks it).
#[derive(Clone, Default)]
pub struct Interest {
    book: Arc<RwLock<EndpointBook>>,
    /// Logins open now (set by the analyzer after each exchange).
    open_logins: Arc<AtomicUsize>,
}

/// The parameters of an authorization response (RFC 6749 4.1.2, 4.1.2.1; OIDC Core 3.2.2.5;
/// RFC 9207 `iss`): a URL whose query or fragment carries one is a login step.
const RESPONSE_PARAMS: [&str; 5] = ["code", "state", "error", "id_token", "iss"];

/// Whether a URL's query or fragment carries an authorization response parameter.
pub fn carries_authorization_response(url: &str) -> bool {
    let after = |c: char| url.split_once(c).map(|(_, rest)| rest);
    [after('?').map(|q| q.split('#').next().unwrap_or(q)), after('#')].into_iter().flatten().any(|q| {
        q.split('&').any(|kv| {
            let name = kv.split('=').next().unwrap_or(kv);
            RESPONSE_PARAMS.contains(&name)
        })
    })
}

impl crate::capture::Wants for Interest {
    fn request(&self, method: &str, scheme: &str, host: &str, path: &str) -> bool {
        self.wants(method, scheme, host, path)
    }

    fn answer(&self, req: &RequestRecord, status: u16, headers: &http::HeaderMap) -> bool {
        self.wants_answer(req, status, headers)
    }
}

impl Interest {
    /// Whether a request is (or may be) a step of a login: a lookup, no decoding.
    pub fn wants(&self, method: &str, scheme: &str, host: &str, path: &str) -> bool {
        let (path_only, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        if is_provider_flow(path_only) {
            return true;
        }
        // Wherever it goes, a redirect that carries an authorization response is a login step.
        if let Some(q) = query
            && q.split('&')
                .any(|kv| kv.starts_with("code=") || kv.starts_with("state=") || kv.starts_with("error="))
        {
            return true;
        }
        let host = normalize_host(host, scheme);
        let book = self.book.read().unwrap_or_else(|p| p.into_inner());
        classify_request(&book, method, &host, path) != ExchangeKind::Other
    }

    /// Whether the answer to a request kept as a summary shows a login step after all: a
    /// redirect carrying an authorization response, or (while a login is open) a provider
    /// host's HTML page, redirect, or response setting or clearing its cookies.
    pub fn wants_answer(&self, req: &RequestRecord, status: u16, headers: &http::HeaderMap) -> bool {
        if (300..400).contains(&status)
            && headers
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(carries_authorization_response)
        {
            return true;
        }
        if self.open_logins.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let html = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
        if !html && !(300..400).contains(&status) && !headers.contains_key(http::header::SET_COOKIE) {
            return false;
        }
        let host = normalize_host(&req.host, &req.scheme);
        self.book.read().unwrap_or_else(|p| p.into_inner()).knows_host(&host)
    }

    /// How many logins are open now (the analyzer says after each exchange it reads).
    pub fn set_open_logins(&self, n: usize) {
        self.open_logins.store(n, Ordering::Relaxed);
    }

    /// A discovery document was read: its endpoints are login steps from now on.
    pub fn learn(&self, d: &Discovery) {
        self.book.write().unwrap_or_else(|p| p.into_inner()).learn(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_steps_are_wanted_static_files_are_not() {
        let i = Interest::default();
        let wants = |m: &str, p: &str| i.wants(m, "https", "authentik.company", p);
        assert!(wants("GET", "/application/o/mastodon/.well-known/openid-configuration"));
        assert!(wants("POST", "/application/o/token/"));
        assert!(wants("GET", "/application/o/authorize/?client_id=x"));
        assert!(wants("GET", "/if/flow/default-authentication-flow/?next=%2F"));
        assert!(wants("POST", "/api/v3/flows/executor/default-authentication-flow/"));
        assert!(wants("GET", "/auth/auth/openid_connect/callback?code=abc&state=def"));
        assert!(wants("GET", "/somewhere/else?state=1&code=2"));
        assert!(!wants("GET", "/static/dist/assets/fonts/inter.woff2"));
        assert!(!wants("GET", "/if/admin/"));
        assert!(!wants("GET", "/api/v3/core/brands/current/"));
        // Discovery names a token endpoint at an unusual path: wanted from then on.
        let d = Discovery {
            fetched_from: "https://id.example/.well-known/openid-configuration".into(),
            issuer: Some("https://id.example/".into()),
            token_endpoint: Some("https://id.example/oauth/v2/exchange".into()),
            ..Default::default()
        };
        assert!(!i.wants("POST", "https", "id.example", "/oauth/v2/exchange"));
        i.learn(&d);
        assert!(i.wants("POST", "https", "id.example", "/oauth/v2/exchange"));
    }

    fn heads(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        for (n, v) in pairs {
            m.append(*n, http::HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn authorization_responses_are_found_in_query_or_fragment() {
        for yes in [
            "https://rp/cb?code=1&state=2",
            "https://rp/cb?x=1&state=2",
            "https://rp/cb?error=access_denied",
            "https://rp/cb#id_token=a.b.c",
            "/cb?iss=https%3A%2F%2Fid",
            "https://rp/cb?a=1#code=2",
        ] {
            assert!(carries_authorization_response(yes), "{yes}");
        }
        for no in
            ["https://rp/cb", "https://rp/cb?codex=1", "/if/flow/x/?next=%2Fcode%3D1", "https://rp/#top"]
        {
            assert!(!carries_authorization_response(no), "{no}");
        }
    }

    /// The second look, at the answer: a code in a Location always; a provider's page, redirect
    /// or cookie only on a provider's host while a login is open.
    #[test]
    fn the_answer_decides_for_a_request_that_looked_like_nothing() {
        let i = Interest::default();
        let req = |host: &str, path: &str| RequestRecord::new("GET", "https", host, path, "HTTP/1.1", vec![]);
        let resume = req("id.example", "/application/o/authorize/Xy12");
        let code = heads(&[("location", "https://rp.example/cb?code=c&state=s")]);
        assert!(i.wants_answer(&resume, 303, &code), "a code in Location is a login step anywhere, any time");
        assert!(!i.wants_answer(&resume, 200, &code), "only a redirect's Location counts");
        let html = heads(&[("content-type", "text/html; charset=utf-8")]);
        let cookie = heads(&[("set-cookie", "_session=1; path=/")]);
        let hop = heads(&[("location", "/application/o/authorize/Xy12")]);
        let js = heads(&[("content-type", "application/javascript")]);
        let page = req("id.example", "/interaction/Xy12");
        let cases = [(200, &html), (200, &cookie), (303, &hop)];
        // No provider host known yet, no login open: summaries.
        for (status, h) in cases {
            assert!(!i.wants_answer(&page, status, h));
        }
        i.learn(&Discovery {
            fetched_from: "https://id.example/.well-known/openid-configuration".into(),
            issuer: Some("https://id.example/".into()),
            authorization_endpoint: Some("https://id.example/application/o/authorize/".into()),
            ..Default::default()
        });
        for (status, h) in cases {
            assert!(!i.wants_answer(&page, status, h), "no login open");
        }
        i.set_open_logins(1);
        for (status, h) in cases {
            assert!(i.wants_answer(&page, status, h), "{status} {h:?}");
        }
        assert!(!i.wants_answer(&page, 200, &js), "a script is no login step");
        assert!(!i.wants_answer(&req("rp.example", "/home"), 200, &html), "not the provider's host");
        i.set_open_logins(0);
        assert!(!i.wants_answer(&page, 200, &html));
    }
}
