//! The gateway's network side: listeners (TLS or plain), one hyper connection per client
//! (h1 and h2, upgrades allowed), graceful shutdown. It knows nothing about OpenID Connect:
//! its only output is the stream of [`Exchange`] records it hands to whoever analyses them.
//!
//! Request path: `accept` (here) → TLS handshake (here) → [`forward::handle`] → upstream
//! client ([`upstream`]) → response streamed back through a [`tap::TapBody`].

pub mod forward;
pub mod headers;
pub mod lanes;
pub mod linger;
pub mod route;
pub mod stall;
pub mod tap;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::tls::{ServerIdentity, TlsError, UpstreamTrust, server_config};
use forward::{ConnInfo, Shared};
use lanes::Lanes;
use linger::Linger;
use route::{ConnectTo, Router};
use stall::WriteStall;
use tap::CaptureSink;

/// A `--listen` value: where, and whether TLS is terminated there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: bool,
}

impl Listen {
    /// `https://127.0.0.1:8443` or `http://0.0.0.0:8080`. A bare `ADDR:PORT` means https.
    pub fn parse(s: &str) -> Result<Listen, ProxyError> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            (true, s)
        };
        let rest = rest.trim_end_matches('/');
        let rest = if rest.starts_with("localhost:") {
            rest.replacen("localhost", "127.0.0.1", 1)
        } else {
            rest.into()
        };
        let addr = rest.parse().map_err(|_| ProxyError::BadListen(s.into()))?;
        Ok(Listen { addr, tls })
    }

    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }
}

/// Everything the gateway needs to run.
pub struct ProxyConfig {
    pub listeners: Vec<Listen>,
    /// Required when any listener is https.
    pub identity: Option<ServerIdentity>,
    pub router: Router,
    pub connect_to: ConnectTo,
    pub trust: UpstreamTrust,
    /// Bytes of each body kept in the capture (the rest still streams through).
    pub capture_limit: usize,
    /// Summaries of other traffic that may wait for the analysis side before new ones are
    /// dropped (and counted); login steps are never dropped.
    pub channel_capacity: usize,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// What to tell the user when a client rejects the gateway's certificate (names the CA
    /// file that must be trusted).
    pub trust_hint: String,
    /// Client connections served at once; past it, accepting waits (backpressure).
    pub max_connections: usize,
    /// How long a client may take to send a request head (or its first byte on TLS ports).
    pub header_read_timeout: Duration,
    /// Which requests the analysis side wants whole (`None`: all of them).
    pub wanted: Option<tap::Wanted>,
    /// A body (either way) with no data for this long while it is read ends with an error.
    pub body_idle_timeout: Duration,
    /// Forwarding threads (one per core by default; see [`lanes`]).
    pub lanes: usize,
    /// Exchanges are numbered from this + 1: a run that continues an earlier one (the demo's
    /// logins, each on its own gateway) keeps one numbering in every view.
    pub ids_before: u64,
}

