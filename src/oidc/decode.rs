//! Exchange → [`Decoded`]: classify, then run the decoders that fit. Pure; every malformed
//! input ends up in `problems`.

use serde::Serialize;
use serde_json::Value;

use super::caller::{Caller, caller};
use super::classify::{
    EndpointBook, ExchangeKind, classify_request, is_flow_executor, is_provider_flow, normalize_host,
};
use super::flow::BrowserKey;
use super::messages::*;
use super::url::{path_of, split_url};
use crate::capture::{Exchange, GatewayAnswer, HeaderLookup};

/// What the relying party (Mastodon) did with the login, as far as the wire shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RpOutcome {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_to: Option<String>,
    /// Mastodon sent the browser back to sign-in (or omniauth's failure endpoint).
    pub failed: bool,
    /// omniauth's `message` key, when the failure endpoint carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why part of an exchange cannot be judged: the provider is never blamed for these.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Unreadable {
    /// The gateway answered itself (the upstream could not be reached); `error` names the flag.
    GatewayAnswered { error: String },
    /// The client hung up before its request was complete.
    ClientHungUp { received: u64 },
    /// Plain HTTP arrived on the gateway's HTTPS port: the client was given an http:// URL.
    PlainHttpOnTlsPort,
    /// The capture kept only the start of a body (`--capture-limit`).
    Truncated { side: Side, captured: usize, wire: u64 },
    /// A body ended before its end (the peer went away mid-body).
    CutShort { side: Side, captured: usize },
    /// Only a summary was kept: when the request arrived the gateway did not take it for a
    /// login step (a path discovery named only later), so its bodies were not copied.
    NotKept,
    /// Kept from its response head on (the answer showed a login step), so the request body
    /// that had already passed was not copied; the response is whole.
    RequestBodyNotKept { wire: u64 },
}

impl Unreadable {
    /// Whether the request and the response can still be read (a head-only answer of the
    /// gateway, a hang-up or a summary spoil both; a cut body only its own side).
    pub fn readable_sides(&self) -> (bool, bool) {
        match self {
            Unreadable::GatewayAnswered { .. }
            | Unreadable::ClientHungUp { .. }
            | Unreadable::PlainHttpOnTlsPort
            | Unreadable::NotKept => (false, false),
            Unreadable::Truncated { side: Side::Request, .. }
            | Unreadable::CutShort { side: Side::Request, .. }
            | Unreadable::RequestBodyNotKept { .. } => (false, true),
            Unreadable::Truncated { .. } | Unreadable::CutShort { .. } => (true, false),
        }
    }

    /// Whether the response cannot be read whole.
    pub fn spoils_response(&self) -> bool {
        !self.readable_sides().1
    }
}

/// Which body.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Request,
    Response,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |s: &Side| match s {
            Side::Request => "request",
            Side::Response => "response",
        };
        match self {
            Unreadable::GatewayAnswered { error } => write!(f, "the gateway answered itself: {error}"),
            Unreadable::PlainHttpOnTlsPort => {
                f.write_str("plain HTTP arrived on the gateway's HTTPS port (the client used an http:// URL)")
            }
            Unreadable::ClientHungUp { received } => {
                write!(f, "the client hung up after {received} bytes of its request, before it was complete")
            }
            Unreadable::Truncated { side: s, captured, wire } => {
                write!(f, "{} body truncated at {captured} of {wire} bytes (raise --capture-limit)", side(s))
            }
            Unreadable::CutShort { side: s, captured } => {
                write!(f, "the {} body ended early, after {captured} bytes", side(s))
            }
            Unreadable::NotKept => f.write_str(
                "only a summary was kept: the gateway did not know this path was a login step when the request arrived",
            ),
            Unreadable::RequestBodyNotKept { wire } => write!(
                f,
                "the request body ({wire} bytes) was not kept: only its answer showed this was a login step"
            ),
        }
    }
}

