//! What a trace shows of the deployment it came from, as settings for the demo: Mastodon's side
//! (client_id, redirect_uri, scope) and the provider's (application slug, signing algorithm,
//! the claims Mastodon's account hangs on). `reproduce` applies them before the faults, so the
//! reproduced login looks like the customer's, not like the demo's.

use serde_json::Value;

use super::provider::Signing;
use super::rig::Scenario;
use crate::analysis::Event;

/// Settings read from a trace (None: the trace does not show it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    pub issuer: Option<String>,
    pub slug: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<Vec<String>>,
    pub alg: Option<String>,
    /// The trace holds none of Mastodon's own requests: its gateway fronted the provider only
    /// (the reproduction is wired the same way, or the login's end would be seen there).
    pub provider_only: bool,
}

impl Derived {
    /// The first value of each setting the trace shows.
    pub fn from_events(events: &[Event]) -> Derived {
        let mut d = Derived::default();
        let mut hosts = vec![];
        for e in events {
            let Event::Exchange(ex) = e else { continue };
            hosts.push((ex.kind, ex.decoded.host.clone()));
            let dec = &ex.decoded;
            if let Some(disc) = &dec.discovery
                && d.issuer.is_none()
            {
                d.issuer = disc.issuer.clone();
            }
            if let Some(a) = &dec.authorize {
                d.client_id = d.client_id.take().or_else(|| a.client_id.clone());
                d.redirect_uri = d.redirect_uri.take().or_else(|| a.redirect_uri.clone());
                if d.scope.is_none() {
                    d.scope = a
                        .scope
                        .as_ref()
                        .map(|s| s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect());
                }
            }
            if let Some(jwt) = dec.token_response.as_ref().and_then(|t| t.id_token_decoded.as_ref())
                && d.alg.is_none()
            {
                d.alg = jwt.header.get("alg").and_then(Value::as_str).map(str::to_owned);
            }
        }
        let rp_host = d.redirect_uri.as_deref().and_then(|r| url::Url::parse(r).ok()).and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(u.port().map(|p| format!("{host}:{p}")).unwrap_or(host))
        });
        use crate::oidc::classify::ExchangeKind::{RpCallback, RpFailure, RpLogin};
        d.provider_only = !hosts.is_empty()
            && !hosts.iter().any(|(k, h)| {
                matches!(k, RpLogin | RpCallback | RpFailure) || rp_host.as_deref() == Some(h.as_str())
            });
        // authentik's issuer: https://host/application/o/<slug>/
        d.slug = d.issuer.as_deref().and_then(|i| {
            let path = url::Url::parse(i).ok()?.path().to_owned();
            let slug = path.strip_prefix("/application/o/")?.trim_end_matches('/');
            (!slug.is_empty() && !slug.contains('/')).then(|| slug.to_owned())
        });
        d
    }

    /// Lines for the console: what was taken from the trace.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![];
        let mut add = |what: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push(format!("{what:<13}{}", crate::text::printable(v)));
            }
        };
        add("issuer", &self.issuer);
        add("client_id", &self.client_id);
        add("redirect_uri", &self.redirect_uri);
        add("scope", &self.scope.as_ref().map(|s| s.join(" ")));
        add("signing", &self.alg.as_ref().map(|a| format!("{a} (a fresh local key of that type)")));
        let fronts = "the provider only (no request of Mastodon's in the trace)".to_owned();
        add("gateway", &self.provider_only.then_some(fronts));
        out
    }

    /// Makes `sc` look like the trace's deployment (before the faults are applied): the
    /// provider answers under the trace's issuer (host and slug), Mastodon under its callback's
    /// host. An issuer on another port or path shape keeps the demo's host and slug.
    pub fn apply(&self, sc: &mut Scenario) {
        if let Some(id) = &self.client_id {
            sc.rp.client_id = id.clone();
            sc.provider.client_id = id.clone();
        }
        if let Some(r) = self.redirect_uri.as_ref().filter(|r| r.starts_with("https://"))
            && let Some(host) = default_port_host(r)
        {
            sc.rp.redirect_uri = r.clone();
            sc.provider.redirect_uris = vec![r.clone()];
            sc.web_domain = host;
        }
        if let Some(s) = self.scope.as_ref().filter(|s| s.iter().any(|x| x == "openid")) {
            sc.rp.scope = s.clone();
        }
        if let (Some(slug), Some(issuer)) = (&self.slug, &self.issuer)
            && let Some(host) = default_port_host(issuer)
        {
            // authentik builds the issuer from the Host it is reached by: the same string.
            sc.provider_host = host.clone();
            sc.rp.issuer = format!("https://{host}/application/o/{slug}/");
            sc.provider.slug = slug.clone();
        }
        if let Some(signing) = self.alg.as_deref().and_then(Signing::for_alg) {
            sc.provider.faults.signing = signing;
        }
        sc.gateway.provider_only = self.provider_only;
    }
}

/// The host of an https URL on the default port (the demo listens on 443 names only).
fn default_port_host(u: &str) -> Option<String> {
    let url = url::Url::parse(u).ok()?;
    (url.scheme() == "https" && url.port().is_none()).then(|| url.host_str().map(str::to_owned)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traces_settings_make_the_demo_look_like_its_deployment() {
        let d = Derived {
            issuer: Some("https://sso.example/application/o/social/".into()),
            slug: Some("social".into()),
            client_id: Some("customerClientID".into()),
            redirect_uri: Some("https://social.example/auth/auth/openid_connect/callback".into()),
            scope: Some(vec!["openid".into(), "email".into()]),
            alg: Some("ES256".into()),
            provider_only: true,
        };
        let mut sc = Scenario::clean();
        d.apply(&mut sc);
        assert_eq!(
            (sc.rp.client_id.as_str(), sc.provider.client_id.as_str()),
            ("customerClientID", "customerClientID")
        );
        assert_eq!(sc.rp.issuer, "https://sso.example/application/o/social/");
        assert_eq!((sc.provider_host.as_str(), sc.web_domain.as_str()), ("sso.example", "social.example"));
        assert_eq!(sc.provider.slug, "social");
        assert_eq!(sc.provider.redirect_uris, ["https://social.example/auth/auth/openid_connect/callback"]);
        assert_eq!(sc.rp.scope, ["openid", "email"]);
        assert_eq!(sc.provider.faults.signing, Signing::Es256);
        assert!(sc.gateway.provider_only);
        // What the demo cannot take over is left as it was.
        let mut sc = Scenario::clean();
        Derived { alg: Some("RSA-OAEP".into()), scope: Some(vec!["profile".into()]), ..Default::default() }
            .apply(&mut sc);
        assert_eq!(sc.provider.faults.signing, Signing::Rs256);
        assert_eq!(sc.rp.scope, ["openid", "profile", "email"]);
    }
}
