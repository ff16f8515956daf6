//! HAR 1.2 export: what the gateway understood, in the format browser DevTools, HAR viewers
//! and mitmproxy open. One page per login flow (`pageref`), so DevTools groups a login's
//! exchanges; OIDC meaning twice: in `_oidc` (kind, flow, joined_by, decoded message, checks
//! passed, findings, and the record itself so `oidc-tap analyze` replays it exactly) and in
//! each entry's standard `comment`, which tools that drop custom fields keep. Redacted unless
//! asked otherwise; written atomically (temp file + rename), 0600.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::analysis::{Event, ExchangeEvent, FlowEvent, FlowEventKind};
use crate::capture::{CapturedBody, Exchange, HeaderLookup};
use crate::oidc::ExchangeKind;
use crate::redact::redact_exchange;
use crate::rules::{Finding, Severity};
use crate::timefmt::iso8601_ms;

/// Accumulates events and renders them as a HAR document.
pub struct HarWriter {
    redact: bool,
    /// Keep bodies of non-OIDC traffic too (`--trace-all`).
    keep_all: bool,
    entries: Vec<Value>,
    /// Entry index by exchange id, to attach findings that follow their exchange.
    by_exchange: BTreeMap<u64, usize>,
    pages: BTreeMap<u64, Value>,
    /// (flow, outcome, error and warning rule ids) for `log.comment`.
    flows: BTreeMap<u64, (String, Vec<String>)>,
    policy: crate::redact::Policy,
    /// `log._oidc.expect`.
    expect: Option<Value>,
}

impl HarWriter {
    pub fn new(redact: bool, keep_all: bool) -> HarWriter {
        HarWriter {
            redact,
            keep_all,
            entries: vec![],
            by_exchange: BTreeMap::new(),
            pages: BTreeMap::new(),
            flows: BTreeMap::new(),
            policy: Default::default(),
            expect: None,
        }
    }

    /// The expectations the analysis was judged against ([`crate::expect::Expectations::to_record`]),
    /// written as `log._oidc.expect` so the HAR analysed later is judged the same way.
    pub fn expect(mut self, e: &crate::expect::Expectations) -> HarWriter {
        self.expect = (!e.is_unset()).then(|| e.to_record());
        self
    }

    /// How far redaction goes (`--keep-signatures`, `--redact-pii`).
    pub fn policy(mut self, policy: crate::redact::Policy) -> HarWriter {
        self.policy = policy;
        self
    }

    pub fn event(&mut self, ev: &Event) {
        let policy = self.policy;
        crate::redact::with_policy(policy, || self.event_inner(ev))
    }

    fn event_inner(&mut self, ev: &Event) {
        match ev {
            Event::Exchange(x) => self.exchange(x),
            Event::Finding(f) => self.finding(f),
            Event::Flow(f) => self.flow(f),
        }
    }

    fn exchange(&mut self, x: &ExchangeEvent) {
        let flow = x.flow;
        let ex = if self.redact { redact_exchange(&x.exchange) } else { x.exchange.clone() };
        let full = self.keep_all || x.kind != ExchangeKind::Other;
        let mut decoded = serde_json::to_value(&x.decoded).unwrap_or(Value::Null);
        if self.redact {
            crate::redact::redact_json(&mut decoded);
        }
        // The record minus its bodies (they are in the standard fields): an exact replay.
        let mut record = ex.clone();
        record.request.body.bytes = Default::default();
        if let Some(r) = &mut record.response {
            r.body.bytes = Default::default();
        }
        let mut oidc = json!({
            "kind": x.kind.as_str(),
            "redacted": self.redact,
            "passed": x.passed.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "findings": [],
        });
        if let Some(f) = flow {
            oidc["flow"] = f.into();
        }
        if let Some(j) = x.joined_by {
            oidc["joined_by"] = j.as_str().into();
        }
        if full {
            oidc["decoded"] = decoded;
            oidc["record"] = serde_json::to_value(&record).unwrap_or(Value::Null);
        }
        let mut entry = entry(&ex, full);
        if let Some(f) = flow {
            entry["pageref"] = format!("flow-{f}").into();
            self.pages.entry(f).or_insert_with(|| {
                json!({
                    "startedDateTime": iso8601_ms(ex.started_ms),
                    "id": format!("flow-{f}"),
                    "title": format!("login flow {f}"),
                    "pageTimings": {"onContentLoad": -1, "onLoad": -1},
                })
            });
        }
        entry["comment"] = crate::text::printable(&summary(x, flow)).into_owned().into();
        entry["_oidc"] = oidc;
        self.by_exchange.insert(ex.id, self.entries.len());
        self.entries.push(entry);
    }

