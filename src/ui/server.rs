//! The web view's HTTP side: hyper (HTTP/1.1) on its own listener, GET only, assets compiled in.
//! Every response carries a strict Content-Security-Policy (scripts and styles from this origin
//! only, nothing from the network); every request passes the Host check (loopback) or the
//! token check (beyond loopback) first.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{broadcast, mpsc, watch};

use super::Shared;
use super::board::Shown;

type Body = BoxBody<Bytes, Infallible>;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// What the page may load and do: its own script, style and API, nothing else.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The cookie that carries the token after the first visit with `?token=`.
const COOKIE: &str = "oidc_tap_ui";

/// Connections served at once (a page uses two or three).
const MAX_CONNECTIONS: usize = 64;

/// A fresh token: 128 random bits, URL-safe.
pub fn new_token() -> String {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // The system RNG does not fail on the platforms rustls runs on; if it ever did, a zero
    // token would be guessable, so refuse to go on.
    ring::rand::SystemRandom::new().fill(&mut b).expect("system random number generator");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        tokio::select! {
            acc = listener.accept() => {
                let Ok((stream, _peer)) = acc else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    tracing::warn!("web view: {MAX_CONNECTIONS} connections open, refusing another");
                    continue;
                }
                let (shared, stop_rx, open2) = (shared.clone(), stop.clone(), open.clone());
                let svc = hyper::service::service_fn(move |req| {
                    let (shared, stop_rx) = (shared.clone(), stop_rx.clone());
                    async move { Ok::<_, Infallible>(handle(req, &shared, stop_rx)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                open.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = conn.await;
                    open2.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ = stop.changed() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
}

fn handle(req: Request<Incoming>, shared: &Arc<Shared>, stop: watch::Receiver<bool>) -> Response<Body> {
    if let Some(refused) = gate(&req, shared) {
        return refused;
    }
    let set_cookie = shared.token.is_some() && query(&req, "token").is_some();
    let mut resp = route(&req, shared, stop);
    if set_cookie && let Some(t) = &shared.token {
        let c = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    secure(resp)
}

/// The Host check (loopback: only the names of this machine, against DNS rebinding) and the
/// token check (beyond loopback). `None` lets the request through.
fn gate(req: &Request<Incoming>, shared: &Shared) -> Option<Response<Body>> {
    match &shared.token {
        None => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let name =
                host.rsplit_once(':').map(|(n, p)| if p.contains(']') { host } else { n }).unwrap_or(host);
            let ok = matches!(name, "127.0.0.1" | "localhost" | "[::1]")
                || name == shared.cfg.addr.ip().to_string();
            (!ok).then(|| {
                text(
                    StatusCode::FORBIDDEN,
                    "oidc-tap web view: this page answers only to its own address (127.0.0.1 or localhost)\n",
                )
            })
        }
        Some(t) => {
            let given = query(req, "token")
                .or_else(|| cookie(req, COOKIE))
                .or_else(|| {
                    req.headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            (!same(given.as_bytes(), t.as_bytes())).then(|| {
                text(
                    StatusCode::UNAUTHORIZED,
                    "oidc-tap web view: open the address printed at start (it carries ?token=...)\n",
                )
            })
        }
    }
}

/// Constant-time comparison (the token must not leak through timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query(req: &Request<Incoming>, name: &str) -> Option<String> {
    let q = req.uri().query()?;
    form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn cookie(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').map(str::trim).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
    })
}

fn route(req: &Request<Incoming>, shared: &Arc<Shared>, stop: watch::Receiver<bool>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "the web view only reads\n");
    }
    let flow = query(req, "flow").and_then(|f| f.parse::<u64>().ok());
    let shown = match (flow, query(req, "errors").as_deref()) {
        (Some(f), _) => Shown::Flow(f),
        (None, Some("1")) => Shown::ErrorsOnly,
        _ => Shown::All,
    };
    match req.uri().path() {
        "/" | "/index.html" => body(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        "/app.js" => body(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS),
        "/app.css" => body(
            StatusCode::OK,
            "text/css; charset=utf-8",
            format!("{}\n{APP_CSS}", crate::trace::report_html::stylesheet()),
        ),
        "/api/flows" => {
            let mut info = shared.info();
            info["flows"] = serde_json::to_value(shared.board().summaries()).unwrap_or_default();
            body(StatusCode::OK, "application/json", info.to_string())
        }
        "/events" => events(shared, stop),
        "/download/trace.har" => {
            let har = shared.board().har(shown);
            download(
                "application/json",
                &name(flow, "har"),
                serde_json::to_string_pretty(&har).unwrap_or_default(),
            )
        }
        "/download/trace.jsonl" => {
            let j = shared.board().journal(shown, crate::clock::now_ms());
            download("application/x-ndjson", &name(flow, "jsonl"), j)
        }
        "/download/report.md" => {
            let md = shared.board().report(shown).markdown();
            download("text/markdown; charset=utf-8", &name(flow, "md"), md)
        }
        p => match p.strip_prefix("/api/flows/").and_then(|id| id.parse::<u64>().ok()) {
            Some(id) => match shared.board().flow_html(id) {
                Some(h) => body(StatusCode::OK, "text/html; charset=utf-8", h),
                None => text(
                    StatusCode::NOT_FOUND,
                    "no such flow (it may have left the view: the journal has it)\n",
                ),
            },
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}

fn name(flow: Option<u64>, ext: &str) -> String {
    match flow {
        Some(f) => format!("oidc-tap-flow-{f}.{ext}"),
        None => format!("oidc-tap.{ext}"),
    }
}

fn body(status: StatusCode, ctype: &'static str, b: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(b.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn text(status: StatusCode, t: &'static str) -> Response<Body> {
    body(status, "text/plain; charset=utf-8", t)
}

fn download(ctype: &'static str, file: &str, b: impl Into<Bytes>) -> Response<Body> {
    let mut r = body(StatusCode::OK, ctype, b);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn secure(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    r
}

/// Server-Sent Events: one `flow` event per changed row. A browser that cannot keep up is
/// cut off (its EventSource reconnects and reads everything again); the session never waits.
fn events(shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut sub = shared.updates.subscribe();
    let _ = tx.try_send(Bytes::from_static(b"retry: 1000\n\n"));
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(Duration::from_secs(15));
        loop {
            tokio::select! {
                m = sub.recv() => match m {
                    Ok(b) => if tx.try_send(b).is_err() { break },
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if tx.try_send(Bytes::from_static(b"event: reload\ndata: {}\n\n")).is_err() { break }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = ping.tick() => if tx.try_send(Bytes::from_static(b": ping\n\n")).is_err() && tx.is_closed() { break },
                _ = stop.changed() => break,
            }
        }
    });
    let mut r = Response::new(SseBody { rx }.boxed());
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    r
}

struct SseBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(same(a.as_bytes(), a.as_bytes()));
        assert!(!same(a.as_bytes(), b.as_bytes()));
        assert!(!same(a.as_bytes(), &a.as_bytes()[..21]));
        assert!(!same(b"", a.as_bytes()));
    }
}
