//! One request through the gateway: pick the upstream, normalise the head the way a
//! transparent proxy must, stream both bodies through capture taps, and answer 502/504 with a
//! reason when the upstream cannot be reached. Nothing here understands OpenID Connect.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tracing::Instrument;

use super::headers::{add_forwarded, is_upgrade_request, join_cookies, strip_hop_by_hop};
use super::route::Router;
use super::tap::{CaptureSink, Recorder, Side, TapBody};
use super::upstream::{UpstreamClient, UpstreamFailure};
use crate::capture::{Exchange, GatewayAnswer, RequestRecord};
use crate::capture::{PackedHeaders, version_str};

/// The body type the gateway answers with.
pub type ProxyBody = UnsyncBoxBody<Bytes, super::tap::BoxError>;

/// What every connection task shares.
pub struct Shared {
    pub router: Router,
    pub client: UpstreamClient<TapBody<Incoming>>,
    pub sink: CaptureSink,
    pub response_timeout: Duration,
    /// Exchange ids, one sequence for every lane.
    pub next_id: Arc<AtomicU64>,
    /// What to tell the user when a client rejects the gateway's certificate.
    pub trust_hint: String,
    pub header_read_timeout: Duration,
    /// A request or response body with no data for this long ends with an error.
    pub body_idle_timeout: Duration,
}

/// Facts about the client connection a request arrived on, shared by its requests (the
/// peer's address is put in words once per connection, not once per request).
#[derive(Debug)]
pub struct ConnInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub tls: bool,
    pub sni: Option<String>,
    /// `ip:port`, as records carry it.
    peer_addr: String,
    /// The IP alone, as `X-Forwarded-For` carries it.
    peer_ip: String,
}

impl ConnInfo {
    pub fn new(id: u64, peer: SocketAddr, tls: bool, sni: Option<String>) -> Arc<ConnInfo> {
        Arc::new(ConnInfo { id, peer, tls, sni, peer_addr: peer.to_string(), peer_ip: peer.ip().to_string() })
    }
}

fn text_response(status: StatusCode, msg: String) -> Response<ProxyBody> {
    let mut resp =
        Response::new(Full::new(Bytes::from(msg + "\n")).map_err(|never| match never {}).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp.headers_mut().insert("x-oidc-tap-error", HeaderValue::from_static("1"));
    resp
}

/// Serves one request; never fails (failures become 502/504 responses). Everything logged
/// while it runs carries the span `exchange{id=N}`, N being the record's id in the journal.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    forward(shared, conn, req, id).instrument(tracing::info_span!("exchange", id)).await
}

/// The Host the client addressed and the path, as received.
fn host_and_path<B>(req: &Request<B>) -> (String, String) {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
    (host, path)
}

/// Starts the record of a request that just arrived (`host` and `path` as [`host_and_path`]
/// gave them).
fn record<B>(
    shared: &Shared,
    conn: &ConnInfo,
    req: &Request<B>,
    id: u64,
    upstream: Option<String>,
    (host, path): (String, String),
) -> Arc<Recorder> {
    let request = RequestRecord::new(
        req.method().as_str(),
        if conn.tls { "https" } else { "http" },
        host,
        path,
        version_str(req.version()),
        Vec::new(),
    );
    let exchange = Exchange {
        conn: conn.id,
        client_addr: conn.peer_addr.clone(),
        tls: conn.tls,
        sni: conn.sni.clone(),
        upstream: upstream.unwrap_or_default(),
        ..Exchange::begin(id, request, crate::clock::now_ms())
    };
    Recorder::start(&shared.sink, exchange, PackedHeaders::of(req.headers()), Instant::now())
}

/// Plain HTTP on the HTTPS port: a 400 that says this port speaks HTTPS (as nginx answers),
/// recorded, since a client sent there holds an http:// URL it should not have.
pub async fn plain_http_on_tls_port(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let (host, path) = host_and_path(&req);
    let rec = record(&shared, &conn, &req, id, None, (host.clone(), path.clone()));
    let msg = "plain HTTP sent to the HTTPS port".to_owned();
    tracing::warn!(
        "{}",
        crate::text::printable(&format!(
            "{} {host}{}: {msg}",
            req.method(),
            crate::redact::redact_url(&path)
        ))
    );
    rec.error(msg);
    rec.answered_by_gateway(GatewayAnswer::PlainHttpOnTlsPort);
    let mut resp = text_response(
        StatusCode::BAD_REQUEST,
        format!("oidc-tap: this port speaks HTTPS: use https://{}", crate::text::printable(&host)),
    );
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    rec.response_head(400, "HTTP/1.1", resp.headers());
    Ok(resp)
}