    fn finding(&mut self, f: &Finding) {
        let (flow, exchange) = (f.flow, f.exchange);
        let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
        if self.redact {
            crate::redact::redact_json(&mut v);
        }
        if let Some(flow) = flow
            && f.severity >= Severity::Warning
        {
            self.flows.entry(flow).or_default().1.push(f.rule.to_string());
        }
        if let Some(i) = exchange.and_then(|id| self.by_exchange.get(&id).copied()) {
            let e = &mut self.entries[i];
            if let Some(list) = e["_oidc"]["findings"].as_array_mut() {
                list.push(v);
            }
            if f.severity >= Severity::Warning {
                let c = e["comment"].as_str().unwrap_or("").to_owned();
                e["comment"] = format!("{c} · {} {}", f.rule, crate::text::printable(&f.message)).into();
            }
        }
    }

    fn flow(&mut self, f: &FlowEvent) {
        if f.event != FlowEventKind::Closed {
            return;
        }
        let id = f.flow;
        let outcome = f.outcome.map(|o| o.as_str()).unwrap_or("closed").to_owned();
        let entry = self.flows.entry(id).or_default();
        entry.0 = outcome.clone();
        let rules = entry.1.clone();
        if let Some(p) = self.pages.get_mut(&id) {
            p["title"] = format!(
                "login flow {} · {outcome}{}",
                id,
                if rules.is_empty() { String::new() } else { format!(" · {}", rules.join(", ")) }
            )
            .into();
        }
    }

    /// The whole document.
    pub fn document(&self) -> Value {
        let flows: Vec<String> = self
            .flows
            .iter()
            .map(|(id, (outcome, rules))| {
                let o = if outcome.is_empty() { "open" } else { outcome.as_str() };
                if rules.is_empty() {
                    format!("flow {id}: {o}")
                } else {
                    format!("flow {id}: {o} ({})", rules.join(", "))
                }
            })
            .collect();
        let mut comment = format!(
            "oidc-tap {}: {} exchange(s), {} login flow(s){}{}",
            env!("CARGO_PKG_VERSION"),
            self.entries.len(),
            self.flows.len(),
            if flows.is_empty() { String::new() } else { format!(". {}", flows.join("; ")) },
            if self.redact { ". Secrets redacted." } else { ". NOT REDACTED: secrets in clear." }
        );
        comment = crate::text::printable(&comment).into_owned();
        let mut doc = json!({
            "log": {
                "version": "1.2",
                "creator": {"name": "oidc-tap", "version": env!("CARGO_PKG_VERSION")},
                "pages": self.pages.values().collect::<Vec<_>>(),
                "entries": self.entries,
                "comment": comment,
            }
        });
        if let Some(e) = &self.expect {
            doc["log"]["_oidc"] = json!({ "expect": e });
        }
        doc
    }

    /// Writes the document to `path` atomically: a new 0600 file next to it, then a rename,
    /// so a reader (or a crash) never sees half a HAR.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name =
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "trace.har".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let bytes = serde_json::to_vec(&self.document()).map_err(std::io::Error::other)?;
        crate::files::write_new(&tmp, &bytes)?;
        std::fs::rename(&tmp, path)
    }
}

fn headers(h: &[crate::capture::Header]) -> Vec<Value> {
    h.iter().map(|h| json!({"name": h.name, "value": h.value})).collect()
}

