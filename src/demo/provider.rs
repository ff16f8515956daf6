//! A small authentik stand-in: the same paths, discovery shape, error pages, token and
//! userinfo behaviour as authentik's OAuth2 provider (see tests/fixtures/authentik), with a
//! switch for each failure mode the rules must catch. Used by `oidc-tap demo` and the tests.

use crate::clock::now_s;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::Response;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::http::{Body, Req, get, json as json_resp, random_hex, redirect, respond, serve};

/// Which key signs the ID token (authentik: the provider's "Signing Key" field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the first RSA key (the usual authentik setup).
    Rs256,
    /// RS256 with a second RSA key (key rotation).
    Rs256Rotated,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
    /// No signing key selected: HS256 with the client secret, JWKS `{}`.
    Hs256,
    Hs384,
    Hs512,
    /// `alg: none`, unsigned.
    None,
    /// An encryption key is set: the ID token is a 5-segment JWE.
    Jwe,
    /// ES512 (P-521), which the gateway's JWT library cannot verify.
    Es512,
}

const RSA_A: &str = include_str!("keys/rsa-a.pem");
const RSA_B: &str = include_str!("keys/rsa-b.pem");
const EC_P256: &str = include_str!("keys/ec-p256.pem");
const EC_P384: &str = include_str!("keys/ec-p384.pem");
const ED25519: &str = include_str!("keys/ed25519.pem");

