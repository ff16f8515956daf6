//! The provider's token endpoint: client authentication as authentik checks it, code
//! redemption (single use, lifetime, PKCE), and the ID token with every claim fault applied.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::Response;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::faults::{DupPlace, Faults, with_duplicates};
use super::{NonceMode, Provider, State, TokenInfo, token_error};
use crate::clock::now_s;
use crate::demo::http::{Body, Req, get, respond};

impl Provider {
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

    pub(super) fn token(&self, req: &Req) -> Response<Body> {
        let form = req.form();
        let mut st = self.lock();
        let f = st.cfg.faults.clone();
        if !authenticated(&st, req) {
            return token_error("invalid_client", INVALID_CLIENT);
        }
        if let Some(e) = &f.token_error {
            let desc = f.token_error_description.as_deref().unwrap_or("The provider refused the request");
            return token_error(e, desc);
        }
        // authentik answers a token-request redirect_uri it does not know with invalid_client.
        if !st.cfg.redirect_uris.iter().any(|u| Some(u.as_str()) == get(&form, "redirect_uri")) {
            return token_error("invalid_client", INVALID_CLIENT);
        }
        let Some((nonce, requested)) = redeem(&mut st, &form, f.code_lifetime()) else {
            return token_error("invalid_grant", INVALID_GRANT);
        };
        let granted: Vec<&str> =
            requested.split_whitespace().filter(|s| !f.scope_drop.iter().any(|d| d == s)).collect();
        let granted = granted.join(" ");
        let issuer = self.issuer(req, &st);
        let now = now_s();
        let access_token = self.sign(&st, &json!({"iss": issuer, "sub": self.sub(&st), "aud": st.cfg.client_id, "exp": now + 3600, "iat": now, "scope": granted, "azp": st.cfg.client_id, "jti": crate::demo::http::random_hex()}), f.signing, false);
        st.tokens.insert(access_token.clone(), TokenInfo { scope: granted.clone(), exp: now + 3600 });
        let mut body = json!({
            "access_token": access_token,
            "token_type": f.token_type.clone().unwrap_or("Bearer".into()),
            "scope": granted,
            "expires_in": 3600,
        });
        if !f.omit_id_token {
            let claims = match &f.id_token_claims {
                Some(recorded) => recorded_claims(recorded, &f, nonce, &access_token, now),
                None => self.id_token_claims(&st, issuer, nonce, &granted, now),
            };
            body["id_token"] = f
                .id_token_raw
                .clone()
                .unwrap_or_else(|| self.sign(&st, &Value::Object(claims), f.signing, true))
                .into();
        }
        let text = serde_json::to_string(&body).unwrap_or_default();
        let text = with_duplicates(text, DupPlace::TokenResponse, &f.duplicates);
        let mut r = respond(200, "application/json", text);
        r.headers_mut().insert("cache-control", http::HeaderValue::from_static("no-store"));
        r.headers_mut().insert("pragma", http::HeaderValue::from_static("no-cache"));
        r
    }

    /// The ID token's claims, with every claim fault applied.
    fn id_token_claims(
        &self,
        st: &State,
        issuer: String,
        nonce: Option<String>,
        granted: &str,
        now: u64,
    ) -> Map<String, Value> {
        let f = &st.cfg.faults;
        let mut id = Map::new();
        id.insert("iss".into(), f.id_token_iss.clone().unwrap_or(issuer).into());
        id.insert("sub".into(), self.sub(st).into());
        id.insert("aud".into(), f.id_token_aud.clone().unwrap_or(Value::String(st.cfg.client_id.clone())));
        id.insert("exp".into(), (now as i64 + f.exp_offset()).into());
        id.insert("iat".into(), (now as i64 + f.iat_offset_s).into());
        id.insert("auth_time".into(), now.into());
        id.insert("acr".into(), "goauthentik.io/providers/oauth2/default".into());
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
        id.append(&mut self.user_claims(st, granted));
        for k in &f.drop_claims {
            id.remove(k);
        }
        id
    }
}

/// A trace's ID token claims for this login: its times as offsets from now, this request's
/// nonce (or none, or another, as `nonce` says), an `at_hash` of this access token.
fn recorded_claims(
    recorded: &Map<String, Value>,
    f: &Faults,
    nonce: Option<String>,
    access_token: &str,
    now: u64,
) -> Map<String, Value> {
    let mut id = recorded.clone();
    for t in ["exp", "iat", "nbf", "auth_time"] {
        if let Some(offset) = id.get(t).and_then(Value::as_i64) {
            id.insert(t.into(), (now as i64 + offset).into());
        }
    }
    id.remove("nonce");
    match (&f.nonce, nonce) {
        (NonceMode::Echo, Some(n)) => {
            id.insert("nonce".into(), n.into());
        }
        (NonceMode::Wrong, _) => {
            id.insert("nonce".into(), "0123456789abcdef0123456789abcdef".into());
        }
        _ => {}
    }
    if id.contains_key("at_hash") || f.bad_at_hash {
        // The left half of the access token's hash under the alg's SHA-2 (OIDC Core 3.1.3.6).
        let alg = f.signing.alg_name();
        let digest = if alg.ends_with("384") {
            sha2::Sha384::digest(access_token.as_bytes()).to_vec()
        } else if alg.ends_with("512") {
            sha2::Sha512::digest(access_token.as_bytes()).to_vec()
        } else {
            Sha256::digest(access_token.as_bytes()).to_vec()
        };
        let hash = if f.bad_at_hash {
            "AAAAAAAAAAAAAAAAAAAAAA".to_owned()
        } else {
            URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
        };
        id.insert("at_hash".into(), hash.into());
    }
    id
}

const INVALID_CLIENT: &str = "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)";
const INVALID_GRANT: &str = "The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client";

/// authentik's client check: the id and secret sent (Basic or body).
fn authenticated(st: &State, req: &Req) -> bool {
    let (id, secret) = Provider::client_auth(req);
    id.as_deref() == Some(st.cfg.client_id.as_str())
        && secret.as_deref() == Some(st.cfg.client_secret.as_str())
}

/// Redeems the code once, within its lifetime, with the PKCE verifier its challenge asks for.
/// Returns the nonce and scope the authorize request carried; `None` is invalid_grant.
fn redeem(st: &mut State, form: &[(String, String)], lifetime_s: u64) -> Option<(Option<String>, String)> {
    let code = get(form, "code").unwrap_or("").to_owned();
    let info = st.codes.get_mut(&code)?;
    if info.used || now_s().saturating_sub(info.issued) > lifetime_s {
        info.used = true;
        return None;
    }
    info.used = true;
    match (&info.challenge, get(form, "code_verifier")) {
        (Some((c, m)), Some(v)) => {
            let computed =
                if m == "S256" { URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) } else { v.to_owned() };
            if &computed != c {
                return None;
            }
        }
        (None, None) => {}
        _ => return None,
    }
    Some((info.nonce.clone(), info.scope.clone()))
}
