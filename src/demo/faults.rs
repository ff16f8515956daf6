//! Named demo faults: each one breaks the demo deployment the way a real Mastodon + authentik
//! setup breaks (see the failure catalogue in `shared/reference/mastodon-authentik.md`), and
//! names the rule ids it raises (warnings and errors; an end-to-end test holds each list true).
//! The names are a contract (`oidc-tap demo --fault NAME`, `--list-faults`).

use serde_json::json;

use super::provider::{NonceMode, Signing, StateTamper};
use super::rig::Scenario;
use crate::rules::Severity::{self, Error as E, Warning as W};

/// One way to break a login.
pub struct Fault {
    pub name: &'static str,
    /// What it breaks, in the deployment's terms.
    pub what: &'static str,
    /// The rule ids it raises at warning or error, with their severity (an end-to-end test
    /// holds each list true).
    pub rules: &'static [(&'static str, Severity)],
    apply: fn(&mut Scenario),
}

const fn f(
    name: &'static str,
    what: &'static str,
    rules: &'static [(&'static str, Severity)],
    apply: fn(&mut Scenario),
) -> Fault {
    Fault { name, what, rules, apply }
}

/// Every fault, the original thirteen first (their names are kept).
pub const FAULTS: &[Fault] = &[
    f("clean", "a correctly configured login", &[], |_| {}),
    f(
        "issuer-trailing-slash",
        "OIDC_ISSUER lacks the trailing slash authentik's issuer has",
        &[("CONFIG-ISSUER-MISMATCH", E), ("FLOW-ABANDONED", W)],
        |s| s.rp.issuer = s.rp.issuer.trim_end_matches('/').to_owned(),
    ),
    f(
        "http-issuer",
        "authentik behind a TLS proxy that does not send X-Forwarded-Proto: every URL is http://",
        &[("DISC-INSECURE-ENDPOINT", E), ("DISC-ISSUER-MISMATCH", E), ("FLOW-ABANDONED", W)],
        |s| s.provider.faults.http_urls = true,
    ),
    f(
        "redirect-uri-mismatch",
        "OIDC_REDIRECT_URI has a trailing slash Mastodon's callback route does not: authentik refuses it",
        &[("CONFIG-REDIRECT-URI-MISMATCH", E), ("AUTHZ-REDIRECT-URI-REJECTED", E)],
        |s| s.rp.redirect_uri.push('/'),
    ),
    f(
        "wrong-client-secret",
        "OIDC_CLIENT_SECRET does not match the provider's client secret",
        &[("TOKEN-ERROR", E)],
        |s| s.rp.client_secret = "wrong-secret".into(),
    ),
    f(
        "missing-openid-scope",
        "the provider has no 'openid' scope mapping: userinfo answers 403",
        &[("TOKEN-SCOPE-DROPPED", E), ("USERINFO-ERROR", E)],
        |s| s.provider.faults.scope_drop = vec!["openid".into()],
    ),
    f(
        "hs256-no-signing-key",
        "no signing key selected in authentik: HS256 tokens, empty JWKS",
        &[("IDT-SYMMETRIC-ALG", W)],
        |s| s.provider.faults.signing = Signing::Hs256,
    ),
    f(
        "encrypted-id-token",
        "an encryption key is set on the provider: the ID token is a JWE",
        &[("IDT-ENCRYPTED", E)],
        |s| s.provider.faults.signing = Signing::Jwe,
    ),
    f(
        "nonce-mismatch",
        "the ID token carries another nonce than the authorize request",
        &[("IDT-NONCE-MISMATCH", E)],
        |s| s.provider.faults.nonce = NonceMode::Wrong,
    ),
    f(
        "email-unverified",
        "authentik ≥ 2025.10 default: email_verified is false",
        &[("MASTODON-EMAIL-UNVERIFIED", W)],
        |s| {
            s.provider.faults.claims.insert("email_verified".into(), json!(false));
        },
    ),
    f(
        "uid-claim-missing",
        "OIDC_UID_FIELD names a claim authentik never sends",
        &[("MASTODON-UID-CLAIM-MISSING", W)],
        |s| s.rp.uid_field = "username".into(),
    ),
    f(
        "expired-id-token",
        "the ID token is already expired when it arrives (clock skew)",
        &[("IDT-EXPIRED", E)],
        |s| s.provider.faults.exp_offset_s = Some(-120),
    ),
    f(
        "tampered-signature",
        "the ID token's payload was changed after signing",
        &[("IDT-SIGNATURE-INVALID", E)],
        |s| s.provider.faults.tamper_signature = true,
    ),
    f(
        "state-altered",
        "a proxy between authentik and the browser changes the state in authentik's flow redirect",
        &[("AUTHZ-STATE-MISMATCH", E)],
        |s| {
            s.provider.faults.executor = true;
            s.provider.faults.flow_stages = true;
            s.provider.faults.state_tamper = Some(StateTamper::Suffix);
        },
    ),
    f(
        "wrong-aud",
        "a scope mapping overrides aud: the ID token is for another client",
        &[("IDT-AUD-MISMATCH", E)],
        |s| s.provider.faults.id_token_aud = Some(json!("another-client")),
    ),
    f(
        "wrong-iss",
        "the ID token's iss is built from an http:// token request",
        &[("IDT-ISS-MISMATCH", E)],
        |s| s.provider.faults.id_token_iss = Some(s.rp.issuer.replacen("https://", "http://", 1)),
    ),
    f(
        "iss-no-slash",
        "alias of issuer-trailing-slash: OIDC_ISSUER without authentik's trailing slash",
        &[("CONFIG-ISSUER-MISMATCH", E), ("FLOW-ABANDONED", W)],
        |s| s.rp.issuer = s.rp.issuer.trim_end_matches('/').to_owned(),
    ),
    f(
        "discovery-issuer-no-slash",
        "discovery announces the issuer without its trailing slash (a proxy rewriting the document)",
        &[("CONFIG-ISSUER-MISMATCH", E), ("FLOW-ABANDONED", W)],
        |s| s.provider.faults.discovery_issuer = Some(s.rp.issuer.trim_end_matches('/').to_owned()),
    ),
    f(
        "http-endpoints",
        "alias of http-issuer: every URL authentik builds is http://",
        &[("DISC-INSECURE-ENDPOINT", E), ("DISC-ISSUER-MISMATCH", E), ("FLOW-ABANDONED", W)],
        |s| s.provider.faults.http_urls = true,
    ),
    f("expired", "alias of expired-id-token", &[("IDT-EXPIRED", E)], |s| {
        s.provider.faults.exp_offset_s = Some(-120)
    }),
    f(
        "iat-future",
        "authentik's clock runs 10 minutes ahead: iat is in the future",
        &[("IDT-IAT-FUTURE", W)],
        |s| s.provider.faults.iat_offset_s = 600,
    ),
    f("nbf-future", "the ID token is not valid before 10 minutes from now", &[("IDT-NBF-FUTURE", W)], |s| {
        s.provider.faults.nbf_offset_s = Some(600)
    }),
    f("nonce-missing", "the ID token has no nonce although one was sent", &[("IDT-NONCE-MISSING", E)], |s| {
        s.provider.faults.nonce = NonceMode::Omit
    }),
    f("nonce-altered", "alias of nonce-mismatch", &[("IDT-NONCE-MISMATCH", E)], |s| {
        s.provider.faults.nonce = NonceMode::Wrong
    }),
    f(
        "unknown-kid",
        "the ID token names a key the JWKS does not publish (a rotated key)",
        &[("IDT-KID-UNKNOWN", E)],
        |s| s.provider.faults.id_token_kid = Some("rotated-away".into()),
    ),
    f(
        "wrong-key",
        "alias of tampered-signature: the signature does not verify",
        &[("IDT-SIGNATURE-INVALID", E)],
        |s| s.provider.faults.tamper_signature = true,
    ),
    f("alg-none", "no signing key at all: an unsigned ID token (alg none)", &[("IDT-ALG-NONE", E)], |s| {
        s.provider.faults.signing = Signing::None
    }),
    f("hs256", "alias of hs256-no-signing-key", &[("IDT-SYMMETRIC-ALG", W)], |s| {
        s.provider.faults.signing = Signing::Hs256
    }),
    f("jwe", "alias of encrypted-id-token", &[("IDT-ENCRYPTED", E)], |s| {
        s.provider.faults.signing = Signing::Jwe
    }),
    f(
        "redirect-uri-rejected",
        "alias of redirect-uri-mismatch: authentik's Redirect URI Error page",
        &[("CONFIG-REDIRECT-URI-MISMATCH", E), ("AUTHZ-REDIRECT-URI-REJECTED", E)],
        |s| s.rp.redirect_uri.push('/'),
    ),
    f(
        "redirect-uri-changed",
        "the token request sends another redirect_uri than the authorize request",
        &[("TOKEN-REDIRECT-URI-CHANGED", E), ("TOKEN-ERROR", E)],
        |s| s.rp.quirks.token_redirect_uri = Some("https://mastodon.test/other/callback".into()),
    ),
    f(
        "userinfo-sub-mismatch",
        "a scope mapping overrides sub in userinfo",
        &[("USERINFO-SUB-MISMATCH", E)],
        |s| {
            s.provider.faults.userinfo_claims.insert("sub".into(), json!("someone-else"));
        },
    ),
    f(
        "missing-preferred-username",
        "the profile scope is not mapped: no preferred_username, Mastodon falls back to sub",
        &[("TOKEN-SCOPE-DROPPED", W), ("MASTODON-UID-CLAIM-MISSING", W)],
        |s| s.provider.faults.scope_drop = vec!["profile".into()],
    ),
    f("invalid-grant", "the token endpoint answers invalid_grant", &[("TOKEN-ERROR", E)], |s| {
        s.provider.faults.token_error = Some("invalid_grant".into())
    }),
    f(
        "invalid-client",
        "alias of wrong-client-secret: the token endpoint answers invalid_client",
        &[("TOKEN-ERROR", E)],
        |s| s.rp.client_secret = "wrong-secret".into(),
    ),
    f(
        "insufficient-scope",
        "alias of missing-openid-scope: userinfo answers 403 insufficient_scope",
        &[("TOKEN-SCOPE-DROPPED", E), ("USERINFO-ERROR", E)],
        |s| s.provider.faults.scope_drop = vec!["openid".into()],
    ),
    f(
        "code-reused",
        "the callback is replayed: the same code is redeemed twice",
        &[("TOKEN-CODE-REUSED", E), ("TOKEN-ERROR", E)],
        |s| s.rp.quirks.redeem_twice = true,
    ),
    f(
        "slow-code",
        "Mastodon redeems the code after authentik's code lifetime",
        &[("TOKEN-CODE-SLOW", E), ("TOKEN-ERROR", E)],
        |s| {
            s.provider.faults.code_lifetime_s = Some(0);
            s.rp.quirks.token_delay_ms = 1100;
        },
    ),
    f(
        "backchannel-redirect",
        "the token endpoint is configured without its trailing slash: Django answers 301",
        &[("BACKCHANNEL-REDIRECT", E)],
        |s| s.provider.faults.token_endpoint_no_slash = true,
    ),
    f(
        "at-hash-mismatch",
        "the ID token's at_hash does not match the access token",
        &[("IDT-AT-HASH-MISMATCH", W)],
        |s| s.provider.faults.bad_at_hash = true,
    ),
    f("azp-mismatch", "a scope mapping sets azp to another client", &[("IDT-AZP-MISMATCH", W)], |s| {
        s.provider.faults.id_token_azp = Some("another-client".into())
    }),
    f(
        "pkce-mismatch",
        "the PKCE verifier does not belong to the challenge (a second tab)",
        &[("TOKEN-PKCE-MISMATCH", E), ("TOKEN-ERROR", E)],
        |s| {
            s.rp.pkce = true;
            s.rp.quirks.pkce_bad_verifier = true;
        },
    ),
    f(
        "code-altered",
        "a proxy changes the code on its way to the token request",
        &[("TOKEN-CODE-UNKNOWN", E), ("TOKEN-ERROR", E)],
        |s| s.rp.quirks.code_tamper = true,
    ),
    f(
        "alg-unadvertised",
        "discovery advertises ES256, the ID token is RS256",
        &[("IDT-ALG-UNADVERTISED", W)],
        |s| s.provider.faults.advertised_algs = Some(vec!["ES256".into()]),
    ),
    f("duplicate-kid", "the JWKS lists two keys under one kid", &[("IDT-KID-AMBIGUOUS", W)], |s| {
        s.provider.faults.duplicate_kid = true
    }),
    f(
        "es512",
        "a P-521 signing key: the signature cannot be checked here",
        &[("IDT-UNVERIFIABLE", W)],
        |s| s.provider.faults.signing = Signing::Es512,
    ),
    f("missing-claim", "a scope mapping removes iat from the ID token", &[("IDT-MISSING-CLAIM", E)], |s| {
        s.provider.faults.drop_claims = vec!["iat".into()]
    }),
    f("claim-type", "a scope mapping returns iss as a number", &[("IDT-CLAIM-TYPE", E)], |s| {
        s.provider.faults.claims.insert("iss".into(), json!(123));
    }),
    f("no-id-token", "the token response has no id_token", &[("TOKEN-NO-ID-TOKEN", E)], |s| {
        s.provider.faults.omit_id_token = true
    }),
    f("token-type", "the token response says token_type mac", &[("TOKEN-TYPE", E)], |s| {
        s.provider.faults.token_type = Some("mac".into())
    }),
    f("email-missing", "the user has no email in authentik", &[("MASTODON-EMAIL-MISSING", E)], |s| {
        s.provider.faults.claims.insert("email".into(), json!(""));
    }),
    f("clock-skew", "authentik's clock is 5 minutes ahead (Date header)", &[("CLOCK-SKEW", E)], |s| {
        s.provider.faults.date_skew_s = 300
    }),
    f(
        "authorize-denied",
        "a policy denies the user: the authorize response carries error=access_denied",
        &[("AUTHZ-ERROR", E)],
        |s| s.provider.faults.authorize_error = Some("access_denied".into()),
    ),
    f(
        "discovery-404",
        "OIDC_ISSUER is the discovery URL: discovery answers 404",
        &[("DISC-FETCH-FAILED", E)],
        |s| s.rp.issuer = format!("{}.well-known/openid-configuration", s.rp.issuer),
    ),
    f(
        "discovery-field-missing",
        "a proxy drops jwks_uri from the discovery document",
        &[("DISC-MISSING-FIELD", E), ("FLOW-ABANDONED", W)],
        |s| s.provider.faults.discovery_drop = vec!["jwks_uri".into()],
    ),
    f("pkce-plain", "PKCE with the plain method", &[("AUTHZ-PKCE-PLAIN", W)], |s| {
        s.rp.pkce = true;
        s.rp.quirks.pkce_plain = true;
    }),
    f(
        "no-nonce",
        "OIDC_SEND_NONCE=false: no nonce in the authorize request",
        &[("AUTHZ-NO-NONCE", W)],
        |s| s.rp.quirks.omit_nonce = true,
    ),
    f(
        "gateway-upstream-down",
        "the gateway cannot reach authentik (a wrong --connect-to)",
        &[("GATEWAY-UPSTREAM-FAILED", E)],
        |s| s.gateway.authentik_unreachable = true,
    ),
    f(
        "endpoint-internal-host",
        "authentik builds endpoint URLs with an internal host name (a missing Host header on its proxy)",
        &[("DISC-ENDPOINT-AUTHORITY", W), ("GATEWAY-UPSTREAM-FAILED", E)],
        |s| s.provider.faults.endpoint_host = Some(super::rig::INTERNAL.into()),
    ),
    f(
        "discovery-field-type",
        "a proxy rewrites discovery: issuer is a number, jwks_uri a list",
        &[("DISC-FIELD-TYPE", E), ("FLOW-ABANDONED", W)],
        |s| {
            let d = &mut s.provider.faults.discovery_set;
            d.insert("issuer".into(), json!(123));
            d.insert("jwks_uri".into(), json!(["https://a/jwks/", "https://b/jwks/"]));
        },
    ),
    f(
        "scope-no-email",
        "OIDC_SCOPE=openid,profile: no e-mail for Mastodon's account",
        &[("CONFIG-SCOPE", W), ("MASTODON-EMAIL-MISSING", W)],
        |s| s.rp.scope = vec!["openid".into(), "profile".into()],
    ),
    f(
        "redirect-uri-empty",
        "OIDC_REDIRECT_URI is empty: the authorize request has no redirect_uri",
        &[("AUTHZ-MISSING-PARAM", E), ("AUTHZ-REDIRECT-URI-REJECTED", E)],
        |s| s.rp.redirect_uri = String::new(),
    ),
    f(
        "scope-no-openid",
        "OIDC_SCOPE without openid: a plain OAuth request",
        &[("AUTHZ-NO-OPENID-SCOPE", E), ("USERINFO-ERROR", E)],
        |s| s.rp.quirks.omit_openid = true,
    ),
    f(
        "no-state",
        "the authorize request carries no state (a client patched to drop it)",
        &[("AUTHZ-NO-STATE", W)],
        |s| s.rp.quirks.omit_state = true,
    ),
    f(
        "wrong-client-id",
        "OIDC_CLIENT_ID does not name an authentik provider: the Client ID Error page",
        &[("AUTHZ-CLIENT-REJECTED", E)],
        |s| s.rp.client_id = "wrongClientID".into(),
    ),
    f(
        "iss-param-mismatch",
        "the authorization response's iss names another issuer (RFC 9207)",
        &[("AUTHZ-ISS-MISMATCH", W)],
        |s| s.provider.faults.iss_param = Some("https://evil.test/".into()),
    ),
    f("id-token-malformed", "the token response's id_token is not a JWT", &[("IDT-MALFORMED", E)], |s| {
        s.provider.faults.id_token_raw = Some("not-a-jwt".into())
    }),
    f(
        "userinfo-email-conflict",
        "userinfo answers another e-mail than the ID token (a userinfo-only scope mapping)",
        &[("USERINFO-CLAIM-CONFLICT", W)],
        |s| {
            s.provider.faults.userinfo_claims.insert("email".into(), json!("other@example.test"));
        },
    ),
    f(
        "client-id-not-restarted",
        "OIDC_CLIENT_ID was changed in .env.production but Mastodon was not restarted: it still sends the old one",
        &[("CONFIG-CLIENT-ID-MISMATCH", E), ("IDT-AUD-MISMATCH", E)],
        |s| s.env.client_id = Some("newClientIDAfterRecreatingTheProvider".into()),
    ),
    f(
        "redirect-uri-slash-registered",
        "OIDC_REDIRECT_URI and authentik both have a trailing slash the callback route does not",
        &[("CONFIG-REDIRECT-URI-MISMATCH", E), ("FLOW-INCOMPLETE", W)],
        |s| {
            s.rp.redirect_uri.push('/');
            s.provider.redirect_uris.push(s.rp.redirect_uri.clone());
            s.env.redirect_uri_unset = true;
        },
    ),
];

