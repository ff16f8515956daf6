//! ID token validation as OIDC Core §3.1.3.7 lists it, plus what Mastodon's openid_connect gem
//! checks (exp with zero leeway, iss, nonce, aud — in that order) and the provider's clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{Ctx, Finding, Severity, not_checked};
use crate::capture::HeaderLookup;
use crate::oidc::ExchangeKind;
use crate::redact::{fp_of, is_masked, short};
use crate::timefmt::{human_duration, utc_datetime};
use crate::verify::SigOutcome;

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    clock_skew(ctx, out);
    let Some(r) = &ctx.d.token_response else { return };
    let Some(raw) = &r.id_token else { return };
    // IDT-MALFORMED — RFC 7519 §7.2.
    let Some(j) = &r.id_token_decoded else {
        let why =
            ctx.d.problems.iter().find(|p| p.at == "id_token").map(|p| p.message.clone()).unwrap_or_default();
        out.push(
            Finding::new("IDT-MALFORMED", "the id_token is not a decodable JWT")
                .field("token_response.id_token")
                .seen(format!("{} characters, {} segments", raw.len(), raw.split('.').count()))
                .why(why)
                .fix("look for something rewriting the token response between authentik and Mastodon")
                .mastodon("“Invalid jws format”"),
        );
        return;
    };
    // IDT-ENCRYPTED — RFC 7516: Mastodon's strategy cannot decrypt.
    if j.is_jwe() {
        out.push(
            Finding::new("IDT-ENCRYPTED", format!("the id_token is encrypted (JWE, alg {} enc {})", j.alg().unwrap_or("?"), j.header.get("enc").and_then(|v| v.as_str()).unwrap_or("?")))
                .field("token_response.id_token")
                .seen("5 segments (JWE)")
                .expected("3 segments (signed JWS)")
                .why("an Encryption Key is set on the authentik provider; Mastodon's OIDC strategy cannot decrypt ID tokens")
                .fix("authentik → provider → Encryption Key: clear it (keep the Signing Key)")
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
            Finding::new("IDT-ALG-NONE", "the id_token is unsigned (alg none)")
                .field("id_token.header.alg")
                .evidence("RS256", alg.clone())
                .why("an unsigned ID token can be forged by anyone on the path")
                .fix("authentik → provider → Signing Key: select a certificate")
                .mastodon("rejects it (“JSON::JWS::UnexpectedAlgorithm”)"),
        );
    } else if let Some(d) = disc
        && !d.id_token_signing_alg_values_supported.is_empty()
        && !d.id_token_signing_alg_values_supported.iter().any(|a| a == &alg)
    {
        // IDT-ALG-UNADVERTISED — Discovery §3.
        out.push(
            Finding::new("IDT-ALG-UNADVERTISED", format!("id_token signed with {alg}, discovery advertises {}", d.id_token_signing_alg_values_supported.join(", ")))
                .field("id_token.header.alg")
                .evidence(d.id_token_signing_alg_values_supported.join(", "), alg.clone())
                .why("the signing key changed since discovery was served, or a cache serves an old document")
                .fix("reload authentik's provider configuration; clear caches in front of /.well-known/openid-configuration"),
        );
    }
    // IDT-SYMMETRIC-ALG — Core §10.1: HS* keyed with the client secret.
    if crate::verify::is_hmac(&alg) {
        let verdict = match ctx.sig {
            Some(SigOutcome::VerifiedWithSecret { secret_from, .. }) => {
                format!("MAC verified with the client secret from {secret_from}")
            }
            Some(SigOutcome::InvalidWithSecret { .. }) => "the MAC does not match the client secret".into(),
            _ => "MAC not checked (no client secret known)".into(),
        };
        out.push(
            Finding::new("IDT-SYMMETRIC-ALG", format!("{alg} id_token: no signing key is selected in authentik ({verdict})"))
                .field("id_token.header.alg")
                .evidence("RS256 (a signing key)", alg.clone())
                .why("without a signing key authentik signs with the client secret (JWKS is {}); Mastodon ≥ 4.2 copes, older versions fail with KidNotFound, and anyone holding the secret can mint tokens")
                .fix("authentik → provider → Signing Key: select a certificate (the Mastodon integration guide's setup)"),
        );
    }
    signature(ctx, out, &alg, j.kid());

    // Claims — Core §2 and §3.1.3.7.
    for claim in ["iss", "sub", "aud", "exp", "iat"] {
        if !j.claims.contains_key(claim) {
            out.push(
                Finding::new("IDT-MISSING-CLAIM", format!("the id_token has no {claim}"))
                    .field(format!("id_token.{claim}"))
                    .why("OpenID Connect requires iss, sub, aud, exp and iat in every ID token")
                    .fix("check authentik scope mappings that override or remove claims")
                    .mastodon(match claim {
                        "exp" => "“Invalid ID token: Expired token”",
                        "iss" => "“Invalid ID token: Issuer does not match”",
                        "aud" => "“Invalid ID token: Audience does not match”",
                        _ => "may accept it (it does not check this claim)",
                    }),
            );
        }
    }
    let now = (ctx.now_ms / 1000) as i64;
    // IDT-EXPIRED — step 9; Mastodon: exp > now, no leeway.
    if let Some(exp) = j.claim_time("exp")
        && exp <= now
    {
        out.push(
            Finding::new("IDT-EXPIRED", format!("the id_token expired {} before it reached Mastodon", human_duration(now - exp)))
                .field("id_token.exp")
                .evidence(format!("after {}", utc_datetime(now)), utc_datetime(exp))
                .why("Mastodon rejects an ID token whose exp is not in the future, with zero leeway: clocks apart or a very short token validity")
                .fix("NTP on the authentik and Mastodon hosts; authentik → provider → Access token validity (the ID token's exp) of minutes, not seconds")
                .mastodon("“Invalid ID token: Expired token”"),
        );
    }
    // IDT-IAT-FUTURE — step 10; IDT-NBF-FUTURE — RFC 7519 §4.1.5 (5 s of rounding allowed).
    for (claim, rule) in [("iat", "IDT-IAT-FUTURE"), ("nbf", "IDT-NBF-FUTURE")] {
        if let Some(t) = j.claim_time(claim)
            && t > now + 5
        {
            out.push(
                Finding::new(rule, format!("{claim} is {} in the future", human_duration(t - now)))
                    .field(format!("id_token.{claim}"))
                    .evidence(format!("≤ {}", utc_datetime(now)), utc_datetime(t))
                    .why("the provider's clock runs ahead of the gateway's; Mastodon ignores iat/nbf, stricter relying parties reject the token")
                    .fix("NTP on the authentik host"),
            );
        }
    }
    // IDT-ISS-MISMATCH — step 2; Mastodon compares with OIDC_ISSUER.
    let expected_iss = ctx.exp.issuer.as_deref().or(ctx.discovered_issuer());
    match (expected_iss, j.claim_str("iss")) {
        (Some(want), Some(iss)) if want != iss => out.push(
            Finding::new("IDT-ISS-MISMATCH", "the ID token's issuer differs from the expected issuer")
                .field("id_token.iss")
                .evidence(want, iss)
                .why("authentik builds iss from the token request Mastodon sends on its back channel (Host and X-Forwarded-Proto); if that request reached authentik differently from discovery, iss differs")
                .fix("send Mastodon's back-channel requests to authentik with the public Host and X-Forwarded-Proto: https (and from an address in AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS); OIDC_ISSUER must be the discovered issuer")
                .mastodon("“Invalid ID token: Issuer does not match”"),
        ),
        (None, Some(iss)) => out.push(not_checked("IDT-ISS-MISMATCH", "no discovery or OIDC_ISSUER known for this login", Some(iss))),
        _ => {}
    }
    // IDT-NONCE-* — step 11.
    if let Some(sent) = ctx.authorize().and_then(|a| a.nonce.as_deref()) {
        match j.claim_str("nonce") {
            None => out.push(
                Finding::new("IDT-NONCE-MISSING", "the authorize request sent a nonce, the ID token has none")
                    .field("id_token.nonce")
                    .evidence(short(sent), "(none)")
                    .why("the provider must copy the nonce into the ID token so it can be bound to this login")
                    .fix("check authentik scope mappings that remove claims; a code from another request")
                    .mastodon("“Invalid ID Token: Nonce does not match”"),
            ),
            Some(n) if fp_of(n) != fp_of(sent) => out.push(
                Finding::new("IDT-NONCE-MISMATCH", "the ID token's nonce is not the one this login sent")
                    .field("id_token.nonce")
                    .evidence(short(sent), short(n))
                    .why("the session's nonce was overwritten by a second login, a scope mapping emits its own nonce, or a code from another login was redeemed")
                    .fix("one login at a time per browser; remove scope mappings that set nonce")
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
                Finding::new("IDT-AUD-MISMATCH", "the ID token's audience does not contain the client_id")
                    .field("id_token.aud")
                    .evidence(cid, aud.join(", "))
                    .why("the token was issued to another client (wrong OIDC_CLIENT_ID, or a scope mapping overriding aud)")
                    .fix("OIDC_CLIENT_ID = authentik's Client ID; remove mappings that set aud")
                    .mastodon("“Invalid ID token: Audience does not match”"),
            );
        }
        match j.claim_str("azp") {
            Some(azp) if azp != cid => out.push(
                Finding::new("IDT-AZP-MISMATCH", "azp is not the client_id")
                    .field("id_token.azp")
                    .evidence(cid, azp)
                    .why("the authorized party must be this client; Mastodon does not check it, stricter relying parties reject the token")
                    .fix("remove scope mappings that set azp"),
            ),
            None if aud.len() > 1 => out.push(
                Finding::new("IDT-AZP-MISMATCH", "several audiences but no azp")
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
                Finding::new("IDT-AT-HASH-MISMATCH", "at_hash does not match the access token")
                    .field("id_token.at_hash")
                    .evidence(g, want)
                    .why("the ID token was issued with another access token (mix-up or a rewriting intermediary); Mastodon does not check it")
                    .fix("look for something rewriting the token response"),
            ),
            None => out.push(not_checked("IDT-AT-HASH-MISMATCH", "access token redacted and the algorithm is not SHA-256 based", None)),
            _ => {}
        }
    }
}

