//! Each login as one OpenTelemetry trace (`--otlp URL`): a span per flow, a child span per
//! exchange, each finding a span event, built from the analysis' events after redaction (the
//! journal's view: redacted URLs, findings as printed) and sent over OTLP/HTTP in protobuf with
//! the wire types of `opentelemetry-proto`. A login is finished data when it is sent, so the
//! spans are written as what happened (their real start and end), not instrumented live.
//!
//! The trace id is an HMAC, with the deployment's fleet key (`--fleet-key FILE`), of the
//! login's correlation key: its code (the one value both halves of a login share: the
//! authorize half ends with it, the token half starts with it), else its state. Two gateways
//! behind one load balancer that each see half of a login put their spans in one trace; the
//! key never leaves the process, so the id tells nobody the code.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};

use crate::analysis::{Event, ExchangeEvent, FlowEvent, FlowEventKind};
use crate::redact::{fp_of, redact_url};
use crate::rules::{Finding, Severity};

/// Why a fleet key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetKeyError {
    #[error("--fleet-key {0}: cannot read: {1}")]
    Read(String, std::io::Error),
    #[error(
        "--fleet-key {0}: {1} bytes; a fleet key needs at least 16 (e.g. `head -c 32 /dev/urandom > fleet.key`)"
    )]
    Short(String, usize),
}

/// The key every gateway of a deployment shares for trace ids.
pub struct FleetKey(ring::hmac::Key);

impl FleetKey {
    pub fn from_bytes(b: &[u8]) -> FleetKey {
        FleetKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b))
    }

    /// The file's bytes (surrounding whitespace trimmed).
    pub fn load(path: &std::path::Path) -> Result<FleetKey, FleetKeyError> {
        let shown = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| FleetKeyError::Read(shown.clone(), e))?;
        let b = raw.trim_ascii();
        if b.len() < 16 {
            return Err(FleetKeyError::Short(shown, b.len()));
        }
        Ok(FleetKey::from_bytes(b))
    }

    /// A key for this process alone (no --fleet-key): traces of one gateway still hold
    /// together, two gateways' halves do not.
    pub fn random() -> FleetKey {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &now_ns().to_le_bytes()));
        FleetKey(key)
    }

    fn id(&self, what: &str, n: usize) -> Vec<u8> {
        ring::hmac::sign(&self.0, what.as_bytes()).as_ref()[..n].to_vec()
    }
}

fn now_ns() -> u64 {
    crate::clock::now_ms() * 1_000_000
}

/// What a span keeps of one exchange (not its bodies: a login waits here until it closes).
struct Step {
    id: u64,
    kind: crate::oidc::ExchangeKind,
    method: String,
    /// Redacted when taken.
    url: String,
    host: String,
    status: Option<u16>,
    started_ms: u64,
    total_ms: u64,
    response_ms: Option<u64>,
    error: Option<String>,
}

impl Step {
    fn of(x: &ExchangeEvent) -> Step {
        let e = &x.exchange;
        Step {
            id: x.id,
            kind: x.kind,
            method: e.request.method.clone(),
            url: crate::text::truncate(&redact_url(&x.decoded.url), 2048),
            host: x.decoded.host.clone(),
            status: e.response.as_ref().map(|r| r.status),
            started_ms: e.started_ms,
            total_ms: e.total_ms,
            response_ms: e.response_ms,
            error: e.error.clone(),
        }
    }
}

/// One login's spans, gathered until it closes.
#[derive(Default)]
struct Pending {
    exchanges: Vec<Step>,
    findings: Vec<Finding>,
    /// Exchanges and findings past the caps (a login replayed thousands of times).
    not_listed: u64,
    /// The correlation keys seen (`code:<fp>`, `state:<value>`).
    code: Option<String>,
    state: Option<String>,
}

/// Logins kept open at once, and exchanges and findings kept per login: the bounds on what
/// waits (a login whose code is replayed for hours never closes, and must not grow).
const MAX_PENDING: usize = 1000;
const MAX_EXCHANGES: usize = 200;
const MAX_FINDINGS: usize = 200;

/// Turns the analysis' events into one export request per closed login.
pub struct TraceBuilder {
    key: FleetKey,
    pending: HashMap<u64, Pending>,
    /// This gateway, as the resource's `service.instance.id`.
    instance: String,
}

impl TraceBuilder {
    pub fn new(key: FleetKey, instance: impl Into<String>) -> TraceBuilder {
        TraceBuilder { key, pending: HashMap::new(), instance: instance.into() }
    }