/// The fault named `name`.
pub fn find(name: &str) -> Option<&'static Fault> {
    FAULTS.iter().find(|f| f.name == name)
}

/// Applies a named fault to a scenario (several can be applied to one).
pub fn apply(name: &str, sc: &mut Scenario) -> Result<(), String> {
    match find(name) {
        Some(f) => {
            (f.apply)(sc);
            Ok(())
        }
        None => {
            let names: Vec<&str> = FAULTS.iter().map(|f| f.name).collect();
            Err(format!("unknown demo fault {name:?}; known: {}", names.join(", ")))
        }
    }
}

/// Applies several faults to one scenario. Two faults that set the same thing differently
/// (two signing algorithms, two token errors) cannot share a login: that is an error naming
/// both, rather than one silently winning.
pub fn combine(names: &[String], sc: &mut Scenario) -> Result<(), String> {
    let faults: Vec<&Fault> = names
        .iter()
        .map(|n| apply(n, &mut sc.clone()).map(|_| find(n).expect("found")))
        .collect::<Result<_, _>>()?;
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            let (mut ab, mut ba) = (sc.clone(), sc.clone());
            (a.apply)(&mut ab);
            (b.apply)(&mut ab);
            (b.apply)(&mut ba);
            (a.apply)(&mut ba);
            for s in [&mut ab, &mut ba] {
                // Claims added by both are a union whatever the order they were added in.
                s.provider.faults.claims.sort_keys();
                s.provider.faults.userinfo_claims.sort_keys();
            }
            if format!("{ab:?}") != format!("{ba:?}") {
                return Err(format!(
                    "demo faults {:?} and {:?} change the same setting and cannot share one login",
                    a.name, b.name
                ));
            }
        }
    }
    faults.iter().for_each(|f| (f.apply)(sc));
    Ok(())
}

