//! The tool's own outbound HTTP (`check-config`): reqwest with the same rustls trust as the
//! gateway's upstream leg (`--upstream-ca`, `--insecure-upstream`), `--connect-to` as resolve
//! overrides, no redirects followed (a redirect is an answer to report), timeouts, and a body
//! cap. Forwarding never goes through here: it stays on hyper.

use std::net::ToSocketAddrs;
use std::time::Duration;

use crate::proxy::route::ConnectTo;
use crate::rules::config_check::{FetchFailure, Fetched};
use crate::tls::{TlsError, UpstreamTrust, upstream_client_config};

/// Bodies larger than this are cut (discovery and JWKS are a few kB).
const BODY_CAP: usize = 1 << 20;

/// A GET client for `url`'s host, dialled where `--connect-to` says.
pub fn client(
    trust: &UpstreamTrust,
    connect_to: &ConnectTo,
    url: &url::Url,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut tls = upstream_client_config(trust).map_err(|e: TlsError| e.to_string())?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("oidc-tap/", env!("CARGO_PKG_VERSION")));
    if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default())
        && let Some(to) = connect_to.lookup(host, port)
        && let Some(addr) = to.to_socket_addrs().ok().and_then(|mut a| a.next())
    {
        b = b.resolve(host, addr);
    }
    b.build().map_err(|e| e.to_string())
}

/// GETs `url`; every failure becomes a [`FetchFailure`] naming what fixes it.
pub async fn get(trust: &UpstreamTrust, connect_to: &ConnectTo, url: &str, timeout: Duration) -> Fetched {
    let result = async {
        let parsed = url::Url::parse(url).map_err(|e| FetchFailure::Other(format!("not a URL: {e}")))?;
        let c = client(trust, connect_to, &parsed, timeout).map_err(FetchFailure::Other)?;
        let mut resp = c.get(parsed).send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let (body, _) = read_body(&mut resp, BODY_CAP).await;
        let body = body.to_vec();
        Ok((status, body))
    }
    .await;
    Fetched { url: url.to_owned(), result }
}

/// The body up to `cap` bytes, and whether it was cut (too long, or the connection broke).
pub async fn read_body(resp: &mut reqwest::Response, cap: usize) -> (bytes::Bytes, bool) {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    return (body.into(), true);
                }
            }
            Ok(None) => return (body.into(), false),
            Err(_) => return (body.into(), true),
        }
    }
}

/// A reqwest error as what fixes it.
pub fn classify(e: reqwest::Error) -> FetchFailure {
    if e.is_timeout() {
        return FetchFailure::Timeout;
    }
    // The whole chain: rustls' reason sits a few sources down.
    let mut chain = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        chain = format!("{chain}: {s}");
        src = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("notvalidforname") {
        FetchFailure::Untrusted(chain)
    } else if e.is_connect() {
        FetchFailure::Unreachable(chain)
    } else {
        FetchFailure::Other(chain)
    }
}