impl Signing {
    pub fn alg_name(self) -> &'static str {
        match self {
            Signing::Rs256 | Signing::Rs256Rotated => "RS256",
            Signing::Rs384 => "RS384",
            Signing::Rs512 => "RS512",
            Signing::Ps256 => "PS256",
            Signing::Ps384 => "PS384",
            Signing::Ps512 => "PS512",
            Signing::Es256 => "ES256",
            Signing::Es384 => "ES384",
            Signing::EdDsa => "EdDSA",
            Signing::Hs256 => "HS256",
            Signing::Hs384 => "HS384",
            Signing::Hs512 => "HS512",
            Signing::None => "none",
            Signing::Jwe => "RS256",
            Signing::Es512 => "ES512",
        }
    }

    fn algorithm(self) -> Option<Algorithm> {
        Some(match self {
            Signing::Rs256 | Signing::Rs256Rotated | Signing::Jwe => Algorithm::RS256,
            Signing::Rs384 => Algorithm::RS384,
            Signing::Rs512 => Algorithm::RS512,
            Signing::Ps256 => Algorithm::PS256,
            Signing::Ps384 => Algorithm::PS384,
            Signing::Ps512 => Algorithm::PS512,
            Signing::Es256 => Algorithm::ES256,
            Signing::Es384 => Algorithm::ES384,
            Signing::EdDsa => Algorithm::EdDSA,
            Signing::Hs256 => Algorithm::HS256,
            Signing::Hs384 => Algorithm::HS384,
            Signing::Hs512 => Algorithm::HS512,
            Signing::None | Signing::Es512 => return None,
        })
    }

    pub fn kid(self) -> Option<&'static str> {
        Some(match self {
            Signing::Rs256
            | Signing::Rs384
            | Signing::Rs512
            | Signing::Ps256
            | Signing::Ps384
            | Signing::Ps512
            | Signing::Jwe => "demo-rsa-a",
            Signing::Rs256Rotated => "demo-rsa-b",
            Signing::Es256 => "demo-ec-p256",
            Signing::Es384 => "demo-ec-p384",
            Signing::EdDsa => "demo-ed25519",
            Signing::Es512 => "demo-ec-p521",
            Signing::Hs256 | Signing::Hs384 | Signing::Hs512 | Signing::None => return None,
        })
    }

    fn encoding_key(self, secret: &str) -> Option<EncodingKey> {
        let pem = match self {
            Signing::Rs256
            | Signing::Rs384
            | Signing::Rs512
            | Signing::Ps256
            | Signing::Ps384
            | Signing::Ps512
            | Signing::Jwe => RSA_A,
            Signing::Rs256Rotated => RSA_B,
            Signing::Es256 => EC_P256,
            Signing::Es384 => EC_P384,
            Signing::EdDsa => ED25519,
            Signing::Hs256 | Signing::Hs384 | Signing::Hs512 => {
                return Some(EncodingKey::from_secret(secret.as_bytes()));
            }
            Signing::None | Signing::Es512 => return None,
        };
        match self {
            Signing::Es256 | Signing::Es384 => EncodingKey::from_ec_pem(pem.as_bytes()).ok(),
            Signing::EdDsa => EncodingKey::from_ed_pem(pem.as_bytes()).ok(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).ok(),
        }
    }

    /// A compact token over `claims` signed with this key (HS* use `secret`); JWE, `none` and
    /// ES512 produce tokens of the right shape that nothing can verify.
    pub fn sign(self, claims: &Value, kid: Option<&str>, secret: &str) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
        match (self, self.algorithm(), self.encoding_key(secret)) {
            (Signing::Jwe, _, _) => {
                let h = json!({"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "kid": kid, "typ": "JWT"});
                format!(
                    "{}.{}.{}.{}.{}",
                    enc(&h),
                    URL_SAFE_NO_PAD.encode([7u8; 256]),
                    URL_SAFE_NO_PAD.encode([1u8; 16]),
                    URL_SAFE_NO_PAD.encode(b"ciphertext"),
                    URL_SAFE_NO_PAD.encode([2u8; 32])
                )
            }
            (Signing::None, _, _) => {
                format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), enc(claims))
            }
            (Signing::Es512, _, _) => {
                format!(
                    "{}.{}.{}",
                    enc(&json!({"alg": "ES512", "kid": kid, "typ": "JWT"})),
                    enc(claims),
                    URL_SAFE_NO_PAD.encode([3u8; 132])
                )
            }
            (_, Some(alg), Some(key)) => {
                let mut h = Header::new(alg);
                h.kid = kid.map(str::to_owned);
                h.typ = Some("JWT".into());
                jsonwebtoken::encode(&h, claims, &key).unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// The public JWK for this key (authentik's JWKS entry), if it has one.
    pub fn jwk(self) -> Option<Value> {
        if self == Signing::Es512 {
            // A P-521 key the gateway can parse but not use.
            let x = URL_SAFE_NO_PAD.encode([1u8; 66]);
            return Some(
                json!({"kty":"EC","crv":"P-521","x":x,"y":x,"alg":"ES512","use":"sig","kid":"demo-ec-p521"}),
            );
        }
        let alg = self.algorithm()?;
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return None;
        }
        let key = self.encoding_key("")?;
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg).ok()?;
        let mut v = serde_json::to_value(jwk).ok()?;
        if let Value::Object(m) = &mut v {
            m.insert("kid".into(), self.kid()?.into());
            m.insert("use".into(), "sig".into());
        }
        Some(v)
    }
}

/// How the ID token's nonce is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NonceMode {
    #[default]
    Echo,
    Omit,
    Wrong,
}