async fn forward(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    mut req: Request<Incoming>,
    id: u64,
) -> Result<Response<ProxyBody>, Infallible> {
    let (host, path) = host_and_path(&req);
    let client_version = req.version();
    let upstream = shared.router.pick(&host, conn.sni.as_deref()).cloned();
    let rec = record(
        &shared,
        &conn,
        &req,
        id,
        upstream.as_ref().map(|u| u.to_string()),
        (host.clone(), path.clone()),
    );
    // A login step waits here only when analysis is thousands of them behind.
    rec.wait_for_room().await;
    let reply_version = if client_version == Version::HTTP_2 { Version::HTTP_2 } else { Version::HTTP_11 };

    let method = req.method().clone();
    let fail = |status: StatusCode, msg: String| {
        let why =
            if rec.client_hung_up() { GatewayAnswer::ClientHungUp } else { GatewayAnswer::UpstreamFailed };
        // Log lines leave the process like the console: secrets masked, controls escaped.
        let line = format!("{method} {host}{}: {msg}", crate::redact::redact_url(&path));
        tracing::error!("{}", crate::text::printable(&line));
        rec.error(msg.clone());
        rec.answered_by_gateway(why);
        let resp = text_response(status, format!("oidc-tap: {msg}"));
        rec.response_head(resp.status().as_u16(), version_str(reply_version), resp.headers());
        resp
    };

    let Some(upstream) = upstream else {
        return Ok(fail(
            StatusCode::BAD_GATEWAY,
            format!("no upstream for host {host:?}: add --route {host}=URL or --upstream URL"),
        ));
    };
    let uri = match upstream.uri_for(&path) {
        Ok(u) => u,
        Err(e) => return Ok(fail(StatusCode::BAD_REQUEST, format!("cannot forward path {path:?}: {e}"))),
    };

    let upgrade = client_version == Version::HTTP_11 && is_upgrade_request(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    if client_version == Version::HTTP_2 {
        join_cookies(&mut parts.headers);
    }
    if !parts.headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(&host)
    {
        parts.headers.insert(header::HOST, v);
    }
    add_forwarded(&mut parts.headers, &conn.peer_ip, conn.tls);
    parts.uri = uri;
    parts.version = Version::HTTP_11;
    let up_req = Request::from_parts(
        parts,
        TapBody::new(body, rec.clone(), Side::Request).idle_timeout(shared.body_idle_timeout),
    );

    let upstream_name = upstream.to_string();
    let result = tokio::time::timeout(shared.response_timeout, shared.client.request(up_req)).await;
    let mut resp = match result {
        Err(_) => {
            let f = UpstreamFailure::Timeout(upstream_name, shared.response_timeout.as_secs());
            return Ok(fail(f.status(), f.to_string()));
        }
        Ok(Err(_)) if rec.client_hung_up() => {
            // The client went away mid-request: the upstream saw a cut request, not a fault.
            return Ok(fail(
                StatusCode::BAD_REQUEST,
                "the client hung up before sending its whole request (not an upstream failure)".into(),
            ));
        }
        Ok(Err(e)) => {
            let f = UpstreamFailure::classify(&upstream_name, &e);
            return Ok(fail(f.status(), f.to_string()));
        }
        Ok(Ok(r)) => r,
    };

    rec.response_head(resp.status().as_u16(), version_str(resp.version()), resp.headers());

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        rec.upgraded();
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(tunnel(client_upgrade, upstream_upgrade, id));
        let (mut parts, _) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers, true);
        return Ok(Response::from_parts(parts, Empty::new().map_err(|never| match never {}).boxed_unsync()));
    }

    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    parts.version = reply_version;
    Ok(Response::from_parts(
        parts,
        TapBody::new(body, rec, Side::Response).idle_timeout(shared.body_idle_timeout).boxed_unsync(),
    ))
}

/// Copies bytes both ways once both sides switched protocols.
async fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade, id: u64) {
    match tokio::join!(client, upstream) {
        (Ok(c), Ok(u)) => {
            let mut c = TokioIo::new(c);
            let mut u = TokioIo::new(u);
            match tokio::io::copy_bidirectional(&mut c, &mut u).await {
                Ok((up, down)) => {
                    tracing::debug!("exchange {id}: tunnel closed ({up} bytes up, {down} down)")
                }
                Err(e) => tracing::debug!("exchange {id}: tunnel ended: {e}"),
            }
        }
        (c, u) => tracing::warn!(
            "exchange {id}: protocol switch failed (client: {:?}, upstream: {:?})",
            c.err().map(|e| e.to_string()),
            u.err().map(|e| e.to_string())
        ),
    }
}
