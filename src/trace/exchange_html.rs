//! One exchange as a person reads it, in HTML: what the step carried (authorize parameters, the
//! token request and response, the ID token's header and claims with human times, userinfo
//! claims, discovery, keys), the checks that passed and the findings about it, then the heads
//! and bodies. Rendered from the journal's line for the exchange, so the page shows exactly what
//! a trace file would hold: secrets as fingerprints unless the run was started with
//! `--no-redact`. Shared by the HTML report and the web view.

use serde_json::{Map, Value};

use super::report_html::{esc, finding_html};
use crate::analysis::ExchangeEvent;
use crate::redact::Policy;
use crate::rules::Finding;

/// Bodies longer than this are cut on the page (the HAR and the journal have them whole).
const BODY_SHOWN: usize = 16 * 1024;

/// The marker a masked secret starts with (`redact::mask`).
const MASKED: &str = "~redacted~";

/// `<section class="xd" id="x-N">` for one exchange.
pub fn exchange_html(s: &mut String, x: &ExchangeEvent, findings: &[&Finding], raw: bool, policy: Policy) {
    let line = crate::redact::with_policy(policy, || crate::output::journal::exchange_line(x, !raw));
    let (from, to) = super::report::lanes(x);
    let status = line["status"].as_u64().map(|s| s.to_string()).unwrap_or_else(|| "no answer".into());
    s.push_str(&format!(
        "<section class=\"xd\" id=\"x-{}\" data-x=\"{}\"><h3>#{} {} · {from} → {to}</h3>\n",
        x.id,
        x.id,
        x.id,
        esc(super::report::step_name(x.kind))
    ));
    s.push_str(&format!(
        "<p class=\"req mono\">{} {} → <b>{}</b> · {} ms",
        esc(line["method"].as_str().unwrap_or("")),
        esc(line["url"].as_str().unwrap_or("")),
        esc(&status),
        line["ms"].as_u64().unwrap_or(0)
    ));
    if let Some(c) = line["caller"].as_str() {
        s.push_str(&format!(" · caller {}", esc(c)));
    }
    if let Some(j) = line["joined_by"].as_str() {
        s.push_str(&format!(" · joined by {}", esc(j)));
    }
    if let Some(e) = line["exchange"]["error"].as_str() {
        s.push_str(&format!(" · <span class=\"bad\">{}</span>", esc(e)));
    }
    s.push_str("</p>\n");
    for f in findings {
        finding_html(s, f, None);
    }
    if let Some(p) = line["passed"].as_array().filter(|p| !p.is_empty()) {
        s.push_str("<ul class=\"passed\">");
        for c in p.iter().filter_map(Value::as_str) {
            let mark = if c.contains('✓') { "" } else { "✓ " };
            s.push_str(&format!("<li>{mark}{}</li>", esc(c)));
        }
        s.push_str("</ul>\n");
    }
    let at = (x.ts / 1000) as i64;
    if let Some(d) = line["decoded"].as_object() {
        for (k, v) in d {
            if matches!(k.as_str(), "kind" | "url" | "caller") {
                continue;
            }
            decoded_section(s, k, v, at);
        }
    }
    heads_and_bodies(s, &line["exchange"], raw);
    s.push_str("</section>\n");
}

/// One decoded message (`authorize`, `token_response`, ...) as a table.
fn decoded_section(s: &mut String, name: &str, v: &Value, at: i64) {
    let title = name.replace('_', " ");
    let Some(obj) = v.as_object() else {
        s.push_str(&format!("<h4>{}</h4><p><code>{}</code></p>\n", esc(&title), value_html(v)));
        return;
    };
    s.push_str(&format!("<h4>{}</h4>\n<table class=\"kv\">", esc(&title)));
    let mut rows = vec![];
    flatten("", obj, &mut rows);
    for (k, v) in rows {
        s.push_str(&format!("<tr><td>{}</td><td><code>{}</code></td></tr>", esc(&k), value_html(v)));
    }
    s.push_str("</table>\n");
    // An ID token gets its own table: header, then claims with human times.
    if let Some(jwt) = obj.get("id_token_decoded").and_then(Value::as_object) {
        id_token_table(s, jwt, at);
    }
}

/// Nested objects as dotted keys; `params` pairs as `params.name`; the decoded ID token is
/// left to its own table.
fn flatten<'a>(prefix: &str, obj: &'a Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in obj {
        if k == "id_token_decoded" {
            continue;
        }
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(m) if !m.is_empty() => flatten(&key, m, out),
            Value::Array(a) if k == "params" => {
                for pair in a {
                    if let (Some(n), Some(val)) = (pair.get(0).and_then(Value::as_str), pair.get(1)) {
                        out.push((format!("{key}.{n}"), val));
                    }
                }
            }
            other => out.push((key, other)),
        }
    }
}

/// A value on the page: a masked secret as its fingerprint, a long one cut.
fn value_html(v: &Value) -> String {
    match v {
        Value::String(t) => text_html(t),
        other => esc(&crate::text::truncate(&other.to_string(), 400)),
    }
}

