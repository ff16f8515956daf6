//! RFC 6749 §4.1.1–§4.1.2 / OIDC Core §3.1.2 authorization request and response, wherever the
//! response travelled (Location, fragment, form post, authentik's flow executor).

use serde::Serialize;
use serde_json::Value;

use super::{owned, parse_pairs};
use crate::oidc::html;
use crate::oidc::url::split_url;

/// RFC 6749 §4.1.1 / OIDC Core §3.1.2.1 authorization request.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AuthorizeRequest {
    /// The endpoint URL (or path) without the query.
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// Every parameter as sent.
    pub params: Vec<(String, String)>,
}

impl AuthorizeRequest {
    pub fn from_url(url: &str) -> AuthorizeRequest {
        let split = split_url(url);
        let params = parse_pairs(split.query.as_deref().unwrap_or(""));
        AuthorizeRequest {
            endpoint: split.base,
            client_id: owned(&params, "client_id"),
            redirect_uri: owned(&params, "redirect_uri"),
            response_type: owned(&params, "response_type"),
            response_mode: owned(&params, "response_mode"),
            scope: owned(&params, "scope"),
            state: owned(&params, "state"),
            nonce: owned(&params, "nonce"),
            code_challenge: owned(&params, "code_challenge"),
            code_challenge_method: owned(&params, "code_challenge_method"),
            prompt: owned(&params, "prompt"),
            login_hint: owned(&params, "login_hint"),
            params,
        }
    }

    /// Scopes as a list (space-separated, RFC 6749 §3.3).
    pub fn scopes(&self) -> Vec<&str> {
        self.scope.as_deref().map(|s| s.split_whitespace().collect()).unwrap_or_default()
    }
}

/// How an authorization response reached the browser.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResponseVia {
    /// `Location` header, query component.
    Location,
    /// `Location` header, fragment component (implicit / hybrid).
    Fragment,
    /// authentik flow executor `xak-flow-redirect` challenge (`to`).
    Executor,
    /// Auto-submitting form (`response_mode=form_post`, or authentik's `ak-stage-autosubmit`).
    FormPost,
    /// The relying party's callback request itself.
    Callback,
}

impl ResponseVia {
    /// The journal's and the console's name (`form_post`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ResponseVia::Location => "location",
            ResponseVia::Fragment => "fragment",
            ResponseVia::Executor => "executor",
            ResponseVia::FormPost => "form_post",
            ResponseVia::Callback => "callback",
        }
    }
}

/// RFC 6749 §4.1.2 / §4.1.2.1 authorization response (success or error), RFC 9207 `iss`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuthorizationResponse {
    pub via: ResponseVia,
    /// Where the browser is sent (redirect URI without the parameters).
    pub redirect_to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl AuthorizationResponse {
    fn from_pairs(
        via: ResponseVia,
        redirect_to: &str,
        p: &[(String, String)],
    ) -> Option<AuthorizationResponse> {
        let r = AuthorizationResponse {
            via,
            redirect_to: redirect_to.to_owned(),
            code: owned(p, "code"),
            state: owned(p, "state"),
            iss: owned(p, "iss"),
            error: owned(p, "error"),
            error_description: owned(p, "error_description"),
            id_token: owned(p, "id_token"),
        };
        (r.code.is_some() || r.error.is_some() || r.id_token.is_some()).then_some(r)
    }

    /// From a redirect URL carrying `code`/`error` in its query or fragment.
    pub fn from_redirect_url(url: &str, via: ResponseVia) -> Option<AuthorizationResponse> {
        let split = split_url(url);
        if let Some(r) = split.query.and_then(|q| Self::from_pairs(via, &split.base, &parse_pairs(&q))) {
            return Some(r);
        }
        let via = if via == ResponseVia::Location { ResponseVia::Fragment } else { via };
        split.fragment.and_then(|f| Self::from_pairs(via, &split.base, &parse_pairs(&f)))
    }

    /// From an authentik flow-executor challenge: `xak-flow-redirect` (`to`) or
    /// `ak-stage-autosubmit` (`url` + `attrs`).
    pub fn from_executor(v: &Value) -> Option<AuthorizationResponse> {
        match v.get("component").and_then(Value::as_str) {
            Some("xak-flow-redirect") => {
                Self::from_redirect_url(v.get("to").and_then(Value::as_str)?, ResponseVia::Executor)
            }
            Some("ak-stage-autosubmit") => {
                let url = v.get("url").and_then(Value::as_str)?;
                let attrs = v.get("attrs").and_then(Value::as_object)?;
                let pairs: Vec<(String, String)> =
                    attrs.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect();
                Self::from_pairs(ResponseVia::FormPost, url, &pairs)
            }
            _ => None,
        }
    }

    /// From an HTML page with an auto-submitting form (OAuth 2.0 Form Post Response Mode).
    pub fn from_form_post_html(html: &str) -> Option<AuthorizationResponse> {
        let form_start = html.find("<form")?;
        let form = &html[form_start..];
        let tag_end = form.find('>')?;
        let action = html::attr(&form[..tag_end], "action")?;
        let mut pairs = Vec::new();
        for tag in form.split("<input").skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            if let (Some(n), Some(v)) = (html::attr(tag, "name"), html::attr(tag, "value")) {
                pairs.push((html::unescape(&n), html::unescape(&v)));
            }
        }
        Self::from_pairs(ResponseVia::FormPost, &html::unescape(&action), &pairs)
    }
}
