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
        }
    }

    pub fn exchange_ids(&self) -> Vec<u64> {
        self.steps.iter().map(|s| s.exchange).collect()
    }
}
