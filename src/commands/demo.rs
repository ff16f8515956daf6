//! `oidc-tap demo`: runs the gateway in front of a tiny built-in upstream on loopback and
//! sends a few requests through it, so a newcomer sees what passes and what is recorded
//! without any real Mastodon or authentik.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::cli::DemoArgs;
use crate::proxy::route::{Router, Upstream};
use crate::proxy::{Gateway, Listen, ProxyConfig};
use crate::tls::{DevCa, ServerIdentity};

/// A stand-in upstream: answers every path with a small JSON document.
async fn start_upstream() -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let body = format!(
                        "{{\"upstream\":\"oidc-tap demo\",\"path\":\"{}\",\"host\":\"{}\",\"x_forwarded_proto\":\"{}\"}}",
                        req.uri().path(),
                        req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or(""),
                        req.headers().get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("")
                    );
                    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                    resp.headers_mut().insert("content-type", "application/json".parse().unwrap());
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
    Ok(addr)
}

pub async fn run(_args: DemoArgs) -> Result<()> {
    let upstream_addr = start_upstream().await?;
    let ca = Arc::new(DevCa::generate()?);
    let mut cfg = ProxyConfig::new(
        vec![Listen::parse("https://127.0.0.1:0")?],
        Router::new(Some(Upstream::parse(&format!("http://{upstream_addr}"))?), vec![]),
    );
    cfg.identity = Some(ServerIdentity::DevCa { ca: ca.clone(), fallback: vec!["127.0.0.1".into()] });
    let mut gw = Gateway::start(cfg).await?;
    let listen = gw.listening[0].addr;
    let mut records = gw.take_records().context("records")?;
    println!(
        "oidc-tap demo · gateway https://localhost:{} → built-in upstream http://{upstream_addr}",
        listen.port()
    );
    println!(
        "(the OIDC demo login arrives with the analysis core; this shows the transparent proxy and its capture)\n"
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone())?;
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_all_versions()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);

    for path in ["/application/o/mastodon/.well-known/openid-configuration", "/application/o/userinfo/"] {
        let uri = format!("https://localhost:{}{path}", listen.port());
        let resp = client.get(uri.parse()?).await.with_context(|| format!("GET {uri}"))?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        println!("client  GET {path} → {status}\n        body {}", String::from_utf8_lossy(&body));
        let ex = tokio::time::timeout(Duration::from_secs(5), records.recv()).await?.context("record")?;
        println!(
            "capture #{} {} · client {} over {} · {} bytes captured\n",
            ex.id,
            ex.summary(),
            ex.client_addr,
            if ex.tls { "TLS" } else { "plain" },
            ex.response.as_ref().map(|r| r.body.bytes.len()).unwrap_or(0)
        );
    }
    gw.shutdown().await;
    println!(
        "Run it for real:  oidc-tap proxy --listen https://0.0.0.0:443 --upstream https://authentik.company \\"
    );
    println!("                  --connect-to authentik.company:443=REAL_AUTHENTIK_IP:443");
    Ok(())
}
