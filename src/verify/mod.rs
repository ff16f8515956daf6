//! ID token signature verification against keys seen on the wire (RFC 7515 §5.2, OIDC Core
//! §3.1.3.7 steps 6–8, §10.1). Key selection is that of a careful relying party: by `kid`, then
//! filtered by key type, `use` and `alg`; no kid and one eligible key → that key; several →
//! ambiguous. Pure: keys are learned from JWKS responses that passed (or that the gateway
//! fetched itself and recorded as an exchange).

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use serde_json::Value;

use crate::oidc::jwt::DecodedJwt;
use crate::redact;

/// What verifying one token's signature concluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SigOutcome {
    /// The signature checks out with this key.
    Verified { alg: String, kid: Option<String>, key_from: String },
    /// A selected key was tried and the signature does not match.
    Invalid { alg: String, kid: Option<String>, key_from: String },
    /// HS* verified with the client secret.
    VerifiedWithSecret { alg: String, secret_from: String },
    /// HS* and the secret does not produce this MAC.
    InvalidWithSecret { alg: String, secret_from: String },
    /// The token's kid is not among the keys known for the issuer.
    KidUnknown { kid: String, known: Vec<String> },
    /// Several keys fit and nothing tells them apart.
    Ambiguous { kid: Option<String>, candidates: usize },
    /// The token cannot be checked; `why` says what is missing.
    Unverifiable { alg: String, why: Unverifiable },
    /// `alg: none`.
    Unsigned,
    /// A JWE: not a signature to check.
    Encrypted,
}

/// Why a signature could not be checked: a closed set, so tests and rules match it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Unverifiable {
    /// The trace was written redacted: the signature is not in it.
    SignatureRedacted,
    /// `alg` names no algorithm this tool knows.
    UnknownAlgorithm { alg: String },
    /// A known algorithm the verification library cannot check (ES512).
    UnsupportedAlgorithm { alg: String },
    /// No JWKS was seen for the issuer and none could be fetched.
    NoJwks { url: Option<String> },
    /// The JWKS has no key of the token's type (and the token names no kid).
    NoKeyOfType { kty: &'static str, key_from: String },
    /// The selected JWK could not be turned into a key.
    BadJwk,
    /// The verifier itself failed.
    VerifierFailed { error: String },
    /// HS*: no client secret known.
    NoClientSecret,
    /// HS*: the client secret in the trace is redacted.
    ClientSecretRedacted,
    /// An HS-named alg the library does not take as HMAC.
    NotHmac,
    /// The latest JWKS answer for the issuer had no usable keys.
    JwksUnusable { url: String, reason: String },
    /// The token's kid names a key of another type, curve or use than its alg needs.
    KeyMismatch { kid: String, key: String },
}

impl std::fmt::Display for Unverifiable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unverifiable::SignatureRedacted => f.write_str(
                "the signature was redacted when the trace was written (record with --no-redact to re-check it offline)",
            ),
            Unverifiable::UnknownAlgorithm { alg } => write!(f, "unknown signing algorithm {alg:?}"),
            Unverifiable::UnsupportedAlgorithm { alg } => {
                write!(f, "{alg} is not supported by the verification library")
            }
            Unverifiable::NoJwks { url } => {
                write!(f, "no JWKS seen for {} and none could be fetched", url.as_deref().unwrap_or("this issuer"))
            }
            Unverifiable::NoKeyOfType { kty, key_from } => write!(f, "no {kty} signing key in {key_from}"),
            Unverifiable::BadJwk => f.write_str("the matching JWK could not be turned into a key"),
            Unverifiable::VerifierFailed { error } => write!(f, "verification failed to run: {error}"),
            Unverifiable::NoClientSecret => {
                f.write_str("no client secret known: pass --client-secret (or --mastodon-env)")
            }
            Unverifiable::ClientSecretRedacted => {
                f.write_str("the client secret is redacted in this trace: pass --client-secret")
            }
            Unverifiable::NotHmac => f.write_str("not an HMAC algorithm"),
            Unverifiable::JwksUnusable { url, reason } => {
                write!(f, "the latest JWKS from {url} has no usable keys ({reason}); earlier keys no longer count")
            }
            Unverifiable::KeyMismatch { kid, key } => {
                write!(f, "kid {kid} names a {key} in the JWKS, which cannot check this algorithm")
            }
        }
    }
}

/// Keys learned per JWKS URL: the keys of the latest answer, or why the latest answer had
/// none that can be used (a relying party fetching now would get that answer too).
#[derive(Debug, Default, Clone)]
pub struct KeyStore {
    sets: HashMap<String, Result<Vec<Value>, String>>,
}

fn family_kty(alg: &str) -> Option<&'static str> {
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("RSA"),
        "ES256" | "ES384" | "ES512" => Some("EC"),
        "EdDSA" => Some("OKP"),
        _ => None,
    }
}

fn curve_for(alg: &str) -> Option<&'static str> {
    match alg {
        "ES256" => Some("P-256"),
        "ES384" => Some("P-384"),
        "ES512" => Some("P-521"),
        _ => None,
    }
}

