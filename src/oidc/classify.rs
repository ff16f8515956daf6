//! Which OpenID Connect step an exchange is. Endpoints learned from discovery documents win;
//! authentik's and common default paths are only the fallback for hosts whose discovery was
//! never seen (so a provider with unusual paths is never misread by path alone).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::messages::{Discovery, Endpoint};
pub use super::url::{host_path, normalize_host};

/// The `kind` field of the journal: a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeKind {
    Discovery,
    Jwks,
    Authorize,
    /// The exchange that carried the code or the error, wherever it was.
    AuthorizeResponse,
    Token,
    Userinfo,
    EndSession,
    Introspection,
    Revocation,
    RpLogin,
    RpCallback,
    RpFailure,
    /// The browser's steps through the provider's own login flow (authentik's flow pages and
    /// flow executor) between the authorize request and the code.
    ProviderFlow,
    Other,
}

impl ExchangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Discovery => "discovery",
            ExchangeKind::Jwks => "jwks",
            ExchangeKind::Authorize => "authorize",
            ExchangeKind::AuthorizeResponse => "authorize_response",
            ExchangeKind::Token => "token",
            ExchangeKind::Userinfo => "userinfo",
            ExchangeKind::EndSession => "end_session",
            ExchangeKind::Introspection => "introspection",
            ExchangeKind::Revocation => "revocation",
            ExchangeKind::RpLogin => "rp_login",
            ExchangeKind::RpCallback => "rp_callback",
            ExchangeKind::RpFailure => "rp_failure",
            ExchangeKind::ProviderFlow => "provider_flow",
            ExchangeKind::Other => "other",
        }
    }

    /// Console label.
    pub fn label(self) -> &'static str {
        match self {
            ExchangeKind::Discovery => "DISCOVERY",
            ExchangeKind::Jwks => "JWKS",
            ExchangeKind::Authorize => "AUTHORIZE",
            ExchangeKind::AuthorizeResponse => "CODE",
            ExchangeKind::Token => "TOKEN",
            ExchangeKind::Userinfo => "USERINFO",
            ExchangeKind::EndSession => "END-SESSION",
            ExchangeKind::Introspection => "INTROSPECT",
            ExchangeKind::Revocation => "REVOKE",
            ExchangeKind::RpLogin => "MASTODON",
            ExchangeKind::RpCallback => "CALLBACK",
            ExchangeKind::RpFailure => "MASTODON",
            ExchangeKind::ProviderFlow => "AUTHENTIK",
            ExchangeKind::Other => "OTHER",
        }
    }

    /// Back-channel calls made by the relying party itself (no browser).
    pub fn is_back_channel(self) -> bool {
        matches!(
            self,
            ExchangeKind::Discovery | ExchangeKind::Jwks | ExchangeKind::Token | ExchangeKind::Userinfo
        )
    }
}

fn trim_slash(p: &str) -> &str {
    if p.len() > 1 { p.trim_end_matches('/') } else { p }
}

/// Endpoints learned from discovery documents, per issuer.
#[derive(Debug, Default, Clone)]
pub struct EndpointBook {
    /// issuer → latest discovery document.
    pub by_issuer: HashMap<String, Discovery>,
    /// (host, path without trailing slash) → (kind, issuer).
    index: HashMap<(String, String), (ExchangeKind, String)>,
    /// Hosts that served at least one discovery document.
    hosts_with_discovery: std::collections::HashSet<String>,
    /// Other applications' callback paths (the relying-party profiles'), seen as callbacks when
    /// the gateway fronts them too; Mastodon's routes are known without.
    rp_callbacks: Vec<&'static str>,
}

impl EndpointBook {
    /// A book that also knows these callback paths (`rp::PROFILES`' callbacks).
    pub fn with_rp_callbacks(paths: Vec<&'static str>) -> EndpointBook {
        EndpointBook { rp_callbacks: paths, ..Default::default() }
    }

    /// Learns every endpoint of a valid discovery document.
    pub fn learn(&mut self, d: &Discovery) {
        let Some(issuer) = d.issuer.clone() else { return };
        if let Some((h, _)) = host_path(&d.fetched_from) {
            self.hosts_with_discovery.insert(h);
        }
        for e in Endpoint::ALL {
            let kind = match e {
                Endpoint::Authorization => ExchangeKind::Authorize,
                Endpoint::Token => ExchangeKind::Token,
                Endpoint::Userinfo => ExchangeKind::Userinfo,
                Endpoint::Jwks => ExchangeKind::Jwks,
                Endpoint::EndSession => ExchangeKind::EndSession,
                Endpoint::Introspection => ExchangeKind::Introspection,
                Endpoint::Revocation => ExchangeKind::Revocation,
            };
            if let Some((h, p)) = d.endpoint(e).and_then(host_path) {
                self.hosts_with_discovery.insert(h.clone());
                self.index.insert((h, trim_slash(&p).to_owned()), (kind, issuer.clone()));
            }
        }
        self.by_issuer.insert(issuer, d.clone());
    }

    /// The learned kind and issuer of (host, path).
    pub fn lookup(&self, host: &str, path: &str) -> Option<(ExchangeKind, &str)> {
        self.index.get(&(host.to_owned(), trim_slash(path).to_owned())).map(|(k, i)| (*k, i.as_str()))
    }

