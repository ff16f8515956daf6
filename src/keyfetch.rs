//! The gateway's own JWKS fetches: when an ID token's key was never seen on the wire (Mastodon
//! fetches the JWKS only after the token call) or its kid is unknown (rotation), the gateway
//! fetches the issuer's `jwks_uri` itself — routed like a request for that URL, same trust and
//! `--connect-to` settings as the upstream leg, redirects not followed, at most once per URL and
//! kid every 10 s — and records the result as an ordinary exchange so a replay of the trace
//! sees the same keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, Limited};

use crate::capture::{CapturedBody, Exchange, RequestRecord, ResponseRecord, header_records, version_str};
use crate::clock::now_ms;
use crate::proxy::route::{ConnectTo, Router};
use crate::proxy::upstream::{UpstreamClient, UpstreamFailure, build_client};
use crate::tls::{TlsError, UpstreamTrust};

/// User-Agent of the gateway's own requests (the console shows them as `oidc-tap`).
pub const USER_AGENT: &str = concat!("oidc-tap/", env!("CARGO_PKG_VERSION"), " (key fetch)");

pub struct KeyFetcher {
    client: UpstreamClient<Full<Bytes>>,
    /// Last fetch per (URL, kid looked for): a rotation (new kid) fetches again at once, a
    /// kid that stays unknown is retried at most every `min_interval`.
    last: HashMap<(String, Option<String>), Instant>,
    next_id: u64,
    /// The gateway's own routes: a `jwks_uri` on a host the gateway fronts (often the gateway's
    /// own name, since Host is preserved) is fetched from that host's upstream, like a request.
    router: Router,
    pub min_interval: Duration,
    pub timeout: Duration,
}

impl KeyFetcher {
    pub fn new(trust: &UpstreamTrust, connect_to: ConnectTo, router: Router) -> Result<KeyFetcher, TlsError> {
        Ok(KeyFetcher {
            client: build_client(trust, connect_to, Duration::from_secs(5))?,
            router,
            last: HashMap::new(),
            // Synthetic exchanges get ids far from the gateway's.
            next_id: 1_000_000_000,
            min_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        })
    }

    /// Fetches `url` (looking for `kid`) unless that was tried recently; the result (or the
    /// failure) as an exchange.
    pub async fn fetch(&mut self, url: &str, kid: Option<&str>) -> Option<Exchange> {
        let key = (url.to_owned(), kid.map(str::to_owned));
        if self.last.get(&key).is_some_and(|t| t.elapsed() < self.min_interval) {
            return None;
        }
        self.last.insert(key, Instant::now());
        self.next_id += 1;
        let uri: http::Uri = url.parse().ok()?;
        let started = Instant::now();
        let started_ms = now_ms();
        let authority = uri.authority()?.to_string();
        let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
        // Route like a request for that URL would be routed, keeping its Host.
        let upstream = self.router.pick(&authority, None).cloned();
        let target = match &upstream {
            Some(u) => u.uri_for(&path).ok()?,
            None => uri.clone(),
        };
        let mut builder = Request::get(target)
            .header("host", authority.as_str())
            .header("user-agent", USER_AGENT)
            .header("accept", "application/json");
        if upstream.is_some() && uri.scheme_str() == Some("https") {
            builder = builder.header("x-forwarded-proto", "https");
        }
        let req = builder.body(Full::new(Bytes::new())).ok()?;
        let scheme = uri.scheme_str().unwrap_or("https");
        let request = RequestRecord::new(
            "GET",
            scheme,
            authority.as_str(),
            path.as_str(),
            "HTTP/1.1",
            header_records(req.headers()),
        );
        let mut ex = Exchange {
            client_addr: "oidc-tap".into(),
            upstream: upstream
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_else(|| format!("{scheme}://{authority}")),
            ..Exchange::begin(self.next_id, request, started_ms)
        };
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => {
                ex.error =
                    Some(format!("key fetch: {url} did not answer within {} s", self.timeout.as_secs()))
            }
            Ok(Err(e)) => ex.error = Some(format!("key fetch: {}", UpstreamFailure::classify(url, &e))),
            Ok(Ok(resp)) => {
                ex.response_ms = Some(started.elapsed().as_millis() as u64);
                let (parts, body) = resp.into_parts();
                let bytes = Limited::new(body, 1024 * 1024).collect().await.map(|b| b.to_bytes());
                let (bytes, incomplete) = match bytes {
                    Ok(b) => (b, false),
                    Err(_) => (Bytes::new(), true),
                };
                ex.response = Some(ResponseRecord {
                    status: parts.status.as_u16(),
                    version: version_str(parts.version).into(),
                    headers: header_records(&parts.headers),
                    body: CapturedBody {
                        wire_len: bytes.len() as u64,
                        bytes,
                        incomplete,
                        ..Default::default()
                    },
                });
            }
        }
        ex.total_ms = started.elapsed().as_millis() as u64;
        Some(ex)
    }
}
