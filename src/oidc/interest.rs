//! Which requests analysis needs whole. The proxy knows nothing about OpenID Connect; it asks
//! this predicate (handed to it as a plain function) when a request arrives: a yes keeps the
//! record with its bodies on a queue that is never dropped from, a no keeps a summary that may
//! be dropped when the machine is saturated. The answer follows what analysis has learned:
//! authentik's and the common default paths, the endpoints named by every discovery document
//! seen, authentik's flow pages, and any request carrying an authorization response.

use std::sync::{Arc, RwLock};

use super::classify::{EndpointBook, ExchangeKind, classify_request, is_provider_flow, normalize_host};
use super::messages::Discovery;

/// Shared between the analyzer (which teaches it) and the proxy's capture (which asks it).
#[derive(Clone, Default)]
pub struct Interest {
    book: Arc<RwLock<EndpointBook>>,
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
}
