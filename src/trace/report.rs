//! The report a customer attaches to a ticket: one section per login flow, opening with a
//! verdict a person can act on, then who called whom, the values that matter and the findings
//! with expected/seen/fix. Markdown that renders cleanly in a GitHub issue or a helpdesk
//! ticket, or the same as JSON. Built from the core's events; every wire value is escaped
//! (control characters, and the Markdown characters that would break a table).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::analysis::{Event, ExchangeEvent, FlowEventKind};
use crate::capture::HeaderLookup;
use crate::oidc::ExchangeKind;
use crate::rules::{Finding, Severity};
use crate::timefmt::utc_datetime;

/// One login as the report tells it.
#[derive(Default)]
pub(super) struct FlowReport {
    pub(super) outcome: Option<String>,
    pub(super) exchanges: Vec<ExchangeEvent>,
    pub(super) findings: Vec<Finding>,
}

impl FlowReport {
    /// The finding the verdict is about: the first error, else the first warning.
    pub(super) fn worst(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .filter(|x| x.severity == Severity::Error)
            .chain(self.findings.iter().filter(|x| x.severity == Severity::Warning))
            .next()
    }

    /// Where the worst finding happened.
    fn failed_at(&self, w: &Finding) -> &'static str {
        w.exchange
            .and_then(|id| self.exchanges.iter().find(|x| x.id == id))
            .map(|x| step_name(x.kind))
            .unwrap_or("the login")
    }

    /// The verdict as plain text (the HTML report escapes it itself).
    pub(super) fn verdict_text(&self) -> String {
        match (self.outcome.as_deref(), self.worst()) {
            (_, Some(w)) => format!(
                "{} at {}: {} {} — fix: {}",
                if w.severity == Severity::Error { "Failed" } else { "Warning" },
                self.failed_at(w),
                w.rule,
                w.message,
                w.fix
            ),
            (Some("complete"), None) => "Complete: no error and no warning.".into(),
            (o, None) => format!("{}, with no finding that says why.", o.unwrap_or("open")),
        }
    }

    pub(super) fn key_values(&self) -> Vec<(&'static str, String)> {
        key_values(self)
    }
}

/// Collects the core's events into per-flow reports.
#[derive(Default)]
pub struct Report {
    pub(super) flows: BTreeMap<u64, FlowReport>,
    /// Findings about no flow (a gateway failure on other traffic, ...).
    pub(super) loose: Vec<Finding>,
    /// Show secrets as captured (`--no-redact`); by default the HTML shows fingerprints.
    pub raw: bool,
    /// How far redaction goes (`--keep-signatures`, `--redact-pii`).
    pub policy: crate::redact::Policy,
}

/// Text from the wire, safe in Markdown (and in a table cell).
fn md(s: &str) -> String {
    crate::text::printable(s).replace('|', "\\|").replace('`', "'").replace('<', "&lt;")
}

impl Report {
    pub fn event(&mut self, ev: &Event) {
        match ev {
            Event::Exchange(x) => match x.flow {
                Some(f) if x.kind != ExchangeKind::Other => {
                    // The sequence reads in the order the requests started (ties by id).
                    let list = &mut self.flows.entry(f).or_default().exchanges;
                    let at = crate::analysis::order::position(list, x);
                    list.insert(at, x.as_ref().clone())
                }
                _ => {}
            },
            Event::Finding(f) => match f.flow {
                Some(id) => {
                    // Findings follow the sequence: by when their exchange's request started.
                    let flow = self.flows.entry(id).or_default();
                    let key = |x: &Option<u64>, xs: &[ExchangeEvent]| {
                        x.and_then(|x| xs.iter().find(|e| e.id == x)).map(|e| (e.exchange.started_ms, e.id))
                    };
                    let k = key(&f.exchange, &flow.exchanges);
                    let at = flow
                        .findings
                        .partition_point(|g| key(&g.exchange, &flow.exchanges) <= k || k.is_none());
                    flow.findings.insert(at, f.as_ref().clone())
                }
                None if f.severity >= Severity::Warning => self.loose.push(f.as_ref().clone()),
                None => {}
            },
            Event::Flow(f) if f.event == FlowEventKind::Closed => {
                self.flows.entry(f.flow).or_default().outcome = f.outcome.map(|o| o.as_str().to_owned());
            }
            Event::Flow(_) => {}
        }
    }

