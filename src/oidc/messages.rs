//! Typed OpenID Connect messages decoded from captured exchanges. Each decoder is a pure
//! function that keeps the raw values it read and reports what it could not read as a
//! [`Problem`], never a panic. Shapes follow what Mastodon (omniauth_openid_connect /
//! rack-oauth2) sends and what authentik answers (see tests/fixtures/authentik).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Map, Value};

use super::jwt::DecodedJwt;
use crate::capture::{CapturedBody, HeaderLookup, RequestRecord, ResponseRecord};

/// Something in a message that could not be decoded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Where: `token_response.body`, `id_token`, `authorization`, ...
    pub at: String,
    pub message: String,
}

impl Problem {
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { at: at.into(), message: message.into() }
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

/// Splits `https://h/p?q#f` (or `/p?q`) into base, query and fragment.
pub fn split_url(url: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, frag) = match url.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (url, None),
    };
    match rest.split_once('?') {
        Some((a, q)) => (a, Some(q), frag),
        None => (rest, None, frag),
    }
}

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
        let (base, query, _) = split_url(url);
        let params = parse_pairs(query.unwrap_or(""));
        AuthorizeRequest {
            endpoint: base.to_owned(),
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
        let (base, query, frag) = split_url(url);
        if let Some(r) = query.and_then(|q| Self::from_pairs(via, base, &parse_pairs(q))) {
            return Some(r);
        }
        let via = if via == ResponseVia::Location { ResponseVia::Fragment } else { via };
        frag.and_then(|f| Self::from_pairs(via, base, &parse_pairs(f)))
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
        let action = attr(&form[..tag_end], "action")?;
        let mut pairs = Vec::new();
        for tag in form.split("<input").skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                pairs.push((html_unescape(&n), html_unescape(&v)));
            }
        }
        Self::from_pairs(ResponseVia::FormPost, &html_unescape(&action), &pairs)
    }
}