    /// Takes one event; a closed login comes back as its export request.
    pub fn event(&mut self, ev: &Event) -> Option<ExportTraceServiceRequest> {
        match ev {
            Event::Exchange(x) => {
                let flow = x.flow?;
                if !self.pending.contains_key(&flow) && self.pending.len() >= MAX_PENDING {
                    return None;
                }
                let p = self.pending.entry(flow).or_default();
                let d = &x.decoded;
                let code = d
                    .authorization_response
                    .as_ref()
                    .and_then(|r| r.code.as_deref())
                    .or(d.token_request.as_ref().and_then(|t| t.code.as_deref()));
                if p.code.is_none() {
                    p.code = code.map(fp_of);
                }
                let state = d
                    .authorize
                    .as_ref()
                    .and_then(|a| a.state.as_deref())
                    .or(d.authorization_response.as_ref().and_then(|r| r.state.as_deref()));
                if p.state.is_none() {
                    p.state = state.map(str::to_owned);
                }
                if p.exchanges.len() < MAX_EXCHANGES {
                    p.exchanges.push(Step::of(x));
                } else {
                    p.not_listed += 1;
                }
                None
            }
            Event::Finding(f) => {
                if let Some(p) = f.flow.and_then(|id| self.pending.get_mut(&id)) {
                    if p.findings.len() < MAX_FINDINGS {
                        p.findings.push(f.as_ref().clone());
                    } else {
                        p.not_listed += 1;
                    }
                }
                None
            }
            Event::Flow(f) if f.event == FlowEventKind::Closed => {
                let p = self.pending.remove(&f.flow)?;
                Some(self.request(f, p))
            }
            Event::Flow(_) => None,
        }
    }

    /// The trace id of a login with these keys (an unkeyed login gets a random one).
    fn trace_id(&self, p: &Pending) -> Vec<u8> {
        match (&p.code, &p.state) {
            (Some(c), _) => self.key.id(&format!("code:{c}"), 16),
            (None, Some(s)) => self.key.id(&format!("state:{s}"), 16),
            _ => FleetKey::random().id("unkeyed", 16),
        }
    }

    fn request(&self, f: &FlowEvent, p: Pending) -> ExportTraceServiceRequest {
        let trace_id = self.trace_id(&p);
        let salt = format!("{}:{}:{}", self.instance, f.flow, now_ns());
        let root_id = self.key.id(&format!("root:{salt}"), 8);
        let start = p.exchanges.iter().map(|x| x.started_ms).min().unwrap_or(f.ts) * 1_000_000;
        let end = f.ts.max(start / 1_000_000) * 1_000_000;
        let rules: Vec<&str> =
            p.findings.iter().filter(|x| x.severity >= Severity::Warning).map(|x| x.rule.as_str()).collect();
        let worst = p.findings.iter().map(|x| x.severity).max();
        let outcome = f.outcome.map(|o| o.as_str()).unwrap_or("closed");
        let mut root = Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: format!("oidc login · {outcome}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: vec![
                kv("oidc_tap.flow", f.flow as i64),
                kv("oidc_tap.outcome", outcome),
                kv_list("oidc_tap.rules", &rules),
                kv("oidc_tap.not_listed", p.not_listed as i64),
            ],
            status: Some(Status {
                code: if worst == Some(Severity::Error) || outcome == "failed" {
                    status::StatusCode::Error as i32
                } else {
                    status::StatusCode::Ok as i32
                },
                message: rules.first().map(|r| r.to_string()).unwrap_or_default(),
            }),
            ..Default::default()
        };
        if let Some(i) = &f.issuer {
            root.attributes.push(kv("oidc_tap.issuer", i.as_str()));
        }
        if let Some(c) = &f.client_id {
            root.attributes.push(kv("oidc_tap.client_id", c.as_str()));
        }
        let mut spans = vec![];
        let mut ids: HashMap<u64, usize> = HashMap::new();
        for x in &p.exchanges {
            let started = x.started_ms * 1_000_000;
            let mut s = Span {
                trace_id: trace_id.clone(),
                span_id: self.key.id(&format!("x:{salt}:{}", x.id), 8),
                parent_span_id: root_id.clone(),
                name: format!("{} {}", x.kind.label(), x.method),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: started,
                end_time_unix_nano: started + x.total_ms * 1_000_000,
                attributes: vec![
                    kv("oidc_tap.kind", x.kind.as_str()),
                    kv("oidc_tap.exchange", x.id as i64),
                    kv("http.request.method", x.method.as_str()),
                    kv("url.full", x.url.as_str()),
                    kv("server.address", x.host.as_str()),
                ],
                ..Default::default()
            };
            if let Some(status) = x.status {
                s.attributes.push(kv("http.response.status_code", i64::from(status)));
            }
            if let Some(ms) = x.response_ms {
                s.attributes.push(kv("oidc_tap.upstream_ms", ms as i64));
            }
            if let Some(err) = &x.error {
                s.attributes.push(kv("error.type", err.as_str()));
            }
            ids.insert(x.id, spans.len());
            spans.push(s);
        }
        for finding in &p.findings {
            let ev = event(finding, end);
            match finding.exchange.and_then(|id| ids.get(&id)) {
                Some(&i) => {
                    let s: &mut Span = &mut spans[i];
                    s.events.push(span::Event { time_unix_nano: s.end_time_unix_nano, ..ev });
                }
                None => root.events.push(ev),
            }
        }
        spans.insert(0, root);
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", "oidc-tap"),
                        kv("service.version", env!("CARGO_PKG_VERSION")),
                        kv("service.instance.id", self.instance.as_str()),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "oidc-tap".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

/// A finding as a span event: what the console prints of it.
fn event(f: &Finding, at: u64) -> span::Event {
    let mut attributes = vec![
        kv("oidc_tap.rule", f.rule.as_str()),
        kv("oidc_tap.severity", f.severity.as_str()),
        kv("oidc_tap.message", f.message.as_str()),
    ];
    for (k, v) in [
        ("oidc_tap.field", &f.field),
        ("oidc_tap.expected", &f.expected),
        ("oidc_tap.seen", &f.seen),
        ("oidc_tap.hint", &f.hint),
    ] {
        if let Some(v) = v {
            attributes.push(kv(k, v.as_str()));
        }
    }
    if let Some(c) = f.follows {
        attributes.push(kv("oidc_tap.follows", c.as_str()));
    }
    if !f.fix.is_empty() {
        attributes.push(kv("oidc_tap.fix", f.fix.as_str()));
    }
    span::Event { time_unix_nano: at, name: f.rule.as_str().into(), attributes, ..Default::default() }
}

fn kv(key: &str, v: impl Into<Val>) -> KeyValue {
    let value = match v.into() {
        Val::S(s) => any_value::Value::StringValue(s),
        Val::I(i) => any_value::Value::IntValue(i),
    };
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn kv_list(key: &str, items: &[&str]) -> KeyValue {
    let values = items
        .iter()
        .map(|s| AnyValue { value: Some(any_value::Value::StringValue((*s).to_owned())) })
        .collect();
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values })) }),
        ..Default::default()
    }
}

