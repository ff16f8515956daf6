//! The analysis core: exchanges in, decoded messages + flow events + findings out. No I/O and
//! no clock reads: an exchange's own end time is "now" for everything it triggers, so the live
//! proxy, an offline replay of its trace and the tests get identical results.

pub mod flow;

use serde::Serialize;

use crate::capture::Exchange;
use crate::oidc::{Decoded, EndpointBook, ExchangeKind, decode_exchange};
use flow::{Flow, FlowLimits, FlowTracker};

/// Settings of the core.
#[derive(Debug, Clone, Default)]
pub struct AnalyzerConfig {
    pub limits: FlowLimits,
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
    pub exchange: Exchange,
}

/// A flow starting or ending.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowEvent {
    pub flow: u64,
    /// `opened` or `closed`.
    pub event: &'static str,
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub exchanges: Vec<u64>,
}

impl FlowEvent {
    fn of(f: &Flow, event: &'static str, ts: u64) -> FlowEvent {
        FlowEvent {
            flow: f.id,
            event,
            ts,
            outcome: f.outcome,
            issuer: f.issuer.clone(),
            client_id: f.client_id.clone(),
            exchanges: f.exchange_ids(),
        }
    }
}

/// What the core reports, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    Exchange(Box<ExchangeEvent>),
    Flow(FlowEvent),
}

/// Owns everything learned so far: endpoints per issuer and the live flows.
pub struct Analyzer {
    book: EndpointBook,
    flows: FlowTracker,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Analyzer {
        Analyzer { book: EndpointBook::default(), flows: FlowTracker::new(cfg.limits) }
    }

    pub fn flows(&self) -> &FlowTracker {
        &self.flows
    }

    pub fn endpoints(&self) -> &EndpointBook {
        &self.book
    }

    /// Analyses one finished exchange.
    pub fn ingest(&mut self, ex: &Exchange) -> Vec<Event> {
        let now = ex.started_ms + ex.total_ms;
        let mut out = self.tick(now);
        let d = decode_exchange(&self.book, ex);
        if let Some(disc) = &d.discovery
            && disc.valid_json
        {
            self.book.learn(disc);
        }
        let issuer = self.issuer_of(&d);
        let a = self.flows.assign(&d, issuer.as_deref(), now);
        if a.opened
            && let Some(f) = a.flow.and_then(|id| self.flows.get(id))
        {
            out.push(Event::Flow(FlowEvent::of(f, "opened", now)));
        }
        let closed = a.flow.and_then(|id| self.flows.record(id, &d, ex.id, now, issuer.as_deref()));
        out.push(Event::Exchange(Box::new(ExchangeEvent {
            id: ex.id,
            ts: now,
            flow: a.flow,
            kind: d.kind,
            decoded: d,
            exchange: ex.clone(),
        })));
        if closed.is_some()
            && let Some(f) = a.flow.and_then(|id| self.flows.get(id))
        {
            out.push(Event::Flow(FlowEvent::of(f, "closed", now)));
        }
        out
    }

    /// Advances the clock: flows gone quiet are declared abandoned or expired.
    pub fn tick(&mut self, now: u64) -> Vec<Event> {
        let mut out = vec![];
        for id in self.flows.abandoned(now) {
            if let Some(f) = self.flows.get(id) {
                out.push(Event::Flow(FlowEvent::of(f, "closed", now)));
            }
        }
        for (f, was_open) in self.flows.expire(now) {
            if was_open {
                out.push(Event::Flow(FlowEvent::of(&f, "closed", now)));
            }
        }
        out
    }

    /// Ends the analysis (end of trace or shutdown): every open flow is closed.
    pub fn finish(&mut self, now: u64) -> Vec<Event> {
        let mut out = self.tick(now);
        for (f, was_open) in self.flows.drain() {
            if was_open {
                out.push(Event::Flow(FlowEvent::of(&f, "closed", now)));
            }
        }
        out
    }

    /// The issuer an exchange's endpoint belongs to.
    fn issuer_of(&self, d: &Decoded) -> Option<String> {
        if let Some(iss) = d.discovery.as_ref().and_then(|x| x.issuer.clone()) {
            return Some(iss);
        }
        let (_, path) = crate::oidc::classify::host_path(&d.url)?;
        if let Some((_, iss)) = self.book.lookup(&d.host, &path) {
            return Some(iss.to_owned());
        }
        if let Some(a) = &d.authorize
            && let Some((h, p)) = crate::oidc::classify::host_path(&a.endpoint)
            && let Some((_, iss)) = self.book.lookup(&h, &p)
        {
            return Some(iss.to_owned());
        }
        match d.kind {
            ExchangeKind::RpLogin
            | ExchangeKind::RpCallback
            | ExchangeKind::RpFailure
            | ExchangeKind::Other => None,
            _ => self.book.issuer_for_host(&d.host).map(str::to_owned),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::capture::{CapturedBody, Header, RequestRecord, ResponseRecord};

    /// A minimal exchange for core tests.
    pub(crate) fn exchange(method: &str, path: &str, status: u16, body: &str) -> Exchange {
        Exchange {
            id: 1,
            conn: 1,
            client_addr: "127.0.0.1:1".into(),
            tls: true,
            sni: None,
            upstream: "https://a".into(),
            started_ms: 1000,
            response_ms: Some(1),
            total_ms: 1,
            request: RequestRecord {
                method: method.into(),
                scheme: "https".into(),
                host: "a".into(),
                path: path.into(),
                version: "HTTP/1.1".into(),
                headers: vec![],
                body: CapturedBody::default(),
            },
            response: Some(ResponseRecord {
                status,
                version: "HTTP/1.1".into(),
                headers: vec![Header::new("content-type", "application/json")],
                body: CapturedBody {
                    bytes: body.to_owned().into(),
                    wire_len: body.len() as u64,
                    ..Default::default()
                },
            }),
            error: None,
            upgraded: false,
        }
    }

    #[test]
    fn malformed_bodies_become_problems_not_panics() {
        let mut a = Analyzer::new(AnalyzerConfig::default());
        for (path, body) in [
            ("/application/o/x/.well-known/openid-configuration", "{not json"),
            ("/application/o/x/jwks/", "[1,2]"),
            ("/application/o/token/", "<html>"),
            ("/application/o/userinfo/", "\u{0}"),
        ] {
            let ev = a.ingest(&exchange("GET", path, 200, body));
            let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
            assert!(!x.decoded.problems.is_empty(), "{path}: {:?}", x.decoded);
        }
        // A token response whose id_token is garbage.
        let ev = a.ingest(&exchange(
            "POST",
            "/application/o/token/",
            200,
            r#"{"access_token":"a","token_type":"Bearer","id_token":"x.y"}"#,
        ));
        let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
        assert_eq!(x.decoded.problems[0].at, "id_token");
    }
}
