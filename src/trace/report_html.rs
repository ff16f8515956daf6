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
.finding { border:1px solid var(--line); border-left:4px solid var(--warn); border-radius:4px; padding:6px 10px; margin:8px 0; background:var(--card); }
.finding.error { border-left-color:var(--err); }
.finding dt { color:var(--mut); float:left; width:6.5em; } .finding dd { margin-left:7em; }
table.kv td { padding:2px 8px; vertical-align:top; } table.kv td:first-child { color:var(--mut); white-space:nowrap; }
"#;

impl Report {
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
            flow_html(&mut s, *id, f);
        }
        if !self.loose.is_empty() {
            s.push_str("<h2>Outside any login</h2>\n");
            for x in &self.loose {
                finding_html(&mut s, x);
            }
        }
        s.push_str("</body></html>\n");
        s
    }
}

fn flow_html(s: &mut String, id: u64, f: &FlowReport) {
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
            "<div class=\"t\">{}</div>{}<div class=\"arrow {dir}{mark}\" style=\"grid-column:{} / {}\" title=\"{}\" data-exchange=\"{}\">{} · {}</div>{}",
            crate::timefmt::clock_ms(x.ts),
            "<div></div>".repeat(lo),
            lo + 2,
            hi + 3,
            esc(&format!("{} {}{}", x.exchange.request.method, x.exchange.request.host, path)),
            x.id,
            esc(step_name(x.kind)),
            esc(&status),
            "<div></div>".repeat(3 - hi),
        ));
    }
    s.push_str("</div>\n");
    let values = f.key_values();
    if !values.is_empty() {
        s.push_str("<h3>Values that matter</h3>\n<table class=\"kv\">");
        for (k, v) in values {
            s.push_str(&format!("<tr><td>{}</td><td><code>{}</code></td></tr>", esc(k), esc(&v)));
        }
        s.push_str("</table>\n");
    }
    for x in &f.exchanges {
        if let Some(jwt) = x.decoded.token_response.as_ref().and_then(|t| t.id_token_decoded.as_ref()) {
            id_token_html(s, jwt, (x.ts / 1000) as i64);
        }
    }
    let shown: Vec<&Finding> = f.findings.iter().filter(|x| x.severity >= Severity::Warning).collect();
    if !shown.is_empty() {
        s.push_str("<h3>Findings</h3>\n");
        for x in shown {
            finding_html(s, x);
        }
    }
    s.push_str("</section>\n");
}

/// The ID token's header and claims, times as dates and relative to when it arrived.
fn id_token_html(s: &mut String, jwt: &crate::oidc::jwt::DecodedJwt, at: i64) {
    s.push_str("<h3>ID token</h3>\n<table class=\"kv id-token\">");
    for (k, v) in &jwt.header {
        s.push_str(&format!(
            "<tr><td>header.{}</td><td><code>{}</code></td></tr>",
            esc(k),
            esc(&v.to_string())
        ));
    }
    for (k, v) in &jwt.claims {
        let mut text = match v {
            serde_json::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        let when = |w: &str| match w {
            "exp" => Some(("expires", "expired")),
            "iat" | "auth_time" => Some(("issued", "issued")),
            "nbf" => Some(("valid", "valid since")),
            _ => None,
        };
        if let (Some((future, past)), Some(t)) = (when(k), jwt.claim_time(k)) {
            text = format!(
                "{text} = {} ({} when it arrived)",
                crate::timefmt::utc_datetime(t),
                crate::timefmt::relative(t, at, future, past)
            );
        }
        s.push_str(&format!("<tr><td>{}</td><td><code>{}</code></td></tr>", esc(k), esc(&text)));
    }
    s.push_str("</table>\n");
}

fn lane_index(name: &str) -> usize {
    LANES.iter().position(|l| *l == name).unwrap_or(0)
}

fn finding_html(s: &mut String, x: &Finding) {
    s.push_str(&format!(
        "<div class=\"finding {}\" id=\"{}\"><b>{}</b> <code>{}</code> — {}<dl>",
        x.severity.as_str(),
        esc(x.rule.as_str()),
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
    if !x.why.is_empty() {
        row("why", &x.why, false);
    }
    if !x.fix.is_empty() {
        row("fix", &x.fix, false);
    }
    if let Some(m) = &x.mastodon {
        row("Mastodon", m, false);
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
