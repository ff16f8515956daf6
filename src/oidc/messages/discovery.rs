//! OpenID Connect Discovery 1.0 §3 provider metadata.

use serde::Serialize;
use serde_json::Value;

use super::{Problem, ProblemAt, json_object, s};
use crate::capture::ResponseRecord;

/// OpenID Connect Discovery 1.0 §3 provider metadata (the fields the checks use; the rest
/// stays in the captured body).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Discovery {
    /// The URL the document was fetched from.
    pub fetched_from: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_types_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// Top-level keys present (for the missing-field check).
    #[serde(skip)]
    pub keys: Vec<String>,
    /// Fields present with the wrong JSON type: (field, expected type, the value as JSON).
    /// Such a field is read as absent by everything else, never trusted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wrong_types: Vec<(String, String, String)>,
    /// The body was a JSON object.
    pub valid_json: bool,
}

/// The endpoint fields of a discovery document: the one list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Authorization,
    Token,
    Userinfo,
    Jwks,
    EndSession,
    Introspection,
    Revocation,
}

impl Endpoint {
    /// Every endpoint field, in the order documents list them.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Authorization,
        Endpoint::Token,
        Endpoint::Userinfo,
        Endpoint::Jwks,
        Endpoint::EndSession,
        Endpoint::Introspection,
        Endpoint::Revocation,
    ];

    /// The metadata field name (Discovery §3).
    pub const fn field(self) -> &'static str {
        match self {
            Endpoint::Authorization => "authorization_endpoint",
            Endpoint::Token => "token_endpoint",
            Endpoint::Userinfo => "userinfo_endpoint",
            Endpoint::Jwks => "jwks_uri",
            Endpoint::EndSession => "end_session_endpoint",
            Endpoint::Introspection => "introspection_endpoint",
            Endpoint::Revocation => "revocation_endpoint",
        }
    }
}

/// The list-valued fields the checks read.
const LIST_FIELDS: &[&str] = &[
    "id_token_signing_alg_values_supported",
    "scopes_supported",
    "response_types_supported",
    "subject_types_supported",
    "code_challenge_methods_supported",
];

/// A JSON value as compact text, cut at 120 characters.
fn json_text(v: &Value) -> String {
    crate::text::truncate(&serde_json::to_string(v).unwrap_or_default(), 120)
}

impl Discovery {
    pub fn decode(fetched_from: &str, resp: &ResponseRecord, problems: &mut Vec<Problem>) -> Discovery {
        let mut d =
            Discovery { fetched_from: fetched_from.to_owned(), status: resp.status, ..Default::default() };
        if !(200..300).contains(&resp.status) {
            return d;
        }
        let m = match json_object(&resp.body) {
            Ok(m) => m,
            Err(e) => {
                problems.push(Problem::new(ProblemAt::DiscoveryBody, e));
                return d;
            }
        };
        let list = |k: &str| -> Vec<String> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        d.valid_json = true;
        d.keys = m.keys().cloned().collect();
        let strings = std::iter::once("issuer").chain(Endpoint::ALL.iter().map(|e| e.field()));
        for field in strings {
            if let Some(v) = m.get(field).filter(|v| !v.is_string()) {
                d.wrong_types.push((field.into(), "a string".into(), json_text(v)));
            }
        }
        for field in LIST_FIELDS {
            if let Some(v) =
                m.get(*field).filter(|v| !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
            {
                d.wrong_types.push(((*field).into(), "an array of strings".into(), json_text(v)));
            }
        }
        d.issuer = s(&m, "issuer");
        for e in Endpoint::ALL {
            let v = s(&m, e.field());
            match e {
                Endpoint::Authorization => d.authorization_endpoint = v,
                Endpoint::Token => d.token_endpoint = v,
                Endpoint::Userinfo => d.userinfo_endpoint = v,
                Endpoint::Jwks => d.jwks_uri = v,
                Endpoint::EndSession => d.end_session_endpoint = v,
                Endpoint::Introspection => d.introspection_endpoint = v,
                Endpoint::Revocation => d.revocation_endpoint = v,
            }
        }
        d.id_token_signing_alg_values_supported = list("id_token_signing_alg_values_supported");
        d.scopes_supported = list("scopes_supported");
        d.response_types_supported = list("response_types_supported");
        d.subject_types_supported = list("subject_types_supported");
        d.code_challenge_methods_supported = list("code_challenge_methods_supported");
        d
    }

    pub fn endpoint(&self, e: Endpoint) -> Option<&str> {
        match e {
            Endpoint::Authorization => self.authorization_endpoint.as_deref(),
            Endpoint::Token => self.token_endpoint.as_deref(),
            Endpoint::Userinfo => self.userinfo_endpoint.as_deref(),
            Endpoint::Jwks => self.jwks_uri.as_deref(),
            Endpoint::EndSession => self.end_session_endpoint.as_deref(),
            Endpoint::Introspection => self.introspection_endpoint.as_deref(),
            Endpoint::Revocation => self.revocation_endpoint.as_deref(),
        }
    }
}
