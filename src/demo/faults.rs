//! Named demo faults: each one breaks the demo deployment the way a real Mastodon + authentik
//! setup breaks (see the failure catalogue in `shared/reference/mastodon-authentik.md`).
//! The names are a contract (`oidc-tap demo --fault NAME`).

use serde_json::json;

use super::provider::{NonceMode, Signing};
use super::rig::Scenario;

/// (name, what it simulates).
pub const FAULTS: &[(&str, &str)] = &[
    ("clean", "a correctly configured login"),
    ("issuer-trailing-slash", "OIDC_ISSUER lacks the trailing slash authentik's issuer has"),
    (
        "http-issuer",
        "authentik behind a TLS proxy that does not send X-Forwarded-Proto: every URL is http://",
    ),
    ("redirect-uri-mismatch", "OIDC_REDIRECT_URI differs from the provider's registered redirect URI"),
    ("wrong-client-secret", "OIDC_CLIENT_SECRET does not match the provider's client secret"),
    ("missing-openid-scope", "the provider has no 'openid' scope mapping: userinfo answers 403"),
    ("hs256-no-signing-key", "no signing key selected in authentik: HS256 tokens, empty JWKS"),
    ("encrypted-id-token", "an encryption key is set on the provider: the ID token is a JWE"),
    ("nonce-mismatch", "the ID token carries another nonce than the authorize request"),
    ("email-unverified", "authentik ≥ 2025.10 default: email_verified is false"),
    ("uid-claim-missing", "OIDC_UID_FIELD names a claim authentik never sends"),
    ("expired-id-token", "the ID token is already expired when it arrives (clock skew)"),
    ("tampered-signature", "the ID token's payload was changed after signing"),
    (
        "state-altered",
        "a proxy between authentik and the browser changes the state in authentik's flow redirect",
    ),
];

/// Applies a named fault to a scenario.
pub fn apply(name: &str, sc: &mut Scenario) -> Result<(), String> {
    let f = &mut sc.provider.faults;
    match name {
        "clean" => {}
        "issuer-trailing-slash" => sc.rp.issuer = sc.rp.issuer.trim_end_matches('/').to_owned(),
        "http-issuer" => f.http_urls = true,
        "redirect-uri-mismatch" => sc.rp.redirect_uri.push('/'),
        "wrong-client-secret" => sc.rp.client_secret = "wrong-secret".into(),
        "missing-openid-scope" => f.scope_drop = vec!["openid".into()],
        "hs256-no-signing-key" => f.signing = Signing::Hs256,
        "encrypted-id-token" => f.signing = Signing::Jwe,
        "nonce-mismatch" => f.nonce = NonceMode::Wrong,
        "email-unverified" => {
            f.claims.insert("email_verified".into(), json!(false));
        }
        "uid-claim-missing" => sc.rp.uid_field = "username".into(),
        "expired-id-token" => f.exp_offset_s = Some(-120),
        "tampered-signature" => f.tamper_signature = true,
        "state-altered" => {
            f.executor = true;
            f.flow_stages = true;
            f.state_tamper = Some(super::provider::StateTamper::Suffix);
        }
        other => {
            let names: Vec<&str> = FAULTS.iter().map(|(n, _)| *n).collect();
            return Err(format!("unknown demo fault {other:?}; known: {}", names.join(", ")));
        }
    }
    Ok(())
}
