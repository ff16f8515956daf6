//! RFC 7517 §5 JWK Set, summarised for display and kept raw for verification.

use serde::Serialize;
use serde_json::Value;

use super::{Problem, ProblemAt, json_object};
use crate::capture::ResponseRecord;

/// One key of a JWKS, summarised.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct KeySummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
}

/// RFC 7517 §5 JWK Set.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Jwks {
    pub url: String,
    pub status: u16,
    pub keys: Vec<KeySummary>,
    /// The document had no `keys` member (authentik's `{}` when no signing key is selected).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_keys_member: bool,
    /// The raw key objects, for verification.
    #[serde(skip)]
    pub raw_keys: Vec<Value>,
}

impl Jwks {
    pub fn decode(url: &str, resp: &ResponseRecord, problems: &mut Vec<Problem>) -> Jwks {
        let mut j = Jwks { url: url.to_owned(), status: resp.status, ..Default::default() };
        if !(200..300).contains(&resp.status) {
            return j;
        }
        let m = match json_object(&resp.body) {
            Ok(m) => m,
            Err(e) => {
                problems.push(Problem::new(ProblemAt::JwksBody, e));
                return j;
            }
        };
        match m.get("keys") {
            // authentik's `{}`: no signing key selected (tokens are HS256).
            None if m.is_empty() => j.no_keys_member = true,
            None => {
                let has: Vec<&str> = m.keys().map(String::as_str).take(8).collect();
                problems.push(Problem::new(
                    ProblemAt::JwksKeys,
                    format!("not a JWKS: no `keys` member (the object has {})", has.join(", ")),
                ));
            }
            Some(Value::Array(keys)) => {
                for k in keys {
                    if !k.is_object() {
                        problems.push(Problem::new(ProblemAt::JwksKeys, "a key is not a JSON object"));
                        continue;
                    }
                    let g = |f: &str| k.get(f).and_then(Value::as_str).map(str::to_owned);
                    j.keys.push(KeySummary {
                        kid: g("kid"),
                        kty: g("kty"),
                        alg: g("alg"),
                        use_: g("use"),
                        crv: g("crv"),
                    });
                    j.raw_keys.push(k.clone());
                }
            }
            Some(_) => problems.push(Problem::new(ProblemAt::JwksKeys, "`keys` is not an array")),
        }
        j
    }
}
