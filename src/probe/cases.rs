//! The bad answers `probe-rp` serves, one per login, each one a relying party must refuse (and
//! one clean login as the control). Names follow the demo's faults; the OpenID Foundation
//! conformance suite's RP test names are kept as aliases. The names are a contract
//! (`--case NAME`, `--list-cases`, the `RP-ACCEPTS-*` rule ids).

use serde_json::json;

use crate::demo::provider::{NonceMode, Signing, StateTamper};
use crate::demo::rig::Scenario;
use crate::rules::RuleId;

/// What the relying party must do with a case's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Refuse it: accepting is a finding.
    Reject,
    /// Sign the user in (the control).
    Accept,
    /// Either is conformant (the suite lets an RP try every key when the token has no kid).
    Either,
}

/// One login's bad answer.
pub struct Case {
    pub name: &'static str,
    /// The conformance suite's test name, when it has one.
    pub alias: Option<&'static str>,
    /// What refusing it proves about the relying party.
    pub proves: &'static str,
    pub expect: Expect,
    /// The finding raised when the relying party accepts it.
    pub accepted: Option<RuleId>,
    /// The relying party can only judge it after calling userinfo (a userinfo call is then no
    /// sign of acceptance).
    pub after_userinfo: bool,
    apply: fn(&mut Scenario),
}

impl Case {
    /// Breaks the embedded provider's answer for this login.
    pub fn apply(&self, sc: &mut Scenario) {
        (self.apply)(sc)
    }

    /// `name (alias)`.
    pub fn label(&self) -> String {
        match self.alias {
            Some(a) => format!("{} ({a})", self.name),
            None => self.name.to_owned(),
        }
    }
}

const fn case(
    name: &'static str,
    alias: Option<&'static str>,
    proves: &'static str,
    accepted: RuleId,
    apply: fn(&mut Scenario),
) -> Case {
    Case {
        name,
        alias,
        proves,
        expect: Expect::Reject,
        accepted: Some(accepted),
        after_userinfo: false,
        apply,
    }
}

