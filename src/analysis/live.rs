//! What a trace carries of its live run that redaction leaves offline unable to re-derive
//! (a signature's verdict, a secret's comparison, a duplicated JSON member): the live run's
//! findings and checks, put back word for word.

use super::{Analyzer, Finding};
use crate::rules::passed::Check;

impl Analyzer {
    /// Findings whose evidence the redacted trace no longer holds (TOKEN-ERROR compares the
    /// secret sent with OIDC_CLIENT_SECRET; JSON-DUPLICATE-MEMBER reads the body as the wire
    /// had it): the live run's, word for word, in place of what offline derived.
    pub(super) fn carry_live(
        &self,
        exchange: u64,
        flow: Option<u64>,
        rule: crate::rules::RuleId,
        findings: &mut Vec<Finding>,
    ) {
        let Some(live) = self.live.get(&exchange) else { return };
        let carried: Vec<Finding> =
            live.findings.iter().filter_map(carried_finding).filter(|f| f.rule == rule).collect();
        if carried.is_empty() {
            return;
        }
        let at = findings.iter().position(|f| f.rule == rule);
        findings.retain(|f| f.rule != rule);
        let at = at.unwrap_or(findings.len());
        for (i, f) in carried.into_iter().enumerate() {
            let f = Finding { flow, exchange: Some(exchange), ..f };
            findings.insert(at + i, f);
        }
    }

    /// A signature the trace no longer holds: the live run's verdict carried in the trace (its
    /// passed check, marked "verified live, not re-checkable: redacted", or its findings word
    /// for word), so offline says what live said; a "not checked" note only when the trace
    /// carries no verdict.
    pub(super) fn checked_live(
        &self,
        exchange: u64,
        flow: Option<u64>,
        alg: &str,
        passed: &mut Vec<Check>,
        findings: &mut Vec<Finding>,
    ) {
        findings.retain(|f| f.rule != crate::rules::RuleId::IdtUnverifiable);
        let live = self.live.get(&exchange);
        let live_passed: Vec<&String> = live
            .map(|l| {
                l.passed.iter().filter(|p| p.starts_with("signature ✓") || p.contains("MAC ✓")).collect()
            })
            .unwrap_or_default();
        let live_findings: Vec<Finding> =
            live.map(|l| l.findings.iter().filter_map(carried_finding).collect()).unwrap_or_default();
        if live_passed.is_empty() && live_findings.is_empty() {
            // Nothing to carry: say once that it could not be checked, and how to keep it.
            let mut note = crate::rules::not_checked(
                crate::rules::RuleId::IdtUnverifiable,
                &format!(
                    "{alg} signature not re-checkable: redacted; no live verdict in the trace (record with --no-redact or --keep-signatures)"
                ),
                None,
            );
            note.flow = flow;
            note.exchange = Some(exchange);
            findings.push(note);
        }
        // The live verdict stands as it was (the same finding, word for word, or the passed
        // check marked as made live): offline says what live said.
        passed.extend(
            live_passed
                .into_iter()
                .map(|p| Check::Live(format!("{p} (verified live, not re-checkable: redacted)"))),
        );
        for f in live_findings {
            let f = Finding { flow, exchange: Some(exchange), ..f };
            // A finding whose words depend on the signature (IDT-SYMMETRIC-ALG names the MAC's
            // verdict) is the live one, in its place.
            match findings.iter_mut().find(|g| g.rule == f.rule) {
                Some(g) => *g = f,
                None => findings.push(f),
            }
        }
    }
}

/// A live finding carried in a trace that redaction leaves offline unable to re-derive (a
/// signature's verdict, a secret's comparison), rebuilt as it was.
fn carried_finding(v: &serde_json::Value) -> Option<Finding> {
    use crate::rules::RuleId;
    let rule = RuleId::parse(v.get("rule")?.as_str()?)?;
    if !matches!(
        rule,
        RuleId::IdtSignatureInvalid
            | RuleId::TokenError
            | RuleId::JsonDuplicateMember
            | RuleId::IdtSymmetricAlg
            | RuleId::IdtKidUnknown
            | RuleId::IdtKidAmbiguous
            | RuleId::IdtUnverifiable
    ) {
        return None;
    }
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let mut f = Finding::new(rule, text("message").unwrap_or_default());
    f.field = text("field");
    f.expected = text("expected");
    f.seen = text("seen");
    f.why = text("why").unwrap_or_default();
    if let Some(fix) = text("fix") {
        f.fix = fix;
    }
    f.mastodon = text("mastodon");
    if let Some(s) = v.get("severity").and_then(|s| s.as_str()) {
        f.severity = match s {
            "error" => crate::rules::Severity::Error,
            "warning" => crate::rules::Severity::Warning,
            _ => crate::rules::Severity::Info,
        };
    }
    // Not re-checked now: never let a carried "not checked yet" note be mistaken for a verdict.
    (!v.get("not_checked").and_then(|x| x.as_bool()).unwrap_or(false)).then_some(f)
}
