//! RFC 6749 §4.1.3 / §5 token request and response, with the client authentication Mastodon's
//! rack-oauth2 sends (Basic with form-encoded credentials, or the body).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::{Problem, ProblemAt, get, json_object, owned, parse_pairs, s};
use crate::capture::{HeaderLookup, RequestRecord, ResponseRecord};
use crate::oidc::jwt::DecodedJwt;
use crate::redact::Secret;

/// How the client authenticated at the token endpoint (RFC 6749 §2.3.1, OIDC Core §9).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// `Authorization: Basic` with the form-encoded id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body.
    ClientSecretPost,
    /// A signed `client_assertion`.
    PrivateKeyJwt,
    /// Nothing that authenticates the client.
    #[default]
    None,
}

impl ClientAuthMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
            ClientAuthMethod::None => "none",
        }
    }
}

impl std::fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the client authenticated at the token endpoint (RFC 6749 §2.3, OIDC Core §9).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ClientAuth {
    pub method: ClientAuthMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The secret as the provider will compare it (after rack-oauth2's form-encoding is undone).
    #[serde(skip)]
    pub secret: Option<Secret>,
    /// The secret as it sits inside the Basic header (authentik before 2026.2.2 compares this).
    #[serde(skip)]
    pub secret_raw: Option<Secret>,
    /// Basic credentials contained `%xx` escapes (rack-oauth2 form-encodes id and secret).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub basic_percent_encoded: bool,
}

/// RFC 6749 §4.1.3 token request.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TokenRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub client_auth: ClientAuth,
}

impl TokenRequest {
    pub fn decode(req: &RequestRecord, problems: &mut Vec<Problem>) -> TokenRequest {
        let body = req.body.text().unwrap_or("");
        let ct = req.header("content-type").unwrap_or("");
        if !body.is_empty() && !ct.to_ascii_lowercase().contains("x-www-form-urlencoded") {
            problems.push(Problem::new(
                ProblemAt::TokenRequestContentType,
                format!(
                    "token requests must be application/x-www-form-urlencoded (RFC 6749 §4.1.3), got {ct:?}"
                ),
            ));
        }
        let p = parse_pairs(body);
        let mut auth = ClientAuth {
            method: ClientAuthMethod::None,
            client_id: owned(&p, "client_id"),
            ..Default::default()
        };
        if let Some(h) = req.header("authorization") {
            let (scheme, cred) = h.split_once(' ').unwrap_or((h, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                match STANDARD.decode(cred.trim()).ok().and_then(|b| String::from_utf8(b).ok()) {
                    Some(pair) => {
                        let (id, secret) = pair.split_once(':').unwrap_or((&pair, ""));
                        let dec = |s: &str| {
                            form_urlencoded::parse(format!("x={s}").as_bytes())
                                .map(|(_, v)| v.into_owned())
                                .next()
                                .unwrap_or_default()
                        };
                        auth.method = ClientAuthMethod::ClientSecretBasic;
                        auth.basic_percent_encoded = id.contains('%') || secret.contains('%');
                        auth.client_id = Some(dec(id));
                        auth.secret = Some(Secret::new(if crate::redact::is_masked(secret) {
                            secret.into()
                        } else {
                            dec(secret)
                        }));
                        auth.secret_raw = Some(Secret::new(secret));
                    }
                    None => problems.push(Problem::new(
                        ProblemAt::Authorization,
                        "Basic credentials are not base64 of id:secret",
                    )),
                }
            }
        }
        if auth.method == ClientAuthMethod::None {
            if let Some(s) = owned(&p, "client_secret") {
                auth.method = ClientAuthMethod::ClientSecretPost;
                auth.secret_raw = Some(Secret::new(s.clone()));
                auth.secret = Some(Secret::new(s));
            } else if get(&p, "client_assertion").is_some() {
                auth.method = ClientAuthMethod::PrivateKeyJwt;
            }
        }
        TokenRequest {
            grant_type: owned(&p, "grant_type"),
            code: owned(&p, "code"),
            redirect_uri: owned(&p, "redirect_uri"),
            code_verifier: owned(&p, "code_verifier"),
            scope: owned(&p, "scope"),
            client_auth: auth,
        }
    }
}

/// RFC 6749 §5.1 / §5.2 and OIDC Core §3.1.3.3 token response.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TokenResponse {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_decoded: Option<DecodedJwt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The body was not a JSON object (Mastodon's client then reports `Unknown`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_json: bool,
}

impl TokenResponse {
    pub fn decode(resp: &ResponseRecord, problems: &mut Vec<Problem>) -> TokenResponse {
        let mut t = TokenResponse {
            status: resp.status,
            cache_control: resp.header("cache-control").map(str::to_owned),
            ..Default::default()
        };
        if (300..400).contains(&resp.status) {
            return t;
        }
        let m = match json_object(&resp.body) {
            Ok(m) => m,
            Err(e) => {
                t.not_json = true;
                problems.push(Problem::new(ProblemAt::TokenResponseBody, e));
                return t;
            }
        };
        t.access_token = s(&m, "access_token");
        t.token_type = s(&m, "token_type");
        t.expires_in = m.get("expires_in").and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
        t.scope = s(&m, "scope");
        t.refresh_token = s(&m, "refresh_token");
        t.error = s(&m, "error");
        t.error_description = s(&m, "error_description");
        t.id_token = s(&m, "id_token");
        if let Some(raw) = &t.id_token {
            match DecodedJwt::decode(raw) {
                Ok(j) => t.id_token_decoded = Some(j),
                Err(e) => problems.push(Problem::new(ProblemAt::IdToken, e.to_string())),
            }
        }
        t
    }

    pub fn scopes(&self) -> Vec<&str> {
        self.scope.as_deref().map(|s| s.split_whitespace().collect()).unwrap_or_default()
    }
}
