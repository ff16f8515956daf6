//! The checks that passed on an exchange ("state ✓", "signature ✓ RS256 …"): shown under it
//! because they rule causes out. A check passes only when it was made and no finding
//! contradicts it (matched by rule id, never by a prefix of one).

use std::fmt;

use serde::{Serialize, Serializer};

use super::{Finding, RuleId};
use crate::oidc::Decoded;
use crate::oidc::flow::Flow;
use crate::redact::fp_of;
use crate::verify::SigOutcome;

/// One check that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The state returned is the state sent.
    State,
    /// How long after issue the code was redeemed.
    CodeAge {
        ms: u64,
    },
    /// The ID token's signature verified with a JWKS key.
    Signature {
        alg: String,
        kid: Option<String>,
        key_from: String,
    },
    /// The signature of an ID token that came before any JWKS, checked when this one passed.
    SignatureOf {
        exchange: u64,
        alg: String,
        kid: Option<String>,
        key_from: String,
    },
    /// The HS* MAC verified with the client secret.
    Mac {
        alg: String,
        secret_from: String,
    },
    Nonce,
    Iss,
    Aud,
    Exp,
    /// Userinfo's sub is the ID token's.
    SubMatchesIdToken,
    /// A check the live run made, carried in the trace (no longer re-checkable).
    Live(String),
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::State => f.write_str("state ✓"),
            Check::CodeAge { ms } => write!(f, "code redeemed {:.2} s after issue", *ms as f64 / 1000.0),
            Check::Signature { alg, kid, key_from } => write!(
                f,
                "signature ✓ {alg}{} (keys from {key_from})",
                kid.as_deref().map(|k| format!(" kid {k}")).unwrap_or_default()
            ),
            Check::SignatureOf { exchange, alg, kid, key_from } => write!(
                f,
                "signature ✓ {alg}{} of the ID token in exchange {exchange} (keys from {key_from})",
                kid.as_deref().map(|k| format!(" kid {k}")).unwrap_or_default()
            ),
            Check::Mac { alg, secret_from } => write!(f, "{alg} MAC ✓ (client secret from {secret_from})"),
            Check::Nonce => f.write_str("nonce ✓"),
            Check::Iss => f.write_str("iss ✓"),
            Check::Aud => f.write_str("aud ✓"),
            Check::Exp => f.write_str("exp ✓"),
            Check::SubMatchesIdToken => f.write_str("sub ✓ = ID token"),
            Check::Live(text) => f.write_str(text),
        }
    }
}

/// The journal keeps the console's words.
impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The checks that passed, for the console's second line (only those no finding contradicts).
pub fn passed_checks(
    d: &Decoded,
    flow: Option<&Flow>,
    sig: Option<&SigOutcome>,
    now: u64,
    findings: &[Finding],
) -> Vec<Check> {
    let failed = |rules: &[RuleId]| findings.iter().any(|f| rules.contains(&f.rule));
    let mut v = vec![];
    let authorize =
        d.authorize.as_ref().or_else(|| flow.and_then(|f| f.authorize.as_ref().map(|s| &s.value)));
    if let (Some(r), Some(a)) = (&d.authorization_response, authorize)
        && let (Some(s1), Some(s2)) = (&r.state, &a.state)
        && fp_of(s1) == fp_of(s2)
    {
        v.push(Check::State);
    }
    if d.token_request.is_some()
        && let Some(issued) = flow.and_then(|f| f.auth_response.as_ref()).map(|s| s.ts)
    {
        v.push(Check::CodeAge { ms: now.saturating_sub(issued) });
    }
    match sig {
        Some(SigOutcome::Verified { alg, kid, key_from }) => {
            v.push(Check::Signature { alg: alg.clone(), kid: kid.clone(), key_from: key_from.clone() })
        }
        Some(SigOutcome::VerifiedWithSecret { alg, secret_from }) => {
            v.push(Check::Mac { alg: alg.clone(), secret_from: secret_from.clone() })
        }
        _ => {}
    }
    if let Some(j) = d.token_response.as_ref().and_then(|t| t.id_token_decoded.as_ref()) {
        if let (Some(n), Some(a)) = (j.claim_str("nonce"), authorize.and_then(|a| a.nonce.as_deref()))
            && fp_of(n) == fp_of(a)
        {
            v.push(Check::Nonce);
        }
        if j.claim_str("iss").is_some() && !failed(&[RuleId::IdtIssMismatch, RuleId::ConfigIssuerMismatch]) {
            v.push(Check::Iss);
        }
        if !j.audiences().is_empty() && !failed(&[RuleId::IdtAudMismatch]) {
            v.push(Check::Aud);
        }
        if j.claim_time("exp").is_some() && !failed(&[RuleId::IdtExpired]) {
            v.push(Check::Exp);
        }
    }
    if let (Some(c), Some(idt)) =
        (d.userinfo_response.as_ref().and_then(|u| u.claims.as_ref()), flow.and_then(|f| f.id_token.as_ref()))
        && c.get("sub").and_then(|s| s.as_str()).is_some_and(|s| Some(s) == idt.value.claim_str("sub"))
    {
        v.push(Check::SubMatchesIdToken);
    }
    v
}
