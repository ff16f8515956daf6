use serde_json::json;

use super::*;
use crate::demo::provider::Signing;

const SECRET: &str = "s3cret-for-hmac-tests-0123456789abcdef";

fn token(s: Signing, kid: Option<&str>) -> DecodedJwt {
    let t = s.sign(&json!({"iss": "https://a/", "sub": "1", "aud": "c", "exp": 2_000_000_000}), kid, SECRET);
    DecodedJwt::decode(&t).unwrap()
}

fn store(keys: &[Value]) -> KeyStore {
    let mut k = KeyStore::default();
    k.learn("https://a/jwks/", keys);
    k
}

#[test]
fn every_supported_asymmetric_algorithm_verifies() {
    for s in [
        Signing::Rs256,
        Signing::Rs384,
        Signing::Rs512,
        Signing::Ps256,
        Signing::Ps384,
        Signing::Ps512,
        Signing::Es256,
        Signing::Es384,
        Signing::EdDsa,
    ] {
        let mut jwk = s.jwk().unwrap();
        // RSA keys are shared by RS*/PS*: drop the alg pin so one key serves each family.
        jwk.as_object_mut().unwrap().remove("alg");
        let out = store(&[jwk]).verify(&token(s, s.kid()), Some("https://a/jwks/"));
        assert!(matches!(out, SigOutcome::Verified { .. }), "{s:?}: {out:?}");
    }
}

#[test]
fn hmac_algorithms_verify_with_the_client_secret() {
    for s in [Signing::Hs256, Signing::Hs384, Signing::Hs512] {
        let t = token(s, None);
        assert!(
            matches!(verify_hmac(&t, Some((SECRET, "token request"))), SigOutcome::VerifiedWithSecret { .. }),
            "{s:?}"
        );
        assert!(matches!(
            verify_hmac(&t, Some(("other", "token request"))),
            SigOutcome::InvalidWithSecret { .. }
        ));
        assert!(matches!(
            verify_hmac(&t, None),
            SigOutcome::Unverifiable { why: Unverifiable::NoClientSecret, .. }
        ));
        let masked = redact::mask(SECRET);
        assert!(matches!(
            verify_hmac(&t, Some((&masked, "trace"))),
            SigOutcome::Unverifiable { why: Unverifiable::ClientSecretRedacted, .. }
        ));
    }
}

#[test]
fn tampered_tokens_fail() {
    let t = token(Signing::Rs256, Signing::Rs256.kid());
    let mut parts: Vec<&str> = t.signing_input.split('.').collect();
    let other = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"sub":"2"}"#);
    parts[1] = &other;
    let mut tampered = t.clone();
    tampered.signing_input = parts.join(".");
    let out = store(&[Signing::Rs256.jwk().unwrap()]).verify(&tampered, Some("https://a/jwks/"));
    assert!(matches!(out, SigOutcome::Invalid { .. }), "{out:?}");
}

#[test]
fn key_selection_kid_unknown_ambiguous_and_rotation() {
    let a = Signing::Rs256.jwk().unwrap();
    let b = Signing::Rs256Rotated.jwk().unwrap();
    let rotated = token(Signing::Rs256Rotated, Signing::Rs256Rotated.kid());
    // Only the old key known: kid unknown, with the known kids listed.
    match store(std::slice::from_ref(&a)).verify(&rotated, Some("https://a/jwks/")) {
        SigOutcome::KidUnknown { kid, known } => {
            assert_eq!(kid, "demo-rsa-b");
            assert_eq!(known, vec!["demo-rsa-a"]);
        }
        other => panic!("{other:?}"),
    }
    // After a refetch that includes the new key: verified.
    assert!(matches!(
        store(&[a.clone(), b.clone()]).verify(&rotated, Some("https://a/jwks/")),
        SigOutcome::Verified { .. }
    ));
    // No kid and one eligible key: that key. No kid and two: ambiguous.
    let no_kid = token(Signing::Rs256, None);
    assert!(matches!(
        store(std::slice::from_ref(&a)).verify(&no_kid, Some("https://a/jwks/")),
        SigOutcome::Verified { .. }
    ));
    assert!(matches!(
        store(&[a.clone(), b.clone()]).verify(&no_kid, Some("https://a/jwks/")),
        SigOutcome::Ambiguous { kid: None, candidates: 2 }
    ));
    // The same kid twice: ambiguous.
    let mut dup = b.clone();
    dup["kid"] = a["kid"].clone();
    let t = token(Signing::Rs256, Signing::Rs256.kid());
    assert!(matches!(
        store(&[a.clone(), dup]).verify(&t, Some("https://a/jwks/")),
        SigOutcome::Ambiguous { candidates: 2, .. }
    ));
    // Keys of another type are not eligible.
    let ec = Signing::Es256.jwk().unwrap();
    assert_eq!(
        store(&[ec]).verify(&no_kid, Some("https://a/jwks/")),
        SigOutcome::Unverifiable {
            alg: "RS256".into(),
            why: Unverifiable::NoKeyOfType { kty: "RSA", key_from: "https://a/jwks/".into() }
        }
    );
}

#[test]
fn what_cannot_be_verified_says_why() {
    let es512 = token(Signing::Es512, Signing::Es512.kid());
    match store(&[Signing::Es512.jwk().unwrap()]).verify(&es512, Some("https://a/jwks/")) {
        SigOutcome::Unverifiable { alg, why } => {
            assert_eq!(alg, "ES512");
            assert_eq!(why, Unverifiable::UnsupportedAlgorithm { alg: "ES512".into() });
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store(&[]).verify(&token(Signing::None, None), None), SigOutcome::Unsigned);
    assert_eq!(store(&[]).verify(&token(Signing::Jwe, Some("k")), None), SigOutcome::Encrypted);
    let none_seen =
        KeyStore::default().verify(&token(Signing::Rs256, Signing::Rs256.kid()), Some("https://a/jwks/"));
    assert_eq!(
        none_seen,
        SigOutcome::Unverifiable {
            alg: "RS256".into(),
            why: Unverifiable::NoJwks { url: Some("https://a/jwks/".into()) }
        }
    );
    let raw = Signing::Rs256.sign(&json!({"sub": "1"}), Signing::Rs256.kid(), "");
    let redacted = DecodedJwt::decode(&redact::mask_jwt(&raw)).unwrap();
    assert!(matches!(
        store(&[Signing::Rs256.jwk().unwrap()]).verify(&redacted, Some("https://a/jwks/")),
        SigOutcome::Unverifiable { why: Unverifiable::SignatureRedacted, .. }
    ));
}
