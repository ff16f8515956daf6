//! Typed OpenID Connect messages decoded from captured exchanges. Each decoder is a pure
//! function that keeps the raw values it read and reports what it could not read as a
//! [`Problem`], never a panic. Shapes follow what Mastodon (omniauth_openid_connect /
//! rack-oauth2) sends and what authentik answers (see tests/fixtures/authentik).

//!
//! One file per message family: `authorize` (request and response), `token` (request and
//! response), `userinfo`, `discovery`, `jwks`, `refusal` (the provider's error pages).

mod authorize;
mod discovery;
mod jwks;
mod refusal;
pub(crate) mod token;
mod userinfo;

pub use authorize::{AuthorizationResponse, AuthorizeRequest, ResponseVia};
pub use discovery::{Discovery, Endpoint};
pub use jwks::Jwks;
pub use refusal::{ProviderErrorPage, RefusalKind};
pub use token::{TokenRequest, TokenResponse};
pub use userinfo::{TokenSource, UserinfoRequest, UserinfoResponse};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::capture::CapturedBody;

/// Where in a message a problem was found: a closed set, so rules match on it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemAt {
    DiscoveryBody,
    JwksBody,
    JwksKeys,
    /// The `Authorization` header of a token request.
    Authorization,
    TokenRequestContentType,
    TokenResponseBody,
    IdToken,
    UserinfoResponseBody,
    /// The method of Mastodon's OmniAuth request phase.
    RpLoginMethod,
}

impl ProblemAt {
    /// The dotted path the journal and the console show.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProblemAt::DiscoveryBody => "discovery.body",
            ProblemAt::JwksBody => "jwks.body",
            ProblemAt::JwksKeys => "jwks.keys",
            ProblemAt::Authorization => "authorization",
            ProblemAt::TokenRequestContentType => "token_request.content_type",
            ProblemAt::TokenResponseBody => "token_response.body",
            ProblemAt::IdToken => "id_token",
            ProblemAt::UserinfoResponseBody => "userinfo_response.body",
            ProblemAt::RpLoginMethod => "rp_login.method",
        }
    }
}

impl std::fmt::Display for ProblemAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProblemAt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Something in a message that could not be decoded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub at: ProblemAt,
    pub message: String,
}

impl Problem {
    pub fn new(at: ProblemAt, message: impl Into<String>) -> Problem {
        Problem { at, message: message.into() }
    }
}

/// Query or form pairs, decoded, in order.
pub fn parse_pairs(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn owned(pairs: &[(String, String)], key: &str) -> Option<String> {
    get(pairs, key).map(str::to_owned)
}

fn json_object(body: &CapturedBody) -> Result<Map<String, Value>, String> {
    let text = body.text().ok_or("body is not UTF-8")?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("body is JSON but not an object".into()),
        Err(e) if body.truncated => Err(format!("body truncated by --capture-limit: {e}")),
        Err(e) => Err(format!("body is not JSON: {e}")),
    }
}

fn s(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests;
