//! One cause, one finding: a finding that is the consequence of another one raised in the
//! same login says `follows from <CAUSE>` instead of repeating its evidence and fix. The pairs
//! are the deployment's real chains (`mastodon-authentik.md`): an http:// issuer makes every
//! issuer comparison fail and Mastodon give up; a redirect_uri Mastodon cannot serve is what
//! authentik refuses; a client_id Mastodon was not restarted with is the ID token's audience.

use super::{Finding, RuleId, Severity};

/// Consequence → its possible causes, most fundamental first.
const FOLLOWS: &[(RuleId, &[RuleId])] = &[
    (RuleId::DiscIssuerMismatch, &[RuleId::DiscInsecureEndpoint]),
    (RuleId::AuthzRedirectUriRejected, &[RuleId::ConfigRedirectUriMismatch, RuleId::AuthzMissingParam]),
    (RuleId::IdtAudMismatch, &[RuleId::ConfigClientIdMismatch]),
    (RuleId::UserinfoError, &[RuleId::AuthzNoOpenidScope, RuleId::TokenScopeDropped]),
    // authentik answers invalid_grant (or invalid_client for a changed redirect_uri) to each.
    (
        RuleId::TokenError,
        &[
            RuleId::TokenRedirectUriChanged,
            RuleId::TokenCodeReused,
            RuleId::TokenCodeSlow,
            RuleId::TokenPkceMismatch,
            RuleId::TokenCodeUnknown,
        ],
    ),
    (RuleId::TokenNoIdToken, &[RuleId::AuthzNoOpenidScope, RuleId::TokenScopeDropped]),
    // The host discovery named is the one the gateway cannot reach.
    (RuleId::GatewayUpstreamFailed, &[RuleId::DiscEndpointAuthority]),
    // A claim authentik leaves out because its scope was not requested or not mapped.
    (RuleId::MastodonUidClaimMissing, &[RuleId::TokenScopeDropped, RuleId::ConfigScope]),
    (RuleId::MastodonEmailMissing, &[RuleId::ConfigScope, RuleId::TokenScopeDropped]),
    (
        RuleId::FlowAbandoned,
        &[
            RuleId::DiscInsecureEndpoint,
            RuleId::ConfigIssuerMismatch,
            RuleId::DiscIssuerMismatch,
            RuleId::ConfigIssuerShape,
        ],
    ),
    (RuleId::FlowIncomplete, &[RuleId::ConfigRedirectUriMismatch]),
];

/// Links each finding of `batch` to the cause raised before it in its login (`earlier`, the
/// rule ids at warning or error so far) or beside it in the batch.
///
/// A login that stopped (FLOW-ABANDONED, FLOW-INCOMPLETE) without one of its named causes
/// follows from the first error its login raised: that error is why it stopped.
pub fn link(batch: &mut [Finding], earlier: &[(RuleId, Severity)]) {
    let here: Vec<(RuleId, Severity)> =
        batch.iter().filter(|f| counts(f)).map(|f| (f.rule, f.severity)).collect();
    let raised = |c: &RuleId| earlier.iter().chain(&here).any(|(r, _)| r == c);
    let first_error =
        earlier.iter().chain(&here).find(|(r, s)| *s == Severity::Error && !is_flow(*r)).map(|(r, _)| *r);
    for f in batch.iter_mut() {
        if f.follows.is_some() || !counts(f) {
            continue;
        }
        let named = FOLLOWS
            .iter()
            .find(|(c, _)| *c == f.rule)
            .and_then(|(_, causes)| causes.iter().copied().find(raised));
        let cause = named.or(if is_flow(f.rule) { first_error } else { None });
        if let Some(cause) = cause.filter(|c| *c != f.rule) {
            *f = f.clone().follow(cause);
        }
    }
    // Causes first: a consequence is read after what it follows from.
    batch.sort_by_key(|f| f.follows.is_some());
}

/// The rules about a whole login rather than one step.
fn is_flow(r: RuleId) -> bool {
    matches!(r, RuleId::FlowAbandoned | RuleId::FlowIncomplete)
}

/// Whether a finding can be a cause or have one: a verdict at warning or error.
pub fn counts(f: &Finding) -> bool {
    !f.not_checked && f.severity >= super::Severity::Warning
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consequence_names_its_cause_and_drops_the_repeated_fix() {
        let mut batch = vec![
            Finding::new(RuleId::DiscInsecureEndpoint, "http").evidence("https://a/", "http://a/"),
            Finding::new(RuleId::DiscIssuerMismatch, "issuer").evidence("https://a/", "http://a/").fix("x"),
        ];
        link(&mut batch, &[]);
        assert_eq!(batch[0].follows, None);
        assert_eq!(batch[1].follows, Some(RuleId::DiscInsecureEndpoint));
        assert_eq!(batch[1].why, "follows from DISC-INSECURE-ENDPOINT");
        assert!(batch[1].fix.is_empty() && batch[1].expected.is_none());
        // Across exchanges: the login's earlier findings.
        let mut later = vec![Finding::new(RuleId::FlowAbandoned, "gave up")];
        link(&mut later, &[(RuleId::ConfigIssuerMismatch, Severity::Error)]);
        assert_eq!(later[0].follows, Some(RuleId::ConfigIssuerMismatch));
        // A login that stopped follows from the first error of its login.
        let mut stopped = vec![Finding::new(RuleId::FlowIncomplete, "stopped")];
        link(
            &mut stopped,
            &[(RuleId::AuthzPkcePlain, Severity::Warning), (RuleId::IdtAudMismatch, Severity::Error)],
        );
        assert_eq!(stopped[0].follows, Some(RuleId::IdtAudMismatch));
        // No cause raised: the finding stands on its own.
        let mut alone = vec![Finding::new(RuleId::FlowAbandoned, "gave up")];
        link(&mut alone, &[(RuleId::AuthzPkcePlain, Severity::Warning)]);
        assert_eq!(alone[0].follows, None);
        let mut alone = vec![Finding::new(RuleId::UserinfoError, "403")];
        link(&mut alone, &[(RuleId::TokenError, Severity::Error)]);
        assert_eq!(alone[0].follows, None);
        // authentik's invalid_grant to a replayed code is the replay, not a second problem.
        let mut replay = vec![
            Finding::new(RuleId::TokenCodeReused, "again"),
            Finding::new(RuleId::TokenError, "invalid_grant").fix("redeem the code once"),
        ];
        link(&mut replay, &[]);
        assert_eq!((replay[1].follows, replay[1].fix.as_str()), (Some(RuleId::TokenCodeReused), ""));
    }
}