/// Every case, the control first.
pub const CASES: &[Case] = &[
    Case {
        name: "clean",
        alias: None,
        proves: "the control: a correct login is accepted (else no other verdict means anything)",
        expect: Expect::Accept,
        accepted: None,
        after_userinfo: false,
        apply: |_| {},
    },
    case(
        "bad-sig",
        Some("rp-id_token-bad-sig-rs256"),
        "the ID token's signature is checked: one made with a key the JWKS does not publish is refused",
        RuleId::RpAcceptsBadSig,
        |s| {
            let f = &mut s.provider.faults;
            f.signing = Signing::Rs256Rotated;
            f.id_token_kid = Some("demo-rsa-a".into());
            f.jwks_publish = Some(vec![Signing::Rs256]);
        },
    ),
    case(
        "alg-none",
        Some("rp-id_token-sig-none"),
        "an unsigned ID token (alg none) is refused",
        RuleId::RpAcceptsAlgNone,
        |s| {
            s.provider.faults.signing = Signing::None;
            s.provider.faults.jwks_publish = Some(vec![Signing::Rs256]);
            s.provider.faults.advertised_algs = Some(vec!["RS256".into()]);
        },
    ),
    case(
        "hs256-client-secret",
        None,
        "an HS256 token MACed with the client secret is refused when discovery announces RS256",
        RuleId::RpAcceptsHs256ClientSecret,
        |s| {
            s.provider.faults.signing = Signing::Hs256;
            s.provider.faults.jwks_publish = Some(vec![Signing::Rs256]);
            s.provider.faults.advertised_algs = Some(vec!["RS256".into()]);
        },
    ),
    case(
        "issuer-mismatch",
        Some("rp-id_token-issuer-mismatch"),
        "the ID token's iss is compared with the issuer",
        RuleId::RpAcceptsIssuerMismatch,
        |s| s.provider.faults.id_token_iss = Some("https://evil.test/application/o/mastodon/".into()),
    ),
    case(
        "aud",
        Some("rp-id_token-aud"),
        "the ID token's aud must contain this client: a token for another client is refused",
        RuleId::RpAcceptsAud,
        |s| s.provider.faults.id_token_aud = Some(json!("another-client")),
    ),
    case(
        "sub-missing",
        Some("rp-id_token-sub"),
        "an ID token without sub is refused",
        RuleId::RpAcceptsSubMissing,
        |s| s.provider.faults.drop_claims = vec!["sub".into()],
    ),
    case(
        "iat-missing",
        Some("rp-id_token-iat"),
        "an ID token without iat is refused",
        RuleId::RpAcceptsIatMissing,
        |s| s.provider.faults.drop_claims = vec!["iat".into()],
    ),
    case(
        "expired",
        None,
        "an ID token that expired 10 minutes ago is refused",
        RuleId::RpAcceptsExpired,
        |s| s.provider.faults.exp_offset_s = Some(-600),
    ),
    Case {
        name: "kid-absent",
        alias: Some("rp-id_token-kid-absent-multiple-jwks"),
        proves: "a token without kid and a JWKS of several keys: refuse, or try every key (both conformant)",
        expect: Expect::Either,
        accepted: None,
        after_userinfo: false,
        apply: |s| {
            s.provider.faults.no_kid = true;
            s.provider.faults.jwks_publish = Some(vec![Signing::Rs256Rotated, Signing::Rs256]);
        },
    },
    case(
        "nonce-invalid",
        Some("rp-nonce-invalid"),
        "the ID token's nonce is compared with the one this login sent",
        RuleId::RpAcceptsNonceInvalid,
        |s| s.provider.faults.nonce = NonceMode::Wrong,
    ),
    case(
        "nonce-missing",
        None,
        "an ID token without the nonce this login sent is refused",
        RuleId::RpAcceptsNonceMissing,
        |s| s.provider.faults.nonce = NonceMode::Omit,
    ),
    Case {
        after_userinfo: true,
        ..case(
            "userinfo-bad-sub",
            Some("rp-userinfo-bad-sub-claim"),
            "userinfo's sub is compared with the ID token's: another user's answer is not used",
            RuleId::RpAcceptsUserinfoBadSub,
            |s| {
                s.provider.faults.userinfo_claims.insert("sub".into(), json!("someone-else"));
                s.provider.faults.userinfo_claims.insert("preferred_username".into(), json!("mallory"));
            },
        )
    },
    case(
        "state-altered",
        None,
        "the state coming back is compared with the one this browser's session sent (CSRF)",
        RuleId::RpAcceptsStateAltered,
        |s| s.provider.faults.state_tamper = Some(StateTamper::Suffix),
    ),
    case(
        "iss-param",
        None,
        "the authorization response's iss (RFC 9207) names this issuer: a response from another is refused",
        RuleId::RpAcceptsIssParam,
        |s| {
            s.provider.faults.iss_param = Some("https://evil.test/application/o/mastodon/".into());
            s.provider
                .faults
                .discovery_set
                .insert("authorization_response_iss_parameter_supported".into(), json!(true));
        },
    ),
];

/// The case called `name` (or by its conformance alias).
pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name || c.alias == Some(name))
}

/// `--list-cases`: one line per case.
pub fn listing() -> String {
    let width = CASES.iter().map(|c| c.label().len()).max().unwrap_or(0);
    CASES.iter().map(|c| format!("{:<width$}  {}\n", c.label(), c.proves)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique_and_each_bad_case_has_its_rule() {
        let mut seen = std::collections::HashSet::new();
        for c in CASES {
            assert!(seen.insert(c.name), "{}", c.name);
            if let Some(a) = c.alias {
                assert!(seen.insert(a), "{a}");
            }
            assert_eq!(c.accepted.is_some(), c.expect == Expect::Reject, "{}", c.name);
            if let Some(r) = c.accepted {
                assert_eq!(r.as_str(), format!("RP-ACCEPTS-{}", c.name.to_uppercase()));
            }
        }
        assert_eq!(find("rp-id_token-aud").unwrap().name, "aud");
        assert!(find("nope").is_none());
    }
}
