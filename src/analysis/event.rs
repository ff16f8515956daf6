//! What the core hands out: decoded exchanges, flow events and findings, as the console,
//! journal, HAR, web view and telemetry read them.

use serde::Serialize;

use crate::capture::Exchange;
use crate::oidc::flow::{Flow, JoinedBy, Outcome};
use crate::oidc::{Decoded, ExchangeKind};
use crate::rules::Finding;
use crate::rules::passed::Check;

/// What the live run concluded about one exchange, as a trace carries it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveVerdict {
    /// Checks that passed live (`signature ✓ RS256 kid …`).
    pub passed: Vec<String>,
    /// Live findings about the exchange, as JSON lines.
    pub findings: Vec<serde_json::Value>,
}

/// A decoded exchange, tagged with its flow.
#[derive(Debug, Clone)]
pub struct ExchangeEvent {
    pub id: u64,
    /// Unix ms when the exchange ended (the core's notion of "now" for it).
    pub ts: u64,
    pub flow: Option<u64>,
    pub kind: ExchangeKind,
    pub decoded: Decoded,
    /// Checks that passed on this exchange ("state ✓", "signature ✓ …"): they rule causes out.
    pub passed: Vec<Check>,
    /// Which key joined the exchange to its flow.
    pub joined_by: Option<JoinedBy>,
    /// The browser's steps through the provider's flow so far (shown under the code).
    pub provider_leg: Option<crate::oidc::flow::ProviderLeg>,
    /// The application whose login this is, when not the default (its name replaces
    /// Mastodon's in who made a request: GitLab runs the same omniauth stack).
    pub app: Option<&'static str>,
    pub exchange: Exchange,
}

/// Whether a flow event opens or closes the flow.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlowEventKind {
    Opened,
    Closed,
}

/// A flow starting or ending.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowEvent {
    pub flow: u64,
    pub event: FlowEventKind,
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub exchanges: Vec<u64>,
    /// The relying party's profile when it is not the default (Mastodon's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp: Option<&'static str>,
    /// Exchanges joined to the flow but not listed (per-flow cap).
    #[serde(skip_serializing_if = "is_zero")]
    pub exchanges_not_listed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl FlowEvent {
    pub(super) fn of(f: &Flow, event: FlowEventKind, ts: u64) -> FlowEvent {
        FlowEvent {
            flow: f.id,
            event,
            ts,
            outcome: f.outcome,
            issuer: f.issuer.clone(),
            client_id: f.client_id.clone(),
            exchanges: f.exchange_ids(),
            rp: f.app.filter(|a| *a != crate::rp::default().name),
            exchanges_not_listed: f.steps_dropped,
        }
    }
}

/// What the core reports, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    Exchange(Box<ExchangeEvent>),
    Flow(FlowEvent),
    Finding(Box<Finding>),
}
