//! The demo provider's signing keys and algorithms (authentik's "Signing Key" field): fixed
//! test keys under `demo/keys/`, every algorithm the verifier supports, HS* with the client
//! secret, `none`, and a JWE stand-in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// Which key signs the ID token (authentik: the provider's "Signing Key" field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signing {
    /// RS256 with the first RSA key (the usual authentik setup).
    #[default]
    Rs256,
    /// RS256 with a second RSA key (key rotation).
    Rs256Rotated,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
    /// No signing key selected: HS256 with the client secret, JWKS `{}`.
    Hs256,
    Hs384,
    Hs512,
    /// `alg: none`, unsigned.
    None,
    /// An encryption key is set: the ID token is a 5-segment JWE.
    Jwe,
    /// ES512 (P-521), which the gateway's JWT library cannot verify.
    Es512,
}

const RSA_A: &str = include_str!("../keys/rsa-a.pem");
const RSA_B: &str = include_str!("../keys/rsa-b.pem");
const EC_P256: &str = include_str!("../keys/ec-p256.pem");
const EC_P384: &str = include_str!("../keys/ec-p384.pem");
const ED25519: &str = include_str!("../keys/ed25519.pem");

impl Signing {
    /// Every JWS `alg` the demo signs with, one signing each (asymmetric first).
    pub const BY_ALG: [Signing; 14] = [
        Signing::Rs256,
        Signing::Rs384,
        Signing::Rs512,
        Signing::Ps256,
        Signing::Ps384,
        Signing::Ps512,
        Signing::Es256,
        Signing::Es384,
        Signing::Es512,
        Signing::EdDsa,
        Signing::Hs256,
        Signing::Hs384,
        Signing::Hs512,
        Signing::None,
    ];

    /// The signing for a JWS `alg` header (a fresh local key of that type); None for an alg
    /// the demo cannot sign with (a JWE's key-management alg, an unknown one).
    pub fn for_alg(alg: &str) -> Option<Signing> {
        Signing::BY_ALG.into_iter().find(|s| s.alg_name() == alg)
    }