impl ProxyConfig {
    /// Defaults for everything but listeners and routes.
    pub fn new(listeners: Vec<Listen>, router: Router) -> ProxyConfig {
        ProxyConfig {
            listeners,
            identity: None,
            router,
            connect_to: ConnectTo::default(),
            trust: UpstreamTrust::default(),
            capture_limit: 1024 * 1024,
            // Summaries are a few hundred bytes each; whole records are bounded by
            // tap::MAX_QUEUED_BYTES of bodies instead.
            channel_capacity: 4096,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            trust_hint: "make the client trust the gateway's certificate".into(),
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(30),
            wanted: None,
            body_idle_timeout: Duration::from_secs(60),
            lanes: lanes::default_count(),
            ids_before: 0,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("--listen {0:?} is not http(s)://ADDR:PORT")]
    BadListen(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("an https listener needs a certificate (--cert/--key or the dev CA)")]
    NoIdentity,
    #[error("no upstream configured: pass --upstream URL or --route HOST=URL")]
    NoUpstream,
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot start the forwarding threads: {0}")]
    Lanes(std::io::Error),
}

/// A running gateway. Dropping it does not stop it; call [`Gateway::shutdown`].
pub struct Gateway {
    /// Bound addresses, in `--listen` order (port 0 resolved).
    pub listening: Vec<Listen>,
    records: Option<tap::Records>,
    stats: Arc<tap::CaptureStats>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    lanes: Arc<Lanes>,
    next_id: Arc<AtomicU64>,
}

impl Gateway {
    /// Binds every listener and starts serving.
    pub async fn start(cfg: ProxyConfig) -> Result<Gateway, ProxyError> {
        if cfg.router.is_empty() {
            return Err(ProxyError::NoUpstream);
        }
        let tls = if cfg.listeners.iter().any(|l| l.tls) {
            let identity = cfg.identity.ok_or(ProxyError::NoIdentity)?;
            Some(TlsAcceptor::from(Arc::new(server_config(identity)?)))
        } else {
            None
        };
        let (sink, rx, stats) = CaptureSink::new(cfg.channel_capacity, cfg.capture_limit, cfg.wanted);
        let lanes = Arc::new(Lanes::start(cfg.lanes).map_err(ProxyError::Lanes)?);
        // One upstream client (connection pool) per lane: a pooled connection's task runs on the
        // lane that opened it, so the lane's requests never wait on another thread.
        let next_id = Arc::new(AtomicU64::new(cfg.ids_before));
        let mut per_lane = Vec::with_capacity(lanes.len());
        for _ in 0..lanes.len() {
            per_lane.push(Arc::new(Shared {
                router: cfg.router.clone(),
                client: upstream::build_client(&cfg.trust, cfg.connect_to.clone(), cfg.connect_timeout)?,
                sink: sink.clone(),
                response_timeout: cfg.response_timeout,
                next_id: next_id.clone(),
                trust_hint: cfg.trust_hint.clone(),
                header_read_timeout: cfg.header_read_timeout,
                body_idle_timeout: cfg.body_idle_timeout,
            }));
        }
        let shared = Arc::new(per_lane);
        let (stop, stop_rx) = watch::channel(false);
        let conn_ids = Arc::new(AtomicU64::new(0));
        let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
        let mut tasks = JoinSet::new();
        let mut listening = Vec::new();
        for l in &cfg.listeners {
            let listener = TcpListener::bind(l.addr).await.map_err(|e| ProxyError::Bind(l.addr, e))?;
            let addr = listener.local_addr().map_err(|e| ProxyError::Bind(l.addr, e))?;
            listening.push(Listen { addr, tls: l.tls });
            let acceptor = if l.tls { tls.clone() } else { None };
            tasks.spawn(accept_loop(
                listener,
                acceptor,
                (lanes.clone(), shared.clone()),
                conn_ids.clone(),
                (slots.clone(), cfg.max_connections.max(1)),
                stop_rx.clone(),
                cfg.shutdown_grace,
            ));
        }
        Ok(Gateway { listening, records: Some(rx), stats, stop, tasks, lanes, next_id })
    }

    /// The stream of finished exchanges; can be taken once.
    pub fn take_records(&mut self) -> Option<tap::Records> {
        self.records.take()
    }

    /// The id of the last exchange numbered so far (see [`ProxyConfig::ids_before`]).
    pub fn last_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// What the capture kept and lost (login steps whole, other traffic as summaries).
    pub fn capture_stats(&self) -> Arc<tap::CaptureStats> {
        self.stats.clone()
    }

