//! The `--trace FILE.jsonl` journal: append-only, one JSON object per line, written through a
//! buffer the session flushes whenever no record is waiting and at least every 100 ms (so a
//! crash loses at most that window, and writing never costs a syscall per line). Secrets are masked unless the journal was opened with
//! `redact = false` (`--no-redact`). The schema is versioned by `"v"`; see README "Trace format".

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::analysis::{Event, ExchangeEvent};
use crate::capture::Exchange;
use crate::redact::{redact_exchange, redact_exchange_in_place, redact_json};

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
        if let Event::Exchange(x) = ev
            && !self.keep_all
            && x.kind == crate::oidc::ExchangeKind::Other
        {
            return self.write_summary(x);
        }
        self.write_line(ev)
    }

    /// Straight from the event to bytes (no JSON tree in between): under load the journal
    /// writes a line per request, and building the tree first cost as much as the analysis.
    fn write_line(&mut self, ev: &Event) -> io::Result<()> {
        let mut line = Vec::with_capacity(4096);
        crate::redact::with_policy(self.policy, || {
            serde_json::to_writer(&mut line, &line_of(ev, self.redact))
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)
    }

    /// Other traffic as a summary: its heads and bodies are dropped before the line is made,
    /// not after (under load that is most lines, and redacting heads nobody keeps is waste);
    /// the line borrows the rest of the event and redacts the stripped copy in place.
    fn write_summary(&mut self, x: &ExchangeEvent) -> io::Result<()> {
        let mut light = x.exchange.summarised();
        if let Some(r) = &mut light.response {
            crate::redact::mask_set_cookies(&mut r.headers);
        }
        let mut line = Vec::with_capacity(512);
        crate::redact::with_policy(self.policy, || {
            serde_json::to_writer(&mut line, &ExchangeLine::with_exchange(x, light, self.redact))
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)
    }
}

/// The JSON line for an event (pure, so tests and exporters share it).
pub fn event_line(ev: &Event, redact: bool) -> Value {
    match ev {
        Event::Exchange(x) => exchange_line(x, redact),
        ev => serde_json::to_value(line_of(ev, redact)).unwrap_or(Value::Null),
    }
}

/// The journal line of one exchange (also what the web view and the HTML report render).
pub fn exchange_line(x: &ExchangeEvent, redact: bool) -> Value {
    serde_json::to_value(ExchangeLine::new(x, redact)).unwrap_or(Value::Null)
}

/// An event's line as it is serialised: borrowed from the event (plus the redacted copies),
/// so the journal writes it straight to bytes without building a JSON tree first.
#[derive(Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)] // one lives on the stack for the time of one line
enum Line<'a> {
    Exchange(ExchangeLine<'a>),
    Finding(Tagged<'a, crate::rules::Finding>),
    Flow(Tagged<'a, crate::analysis::FlowEvent>),
}

fn line_of(ev: &Event, redact: bool) -> Line<'_> {
    match ev {
        Event::Exchange(x) => Line::Exchange(ExchangeLine::new(x, redact)),
        Event::Finding(f) => Line::Finding(Tagged { v: SCHEMA_VERSION, kind: "finding", inner: f }),
        Event::Flow(f) => Line::Flow(Tagged { v: SCHEMA_VERSION, kind: "flow", inner: f }),
    }
}

/// `{"v":1,"type":…}` followed by the fields of `inner`.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    v: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    inner: &'a T,
}

#[derive(Serialize)]
struct ExchangeLine<'a> {
    v: u64,
    #[serde(rename = "type")]
    kind_of_line: &'static str,
    ts: u64,
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<u64>,
    kind: &'static str,
    method: &'a str,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    joined_by: Option<&'static str>,
    decoded: Decoded<'a>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    passed: &'a [crate::rules::passed::Check],
    exchange: Cow<'a, Exchange>,
}

/// The decoded messages: as they are, or as a redacted JSON copy.
#[derive(Serialize)]
#[serde(untagged)]
enum Decoded<'a> {
    Plain(&'a crate::oidc::decode::Decoded),
    Redacted(Value),
}

