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
    /// `--rp`: the relying party every login is read as (these are its settings); `None`:
    /// each login's own, recognised from its redirect_uri, and these values Mastodon's. A
    /// login of another application is not judged against them.
    pub rp: Option<&'static str>,
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
            rp: None,
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

    /// Nothing was given (no env file, no `--expect-*`): an offline analysis may then take the
    /// expectations the live run recorded in its trace.
    pub fn is_unset(&self) -> bool {
        let d = Expectations::default();
        self.issuer.is_none()
            && self.client_id.is_none()
            && self.redirect_uri.is_none()
            && self.client_secret.is_none()
            && self.web_domain.is_none()
            && self.scope.is_none()
            && self.uid_field == d.uid_field
            && self.assume_email_verified == d.assume_email_verified
            && self.code_lifetime_s == d.code_lifetime_s
    }

    /// What a trace records of the live run's expectations (the journal's `session` line), so
    /// the trace analysed later is judged against the same settings. The client secret is kept
    /// only as its keyed fingerprint (the run's key, as the trace's own client_secret),
    /// whatever the redaction: enough to tell whether the secret sent in this trace was
    /// OIDC_CLIENT_SECRET, never enough to use it or to test a guess.
    pub fn to_record(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        };
        put("issuer", self.issuer.as_deref());
        put("client_id", self.client_id.as_deref());
        put("redirect_uri", self.redirect_uri.as_deref());
        put("web_domain", self.web_domain.as_deref());
        put("scope", self.scope.as_deref());
        put("source", self.source.as_deref());
        put("rp", self.rp);
        // Keyed, as the trace's own client_secret: comparable within the trace only.
        let secret = self.client_secret.as_ref().map(|s| crate::redact::mask_keyed(s.expose()));
        put("client_secret", secret.as_deref());
        m.insert("uid_field".into(), self.uid_field.clone().into());
        m.insert("assume_email_verified".into(), self.assume_email_verified.into());
        m.insert("code_lifetime_s".into(), self.code_lifetime_s.into());
        serde_json::Value::Object(m)
    }

    /// The expectations a trace recorded ([`Expectations::to_record`]); members of the wrong
    /// type are ignored (a trace is hostile input), a secret not in its masked form too.
    pub fn from_record(v: &serde_json::Value) -> Expectations {
        let d = Expectations::default();
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        Expectations {
            issuer: text("issuer"),
            client_id: text("client_id"),
            redirect_uri: text("redirect_uri"),
            client_secret: text("client_secret").filter(|s| crate::redact::is_masked(s)).map(Secret::new),
            uid_field: text("uid_field").unwrap_or(d.uid_field),
            assume_email_verified: v
                .get("assume_email_verified")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            web_domain: text("web_domain"),
            scope: text("scope"),
            code_lifetime_s: v
                .get("code_lifetime_s")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(d.code_lifetime_s),
            source: text("source"),
            rp: text("rp").and_then(|n| crate::rp::by_name(&n)).map(|p| p.name),
        }
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
    fn a_recorded_expectation_keeps_the_secret_only_as_its_fingerprint() {
        let e = Expectations {
            issuer: Some("https://a.test/application/o/m/".into()),
            client_secret: Some(Secret::new("s3cret")),
            uid_field: "sub".into(),
            source: Some(".env.production".into()),
            ..Default::default()
        };
        let rec = e.to_record();
        assert!(!rec.to_string().contains("s3cret"), "{rec}");
        assert_eq!(rec["client_secret"], crate::redact::mask_keyed("s3cret"));
        let back = Expectations::from_record(&rec);
        assert_eq!(back.issuer, e.issuer);
        assert_eq!(back.uid_field, "sub");
        assert_eq!(
            back.client_secret.as_ref().map(Secret::expose),
            Some(crate::redact::mask_keyed("s3cret").as_str())
        );
        assert_eq!(back.source.as_deref(), Some(".env.production"));
        assert!(!back.is_unset() && Expectations::default().is_unset());
        // Hostile members: wrong types ignored, a secret in clear refused.
        let odd = serde_json::json!({"issuer": 7, "client_secret": "clear", "code_lifetime_s": "x"});
        let back = Expectations::from_record(&odd);
        assert!(back.issuer.is_none() && back.client_secret.is_none() && back.code_lifetime_s == 60);
    }

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
