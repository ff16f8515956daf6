//! The live console: one line per OIDC exchange, tagged with its flow, a second line with what
//! matters, secrets only as short fingerprints. Colour only on a terminal without `NO_COLOR`.

use std::io::Write;

use serde_json::Value;

use crate::analysis::{Event, ExchangeEvent, FlowEvent, FlowEventKind};
use crate::capture::HeaderLookup;
use crate::oidc::ExchangeKind;
use crate::oidc::jwt::DecodedJwt;
use crate::oidc::messages::TokenSource;
use crate::redact::shown;
use crate::rules::{Finding, Severity};
use crate::text::{abbreviate, printable};
use crate::timefmt::{clock_ms, relative};

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset (<https://no-color.org>).
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        Style { color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// How a detail line is painted (after its text is made printable).
type Paint = fn(&Style, &str) -> String;

fn plain(_: &Style, s: &str) -> String {
    s.to_owned()
}

/// Renders analysis events as console text.
pub struct Console {
    out: Box<dyn Write + Send>,
    pub style: Style,
    /// List non-OIDC traffic too.
    pub show_all: bool,
    /// Lines are flushed by the session (when nothing waits, and every 100 ms), not one by one.
    buffered: bool,
}

const INDENT: &str = "              ";

/// A parameter's value as every line shows it ([`crate::redact::shown`]: a state in clear, a
/// code as its fingerprint).
fn opt_shown(key: &str, v: Option<&str>) -> String {
    match v {
        None => "—".into(),
        Some("") => "(empty)".into(),
        Some(s) => shown(key, s, SHOWN_MAX),
    }
}

/// Longest parameter value shown whole on a flow line.
const SHOWN_MAX: usize = 64;

impl Console {
    pub fn new(out: Box<dyn Write + Send>, style: Style, show_all: bool) -> Console {
        Console { out, style, show_all, buffered: false }
    }

    /// Leaves flushing to [`Console::flush`] (the live gateway under load: no write per line).
    pub fn buffered(mut self) -> Console {
        self.buffered = true;
        self
    }

    pub fn write_line(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
        if !self.buffered {
            let _ = self.out.flush();
        }
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    pub fn event(&mut self, ev: &Event) {
        let text = match ev {
            Event::Exchange(x) => self.exchange(x),
            Event::Flow(f) => self.flow(f),
            Event::Finding(f) => Some(self.finding(f)),
        };
        if let Some(t) = text {
            self.write_line(&t);
        }
    }

    fn finding(&self, f: &Finding) -> String {
        let (mark, paint): (&str, fn(&Style, &str) -> String) = match f.severity {
            Severity::Error => ("✗", Style::red),
            Severity::Warning => ("!", Style::yellow),
            Severity::Info => ("·", Style::dim),
        };
        let mut s = format!(
            "   {} {}  {}",
            paint(&self.style, mark),
            paint(&self.style, f.rule.as_str()),
            printable(&f.message)
        );
        let pad = "              ";
        if f.severity == Severity::Info {
            return s;
        }
        if let (Some(e), Some(seen)) = (&f.expected, &f.seen) {
            let (pe, ps) = (printable(e), printable(seen));
            s.push_str(&format!("\n{pad}expected {pe}\n{pad}seen     {ps}"));
            if let Some(h) = &f.hint {
                // The caret points into the text as shown: only when nothing was escaped.
                let shown_as_is = pe.len() == e.len() && ps.len() == seen.len();
                let col = f.diff_at.filter(|_| shown_as_is && e.len() < 120 && seen.len() < 120).unwrap_or(0);
                s.push_str(&format!(
                    "\n{pad}         {}{} {}",
                    " ".repeat(col),
                    paint(&self.style, "^"),
                    printable(h)
                ));
            }
        } else if let Some(seen) = &f.seen {
            s.push_str(&format!("\n{pad}seen     {}", printable(seen)));
        } else if let Some(e) = &f.expected {
            s.push_str(&format!("\n{pad}expected {}", printable(e)));
        }
        if let Some(cause) = f.follows {
            s.push_str(&format!("\n{pad}follows from {cause}"));
        } else if !f.why.is_empty() {
            s.push_str(&format!("\n{pad}why      {}", printable(&f.why)));
        }
        if !f.fix.is_empty() {
            s.push_str(&format!("\n{pad}fix      {}", printable(&f.fix)));
        }
        if let Some(m) = &f.mastodon {
            s.push_str(&format!("\n{pad}{} {}", f.app(), printable(m)));
        }
        s
    }

    fn flow(&self, f: &FlowEvent) -> Option<String> {
        if f.event != FlowEventKind::Closed {
            return None;
        }
        let outcome = f.outcome.map(|o| o.as_str()).unwrap_or("closed");
        let painted = match outcome {
            "complete" => self.style.green(outcome),
            "failed" => self.style.red(outcome),
            _ => self.style.yellow(outcome),
        };
        Some(format!("{} flow {} · {painted} · {} exchanges", clock_ms(f.ts), f.flow, f.exchanges.len()))
    }

    fn exchange(&self, x: &ExchangeEvent) -> Option<String> {
        // The browser's steps through authentik's flow are summed up under the code;
        // `--show-all` lists them one by one.
        if matches!(x.kind, ExchangeKind::Other | ExchangeKind::ProviderFlow) && !self.show_all {
            return None;
        }
        let req = &x.exchange.request;
        let status = x.exchange.response.as_ref().map(|r| r.status.to_string()).unwrap_or_else(|| "—".into());
        let flow = x.flow.map(|f| format!("flow {f}")).unwrap_or_else(|| "no flow".into());
        let path: String = {
            let p = printable(&crate::redact::redact_url(&req.path)).into_owned();
            if p.chars().count() > 90 { format!("{}…", p.chars().take(89).collect::<String>()) } else { p }
        };
        let mut who = x
            .decoded
            .caller
            .map(|c| match (x.app, c.omniauth_part()) {
                (Some(app), Some(part)) => format!("  ({app}, {part})"),
                _ => format!("  ({c})"),
            })
            .unwrap_or_default();
        if self.show_all
            && let Some(j) = x.joined_by
        {
            who.push_str(&format!("  [joined by {}]", j.as_str()));
        }
        let mut line = format!(
            "{} {} · {:<10} {} {}{path} → {status}{who}",
            // When the request started: the order every view is read in.
            clock_ms(x.exchange.started_ms),
            self.style.bold(&flow),
            x.kind.label(),
            printable(&req.method),
            self.style.dim(&printable(&req.host)),
        );
        if let Some(e) = &x.exchange.error {
            line.push_str(&format!("\n{INDENT}{}", self.style.red(&format!("gateway: {}", printable(e)))));
        }
        for (paint, text) in self.details(x) {
            line.push('\n');
            line.push_str(INDENT);
            line.push_str(&paint(&self.style, &printable(&text)));
        }
        if !x.passed.is_empty() {
            let passed = x.passed.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" · ");
            line.push_str(&format!("\n{INDENT}{}", self.style.green(&printable(&passed))));
        }
        for p in &x.decoded.problems {
            line.push_str(&format!(
                "\n{INDENT}{} {}: {}",
                self.style.yellow("?"),
                p.at,
                printable(&p.message)
            ));
        }
        Some(line)
    }

    fn jwt_line(&self, label: &str, j: &DecodedJwt, now_s: i64) -> String {
        if j.is_jwe() {
            return format!(
                "{label} JWE (encrypted) alg={} enc={}",
                j.alg().unwrap_or("?"),
                j.header.get("enc").and_then(Value::as_str).unwrap_or("?")
            );
        }
        let mut parts = vec![format!("{label} {}", j.alg().unwrap_or("no alg"))];
        if let Some(k) = j.kid() {
            parts[0].push_str(&format!(" kid={}", abbreviate(k)));
        }
        if let Some(exp) = j.claim_time("exp") {
            parts.push(relative(exp, now_s, "expires", "expired"));
        }
        if let Some(sub) = j.claim_str("sub") {
            parts.push(format!("sub {}", abbreviate(sub)));
        }
        parts.join(" · ")
    }

    fn details(&self, x: &ExchangeEvent) -> Vec<(Paint, String)> {
        let d = &x.decoded;
        let now_s = (x.ts / 1000) as i64;
        let mut v: Vec<(Paint, String)> = vec![];
        if let Some(disc) = &d.discovery
            && let Some(iss) = &disc.issuer
        {
            let algs = disc.id_token_signing_alg_values_supported.join(",");
            let jwks = disc.jwks_uri.as_deref().unwrap_or("no jwks_uri");
            v.push((plain, format!("issuer {iss} · {algs} · jwks {jwks}")));
        }
        if let Some(j) = &d.jwks {
            if j.no_keys_member {
                v.push((plain, "{} — no keys (authentik without a signing key: tokens are HS256)".into()));
            } else {
                let keys: Vec<String> = j
                    .keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{} kid={}",
                            k.alg.as_deref().or(k.kty.as_deref()).unwrap_or("?"),
                            k.kid.as_deref().map(abbreviate).unwrap_or("—".into())
                        )
                    })
                    .collect();
                v.push((
                    plain,
                    format!(
                        "{} key{}: {}",
                        keys.len(),
                        if keys.len() == 1 { "" } else { "s" },
                        keys.join(", ")
                    ),
                ));
            }
        }
        if let Some(a) = &d.authorize {
            v.push((
                plain,
                format!(
                    "client_id={} scope=\"{}\" response_type={}{}",
                    a.client_id.as_deref().map(abbreviate).unwrap_or("—".into()),
                    a.scope.as_deref().unwrap_or(""),
                    a.response_type.as_deref().unwrap_or("—"),
                    a.code_challenge_method.as_deref().map(|m| format!(" pkce={m}")).unwrap_or_default(),
                ),
            ));
            v.push((
                plain,
                format!(
                    "redirect_uri {} · state {} · nonce {}",
                    a.redirect_uri.as_deref().unwrap_or("(none)"),
                    opt_shown("state", a.state.as_deref()),
                    opt_shown("nonce", a.nonce.as_deref())
                ),
            ));
        }
        if let Some(e) = &d.provider_error {
            v.push((
                Style::red,
                format!(
                    "provider refused: {}{}",
                    e.title,
                    e.message.as_deref().map(|m| format!(" — {m}")).unwrap_or_default()
                ),
            ));
        }
        if let Some(leg) = &x.provider_leg {
            v.push((plain, format!("authentik flow: {}", leg.summary())));
        }
        if let Some(s) = d.flow_stage.as_ref().filter(|_| x.kind == ExchangeKind::ProviderFlow) {
            v.push((plain, format!("stage {s}")));
        }
        if let Some(r) = &d.authorization_response {
            let via = r.via.as_str();
            match &r.error {
                Some(e) => v.push((
                    Style::red,
                    format!(
                        "via {via} → error={e}{} · state {}",
                        r.error_description.as_deref().map(|s| format!(" ({s})")).unwrap_or_default(),
                        opt_shown("state", r.state.as_deref())
                    ),
                )),
                None => v.push((
                    plain,
                    format!(
                        "via {via} → {} code {} · state {}{}",
                        r.redirect_to,
                        opt_shown("code", r.code.as_deref()),
                        opt_shown("state", r.state.as_deref()),
                        r.iss.as_deref().map(|i| format!(" · iss {i}")).unwrap_or_default()
                    ),
                )),
            }
        }
        if let Some(t) = &d.token_request {
            v.push((
                plain,
                format!(
                    "{} · grant {} · code {} · redirect_uri {}{}",
                    t.client_auth.method,
                    t.grant_type.as_deref().unwrap_or("—"),
                    opt_shown("code", t.code.as_deref()),
                    t.redirect_uri.as_deref().unwrap_or("(none)"),
                    t.code_verifier.as_ref().map(|_| " · code_verifier sent").unwrap_or_default()
                ),
            ));
        }
        if let Some(t) = &d.token_response {
            if let Some(e) = &t.error {
                v.push((
                    Style::red,
                    format!(
                        "error {e}{}",
                        t.error_description.as_deref().map(|s| format!(": {s}")).unwrap_or_default()
                    ),
                ));
            } else if t.status == 200 {
                v.push((
                    plain,
                    format!(
                        "{} · access_token {} · scope \"{}\" · expires_in {}",
                        t.token_type.as_deref().unwrap_or("no token_type"),
                        opt_shown("access_token", t.access_token.as_deref()),
                        t.scope.as_deref().unwrap_or(""),
                        t.expires_in.map(|e| e.to_string()).unwrap_or("—".into())
                    ),
                ));
                if let Some(j) = &t.id_token_decoded {
                    v.push((plain, self.jwt_line("id_token", j, now_s)));
                } else if t.id_token.is_none() {
                    v.push((Style::yellow, "no id_token".into()));
                }
            }
        }
        if let Some(u) = &d.userinfo_request {
            let token = opt_shown("access_token", u.access_token.as_deref());
            let mut paint: Paint = plain;
            let mut s = match u.token_source {
                TokenSource::None => "no access token sent".to_owned(),
                TokenSource::Header => format!("Bearer {token}"),
                TokenSource::Form => format!("form access_token {token}"),
                TokenSource::Query => format!("query access_token {token}"),
            };
            if let Some(r) = &d.userinfo_response {
                if let Some(c) = &r.claims {
                    let g = |k: &str| {
                        c.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                    };
                    s.push_str(&format!(" → sub {}", g("sub").map(|x| abbreviate(&x)).unwrap_or("—".into())));
                    for k in ["preferred_username", "email", "email_verified"] {
                        if let Some(val) = g(k) {
                            s.push_str(&format!(" · {k} {val}"));
                        }
                    }
                } else {
                    let w = r.www_authenticate.clone().unwrap_or_default();
                    let (be, bd) = r.body_error.clone().map(|(e, d)| (Some(e), d)).unwrap_or((None, None));
                    let error = w.error.or(be).unwrap_or_else(|| format!("HTTP {}", r.status));
                    let desc = w.error_description.or(bd).map(|d| format!(": {d}")).unwrap_or_default();
                    s.push_str(&format!(" → {error}{desc}"));
                    paint = Style::red;
                }
            }
            v.push((paint, s));
        }
        if let Some(rp) = &d.rp {
            let app = x.app.unwrap_or("Mastodon");
            if rp.failed {
                v.push((
                    Style::red,
                    format!(
                        "{app} gave up on the login → {}{}",
                        rp.redirect_to.as_deref().map(crate::redact::redact_url).unwrap_or_default(),
                        rp.message.as_deref().map(|m| format!(" (message={m})")).unwrap_or_default()
                    ),
                ));
            } else if let Some(to) = &rp.redirect_to {
                v.push((plain, format!("{app} → {}", crate::redact::redact_url(to))));
            }
        }
        if x.kind == ExchangeKind::Other
            && let Some(r) = &x.exchange.response
            && let Some(ct) = r.header("content-type")
        {
            v.push((Style::dim, ct.to_owned()));
        }
        v
    }
}
