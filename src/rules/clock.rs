//! CLOCK-SKEW: the provider's clock against the gateway's, read from the token response's
//! `Date` header (ID token exp and iat come from the provider's clock).

use super::{Ctx, Finding, RuleId, Severity};
use crate::capture::HeaderLookup;
use crate::oidc::ExchangeKind;
use crate::timefmt::{human_duration, utc_datetime};

/// CLOCK-SKEW — the provider's Date header vs the gateway clock (once per flow).
pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    if !matches!(ctx.d.kind, ExchangeKind::Token) {
        return;
    }
    let Some(date) = ctx.ex.response.as_ref().and_then(|r| r.header("date")) else { return };
    let Ok(t) = httpdate::parse_http_date(date) else { return };
    let provider = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    // The response was produced between request start and response head.
    let gateway = ((ctx.ex.started_ms + ctx.ex.response_ms.unwrap_or(0)) / 1000) as i64;
    let skew = provider - gateway;
    if skew.abs() >= 10 {
        out.push(
            Finding::new(RuleId::ClockSkew, format!("authentik's clock is {} {} the gateway's", human_duration(skew), if skew > 0 { "ahead of" } else { "behind" }))
                .severity(if skew.abs() >= 60 { Severity::Error } else { Severity::Warning })
                .field("response.date")
                .evidence(utc_datetime(gateway), utc_datetime(provider))
                .why("ID token exp and iat come from authentik's clock and ⟨app⟩ checks exp against its own with zero leeway")
        );
    }
}
