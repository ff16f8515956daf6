//! ID token validation as OIDC Core §3.1.3.7 lists it, plus what Mastodon's openid_connect gem
//! checks (exp with zero leeway, iss, nonce, aud — in that order) and the provider's clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{Ctx, Finding, RuleId, not_checked};
use crate::oidc::messages::ProblemAt;
use crate::redact::{fp_of, is_masked, shown};
use crate::timefmt::{human_duration, utc_datetime};
use crate::verify::SigOutcome;
use crate::verify::Unverifiable;

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(r) = &ctx.d.token_response else { return };
    let Some(raw) = &r.id_token else { return };
    // IDT-MALFORMED — RFC 7519 §7.2.
    let Some(j) = &r.id_token_decoded else {
        let why = ctx
            .d
            .problems
            .iter()
            .find(|p| p.at == ProblemAt::IdToken)
            .map(|p| p.message.clone())
            .unwrap_or_default();
        out.push(
            Finding::new(RuleId::IdtMalformed, "the id_token is not a decodable JWT")
                .field("token_response.id_token")
                .seen(format!("{} characters, {} segments", raw.len(), raw.split('.').count()))
                .why(why)
                .mastodon("“Invalid jws format”"),
        );
        return;
    };
    // IDT-ENCRYPTED — RFC 7516: Mastodon's strategy cannot decrypt.
    if j.is_jwe() {
        out.push(
            Finding::new(RuleId::IdtEncrypted, format!("the id_token is encrypted (JWE, alg {} enc {})", j.alg().unwrap_or("?"), j.header.get("enc").and_then(|v| v.as_str()).unwrap_or("?")))
                .field("token_response.id_token")
                .seen("5 segments (JWE)")
                .expected("3 segments (signed JWS)")
                .why("an Encryption Key is set on the authentik provider; ⟨app⟩'s OIDC strategy cannot decrypt ID tokens")
                .mastodon("“Invalid jws format. jws should include 3 segments.”"),
        );
        return;
    }
    let alg = j.alg().unwrap_or("").to_owned();
    let disc = ctx
        .flow
        .and_then(|f| f.discovery.as_ref())
        .map(|d| &d.value)
        .or_else(|| ctx.issuer.and_then(|i| ctx.book.by_issuer.get(i)));

    // IDT-ALG-NONE — Core §3.1.3.7 step 7 (an unsigned ID token is never acceptable here).
    if alg.eq_ignore_ascii_case("none") {
        out.push(
            Finding::new(RuleId::IdtAlgNone, "the id_token is unsigned (alg none)")
                .field("id_token.header.alg")
                .evidence("RS256", alg.clone())
                .why("an unsigned ID token can be forged by anyone on the path")
                .mastodon("rejects it (“JSON::JWS::UnexpectedAlgorithm”)"),
        );
    } else if let Some(d) = disc
        && !d.id_token_signing_alg_values_supported.is_empty()
        && !d.id_token_signing_alg_values_supported.iter().any(|a| a == &alg)
    {
        // IDT-ALG-UNADVERTISED — Discovery §3.
        out.push(
            Finding::new(
                RuleId::IdtAlgUnadvertised,
                format!(
                    "id_token signed with {alg}, discovery advertises {}",
                    d.id_token_signing_alg_values_supported.join(", ")
                ),
            )
            .field("id_token.header.alg")
            .evidence(d.id_token_signing_alg_values_supported.join(", "), alg.clone())
            .why("the signing key changed since discovery was served, or a cache serves an old document"),
        );
    }
    // IDT-SYMMETRIC-ALG — Core §10.1: HS* keyed with the client secret.
    if crate::verify::is_hmac(&alg) {
        let verdict = match ctx.sig {
            Some(SigOutcome::VerifiedWithSecret { secret_from, .. }) => {
                format!("MAC verified with the client secret from {secret_from}")
            }
            Some(SigOutcome::InvalidWithSecret { .. }) => "the MAC does not match the client secret".into(),
            Some(SigOutcome::Unverifiable {
                why: crate::verify::Unverifiable::SignatureRedacted, ..
            }) => "MAC not re-checkable: redacted".into(),
            _ => "MAC not checked (no client secret known)".into(),
        };
        out.push(
            Finding::new(RuleId::IdtSymmetricAlg, format!("{alg} id_token: no signing key is selected in authentik ({verdict})"))
                .field("id_token.header.alg")
                .evidence("RS256 (a signing key)", alg.clone())
                .why("without a signing key authentik signs with the client secret (JWKS is {}); ⟨app⟩ ≥ 4.2 copes, older versions fail with KidNotFound, and anyone holding the secret can mint tokens")
        );
    }
    if let Some(sig) = ctx.sig {
        out.extend(signature(sig, &alg, j.kid()));
    }

    // Claims — Core §2 and §3.1.3.7.
    for claim in ["iss", "sub", "aud", "exp", "iat"] {
        if !j.claims.contains_key(claim) {
            out.push(
                Finding::new(RuleId::IdtMissingClaim, format!("the id_token has no {claim}"))
                    .field(format!("id_token.{claim}"))
                    .why("OpenID Connect requires iss, sub, aud, exp and iat in every ID token")
                    .mastodon(match claim {
                        "exp" => "“Invalid ID token: Expired token”",
                        "iss" => "“Invalid ID token: Issuer does not match”",
                        "aud" => "“Invalid ID token: Audience does not match”",
                        _ => "may accept it (it does not check this claim)",
                    }),
            );
        }
    }
    claim_types(j, out);
    let now = (ctx.now_ms / 1000) as i64;
    // IDT-EXPIRED — step 9; Mastodon: exp > now, no leeway.
    if let Some(exp) = j.claim_time("exp")
        && exp <= now
    {
        out.push(
            Finding::new(RuleId::IdtExpired, format!("the id_token expired {} before it reached ⟨app⟩", human_duration(now - exp)))
                .field("id_token.exp")
                .evidence(format!("after {}", utc_datetime(now)), utc_datetime(exp))
                .why("⟨app⟩ rejects an ID token whose exp is not in the future, with zero leeway: clocks apart or a very short token validity")
                .mastodon("“Invalid ID token: Expired token”"),
        );
    }
    // IDT-IAT-FUTURE — step 10; IDT-NBF-FUTURE — RFC 7519 §4.1.5 (5 s of rounding allowed).
    for (claim, rule) in [("iat", RuleId::IdtIatFuture), ("nbf", RuleId::IdtNbfFuture)] {
        if let Some(t) = j.claim_time(claim)
            && t > now + 5
        {
            out.push(
                Finding::new(rule, format!("{claim} is {} in the future", human_duration(t - now)))
                    .field(format!("id_token.{claim}"))
                    .evidence(format!("≤ {}", utc_datetime(now)), utc_datetime(t))
                    .why("the provider's clock runs ahead of the gateway's; ⟨app⟩ ignores iat/nbf, stricter relying parties reject the token")
            );
        }
    }
    // IDT-ISS-MISMATCH — step 2; Mastodon compares with OIDC_ISSUER.
    let expected_iss = ctx.exp.issuer.as_deref().or(ctx.discovered_issuer());
    match (expected_iss, j.claim_str("iss")) {
        (Some(want), Some(iss)) if want != iss => out.push(
            Finding::new(RuleId::IdtIssMismatch, "the ID token's issuer differs from the expected issuer")
                .field("id_token.iss")
                .evidence(want, iss)
                .why("authentik builds iss from the token request ⟨app⟩ sends on its back channel (Host and X-Forwarded-Proto); if that request reached authentik differently from discovery, iss differs")
                .mastodon("“Invalid ID token: Issuer does not match”"),
        ),
        (None, Some(iss)) => out.push(not_checked(RuleId::IdtIssMismatch, "no discovery or ⟨issuer⟩ known for this login", Some(iss))),
        _ => {}
    }
    // IDT-NONCE-* — step 11.
    if let Some(sent) = ctx.authorize().and_then(|a| a.nonce.as_deref()) {
        match j.claim_str("nonce") {
            None => out.push(
                Finding::new(RuleId::IdtNonceMissing, "the authorize request sent a nonce, the ID token has none")
                    .field("id_token.nonce")
                    .evidence(shown("nonce", sent, super::EVIDENCE_MAX), "(none)")
                    .why("the provider must copy the nonce into the ID token so it can be bound to this login")
                    .mastodon("“Invalid ID Token: Nonce does not match”"),
            ),
            Some(n) if fp_of(n) != fp_of(sent) => out.push(
                Finding::new(RuleId::IdtNonceMismatch, "the ID token's nonce is not the one this login sent")
                    .field("id_token.nonce")
                    .evidence(shown("nonce", sent, super::EVIDENCE_MAX), shown("nonce", n, super::EVIDENCE_MAX))
                    .hint(super::diff::how_values_differ(sent, n, !is_masked(sent) && !is_masked(n)))
                    .why("the session's nonce was overwritten by a second login, a scope mapping emits its own nonce, or a code from another login was redeemed")
                    .mastodon("“Invalid ID Token: Nonce does not match”"),
            ),
            _ => {}
        }
    }
    // IDT-AUD-MISMATCH — step 3; IDT-AZP-MISMATCH — steps 4–5.
    let client_id = ctx.exp.client_id.as_deref().or(ctx.client_id());
    if let Some(cid) = client_id {
        let aud = j.audiences();
        if !aud.is_empty() && !aud.contains(&cid) {
            out.push(
                Finding::new(RuleId::IdtAudMismatch, "the ID token's audience does not contain the client_id")
                    .field("id_token.aud")
                    .evidence(cid, aud.join(", "))
                    .why("the token was issued to another client (wrong ⟨client_id⟩, or a scope mapping overriding aud)")
                    .mastodon("“Invalid ID token: Audience does not match”"),
            );
        }
        match j.claim_str("azp") {
            Some(azp) if azp != cid => out.push(
                Finding::new(RuleId::IdtAzpMismatch, "azp is not the client_id")
                    .field("id_token.azp")
                    .evidence(cid, azp)
                    .why("the authorized party must be this client; ⟨app⟩ does not check it, stricter relying parties reject the token")
                    .fix("remove scope mappings that set azp"),
            ),
            None if aud.len() > 1 => out.push(
                Finding::new(RuleId::IdtAzpMismatch, "several audiences but no azp")
                    .field("id_token.azp")
                    .evidence(cid, "(none)")
                    .why("with more than one audience OpenID Connect expects azp to name the client")
                    .fix("remove scope mappings that add audiences"),
            ),
            _ => {}
        }
    }
    // IDT-AT-HASH-MISMATCH — §3.1.3.8 / §3.2.2.9.
    if let (Some(want), Some(at)) = (j.claim_str("at_hash"), r.access_token.as_deref()) {
        let got = if is_masked(at) {
            if alg.ends_with("256") { Some(fp_of(at)) } else { None }
        } else {
            let half = |d: &[u8]| URL_SAFE_NO_PAD.encode(&d[..d.len() / 2]);
            Some(match &alg[alg.len().saturating_sub(3)..] {
                "384" => half(&Sha384::digest(at.as_bytes())),
                "512" => half(&Sha512::digest(at.as_bytes())),
                _ => half(&Sha256::digest(at.as_bytes())),
            })
        };
        match got {
            Some(g) if g != want => out.push(
                Finding::new(RuleId::IdtAtHashMismatch, "at_hash does not match the access token")
                    .field("id_token.at_hash")
                    .evidence(g, want)
                    .why("the ID token was issued with another access token (mix-up or a rewriting intermediary); ⟨app⟩ does not check it")
            ),
            None => out.push(not_checked(RuleId::IdtAtHashMismatch, "access token redacted and the algorithm is not SHA-256 based", None)),
            _ => {}
        }
    }
}

