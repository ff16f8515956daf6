//! One login attempt as the wire showed it so far: the messages of each step, the correlation
//! keys (as fingerprints), how far it got and how it ended. Written by the correlator
//! (`analysis::correlate`), read by the rules; data only.

use serde::Serialize;

use super::ExchangeKind;
use super::decode::RpOutcome;
use super::jwt::DecodedJwt;
use super::messages::{
    AuthorizationResponse, AuthorizeRequest, Discovery, TokenRequest, TokenResponse, UserinfoResponse,
};

/// How far a login got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Discovery fetched, no authorize request yet.
    Discovered,
    Authorizing,
    CodeIssued,
    TokenIssued,
    /// Userinfo answered: the provider side of the login succeeded.
    Complete,
    Failed,
}

impl Stage {
    /// The journal's and the console's name (`code_issued`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Discovered => "discovered",
            Stage::Authorizing => "authorizing",
            Stage::CodeIssued => "code_issued",
            Stage::TokenIssued => "token_issued",
            Stage::Complete => "complete",
            Stage::Failed => "failed",
        }
    }
}

/// How a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Userinfo answered (or Mastodon's callback succeeded when the gateway fronts it).
    Complete,
    /// An exchange of the login failed.
    Failed,
    /// Discovery was fetched, then nothing: Mastodon gave up before redirecting.
    Abandoned,
    /// The login stopped half-way.
    Incomplete,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
            Outcome::Incomplete => "incomplete",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One exchange of a flow.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    pub exchange: u64,
    pub kind: ExchangeKind,
    pub ts: u64,
}

/// A message of the flow and the exchange it came in.
#[derive(Debug, Clone)]
pub struct Seen<T> {
    pub exchange: u64,
    pub ts: u64,
    pub value: T,
}

impl<T> Seen<T> {
    pub(crate) fn at(exchange: u64, ts: u64, value: T) -> Seen<T> {
        Seen { exchange, ts, value }
    }
}

/// One login attempt.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: u64,
    pub stage: Stage,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub started_ms: u64,
    pub last_ms: u64,
    pub steps: Vec<Step>,
    /// Steps not kept because of the per-flow cap.
    pub steps_dropped: usize,
    pub state_fp: Option<String>,
    pub code_fp: Option<String>,
    pub access_token_fp: Option<String>,
    pub nonce: Option<String>,
    pub discovery: Option<Seen<Discovery>>,
    pub authorize: Option<Seen<AuthorizeRequest>>,
    pub auth_response: Option<Seen<AuthorizationResponse>>,
    pub token_request: Option<Seen<TokenRequest>>,
    pub token_response: Option<Seen<TokenResponse>>,
    /// How many token requests redeemed this flow's code.
    pub code_redemptions: u32,
    pub id_token: Option<Seen<DecodedJwt>>,
    pub jwks_seen: bool,
    pub userinfo: Option<Seen<UserinfoResponse>>,
    pub rp: Option<Seen<RpOutcome>>,
    /// Set once the flow ended.
    pub outcome: Option<Outcome>,
    /// The gateway also fronts Mastodon: the flow completes with Mastodon's callback answer.
    pub rp_fronted: bool,
    pub rp_callback_seen: bool,
    /// Who the browser is (session cookies, address + User-Agent), as fingerprints: the
    /// fallback join when a correlation value was tampered with.
    pub browsers: Vec<BrowserKey>,
    /// The browser's steps through the provider's login flow (authentik's flow executor).
    pub provider_leg: Option<ProviderLeg>,
    /// A newer login of the same browser that replaced this one.
    pub superseded_by: Option<u64>,
    /// The relying-party profile this login reads in (`rp::recognise` of its redirect_uri, or
    /// `--rp`), once known.
    pub app: Option<&'static str>,
}

/// One way of recognising a browser, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BrowserKey {
    /// authentik's `authentik_session` cookie.
    AuthentikSession(String),
    /// Mastodon's `_mastodon_session` cookie.
    MastodonSession(String),
    /// Client address (without port) and User-Agent: weak, shared by users behind one NAT.
    AddressAndAgent(String),
}

