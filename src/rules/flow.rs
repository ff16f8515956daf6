//! Rules over a whole login, run when it ends without completing.

use super::{Finding, RuleId, Severity};
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
                    "OIDC_ISSUER ({want}) is not the discovered issuer ({d}): Mastodon said “Issuer mismatch”"
                )),
                (None, Some(d)) => causes.push(format!(
                    "first of all an issuer mismatch: OIDC_ISSUER must be exactly {d}{}",
                    if d.ends_with('/') { " (trailing slash included)" } else { "" }
                )),
                _ => {}
            }
            causes.push("Content-Security-Policy form-action (OMNIAUTH_ONLY + ONE_CLICK_SSO_LOGIN) blocking the redirect in Chromium".into());
            causes.push("Mastodon not trusting the gateway's certificate for a later call, or a discovery field it requires missing".into());
            let mut finding = base(
                RuleId::FlowAbandoned,
                "discovery was fetched, then nothing: Mastodon gave up before redirecting to authentik"
                    .into(),
            )
            .why(format!("likely causes: {}", causes.join("; ")));
            if issuer_ok {
                finding = finding
                    .fix("OIDC_ISSUER matches the discovered issuer: read Mastodon's log line `Authentication failure!` and the browser console (CSP form-action) for the reason")
                    .mastodon("fails in the request phase");
            } else {
                finding = finding
                    .fix(match (&discovered, exp.issuer.as_ref().or(derived.as_ref())) {
                        (Some(d), Some(want)) if want != d => super::issuer_fix(want, d),
                        (Some(d), _) => format!(
                            "set OIDC_ISSUER={d} in .env.production{} and restart Mastodon",
                            if d.ends_with('/') { " (authentik's issuer ends with '/')" } else { "" }
                        ),
                        _ => "check OIDC_ISSUER".into(),
                    })
                    .mastodon("“Issuer mismatch” (most often), before the user ever sees authentik");
                if let (Some(d), Some(want)) = (&discovered, exp.issuer.as_ref().or(derived.as_ref()))
                    && d != want
                {
                    finding = finding.field("OIDC_ISSUER").evidence(d.clone(), want.clone());
                }
            }
            if f.rp.as_ref().is_some_and(|r| r.value.failed) {
                finding = finding.severity(Severity::Error);
            }
            Some(finding)
        }
        Some(Outcome::Incomplete) => {
            let (at, cause) = match f.stage {
                Stage::Authorizing => (
                    "the authorize request",
                    "no code came back: the user stopped at authentik's login or consent page, or a policy denied access",
                ),
                Stage::CodeIssued => (
                    "the code",
                    "the code was never redeemed: the browser did not reach Mastodon's callback (CSP, cookie, redirect URI host), or Mastodon failed before its token request",
                ),
                Stage::TokenIssued => (
                    "the token response",
                    "no userinfo call: Mastodon rejected the ID token (see IDT-* findings)",
                ),
                _ => ("discovery", "nothing followed"),
            };
            Some(
                base(RuleId::FlowIncomplete, format!("the login stopped after {at}"))
                    .seen(f.stage.as_str())
                    .why(cause),
            )
        }
        _ => None,
    }
}