fn text_html(t: &str) -> String {
    if let Some(fp) = t.strip_prefix(MASKED) {
        return fingerprint_html(fp);
    }
    // A JWT whose signature was masked: its readable parts stay, the signature is a fingerprint.
    if let Some((head, fp)) = t.split_once(&format!(".{MASKED}")) {
        return format!("{}.{}", esc(&crate::text::truncate(head, 48)), fingerprint_html(fp));
    }
    esc(&crate::text::truncate(t, 400))
}

/// A redacted value: the start of its fingerprint (as the console shows it), the whole one on hover.
fn fingerprint_html(fp: &str) -> String {
    let short: String = fp.chars().take(4).collect();
    format!("<span class=\"fp\" title=\"redacted; fingerprint {}\">redacted …{}</span>", esc(fp), esc(&short))
}

/// The ID token's header and claims; times as UTC dates, relative to when it arrived, and (in
/// the web view, where a script runs) relative to now.
pub(super) fn id_token_table(s: &mut String, jwt: &Map<String, Value>, at: i64) {
    s.push_str("<h4>ID token</h4>\n<table class=\"kv id-token\">");
    if let Some(h) = jwt.get("header").and_then(Value::as_object) {
        for (k, v) in h {
            s.push_str(&format!(
                "<tr><td>header.{}</td><td><code>{}</code></td></tr>",
                esc(k),
                esc(&v.to_string())
            ));
        }
    }
    if let Some(c) = jwt.get("claims").and_then(Value::as_object) {
        for (k, v) in c {
            let mut text = match v {
                Value::String(t) => text_html(t),
                other => esc(&other.to_string()),
            };
            let when = match k.as_str() {
                "exp" => Some(("expires", "expired")),
                "iat" | "auth_time" => Some(("issued", "issued")),
                "nbf" => Some(("valid", "valid since")),
                _ => None,
            };
            let mut now = String::new();
            if let (Some((future, past)), Some(t)) = (when, crate::oidc::jwt::numeric_date(v)) {
                text = format!(
                    "{text} = {} ({} when it arrived)",
                    crate::timefmt::utc_datetime(t),
                    crate::timefmt::relative(t, at, future, past)
                );
                now = format!(
                    " <span class=\"rel\" data-t=\"{t}\" data-future=\"{future}\" data-past=\"{past}\"></span>"
                );
            }
            s.push_str(&format!("<tr><td>{}</td><td><code>{text}</code>{now}</td></tr>", esc(k)));
        }
    }
    s.push_str("</table>\n");
}

/// Request and response heads and bodies, folded (as recorded: redacted unless `--no-redact`).
fn heads_and_bodies(s: &mut String, ex: &Value, raw: bool) {
    for side in ["request", "response"] {
        let r = &ex[side];
        if r.is_null() {
            continue;
        }
        s.push_str(&format!("<details class=\"raw\"><summary>{side} headers and body</summary>"));
        s.push_str("<table class=\"kv\">");
        for h in r["headers"].as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (h.get(0).or(h.get("name")), h.get(1).or(h.get("value"))) {
                s.push_str(&format!(
                    "<tr><td>{}</td><td><code>{}</code></td></tr>",
                    esc(n.as_str().unwrap_or("")),
                    text_html(v.as_str().unwrap_or(""))
                ));
            }
        }
        s.push_str("</table>");
        let body = r["body"]["bytes"]["text"].as_str().unwrap_or("");
        if r["body"]["bytes"].get("base64").is_some() {
            s.push_str("<p class=\"mut\">body: binary (in the HAR and the journal)</p>");
        } else if !body.is_empty() {
            let (shown, cut) = match body.char_indices().nth(BODY_SHOWN) {
                Some((i, _)) => (&body[..i], true),
                None => (body, false),
            };
            s.push_str(&format!(
                "<p class=\"mut\">body{}{}</p><pre>{}</pre>",
                if raw { " (not redacted: --no-redact)" } else { " (secrets redacted)" },
                if cut {
                    format!(", first {BODY_SHOWN} characters of {}", body.chars().count())
                } else {
                    String::new()
                },
                esc(shown)
            ));
        }
        s.push_str("</details>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_values_show_as_fingerprints_and_hostile_text_is_escaped() {
        assert_eq!(
            text_html("~redacted~6K5liqf5Hsjv1p3mBQYZHQ"),
            "<span class=\"fp\" title=\"redacted; fingerprint 6K5liqf5Hsjv1p3mBQYZHQ\">redacted …6K5l</span>"
        );
        assert_eq!(text_html("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)&gt;");
        let jwt = text_html("eyJh.eyJp.~redacted~abcdEFGH");
        assert!(jwt.starts_with("eyJh.eyJp.<span class=\"fp\""), "{jwt}");
    }

    #[test]
    fn params_and_nested_objects_flatten_to_dotted_keys() {
        let v = serde_json::json!({"params": [["scope", "openid"], ["state", "x"]], "client_auth": {"method": "basic"}, "id_token_decoded": {"header": {}}});
        let mut rows = vec![];
        flatten("", v.as_object().unwrap(), &mut rows);
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["params.scope", "params.state", "client_auth.method"]);
    }
}