/// Failure switches. The default is a correctly configured authentik.
#[derive(Debug, Clone)]
pub struct Faults {
    pub signing: Signing,
    /// Discovery's `issuer` is this instead of the real one.
    pub discovery_issuer: Option<String>,
    /// Build every URL with `http://` (authentik behind a proxy without X-Forwarded-Proto).
    pub http_urls: bool,
    /// Discovery answers this status (e.g. 404) with an HTML page.
    pub discovery_status: Option<u16>,
    /// Fields removed from the discovery document.
    pub discovery_drop: Vec<String>,
    /// Host used in endpoint URLs instead of the request's Host.
    pub endpoint_host: Option<String>,
    /// Token endpoint advertised without its trailing slash (Django answers 301).
    pub token_endpoint_no_slash: bool,
    /// Algorithms advertised in discovery instead of the signing key's.
    pub advertised_algs: Option<Vec<String>>,
    /// Deliver the code through the flow executor JSON instead of a 302.
    pub executor: bool,
    /// Answer the authorize request with `error=…` on the redirect.
    pub authorize_error: Option<String>,
    /// Return this state instead of the one sent.
    pub state_override: Option<String>,
    /// RFC 9207 `iss` parameter on the authorization response.
    pub iss_param: Option<String>,
    /// Token endpoint answers 400 with this error code.
    pub token_error: Option<String>,
    pub token_type: Option<String>,
    pub omit_id_token: bool,
    /// Scopes removed from the granted scope (authentik drops scopes without a mapping).
    pub scope_drop: Vec<String>,
    /// Seconds a code stays valid (authentik: 60).
    pub code_lifetime_s: u64,
    pub id_token_iss: Option<String>,
    pub id_token_aud: Option<Value>,
    pub id_token_azp: Option<String>,
    pub id_token_kid: Option<String>,
    pub no_kid: bool,
    /// The JWKS lists the signing key twice under the same kid.
    pub duplicate_kid: bool,
    pub exp_offset_s: i64,
    pub iat_offset_s: i64,
    pub nbf_offset_s: Option<i64>,
    pub nonce: NonceMode,
    /// Add an `at_hash` that does not match the access token.
    pub bad_at_hash: bool,
    pub tamper_signature: bool,
    /// Claims removed from the ID token and userinfo.
    pub drop_claims: Vec<String>,
    /// Claims set in both the ID token and userinfo.
    pub claims: Map<String, Value>,
    /// Claims set only in userinfo.
    pub userinfo_claims: Map<String, Value>,
    pub userinfo_status: Option<u16>,
    /// Seconds added to the `Date` header (clock skew).
    pub date_skew_s: i64,
    /// The id_token string sent instead of a real token.
    pub id_token_raw: Option<String>,
    /// The authorization flow denies the user (no code is ever issued).
    pub deny_in_flow: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            signing: Signing::Rs256,
            discovery_issuer: None,
            http_urls: false,
            discovery_status: None,
            discovery_drop: vec![],
            endpoint_host: None,
            token_endpoint_no_slash: false,
            advertised_algs: None,
            executor: false,
            authorize_error: None,
            state_override: None,
            iss_param: None,
            token_error: None,
            token_type: None,
            omit_id_token: false,
            scope_drop: vec![],
            code_lifetime_s: 60,
            id_token_iss: None,
            id_token_aud: None,
            id_token_azp: None,
            id_token_kid: None,
            no_kid: false,
            duplicate_kid: false,
            exp_offset_s: 3600,
            iat_offset_s: 0,
            nbf_offset_s: None,
            nonce: NonceMode::Echo,
            bad_at_hash: false,
            tamper_signature: false,
            drop_claims: vec![],
            claims: Map::new(),
            userinfo_claims: Map::new(),
            userinfo_status: None,
            date_skew_s: 0,
            id_token_raw: None,
            deny_in_flow: false,
        }
    }
}

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
    /// Codes waiting for the browser's executor call, by the flow query.
    executor: HashMap<String, String>,
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
            async move { p.handle(req) }
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
        match (req.method.as_str(), req.path.as_str()) {
            (_, p) if p == format!("{base}.well-known/openid-configuration") => self.discovery(req),
            (_, p) if p == format!("{base}jwks/") => self.jwks(),
            ("GET", "/application/o/authorize/") => self.authorize(req),
            ("POST", "/application/o/token") => redirect(301, "/application/o/token/"),
            ("POST", "/application/o/token/") => self.token(req),
            (_, "/application/o/userinfo/") => self.userinfo(req),
            ("GET", p) if p.starts_with("/api/v3/flows/executor/") => self.executor(req),
            ("GET", p) if p.starts_with("/if/flow/") => {
                respond(200, "text/html", "<html><body>authentik flow</body></html>")
            }
            _ => respond(404, "text/html", "<html><body>Not Found</body></html>"),
        }
    }

    fn discovery(&self, req: &Req) -> Response<Body> {
        let st = self.lock();
        let f = &st.cfg.faults;
        if let Some(s) = f.discovery_status {
            return respond(s, "text/html", "<html><body>Not Found</body></html>");
        }
        let real_issuer = self.issuer(req, &st);
        let origin = match &f.endpoint_host {
            Some(h) => format!("https://{h}"),
            None => self.origin(req, &st),
        };
        let algs = f.advertised_algs.clone().unwrap_or_else(|| vec![f.signing.alg_name().to_owned()]);
        let token_ep = if f.token_endpoint_no_slash {
            format!("{origin}/application/o/token")
        } else {
            format!("{origin}/application/o/token/")
        };
        let mut doc = json!({
            "issuer": f.discovery_issuer.clone().unwrap_or(real_issuer.clone()),
            "authorization_endpoint": format!("{origin}/application/o/authorize/"),
            "token_endpoint": token_ep,
            "userinfo_endpoint": format!("{origin}/application/o/userinfo/"),
            "end_session_endpoint": format!("{real_issuer}end-session/"),
            "introspection_endpoint": format!("{origin}/application/o/introspect/"),
            "revocation_endpoint": format!("{origin}/application/o/revoke/"),
            "response_types_supported": ["code", "id_token", "id_token token", "code token", "code id_token", "code id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "jwks_uri": format!("{real_issuer}jwks/"),
            "grant_types_supported": ["authorization_code", "refresh_token", "implicit"],
            "id_token_signing_alg_values_supported": algs,
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "email", "email_verified", "name", "given_name", "preferred_username", "nickname", "groups"],
            "code_challenge_methods_supported": ["plain", "S256"],
        });
        if let Value::Object(m) = &mut doc {
            for k in &f.discovery_drop {
                m.remove(k);
            }
        }
        respond(200, "application/json", serde_json::to_string_pretty(&doc).unwrap_or_default())
    }

    fn jwks(&self) -> Response<Body> {
        let st = self.lock();
        let f = &st.cfg.faults;
        let mut keys: Vec<Value> = f.signing.jwk().into_iter().collect();
        if f.duplicate_kid
            && let Some(k) = keys.first().cloned()
        {
            // A second key under the same kid (the other RSA key).
            let mut other = Signing::Rs256Rotated.jwk().unwrap_or(k.clone());
            other["kid"] = k["kid"].clone();
            keys.push(other);
        }
        let mut r = if keys.is_empty() {
            json_resp(200, &json!({}))
        } else {
            json_resp(200, &json!({ "keys": keys }))
        };
        r.headers_mut().insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
        r
    }

    fn authorize(&self, req: &Req) -> Response<Body> {
        let q = req.query_pairs();
        let mut st = self.lock();
        if get(&q, "client_id") != Some(st.cfg.client_id.as_str()) {
            return html_error("Client ID Error", "The client identifier (client_id) is missing or invalid.");
        }
        let Some(redirect_uri) = get(&q, "redirect_uri")
            .filter(|r| st.cfg.redirect_uris.iter().any(|u| u == r))
            .map(str::to_owned)
        else {
            return html_error(
                "Redirect URI Error",
                "The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri).",
            );
        };
        let state = get(&q, "state").map(str::to_owned);
        let f = st.cfg.faults.clone();
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let state_out = f.state_override.clone().or(state);
        let state_param = state_out.as_deref().map(|s| format!("&state={}", enc(s))).unwrap_or_default();
        if let Some(err) = &f.authorize_error {
            return redirect(
                302,
                &format!(
                    "{redirect_uri}{sep}error={}&error_description={}{state_param}",
                    enc(err),
                    enc("The request was refused")
                ),
            );
        }
        let code = random_hex();
        let challenge = get(&q, "code_challenge")
            .map(|c| (c.to_owned(), get(&q, "code_challenge_method").unwrap_or("plain").to_owned()));
        st.codes.insert(
            code.clone(),
            CodeInfo {
                nonce: get(&q, "nonce").map(str::to_owned),
                scope: get(&q, "scope").unwrap_or("").to_owned(),
                challenge,
                issued: now_s(),
                used: false,
            },
        );
        let iss = f.iss_param.as_deref().map(|i| format!("&iss={}", enc(i))).unwrap_or_default();
        let target = format!("{redirect_uri}{sep}code={code}{state_param}{iss}");
        if f.executor {
            let flow_query = req.query.clone();
            st.executor.insert(flow_query.clone(), target);
            return redirect(
                302,
                &format!("/if/flow/default-provider-authorization-implicit-consent/?{flow_query}"),
            );
        }
        redirect(302, &target)
    }

    fn executor(&self, req: &Req) -> Response<Body> {
        let q = req.query_pairs();
        let flow_query = get(&q, "query").unwrap_or("").to_owned();
        let st = self.lock();
        if st.cfg.faults.deny_in_flow {
            return json_resp(
                200,
                &json!({"component": "ak-stage-access-denied", "error_message": "Request has been denied."}),
            );
        }
        match st.executor.get(&flow_query) {
            Some(to) => json_resp(200, &json!({"component": "xak-flow-redirect", "to": to})),
            None => json_resp(
                200,
                &json!({"component": "ak-stage-access-denied", "error_message": "no pending authorization"}),
            ),
        }
    }

    fn client_auth(req: &Req) -> (Option<String>, Option<String>) {
        if let Some(b) = req.header("authorization").and_then(|h| h.strip_prefix("Basic "))
            && let Some(pair) = STANDARD.decode(b.trim()).ok().and_then(|x| String::from_utf8(x).ok())
        {
            let (id, secret) = pair.split_once(':').unwrap_or((&pair, ""));
            let dec = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
            };
            return (dec(id), dec(secret));
        }
        let form = req.form();
        (get(&form, "client_id").map(str::to_owned), get(&form, "client_secret").map(str::to_owned))
    }

    fn token(&self, req: &Req) -> Response<Body> {
        let form = req.form();
        let (id, secret) = Self::client_auth(req);
        let mut st = self.lock();
        let f = st.cfg.faults.clone();
        if id.as_deref() != Some(st.cfg.client_id.as_str())
            || secret.as_deref() != Some(st.cfg.client_secret.as_str())
        {
            return token_error(
                "invalid_client",
                "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)",
            );
        }
        if let Some(e) = &f.token_error {
            return token_error(e, "The provider refused the request");
        }
        let redirect_uri = get(&form, "redirect_uri").unwrap_or("").to_owned();
        if !st.cfg.redirect_uris.contains(&redirect_uri) {
            return token_error(
                "invalid_client",
                "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)",
            );
        }
        let invalid_grant = || {
            token_error(
                "invalid_grant",
                "The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client",
            )
        };
        let code = get(&form, "code").unwrap_or("").to_owned();
        let Some(info) = st.codes.get_mut(&code) else { return invalid_grant() };
        if info.used || now_s().saturating_sub(info.issued) > f.code_lifetime_s {
            info.used = true;
            return invalid_grant();
        }
        info.used = true;
        let verifier = get(&form, "code_verifier");
        match (&info.challenge, verifier) {
            (Some((c, m)), Some(v)) => {
                let computed = if m == "S256" {
                    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
                } else {
                    v.to_owned()
                };
                if &computed != c {
                    return invalid_grant();
                }
            }
            (None, None) => {}
            _ => return invalid_grant(),
        }
        let (nonce, requested) = (info.nonce.clone(), info.scope.clone());
        let granted: Vec<&str> =
            requested.split_whitespace().filter(|s| !f.scope_drop.iter().any(|d| d == s)).collect();
        let granted = granted.join(" ");
        let issuer = self.issuer(req, &st);
        let now = now_s();
        let access_token = self.sign(&st, &json!({"iss": issuer, "sub": self.sub(&st), "aud": st.cfg.client_id, "exp": now + 3600, "iat": now, "scope": granted, "azp": st.cfg.client_id}), f.signing);
        st.tokens.insert(access_token.clone(), TokenInfo { scope: granted.clone(), exp: now + 3600 });
        let mut claims = self.user_claims(&st, &granted);
        let base = json!({
            "iss": f.id_token_iss.clone().unwrap_or(issuer),
            "sub": self.sub(&st),
            "aud": f.id_token_aud.clone().unwrap_or(Value::String(st.cfg.client_id.clone())),
            "exp": (now as i64 + f.exp_offset_s),
            "iat": (now as i64 + f.iat_offset_s),
            "auth_time": now,
            "acr": "goauthentik.io/providers/oauth2/default",
        });
        let mut id: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
        match (&f.nonce, nonce) {
            (NonceMode::Echo, Some(n)) => {
                id.insert("nonce".into(), n.into());
            }
            (NonceMode::Wrong, _) => {
                id.insert("nonce".into(), "0123456789abcdef0123456789abcdef".into());
            }
            _ => {}
        }
        if let Some(azp) = &f.id_token_azp {
            id.insert("azp".into(), azp.clone().into());
        }
        if let Some(nbf) = f.nbf_offset_s {
            id.insert("nbf".into(), (now as i64 + nbf).into());
        }
        if f.bad_at_hash {
            id.insert("at_hash".into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
        }
        id.append(&mut claims);
        for k in &f.drop_claims {
            id.remove(k);
        }
        let mut body = json!({
            "access_token": access_token,
            "token_type": f.token_type.clone().unwrap_or("Bearer".into()),
            "scope": granted,
            "expires_in": 3600,
        });
        if !f.omit_id_token {
            body["id_token"] = f
                .id_token_raw
                .clone()
                .unwrap_or_else(|| self.sign(&st, &Value::Object(id), f.signing))
                .into();
        }
        let mut r = json_resp(200, &body);
        r.headers_mut().insert("cache-control", http::HeaderValue::from_static("no-store"));
        r.headers_mut().insert("pragma", http::HeaderValue::from_static("no-cache"));
        r
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

    fn sign(&self, st: &State, claims: &Value, signing: Signing) -> String {
        let f = &st.cfg.faults;
        let kid = f.id_token_kid.clone().or(signing.kid().map(str::to_owned)).filter(|_| !f.no_kid);
        let token = signing.sign(claims, kid.as_deref(), &st.cfg.client_secret);
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

    fn userinfo(&self, req: &Req) -> Response<Body> {
        let st = self.lock();
        let f = &st.cfg.faults;
        let challenge = |status: u16, error: &str, desc: &str| {
            let mut r = respond(status, "text/html; charset=utf-8", "");
            if let Ok(v) = format!("error=\"{error}\", error_description=\"{desc}\"").parse() {
                r.headers_mut().insert("www-authenticate", v);
            }
            r
        };
        if let Some(s) = f.userinfo_status {
            return challenge(
                s,
                "invalid_token",
                "The access token provided is expired, revoked, malformed, or invalid for other reasons",
            );
        }
        let token = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
        let Some(info) = st.tokens.get(token) else {
            return challenge(
                401,
                "invalid_token",
                "The access token provided is expired, revoked, malformed, or invalid for other reasons",
            );
        };
        if info.exp < now_s() {
            return challenge(401, "invalid_token", "The access token provided is expired");
        }
        if !info.scope.split_whitespace().any(|s| s == "openid") {
            return challenge(
                403,
                "insufficient_scope",
                "The request requires higher privileges than provided by the access token",
            );
        }
        let mut m = Map::new();
        m.insert("sub".into(), self.sub(&st).into());
        m.append(&mut self.user_claims(&st, &info.scope));
        for (k, v) in &f.userinfo_claims {
            m.insert(k.clone(), v.clone());
        }
        for k in &f.drop_claims {
            m.remove(k);
        }
        json_resp(200, &Value::Object(m))
    }
}