fn attr(tag: &str, name: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let pat = format!("{name}={quote}");
        if let Some(i) = tag.find(&pat) {
            return tag[i + pat.len()..].split(quote).next().map(str::to_owned);
        }
    }
    None
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// How the client authenticated at the token endpoint (RFC 6749 §2.3, OIDC Core §9).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ClientAuth {
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` (client_assertion), or `none`.
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The secret as the provider will compare it (after rack-oauth2's form-encoding is undone).
    #[serde(skip)]
    pub secret: Option<String>,
    /// The secret as it sits inside the Basic header (authentik before 2026.2.2 compares this).
    #[serde(skip)]
    pub secret_raw: Option<String>,
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
                "token_request.content_type",
                format!(
                    "token requests must be application/x-www-form-urlencoded (RFC 6749 §4.1.3), got {ct:?}"
                ),
            ));
        }
        let p = parse_pairs(body);
        let mut auth =
            ClientAuth { method: "none".into(), client_id: owned(&p, "client_id"), ..Default::default() };
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
                        auth.method = "client_secret_basic".into();
                        auth.basic_percent_encoded = id.contains('%') || secret.contains('%');
                        auth.client_id = Some(dec(id));
                        auth.secret =
                            Some(if crate::redact::is_masked(secret) { secret.into() } else { dec(secret) });
                        auth.secret_raw = Some(secret.to_owned());
                    }
                    None => problems
                        .push(Problem::new("authorization", "Basic credentials are not base64 of id:secret")),
                }
            }
        }
        if auth.method == "none" {
            if let Some(s) = owned(&p, "client_secret") {
                auth.method = "client_secret_post".into();
                auth.secret_raw = Some(s.clone());
                auth.secret = Some(s);
            } else if get(&p, "client_assertion").is_some() {
                auth.method = "private_key_jwt".into();
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
                problems.push(Problem::new("token_response.body", e));
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
                Err(e) => problems.push(Problem::new("id_token", e.to_string())),
            }
        }
        t
    }

    pub fn scopes(&self) -> Vec<&str> {
        self.scope.as_deref().map(|s| s.split_whitespace().collect()).unwrap_or_default()
    }
}

/// Where a userinfo request carried its access token (RFC 6750 §2).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct UserinfoRequest {
    /// `header`, `form`, `query`, or `none`.
    pub token_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

impl UserinfoRequest {
    pub fn decode(req: &RequestRecord) -> UserinfoRequest {
        if let Some(h) = req.header("authorization") {
            let (scheme, cred) = h.split_once(' ').unwrap_or((h, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                return UserinfoRequest {
                    token_source: "header".into(),
                    access_token: Some(cred.trim().to_owned()),
                };
            }
        }
        if let Some(t) = req.body.text().and_then(|b| get(&parse_pairs(b), "access_token").map(str::to_owned))
        {
            return UserinfoRequest { token_source: "form".into(), access_token: Some(t) };
        }
        let (_, q, _) = split_url(&req.path);
        if let Some(t) = q.and_then(|q| get(&parse_pairs(q), "access_token").map(str::to_owned)) {
            return UserinfoRequest { token_source: "query".into(), access_token: Some(t) };
        }
        UserinfoRequest { token_source: "none".into(), access_token: None }
    }
}

/// A decoded `WWW-Authenticate` challenge (RFC 6750 §3). authentik omits the `Bearer` scheme.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WwwAuthenticate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl WwwAuthenticate {
    pub fn parse(v: &str) -> WwwAuthenticate {
        let v = v.trim();
        let (scheme, rest) = match v.split_once(' ') {
            Some((first, rest)) if !first.contains('=') => (Some(first.to_owned()), rest),
            _ if !v.contains('=') && !v.is_empty() => (Some(v.to_owned()), ""),
            _ => (None, v),
        };
        let mut out = WwwAuthenticate { scheme, ..Default::default() };
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let Some((k, after)) = rest.split_once('=') else { break };
            let k = k.trim().trim_start_matches(',').trim();
            let after = after.trim_start();
            let (val, remaining) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"').unwrap_or(q.len());
                (q[..end].to_owned(), q.get(end + 1..).unwrap_or(""))
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            match k {
                "error" => out.error = Some(val),
                "error_description" => out.error_description = Some(val),
                "scope" => out.scope = Some(val),
                _ => {}
            }
            rest = remaining.trim_start_matches([',', ' ']);
        }
        out
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
                Err(e) => problems.push(Problem::new("userinfo_response.body", e.to_string())),
            }
            return u;
        }
        match json_object(&resp.body) {
            Ok(m) => u.claims = Some(m),
            Err(e) => problems.push(Problem::new("userinfo_response.body", e)),
        }
        u
    }
}

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
    /// The body was a JSON object.
    pub valid_json: bool,
}

/// The endpoint fields of a discovery document, in a fixed order.
pub const ENDPOINT_FIELDS: &[&str] = &[
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
];

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
                problems.push(Problem::new("discovery.body", e));
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
        d.issuer = s(&m, "issuer");
        d.authorization_endpoint = s(&m, "authorization_endpoint");
        d.token_endpoint = s(&m, "token_endpoint");
        d.userinfo_endpoint = s(&m, "userinfo_endpoint");
        d.jwks_uri = s(&m, "jwks_uri");
        d.end_session_endpoint = s(&m, "end_session_endpoint");
        d.introspection_endpoint = s(&m, "introspection_endpoint");
        d.revocation_endpoint = s(&m, "revocation_endpoint");
        d.id_token_signing_alg_values_supported = list("id_token_signing_alg_values_supported");
        d.scopes_supported = list("scopes_supported");
        d.response_types_supported = list("response_types_supported");
        d.subject_types_supported = list("subject_types_supported");
        d.code_challenge_methods_supported = list("code_challenge_methods_supported");
        d
    }

    pub fn endpoint(&self, field: &str) -> Option<&str> {
        match field {
            "authorization_endpoint" => self.authorization_endpoint.as_deref(),
            "token_endpoint" => self.token_endpoint.as_deref(),
            "userinfo_endpoint" => self.userinfo_endpoint.as_deref(),
            "jwks_uri" => self.jwks_uri.as_deref(),
            "end_session_endpoint" => self.end_session_endpoint.as_deref(),
            "introspection_endpoint" => self.introspection_endpoint.as_deref(),
            "revocation_endpoint" => self.revocation_endpoint.as_deref(),
            _ => None,
        }
    }
}

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
                problems.push(Problem::new("jwks.body", e));
                return j;
            }
        };
        match m.get("keys") {
            None => j.no_keys_member = true,
            Some(Value::Array(keys)) => {
                for k in keys {
                    if !k.is_object() {
                        problems.push(Problem::new("jwks.keys", "a key is not a JSON object"));
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
            Some(_) => problems.push(Problem::new("jwks.keys", "`keys` is not an array")),
        }
        j
    }
}

/// authentik's (or another provider's) refusal page at the authorize endpoint.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderErrorPage {
    /// `redirect_uri`, `client_id`, or `other`.
    pub kind: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ProviderErrorPage {
    /// Recognises authentik's "Redirect URI Error" / "Client ID Error" pages and
    /// oidc-provider style `invalid_redirect_uri` / `invalid_client` pages and JSON.
    pub fn detect(resp: &ResponseRecord) -> Option<ProviderErrorPage> {
        if !(400..500).contains(&resp.status) {
            return None;
        }
        let text = resp.body.text()?;
        let lower = text.to_ascii_lowercase();
        let (kind, title) = if lower.contains("redirect uri error") {
            ("redirect_uri", "Redirect URI Error")
        } else if lower.contains("client id error") {
            ("client_id", "Client ID Error")
        } else if lower.contains("invalid_redirect_uri") || lower.contains("redirect_uri did not match") {
            ("redirect_uri", "invalid_redirect_uri")
        } else if lower.contains("invalid_client") || lower.contains("client is invalid") {
            ("client_id", "invalid_client")
        } else {
            return None;
        };
        let message = text
            .find("<p>")
            .and_then(|i| text[i + 3..].split("</p>").next())
            .map(|m| html_unescape(m.trim()));
        Some(ProviderErrorPage { kind: kind.into(), title: title.into(), message })
    }
}

/// Who made a request, from its User-Agent: Mastodon's OIDC stack announces itself per hop.
pub fn caller(req: &RequestRecord) -> Option<&'static str> {
    let ua = req.header("user-agent")?;
    Some(if ua.starts_with("SWD") {
        "Mastodon, SWD"
    } else if ua.starts_with("Rack::OAuth2::AccessToken") || ua.starts_with("OpenIDConnect::AccessToken") {
        "Mastodon, userinfo client"
    } else if ua.starts_with("Rack::OAuth2") {
        "Mastodon, rack-oauth2"
    } else if ua.starts_with("OpenIDConnect") {
        "Mastodon, openid_connect"
    } else if ua.starts_with("oidc-tap") {
        "oidc-tap"
    } else if ua.starts_with("Mozilla") {
        "browser"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Header;

    fn fixture(name: &str) -> Value {
        let p = format!("{}/tests/fixtures/authentik/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn body_of(v: &Value) -> CapturedBody {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => serde_json::to_string(other).unwrap(),
        };
        CapturedBody { wire_len: text.len() as u64, bytes: text.into(), ..Default::default() }
    }

    fn headers(v: &Value) -> Vec<Header> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| Header::new(h[0].as_str().unwrap(), h[1].as_str().unwrap()))
            .collect()
    }

    pub(crate) fn req_of(f: &Value) -> RequestRecord {
        let r = &f["request"];
        let url = r["url"].as_str().unwrap();
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or("/".into());
        RequestRecord {
            method: r["method"].as_str().unwrap().into(),
            scheme: "https".into(),
            host: "authentik.company".into(),
            path,
            version: "HTTP/1.1".into(),
            headers: headers(&r["headers"]),
            body: body_of(&r["body"]),
        }
    }

    pub(crate) fn resp_of(f: &Value) -> ResponseRecord {
        let r = &f["response"];
        ResponseRecord {
            status: r["status"].as_u64().unwrap() as u16,
            version: "HTTP/1.1".into(),
            headers: headers(&r["headers"]),
            body: body_of(&r["body"]),
        }
    }

    #[test]
    fn authentik_discovery() {
        let f = fixture("discovery.json");
        let mut p = vec![];
        let d = Discovery::decode(
            "https://authentik.company/application/o/mastodon/.well-known/openid-configuration",
            &resp_of(&f),
            &mut p,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(d.issuer.as_deref(), Some("https://authentik.company/application/o/mastodon/"));
        assert_eq!(d.token_endpoint.as_deref(), Some("https://authentik.company/application/o/token/"));
        assert_eq!(d.jwks_uri.as_deref(), Some("https://authentik.company/application/o/mastodon/jwks/"));
        assert_eq!(d.id_token_signing_alg_values_supported, vec!["RS256"]);
        let hs = Discovery::decode("x", &resp_of(&fixture("discovery-hs256.json")), &mut p);
        assert_eq!(hs.id_token_signing_alg_values_supported, vec!["HS256"]);
    }

    #[test]
    fn authentik_jwks_and_empty_jwks() {
        let mut p = vec![];
        let j = Jwks::decode("u", &resp_of(&fixture("jwks.json")), &mut p);
        assert_eq!(j.keys.len(), 1);
        assert_eq!(j.keys[0].kty.as_deref(), Some("RSA"));
        assert_eq!(j.keys[0].alg.as_deref(), Some("RS256"));
        let e = Jwks::decode("u", &resp_of(&fixture("jwks-empty.json")), &mut p);
        assert!(e.no_keys_member && e.keys.is_empty());
        assert!(p.is_empty());
    }

    #[test]
    fn executor_redirect_and_autosubmit_carry_the_code() {
        let f = fixture("executor-redirect.json");
        let r = AuthorizationResponse::from_executor(&f["response"]["body"]).unwrap();
        assert_eq!(r.via, ResponseVia::Executor);
        assert_eq!(r.redirect_to, "https://mastodon.company/auth/auth/openid_connect/callback");
        assert_eq!(r.code.as_deref().map(str::len), Some(32));
        assert_eq!(r.state.as_deref(), Some("3f1c2a9be47d0c5581a6e2d94b07c3fe"));
        let a =
            AuthorizationResponse::from_executor(&fixture("executor-autosubmit.json")["response"]["body"])
                .unwrap();
        assert_eq!(a.via, ResponseVia::FormPost);
        assert_eq!(a.code.as_deref(), Some("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72"));
    }

    #[test]
    fn silent_authorize_location_and_error_redirects() {
        let f = fixture("authorize-request-silent.json");
        let resp = resp_of(&f);
        let r =
            AuthorizationResponse::from_redirect_url(resp.header("location").unwrap(), ResponseVia::Location)
                .unwrap();
        assert_eq!(r.code.as_deref(), Some("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72"));
        let e = AuthorizationResponse::from_redirect_url(
            "https://m/cb?error=access_denied&error_description=no%20way&state=s",
            ResponseVia::Location,
        )
        .unwrap();
        assert_eq!(e.error.as_deref(), Some("access_denied"));
        assert_eq!(e.error_description.as_deref(), Some("no way"));
        let frag = AuthorizationResponse::from_redirect_url(
            "https://m/cb#id_token=a.b.c&state=s",
            ResponseVia::Location,
        )
        .unwrap();
        assert_eq!(frag.via, ResponseVia::Fragment);
        assert!(
            AuthorizationResponse::from_redirect_url("https://m/other?x=1", ResponseVia::Location).is_none()
        );
        let html = r#"<html><body onload="document.forms[0].submit()"><form method="post" action="https://m/cb"><input type="hidden" name="code" value="c1"/><input type="hidden" name="state" value="s&amp;1"/></form></body></html>"#;
        let fp = AuthorizationResponse::from_form_post_html(html).unwrap();
        assert_eq!((fp.code.as_deref(), fp.state.as_deref()), (Some("c1"), Some("s&1")));
    }

    #[test]
    fn authorize_request_params() {
        let f = fixture("authorize-request.json");
        let a = AuthorizeRequest::from_url(f["request"]["url"].as_str().unwrap());
        assert_eq!(a.endpoint, "https://authentik.company/application/o/authorize/");
        assert_eq!(a.client_id.as_deref(), Some("FAKEmastodonClientID0123456789abcdefghij"));
        assert_eq!(
            a.redirect_uri.as_deref(),
            Some("https://mastodon.company/auth/auth/openid_connect/callback")
        );
        assert_eq!(a.scopes(), vec!["openid", "profile", "email"]);
        assert_eq!(a.nonce.as_deref().map(str::len), Some(32));
    }

    #[test]
    fn token_request_basic_and_post() {
        let mut p = vec![];
        let b = TokenRequest::decode(&req_of(&fixture("token-request-basic.json")), &mut p);
        assert_eq!(b.client_auth.method, "client_secret_basic");
        assert_eq!(b.client_auth.client_id.as_deref(), Some("FAKEmastodonClientID0123456789abcdefghij"));
        assert!(b.client_auth.secret.as_deref().unwrap().starts_with("FAKEsecretDoNotUse"));
        assert_eq!(b.grant_type.as_deref(), Some("authorization_code"));
        assert_eq!(b.scope.as_deref(), Some("openid profile email"));
        let post = TokenRequest::decode(&req_of(&fixture("token-request-post.json")), &mut p);
        assert_eq!(post.client_auth.method, "client_secret_post");
        assert!(p.is_empty(), "{p:?}");
        // Broken Basic header: a problem, not a panic.
        let mut r = req_of(&fixture("token-request-basic.json"));
        r.headers.retain(|h| h.name != "Authorization");
        r.headers.push(Header::new("Authorization", "Basic !!!"));
        TokenRequest::decode(&r, &mut p);
        assert_eq!(p[0].at, "authorization");
    }

    #[test]
    fn token_responses_rs256_hs256_errors_and_garbage() {
        let mut p = vec![];
        let t = TokenResponse::decode(&resp_of(&fixture("token-response.json")), &mut p);
        assert_eq!(t.token_type.as_deref(), Some("Bearer"));
        assert_eq!(t.id_token_decoded.as_ref().unwrap().alg(), Some("RS256"));
        assert_eq!(t.cache_control.as_deref(), Some("no-store"));
        let h = TokenResponse::decode(&resp_of(&fixture("token-response-hs256.json")), &mut p);
        assert_eq!(h.id_token_decoded.as_ref().unwrap().alg(), Some("HS256"));
        assert!(h.id_token_decoded.as_ref().unwrap().kid().is_none());
        let e = TokenResponse::decode(&resp_of(&fixture("token-error-invalid-grant.json")), &mut p);
        assert_eq!(e.error.as_deref(), Some("invalid_grant"));
        assert!(p.is_empty(), "{p:?}");
        let mut garbage = resp_of(&fixture("token-response.json"));
        garbage.body = CapturedBody { bytes: "<html>login</html>".into(), ..Default::default() };
        let g = TokenResponse::decode(&garbage, &mut p);
        assert!(g.not_json);
        assert_eq!(p[0].at, "token_response.body");
    }

    #[test]
    fn userinfo_ok_401_403() {
        let mut p = vec![];
        let f = fixture("userinfo-ok.json");
        let rq = UserinfoRequest::decode(&req_of(&f));
        assert_eq!(rq.token_source, "header");
        let ok = UserinfoResponse::decode(&resp_of(&f), &mut p);
        assert!(ok.claims.unwrap().contains_key("sub"));
        let u401 = UserinfoResponse::decode(&resp_of(&fixture("userinfo-401.json")), &mut p);
        assert_eq!(u401.www_authenticate.unwrap().error.as_deref(), Some("invalid_token"));
        let u403 =
            UserinfoResponse::decode(&resp_of(&fixture("userinfo-403-insufficient-scope.json")), &mut p);
        let w = u403.www_authenticate.unwrap();
        assert_eq!(w.error.as_deref(), Some("insufficient_scope"));
        assert!(w.scheme.is_none());
        assert!(p.is_empty());
        let b =
            WwwAuthenticate::parse(r#"Bearer realm="x", error="invalid_token", error_description="expired""#);
        assert_eq!((b.scheme.as_deref(), b.error.as_deref()), (Some("Bearer"), Some("invalid_token")));
    }

    #[test]
    fn provider_error_pages() {
        let r = ProviderErrorPage::detect(&resp_of(&fixture("authorize-error-redirect-uri.json"))).unwrap();
        assert_eq!(r.kind, "redirect_uri");
        assert!(r.message.unwrap().contains("mismatching redirection URI"));
        let c = ProviderErrorPage::detect(&resp_of(&fixture("authorize-error-client-id.json"))).unwrap();
        assert_eq!(c.kind, "client_id");
    }
}