/// What of an exchange can be read: `None` when all of it can.
fn unreadable(ex: &Exchange) -> Option<Unreadable> {
    let b = &ex.request.body;
    // First: a client that went away explains whatever the gateway answered after it.
    match ex.gateway_answer {
        Some(GatewayAnswer::ClientHungUp) => return Some(Unreadable::ClientHungUp { received: b.wire_len }),
        Some(GatewayAnswer::UpstreamFailed) => {
            return Some(Unreadable::GatewayAnswered { error: ex.error.clone().unwrap_or_default() });
        }
        Some(GatewayAnswer::PlainHttpOnTlsPort) => return Some(Unreadable::PlainHttpOnTlsPort),
        None => {}
    }
    if ex.summary {
        return Some(Unreadable::NotKept);
    }
    if ex.kept_at_answer && b.wire_len > 0 {
        return Some(Unreadable::RequestBodyNotKept { wire: b.wire_len });
    }
    if b.truncated {
        return Some(Unreadable::Truncated {
            side: Side::Request,
            captured: b.bytes.len(),
            wire: b.wire_len,
        });
    }
    if b.incomplete {
        return Some(Unreadable::CutShort { side: Side::Request, captured: b.bytes.len() });
    }
    let b = &ex.response.as_ref()?.body;
    if b.truncated {
        return Some(Unreadable::Truncated {
            side: Side::Response,
            captured: b.bytes.len(),
            wire: b.wire_len,
        });
    }
    if b.incomplete {
        return Some(Unreadable::CutShort { side: Side::Response, captured: b.bytes.len() });
    }
    None
}

impl Decoded {
    /// The redirect_uri this exchange carries (authorize request, the one a provider step
    /// resumes, or the token request): which application's login it is.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.authorize
            .as_ref()
            .or(self.resumes.as_ref())
            .and_then(|a| a.redirect_uri.as_deref())
            .or_else(|| self.token_request.as_ref().and_then(|t| t.redirect_uri.as_deref()))
    }
}

/// Everything decoded from one exchange.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decoded {
    pub kind: ExchangeKind,
    /// Full request URL as the client addressed it.
    pub url: String,
    /// Normalised host (default port dropped) used for endpoint matching.
    #[serde(skip)]
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<Caller>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Jwks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorize: Option<AuthorizeRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_response: Option<AuthorizationResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<ProviderErrorPage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_request: Option<TokenRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_response: Option<TokenResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_request: Option<UserinfoRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_response: Option<UserinfoResponse>,
    /// Parameters of end-session / introspection / revocation requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp: Option<RpOutcome>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// What could not be judged and why (a cut or truncated body, the gateway's own answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<Unreadable>,
    /// The authorize request a provider-flow step resumes (authentik's executor carries it in
    /// `query`, its flow pages in their own query): the provider's interaction identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumes: Option<AuthorizeRequest>,
    /// The stage the provider's flow executor presented (`identification`, `password`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_stage: Option<String>,
    /// Who the browser is, as fingerprints (never the cookie values themselves).
    #[serde(skip)]
    pub browser: Vec<BrowserKey>,
    /// A page of a provider's own (a host discovery named) kept whole during a login: its
    /// login form, a resume hop without the code yet. Joined to the login by the browser.
    #[serde(skip)]
    pub provider_page: bool,
}