    pub fn alg_name(self) -> &'static str {
        match self {
            Signing::Rs256 | Signing::Rs256Rotated => "RS256",
            Signing::Rs384 => "RS384",
            Signing::Rs512 => "RS512",
            Signing::Ps256 => "PS256",
            Signing::Ps384 => "PS384",
            Signing::Ps512 => "PS512",
            Signing::Es256 => "ES256",
            Signing::Es384 => "ES384",
            Signing::EdDsa => "EdDSA",
            Signing::Hs256 => "HS256",
            Signing::Hs384 => "HS384",
            Signing::Hs512 => "HS512",
            Signing::None => "none",
            Signing::Jwe => "RS256",
            Signing::Es512 => "ES512",
        }
    }

    fn algorithm(self) -> Option<Algorithm> {
        Some(match self {
            Signing::Rs256 | Signing::Rs256Rotated | Signing::Jwe => Algorithm::RS256,
            Signing::Rs384 => Algorithm::RS384,
            Signing::Rs512 => Algorithm::RS512,
            Signing::Ps256 => Algorithm::PS256,
            Signing::Ps384 => Algorithm::PS384,
            Signing::Ps512 => Algorithm::PS512,
            Signing::Es256 => Algorithm::ES256,
            Signing::Es384 => Algorithm::ES384,
            Signing::EdDsa => Algorithm::EdDSA,
            Signing::Hs256 => Algorithm::HS256,
            Signing::Hs384 => Algorithm::HS384,
            Signing::Hs512 => Algorithm::HS512,
            Signing::None | Signing::Es512 => return None,
        })
    }

    pub fn kid(self) -> Option<&'static str> {
        Some(match self {
            Signing::Rs256
            | Signing::Rs384
            | Signing::Rs512
            | Signing::Ps256
            | Signing::Ps384
            | Signing::Ps512
            | Signing::Jwe => "demo-rsa-a",
            Signing::Rs256Rotated => "demo-rsa-b",
            Signing::Es256 => "demo-ec-p256",
            Signing::Es384 => "demo-ec-p384",
            Signing::EdDsa => "demo-ed25519",
            Signing::Es512 => "demo-ec-p521",
            Signing::Hs256 | Signing::Hs384 | Signing::Hs512 | Signing::None => return None,
        })
    }

    fn encoding_key(self, secret: &str) -> Option<EncodingKey> {
        let pem = match self {
            Signing::Rs256
            | Signing::Rs384
            | Signing::Rs512
            | Signing::Ps256
            | Signing::Ps384
            | Signing::Ps512
            | Signing::Jwe => RSA_A,
            Signing::Rs256Rotated => RSA_B,
            Signing::Es256 => EC_P256,
            Signing::Es384 => EC_P384,
            Signing::EdDsa => ED25519,
            Signing::Hs256 | Signing::Hs384 | Signing::Hs512 => {
                return Some(EncodingKey::from_secret(secret.as_bytes()));
            }
            Signing::None | Signing::Es512 => return None,
        };
        match self {
            Signing::Es256 | Signing::Es384 => EncodingKey::from_ec_pem(pem.as_bytes()).ok(),
            Signing::EdDsa => EncodingKey::from_ed_pem(pem.as_bytes()).ok(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).ok(),
        }
    }

    /// A compact token over `claims` signed with this key (HS* use `secret`); JWE, `none` and
    /// ES512 produce tokens of the right shape that nothing can verify.
    pub fn sign(self, claims: &Value, kid: Option<&str>, secret: &str) -> String {
        self.sign_text(&serde_json::to_string(claims).unwrap_or_default(), kid, secret)
    }

    /// As [`Signing::sign`] over a payload given as JSON text, so a payload a serializer would
    /// never write (a member name twice, as a trace recorded it) is signed as it is.
    pub fn sign_text(self, payload: &str, kid: Option<&str>, secret: &str) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
        let body = URL_SAFE_NO_PAD.encode(payload.as_bytes());
        match (self, self.algorithm(), self.encoding_key(secret)) {
            (Signing::Jwe, _, _) => {
                let h = json!({"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512", "kid": kid, "typ": "JWT"});
                format!(
                    "{}.{}.{}.{}.{}",
                    enc(&h),
                    URL_SAFE_NO_PAD.encode([7u8; 256]),
                    URL_SAFE_NO_PAD.encode([1u8; 16]),
                    URL_SAFE_NO_PAD.encode(b"ciphertext"),
                    URL_SAFE_NO_PAD.encode([2u8; 32])
                )
            }
            (Signing::None, _, _) => format!("{}.{body}.", enc(&json!({"alg": "none", "typ": "JWT"}))),
            (Signing::Es512, _, _) => format!(
                "{}.{body}.{}",
                enc(&json!({"alg": "ES512", "kid": kid, "typ": "JWT"})),
                URL_SAFE_NO_PAD.encode([3u8; 132])
            ),
            (_, Some(alg), Some(key)) => {
                let mut h = json!({"typ": "JWT", "alg": self.alg_name()});
                if let Some(kid) = kid {
                    h["kid"] = kid.into();
                }
                let signing_input = format!("{}.{body}", enc(&h));
                match jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, alg) {
                    Ok(sig) => format!("{signing_input}.{sig}"),
                    Err(_) => String::new(),
                }
            }
            _ => String::new(),
        }
    }

    /// The public JWK for this key (authentik's JWKS entry), if it has one.
    pub fn jwk(self) -> Option<Value> {
        if self == Signing::Es512 {
            // A P-521 key the gateway can parse but not use.
            let x = URL_SAFE_NO_PAD.encode([1u8; 66]);
            return Some(
                json!({"kty":"EC","crv":"P-521","x":x,"y":x,"alg":"ES512","use":"sig","kid":"demo-ec-p521"}),
            );
        }
        let alg = self.algorithm()?;
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return None;
        }
        let key = self.encoding_key("")?;
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg).ok()?;
        let mut v = serde_json::to_value(jwk).ok()?;
        if let Value::Object(m) = &mut v {
            m.insert("kid".into(), self.kid()?.into());
            m.insert("use".into(), "sig".into());
        }
        Some(v)
    }
}