/// `demo --list-faults`: one line per fault — name, what it breaks, the rule ids it raises.
pub fn listing() -> String {
    let width = FAULTS.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for f in FAULTS {
        let rules: Vec<String> = f.rules.iter().map(|(id, sev)| format!("{id} ({})", sev.as_str())).collect();
        let rules = if rules.is_empty() { "(none)".to_owned() } else { rules.join(", ") };
        out.push_str(&format!("{:<width$}  {}  → {rules}\n", f.name, f.what));
    }
    out
}

/// The faults that reproduce `target` (rule ids a trace raised at warning or error): each
/// chosen fault raises only rules of the target, together they cover as much of it as demo
/// faults can, and they combine in one login. Also the target rules no fault can raise.
pub fn for_rules(target: &[&str]) -> (Vec<&'static Fault>, Vec<String>) {
    let mut chosen: Vec<&'static Fault> = vec![];
    let mut covered: Vec<&str> = vec![];
    loop {
        // Reversed: of equally good faults, the first in catalogue order wins (max_by_key
        // keeps the last).
        let best = FAULTS
            .iter()
            .rev()
            .filter(|f| !f.rules.is_empty() && f.rules.iter().all(|(r, _)| target.contains(r)))
            .filter(|f| {
                let names: Vec<String> =
                    chosen.iter().copied().chain([*f]).map(|c| c.name.to_owned()).collect();
                combine(&names, &mut Scenario::clean()).is_ok()
            })
            .map(|f| (f, f.rules.iter().filter(|(r, _)| !covered.contains(r)).count()))
            .filter(|(_, new)| *new > 0)
            .max_by_key(|(_, new)| *new);
        let Some((f, _)) = best else { break };
        covered.extend(f.rules.iter().map(|(r, _)| *r));
        chosen.push(f);
    }
    let missing = target.iter().filter(|r| !covered.contains(r)).map(|r| r.to_string()).collect();
    (chosen, missing)
}