impl<'a> ExchangeLine<'a> {
    fn new(x: &'a ExchangeEvent, redact: bool) -> ExchangeLine<'a> {
        let exchange =
            if redact { Cow::Owned(redact_exchange(&x.exchange)) } else { Cow::Borrowed(&x.exchange) };
        ExchangeLine::of(x, exchange, redact)
    }

    /// The line of `x` carrying `exchange` (an owned stand-in, such as a summary's stripped
    /// copy) in place of the event's own, redacted in place rather than copied again.
    fn with_exchange(x: &'a ExchangeEvent, mut exchange: Exchange, redact: bool) -> ExchangeLine<'a> {
        if redact {
            redact_exchange_in_place(&mut exchange);
        }
        ExchangeLine::of(x, Cow::Owned(exchange), redact)
    }

    fn of(x: &'a ExchangeEvent, exchange: Cow<'a, Exchange>, redact: bool) -> ExchangeLine<'a> {
        let decoded = if redact {
            let mut decoded = serde_json::to_value(&x.decoded).unwrap_or(Value::Null);
            redact_json(&mut decoded);
            Decoded::Redacted(decoded)
        } else {
            Decoded::Plain(&x.decoded)
        };
        let req = &exchange.request;
        ExchangeLine {
            v: SCHEMA_VERSION,
            kind_of_line: "exchange",
            ts: x.ts,
            id: x.id,
            flow: x.flow,
            kind: x.kind.as_str(),
            method: &x.exchange.request.method,
            url: format!("{}://{}{}", req.scheme, req.host, req.path),
            status: exchange.response.as_ref().map(|r| r.status),
            ms: exchange.total_ms,
            caller: x.decoded.caller.map(|c| c.as_str()),
            joined_by: x.joined_by.map(|j| j.as_str()),
            decoded,
            passed: &x.passed,
            exchange,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer the test can read back after the journal took it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Other traffic is written as a summary: the same line as its exchange stripped of heads
    /// and bodies would get, with a secret in its URL still masked (or kept, unredacted).
    #[test]
    fn a_summary_is_the_line_of_the_stripped_exchange() {
        use crate::capture::{Header, RequestRecord, ResponseRecord};
        let mut req = RequestRecord::new(
            "GET",
            "https",
            "authentik.company",
            "/static/app.js?v=2024.8&access_token=SEKRIT-TOKEN-123",
            "HTTP/1.1",
            vec![Header::new("cookie", "authentik_session=SEKRIT-COOKIE")],
        );
        req.body.bytes = "ignored".into();
        let mut ex = Exchange::begin(7, req, 1_700_000_000_000);
        ex.summary = true;
        ex.response = Some(ResponseRecord {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("set-cookie", "authentik_csrf=SEKRIT-CSRF"),
                Header::new("content-type", "text/javascript"),
                Header::new("etag", "\"dropped\""),
            ],
            body: Default::default(),
        });
        let mut analyzer = crate::analysis::Analyzer::new(Default::default());
        let events = analyzer.ingest(&ex);
        let Some(Event::Exchange(x)) = events.first() else { panic!("{events:?}") };
        assert_eq!(x.kind, crate::oidc::ExchangeKind::Other);
        for redact in [true, false] {
            let out = Shared::default();
            Journal::from_writer(Box::new(out.clone()), redact).write(&events[0]).unwrap();
            let got = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            let mut light = x.exchange.summarised();
            crate::redact::mask_set_cookies(&mut light.response.as_mut().unwrap().headers);
            let stripped = ExchangeEvent { exchange: light, ..(**x).clone() };
            let expected = serde_json::to_string(&exchange_line(&stripped, redact)).unwrap() + "\n";
            assert_eq!(got, expected, "redact {redact}");
            assert!(!got.contains("SEKRIT-COOKIE") && !got.contains("SEKRIT-CSRF"), "{got}");
            // Which cookie the answer set stays (so a later reading can join it), and its type.
            assert!(got.contains("authentik_csrf="), "{got}");
            assert!(got.contains("text/javascript"), "{got}");
            assert_eq!(got.contains("SEKRIT-TOKEN-123"), !redact, "{got}");
            assert!(got.contains("v=2024.8"), "{got}");
            assert!(!got.contains("dropped"), "{got}");
        }
    }

    /// The journal writes lines straight from the events; the web view, the report and
    /// `analyze --format json` build them as JSON values. Both must be the same bytes.
    #[test]
    fn written_lines_are_the_event_lines() {
        for name in ["demo-clean", "demo-nonce-mismatch", "demo-state-altered"] {
            let path = format!("{}/tests/fixtures/journals/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
            let mut analyzer = crate::analysis::Analyzer::new(Default::default());
            let mut events = vec![];
            let mut last = 0;
            crate::trace::import::read(&path, |ex| {
                last = last.max(ex.started_ms + ex.total_ms);
                events.extend(analyzer.ingest(&ex));
            })
            .unwrap();
            events.extend(analyzer.finish(last + 1));
            assert!(events.iter().any(|e| matches!(e, Event::Finding(_))) || name == "demo-clean");
            assert!(events.iter().any(|e| matches!(e, Event::Flow(_))));
            for redact in [true, false] {
                let out = Shared::default();
                let mut j = Journal::from_writer(Box::new(out.clone()), redact).keep_all(true);
                let mut expected = String::new();
                for ev in &events {
                    j.write(ev).unwrap();
                    expected.push_str(&serde_json::to_string(&event_line(ev, redact)).unwrap());
                    expected.push('\n');
                }
                let got = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
                assert_eq!(got, expected, "{name}, redact {redact}");
                assert_eq!(got.lines().count(), events.len());
            }
        }
    }
}