    /// The verdict line of a flow: where it failed and the one thing to change.
    fn verdict(f: &FlowReport) -> String {
        match (f.outcome.as_deref(), f.worst()) {
            (_, Some(w)) => {
                let at = f.failed_at(w);
                format!(
                    "**{} at {at}: `{}` {}** — fix: {}",
                    if w.severity == Severity::Error { "Failed" } else { "Warning" },
                    w.rule,
                    md(&w.message),
                    md(&w.fix)
                )
            }
            (Some("complete"), None) => "**Complete**: no error and no warning.".into(),
            (o, None) => format!("**{}**, with no finding that says why.", o.unwrap_or("open")),
        }
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("# oidc-tap report\n\n");
        if self.flows.is_empty() {
            s.push_str("No login flow in this trace.\n");
        }
        for (id, f) in &self.flows {
            s.push_str(&format!("## Login flow {id} · {}\n\n", f.outcome.as_deref().unwrap_or("open")));
            s.push_str(&Self::verdict(f));
            s.push_str("\n\n### Sequence (in the order requests started)\n\n| time (UTC) | from → to | step | request | status |\n|---|---|---|---|---|\n");
            for x in &f.exchanges {
                let (from, to) = lanes(x);
                let status =
                    x.exchange.response.as_ref().map(|r| r.status.to_string()).unwrap_or_else(|| "—".into());
                let path = crate::text::truncate(&crate::redact::redact_url(&x.exchange.request.path), 70);
                s.push_str(&format!(
                    "| {} | {from} → {to} | {} | `{} {}` | {status} |\n",
                    crate::timefmt::clock_ms(x.exchange.started_ms),
                    step_name(x.kind),
                    md(&x.exchange.request.method),
                    md(&format!("{}{}", x.exchange.request.host, path)),
                ));
            }
            let values = key_values(f);
            if !values.is_empty() {
                s.push_str("\n### Values that matter\n\n");
                for (k, v) in values {
                    s.push_str(&format!("- {k}: `{}`\n", md(&v)));
                }
            }
            let shown: Vec<&Finding> =
                f.findings.iter().filter(|x| x.severity >= Severity::Warning).collect();
            if !shown.is_empty() {
                s.push_str("\n### Findings\n\n");
                for x in shown {
                    s.push_str(&format!("- **{}** `{}` — {}\n", x.severity.as_str(), x.rule, md(&x.message)));
                    if let Some(e) = &x.expected {
                        s.push_str(&format!("  - expected: `{}`\n", md(e)));
                    }
                    if let Some(v) = &x.seen {
                        s.push_str(&format!("  - seen: `{}`\n", md(v)));
                    }
                    if let Some(h) = &x.hint {
                        s.push_str(&format!("  - difference: {}\n", md(h)));
                    }
                    if let Some(cause) = x.follows {
                        s.push_str(&format!("  - follows from `{cause}`\n"));
                    } else if !x.why.is_empty() {
                        s.push_str(&format!("  - why: {}\n", md(&x.why)));
                    }
                    if !x.fix.is_empty() {
                        s.push_str(&format!("  - fix: {}\n", md(&x.fix)));
                    }
                    if let Some(m) = &x.mastodon {
                        s.push_str(&format!("  - {}: {}\n", x.app(), md(m)));
                    }
                }
            }
            s.push('\n');
        }
        if !self.loose.is_empty() {
            s.push_str("## Outside any login\n\n");
            for x in &self.loose {
                s.push_str(&format!("- **{}** `{}` — {}\n", x.severity.as_str(), x.rule, md(&x.message)));
            }
        }
        s
    }

