//! Rules over a whole login, run when it ends without completing.

use super::{Finding, RuleId};
use crate::expect::Expectations;
use crate::oidc::flow::{Flow, Outcome, Stage};

/// FLOW-ABANDONED / FLOW-INCOMPLETE for a flow that just closed that way.
pub fn check(f: &Flow, exp: &Expectations) -> Option<Finding> {
    let last = f.steps.last().map(|s| s.exchange);
    let base = |rule, msg: String| Finding { flow: Some(f.id), exchange: last, ..Finding::new(rule, msg) };
    let request_phase_failure = f.outcome == Some(Outcome::Failed)
        && f.authorize.is_none()
        && f.discovery.is_some()
        && f.rp.as_ref().is_some_and(|r| r.value.failed);
    if let (Some(Outcome::Abandoned), Some(newer)) = (f.outcome, f.superseded_by) {
        return Some(
            base(RuleId::FlowAbandoned, format!("the same browser started a new login (flow {newer}) before this one got its code"))
                .seen(f.stage.as_str())
                .why("the user pressed the login button again, reloaded, or opened a second tab; only the newer login can complete (⟨app⟩ keeps one state per session)")
                .fix(format!("nothing to fix if flow {newer} completed; otherwise see its findings"))
                .mastodon("answers the older login's callback, if it ever comes, with “Invalid 'state' parameter”"),
        );
    }
    match f.outcome {
        Some(Outcome::Abandoned) | Some(Outcome::Failed)
            if f.outcome == Some(Outcome::Abandoned) || request_phase_failure =>
        {
            let discovered = f.discovery.as_ref().and_then(|d| d.value.issuer.clone());
            let fetched = f.discovery.as_ref().map(|d| d.value.fetched_from.clone());
            let derived = fetched
                .as_deref()
                .and_then(|u| u.strip_suffix(".well-known/openid-configuration"))
                .map(str::to_owned);
            let issuer_ok = matches!((&exp.issuer, &discovered), (Some(w), Some(d)) if w == d);
            let mut causes = vec![];
            match (&exp.issuer, &discovered) {
                _ if issuer_ok => {}
                (Some(want), Some(d)) => causes.push(format!(
                    "⟨issuer⟩ ({want}) is not the discovered issuer ({d}): ⟨app⟩ said “Issuer mismatch”"
                )),
                (None, Some(d)) => causes.push(format!(
                    "first of all an issuer mismatch: ⟨issuer⟩ must be exactly {d}{}",
                    if d.ends_with('/') { " (trailing slash included)" } else { "" }
                )),
                _ => {}
            }
            causes.push("Content-Security-Policy form-action (OMNIAUTH_ONLY + ONE_CLICK_SSO_LOGIN) blocking the redirect in Chromium".into());
            causes.push("⟨app⟩ not trusting the gateway's certificate for a later call, or a discovery field it requires missing".into());
            // What was seen: Mastodon answering the login button with sign-in is not "nothing".
            let gave_up = f.rp.as_ref().is_some_and(|r| r.value.failed);
            let message = if gave_up {
                "⟨app⟩ fetched discovery, then sent the browser back to sign-in instead of to authentik"
            } else {
                "discovery was fetched, then nothing: ⟨app⟩ gave up before redirecting to authentik"
            };
            let mut finding = base(RuleId::FlowAbandoned, message.into())
                .why(format!("likely causes: {}", causes.join("; ")));
            if issuer_ok {
                finding = finding
                    .fix("⟨issuer⟩ matches the discovered issuer: read ⟨app⟩'s log line `Authentication failure!` and the browser console (CSP form-action) for the reason")
                    .mastodon("fails in the request phase");
            } else {
                finding = finding
                    .fix(match (&discovered, exp.issuer.as_ref().or(derived.as_ref())) {
                        (Some(d), Some(want)) if want != d => super::issuer_fix(want, d),
                        (Some(d), _) => format!(
                            "set ⟨issuer⟩={d} in ⟨config⟩{} and ⟨apply⟩",
                            if d.ends_with('/') { " (authentik's issuer ends with '/')" } else { "" }
                        ),
                        _ => "check ⟨issuer⟩".into(),
                    })
                    .mastodon("“Issuer mismatch” (most often), before the user ever sees authentik");
                if let (Some(d), Some(want)) = (&discovered, exp.issuer.as_ref().or(derived.as_ref()))
                    && d != want
                {
                    finding = finding.field("⟨issuer⟩").evidence(d.clone(), want.clone());
                }
            }
            // The catalogue's severity, whether or not Mastodon's answer passed the gateway
            // (the demo fronts Mastodon, a real deployment often does not).
            Some(finding)
        }
        Some(Outcome::Incomplete) => {
            let (at, cause) = last_seen(f);
            Some(
                base(RuleId::FlowIncomplete, format!("the login stopped after {at}"))
                    .seen(f.stage.as_str())
                    .why(cause),
            )
        }
        _ => None,
    }
}

/// Where a login stopped and what the exchanges show about why: only what was seen, never a
/// guess its own exchanges contradict.
fn last_seen(f: &Flow) -> (&'static str, String) {
    match f.stage {
        Stage::Authorizing => match &f.provider_leg {
            Some(leg) => (
                "authentik's login flow",
                format!(
                    "no code came back: the browser went through authentik's flow ({}) and stopped there: the user gave up, or a stage or policy denied access",
                    leg.summary()
                ),
            ),
            None => (
                "the authorize request",
                "no code came back, and no step of authentik's login flow passed the gateway: the user stopped at authentik's login page, or a policy denied access"
                    .into(),
            ),
        },
        Stage::CodeIssued => {
            let rp = f.rp.as_ref().map(|r| &r.value);
            let cause = match (f.rp_callback_seen, rp) {
                (true, Some(r)) if r.failed => format!(
                    "the callback reached ⟨app⟩ and ⟨app⟩ sent the browser back to sign-in{} without redeeming the code",
                    r.message.as_deref().map(|m| format!(" (message={m})")).unwrap_or_default()
                ),
                (true, _) => "the callback reached ⟨app⟩, but ⟨app⟩ never redeemed the code (its token request did not pass the gateway)".into(),
                (false, _) if f.rp_fronted => "the code was issued but the browser never reached ⟨app⟩'s callback (CSP form-action, a cookie lost on another host, the redirect URI's host)".into(),
                (false, _) => "the code was issued but never redeemed: no token request for it passed the gateway (⟨app⟩ failed before it, or its back channel does not go through the gateway)".into(),
            };
            ("the code", cause)
        }
        Stage::TokenIssued => (
            "the token response",
            "the tokens were issued but ⟨app⟩ never called userinfo: it rejected the ID token (see IDT-* findings)".into(),
        ),
        _ => ("discovery", "nothing followed".into()),
    }
}
