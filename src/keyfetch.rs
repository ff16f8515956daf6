//! The gateway's own JWKS fetches: when an ID token's key was never seen on the wire (Mastodon
//! fetches the JWKS only after the token call) or its kid is unknown (rotation), the gateway
//! fetches the issuer's `jwks_uri` itself — routed like a request for that URL, same trust and
//! `--connect-to` settings as the upstream leg, redirects not followed, at most once per URL and
//! kid every 10 s — and records the result as an ordinary exchange so a replay of the trace
//! sees the same keys. The GET goes out on the tool's outbound client (`outbound`, reqwest),
//! like `check-config`'s; forwarding stays on hyper.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;

use crate::capture::{CapturedBody, Exchange, RequestRecord, ResponseRecord, header_records, version_str};
use crate::clock::now_ms;
use crate::proxy::route::{ConnectTo, Router};
use crate::rules::config_check::FetchFailure;
use crate::tls::{TlsError, UpstreamTrust};

/// User-Agent of the gateway's own requests (the console shows them as `oidc-tap`).
pub const USER_AGENT: &str = concat!("oidc-tap/", env!("CARGO_PKG_VERSION"), " (key fetch)");

pub struct KeyFetcher {
    trust: UpstreamTrust,
    connect_to: ConnectTo,
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

/// The tool's own fetches are numbered from here + 1, far from the gateway's exchanges.
pub const FIRST_ID: u64 = 1_000_000_000;

impl KeyFetcher {
    /// Numbers the next fetch after `fetches` earlier ones (a run continuing another's).
    pub fn continue_after(&mut self, fetches: u64) {
        self.next_id = FIRST_ID + fetches;
    }

    /// How many fetches were numbered (earlier runs' included).
    pub fn fetched(&self) -> u64 {
        self.next_id - FIRST_ID
    }

    pub fn new(trust: &UpstreamTrust, connect_to: ConnectTo, router: Router) -> Result<KeyFetcher, TlsError> {
        // A trust setting that cannot be used fails here, at start, not at the first fetch.
        crate::tls::upstream_client_config(trust)?;
        Ok(KeyFetcher {
            trust: trust.clone(),
            connect_to,
            router,
            last: HashMap::new(),
            next_id: FIRST_ID,
            min_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        })
    }

    /// Fetches `url` (looking for `kid`) unless that was tried recently; the result (or the
    /// failure) as an exchange.
    /// Whether a fetch of these keys would go out now (not within `min_interval` of the last).
    pub fn due(&self, url: &str, kid: Option<&str>) -> bool {
        let key = (url.to_owned(), kid.map(str::to_owned));
        self.last.get(&key).is_none_or(|t| t.elapsed() >= self.min_interval)
    }

