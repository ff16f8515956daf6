//! The `--trace FILE.jsonl` journal: append-only, one JSON object per line, written through a
//! buffer the session flushes whenever no record is waiting and at least every 100 ms (so a
//! crash loses at most that window, and writing never costs a syscall per line). Secrets are masked unless the journal was opened with
//! `redact = false` (`--no-redact`). The schema is versioned by `"v"`; see README "Trace format".

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::analysis::{Event, ExchangeEvent};
use crate::redact::{redact_exchange, redact_json};

/// Version of the line schema, written as `"v"` on every line.
pub const SCHEMA_VERSION: u64 = 1;

/// An open journal.
pub struct Journal {
    out: Box<dyn Write + Send>,
    redact: bool,
    /// Keep headers and bodies of non-OIDC traffic too (`--trace-all`).
    keep_all: bool,
    policy: crate::redact::Policy,
}

impl Journal {
    /// Opens (creating 0600, or appending to) a journal file.
    pub fn open(path: &Path, redact: bool) -> io::Result<Journal> {
        let f: File = crate::files::append(path)?;
        let out = io::BufWriter::with_capacity(64 * 1024, f);
        Ok(Journal { out: Box::new(out), redact, keep_all: false, policy: Default::default() })
    }

    pub fn from_writer(out: Box<dyn Write + Send>, redact: bool) -> Journal {
        Journal { out, redact, keep_all: false, policy: Default::default() }
    }

    /// How far redaction goes (`--keep-signatures`, `--redact-pii`).
    pub fn policy(mut self, policy: crate::redact::Policy) -> Journal {
        self.policy = policy;
        self
    }

    /// Keep non-OIDC traffic whole (else a summary: method, host, path, status, sizes, times).
    pub fn keep_all(mut self, keep_all: bool) -> Journal {
        self.keep_all = keep_all;
        self
    }

    fn put(&mut self, v: &Value) -> io::Result<()> {
        let mut line = serde_json::to_vec(v).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The first line of a session: who wrote it and whether secrets are masked.
    pub fn session(&mut self, ts: u64, extra: Map<String, Value>) -> io::Result<()> {
        let mut v = json!({
            "v": SCHEMA_VERSION,
            "type": "session",
            "ts": ts,
            "tool": format!("oidc-tap {}", env!("CARGO_PKG_VERSION")),
            "redacted": self.redact,
        });
        if let Value::Object(m) = &mut v {
            m.extend(extra);
        }
        self.put(&v)?;
        self.flush()
    }

    /// A `capture` line: what the gateway's capture kept and lost (written at the end).
    pub fn capture(&mut self, ts: u64, counters: Value) -> io::Result<()> {
        let mut v = json!({ "v": SCHEMA_VERSION, "type": "capture", "ts": ts });
        if let (Value::Object(m), Value::Object(c)) = (&mut v, counters) {
            m.extend(c);
        }
        self.put(&v)?;
        self.flush()
    }

    pub fn write(&mut self, ev: &Event) -> io::Result<()> {
        // Other traffic as a summary: its heads and bodies are dropped before the line is made,
        // not after (under load that is most lines, and redacting heads nobody keeps is waste).
        let light;
        let ev = match ev {
            Event::Exchange(x) if !self.keep_all && x.kind == crate::oidc::ExchangeKind::Other => {
                light = Event::Exchange(Box::new(ExchangeEvent {
                    decoded: x.decoded.clone(),
                    passed: x.passed.clone(),
                    provider_leg: x.provider_leg.clone(),
                    exchange: x.exchange.without_heads_and_bodies(),
                    ..**x
                }));
                &light
            }
            ev => ev,
        };
        let mut v = crate::redact::with_policy(self.policy, || event_line(ev, self.redact));
        if !self.keep_all
            && v["type"] == "exchange"
            && v["kind"] == "other"
            && let Some(rec) = v.get_mut("exchange")
        {
            summarise(rec);
        }
        self.put(&v)
    }
}

/// Non-OIDC traffic as a summary: the heads and bodies go, method, host, path, status, sizes
/// and times stay (a page of authentik's UI is megabytes of scripts nobody needs to send).
fn summarise(rec: &mut Value) {
    for side in ["request", "response"] {
        if let Some(r) = rec.get_mut(side).and_then(Value::as_object_mut) {
            r.insert("headers".into(), Value::Array(vec![]));
            if let Some(b) = r.get_mut("body").and_then(Value::as_object_mut) {
                b.insert("bytes".into(), Value::String(String::new()));
                b.insert("summarised".into(), Value::Bool(true));
            }
        }
    }
}

/// The JSON line for an event (pure, so tests and exporters share it).
pub fn event_line(ev: &Event, redact: bool) -> Value {
    match ev {
        Event::Exchange(x) => exchange_line(x, redact),
        Event::Finding(f) => {
            let mut out = Map::new();
            out.insert("v".into(), SCHEMA_VERSION.into());
            out.insert("type".into(), "finding".into());
            if let Value::Object(m) = serde_json::to_value(f.as_ref()).unwrap_or(Value::Null) {
                out.extend(m);
            }
            Value::Object(out)
        }
        Event::Flow(f) => {
            let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                let mut out = Map::new();
                out.insert("v".into(), SCHEMA_VERSION.into());
                out.insert("type".into(), "flow".into());
                out.extend(std::mem::take(m));
                return Value::Object(out);
            }
            v
        }
    }
}

/// The journal line of one exchange (also what the web view and the HTML report render).
pub fn exchange_line(x: &ExchangeEvent, redact: bool) -> Value {
    let ex = if redact { redact_exchange(&x.exchange) } else { x.exchange.clone() };
    let mut decoded = serde_json::to_value(&x.decoded).unwrap_or(Value::Null);
    if redact {
        redact_json(&mut decoded);
    }
    let mut m = Map::new();
    m.insert("v".into(), SCHEMA_VERSION.into());
    m.insert("type".into(), "exchange".into());
    m.insert("ts".into(), x.ts.into());
    m.insert("id".into(), x.id.into());
    if let Some(f) = x.flow {
        m.insert("flow".into(), f.into());
    }
    m.insert("kind".into(), x.kind.as_str().into());
    m.insert("method".into(), ex.request.method.clone().into());
    m.insert("url".into(), format!("{}://{}{}", ex.request.scheme, ex.request.host, ex.request.path).into());
    if let Some(r) = &ex.response {
        m.insert("status".into(), r.status.into());
    }
    m.insert("ms".into(), ex.total_ms.into());
    if let Some(c) = x.decoded.caller {
        m.insert("caller".into(), c.as_str().into());
    }
    if let Some(j) = x.joined_by {
        m.insert("joined_by".into(), j.as_str().into());
    }
    m.insert("decoded".into(), decoded);
    if !x.passed.is_empty() {
        m.insert("passed".into(), serde_json::to_value(&x.passed).unwrap_or_default());
    }
    m.insert("exchange".into(), serde_json::to_value(&ex).unwrap_or(Value::Null));
    Value::Object(m)
}
