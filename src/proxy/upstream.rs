//! The upstream leg: a pooled hyper client over rustls that negotiates h2 or http/1.1, dials
//! `--connect-to` addresses while keeping SNI and Host, and turns connection failures into
//! messages that say what to change.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_service::Service;

use super::route::ConnectTo;
use crate::tls::{TlsError, UpstreamTrust, upstream_client_config};

/// Dials the `--connect-to` address instead of the URI's host; everything above (TLS SNI,
/// Host header, pooling) still sees the original URI.
#[derive(Clone)]
pub struct ConnectToConnector {
    inner: HttpConnector,
    overrides: Arc<ConnectTo>,
}

impl Service<Uri> for ConnectToConnector {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let target = uri
            .host()
            .and_then(|h| self.overrides.lookup(h, port))
            .and_then(|to| format!("http://{to}").parse::<Uri>().ok());
        let fut = self.inner.call(target.unwrap_or(uri));
        Box::pin(fut)
    }
}

/// The pooled upstream client, generic over the request body type.
pub type UpstreamClient<B> = Client<HttpsConnector<ConnectToConnector>, B>;

/// Builds the client. `connect_timeout` bounds TCP connect; the response timeout is applied
/// per request by the caller.
pub fn build_client<B>(
    trust: &UpstreamTrust,
    overrides: ConnectTo,
    connect_timeout: Duration,
) -> Result<UpstreamClient<B>, TlsError>
where
    B: http_body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let connector = ConnectToConnector { inner: http, overrides: Arc::new(overrides) };
    let tls = upstream_client_config(trust)?;
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .http1_max_buf_size(MAX_BUF)
        .build(https))
}

/// The most a connection buffers (read, and queued for writing) on either leg: 64 KiB instead
/// of hyper's ~400 KiB, since a buffer once grown stays with its connection (the soak's peak
/// fell from 70 to 64 MiB, at no cost in throughput: BENCHMARKS.md). A request or response
/// head must fit in it.
pub const MAX_BUF: usize = 64 * 1024;

/// Why the upstream could not be reached, phrased as something to do about it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamFailure {
    #[error("upstream {0} refused the connection: is it running, and are --upstream/--connect-to right?")]
    Refused(String),
    #[error("cannot resolve upstream {0}: add --connect-to {0}:PORT=ADDR:PORT or fix DNS")]
    Dns(String),
    #[error("upstream {0} certificate not trusted: pass --upstream-ca PEM (or --insecure-upstream)")]
    Untrusted(String),
    #[error(
        "upstream {0} certificate does not cover that name: check --upstream host, or use --connect-to to keep the name"
    )]
    WrongName(String),
    #[error("upstream {0} certificate has expired or is not yet valid")]
    Expired(String),
    #[error(
        "upstream {0} presents a CA certificate as its server certificate (what `openssl req -x509` makes by default): give it a server certificate issued by that CA, or pass --insecure-upstream"
    )]
    CaAsServerCertificate(String),
    #[error("TLS handshake with upstream {0} failed: {1} (is it really https?)")]
    Tls(String, String),
    #[error("upstream {0} did not answer within {1} s")]
    Timeout(String, u64),
    #[error(
        "could not connect to upstream {0} in time (--connect-timeout): is the address right and reachable?"
    )]
    ConnectTimeout(String),
    #[error("upstream {0} failed: {1}")]
    Other(String, String),
}

impl UpstreamFailure {
    /// Classifies a client error by walking its causes (rustls and io errors are often
    /// wrapped several times, and `io::Error::source` skips the wrapped error itself).
    pub fn classify(upstream: &str, err: &(dyn StdError + 'static)) -> UpstreamFailure {
        let u = upstream.to_owned();
        let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
        let mut text = String::new();
        while let Some(e) = cur {
            if let Some(f) = Self::from_rustls(&u, e) {
                return f;
            }
            let io = e.downcast_ref::<std::io::Error>();
            match io.map(|io| io.kind()) {
                Some(std::io::ErrorKind::ConnectionRefused) => return UpstreamFailure::Refused(u),
                Some(std::io::ErrorKind::TimedOut) => return UpstreamFailure::ConnectTimeout(u),
                _ => {}
            }
            text = e.to_string();
            // `io::Error::source` skips the error it wraps; descend into it instead.
            cur = match io.and_then(|io| io.get_ref()) {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => e.source(),
            };
        }
        let lower = text.to_ascii_lowercase();
        if lower.contains("dns error")
            || lower.contains("failed to lookup")
            || lower.contains("name or service")
        {
            UpstreamFailure::Dns(u)
        } else if lower.contains("refused") {
            UpstreamFailure::Refused(u)
        } else {
            UpstreamFailure::Other(u, if text.is_empty() { err.to_string() } else { text })
        }
    }

    fn from_rustls(u: &str, e: &(dyn StdError + 'static)) -> Option<UpstreamFailure> {
        use rustls::CertificateError as C;
        let r = e.downcast_ref::<rustls::Error>()?;
        Some(match r {
            rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                UpstreamFailure::Untrusted(u.into())
            }
            rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                UpstreamFailure::WrongName(u.into())
            }
            rustls::Error::InvalidCertificate(
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
            ) => UpstreamFailure::Expired(u.into()),
            rustls::Error::InvalidCertificate(C::Other(o))
                if format!("{o:?}").contains("CaUsedAsEndEntity") =>
            {
                UpstreamFailure::CaAsServerCertificate(u.into())
            }
            other => UpstreamFailure::Tls(u.into(), other.to_string()),
        })
    }

    /// 504 for timeouts, 502 for everything else.
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamFailure::Timeout(..) | UpstreamFailure::ConnectTimeout(_) => {
                http::StatusCode::GATEWAY_TIMEOUT
            }
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_rustls_errors_are_recognised() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // hyper-rustls wraps tokio-rustls' io::Error in another io::Error.
        let io = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, inner));
        let f = UpstreamFailure::classify("https://a", &io);
        assert_eq!(f, UpstreamFailure::Untrusted("https://a".into()));
        assert!(f.to_string().contains("--upstream-ca"));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(UpstreamFailure::classify("u", &refused), UpstreamFailure::Refused("u".into()));
        assert_eq!(UpstreamFailure::Timeout("u".into(), 3).status(), http::StatusCode::GATEWAY_TIMEOUT);
        let slow = std::io::Error::from(std::io::ErrorKind::TimedOut);
        let f = UpstreamFailure::classify("u", &slow);
        assert_eq!(f, UpstreamFailure::ConnectTimeout("u".into()));
        assert_eq!(f.status(), http::StatusCode::GATEWAY_TIMEOUT);
    }
}
