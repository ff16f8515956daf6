//! A scripted Mastodon: the request and callback phases of omniauth_openid_connect with the
//! same checks, in the same order, with the same failure texts (see
//! `shared/reference/mastodon-authentik.md` §1.2–1.4). It talks to the provider through the
//! gateway, like the real one would after a DNS takeover.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::http::{Body, Req, get, random_hex, redirect, send, serve};
use crate::oidc::jwt::DecodedJwt;
use crate::proxy::upstream::UpstreamClient;

/// Mastodon's `.env.production` OIDC settings that matter here.
#[derive(Debug, Clone)]
pub struct RpConfig {
    /// `OIDC_ISSUER`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// `OIDC_REDIRECT_URI`.
    pub redirect_uri: String,
    /// The path it serves its callback at (Mastodon's route; another application's with
    /// `demo --rp`).
    pub callback_path: String,
    /// `OIDC_SCOPE` (openid is always added).
    pub scope: Vec<String>,
    /// `OIDC_CLIENT_AUTH_METHOD` unset → Basic; anything else → body.
    pub client_secret_post: bool,
    /// `OIDC_USE_PKCE`.
    pub pkce: bool,
    /// It calls userinfo (Mastodon does; Synapse and Nextcloud end with the ID token).
    pub userinfo: bool,
    /// `OIDC_UID_FIELD`.
    pub uid_field: String,
    /// `OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED=true`.
    pub assume_email_verified: bool,
    /// Deviations from Mastodon's behaviour, to produce the situations rules must catch.
    pub quirks: RpQuirks,
}

/// Ways this relying party can misbehave (all off = Mastodon's behaviour).
#[derive(Debug, Clone, Default)]
pub struct RpQuirks {
    /// Do not add `openid` to the scope.
    pub omit_openid: bool,
    pub omit_state: bool,
    /// `OIDC_SEND_NONCE=false`.
    pub omit_nonce: bool,
    /// PKCE with the plain method.
    pub pkce_plain: bool,
    /// Send a verifier that does not belong to the challenge.
    pub pkce_bad_verifier: bool,
    /// redirect_uri sent at the token endpoint instead of OIDC_REDIRECT_URI.
    pub token_redirect_uri: Option<String>,
    /// POST the token request twice with the same code.
    pub redeem_twice: bool,
    /// Wait before the token request.
    pub token_delay_ms: u64,
    /// A state with `+`, `/` and `=` in it (base64, as some relying parties make it).
    pub base64_state: bool,
    /// The code is changed on its way to the token request (a rewriting proxy).
    pub code_tamper: bool,
    /// Redeem the previous login's code instead of this one's (a replayed callback).
    pub redeem_previous_code: bool,
}

/// What Mastodon concluded about one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed in; the uid Mastodon keys the account on.
    Success { uid: String },
    /// "Could not authenticate you from OpenIDConnect because “<reason>”."
    Failure { reason: String },
}

struct Pending {
    state: String,
    nonce: String,
    verifier: Option<String>,
}

#[derive(Clone)]
pub struct Mastodon {
    pub addr: SocketAddr,
    verdicts: Arc<Mutex<Vec<Verdict>>>,
}

struct Inner {
    cfg: RpConfig,
    client: UpstreamClient<Body>,
    sessions: Mutex<HashMap<String, Pending>>,
    verdicts: Arc<Mutex<Vec<Verdict>>>,
    /// The code of the previous callback (for `redeem_previous_code`).
    last_code: Mutex<Option<String>>,
}

type Fail = String;