    pub async fn fetch(&mut self, url: &str, kid: Option<&str>) -> Option<Exchange> {
        let key = (url.to_owned(), kid.map(str::to_owned));
        if self.last.get(&key).is_some_and(|t| t.elapsed() < self.min_interval) {
            return None;
        }
        self.last.insert(key, Instant::now());
        self.next_id += 1;
        let started = Instant::now();
        let (req, mut ex) = prepare(&self.router, url, self.next_id, now_ms())?;
        let target = url::Url::parse(&req.uri().to_string()).ok()?;
        let sent = crate::outbound::client(&self.trust, &self.connect_to, &target, self.timeout)
            .map_err(FetchFailure::Other)
            .and_then(|c| {
                Ok((c, reqwest::Request::try_from(req).map_err(|e| FetchFailure::Other(e.to_string()))?))
            });
        let answer = match sent {
            Ok((client, req)) => client.execute(req).await.map_err(crate::outbound::classify),
            Err(e) => Err(e),
        };
        match answer {
            Err(FetchFailure::Timeout) => {
                ex.error =
                    Some(format!("key fetch: {url} did not answer within {} s", self.timeout.as_secs()))
            }
            Err(FetchFailure::Unreachable(why)) => {
                ex.error = Some(format!("key fetch: {url}: cannot connect ({why})"))
            }
            Err(FetchFailure::Untrusted(why)) => {
                ex.error =
                    Some(format!("key fetch: {url}: certificate not trusted ({why}): pass --upstream-ca PEM"))
            }
            Err(FetchFailure::Other(why)) => ex.error = Some(format!("key fetch: {url}: {why}")),
            Ok(mut resp) => {
                ex.response_ms = Some(started.elapsed().as_millis() as u64);
                let (status, version, headers) =
                    (resp.status().as_u16(), version_str(resp.version()), header_records(resp.headers()));
                let (bytes, incomplete) = crate::outbound::read_body(&mut resp, 1024 * 1024).await;
                ex.response = Some(ResponseRecord {
                    status,
                    version: version.into(),
                    headers,
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

/// The request the gateway sends for `url` and the record that will describe it: routed like
/// a request for that URL (a `jwks_uri` on a name the gateway fronts goes to that name's
/// upstream, Host kept, `X-Forwarded-Proto: https` as the gateway would add it), announcing
/// itself as `oidc-tap`. Pure, so the record's shape is tested without a network.
fn prepare(router: &Router, url: &str, id: u64, started_ms: u64) -> Option<(Request<Bytes>, Exchange)> {
    let uri: http::Uri = url.parse().ok()?;
    let authority = uri.authority()?.to_string();
    let scheme = uri.scheme_str().unwrap_or("https");
    let path = uri.path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
    let upstream = router.pick(&authority, None).cloned();
    let target = match &upstream {
        Some(u) => u.uri_for(&path).ok()?,
        None => uri.clone(),
    };
    let mut builder = Request::get(target)
        .header("host", authority.as_str())
        .header("user-agent", USER_AGENT)
        .header("accept", "application/json");
    if upstream.is_some() && scheme == "https" {
        builder = builder.header("x-forwarded-proto", "https");
    }
    let req = builder.body(Bytes::new()).ok()?;
    let request = RequestRecord::new(
        "GET",
        scheme,
        authority.as_str(),
        path.as_str(),
        "HTTP/1.1",
        header_records(req.headers()),
    );
    let ex = Exchange {
        client_addr: "oidc-tap".into(),
        upstream: upstream
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| format!("{scheme}://{authority}")),
        ..Exchange::begin(id, request, started_ms)
    };
    Some((req, ex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::HeaderLookup;
    use crate::proxy::route::Upstream;

    #[tokio::test]
    async fn a_fetch_is_due_again_only_after_the_interval() {
        crate::tls::install_crypto_provider();
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let router = Router::new(Some(Upstream::parse(&format!("http://{dead}")).unwrap()), vec![]);
        let mut f = KeyFetcher::new(&Default::default(), Default::default(), router).unwrap();
        let url = "https://authentik.test/application/o/mastodon/jwks/";
        assert!(f.due(url, Some("k1")));
        let answered = f.fetch(url, Some("k1")).await.expect("the attempt is recorded");
        assert!(answered.error.as_deref().unwrap_or("").contains("cannot connect"), "{:?}", answered.error);
        assert!(!f.due(url, Some("k1")), "within the interval");
        assert!(f.fetch(url, Some("k1")).await.is_none(), "and no second request");
        assert!(f.due(url, Some("k2")), "another kid is its own question");
        f.min_interval = Duration::ZERO;
        assert!(f.due(url, Some("k1")));
    }

    #[test]
    fn a_jwks_uri_on_a_fronted_name_is_routed_to_its_upstream_and_recorded_as_the_gateways() {
        let router = Router::new(
            None,
            vec![("authentik.test".into(), Upstream::parse("https://10.0.0.5:9443").unwrap())],
        );
        let url = "https://authentik.test/application/o/mastodon/jwks/";
        let (req, ex) = prepare(&router, url, 1_000_000_001, 42).unwrap();
        assert_eq!(req.uri().to_string(), "https://10.0.0.5:9443/application/o/mastodon/jwks/");
        assert_eq!(req.headers()["host"], "authentik.test");
        assert_eq!(req.headers()["x-forwarded-proto"], "https");
        assert_eq!((ex.id, ex.started_ms, ex.client_addr.as_str()), (1_000_000_001, 42, "oidc-tap"));
        assert_eq!(ex.upstream, "https://10.0.0.5:9443");
        let r = &ex.request;
        assert_eq!(
            (r.method.as_str(), r.scheme.as_str(), r.host.as_str(), r.path.as_str()),
            ("GET", "https", "authentik.test", "/application/o/mastodon/jwks/")
        );
        assert_eq!(r.header("user-agent"), Some(USER_AGENT));
        assert!(ex.tls && ex.response.is_none() && ex.error.is_none());
        // A name the gateway does not front is fetched directly, without X-Forwarded-Proto.
        let (req, ex) = prepare(&Router::new(None, vec![]), "https://idp.test/jwks", 2, 0).unwrap();
        assert_eq!(req.uri().to_string(), "https://idp.test/jwks");
        assert!(req.headers().get("x-forwarded-proto").is_none());
        assert_eq!(ex.upstream, "https://idp.test");
        assert!(prepare(&router, "not a url", 3, 0).is_none());
    }

    #[tokio::test]
    async fn a_refused_fetch_is_a_record_with_the_reason_and_is_not_retried_at_once() {
        crate::tls::install_crypto_provider();
        let mut f =
            KeyFetcher::new(&UpstreamTrust::default(), ConnectTo::default(), Router::new(None, vec![]))
                .unwrap();
        let ex = f.fetch("http://127.0.0.1:1/jwks", Some("k1")).await.expect("a record");
        assert!(ex.response.is_none());
        let error = ex.error.unwrap();
        assert!(error.starts_with("key fetch: ") && error.contains("refused"), "{error}");
        assert!(f.fetch("http://127.0.0.1:1/jwks", Some("k1")).await.is_none(), "rate-limited");
        assert!(f.fetch("http://127.0.0.1:1/jwks", Some("k2")).await.is_some(), "a new kid fetches at once");
    }
}