/// IDT-KID-*, IDT-SIGNATURE-INVALID, IDT-UNVERIFIABLE from the verification verdict.
/// Also run when a JWKS arrives after the token it was needed for (the core re-verifies).
pub fn signature(sig: &SigOutcome, alg: &str, kid: Option<&str>) -> Vec<Finding> {
    let mut out = vec![];
    match sig {
        SigOutcome::KidUnknown { kid, known } => out.push(
            Finding::new(RuleId::IdtKidUnknown, format!("the id_token's kid {kid} is not in the provider's JWKS"))
                .field("id_token.header.kid")
                .evidence(if known.is_empty() { "(no matching key)".into() } else { known.join(", ") }, kid.clone())
                .why("the token was signed by a key the JWKS does not publish: ⟨jwks_uri⟩ of another application (wrong slug), a stale cached JWKS, or a rotated key")
                .mastodon("“JSON::JWK::Set::KidNotFound”"),
        ),
        SigOutcome::Ambiguous { kid, candidates } => out.push(
            Finding::new(RuleId::IdtKidAmbiguous, format!("{candidates} JWKS keys fit the token{}", kid.as_deref().map(|k| format!(" (kid {k})")).unwrap_or_else(|| " (no kid)".into())))
                .field("id_token.header.kid")
                .seen(format!("{candidates} candidate keys"))
                .why("a relying party cannot tell which key signed the token; ⟨app⟩ tries the first and may fail")
        ),
        SigOutcome::Invalid { key_from, kid, .. } => out.push(
            Finding::new(RuleId::IdtSignatureInvalid, format!("the id_token signature does not verify with key {} from {key_from}", kid.as_deref().unwrap_or("(no kid)")))
                .field("id_token.signature")
                .seen(format!("{alg} signature"))
                .why("the token was changed after signing, or the key in the JWKS is not the one that signed it")
                .fix("look for a rewriting intermediary; make ⟨jwks_uri⟩ the JWKS of this application")
                .mastodon("“JSON::JWS::VerificationFailed”"),
        ),
        SigOutcome::InvalidWithSecret { secret_from, .. } => out.push(
            Finding::new(RuleId::IdtSignatureInvalid, format!("the {alg} MAC does not match the client secret from {secret_from}"))
                .field("id_token.signature")
                .seen(format!("{alg} MAC"))
                .why("the token was MACed with another secret than the one the client uses")
                .fix("⟨client_secret⟩ = the provider's Client Secret; better: select a signing key")
                .mastodon("“JSON::JWS::VerificationFailed”"),
        ),
        SigOutcome::Unverifiable { why: why @ Unverifiable::NoJwks { .. }, .. } => out.push(not_checked(
            RuleId::IdtUnverifiable,
            &format!("{alg} signature not checked yet: {why}; it is checked when a JWKS for this issuer passes"),
            kid,
        )),
        SigOutcome::Unverifiable { why, .. } => out.push(
            Finding::new(RuleId::IdtUnverifiable, format!("the {alg} signature could not be checked: {why}"))
                .field("id_token.signature")
                .seen(format!("{alg}{}", kid.map(|k| format!(" kid {k}")).unwrap_or_default()))
                .why("the gateway cannot tell whether this token is genuine")
                .fix(if alg == "ES512" { "authentik → provider → Signing Key: an RSA or P-256/P-384 key (P-521 is not verifiable here)" } else { "see the reason above" }),
        ),
        SigOutcome::Verified { .. } | SigOutcome::VerifiedWithSecret { .. } | SigOutcome::Unsigned | SigOutcome::Encrypted => {}
    }
    out
}