impl KeyStore {
    /// Replaces what is known for a JWKS URL with the keys of a fresh response.
    pub fn learn(&mut self, url: &str, keys: &[Value]) {
        self.sets.insert(url.to_owned(), Ok(keys.to_vec()));
    }

    /// The latest answer for a JWKS URL was unusable: earlier keys no longer count.
    pub fn learn_failure(&mut self, url: &str, why: impl Into<String>) {
        self.sets.insert(url.to_owned(), Err(why.into()));
    }

    /// Whether `url` has a key with this kid (or any key when the token has no kid).
    pub fn has_kid(&self, url: &str, kid: Option<&str>) -> bool {
        match (self.sets.get(url).and_then(|r| r.as_ref().ok()), kid) {
            (Some(keys), Some(k)) => keys.iter().any(|j| j.get("kid").and_then(Value::as_str) == Some(k)),
            (Some(keys), None) => !keys.is_empty(),
            (None, _) => false,
        }
    }

    /// Verifies an asymmetric signature with the keys of `url` (or, if the issuer's JWKS URL is
    /// unknown, every key seen).
    pub fn verify(&self, jwt: &DecodedJwt, url: Option<&str>) -> SigOutcome {
        let alg = jwt.alg().unwrap_or("").to_owned();
        if jwt.is_jwe() {
            return SigOutcome::Encrypted;
        }
        if alg.eq_ignore_ascii_case("none") {
            return SigOutcome::Unsigned;
        }
        if jwt.signature_redacted {
            return SigOutcome::Unverifiable { alg, why: Unverifiable::SignatureRedacted };
        }
        let Some(kty) = family_kty(&alg) else {
            return SigOutcome::Unverifiable {
                alg: alg.clone(),
                why: Unverifiable::UnknownAlgorithm { alg: alg.clone() },
            };
        };
        let (keys, key_from): (Vec<&Value>, String) = match url.and_then(|u| self.sets.get(u).map(|k| (u, k)))
        {
            Some((u, Ok(k))) => (k.iter().collect(), u.to_owned()),
            Some((u, Err(why))) => {
                return SigOutcome::Unverifiable {
                    alg,
                    why: Unverifiable::JwksUnusable { url: u.to_owned(), reason: why.clone() },
                };
            }
            None if !self.sets.is_empty() && url.is_none() => (
                self.sets.values().filter_map(|r| r.as_ref().ok()).flatten().collect(),
                "every JWKS seen".into(),
            ),
            None => {
                return SigOutcome::Unverifiable {
                    alg,
                    why: Unverifiable::NoJwks { url: url.map(str::to_owned) },
                };
            }
        };
        let kid = jwt.kid().map(str::to_owned);
        let by_kid: Vec<&Value> = match &kid {
            Some(k) => keys
                .iter()
                .copied()
                .filter(|j| j.get("kid").and_then(Value::as_str) == Some(k.as_str()))
                .collect(),
            None => keys.clone(),
        };
        if let Some(k) = &kid
            && by_kid.is_empty()
        {
            let known =
                keys.iter().filter_map(|j| j.get("kid").and_then(Value::as_str).map(str::to_owned)).collect();
            return SigOutcome::KidUnknown { kid: k.clone(), known };
        }
        let by_kid_types: Vec<String> = by_kid
            .iter()
            .map(|j| {
                let g = |f: &str| j.get(f).and_then(Value::as_str).unwrap_or("?");
                format!("{} key (alg {}, use {})", g("kty"), g("alg"), g("use"))
            })
            .collect();
        let eligible: Vec<&Value> = by_kid
            .into_iter()
            .filter(|j| j.get("kty").and_then(Value::as_str) == Some(kty))
            .filter(|j| j.get("use").and_then(Value::as_str).is_none_or(|u| u == "sig"))
            .filter(|j| j.get("alg").and_then(Value::as_str).is_none_or(|a| a == alg))
            .filter(|j| curve_for(&alg).is_none_or(|c| j.get("crv").and_then(Value::as_str) == Some(c)))
            .collect();
        match eligible.len() {
            0 => {
                return match &kid {
                    // The kid is there, but names a key of another type or use: say so.
                    Some(k) if !by_kid_types.is_empty() => SigOutcome::Unverifiable {
                        alg: alg.clone(),
                        why: Unverifiable::KeyMismatch { kid: k.clone(), key: by_kid_types.join(", ") },
                    },
                    Some(k) => SigOutcome::KidUnknown { kid: k.clone(), known: vec![] },
                    None => {
                        SigOutcome::Unverifiable { alg, why: Unverifiable::NoKeyOfType { kty, key_from } }
                    }
                };
            }
            1 => {}
            n => return SigOutcome::Ambiguous { kid, candidates: n },
        }
        if let Some(ok) = ring_verify(&alg, eligible[0], jwt.signing_input.as_bytes(), &jwt.signature) {
            return if ok {
                SigOutcome::Verified { alg, kid, key_from }
            } else {
                SigOutcome::Invalid { alg, kid, key_from }
            };
        }
        let Ok(algorithm) = alg.parse::<Algorithm>() else {
            return SigOutcome::Unverifiable {
                alg: alg.clone(),
                why: Unverifiable::UnsupportedAlgorithm { alg: alg.clone() },
            };
        };
        let key = match serde_json::from_value::<jsonwebtoken::jwk::Jwk>(eligible[0].clone())
            .ok()
            .and_then(|j| DecodingKey::from_jwk(&j).ok())
        {
            Some(k) => k,
            None => {
                return SigOutcome::Unverifiable { alg, why: Unverifiable::BadJwk };
            }
        };
        let sig = redact_safe_signature(jwt);
        match jsonwebtoken::crypto::verify(&sig, jwt.signing_input.as_bytes(), &key, algorithm) {
            Ok(true) => SigOutcome::Verified { alg, kid, key_from },
            Ok(false) => SigOutcome::Invalid { alg, kid, key_from },
            Err(e) => {
                SigOutcome::Unverifiable { alg, why: Unverifiable::VerifierFailed { error: e.to_string() } }
            }
        }
    }
}

