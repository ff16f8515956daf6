//! What the web view shows, kept apart from any I/O: the core's events of recent login flows,
//! a summary per flow for the list, and the renderings (the flow's page fragment, the HAR, the
//! journal and the Markdown report of exactly what is shown). Bounded: the oldest flows go
//! when more than [`MAX_FLOWS`] are kept or their captures pass [`MAX_BYTES`].

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::Value;

use crate::analysis::{Event, FlowEventKind};
use crate::oidc::ExchangeKind;
use crate::redact::Policy;
use crate::rules::{Finding, Severity};
use crate::trace::report::Report;

/// Login flows kept for the page (older ones leave it; the journal has them all).
pub const MAX_FLOWS: usize = 200;
/// Captured bytes kept for the page, bodies counted.
pub const MAX_BYTES: usize = 48 * 1024 * 1024;
/// Findings outside any flow kept for the page.
const MAX_LOOSE: usize = 100;

/// One row of the flow list.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowSummary {
    pub id: u64,
    /// `open` until the flow closes, then `complete`, `failed`, `abandoned`, ...
    pub outcome: String,
    pub errors: usize,
    pub warnings: usize,
    /// The finding the verdict is about (the first error, else the first warning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst: Option<Worst>,
    pub exchanges: usize,
    /// Unix ms of the first and the last exchange.
    pub started: u64,
    pub ended: u64,
    /// Who signed in (userinfo's preferred_username), unless `--redact-pii`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Worst {
    pub rule: String,
    pub severity: &'static str,
    pub message: String,
}

/// Which flows a download holds: what the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    All,
    /// The *errors only* filter: flows with at least one error.
    ErrorsOnly,
    Flow(u64),
}

/// The web view's model.
pub struct Board {
    raw: bool,
    policy: Policy,
    /// Flow events in the order they happened.
    events: VecDeque<(u64, Event, usize)>,
    flows: BTreeMap<u64, FlowSummary>,
    loose: VecDeque<Finding>,
    bytes: usize,
}