/// A body as HAR content: text when it is UTF-8, else base64 with `encoding`.
fn content(body: &CapturedBody, mime: &str, full: bool) -> Value {
    let mut c = json!({"size": body.wire_len, "mimeType": mime});
    if !full {
        c["comment"] = "body not kept (not OIDC traffic; --trace-all keeps it)".into();
        return c;
    }
    match body.text() {
        Some(t) => c["text"] = t.into(),
        None => {
            c["text"] = base64::engine::general_purpose::STANDARD.encode(&body.bytes).into();
            c["encoding"] = "base64".into();
        }
    }
    let mut notes = vec![];
    if body.truncated {
        notes.push(format!(
            "truncated: {} of {} bytes kept (--capture-limit)",
            body.bytes.len(),
            body.wire_len
        ));
    }
    if body.incomplete {
        notes.push("incomplete: the stream ended early".into());
    }
    if let Some(d) = &body.decoded_from {
        notes.push(format!("decoded from {d}"));
    }
    if !notes.is_empty() {
        c["comment"] = notes.join("; ").into();
    }
    c
}

/// One HAR entry for an exchange (`full`: with bodies and headers).
fn entry(ex: &Exchange, full: bool) -> Value {
    let req = &ex.request;
    let url = format!("{}://{}{}", req.scheme, req.host, req.path);
    let query: Vec<Value> = crate::oidc::url::split_url(&req.path)
        .query
        .map(|q| crate::oidc::messages::parse_pairs(&q))
        .unwrap_or_default()
        .into_iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    let mut request = json!({
        "method": req.method,
        "url": url,
        "httpVersion": req.version,
        "cookies": [],
        "headers": if full { headers(&req.headers) } else { vec![] },
        "queryString": query,
        "headersSize": -1,
        "bodySize": req.body.wire_len,
    });
    if full && !req.body.bytes.is_empty() {
        let c = content(&req.body, req.header("content-type").unwrap_or("application/octet-stream"), true);
        request["postData"] = json!({"mimeType": c["mimeType"], "text": c["text"], "params": []});
    }
    let response = match &ex.response {
        Some(r) => json!({
            "status": r.status,
            "statusText": http::StatusCode::from_u16(r.status).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
            "httpVersion": r.version,
            "cookies": [],
            "headers": if full { headers(&r.headers) } else { vec![] },
            "content": content(&r.body, r.header("content-type").unwrap_or(""), full),
            "redirectURL": r.header("location").unwrap_or(""),
            "headersSize": -1,
            "bodySize": r.body.wire_len,
        }),
        // No response (the client or the upstream went away): HAR's convention is status 0.
        None => json!({
            "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1, "bodySize": -1,
            "_error": ex.error.clone().unwrap_or_default(),
        }),
    };
    let wait = ex.response_ms.unwrap_or(ex.total_ms).min(ex.total_ms);
    json!({
        "startedDateTime": iso8601_ms(ex.started_ms),
        "time": ex.total_ms,
        "request": request,
        "response": response,
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait, "receive": ex.total_ms - wait},
        "serverIPAddress": "",
    })
}

/// `flow 1 · TOKEN · client_secret_basic · Bearer · id_token RS256 · signature ✓`.
fn summary(x: &ExchangeEvent, flow: Option<u64>) -> String {
    let mut parts = vec![match flow {
        Some(f) => format!("flow {f} · {}", x.kind.label()),
        None => x.kind.label().to_owned(),
    }];
    if let Some(j) = x.joined_by {
        parts.push(format!("joined by {}", j.as_str()));
    }
    if let Some(e) = &x.exchange.error {
        parts.push(format!("gateway: {e}"));
    }
    parts.extend(x.passed.iter().map(|c| c.to_string()));
    parts.join(" · ")
}

/// Headers of a HAR entry as a map (for tests and the report).
pub fn header_map(entry: &Value, side: &str) -> Map<String, Value> {
    entry[side]["headers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| Some((h["name"].as_str()?.to_ascii_lowercase(), h["value"].clone())))
                .collect()
        })
        .unwrap_or_default()
}