/// Session cookies and address + User-Agent of the request (and session cookies the response
/// sets), as fingerprints.
fn browser_keys(ex: &Exchange) -> Vec<BrowserKey> {
    let mut keys = vec![];
    let mut cookie = |name: &str, value: &str| {
        let fp = crate::redact::fp_of(value);
        match name.trim() {
            "authentik_session" => keys.push(BrowserKey::AuthentikSession(fp)),
            "_mastodon_session" => keys.push(BrowserKey::MastodonSession(fp)),
            _ => {}
        }
    };
    for h in ex.request.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("cookie")) {
        for pair in h.value.split(';') {
            if let Some((n, v)) = pair.split_once('=') {
                cookie(n, v.trim());
            }
        }
    }
    for h in ex.response.iter().flat_map(|r| &r.headers).filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
    {
        if let Some((n, v)) = h.value.split(';').next().and_then(|p| p.split_once('=')) {
            cookie(n, v.trim());
        }
    }
    if let Some(ua) = ex.request.header("user-agent") {
        let ip = ex.client_addr.rsplit_once(':').map(|(ip, _)| ip).unwrap_or(&ex.client_addr);
        keys.push(BrowserKey::AddressAndAgent(crate::redact::fingerprint(&format!("{ip} {ua}"))));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// `ak-stage-identification` → `identification`; `xak-flow-redirect` → `redirect`.
fn stage_name(component: &str) -> String {
    let c = component.trim_start_matches("xak-").trim_start_matches("ak-").trim_start_matches("stage-");
    crate::text::truncate(c, 40)
}

/// The authorize request a flow page or executor call belongs to.
fn resumed_authorize(path: &str) -> Option<AuthorizeRequest> {
    let query = split_url(path).query?;
    let original = if is_flow_executor(path) {
        parse_pairs(&query).into_iter().find(|(k, _)| k == "query").map(|(_, v)| v)?
    } else {
        query
    };
    let a = AuthorizeRequest::from_url(&format!("/?{original}"));
    (a.state.is_some() || a.client_id.is_some()).then_some(a)
}

/// `/auth/sign_in` or omniauth's failure endpoint: Mastodon gave up on the login.
fn rp_outcome(location: Option<&str>) -> Option<RpOutcome> {
    let loc = location?;
    let query = split_url(loc).query;
    let path = path_of(loc);
    let failed =
        path.trim_end_matches('/') == "/auth/sign_in" || path.contains("/auth/auth/openid_connect/failure");
    let message =
        query.and_then(|q| parse_pairs(&q).into_iter().find(|(k, _)| k == "message").map(|(_, v)| v));
    Some(RpOutcome { redirect_to: Some(loc.to_owned()), failed, message })
}

/// Decodes one exchange against what is known about the provider's endpoints.
/// Whether an exchange is other traffic that needs no decoding: a summary record (no bodies
/// kept) of a request that is still no login step, which the gateway did not answer itself.
/// A lookup, so non-login traffic costs analysis almost nothing.
pub fn is_plain_other(book: &EndpointBook, ex: &Exchange) -> bool {
    let req = &ex.request;
    ex.summary
        && ex.gateway_answer.is_none()
        && ex.error.is_none()
        && !ex
            .response
            .as_ref()
            .and_then(|r| r.header("location"))
            .is_some_and(super::interest::carries_authorization_response)
        && classify_request(book, &req.method, &normalize_host(&req.host, &req.scheme), &req.path)
            == ExchangeKind::Other
}

/// The decoded form of plain other traffic: its kind, URL and caller, nothing read.
pub fn undecoded_other(ex: &Exchange) -> Decoded {
    let req = &ex.request;
    Decoded {
        kind: ExchangeKind::Other,
        url: format!("{}://{}{}", req.scheme, req.host, req.path),
        host: normalize_host(&req.host, &req.scheme),
        caller: caller(req),
        discovery: None,
        jwks: None,
        authorize: None,
        authorization_response: None,
        provider_error: None,
        token_request: None,
        token_response: None,
        userinfo_request: None,
        userinfo_response: None,
        params: vec![],
        rp: None,
        problems: vec![],
        unreadable: None,
        resumes: None,
        flow_stage: None,
        browser: Default::default(),
        provider_page: false,
    }
}

pub fn decode_exchange(book: &EndpointBook, ex: &Exchange) -> Decoded {
    let req = &ex.request;
    let host = normalize_host(&req.host, &req.scheme);
    let url = format!("{}://{}{}", req.scheme, req.host, req.path);
    let kind = classify_request(book, &req.method, &host, &req.path);
    let mut d =
        Decoded { kind, unreadable: unreadable(ex), browser: browser_keys(ex), ..undecoded_other(ex) };
    // A body that is not whole is not decoded: a half JSON document is not the provider's.
    let (req_ok, resp_ok) = d.unreadable.as_ref().map_or((true, true), Unreadable::readable_sides);
    // The response head (status, Location) is whole unless the gateway made it up.
    let head = ex.response.as_ref().filter(|_| ex.gateway_answer.is_none());
    let resp = head.filter(|_| resp_ok);
    let location = head.and_then(|r| r.header("location"));
    let url_no_query = split_url(&url).base;
    match kind {
        ExchangeKind::Discovery => {
            if let Some(r) = resp {
                d.discovery = Some(Discovery::decode(&url_no_query, r, &mut d.problems));
            }
        }
        ExchangeKind::Jwks => {
            if let Some(r) = resp {
                d.jwks = Some(Jwks::decode(&url_no_query, r, &mut d.problems));
            }
        }
        ExchangeKind::Authorize if req.method == "POST" && !req_ok => {}
        ExchangeKind::Authorize => {
            let a = if req.method == "POST" {
                AuthorizeRequest::from_url(&format!("{url_no_query}?{}", req.body.text().unwrap_or("")))
            } else {
                AuthorizeRequest::from_url(&url)
            };
            d.authorize = Some(a);
            if let Some(r) = resp {
                d.provider_error = ProviderErrorPage::detect(r);
            }
            let ar = location
                .and_then(|l| AuthorizationResponse::from_redirect_url(l, ResponseVia::Location))
                .or_else(|| {
                    resp.and_then(|r| r.body.text()).and_then(AuthorizationResponse::from_form_post_html)
                });
            if let Some(ar) = ar {
                d.authorization_response = Some(ar);
                d.kind = ExchangeKind::AuthorizeResponse;
            }
        }
        ExchangeKind::Token => {
            if req_ok {
                d.token_request = Some(TokenRequest::decode(req, &mut d.problems));
            }
            if let Some(r) = resp {
                d.token_response = Some(TokenResponse::decode(r, &mut d.problems));
            }
        }
        ExchangeKind::Userinfo => {
            d.userinfo_request = Some(UserinfoRequest::decode(req));
            if let Some(r) = resp {
                d.userinfo_response = Some(UserinfoResponse::decode(r, &mut d.problems));
            }
        }
        ExchangeKind::EndSession | ExchangeKind::Introspection | ExchangeKind::Revocation => {
            d.params = parse_pairs(&split_url(&req.path).query.unwrap_or_default());
            if req.method == "POST" && req_ok {
                d.params.extend(parse_pairs(req.body.text().unwrap_or("")));
            }
        }
        ExchangeKind::RpLogin => {
            if req.method != "POST" {
                d.problems.push(Problem::new(ProblemAt::RpLoginMethod,
                    format!("{} on the OmniAuth request path: OmniAuth 2 only accepts POST (404 \"Authentication passthru\")", req.method),
                ));
            }
            match location {
                Some(l) if l.contains("client_id=") => d.authorize = Some(AuthorizeRequest::from_url(l)),
                _ => d.rp = rp_outcome(location),
            }
        }
        ExchangeKind::RpCallback => {
            let mut source = url.clone();
            if req.method == "POST" && req_ok {
                source = format!("{url_no_query}?{}", req.body.text().unwrap_or(""));
            }
            d.authorization_response =
                AuthorizationResponse::from_redirect_url(&source, ResponseVia::Callback);
            d.rp = rp_outcome(location);
        }
        ExchangeKind::RpFailure => {
            d.rp = rp_outcome(Some(&url)).map(|mut o| {
                o.failed = true;
                o
            });
        }
        ExchangeKind::AuthorizeResponse | ExchangeKind::ProviderFlow | ExchangeKind::Other => {
            // The code may travel in authentik's flow-executor JSON, an auto-submit page, or a
            // Location header of some intermediate hop.
            let from_executor = || {
                if !is_flow_executor(&req.path) {
                    return None;
                }
                let v: Value = serde_json::from_str(resp?.body.text()?).ok()?;
                AuthorizationResponse::from_executor(&v)
            };
            let from_location = || {
                let ar = AuthorizationResponse::from_redirect_url(location?, ResponseVia::Location)?;
                ar.state.is_some().then_some(ar)
            };
            let from_html = || {
                let r = resp?;
                if !r.header("content-type").unwrap_or("").contains("html") {
                    return None;
                }
                AuthorizationResponse::from_form_post_html(r.body.text()?)
            };
            if is_provider_flow(&req.path) {
                d.resumes = resumed_authorize(&req.path);
                d.flow_stage = resp
                    .and_then(|r| serde_json::from_str::<Value>(r.body.text()?).ok())
                    .and_then(|v| v.get("component").and_then(Value::as_str).map(stage_name));
            }
            if let Some(ar) = from_executor().or_else(from_location).or_else(from_html) {
                d.kind = ExchangeKind::AuthorizeResponse;
                d.authorization_response = Some(ar);
            } else if is_provider_flow(&req.path) {
                d.kind = ExchangeKind::ProviderFlow;
            } else {
                d.provider_page = !ex.summary && book.knows_host(&host);
            }
        }
    }
    d
}
