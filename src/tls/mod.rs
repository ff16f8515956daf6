//! TLS for both legs: the server side the clients see (a given certificate, or leaves issued on
//! the fly per SNI by the dev CA) and the client side towards the upstream (webpki + system
//! roots + `--upstream-ca`, or an explicit, loudly announced `--insecure-upstream`).

pub mod certs;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;

pub use certs::{DevCa, Leaf};

/// Why TLS material could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, io::Error),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, io::Error),
    #[error(
        "{present} exists but {missing} does not: refusing to make a new one next to it (the certificate may already be trusted by Mastodon); restore {missing}, or move both away to start afresh"
    )]
    HalfCa { present: PathBuf, missing: PathBuf },
    #[error("{0} is not usable PEM: {1}")]
    BadPem(PathBuf, String),
    #[error("certificate generation failed: {0}")]
    Rcgen(rcgen::Error),
    #[error("TLS configuration rejected: {0}")]
    Rustls(rustls::Error),
}

// By hand, not `#[from]`: a source would print the cause a second time after the message.
impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> TlsError {
        TlsError::Rustls(e)
    }
}

pub(crate) fn first_cert(pem: &str) -> Option<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()
}

/// Loads every certificate of a PEM file; an empty file is an error.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::Read(path.to_owned(), e))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadPem(path.to_owned(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::BadPem(path.to_owned(), "no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// Loads a private key (PKCS#8, PKCS#1 or SEC1) from a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|e| TlsError::Read(path.to_owned(), e))?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| TlsError::BadPem(path.to_owned(), e.to_string()))
}

/// What the listening side presents.
pub enum ServerIdentity {
    /// `--cert` / `--key`.
    Fixed { chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static> },
    /// A leaf per SNI name, issued by the dev CA; `fallback` names are used when the client
    /// sends no SNI (an IP address in the URL).
    DevCa { ca: Arc<DevCa>, fallback: Vec<String> },
}

/// Server config with ALPN h2 + http/1.1.
pub fn server_config(identity: ServerIdentity) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder().with_no_client_auth();
    let mut cfg = match identity {
        ServerIdentity::Fixed { chain, key } => builder.with_single_cert(chain, key)?,
        ServerIdentity::DevCa { ca, fallback } => builder.with_cert_resolver(Arc::new(IssuingResolver {
            ca,
            fallback,
            cache: Mutex::new(HashMap::new()),
        })),
    };
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Issues (and caches) a leaf for each SNI name it is asked for.
struct IssuingResolver {
    ca: Arc<DevCa>,
    fallback: Vec<String>,
    cache: Mutex<HashMap<Vec<String>, Arc<CertifiedKey>>>,
}

impl fmt::Debug for IssuingResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuingResolver").field("fallback", &self.fallback).finish()
    }
}

impl ResolvesServerCert for IssuingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let names = match hello.server_name() {
            Some(n) => vec![n.to_ascii_lowercase()],
            None => self.fallback.clone(),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cache.get(&names) {
            return Some(k.clone());
        }
        let leaf = match self.ca.issue(&names) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot issue a certificate for {names:?}: {e}");
                return None;
            }
        };
        let key = rustls::crypto::ring::sign::any_supported_type(&leaf.key).ok()?;
        let ck = Arc::new(CertifiedKey::new(leaf.chain, key));
        // Bounded: a scanner sending random SNI names must not grow memory forever.
        if cache.len() > 256 {
            cache.clear();
        }
        cache.insert(names, ck.clone());
        Some(ck)
    }
}

/// How the gateway trusts upstream servers.
#[derive(Default, Clone)]
pub struct UpstreamTrust {
    /// Extra CA files (`--upstream-ca`).
    pub extra_cas: Vec<PathBuf>,
    /// Extra CA certificates already in memory (the embedded demo).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Accept any certificate (`--insecure-upstream`).
    pub insecure: bool,
}

/// Client config for the upstream leg (ALPN is set by the connector).
pub fn upstream_client_config(trust: &UpstreamTrust) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder();
    if trust.insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(
                rustls::crypto::ring::default_provider().signature_verification_algorithms,
            )))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    for cert in &trust.extra_roots {
        roots.add(cert.clone())?;
    }
    for path in &trust.extra_cas {
        for cert in load_certs(path)? {
            roots.add(cert).map_err(|e| TlsError::BadPem(path.clone(), e.to_string()))?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `--insecure-upstream`: checks signatures on the handshake but trusts any certificate.
#[derive(Debug)]
struct AcceptAnyCert(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Installs the ring provider as the process default (idempotent; a second call is a no-op).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
