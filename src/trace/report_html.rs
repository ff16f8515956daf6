//! `report --format html`: the report as one self-contained page to attach to a ticket — no
//! script, no external style, font or image, readable with JavaScript off. Each login is a
//! sequence diagram (lanes browser, Mastodon, gateway, authentik; one arrow per exchange, the
//! failing hop marked), the values that matter, the ID token's claims with human times, and the
//! findings with expected, seen, difference, why, fix and what Mastodon says. Every wire value
//! is HTML-escaped after control characters are made visible.

use super::report::{FlowReport, Report, lanes, step_name};
use crate::rules::{Finding, Severity};

const LANES: [&str; 4] = ["browser", "Mastodon", "gateway", "authentik"];

/// Text from the wire (or anything), safe in HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::printable(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg:#fff; --fg:#1b1f24; --mut:#59636e; --line:#d0d7de; --err:#cf222e; --warn:#9a6700; --ok:#1a7f37; --card:#f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --bg:#0d1117; --fg:#e6edf3; --mut:#9198a1; --line:#3d444d; --err:#f85149; --warn:#d29922; --ok:#3fb950; --card:#161b22; } }
body { background:var(--bg); color:var(--fg); font:14px/1.45 system-ui, sans-serif; margin:0 auto; max-width:1200px; padding:16px 24px; }
h1 { font-size:20px; } h2 { font-size:17px; border-top:1px solid var(--line); padding-top:14px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12.5px; word-break:break-all; }
.verdict { padding:8px 12px; border-left:4px solid var(--ok); background:var(--card); }
.verdict.error { border-color:var(--err); } .verdict.warning { border-color:var(--warn); }
.seq { display:grid; grid-template-columns: 7em repeat(4, 1fr); gap:2px 0; margin:12px 0; }
.seq .lane { text-align:center; font-weight:600; border-bottom:2px solid var(--line); padding-bottom:4px; }
.seq .t { color:var(--mut); font-size:12px; padding-right:6px; }
.seq .arrow { position:relative; text-align:center; border-bottom:2px solid var(--mut); padding:2px 4px 0; font-size:12.5px; }
.seq .arrow.r::after { content:"▶"; position:absolute; right:-4px; bottom:-9px; color:var(--mut); }
.seq .arrow.l::before { content:"◀"; position:absolute; left:-4px; bottom:-9px; color:var(--mut); }
.seq .arrow.fail { border-color:var(--err); color:var(--err); font-weight:600; }
.seq .arrow.fail::after, .seq .arrow.fail::before { color:var(--err); }
.seq .arrow.warn { border-color:var(--warn); }
.seq a.arrow { color:inherit; text-decoration:none; cursor:pointer; }
.seq a.arrow:hover, .seq a.arrow:focus-visible { background:var(--card); outline:2px solid var(--mut); outline-offset:1px; }
.seq a.arrow.fail { color:var(--err); }
.s00 { grid-column:2 / 3; } .s01 { grid-column:2 / 4; } .s02 { grid-column:2 / 5; } .s03 { grid-column:2 / 6; } .s11 { grid-column:3 / 4; } .s12 { grid-column:3 / 5; } .s13 { grid-column:3 / 6; } .s22 { grid-column:4 / 5; } .s23 { grid-column:4 / 6; } .s33 { grid-column:5 / 6; }
.xd { border-top:1px solid var(--line); margin-top:10px; }
.xd h3 { font-size:15px; margin:10px 0 4px; } .xd h4 { font-size:13px; margin:10px 0 2px; color:var(--mut); text-transform:capitalize; }
.fp { border:1px dashed var(--mut); border-radius:3px; padding:0 3px; color:var(--mut); }
ul.passed { list-style:none; padding:0; margin:6px 0; display:flex; flex-wrap:wrap; gap:4px 12px; } ul.passed li { color:var(--ok); }
.mut { color:var(--mut); } .bad { color:var(--err); }
pre { background:var(--card); padding:8px; overflow:auto; max-height:24em; white-space:pre-wrap; word-break:break-all; font-size:12px; }
details.raw summary { cursor:pointer; color:var(--mut); margin-top:6px; }
.finding { border:1px solid var(--line); border-left:4px solid var(--warn); border-radius:4px; padding:6px 10px; margin:8px 0; background:var(--card); }
.finding.error { border-left-color:var(--err); }
.finding dt { color:var(--mut); float:left; width:6.5em; } .finding dd { margin-left:7em; }
table.kv td { padding:2px 8px; vertical-align:top; } table.kv td:first-child { color:var(--mut); white-space:nowrap; }
"#;

/// The report's stylesheet, which the web view serves as its own (one look for both).
pub fn stylesheet() -> &'static str {
    STYLE
}

impl Report {
    /// One flow's section alone (the web view loads it into its page).
    pub fn flow_fragment(&self, id: u64) -> Option<String> {
        let f = self.flows.get(&id)?;
        let mut s = String::new();
        flow_html(&mut s, id, f, self.raw, self.policy);
        Some(s)
    }

    /// The whole page.
    pub fn html(&self) -> String {
        let mut s = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>oidc-tap report</title>\n<style>",
        );
        s.push_str(STYLE);
        s.push_str("</style></head><body>\n<h1>oidc-tap report</h1>\n");
        if self.flows.is_empty() {
            s.push_str("<p>No login flow in this trace.</p>\n");
        }
        for (id, f) in &self.flows {
            flow_html(&mut s, *id, f, self.raw, self.policy);
        }
        if !self.loose.is_empty() {
            s.push_str("<h2>Outside any login</h2>\n");
            for x in &self.loose {
                finding_html(&mut s, x, Some(x.rule.as_str().to_owned()));
            }
        }
        s.push_str("</body></html>\n");
        s
    }
}

