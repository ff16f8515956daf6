//! GATEWAY-*: what the gateway itself could not see. A response the gateway made up (the
//! upstream unreachable), a client that hung up mid-request, or a body cut by the capture
//! limit says nothing about the provider: it is reported as what it is, never as a provider
//! or configuration finding.

use super::{Ctx, Finding, RuleId, not_checked};
use crate::oidc::{ExchangeKind, Unreadable};

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(u) = &ctx.d.unreadable else { return };
    if ctx.d.kind == ExchangeKind::Other {
        return;
    }
    let step = ctx.d.kind.label().to_lowercase();
    match u {
        Unreadable::GatewayAnswered { error } => {
            let mut f = Finding::new(
                RuleId::GatewayUpstreamFailed,
                format!("the gateway got no answer from the upstream for this {step} call"),
            )
            .field("exchange.error")
            .seen(error.clone())
            .why("the response the client got was the gateway's own 502/504: the provider never answered, so none of its checks ran")
            .mastodon("sees the gateway's error instead of the provider's answer (“Unknown” or a connection error)");
            if let Some((_, hint)) = error.split_once(": ") {
                f = f.fix(hint.to_owned());
            }
            out.push(f);
        }
        Unreadable::PlainHttpOnTlsPort => out.push(
            Finding::new(
                RuleId::DiscInsecureEndpoint,
                format!("a client sent plain HTTP to the gateway's HTTPS port for this {step} call"),
            )
            .field("request.scheme")
            .expected("https")
            .seen("http")
            .why("the client was given an http:// URL for an https service: discovery or a configured endpoint says http:// (authentik behind a proxy without X-Forwarded-Proto)")
            .mastodon("fails at this step (a 400 from the gateway, or a redirect it does not follow)"),
        ),
        Unreadable::ClientHungUp { .. } => out.push(
            Finding::new(
                RuleId::GatewayClientHungUp,
                format!("the client hung up during this {step} request"),
            )
            .field("request.body")
            .seen(u.to_string())
            .why("the request never reached the provider whole, so whatever came back says nothing about it"),
        ),
        // Only a step whose request body a rule reads is short of anything.
        Unreadable::RequestBodyNotKept { .. }
            if !matches!(ctx.d.kind, ExchangeKind::Token | ExchangeKind::Authorize) => {}
        Unreadable::Truncated { .. }
        | Unreadable::CutShort { .. }
        | Unreadable::NotKept
        | Unreadable::RequestBodyNotKept { .. } => {
            let rule = match ctx.d.kind {
                ExchangeKind::Discovery => RuleId::DiscFetchFailed,
                ExchangeKind::Token => RuleId::TokenError,
                ExchangeKind::Userinfo => RuleId::UserinfoError,
                ExchangeKind::Jwks => RuleId::IdtKidUnknown,
                _ => RuleId::AuthzError,
            };
            out.push(not_checked(rule, &u.to_string(), None));
        }
    }
}