enum Val {
    S(String),
    I(i64),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::S(s.to_owned())
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::I(i)
    }
}

/// Where the traces go: `URL` as given when it names `/v1/traces`, else `URL/v1/traces`.
pub fn traces_url(base: &str) -> String {
    if base.trim_end_matches('/').ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

/// The exporter: export requests queued (never waiting on the session), sent one by one.
pub struct OtlpSender {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
    /// Requests dropped because the queue was full.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl OtlpSender {
    /// Starts the sending task; each POST waits at most `timeout`.
    pub fn start(url: String, client: reqwest::Client, timeout: std::time::Duration) -> OtlpSender {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(async move {
            let mut warned = false;
            while let Some(body) = rx.recv().await {
                let sent = client
                    .post(&url)
                    .header("content-type", "application/x-protobuf")
                    .timeout(timeout)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) if !warned => {
                        warned = true;
                        tracing::warn!("--otlp {url}: the collector answered {}", r.status());
                    }
                    Err(e) if !warned => {
                        warned = true;
                        tracing::warn!("--otlp {url}: cannot send: {e}");
                    }
                    _ => {}
                }
            }
        });
        OtlpSender { tx, task, dropped }
    }

    /// Sends what is queued (waiting at most `wait`), then stops.
    pub async fn flush(self, wait: std::time::Duration) {
        drop(self.tx);
        let _ = tokio::time::timeout(wait, self.task).await;
    }

    /// Queues one request (dropped, and counted, when the collector is too slow).
    pub fn send(&self, req: &ExportTraceServiceRequest) {
        use prost::Message;
        if self.tx.try_send(req.encode_to_vec()).is_err() {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A login that never closes (its code replayed for hours) keeps at most the caps.
    #[test]
    fn a_login_that_never_closes_stays_bounded() {
        let mut t = TraceBuilder::new(FleetKey::from_bytes(b"k"), "gw");
        let f = Finding::new(crate::rules::RuleId::TokenCodeReused, "again");
        for _ in 0..10_000 {
            let mut f = f.clone();
            f.flow = Some(1);
            t.pending.entry(1).or_default();
            assert!(t.event(&Event::Finding(Box::new(f))).is_none());
        }
        let p = &t.pending[&1];
        assert_eq!((p.findings.len(), p.not_listed), (MAX_FINDINGS, 10_000 - MAX_FINDINGS as u64));
    }

    #[test]
    fn the_collector_url_and_short_keys() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "short\n").unwrap();
        assert!(matches!(FleetKey::load(&p), Err(FleetKeyError::Short(_, 5))));
        std::fs::write(&p, "0123456789abcdef0123\n").unwrap();
        let (a, b) = (FleetKey::load(&p).unwrap(), FleetKey::from_bytes(b"0123456789abcdef0123"));
        assert_eq!(a.id("code:x", 16), b.id("code:x", 16));
        assert_ne!(a.id("code:x", 16), FleetKey::random().id("code:x", 16));
    }
}