/// The JSON type OpenID Connect gives each claim the rules read (Core §2, RFC 7519 §4.1).
#[derive(Clone, Copy)]
enum ClaimType {
    String,
    NonEmptyString,
    StringOrStrings,
    NumericDate,
}

const CLAIM_TYPES: &[(&str, ClaimType)] = &[
    ("iss", ClaimType::String),
    ("sub", ClaimType::NonEmptyString),
    ("aud", ClaimType::StringOrStrings),
    ("exp", ClaimType::NumericDate),
    ("iat", ClaimType::NumericDate),
    ("nbf", ClaimType::NumericDate),
    ("auth_time", ClaimType::NumericDate),
    ("nonce", ClaimType::String),
    ("azp", ClaimType::String),
    ("at_hash", ClaimType::String),
];

/// IDT-CLAIM-TYPE — every claim a rule reads is type-checked before it is trusted.
fn claim_types(j: &crate::oidc::jwt::DecodedJwt, out: &mut Vec<Finding>) {
    use serde_json::Value;
    for (claim, ty) in CLAIM_TYPES {
        let Some(v) = j.claims.get(*claim) else { continue };
        let (ok, expected) = match ty {
            ClaimType::String => (v.is_string(), "a string"),
            ClaimType::NonEmptyString => (v.as_str().is_some_and(|s| !s.is_empty()), "a non-empty string"),
            ClaimType::StringOrStrings => (
                v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "a string or an array of strings",
            ),
            ClaimType::NumericDate => (
                crate::oidc::jwt::numeric_date(v).is_some(),
                "a NumericDate (seconds since 1970, a number before year 10000)",
            ),
        };
        if !ok {
            let seen = serde_json::to_string(v).unwrap_or_default();
            out.push(
                Finding::new(
                    RuleId::IdtClaimType,
                    format!("the id_token's {claim} is {}, not {expected}", crate::oidc::jwt::json_type(v)),
                )
                .field(format!("id_token.{claim}"))
                .expected(expected)
                .seen(crate::text::truncate(&seen, 120))
                .why("a relying party cannot compare or trust a claim of the wrong type; ⟨app⟩'s gem fails or, worse, compares it loosely")
                .mastodon("fails verifying the ID token"),
            );
        }
    }
}