/// One flow: verdict, sequence, values, ID token, findings, then every exchange in detail.
fn flow_html(s: &mut String, id: u64, f: &FlowReport, raw: bool, policy: crate::redact::Policy) {
    let outcome = f.outcome.as_deref().unwrap_or("open");
    s.push_str(&format!("<section id=\"flow-{id}\"><h2>Login flow {id} · {}</h2>\n", esc(outcome)));
    let worst = f.worst();
    let class = match worst.map(|w| w.severity) {
        Some(Severity::Error) => "error",
        Some(Severity::Warning) => "warning",
        _ => "ok",
    };
    s.push_str(&format!("<p class=\"verdict {class}\">{}</p>\n", esc(&f.verdict_text())));
    // The sequence: one row per exchange, the arrow spanning from caller to callee.
    s.push_str("<div class=\"seq\" role=\"table\" aria-label=\"sequence\"><div></div>");
    for l in LANES {
        s.push_str(&format!("<div class=\"lane\">{l}</div>"));
    }
    for x in &f.exchanges {
        let (from, to) = lanes(x);
        let (a, b) = (lane_index(from), lane_index(to));
        let (lo, hi) = (a.min(b), a.max(b));
        let sev = f.findings.iter().filter(|g| g.exchange == Some(x.id)).map(|g| g.severity).max();
        let mark = match sev {
            Some(Severity::Error) => " fail",
            Some(Severity::Warning) => " warn",
            _ => "",
        };
        let dir = if b >= a { "r" } else { "l" };
        let status = x.exchange.response.as_ref().map(|r| r.status.to_string()).unwrap_or_else(|| "—".into());
        let path = crate::text::truncate(&crate::redact::redact_url(&x.exchange.request.path), 60);
        s.push_str(&format!(
            "<div class=\"t\">{}</div>{}<a class=\"arrow {dir}{mark} s{lo}{hi}\" href=\"#x-{}\" title=\"{}\" data-x=\"{}\">{} · {}</a>{}",
            crate::timefmt::clock_ms(x.exchange.started_ms),
            "<div></div>".repeat(lo),
            x.id,
            esc(&format!("{} {}{}", x.exchange.request.method, x.exchange.request.host, path)),
            x.id,
            esc(step_name(x.kind)),
            esc(&status),
            "<div></div>".repeat(3 - hi),
        ));
    }
    s.push_str("</div>\n");
    s.push_str("<div class=\"overview\">\n");
    let values = f.key_values();
    if !values.is_empty() {
        s.push_str("<h3>Values that matter</h3>\n<table class=\"kv\">");
        for (k, v) in values {
            s.push_str(&format!("<tr><td>{}</td><td><code>{}</code></td></tr>", esc(k), esc(&v)));
        }
        s.push_str("</table>\n");
    }
    let shown: Vec<&Finding> = f.findings.iter().filter(|x| x.severity >= Severity::Warning).collect();
    if !shown.is_empty() {
        s.push_str("<h3>Findings</h3>\n");
        for x in shown {
            finding_html(s, x, Some(format!("flow-{id}-{}", x.rule.as_str())));
        }
    }
    s.push_str("</div>\n<div class=\"exchanges\">\n<h3>Exchanges</h3>\n");
    for x in &f.exchanges {
        let about: Vec<&Finding> = f.findings.iter().filter(|g| g.exchange == Some(x.id)).collect();
        super::exchange_html::exchange_html(s, x, &about, raw, policy);
    }
    s.push_str("</div></section>\n");
}

fn lane_index(name: &str) -> usize {
    LANES.iter().position(|l| *l == name).unwrap_or(0)
}

/// A finding with its evidence; `anchor` makes it linkable (`#flow-3-IDT-ISS-MISMATCH`).
pub(super) fn finding_html(s: &mut String, x: &Finding, anchor: Option<String>) {
    let id = anchor.map(|a| format!(" id=\"{}\"", esc(&a))).unwrap_or_default();
    s.push_str(&format!(
        "<div class=\"finding {}\"{id}><b>{}</b> <code>{}</code> — {}<dl>",
        x.severity.as_str(),
        x.severity.as_str(),
        esc(x.rule.as_str()),
        esc(&x.message)
    ));
    let mut row = |k: &str, v: &str, code: bool| {
        let v = if code { format!("<code>{}</code>", esc(v)) } else { esc(v) };
        s.push_str(&format!("<dt>{k}</dt><dd>{v}</dd>"));
    };
    if let Some(f) = &x.field {
        row("field", f, true);
    }
    if let Some(e) = &x.expected {
        row("expected", e, true);
    }
    if let Some(v) = &x.seen {
        row("seen", v, true);
    }
    if let Some(h) = &x.hint {
        row("difference", h, false);
    }
    if let Some(cause) = x.follows {
        row("follows from", cause.as_str(), true);
    } else if !x.why.is_empty() {
        row("why", &x.why, false);
    }
    if !x.fix.is_empty() {
        row("fix", &x.fix, false);
    }
    if let Some(m) = &x.mastodon {
        row(&x.app(), m, false);
    }
    s.push_str("</dl></div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script>&\"\u{1b}[2J"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\\e[2J"
        );
    }
}
