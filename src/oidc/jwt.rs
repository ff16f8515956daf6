//! JWT/JWE decoding for display and checks, without verification (RFC 7519 §7.2 steps 1–8,
//! RFC 7516 §9 for telling JWE from JWS). Verification lives in `verify/`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::redact;

/// Which JOSE serialization a token is (RFC 7516 §9 tells them apart by segment count).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JwtForm {
    /// Compact JWS: header.payload.signature.
    Jws,
    /// Compact JWE: five segments, claims unreadable without the key.
    Jwe,
}

/// A decoded compact JWS (3 segments) or a detected JWE (5 segments).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DecodedJwt {
    pub form: JwtForm,
    pub header: Map<String, Value>,
    /// Claims of a JWS (empty for a JWE: it cannot be read without the key).
    pub claims: Map<String, Value>,
    /// The signing input (`header.payload`) and signature bytes, for verification.
    #[serde(skip)]
    pub signing_input: String,
    #[serde(skip)]
    pub signature: Vec<u8>,
    /// The signature was replaced by a redaction marker when the trace was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub signature_redacted: bool,
}

/// Why a value that should be a JWT is not one.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("not a JWT: {0} dot-separated segments (a JWS has 3, a JWE 5)")]
    Segments(usize),
    #[error("JWT {0} is not base64url: {1}")]
    Base64(&'static str, String),
    #[error("JWT {0} is not a JSON object: {1}")]
    Json(&'static str, String),
}

fn b64_json(seg: &str, part: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(seg.trim_end_matches('='))
        .map_err(|e| JwtError::Base64(part, e.to_string()))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(JwtError::Json(part, format!("found {}", json_type(&other)))),
        Err(e) => Err(JwtError::Json(part, e.to_string())),
    }
}

/// "a string", "a number", ... for messages about JSON values.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Seconds since 1970 up to the end of year 9999: what a NumericDate can sensibly be.
const MAX_DATE: f64 = 253_402_300_799.0;

/// A JSON value as a NumericDate (RFC 7519 §2), if it is one within years 0–9999.
pub fn numeric_date(v: &Value) -> Option<i64> {
    let f = v.as_f64()?;
    (f.is_finite() && f.abs() <= MAX_DATE).then(|| v.as_i64().unwrap_or(f as i64))
}

impl DecodedJwt {
    /// Decodes header and claims; never panics on any input.
    pub fn decode(token: &str) -> Result<DecodedJwt, JwtError> {
        let token = token.trim();
        let parts: Vec<&str> = token.split('.').collect();
        match parts.len() {
            3 => {
                let header = b64_json(parts[0], "header")?;
                let claims = b64_json(parts[1], "payload")?;
                let redacted = redact::is_masked(parts[2]);
                let signature = if redacted {
                    Vec::new()
                } else {
                    URL_SAFE_NO_PAD
                        .decode(parts[2].trim_end_matches('='))
                        .map_err(|e| JwtError::Base64("signature", e.to_string()))?
                };
                Ok(DecodedJwt {
                    form: JwtForm::Jws,
                    header,
                    claims,
                    signing_input: format!("{}.{}", parts[0], parts[1]),
                    signature,
                    signature_redacted: redacted,
                })
            }
            5 => Ok(DecodedJwt {
                form: JwtForm::Jwe,
                header: b64_json(parts[0], "header")?,
                claims: Map::new(),
                signing_input: String::new(),
                signature: Vec::new(),
                signature_redacted: false,
            }),
            n => Err(JwtError::Segments(n)),
        }
    }

    pub fn is_jwe(&self) -> bool {
        self.form == JwtForm::Jwe
    }

    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim (seconds); tolerates floats, as some providers send them. A value
    /// outside years 0–9999 is no date (`None`; IDT-CLAIM-TYPE says so), never a clamped one.
    pub fn claim_time(&self, name: &str) -> Option<i64> {
        numeric_date(self.claims.get(name)?)
    }

    /// `aud` as a list (it may be a string or an array, RFC 7519 §4.1.3).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn decodes_authentik_fixture_id_token() {
        let resp = include_str!("../../tests/fixtures/authentik/token-response.json");
        let v: Value = serde_json::from_str(resp).unwrap();
        let t = v["response"]["body"]["id_token"].as_str().unwrap();
        let j = DecodedJwt::decode(t).unwrap();
        assert_eq!(j.form, JwtForm::Jws);
        assert_eq!(j.alg(), Some("RS256"));
        assert!(j.kid().is_some());
        assert_eq!(j.claim_str("iss"), Some("https://authentik.company/application/o/mastodon/"));
        assert_eq!(j.audiences(), vec!["FAKEmastodonClientID0123456789abcdefghij"]);
        assert_eq!(j.signature.len(), 256);
    }

    #[test]
    fn detects_jwe_and_rejects_garbage() {
        let h = enc(&serde_json::json!({"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"}));
        let jwe = format!("{h}.a.b.c.d");
        let j = DecodedJwt::decode(&jwe).unwrap();
        assert!(j.is_jwe());
        assert_eq!(DecodedJwt::decode("abc"), Err(JwtError::Segments(1)));
        assert!(matches!(DecodedJwt::decode("!!.x.y"), Err(JwtError::Base64("header", _))));
        let arr = enc(&serde_json::json!([1]));
        assert!(matches!(DecodedJwt::decode(&format!("{arr}.{arr}.")), Err(JwtError::Json("header", _))));
        let h = enc(&serde_json::json!({"alg":"none"}));
        assert!(matches!(
            DecodedJwt::decode(&format!("{h}.bm90IGpzb24.")),
            Err(JwtError::Json("payload", _))
        ));
    }

    #[test]
    fn aud_may_be_array_and_times_may_be_floats() {
        let h = enc(&serde_json::json!({"alg":"none"}));
        let c = enc(&serde_json::json!({"aud":["a","b"],"exp":1.5e9}));
        let j = DecodedJwt::decode(&format!("{h}.{c}.")).unwrap();
        assert_eq!(j.audiences(), vec!["a", "b"]);
        assert_eq!(j.claim_time("exp"), Some(1_500_000_000));
    }
}