impl Board {
    /// `raw`: show secrets as captured (`--no-redact`).
    pub fn new(raw: bool, policy: Policy) -> Board {
        Board {
            raw,
            policy,
            events: VecDeque::new(),
            flows: BTreeMap::new(),
            loose: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Takes one event; returns the flow whose row changed, if any.
    pub fn event(&mut self, ev: &Event) -> Option<u64> {
        let ev = ev.clone();
        let flow = Self::flow_of(&ev);
        let Some(flow) = flow else {
            if let Event::Finding(f) = ev
                && f.severity >= Severity::Warning
            {
                if self.loose.len() == MAX_LOOSE {
                    self.loose.pop_front();
                }
                self.loose.push_back(*f);
            }
            return None;
        };
        if let Event::Exchange(x) = &ev
            && x.kind == ExchangeKind::Other
        {
            return None;
        }
        let size = match &ev {
            Event::Exchange(x) => {
                x.exchange.request.body.bytes.len()
                    + x.exchange.response.as_ref().map(|r| r.body.bytes.len()).unwrap_or(0)
                    + 1024
            }
            _ => 512,
        };
        let row = self.flows.entry(flow).or_insert_with(|| FlowSummary {
            id: flow,
            outcome: "open".into(),
            errors: 0,
            warnings: 0,
            worst: None,
            exchanges: 0,
            started: 0,
            ended: 0,
            user: None,
        });
        match &ev {
            Event::Exchange(x) => {
                row.exchanges += 1;
                let start = x.exchange.started_ms;
                row.started = if row.started == 0 { start } else { row.started.min(start) };
                row.ended = row.ended.max(x.ts);
                if !self.policy.pii
                    && let Some(u) = x
                        .decoded
                        .userinfo_response
                        .as_ref()
                        .and_then(|u| u.claims.as_ref())
                        .and_then(|c| c.get("preferred_username"))
                        .and_then(Value::as_str)
                {
                    row.user = Some(crate::text::printable(u).into_owned());
                }
            }
            Event::Finding(f) => {
                match f.severity {
                    Severity::Error => row.errors += 1,
                    Severity::Warning => row.warnings += 1,
                    _ => {}
                }
                let replaces = match &row.worst {
                    None => f.severity >= Severity::Warning,
                    Some(w) => w.severity == "warning" && f.severity == Severity::Error,
                };
                if replaces {
                    row.worst = Some(Worst {
                        rule: f.rule.as_str().to_owned(),
                        severity: f.severity.as_str(),
                        message: crate::text::printable(&f.message).into_owned(),
                    });
                }
            }
            Event::Flow(f) => {
                if f.event == FlowEventKind::Closed {
                    row.outcome = f.outcome.map(|o| o.as_str().to_owned()).unwrap_or_else(|| "closed".into());
                }
                if row.started == 0 {
                    row.started = f.ts;
                }
            }
        }
        self.events.push_back((flow, ev, size));
        self.bytes += size;
        self.evict();
        Some(flow)
    }

    /// The flow an event belongs to.
    fn flow_of(ev: &Event) -> Option<u64> {
        match ev {
            Event::Exchange(x) => x.flow,
            Event::Finding(f) => f.flow,
            Event::Flow(f) => Some(f.flow),
        }
    }

    fn evict(&mut self) {
        while self.flows.len() > MAX_FLOWS || (self.bytes > MAX_BYTES && self.flows.len() > 1) {
            let Some((&oldest, _)) = self.flows.first_key_value() else { return };
            self.flows.remove(&oldest);
            let before = self.bytes;
            let mut freed = 0;
            self.events.retain(|(f, _, size)| {
                let keep = *f != oldest;
                if !keep {
                    freed += size;
                }
                keep
            });
            self.bytes = before - freed;
        }
    }

    /// Every row, newest first.
    pub fn summaries(&self) -> Vec<&FlowSummary> {
        self.flows.values().rev().collect()
    }

    pub fn summary(&self, id: u64) -> Option<&FlowSummary> {
        self.flows.get(&id)
    }

    fn selected(&self, shown: Shown) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .filter(move |(f, _, _)| match shown {
                Shown::All => true,
                Shown::Flow(w) => *f == w,
                Shown::ErrorsOnly => self.flows.get(f).is_some_and(|r| r.errors > 0),
            })
            .map(|(_, e, _)| e)
    }

    /// The report of the flow (or of every flow shown).
    pub fn report(&self, shown: Shown) -> Report {
        let mut r = Report::default();
        r.raw = self.raw;
        r.policy = self.policy;
        for ev in self.selected(shown) {
            r.event(ev);
        }
        if shown == Shown::All {
            for f in &self.loose {
                r.event(&Event::Finding(Box::new(f.clone())));
            }
        }
        r
    }

    /// The page fragment of one flow (verdict, sequence, values, findings, exchanges).
    pub fn flow_html(&self, id: u64) -> Option<String> {
        self.flows.contains_key(&id).then(|| self.report(Shown::Flow(id)).flow_fragment(id)).flatten()
    }

    /// The HAR of what is shown.
    pub fn har(&self, shown: Shown) -> Value {
        let mut h = crate::trace::har::HarWriter::new(!self.raw, false).policy(self.policy);
        self.selected(shown).for_each(|e| h.event(e));
        h.document()
    }

    /// The journal of what is shown: a session line, then one line per event.
    pub fn journal(&self, shown: Shown, now: u64) -> Vec<u8> {
        let buf = SharedBuf::default();
        let mut j = crate::output::journal::Journal::from_writer(Box::new(buf.clone()), !self.raw)
            .policy(self.policy);
        let mut ok =
            j.session(now, [("source".to_string(), "oidc-tap web view".into())].into_iter().collect());
        for e in self.selected(shown) {
            ok = ok.and_then(|_| j.write(e));
        }
        drop(j);
        // Writing to memory does not fail; if it ever did, the download says so.
        match ok {
            Ok(()) => buf.take(),
            Err(e) => format!("{{\"error\":\"{e}\"}}\n").into_bytes(),
        }
    }
}

/// A `Write` into memory the journal can own while the board keeps a handle.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl std::io::Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
