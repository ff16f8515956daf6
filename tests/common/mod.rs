//! Shared test rig: a fresh dev CA per test, upstream servers on 127.0.0.1:0 (TLS h1-only,
//! TLS h1+h2, or plain), the gateway in-process, and clients that trust the CA and resolve
//! every name to loopback.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use oidc_tap::capture::Exchange;
use oidc_tap::proxy::route::{ConnectTo, Router, Upstream};
use oidc_tap::proxy::{Gateway, Listen, ProxyConfig};
use oidc_tap::tls::{DevCa, ServerIdentity};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub type TestBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

pub fn init() {
    oidc_tap::tls::install_crypto_provider();
}

/// How an upstream test server speaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpstreamKind {
    Plain,
    TlsH1,
    TlsH2,
}

/// A running upstream. `ca` issued its certificate (when TLS).
pub struct TestUpstream {
    pub addr: SocketAddr,
    pub kind: UpstreamKind,
}

impl TestUpstream {
    pub fn url(&self) -> String {
        let scheme = if self.kind == UpstreamKind::Plain { "http" } else { "https" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }
}

/// Deterministic bytes for big-body tests.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn streamed(data: Vec<u8>, chunk: usize) -> TestBody {
    let chunks: Vec<Result<Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>> =
        data.chunks(chunk).map(|c| Ok(Frame::data(Bytes::copy_from_slice(c)))).collect();
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(chunks)))
}

pub fn full(data: impl Into<Bytes>) -> TestBody {
    Full::new(data.into()).map_err(|e| match e {}).boxed()
}

/// The upstream's routes:
/// - `/echo`: streams the request body back;
/// - `/big?n=N`: streams N pattern bytes;
/// - `/seen`: JSON of what arrived (host, x-forwarded-*, version, sni, cookie, authority);
/// - `/redirect`: 302 with Location and two Set-Cookie;
/// - `/slow`: answers after 5 s;
/// - `/ws`: WebSocket echo.
async fn upstream_handler(
    req: Request<Incoming>,
    sni: Option<String>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let resp = match path.as_str() {
        "/echo" => Response::new(req.into_body().map_err(|e| e.into()).boxed()),
        "/big" => {
            let n: usize = query.strip_prefix("n=").and_then(|v| v.parse().ok()).unwrap_or(1000);
            Response::new(streamed(pattern(n), 64 * 1024))
        }
        "/seen" => {
            let h = |n: &str| {
                req.headers()
                    .get_all(n)
                    .iter()
                    .map(|v| v.to_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
            };
            let j = serde_json::json!({
                "host": h("host"),
                "x_forwarded_proto": h("x-forwarded-proto"),
                "x_forwarded_for": h("x-forwarded-for"),
                "cookie": h("cookie"),
                "connection": h("connection"),
                "version": format!("{:?}", req.version()),
                "authority": req.uri().authority().map(|a| a.to_string()),
                "sni": sni,
            });
            let mut r = Response::new(full(j.to_string()));
            r.headers_mut().insert("content-type", "application/json".parse().unwrap());
            r
        }
        "/redirect" => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "https://mastodon.test/auth/auth/openid_connect/callback?code=abc&state=xyz")
            .header("set-cookie", "a=1; Path=/; Secure")
            .header("set-cookie", "b=2; Path=/; HttpOnly")
            .body(full(""))
            .unwrap(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Response::new(full("late"))
        }
        "/ws" => {
            let mut req = req;
            let key = req.headers().get("sec-websocket-key").cloned();
            let Some(key) = key else {
                return Ok(Response::builder().status(400).body(full("not ws")).unwrap());
            };
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                        TokioIo::new(up),
                        tokio_tungstenite::tungstenite::protocol::Role::Server,
                        None,
                    )
                    .await;
                    let (mut tx, mut rx) = ws.split();
                    while let Some(Ok(msg)) = rx.next().await {
                        if msg.is_text() || msg.is_binary() {
                            let _ = tx.send(msg).await;
                        }
                    }
                }
            });
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", accept)
                .body(full(""))
                .unwrap()
        }
        _ => Response::builder().status(404).body(full("no such test path")).unwrap(),
    };
    Ok(resp)
}

