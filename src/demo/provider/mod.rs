//! A small authentik stand-in: the same paths, discovery shape, error pages, token and
//! userinfo behaviour as authentik's OAuth2 provider (see tests/fixtures/authentik), with a
//! switch for each failure mode the rules must catch. Used by `oidc-tap demo` and the tests.
//!
//! `signing` holds the keys, `faults` the switches, `endpoints` the discovery, JWKS, authorize,
//! flow-executor and userinfo handlers, `token` the token endpoint.

mod endpoints;
mod faults;
mod signing;
mod token;

pub use faults::{DupPlace, Duplicate, Faults, NonceMode, StateTamper};
pub use signing::Signing;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Response;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::http::{Body, Req, json as json_resp, redirect, respond, serve};

/// The provider's registration of Mastodon.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub slug: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// The user who logs in.
    pub username: String,
    pub email: String,
    pub faults: Faults,
}

impl ProviderConfig {
    pub fn new(redirect_uri: &str) -> ProviderConfig {
        ProviderConfig {
            slug: "mastodon".into(),
            client_id: "demoMastodonClientID0123456789abcdefghijk".into(),
            client_secret: "demoSecretDoNotUse0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ".into(),
            redirect_uris: vec![redirect_uri.into()],
            username: "alice".into(),
            email: "alice@example.test".into(),
            faults: Faults::default(),
        }
    }
}

struct CodeInfo {
    nonce: Option<String>,
    scope: String,
    challenge: Option<(String, String)>,
    issued: u64,
    used: bool,
}

struct TokenInfo {
    scope: String,
    exp: u64,
}

struct State {
    cfg: ProviderConfig,
    codes: HashMap<String, CodeInfo>,
    tokens: HashMap<String, TokenInfo>,
    /// Codes waiting for the browser's executor call, by the flow query: the redirect target
    /// and how many stages the browser has passed.
    executor: HashMap<String, (String, usize)>,
}

/// A running provider; change its faults between logins with [`Provider::set_faults`].
#[derive(Clone)]
pub struct Provider {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
}

fn html_error(title: &str, message: &str) -> Response<Body> {
    respond(
        400,
        "text/html; charset=utf-8",
        format!(
            "<!DOCTYPE html>\n<html><head><title>authentik</title></head><body>\n<h1 class=\"pf-c-title pf-m-3xl\">\n{title}\n</h1>\n<div class=\"pf-c-form\">\n    <p>{message}</p>\n</div></body></html>"
        ),
    )
}

fn token_error(error: &str, desc: &str) -> Response<Body> {
    json_resp(400, &json!({"error": error, "error_description": desc}))
}

impl Provider {
    pub async fn start(cfg: ProviderConfig, tls: tokio_rustls::TlsAcceptor) -> std::io::Result<Provider> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            cfg,
            codes: HashMap::new(),
            tokens: HashMap::new(),
            executor: HashMap::new(),
        }));
        let p = Provider { state: state.clone(), addr };
        let handler_p = p.clone();
        serve(listener, Some(tls), move |req, _| {
            let p = handler_p.clone();
            async move {
                // A slow JWKS endpoint (the fault), without holding the provider's lock.
                let delay = p.lock().cfg.faults.jwks_delay_ms;
                if delay > 0 && req.path.ends_with("/jwks/") {
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                p.handle(req)
            }
        });
        Ok(p)
    }

    pub fn set_faults(&self, f: Faults) {
        self.lock().cfg.faults = f;
    }

    pub fn config(&self) -> ProviderConfig {
        self.lock().cfg.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, req: Req) -> Response<Body> {
        let skew = self.lock().cfg.faults.date_skew_s;
        let mut resp = self.route(&req);
        let at = crate::clock::now_s().saturating_add_signed(skew);
        let date = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(at));
        if let Some(d) = date
            && let Ok(v) = httpdate::fmt_http_date(d).parse()
        {
            resp.headers_mut().insert(http::header::DATE, v);
        }
        resp.headers_mut().insert("x-powered-by", http::HeaderValue::from_static("authentik"));
        resp
    }

    /// `https://<Host>/application/o/<slug>/`, as authentik builds it per request.
    fn issuer(&self, req: &Req, st: &State) -> String {
        format!("{}/application/o/{}/", self.origin(req, st), st.cfg.slug)
    }

    fn origin(&self, req: &Req, st: &State) -> String {
        let f = &st.cfg.faults;
        let scheme = if f.http_urls { "http" } else { req.header("x-forwarded-proto").unwrap_or("https") };
        let host = req.header("host").unwrap_or("authentik.test");
        format!("{scheme}://{host}")
    }

    fn route(&self, req: &Req) -> Response<Body> {
        let slug = self.lock().cfg.slug.clone();
        let base = format!("/application/o/{slug}/");
        let alias = self.lock().cfg.faults.path_alias.iter().find(|(from, _)| *from == req.path).cloned();
        let path = alias.map(|(_, to)| to).unwrap_or_else(|| req.path.clone());
        match (req.method.as_str(), path.as_str()) {
            (_, p) if p == format!("{base}.well-known/openid-configuration") => self.discovery(req),
            (_, p) if p == format!("{base}jwks/") => self.jwks(),
            ("GET", "/application/o/authorize/") => self.authorize(req),
            ("POST", "/application/o/token") => redirect(301, "/application/o/token/"),
            ("POST", "/application/o/token/") => self.token(req),
            (_, "/application/o/userinfo/") => self.userinfo(req),
            (_, p) if p.starts_with("/api/v3/flows/executor/") => self.executor(req),
            ("GET", p) if p.starts_with("/if/flow/") => {
                respond(200, "text/html", "<html><body>authentik flow</body></html>")
            }
            _ => respond(404, "text/html", "<html><body>Not Found</body></html>"),
        }
    }

    fn sub(&self, st: &State) -> String {
        let d = Sha256::digest(st.cfg.username.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Scope-mapped claims (authentik's default `email` and `profile` mappings).
    fn user_claims(&self, st: &State, scope: &str) -> Map<String, Value> {
        let mut m = Map::new();
        let scopes: Vec<&str> = scope.split_whitespace().collect();
        if scopes.contains(&"email") {
            m.insert("email".into(), st.cfg.email.clone().into());
            m.insert("email_verified".into(), true.into());
        }
        if scopes.contains(&"profile") {
            m.insert("name".into(), "Alice Example".into());
            m.insert("given_name".into(), "Alice Example".into());
            m.insert("preferred_username".into(), st.cfg.username.clone().into());
            m.insert("nickname".into(), st.cfg.username.clone().into());
            m.insert("groups".into(), json!([]));
        }
        for (k, v) in &st.cfg.faults.claims {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    /// A token over `claims`; an ID token (`id_token`) carries the duplicates set for it.
    fn sign(&self, st: &State, claims: &Value, signing: Signing, id_token: bool) -> String {
        let f = &st.cfg.faults;
        let kid = f.id_token_kid.clone().or(signing.kid().map(str::to_owned)).filter(|_| !f.no_kid);
        let mut text = serde_json::to_string(claims).unwrap_or_default();
        if id_token {
            text = faults::with_duplicates(text, faults::DupPlace::IdToken, &f.duplicates);
        }
        let token = signing.sign_text(&text, kid.as_deref(), &st.cfg.client_secret);
        if f.tamper_signature {
            // Change the payload after signing: same signature, different claims.
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            if parts.len() == 3 {
                let mut c = claims.clone();
                c["tampered"] = true.into();
                parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default());
                return parts.join(".");
            }
        }
        token
    }
}
