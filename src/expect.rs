//! What "right" means for this deployment: Mastodon's `.env.production` OIDC settings and/or
//! explicit `--expect-*` flags (which win). Rules that need a value that is not given say
//! "not checked" instead of guessing.

use std::fmt;
use std::path::Path;

use crate::redact::Secret;

/// A `.env.production` that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("cannot read Mastodon env file {0}: {1}")]
    Read(String, String),
}

#[derive(Clone)]
pub struct Expectations {
    /// `OIDC_ISSUER`: compared byte for byte with the discovered issuer and the ID token `iss`.
    pub issuer: Option<String>,
    /// `OIDC_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `OIDC_REDIRECT_URI`.
    pub redirect_uri: Option<String>,
    /// `OIDC_CLIENT_SECRET`: used for HS* verification and to compare with what is sent
    /// (by fingerprint). Never printed.
    pub client_secret: Option<Secret>,
    /// `OIDC_UID_FIELD` (the integration guide's `preferred_username` by default).
    pub uid_field: String,
    /// `OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED`.
    pub assume_email_verified: bool,
    /// `WEB_DOMAIN` (or `LOCAL_DOMAIN`): where the callback must point.
    pub web_domain: Option<String>,
    /// `OIDC_SCOPE` as configured.
    pub scope: Option<String>,
    /// The provider's authorization code lifetime (authentik "Access code validity", 60 s).
    pub code_lifetime_s: u64,
    /// Where the values came from (for messages).
    pub source: Option<String>,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            issuer: None,
            client_id: None,
            redirect_uri: None,
            client_secret: None,
            uid_field: "preferred_username".into(),
            assume_email_verified: false,
            web_domain: None,
            scope: None,
            code_lifetime_s: 60,
            source: None,
        }
    }
}

impl fmt::Debug for Expectations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expectations")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("client_secret", &self.client_secret)
            .field("uid_field", &self.uid_field)
            .field("assume_email_verified", &self.assume_email_verified)
            .field("web_domain", &self.web_domain)
            .finish()
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
}

impl Expectations {
    /// Reads the OIDC settings of a Mastodon `.env.production` (dotenv syntax).
    pub fn from_env_file(path: &Path) -> Result<Expectations, ExpectError> {
        let err = |e: String| ExpectError::Read(path.display().to_string(), e);
        let iter = dotenvy::from_path_iter(path).map_err(|e| err(e.to_string()))?;
        let mut e = Expectations { source: Some(path.display().to_string()), ..Default::default() };
        let mut local_domain = None;
        for item in iter {
            let (k, v) = item.map_err(|e| err(e.to_string()))?;
            match k.as_str() {
                "OIDC_ISSUER" => e.issuer = Some(v),
                "OIDC_CLIENT_ID" => e.client_id = Some(v),
                "OIDC_CLIENT_SECRET" => e.client_secret = Some(Secret::new(v)),
                "OIDC_REDIRECT_URI" => e.redirect_uri = Some(v),
                "OIDC_UID_FIELD" => e.uid_field = v,
                "OIDC_SCOPE" => e.scope = Some(v),
                "OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED" => e.assume_email_verified = truthy(&v),
                "WEB_DOMAIN" => e.web_domain = Some(v),
                "LOCAL_DOMAIN" => local_domain = Some(v),
                _ => {}
            }
        }
        if e.web_domain.is_none() {
            e.web_domain = local_domain;
        }
        Ok(e)
    }

    /// Mastodon's callback for its web domain.
    pub fn canonical_redirect_uri(&self) -> Option<String> {
        self.web_domain.as_ref().map(|d| format!("https://{d}/auth/auth/openid_connect/callback"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_mastodon_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env.production");
        std::fs::write(
            &p,
            "LOCAL_DOMAIN=mastodon.company\n# comment\nOIDC_ENABLED=true\nOIDC_ISSUER=https://authentik.company/application/o/mastodon/\n\
             OIDC_CLIENT_ID=abc\nOIDC_CLIENT_SECRET=\"quoted secret\"\nOIDC_REDIRECT_URI=https://mastodon.company/auth/auth/openid_connect/callback\n\
             OIDC_UID_FIELD=sub\nOIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED=true\n",
        )
        .unwrap();
        let e = Expectations::from_env_file(&p).unwrap();
        assert_eq!(e.issuer.as_deref(), Some("https://authentik.company/application/o/mastodon/"));
        assert_eq!(e.client_secret.as_ref().map(Secret::expose), Some("quoted secret"));
        assert_eq!(e.uid_field, "sub");
        assert!(e.assume_email_verified);
        assert_eq!(
            e.canonical_redirect_uri().as_deref(),
            Some("https://mastodon.company/auth/auth/openid_connect/callback")
        );
        assert!(!format!("{e:?}").contains("quoted secret"));
        assert!(Expectations::from_env_file(&dir.path().join("missing")).is_err());
    }
}