    /// Stops accepting, lets in-flight requests finish (up to the grace period), returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Ok(lanes) = Arc::try_unwrap(self.lanes) {
            lanes.stop();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    (lanes, shared): (Arc<Lanes>, Arc<Vec<Arc<Shared>>>),
    conn_ids: Arc<AtomicU64>,
    (slots, max_connections): (Arc<Semaphore>, usize),
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    // Connection tasks, so the ones still open after the grace period can be ended: a client
    // holding an idle keep-alive connection must not keep the gateway (and its analysis) alive.
    let mut conns = tokio::task::JoinSet::new();
    let mut full = false;
    loop {
        while conns.try_join_next().is_some() {}
        // One slot per connection: at the cap, stop accepting until one closes.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                full = false;
                p
            }
            Err(_) => {
                if !full {
                    tracing::warn!(
                        "connection limit reached ({max_connections} open): new connections wait until one closes (--max-connections)"
                    );
                    full = true;
                }
                tokio::select! {
                    _ = stop.changed() => break,
                    p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                }
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let id = conn_ids.fetch_add(1, Ordering::Relaxed) + 1;
                let watcher = graceful.watcher();
                let lane = lanes.pick();
                let shared = shared[lane].clone();
                let tls = tls.clone();
                // The socket moves to the lane's runtime (registered with its reactor there).
                let _ = tcp.set_nodelay(true);
                let Ok(std_tcp) = tcp.into_std() else { continue };
                conns.spawn_on(async move {
                    if let Ok(tcp) = TcpStream::from_std(std_tcp) {
                        serve_connection(tcp, peer, id, tls, shared, watcher).await;
                    }
                    drop(permit);
                }, lanes.handle(lane));
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: some requests were still running after {} s", grace.as_secs());
    }
    conns.shutdown().await;
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    id: u64,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let header_timeout = shared.header_read_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that sends half a head and goes silent is let go (slowloris).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(upstream::MAX_BUF);
    builder.http2().timer(TokioTimer::new());
    match tls {
        Some(acceptor) => {
            // Plain HTTP on the TLS port: a TLS record starts with 0x16 (handshake).
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, tcp.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] != 0x16 && first[0].is_ascii_uppercase() => {
                    let info = ConnInfo::new(id, peer, false, None);
                    let svc = service_fn(move |req| {
                        forward::plain_http_on_tls_port(shared.clone(), info.clone(), req)
                    });
                    let mut http1 = hyper::server::conn::http1::Builder::new();
                    http1.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(false);
                    let _ = watcher.watch(http1.serve_connection(TokioIo::new(tcp), svc)).await;
                    return;
                }
                Ok(Ok(_)) => {}
                _ => return, // closed, failed, or silent: nothing to serve
            }
            let tcp = Linger::new(WriteStall::new(tcp, shared.body_idle_timeout));
            let stream = match tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    log_handshake_failure(peer, &e, &shared.trust_hint);
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake from {peer} timed out");
                    return;
                }
            };
            let sni = stream.get_ref().1.server_name().map(str::to_owned);
            let info = ConnInfo::new(id, peer, true, sni);
            let svc = service_fn(move |req| forward::handle(shared.clone(), info.clone(), req));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc).into_owned();
            if let Err(e) = watcher.watch(conn).await {
                log_connection_end(id, peer, &*e);
            }
        }
        None => {
            let tcp = Linger::new(WriteStall::new(tcp, shared.body_idle_timeout));
            let info = ConnInfo::new(id, peer, false, None);
            let svc = service_fn(move |req| forward::handle(shared.clone(), info.clone(), req));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc).into_owned();
            if let Err(e) = watcher.watch(conn).await {
                log_connection_end(id, peer, &*e);
            }
        }
    }
}

/// A connection that ended in an error: a client that stopped reading is said (it held a
/// connection slot for the whole timeout); the rest is the client's own business.
fn log_connection_end(id: u64, peer: SocketAddr, e: &(dyn std::error::Error + 'static)) {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            tracing::info!("connection {id} from {peer} closed: {c}");
            return;
        }
        cause = c.source();
    }
    tracing::debug!("connection {id} from {peer}: {e}");
}

/// A client that rejects the gateway's certificate is the most common insertion mistake
/// (failure #8): say so in words that lead to the fix.
fn log_handshake_failure(peer: SocketAddr, e: &std::io::Error, hint: &str) {
    let text = e.to_string();
    if text.contains("UnknownCA") || text.contains("BadCertificate") || text.contains("CertificateUnknown") {
        tracing::warn!(
            "TLS handshake from {peer} failed: the client does not trust the gateway certificate ({text}); {hint}"
        );
    } else {
        tracing::debug!("TLS handshake from {peer} failed: {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_urls_parse() {
        assert_eq!(
            Listen::parse("https://127.0.0.1:8443").unwrap(),
            Listen { addr: "127.0.0.1:8443".parse().unwrap(), tls: true }
        );
        assert_eq!(
            Listen::parse("http://0.0.0.0:80/").unwrap(),
            Listen { addr: "0.0.0.0:80".parse().unwrap(), tls: false }
        );
        assert_eq!(Listen::parse("localhost:1").unwrap().addr, "127.0.0.1:1".parse().unwrap());
        assert!(Listen::parse("https://authentik.company").is_err());
    }
}