/// The usual algorithms verified with ring (already built for rustls; several times faster than
/// the pure-Rust backend): RS*/PS* with a 2048–8192-bit key, ES256/ES384, EdDSA (Ed25519).
/// `None` hands anything else (other sizes, curves, shapes) to jsonwebtoken, so an unusual key
/// is judged by the general path rather than reported as a bad signature.
fn ring_verify(alg: &str, jwk: &Value, msg: &[u8], sig: &[u8]) -> Option<bool> {
    use base64::Engine;
    use ring::signature as rs;
    let b64 = |k: &str| {
        jwk.get(k)?.as_str().and_then(|v| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v).ok())
    };
    let crv = jwk.get("crv").and_then(Value::as_str);
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let params: &rs::RsaParameters = match alg {
                "RS256" => &rs::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &rs::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &rs::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &rs::RSA_PSS_2048_8192_SHA256,
                "PS384" => &rs::RSA_PSS_2048_8192_SHA384,
                _ => &rs::RSA_PSS_2048_8192_SHA512,
            };
            let (n, e) = (b64("n")?, b64("e")?);
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if !(2048..=8192).contains(&bits) || e.is_empty() || e.len() > 4 {
                return None;
            }
            Some(rs::RsaPublicKeyComponents { n: &n, e: &e }.verify(params, msg, sig).is_ok())
        }
        "ES256" | "ES384" => {
            let (algo, len, want): (&rs::EcdsaVerificationAlgorithm, usize, &str) = if alg == "ES256" {
                (&rs::ECDSA_P256_SHA256_FIXED, 32, "P-256")
            } else {
                (&rs::ECDSA_P384_SHA384_FIXED, 48, "P-384")
            };
            let (x, y) = (b64("x")?, b64("y")?);
            if crv != Some(want) || x.len() != len || y.len() != len || sig.len() != 2 * len {
                return None;
            }
            let point: Vec<u8> = [&[4u8][..], &x, &y].concat();
            Some(rs::UnparsedPublicKey::new(algo, point).verify(msg, sig).is_ok())
        }
        "EdDSA" | "Ed25519" => {
            let x = b64("x")?;
            if crv != Some("Ed25519") || x.len() != 32 || sig.len() != 64 {
                return None;
            }
            Some(rs::UnparsedPublicKey::new(&rs::ED25519, x).verify(msg, sig).is_ok())
        }
        _ => None,
    }
}

fn redact_safe_signature(jwt: &DecodedJwt) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&jwt.signature)
}

/// Verifies an HS* MAC with the client secret (authentik without a signing key uses the
/// client secret as the HMAC key).
pub fn verify_hmac(jwt: &DecodedJwt, secret: Option<(&str, &str)>) -> SigOutcome {
    let alg = jwt.alg().unwrap_or("").to_owned();
    if jwt.signature_redacted {
        return SigOutcome::Unverifiable { alg, why: Unverifiable::SignatureRedacted };
    }
    let Some((secret, from)) = secret else {
        return SigOutcome::Unverifiable { alg, why: Unverifiable::NoClientSecret };
    };
    if redact::is_masked(secret) {
        return SigOutcome::Unverifiable { alg, why: Unverifiable::ClientSecretRedacted };
    }
    let Ok(algorithm) = alg.parse::<Algorithm>() else {
        return SigOutcome::Unverifiable { alg, why: Unverifiable::NotHmac };
    };
    match jsonwebtoken::crypto::verify(
        &redact_safe_signature(jwt),
        jwt.signing_input.as_bytes(),
        &DecodingKey::from_secret(secret.as_bytes()),
        algorithm,
    ) {
        Ok(true) => SigOutcome::VerifiedWithSecret { alg, secret_from: from.into() },
        Ok(false) => SigOutcome::InvalidWithSecret { alg, secret_from: from.into() },
        Err(e) => {
            SigOutcome::Unverifiable { alg, why: Unverifiable::VerifierFailed { error: e.to_string() } }
        }
    }
}

/// `true` for HS256/384/512.
pub fn is_hmac(alg: &str) -> bool {
    matches!(alg, "HS256" | "HS384" | "HS512")
}

#[cfg(test)]
mod tests;