impl Mastodon {
    /// Serves on `listener` (bound by the caller, who needs the address first).
    pub async fn start_on(
        cfg: RpConfig,
        client: UpstreamClient<Body>,
        listener: TcpListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<Mastodon> {
        let addr = listener.local_addr()?;
        let verdicts = Arc::new(Mutex::new(vec![]));
        let inner = Arc::new(Inner {
            cfg,
            client,
            sessions: Mutex::new(HashMap::new()),
            verdicts: verdicts.clone(),
            last_code: Mutex::new(None),
        });
        serve(listener, tls, move |req, _| {
            let inner = inner.clone();
            async move { inner.handle(req).await }
        });
        Ok(Mastodon { addr, verdicts })
    }

    /// Verdicts so far, oldest first.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.verdicts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Inner {
    async fn handle(&self, req: Req) -> Response<Body> {
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/auth/auth/openid_connect") => match self.request_phase().await {
                Ok((sid, location)) => {
                    let mut r = redirect(302, &location);
                    if let Ok(v) =
                        format!("_mastodon_session={sid}; path=/; secure; HttpOnly; SameSite=Lax").parse()
                    {
                        r.headers_mut().insert(http::header::SET_COOKIE, v);
                    }
                    r
                }
                Err(reason) => self.fail(reason),
            },
            ("GET", "/auth/auth/openid_connect") => {
                super::http::respond(404, "text/plain", "Not found. Authentication passthru.")
            }
            (_, path) if path == self.cfg.callback_path => match self.callback_phase(&req).await {
                Ok(uid) => {
                    self.verdict(Verdict::Success { uid });
                    redirect(302, "https://mastodon.test/")
                }
                Err(reason) => self.fail(reason),
            },
            _ => super::http::respond(200, "text/html", "<html><body>Mastodon</body></html>"),
        }
    }

    fn verdict(&self, v: Verdict) {
        self.verdicts.lock().unwrap_or_else(|p| p.into_inner()).push(v);
    }

    fn fail(&self, reason: String) -> Response<Body> {
        self.verdict(Verdict::Failure { reason });
        redirect(302, "https://mastodon.test/auth/sign_in")
    }

    /// SWD: always https, issuer path + `/.well-known/openid-configuration`.
    async fn discover(&self) -> Result<Value, Fail> {
        let issuer = &self.cfg.issuer;
        let rest = issuer.split_once("://").map(|(_, r)| r).unwrap_or(issuer);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_end_matches('/');
        let url = if path.is_empty() {
            format!("https://{host}/.well-known/openid-configuration")
        } else {
            format!("https://{host}/{path}/.well-known/openid-configuration")
        };
        let req = Request::get(&url)
            .header("user-agent", "SWD 2.0.3")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let (parts, body) =
            send(&self.client, req).await.map_err(|e| format!("Failed to open TCP connection ({e})"))?;
        if !parts.status.is_success() {
            return Err(parts.status.canonical_reason().unwrap_or("Unknown").to_owned());
        }
        let doc: Value = serde_json::from_slice(&body).map_err(|_| "Unknown".to_owned())?;
        for field in crate::rules::discovery::MASTODON_REQUIRED {
            if doc.get(field).is_none() {
                return Err(format!("{field} can't be blank"));
            }
        }
        if doc["issuer"].as_str() != Some(issuer.as_str()) {
            return Err("Issuer mismatch".into());
        }
        Ok(doc)
    }

    async fn request_phase(&self) -> Result<(String, String), Fail> {
        let doc = self.discover().await?;
        let q = &self.cfg.quirks;
        let state = if self.cfg.quirks.base64_state {
            base64::engine::general_purpose::STANDARD.encode(format!("{}+/", random_hex()).as_bytes())
                + "+/=="
        } else {
            random_hex()
        };
        let nonce = random_hex();
        let verifier = self
            .cfg
            .pkce
            .then(|| format!("{}{}{}{}", random_hex(), random_hex(), random_hex(), random_hex()));
        let enc =
            |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
        let mut url = format!(
            "{}?client_id={}{}&redirect_uri={}&response_type=code&scope={}{}",
            doc["authorization_endpoint"].as_str().unwrap_or(""),
            enc(&self.cfg.client_id),
            if q.omit_nonce { String::new() } else { format!("&nonce={nonce}") },
            enc(&self.cfg.redirect_uri),
            enc(&self.scopes().join(" ")),
            if q.omit_state { String::new() } else { format!("&state={}", enc(&state)) },
        );
        if let Some(v) = &verifier {
            if q.pkce_plain {
                url.push_str(&format!("&code_challenge={v}&code_challenge_method=plain"));
            } else {
                let c = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
                url.push_str(&format!("&code_challenge={c}&code_challenge_method=S256"));
            }
        }
        let sid = random_hex();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid.clone(), Pending { state, nonce, verifier });
        Ok((sid, url))
    }

    /// `openid` plus OIDC_SCOPE, as the openid_connect gem builds it.
    fn scopes(&self) -> Vec<String> {
        let mut scope = if self.cfg.quirks.omit_openid { vec![] } else { vec!["openid".to_owned()] };
        scope.extend(self.cfg.scope.iter().filter(|s| *s != "openid").cloned());
        scope
    }

    async fn callback_phase(&self, req: &Req) -> Result<String, Fail> {
        let q = req.query_pairs();
        let quirks = &self.cfg.quirks;
        if let Some(e) = get(&q, "error") {
            return Err(get(&q, "error_description").unwrap_or(e).to_owned());
        }
        let pending = req
            .cookie("_mastodon_session")
            .and_then(|sid| self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&sid));
        let Some(pending) =
            pending.filter(|p| quirks.omit_state || get(&q, "state") == Some(p.state.as_str()))
        else {
            return Err("Invalid 'state' parameter".into());
        };
        let Some(code) = get(&q, "code") else { return Err("missing_code".into()) };
        let doc = self.discover().await?;
        if quirks.token_delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(quirks.token_delay_ms)).await;
        }
        let verifier = match &pending.verifier {
            Some(_) if quirks.pkce_bad_verifier => Some(format!("{}{}", random_hex(), random_hex())),
            v => v.clone(),
        };
        let tampered = format!("{code}x");
        let previous = {
            let mut last = self.last_code.lock().unwrap_or_else(|p| p.into_inner());
            last.replace(code.to_owned())
        };
        let code = match previous {
            Some(p) if quirks.redeem_previous_code => p,
            _ if quirks.code_tamper => tampered,
            _ => code.to_owned(),
        };
        let code = code.as_str();
        let token = self.token_request(&doc, code, verifier.as_deref()).await;
        if quirks.redeem_twice {
            let _ = self.token_request(&doc, code, verifier.as_deref()).await;
        }
        let token = token?;
        let id_token = token["id_token"].as_str().ok_or("Missing id token")?.to_owned();
        let nonce = if quirks.omit_nonce { None } else { Some(pending.nonce.as_str()) };
        let claims = self.verify_id_token(&doc, &id_token, nonce).await?;
        let access = token["access_token"].as_str().unwrap_or("").to_owned();
        let userinfo = if self.cfg.userinfo { self.userinfo(&doc, &access).await? } else { Value::Null };
        let mut merged = userinfo.as_object().cloned().unwrap_or_default();
        merged.extend(claims.clone());
        let uid = merged
            .get(&self.cfg.uid_field)
            .and_then(Value::as_str)
            .or_else(|| userinfo["sub"].as_str())
            .unwrap_or("")
            .to_owned();
        Ok(uid)
    }

    async fn token_request(&self, doc: &Value, code: &str, verifier: Option<&str>) -> Result<Value, Fail> {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let redirect = self.cfg.quirks.token_redirect_uri.as_deref().unwrap_or(&self.cfg.redirect_uri);
        let mut form = format!(
            "code={}&grant_type=authorization_code&redirect_uri={}&scope={}",
            enc(code),
            enc(redirect),
            enc(&self.scopes().join(" "))
        );
        if let Some(v) = verifier {
            form.push_str(&format!("&code_verifier={v}"));
        }
        let mut b = Request::post(doc["token_endpoint"].as_str().unwrap_or(""))
            .header("user-agent", "Rack::OAuth2 (2.3.0)")
            .header("content-type", "application/x-www-form-urlencoded");
        if self.cfg.client_secret_post {
            form.push_str(&format!(
                "&client_id={}&client_secret={}",
                enc(&self.cfg.client_id),
                enc(&self.cfg.client_secret)
            ));
        } else {
            let cred =
                STANDARD.encode(format!("{}:{}", enc(&self.cfg.client_id), enc(&self.cfg.client_secret)));
            b = b.header("authorization", format!("Basic {cred}"));
        }
        let req = b.body(Full::new(Bytes::from(form))).map_err(|e| e.to_string())?;
        let (parts, body) =
            send(&self.client, req).await.map_err(|e| format!("Failed to open TCP connection ({e})"))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !(parts.status == 200 || parts.status == 201) {
            return Err(v["error"].as_str().unwrap_or("Unknown").to_owned());
        }
        if !v["token_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
            return Err("Unexpected Token Type".into());
        }
        Ok(v)
    }

    async fn verify_id_token(
        &self,
        doc: &Value,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, Fail> {
        let j = DecodedJwt::decode(token).map_err(|_| "Invalid jws format".to_owned())?;
        if j.is_jwe() {
            return Err("Invalid jws format. jws should include 3 segments.".into());
        }
        let alg: Algorithm =
            j.alg().unwrap_or("").parse().map_err(|_| "JSON::JWS::UnexpectedAlgorithm".to_owned())?;
        let sig = token.rsplit('.').next().unwrap_or("");
        let ok = if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            jsonwebtoken::crypto::verify(
                sig,
                j.signing_input.as_bytes(),
                &DecodingKey::from_secret(self.cfg.client_secret.as_bytes()),
                alg,
            )
            .unwrap_or(false)
        } else {
            let req = Request::get(doc["jwks_uri"].as_str().unwrap_or(""))
                .header("user-agent", "OpenIDConnect (2.5.0)")
                .body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?;
            let (_, body) =
                send(&self.client, req).await.map_err(|e| format!("Failed to open TCP connection ({e})"))?;
            let set: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let keys: Vec<Value> = set["keys"].as_array().cloned().unwrap_or_default();
            let candidates: Vec<&Value> = match j.kid() {
                Some(kid) => keys.iter().filter(|k| k["kid"].as_str() == Some(kid)).collect(),
                None => keys.iter().collect(),
            };
            if candidates.is_empty() {
                return Err("JSON::JWK::Set::KidNotFound".into());
            }
            candidates.iter().any(|k| {
                serde_json::from_value::<jsonwebtoken::jwk::Jwk>((*k).clone())
                    .ok()
                    .and_then(|jwk| DecodingKey::from_jwk(&jwk).ok())
                    .is_some_and(|key| {
                        jsonwebtoken::crypto::verify(sig, j.signing_input.as_bytes(), &key, alg)
                            .unwrap_or(false)
                    })
            })
        };
        if !ok {
            return Err("JSON::JWS::VerificationFailed".into());
        }
        let now = crate::clock::now_s() as i64;
        if j.claim_time("exp").is_none_or(|exp| exp <= now) {
            return Err("Invalid ID token: Expired token".into());
        }
        if j.claim_str("iss") != Some(self.cfg.issuer.as_str()) {
            return Err("Invalid ID token: Issuer does not match".into());
        }
        if j.claim_str("nonce") != nonce {
            return Err("Invalid ID Token: Nonce does not match".into());
        }
        if !j.audiences().contains(&self.cfg.client_id.as_str()) {
            return Err("Invalid ID token: Audience does not match".into());
        }
        Ok(j.claims)
    }

    async fn userinfo(&self, doc: &Value, access: &str) -> Result<Value, Fail> {
        let req = Request::get(doc["userinfo_endpoint"].as_str().unwrap_or(""))
            .header("user-agent", "Rack::OAuth2::AccessToken::Bearer (2.3.0)")
            .header("authorization", format!("Bearer {access}"))
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let (parts, body) =
            send(&self.client, req).await.map_err(|e| format!("Failed to open TCP connection ({e})"))?;
        match parts.status.as_u16() {
            200 => Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)),
            400 => Err("API Access Failed".into()),
            401 => Err("Access Token Invalid or Expired".into()),
            403 => Err("Insufficient Scope".into()),
            _ => Err("Unknown HttpError".into()),
        }
    }
}
