//! The development CA in `certs/`: created once, then used to issue a leaf for every name the
//! gateway is asked for (SNI), so Mastodon only has to trust one file, `certs/ca.pem`.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsError;

/// File names inside the CA directory.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
/// Subject of the dev CA; leaves name it as their issuer, so it must not change.
const CA_NAME: &str = "oidc-tap development CA";

/// A CA able to issue server certificates on the fly.
pub struct DevCa {
    pub cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A freshly issued leaf, ready for rustls and for writing to disk.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "oidc-tap");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let (from, to) = validity_years();
    p.not_before = rcgen::date_time_ymd(from, 1, 1);
    p.not_after = rcgen::date_time_ymd(to + 9, 12, 31);
    p
}

/// The current year minus one and plus one, from the system clock.
fn validity_years() -> (i32, i32) {
    let secs = crate::clock::now_s();
    let year = 1970 + (secs / 31_556_952) as i32;
    (year - 1, year + 1)
}

/// Shows which CA without its private key.
impl std::fmt::Debug for DevCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCa").field("cert_der_len", &self.cert_der.len()).finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new CA with a fresh ECDSA P-256 key.
    pub fn generate() -> Result<DevCa, TlsError> {
        let key = KeyPair::generate().map_err(TlsError::Rcgen)?;
        let params = ca_params();
        let cert = params.self_signed(&key).map_err(TlsError::Rcgen)?;
        Ok(DevCa { cert_pem: cert.pem(), cert_der: cert.der().clone(), issuer: Issuer::new(params, key) })
    }

    /// Loads a CA written by [`DevCa::write`]. Only CAs made by oidc-tap can be loaded: the
    /// issuer name of the leaves is rebuilt from the fixed CA subject.
    pub fn load(dir: &Path) -> Result<DevCa, TlsError> {
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let cert_pem = fs::read_to_string(&cert_path).map_err(|e| TlsError::Read(cert_path.clone(), e))?;
        let key_pem = fs::read_to_string(&key_path).map_err(|e| TlsError::Read(key_path.clone(), e))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| TlsError::BadPem(key_path, e.to_string()))?;
        let cert_der = super::first_cert(&cert_pem)
            .ok_or_else(|| TlsError::BadPem(cert_path, "no certificate".into()))?;
        Ok(DevCa { cert_pem, cert_der, issuer: Issuer::new(ca_params(), key) })
    }

    /// Loads the CA in `dir`, or creates and writes one when neither file exists. Returns
    /// whether it was created. Half a CA (one file without the other) is refused: the
    /// certificate may already sit in Mastodon's trust store, and a new one would not.
    pub fn load_or_create(dir: &Path) -> Result<(DevCa, bool), TlsError> {
        let (cert, key) = (dir.join(CA_CERT), dir.join(CA_KEY));
        match (cert.exists(), key.exists()) {
            (true, true) => Ok((DevCa::load(dir)?, false)),
            (false, false) => {
                let ca = DevCa::generate()?;
                ca.write(dir)?;
                Ok((ca, true))
            }
            (true, false) => Err(TlsError::HalfCa { present: cert, missing: key }),
            (false, true) => Err(TlsError::HalfCa { present: key, missing: cert }),
        }
    }

    /// Writes `ca.pem` and `ca.key` (0600), refusing to replace either.
    pub fn write(&self, dir: &Path) -> Result<(), TlsError> {
        fs::create_dir_all(dir).map_err(|e| TlsError::Write(dir.to_owned(), e))?;
        write_file(&dir.join(CA_CERT), &self.cert_pem)?;
        write_file(&dir.join(CA_KEY), &self.issuer.key().serialize_pem())
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[String]) -> Result<Leaf, TlsError> {
        let (from, to) = validity_years();
        self.issue_for_years(names, from, to)
    }

    /// Issues a server certificate valid from 1 January of `from` to 31 December of `to`
    /// (an expired one lets the tests see what a gateway says about an expired upstream).
    pub fn issue_for_years(&self, names: &[String], from: i32, to: i32) -> Result<Leaf, TlsError> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(TlsError::Rcgen)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names.first().map(String::as_str).unwrap_or("oidc-tap"));
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 12, 31);
        let key = KeyPair::generate().map_err(TlsError::Rcgen)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(TlsError::Rcgen)?;
        Ok(Leaf {
            chain: vec![cert.der().clone(), self.cert_der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
        })
    }
}

fn write_file(path: &Path, content: &str) -> Result<(), TlsError> {
    crate::files::write_new(path, content.as_bytes()).map_err(|e| TlsError::Write(path.to_owned(), e))
}

/// Writes `leaf.pem` (leaf + CA chain) and `leaf.key` next to the CA, unless a leaf is there
/// already (it is kept: it may be installed somewhere). Returns the paths and whether they
/// were written.
pub fn write_leaf(dir: &Path, leaf: &Leaf) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let cert = dir.join("leaf.pem");
    let key = dir.join("leaf.key");
    match (cert.exists(), key.exists()) {
        (false, false) => {
            write_file(&cert, &leaf.cert_pem)?;
            write_file(&key, &leaf.key_pem)?;
            Ok((cert, key, true))
        }
        (true, true) => Ok((cert, key, false)),
        (true, false) => Err(TlsError::HalfCa { present: cert, missing: key }),
        (false, true) => Err(TlsError::HalfCa { present: key, missing: cert }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;

    #[test]
    fn ca_round_trips_through_disk_and_issues_verifiable_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, created) = DevCa::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (again, created) = DevCa::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(ca.cert_pem, again.cert_pem);

        // A leaf issued by the reloaded CA must chain to the CA on disk.
        let leaf = again.issue(&["authentik.company".into(), "127.0.0.1".into()]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let name = rustls_pki_types::ServerName::try_from("authentik.company").unwrap();
        verifier
            .verify_server_cert(
                &leaf.chain[0],
                &leaf.chain[1..],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .expect("leaf chains to the CA");
        let ip = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        verifier
            .verify_server_cert(&leaf.chain[0], &[], &ip, &[], rustls_pki_types::UnixTime::now())
            .expect("IP SAN present");
    }

    #[test]
    fn a_corrupt_key_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        DevCa::generate().unwrap().write(dir.path()).unwrap();
        fs::write(dir.path().join(CA_KEY), "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
            .unwrap();
        assert!(matches!(DevCa::load(dir.path()), Err(TlsError::BadPem(..))));
    }
}
