//! JSON-DUPLICATE-MEMBER (RFC 8259 §4; RFC 7519 §4 for a JWT's claims): a member name given
//! twice in one object of a login step's JSON. Different parsers keep different ones, so the
//! relying party may act on a value the console never showed: an error inside the ID token,
//! a warning in the other documents. Both values are named (secrets masked).

use super::{Ctx, Finding, RuleId, Severity};
use crate::oidc::ExchangeKind;
use crate::oidc::json_dup::{Duplicate, duplicates};

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    let what = match ctx.d.kind {
        ExchangeKind::Discovery => "discovery document",
        ExchangeKind::Token => "token response",
        ExchangeKind::Userinfo => "userinfo response",
        ExchangeKind::Jwks => "JWKS",
        _ => return,
    };
    // Only a whole body: a cut one says nothing about the provider.
    let readable = ctx.d.unreadable.as_ref().is_none_or(|u| !u.spoils_response());
    let Some(text) = ctx.ex.response.as_ref().filter(|_| readable).and_then(|r| r.body.text()) else {
        return;
    };
    for d in duplicates(text) {
        out.push(finding(what, &d, Severity::Warning));
    }
    // The ID token's claims: the payload segment, as the relying party decodes it.
    let payload = ctx.d.token_response.as_ref().and_then(|t| t.id_token.as_deref()).and_then(payload_text);
    for d in payload.as_deref().map(duplicates).unwrap_or_default() {
        out.push(finding("id_token", &d, Severity::Error));
    }
}

fn payload_text(jwt: &str) -> Option<String> {
    use base64::Engine;
    let seg = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(seg.trim_end_matches('=')).ok()?;
    String::from_utf8(bytes).ok()
}

fn shown(name: &str, v: &serde_json::Value) -> String {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match v.as_str() {
        Some(s) => crate::redact::mask_value(leaf, s).unwrap_or_else(|| s.to_owned()),
        None => v.to_string(),
    }
}

fn finding(what: &str, d: &Duplicate, severity: Severity) -> Finding {
    let (first, second) = (shown(&d.name, &d.first), shown(&d.name, &d.second));
    Finding::new(RuleId::JsonDuplicateMember, format!("the {what} gives `{}` twice: {first} and {second}", d.name))
        .severity(severity)
        .field(format!("{what}.{}", d.name))
        .evidence("one member", format!("{first} | {second}"))
        .why("parsers differ on a duplicated name (serde_json and Ruby's JSON keep the last, others the first or refuse): ⟨app⟩ may act on a value this tool or another reader did not")
}
