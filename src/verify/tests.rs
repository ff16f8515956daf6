use serde_json::json;

use super::*;
use crate::demo::provider::Signing;

const SECRET: &str = "s3cret-for-hmac-tests-0123456789abcdef";

fn token(s: Signing, kid: Option<&str>) -> DecodedJwt {
    let t = s.sign(&json!({"iss": "https://a/", "sub": "1", "aud": "c", "exp": 2_000_000_000}), kid, SECRET);
    DecodedJwt::decode(&t).unwrap()
}

/// Every asymmetric algorithm the verifier takes on ring (all the demo signs with but ES512,
/// which the verifier refuses, and the HMAC ones and `none`).
fn asymmetric() -> impl Iterator<Item = Signing> {
    Signing::BY_ALG.into_iter().take_while(|s| *s != Signing::Hs256).filter(|s| *s != Signing::Es512)
}

fn store(keys: &[Value]) -> KeyStore {
    let mut k = KeyStore::default();
    k.learn("https://a/jwks/", keys);
    k
}

#[test]
fn every_supported_asymmetric_algorithm_verifies() {
    let names: Vec<&str> = asymmetric().map(Signing::alg_name).collect();
    assert_eq!(names, ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]);
    for s in asymmetric() {
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

/// RFC 7515 Appendix A.2: an RS256 JWS made by someone else's implementation, verified with
/// the RFC's public key (the round trips above sign with the demo's own signer).
#[test]
fn rfc7515_a2_rs256_vector_verifies() {
    const TOKEN: &str = concat!(
        "eyJhbGciOiJSUzI1NiJ9.",
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
        "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
        "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
        "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
        "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
        "p0igcN_IoypGlUPQGe77Rw"
    );
    let jwk = json!({
        "kty": "RSA",
        "e": "AQAB",
        "n": concat!(
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx",
            "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs",
            "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH",
            "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV",
            "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8",
            "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        ),
    });
    let j = DecodedJwt::decode(TOKEN).unwrap();
    assert_eq!(j.claim_str("iss"), Some("joe"));
    assert_eq!(
        store(std::slice::from_ref(&jwk)).verify(&j, Some("https://a/jwks/")),
        SigOutcome::Verified { alg: "RS256".into(), kid: None, key_from: "https://a/jwks/".into() }
    );
    // One payload byte changed: the RFC's signature no longer matches.
    let mut tampered = j.clone();
    tampered.signing_input = tampered.signing_input.replacen("eyJpc3MiOiJqb2", "eyJpc3MiOiJqb3", 1);
    assert!(matches!(store(&[jwk]).verify(&tampered, Some("https://a/jwks/")), SigOutcome::Invalid { .. }));
}

/// RFC 8037 Appendix A.4: an Ed25519 JWS over the text "Example of Ed25519 signing".
#[test]
fn rfc8037_a4_eddsa_vector_verifies() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signature = b64
        .decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
        .unwrap();
    // The payload is not a JSON object, so the vector is built field by field.
    let j = DecodedJwt {
        form: crate::oidc::jwt::JwtForm::Jws,
        header: json!({"alg": "EdDSA"}).as_object().unwrap().clone(),
        claims: Default::default(),
        signing_input: "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc".into(),
        signature,
        signature_redacted: false,
    };
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert!(matches!(store(&[jwk]).verify(&j, Some("https://a/jwks/")), SigOutcome::Verified { .. }));
}

/// A kid that names a key of another type says exactly that (it is no "unknown kid").
#[test]
fn a_kid_naming_a_key_of_another_type_is_a_key_mismatch() {
    let mut rsa = Signing::Rs256.jwk().unwrap();
    rsa["kid"] = json!("demo-ec-p521");
    let es512 = token(Signing::Es512, Signing::Es512.kid());
    assert_eq!(
        store(&[rsa]).verify(&es512, Some("https://a/jwks/")),
        SigOutcome::Unverifiable {
            alg: "ES512".into(),
            why: Unverifiable::KeyMismatch {
                kid: "demo-ec-p521".into(),
                key: "RSA key (alg RS256, use sig)".into()
            }
        }
    );
}

/// Keys from an earlier JWKS do not vouch for a token once the latest answer is unusable.
#[test]
fn a_garbage_jwks_after_a_good_one_is_not_ignored() {
    let mut k = store(&[Signing::Rs256.jwk().unwrap()]);
    let t = token(Signing::Rs256, Signing::Rs256.kid());
    assert!(matches!(k.verify(&t, Some("https://a/jwks/")), SigOutcome::Verified { .. }));
    k.learn_failure("https://a/jwks/", "jwks.body: body is not JSON");
    assert_eq!(
        k.verify(&t, Some("https://a/jwks/")),
        SigOutcome::Unverifiable {
            alg: "RS256".into(),
            why: Unverifiable::JwksUnusable {
                url: "https://a/jwks/".into(),
                reason: "jwks.body: body is not JSON".into()
            }
        }
    );
    assert!(!k.has_kid("https://a/jwks/", Signing::Rs256.kid()), "a refetch is due");
}

#[test]
fn ring_and_the_general_path_agree_on_every_fast_algorithm() {
    for s in asymmetric() {
        let jwt = token(s, s.kid());
        let jwk = s.jwk().unwrap();
        let alg = s.alg_name();
        assert_eq!(ring_verify(alg, &jwk, jwt.signing_input.as_bytes(), &jwt.signature), Some(true), "{alg}");
        let mut bad = jwt.signature.clone();
        bad[3] ^= 1;
        assert_eq!(ring_verify(alg, &jwk, jwt.signing_input.as_bytes(), &bad), Some(false), "{alg} tampered");
        let mut other = jwt.signing_input.clone();
        other.push('x');
        assert_eq!(
            ring_verify(alg, &jwk, other.as_bytes(), &jwt.signature),
            Some(false),
            "{alg} other input"
        );
    }
    // Shapes ring does not take go to the general path instead of reading as "invalid".
    let small_rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
    assert_eq!(ring_verify("RS256", &small_rsa, b"x", b"y"), None);
    let p521 = json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"});
    assert_eq!(ring_verify("ES512", &p521, b"x", b"y"), None);
    assert_eq!(ring_verify("ES256", &p521, b"x", b"y"), None);
}