/// The README's fault table (a test keeps the README equal to it).
pub fn markdown_table() -> String {
    let mut out = String::from("| fault | what it breaks | rule ids it raises |\n|---|---|---|\n");
    for f in FAULTS {
        let rules: Vec<String> =
            f.rules.iter().map(|(id, sev)| format!("`{id}` ({})", sev.as_str())).collect();
        let rules = if rules.is_empty() { "none".to_owned() } else { rules.join(", ") };
        out.push_str(&format!("| `{}` | {} | {rules} |\n", f.name, f.what.replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_rule_ids_exist() {
        for (i, f) in FAULTS.iter().enumerate() {
            assert!(FAULTS[i + 1..].iter().all(|g| g.name != f.name), "duplicate fault {}", f.name);
            for (r, _) in f.rules {
                assert!(crate::rules::RuleId::parse(r).is_some(), "{}: unknown rule id {r}", f.name);
            }
        }
    }

    #[test]
    fn faults_are_chosen_to_cover_a_traces_rules_without_raising_others() {
        let (chosen, missing) =
            for_rules(&["CONFIG-ISSUER-MISMATCH", "FLOW-ABANDONED", "IDT-AUD-MISMATCH", "LOGIN-X"]);
        let names: Vec<&str> = chosen.iter().map(|f| f.name).collect();
        assert_eq!(names, ["issuer-trailing-slash", "wrong-aud"]);
        assert_eq!(missing, ["LOGIN-X"]);
        assert!(for_rules(&[]).0.is_empty());
    }

    #[test]
    fn combining_conflicting_faults_is_refused_and_compatible_ones_apply_both() {
        let err = combine(&["hs256".into(), "jwe".into()], &mut Scenario::clean()).unwrap_err();
        assert_eq!(
            err,
            r#"demo faults "hs256" and "jwe" change the same setting and cannot share one login"#
        );
        let mut sc = Scenario::clean();
        combine(&["wrong-aud".into(), "email-unverified".into()], &mut sc).unwrap();
        assert_eq!(sc.provider.faults.id_token_aud, Some(json!("another-client")));
        assert_eq!(sc.provider.faults.claims.get("email_verified"), Some(&json!(false)));
        assert!(
            combine(&["nope".into()], &mut Scenario::clean())
                .unwrap_err()
                .starts_with("unknown demo fault \"nope\"")
        );
    }
}
