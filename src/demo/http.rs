//! Small HTTP helpers for the demo's built-in servers and clients (loopback only).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::proxy::route::ConnectTo;
use crate::proxy::upstream::{UpstreamClient, build_client};
use crate::tls::{TlsError, UpstreamTrust};

pub type Body = Full<Bytes>;

/// A request with its body read (demo servers only see small bodies).
pub struct Req {
    pub method: http::Method,
    pub path: String,
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        crate::oidc::messages::parse_pairs(&self.query)
    }

    pub fn form(&self) -> Vec<(String, String)> {
        crate::oidc::messages::parse_pairs(std::str::from_utf8(&self.body).unwrap_or(""))
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == name).then(|| v.to_owned())
            })
    }
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if !content_type.is_empty() {
        r.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().expect("static content type"));
    }
    r
}

pub fn json(status: u16, v: &serde_json::Value) -> Response<Body> {
    respond(status, "application/json", serde_json::to_vec(v).unwrap_or_default())
}

pub fn redirect(status: u16, location: &str) -> Response<Body> {
    let mut r = respond(status, "", Bytes::new());
    if let Ok(v) = location.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Serves `handler` on `listener` (TLS when `tls` is given), h1 + h2, until the task is dropped.
pub fn serve<H, F>(listener: TcpListener, tls: Option<TlsAcceptor>, handler: H)
where
    H: Fn(Req, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            let handler = handler.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let req = Req {
                            method: parts.method,
                            path: parts.uri.path().to_owned(),
                            query: parts.uri.query().unwrap_or("").to_owned(),
                            headers: parts.headers,
                            body,
                        };
                        Ok::<_, Infallible>(handler(req, peer).await)
                    }
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(a) => {
                        if let Ok(s) = a.accept(tcp).await {
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
}

/// A client that dials `gateway` for every host in `hosts` (so every call goes through the
/// gateway) and trusts `trust`.
pub fn client_via(
    gateway: SocketAddr,
    hosts: &[&str],
    trust: &UpstreamTrust,
) -> Result<UpstreamClient<Body>, TlsError> {
    client_routed(gateway, hosts, &[], trust)
}

/// A client that dials `direct`'s hosts at their own address (TLS and plain alike) and the
/// rest of `hosts` through `gateway`.
pub fn client_routed(
    gateway: SocketAddr,
    hosts: &[&str],
    direct: &[(&str, SocketAddr)],
    trust: &UpstreamTrust,
) -> Result<UpstreamClient<Body>, TlsError> {
    let routes = hosts.iter().map(|h| (*h, gateway)).chain(direct.iter().copied());
    let entries = routes
        .flat_map(|(h, to)| [((h.to_string(), 443), to.to_string()), ((h.to_string(), 80), to.to_string())])
        .collect();
    build_client(trust, ConnectTo::new(entries), std::time::Duration::from_secs(5))
}

/// Sends a request and reads the whole response.
pub async fn send(
    client: &UpstreamClient<Body>,
    req: Request<Body>,
) -> Result<(http::response::Parts, Bytes), String> {
    let resp = client.request(req).await.map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts, body))
}

/// 32 hex characters, unpredictable enough for a demo (state, nonce, code).
pub fn random_hex() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = crate::clock::now_ms();
    let d = Sha256::digest(format!("{n}:{t}:{:p}", &COUNTER).as_bytes());
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}