    pub fn json(&self) -> Value {
        let flows: Vec<Value> = self
            .flows
            .iter()
            .map(|(id, f)| {
                json!({
                    "flow": id,
                    "outcome": f.outcome,
                    "verdict": Self::verdict(f).replace("**", ""),
                    "sequence": f.exchanges.iter().map(|x| {
                        let (from, to) = lanes(x);
                        json!({
                            "exchange": x.id,
                            "ts": x.ts,
                            "from": from,
                            "to": to,
                            "step": step_name(x.kind),
                            "method": x.exchange.request.method,
                            "url": crate::redact::redact_url(&format!("{}://{}{}", x.exchange.request.scheme, x.exchange.request.host, x.exchange.request.path)),
                            "status": x.exchange.response.as_ref().map(|r| r.status),
                        })
                    }).collect::<Vec<_>>(),
                    "values": key_values(f).into_iter().collect::<BTreeMap<_, _>>(),
                    "findings": f.findings.iter().map(|x| serde_json::to_value(x).unwrap_or(Value::Null)).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "tool": format!("oidc-tap {}", env!("CARGO_PKG_VERSION")), "flows": flows })
    }
}

pub(super) fn step_name(k: ExchangeKind) -> &'static str {
    match k {
        ExchangeKind::Discovery => "discovery",
        ExchangeKind::Jwks => "JWKS",
        ExchangeKind::Authorize => "authorize",
        ExchangeKind::AuthorizeResponse => "the code",
        ExchangeKind::Token => "the token call",
        ExchangeKind::Userinfo => "userinfo",
        ExchangeKind::EndSession => "end session",
        ExchangeKind::Introspection => "introspection",
        ExchangeKind::Revocation => "revocation",
        ExchangeKind::RpLogin => "Mastodon's login",
        ExchangeKind::RpCallback => "Mastodon's callback",
        ExchangeKind::RpFailure => "Mastodon's failure page",
        ExchangeKind::ProviderFlow => "authentik's flow",
        ExchangeKind::Other => "other",
    }
}

/// Who called whom: the browser or Mastodon's back channel, to authentik or Mastodon.
pub fn lanes(x: &ExchangeEvent) -> (&'static str, &'static str) {
    let from = match x.decoded.caller {
        Some(crate::oidc::caller::Caller::Browser) => "browser",
        Some(crate::oidc::caller::Caller::Gateway) => "gateway",
        Some(_) => "Mastodon",
        None if x.kind.is_back_channel() => "Mastodon",
        None => "browser",
    };
    let to = match x.kind {
        ExchangeKind::RpLogin | ExchangeKind::RpCallback | ExchangeKind::RpFailure => "Mastodon",
        _ => "authentik",
    };
    (from, to)
}

/// The decoded values a support engineer looks at first.
fn key_values(f: &FlowReport) -> Vec<(&'static str, String)> {
    let mut v = vec![];
    for x in &f.exchanges {
        let d = &x.decoded;
        if let Some(i) = d.discovery.as_ref().and_then(|d| d.issuer.clone()) {
            v.push(("discovered issuer", i));
        }
        if let Some(a) = &d.authorize {
            if let Some(c) = &a.client_id {
                v.push(("client_id", c.clone()));
            }
            if let Some(r) = &a.redirect_uri {
                v.push(("redirect_uri", r.clone()));
            }
            if let Some(s) = &a.scope {
                v.push(("scope", s.clone()));
            }
        }
        if let Some(j) = d.token_response.as_ref().and_then(|t| t.id_token_decoded.as_ref()) {
            v.push(("id_token alg", format!("{} kid {}", j.alg().unwrap_or("?"), j.kid().unwrap_or("—"))));
            for c in ["iss", "aud", "sub"] {
                if let Some(val) = j.claims.get(c) {
                    v.push((
                        match c {
                            "iss" => "id_token iss",
                            "aud" => "id_token aud",
                            _ => "id_token sub",
                        },
                        val.to_string(),
                    ));
                }
            }
            if let Some(e) = j.claim_time("exp") {
                v.push(("id_token exp", utc_datetime(e)));
            }
        }
        if let Some(t) = &d.token_response
            && let Some(e) = &t.error
        {
            v.push(("token error", e.clone()));
        }
        if let Some(r) = x.exchange.response.as_ref().and_then(|r| r.header("location"))
            && x.kind == ExchangeKind::RpCallback
        {
            v.push(("Mastodon sent the browser to", crate::redact::redact_url(r)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    v.retain(|(k, val)| seen.insert((*k, val.clone())));
    v
}