/// Starts an upstream. TLS upstreams present a leaf for `names` issued by `ca`.
pub async fn start_upstream(kind: UpstreamKind, ca: &DevCa, names: &[&str]) -> TestUpstream {
    let leaf = ca.issue(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    start_upstream_with(kind, leaf).await
}

/// Starts an upstream presenting `leaf` (when TLS).
pub async fn start_upstream_with(kind: UpstreamKind, leaf: oidc_tap::tls::Leaf) -> TestUpstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = (kind != UpstreamKind::Plain).then(|| {
        let mut cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(leaf.chain, leaf.key)
            .unwrap();
        cfg.alpn_protocols = if kind == UpstreamKind::TlsH2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        TlsAcceptor::from(Arc::new(cfg))
    });
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(a) => {
                        let Ok(tls) = a.accept(tcp).await else { return };
                        let sni = tls.get_ref().1.server_name().map(str::to_owned);
                        let svc = service_fn(move |req| upstream_handler(req, sni.clone()));
                        let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await;
                    }
                    None => {
                        let svc = service_fn(|req| upstream_handler(req, None));
                        let _ = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    TestUpstream { addr, kind }
}

/// Options for [`start_gateway`].
pub struct GatewayOpts {
    pub listen_tls: bool,
    pub upstream: Option<String>,
    pub routes: Vec<String>,
    pub connect_to: Vec<String>,
    pub trust_ca: bool,
    pub capture_limit: usize,
    pub response_timeout: Duration,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
    /// The analysis side's predicate (`None`: every request recorded whole).
    pub wanted: Option<oidc_tap::proxy::tap::Wanted>,
    pub body_idle_timeout: Duration,
    /// Forwarding lanes (threads); `None`: one per core, as the binary runs.
    pub lanes: Option<usize>,
}

impl Default for GatewayOpts {
    fn default() -> Self {
        GatewayOpts {
            listen_tls: true,
            upstream: None,
            routes: vec![],
            connect_to: vec![],
            trust_ca: true,
            capture_limit: 1024 * 1024,
            response_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            wanted: None,
            body_idle_timeout: Duration::from_secs(60),
            lanes: None,
        }
    }
}

pub struct TestGateway {
    pub gw: Gateway,
    pub records: oidc_tap::proxy::tap::Records,
    pub port: u16,
    pub ca_file: tempfile::NamedTempFile,
}

impl TestGateway {
    /// Next record, waiting up to 5 s.
    pub async fn record(&mut self) -> Exchange {
        tokio::time::timeout(Duration::from_secs(5), self.records.recv())
            .await
            .expect("an exchange record within 5 s")
            .expect("record channel open")
    }
}

/// Starts the gateway on 127.0.0.1:0 in front of the given upstreams. The CA that issued the
/// upstream certificates is trusted upstream-side via `--upstream-ca` (when `trust_ca`).
pub async fn start_gateway(ca: &Arc<DevCa>, opts: GatewayOpts) -> TestGateway {
    let listen = if opts.listen_tls { "https://127.0.0.1:0" } else { "http://127.0.0.1:0" };
    let default = opts.upstream.as_deref().map(|u| Upstream::parse(u).unwrap());
    let routes = opts.routes.iter().map(|r| Router::parse_route(r).unwrap()).collect();
    let mut cfg = ProxyConfig::new(vec![Listen::parse(listen).unwrap()], Router::new(default, routes));
    cfg.connect_to =
        ConnectTo::new(opts.connect_to.iter().map(|c| ConnectTo::parse_one(c).unwrap()).collect());
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_file, ca.cert_pem.as_bytes()).unwrap();
    if opts.trust_ca {
        cfg.trust.extra_cas = vec![ca_file.path().to_owned()];
    }
    cfg.capture_limit = opts.capture_limit;
    cfg.response_timeout = opts.response_timeout;
    cfg.max_connections = opts.max_connections;
    cfg.header_read_timeout = opts.header_read_timeout;
    cfg.shutdown_grace = opts.shutdown_grace;
    cfg.wanted = opts.wanted;
    cfg.body_idle_timeout = opts.body_idle_timeout;
    if let Some(n) = opts.lanes {
        cfg.lanes = n;
    }
    cfg.identity = Some(ServerIdentity::DevCa { ca: ca.clone(), fallback: vec!["127.0.0.1".into()] });
    let mut gw = Gateway::start(cfg).await.unwrap();
    let records = gw.take_records().unwrap();
    let port = gw.listening[0].addr.port();
    TestGateway { gw, records, port, ca_file }
}

/// Resolves every name to 127.0.0.1, so clients can use real host names (SNI, Host).
#[derive(Clone)]
pub struct Loopback;

impl tower_service::Service<Name> for Loopback {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Name) -> Self::Future {
        Box::pin(async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))].into_iter()) })
    }
}

pub type TestClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Loopback>>, TestBody>;

/// A client trusting `ca`. `h2` picks the protocol the client offers (h2 only, or h1 only).
pub fn client(ca: &DevCa, h2: bool) -> TestClient {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let mut http = HttpConnector::new_with_resolver(Loopback);
    http.enforce_http(false);
    let b = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    let https =
        if h2 { b.enable_http2().wrap_connector(http) } else { b.enable_http1().wrap_connector(http) };
    let mut builder = Client::builder(TokioExecutor::new());
    if h2 {
        builder.http2_only(true);
    }
    builder.build(https)
}

/// Sends a request and collects the whole response.
pub async fn send(client: &TestClient, req: Request<TestBody>) -> (Response<()>, Bytes) {
    let resp = client.request(req).await.expect("response from the gateway");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("full body").to_bytes();
    (Response::from_parts(parts, ()), bytes)
}

pub fn get(uri: &str) -> Request<TestBody> {
    Request::get(uri).body(full("")).unwrap()
}

pub fn post_streamed(uri: &str, data: Vec<u8>) -> Request<TestBody> {
    Request::post(uri).body(streamed(data, 64 * 1024)).unwrap()
}