    /// The issuer whose discovery names this (host, path) as any endpoint, or whose issuer
    /// URL shares the host.
    pub fn issuer_for_host(&self, host: &str) -> Option<&str> {
        self.by_issuer
            .keys()
            .find(|iss| host_path(iss).is_some_and(|(h, _)| h == host))
            .or_else(|| self.index.iter().find(|((h, _), _)| h == host).map(|(_, (_, i))| i))
            .map(String::as_str)
    }

    /// Whether a discovery document named this host (the provider's, as far as seen).
    pub fn knows_host(&self, host: &str) -> bool {
        self.hosts_with_discovery.contains(host)
    }
}

/// Classifies a request by method, host and path. Response-based refinements (a Location or
/// executor challenge carrying a code) are applied by the decoder.
pub fn classify_request(book: &EndpointBook, method: &str, host: &str, path: &str) -> ExchangeKind {
    let path_only = path.split(['?', '#']).next().unwrap_or(path);
    if path_only.ends_with("/.well-known/openid-configuration")
        || path_only.ends_with("/.well-known/openid-configuration/")
    {
        return ExchangeKind::Discovery;
    }
    let p = trim_slash(path_only);
    // Mastodon (omniauth) paths, when the gateway fronts Mastodon too.
    match p {
        "/auth/auth/openid_connect" => return ExchangeKind::RpLogin,
        "/auth/auth/openid_connect/callback" => return ExchangeKind::RpCallback,
        "/auth/auth/openid_connect/failure" => return ExchangeKind::RpFailure,
        _ if book.rp_callbacks.iter().any(|c| p.ends_with(c)) => return ExchangeKind::RpCallback,
        _ => {}
    }
    if let Some((kind, _)) = book.lookup(host, path_only) {
        return kind;
    }
    if book.knows_host(host) {
        // Discovery said where things are on this host; a path default would be a guess.
        return ExchangeKind::Other;
    }
    let _ = method;
    default_kind(p)
}

/// authentik's fixed paths and common defaults, used before any discovery was seen.
fn default_kind(p: &str) -> ExchangeKind {
    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["application", "o", "authorize"] => ExchangeKind::Authorize,
        ["application", "o", "token"] => ExchangeKind::Token,
        ["application", "o", "userinfo"] => ExchangeKind::Userinfo,
        ["application", "o", "introspect"] => ExchangeKind::Introspection,
        ["application", "o", "revoke"] => ExchangeKind::Revocation,
        ["application", "o", _, "jwks"] => ExchangeKind::Jwks,
        ["application", "o", _, "end-session"] => ExchangeKind::EndSession,
        _ => match segs.last().copied().unwrap_or("") {
            "authorize" | "auth" => ExchangeKind::Authorize,
            "token" => ExchangeKind::Token,
            "userinfo" | "me" => ExchangeKind::Userinfo,
            "jwks" | "jwks.json" | "jwk" | "certs" => ExchangeKind::Jwks,
            "end_session" | "end-session" | "logout" => ExchangeKind::EndSession,
            "introspect" => ExchangeKind::Introspection,
            "revoke" | "revocation" => ExchangeKind::Revocation,
            _ => ExchangeKind::Other,
        },
    }
}

/// authentik's flow executor API, whose JSON may carry the authorization response.
pub fn is_flow_executor(path: &str) -> bool {
    path.starts_with("/api/v3/flows/executor/")
}

/// authentik's flow pages (the login UI) and its executor API.
pub fn is_provider_flow(path: &str) -> bool {
    path.starts_with("/if/flow/") || is_flow_executor(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc(issuer: &str, authz: &str, token: &str) -> Discovery {
        Discovery {
            fetched_from: format!("{issuer}.well-known/openid-configuration"),
            issuer: Some(issuer.into()),
            authorization_endpoint: Some(authz.into()),
            token_endpoint: Some(token.into()),
            jwks_uri: Some(format!("{issuer}jwks/")),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_before_discovery() {
        let b = EndpointBook::default();
        let c = |p| classify_request(&b, "GET", "authentik.company", p);
        assert_eq!(c("/application/o/mastodon/.well-known/openid-configuration"), ExchangeKind::Discovery);
        assert_eq!(c("/application/o/authorize/?client_id=x"), ExchangeKind::Authorize);
        assert_eq!(c("/application/o/token/"), ExchangeKind::Token);
        assert_eq!(c("/application/o/token"), ExchangeKind::Token);
        assert_eq!(c("/application/o/userinfo/"), ExchangeKind::Userinfo);
        assert_eq!(c("/application/o/mastodon/jwks/"), ExchangeKind::Jwks);
        assert_eq!(c("/application/o/mastodon/end-session/"), ExchangeKind::EndSession);
        assert_eq!(c("/auth/auth/openid_connect/callback?code=x"), ExchangeKind::RpCallback);
        assert_eq!(c("/static/app.js"), ExchangeKind::Other);
    }

    #[test]
    fn discovery_overrides_path_guesses() {
        let mut b = EndpointBook::default();
        b.learn(&disc(
            "https://idp.test/",
            "https://idp.test/oauth/login",
            "https://IDP.test:443/oauth/exchange",
        ));
        let c = |p| classify_request(&b, "GET", "idp.test", p);
        assert_eq!(c("/oauth/login?x=1"), ExchangeKind::Authorize);
        assert_eq!(c("/oauth/exchange"), ExchangeKind::Token);
        assert_eq!(c("/jwks/"), ExchangeKind::Jwks);
        // A path that merely looks like a default is not trusted on a host with discovery.
        assert_eq!(c("/token"), ExchangeKind::Other);
        assert_eq!(b.issuer_for_host("idp.test"), Some("https://idp.test/"));
    }
}