/// IDT-KID-*, IDT-SIGNATURE-INVALID, IDT-UNVERIFIABLE from the verification verdict.
fn signature(ctx: &Ctx, out: &mut Vec<Finding>, alg: &str, kid: Option<&str>) {
    let Some(sig) = ctx.sig else { return };
    match sig {
        SigOutcome::KidUnknown { kid, known } => out.push(
            Finding::new("IDT-KID-UNKNOWN", format!("the id_token's kid {kid} is not in the provider's JWKS"))
                .field("id_token.header.kid")
                .evidence(if known.is_empty() { "(no matching key)".into() } else { known.join(", ") }, kid.clone())
                .why("the token was signed by a key the JWKS does not publish: OIDC_JWKS_URI of another application (wrong slug), a stale cached JWKS, or a rotated key")
                .fix("with OIDC_DISCOVERY=true leave OIDC_JWKS_URI alone; otherwise set it to https://<authentik>/application/o/<application-slug>/jwks/")
                .mastodon("“JSON::JWK::Set::KidNotFound”"),
        ),
        SigOutcome::Ambiguous { kid, candidates } => out.push(
            Finding::new("IDT-KID-AMBIGUOUS", format!("{candidates} JWKS keys fit the token{}", kid.as_deref().map(|k| format!(" (kid {k})")).unwrap_or_else(|| " (no kid)".into())))
                .field("id_token.header.kid")
                .seen(format!("{candidates} candidate keys"))
                .why("a relying party cannot tell which key signed the token; Mastodon tries the first and may fail")
                .fix("give every JWKS key a distinct kid and sign with a kid header"),
        ),
        SigOutcome::Invalid { key_from, kid, .. } => out.push(
            Finding::new("IDT-SIGNATURE-INVALID", format!("the id_token signature does not verify with key {} from {key_from}", kid.as_deref().unwrap_or("(no kid)")))
                .field("id_token.signature")
                .seen(format!("{alg} signature"))
                .why("the token was changed after signing, or the key in the JWKS is not the one that signed it")
                .fix("look for a rewriting intermediary; make OIDC_JWKS_URI the JWKS of this application")
                .mastodon("“JSON::JWS::VerificationFailed”"),
        ),
        SigOutcome::InvalidWithSecret { secret_from, .. } => out.push(
            Finding::new("IDT-SIGNATURE-INVALID", format!("the {alg} MAC does not match the client secret from {secret_from}"))
                .field("id_token.signature")
                .seen(format!("{alg} MAC"))
                .why("the token was MACed with another secret than the one the client uses")
                .fix("OIDC_CLIENT_SECRET = the provider's Client Secret; better: select a signing key")
                .mastodon("“JSON::JWS::VerificationFailed”"),
        ),
        SigOutcome::Unverifiable { why, .. } => out.push(
            Finding::new("IDT-UNVERIFIABLE", format!("the {alg} signature could not be checked: {why}"))
                .field("id_token.signature")
                .seen(format!("{alg}{}", kid.map(|k| format!(" kid {k}")).unwrap_or_default()))
                .why("the gateway cannot tell whether this token is genuine")
                .fix(if alg == "ES512" { "authentik → provider → Signing Key: an RSA or P-256/P-384 key (P-521 is not verifiable here)" } else { "see the reason above" }),
        ),
        SigOutcome::Verified { .. } | SigOutcome::VerifiedWithSecret { .. } | SigOutcome::Unsigned | SigOutcome::Encrypted => {}
    }
}

/// CLOCK-SKEW — the provider's Date header vs the gateway clock (once per flow).
fn clock_skew(ctx: &Ctx, out: &mut Vec<Finding>) {
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
            Finding::new("CLOCK-SKEW", format!("authentik's clock is {} {} the gateway's", human_duration(skew), if skew > 0 { "ahead of" } else { "behind" }))
                .severity(if skew.abs() >= 60 { Severity::Error } else { Severity::Warning })
                .field("response.date")
                .evidence(utc_datetime(gateway), utc_datetime(provider))
                .why("ID token exp and iat come from authentik's clock and Mastodon checks exp against its own with zero leeway")
                .fix("run NTP (chrony/systemd-timesyncd) on the authentik and Mastodon hosts"),
        );
    }
}