impl BrowserKey {
    /// Keys that identify one browser session (cookies), unlike an address shared by many.
    pub fn is_session(&self) -> bool {
        !matches!(self, BrowserKey::AddressAndAgent(_))
    }
}

/// The browser's path through the provider's flow between authorize and code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderLeg {
    pub first_ms: u64,
    pub last_ms: u64,
    /// Flow pages and executor calls seen.
    pub calls: u32,
    /// Stages the executor presented, in order, without repeats (`identification`, ...).
    pub stages: Vec<String>,
}

impl ProviderLeg {
    /// `identification → password → consent · 3 calls · 4.2 s`.
    pub fn summary(&self) -> String {
        let stages =
            if self.stages.is_empty() { "no stage seen".to_owned() } else { self.stages.join(" → ") };
        format!(
            "{stages} · {} call{} · {:.1} s",
            self.calls,
            if self.calls == 1 { "" } else { "s" },
            self.last_ms.saturating_sub(self.first_ms) as f64 / 1000.0
        )
    }
}

impl Flow {
    pub(crate) fn new(id: u64, ts: u64) -> Flow {
        Flow {
            id,
            stage: Stage::Discovered,
            issuer: None,
            client_id: None,
            started_ms: ts,
            last_ms: ts,
            steps: vec![],
            steps_dropped: 0,
            state_fp: None,
            code_fp: None,
            access_token_fp: None,
            nonce: None,
            discovery: None,
            authorize: None,
            auth_response: None,
            token_request: None,
            token_response: None,
            code_redemptions: 0,
            id_token: None,
            jwks_seen: false,
            userinfo: None,
            rp: None,
            outcome: None,
            rp_fronted: false,
            rp_callback_seen: false,
            browsers: vec![],
            provider_leg: None,
            superseded_by: None,
            app: None,
        }
    }

    /// The gateway fronts the relying party too and sent the browser back to it: the login
    /// ends with the callback's answer, not before.
    pub fn awaiting_callback(&self) -> bool {
        self.rp_fronted && !self.rp_callback_seen && self.auth_response.is_some()
    }

    pub fn exchange_ids(&self) -> Vec<u64> {
        self.steps.iter().map(|s| s.exchange).collect()
    }
}

/// Which key joined an exchange to its flow (the journal's `joined_by`), strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinedBy {
    /// The exchange opened the flow.
    Opened,
    State,
    Code,
    AccessToken,
    /// The authorize request the provider's flow resumes (authentik's executor `query`).
    ProviderInteraction,
    /// The nonce of a login's request phase (an authorize request without state).
    Nonce,
    /// authentik's session cookie.
    AuthentikSession,
    /// Mastodon's session cookie.
    MastodonSession,
    /// Client address and User-Agent.
    ClientAddress,
    /// client_id and redirect_uri of the one login waiting for this step, within 10 minutes.
    ClientRedirect,
    /// The issuer and the step the login is at (discovery, JWKS): per provider, not per user.
    Issuer,
}

impl JoinedBy {
    pub const fn as_str(self) -> &'static str {
        match self {
            JoinedBy::Opened => "opened",
            JoinedBy::State => "state",
            JoinedBy::Code => "code",
            JoinedBy::AccessToken => "access_token",
            JoinedBy::ProviderInteraction => "provider_interaction",
            JoinedBy::Nonce => "nonce",
            JoinedBy::AuthentikSession => "authentik_session",
            JoinedBy::MastodonSession => "mastodon_session",
            JoinedBy::ClientAddress => "client_address",
            JoinedBy::ClientRedirect => "client_redirect",
            JoinedBy::Issuer => "issuer",
        }
    }

    /// A join by something other than the login's own correlation values.
    pub fn is_fallback(self) -> bool {
        matches!(
            self,
            JoinedBy::AuthentikSession
                | JoinedBy::MastodonSession
                | JoinedBy::ClientAddress
                | JoinedBy::ClientRedirect
        )
    }
}
