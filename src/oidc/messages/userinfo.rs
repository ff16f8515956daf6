//! OIDC Core §5.3 userinfo request (where the access token travels, RFC 6750 §2) and response.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Problem, ProblemAt, get, json_object, parse_pairs, s};
use crate::capture::{HeaderLookup, RequestRecord, ResponseRecord};
use crate::oidc::jwt::DecodedJwt;
use crate::oidc::url::split_url;
use crate::oidc::www_authenticate::WwwAuthenticate;

/// Where a userinfo request carried its access token (RFC 6750 §2.1–§2.3).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    Header,
    /// `access_token` in a form body.
    Form,
    /// `access_token` in the query.
    Query,
    /// No access token at all.
    #[default]
    None,
}

/// Where a userinfo request carried its access token (RFC 6750 §2).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UserinfoRequest {
    pub token_source: TokenSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

impl UserinfoRequest {
    pub fn decode(req: &RequestRecord) -> UserinfoRequest {
        if let Some(h) = req.header("authorization") {
            let (scheme, cred) = h.split_once(' ').unwrap_or((h, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                return UserinfoRequest {
                    token_source: TokenSource::Header,
                    access_token: Some(cred.trim().to_owned()),
                };
            }
        }
        if let Some(t) = req.body.text().and_then(|b| get(&parse_pairs(b), "access_token").map(str::to_owned))
        {
            return UserinfoRequest { token_source: TokenSource::Form, access_token: Some(t) };
        }
        let query = split_url(&req.path).query;
        if let Some(t) = query.and_then(|q| get(&parse_pairs(&q), "access_token").map(str::to_owned)) {
            return UserinfoRequest { token_source: TokenSource::Query, access_token: Some(t) };
        }
        UserinfoRequest { token_source: TokenSource::None, access_token: None }
    }
}

/// OIDC Core §5.3.2 userinfo response: JSON claims, a JWT, or an error.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UserinfoResponse {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<DecodedJwt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub www_authenticate: Option<WwwAuthenticate>,
    /// `error` / `error_description` of a JSON error body (some providers put them there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_error: Option<(String, Option<String>)>,
}

impl UserinfoResponse {
    pub fn decode(resp: &ResponseRecord, problems: &mut Vec<Problem>) -> UserinfoResponse {
        let mut u = UserinfoResponse {
            status: resp.status,
            www_authenticate: resp.header("www-authenticate").map(WwwAuthenticate::parse),
            ..Default::default()
        };
        if resp.status != 200 {
            u.body_error = json_object(&resp.body)
                .ok()
                .and_then(|m| s(&m, "error").map(|e| (e, s(&m, "error_description"))));
            return u;
        }
        let ct = resp.header("content-type").unwrap_or("").to_ascii_lowercase();
        if ct.contains("jwt") {
            match DecodedJwt::decode(resp.body.text().unwrap_or("")) {
                Ok(j) => {
                    u.claims = Some(j.claims.clone());
                    u.jwt = Some(j);
                }
                Err(e) => problems.push(Problem::new(ProblemAt::UserinfoResponseBody, e.to_string())),
            }
            return u;
        }
        match json_object(&resp.body) {
            Ok(m) => u.claims = Some(m),
            Err(e) => problems.push(Problem::new(ProblemAt::UserinfoResponseBody, e)),
        }
        u
    }
}
