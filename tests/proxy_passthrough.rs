//! The gateway changes nothing that passes: bytes, status, headers, upgrades, h1/h2 mixes.
//! Real TLS servers on 127.0.0.1:0, a fresh CA per test.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use http::Request;
use oidc_tap::capture::HeaderLookup;
use oidc_tap::tls::DevCa;
use tokio_tungstenite::tungstenite::Message;

const BIG: usize = 20 * 1024 * 1024;

async fn big_roundtrip(client_h2: bool, upstream_kind: UpstreamKind) {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(upstream_kind, &ca, &["127.0.0.1"]).await;
    let mut gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;
    let c = client(&ca, client_h2);
    let base = format!("https://localhost:{}", gw.port);

    // Upload 20 MB, streamed; the upstream streams it back.
    let data = pattern(BIG);
    let (resp, body) = send(&c, post_streamed(&format!("{base}/echo"), data.clone())).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body.len(), BIG);
    assert!(body[..] == data[..], "echoed body differs");
    let ex = gw.record().await;
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.path, "/echo");
    assert_eq!(ex.request.version, if client_h2 { "HTTP/2.0" } else { "HTTP/1.1" });
    assert_eq!(ex.request.body.wire_len, BIG as u64);
    assert!(ex.request.body.truncated);
    assert_eq!(ex.request.body.bytes.len(), 1024 * 1024);
    assert_eq!(&ex.request.body.bytes[..], &data[..1024 * 1024]);
    let r = ex.response.as_ref().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.wire_len, BIG as u64);
    assert!(r.body.truncated && !r.body.incomplete);
    assert_eq!(r.version, if upstream_kind == UpstreamKind::TlsH2 { "HTTP/2.0" } else { "HTTP/1.1" });
    assert!(ex.error.is_none(), "{:?}", ex.error);

    // Download 20 MB.
    let (resp, body) = send(&c, get(&format!("{base}/big?n={BIG}"))).await;
    assert_eq!(resp.status(), 200);
    assert!(body[..] == data[..], "downloaded body differs");
    let ex = gw.record().await;
    assert_eq!(ex.response.unwrap().body.wire_len, BIG as u64);
    gw.gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_h1_client_h1_upstream() {
    big_roundtrip(false, UpstreamKind::TlsH1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_h2_client_h1_upstream() {
    big_roundtrip(true, UpstreamKind::TlsH1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_h1_client_h2_upstream() {
    big_roundtrip(false, UpstreamKind::TlsH2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_h2_client_h2_upstream() {
    big_roundtrip(true, UpstreamKind::TlsH2).await;
}

#[tokio::test]
async fn redirects_and_cookies_pass_untouched() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::TlsH2, &ca, &["127.0.0.1"]).await;
    let mut gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;
    for h2 in [false, true] {
        let c = client(&ca, h2);
        let (resp, _) = send(&c, get(&format!("https://localhost:{}/redirect", gw.port))).await;
        assert_eq!(resp.status(), 302, "redirect must not be followed");
        assert_eq!(
            resp.headers()["location"],
            "https://mastodon.test/auth/auth/openid_connect/callback?code=abc&state=xyz"
        );
        let cookies: Vec<_> =
            resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(cookies, ["a=1; Path=/; Secure", "b=2; Path=/; HttpOnly"]);
        let ex = gw.record().await;
        let r = ex.response.unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(r.header_all("set-cookie").count(), 2);
    }
}

#[tokio::test]
async fn host_is_kept_and_forwarded_headers_are_added_exactly() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    for kind in [UpstreamKind::TlsH1, UpstreamKind::TlsH2] {
        let up = start_upstream(kind, &ca, &["127.0.0.1"]).await;
        let mut gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;
        for h2 in [false, true] {
            let c = client(&ca, h2);
            let req = Request::get(format!("https://authentik.test:{}/seen", gw.port))
                .header("cookie", "a=1")
                .header("cookie", "b=2")
                .body(full(""))
                .unwrap();
            let (_, body) = send(&c, req).await;
            let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                seen["host"],
                serde_json::json!([format!("authentik.test:{}", gw.port)]),
                "{kind:?} h2={h2}"
            );
            assert_eq!(seen["x_forwarded_proto"], serde_json::json!(["https"]));
            assert_eq!(seen["x_forwarded_for"], serde_json::json!(["127.0.0.1"]));
            let cookies = seen["cookie"].as_array().unwrap();
            if h2 || kind == UpstreamKind::TlsH1 {
                // h2 → h1 upstream: one cookie field; h1 client sends what it sends.
                assert!(cookies.iter().any(|c| c.as_str().unwrap().contains("a=1")));
            }
            if h2 && kind == UpstreamKind::TlsH1 {
                assert_eq!(cookies, &[serde_json::json!("a=1; b=2")]);
            }
            let ex = gw.record().await;
            assert_eq!(ex.request.host, format!("authentik.test:{}", gw.port));
            assert_eq!(ex.sni.as_deref(), Some("authentik.test"));
        }
        gw.gw.shutdown().await;
    }

    // Behind a front proxy (plain listener): X-Forwarded-* from it is kept, not overwritten.
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw =
        start_gateway(&ca, GatewayOpts { listen_tls: false, upstream: Some(up.url()), ..Default::default() })
            .await;
    let c = client(&ca, false);
    let req = Request::get(format!("http://authentik.test:{}/seen", gw.port))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.7")
        .body(full(""))
        .unwrap();
    let (_, body) = send(&c, req).await;
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["x_forwarded_proto"], serde_json::json!(["https"]));
    assert_eq!(seen["x_forwarded_for"], serde_json::json!(["203.0.113.7, 127.0.0.1"]));
    assert_eq!(seen["host"], serde_json::json!([format!("authentik.test:{}", gw.port)]));
    let ex = gw.record().await;
    assert!(!ex.tls);
    assert_eq!(ex.request.scheme, "http");
}

#[tokio::test]
async fn websocket_echo_through_the_gateway() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::TlsH1, &ca, &["127.0.0.1"]).await;
    let mut gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/ws", gw.port);
    let (mut ws, resp) =
        tokio_tungstenite::client_async(url, tls).await.expect("websocket handshake via gateway");
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(back, Message::text(format!("hello {i}")));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    let back = ws.next().await.unwrap().unwrap();
    assert_eq!(back.into_data().as_ref(), &[0u8, 1, 2, 255]);
    let ex = gw.record().await;
    assert!(ex.upgraded);
    assert_eq!(ex.response.unwrap().status, 101);
}

#[tokio::test]
async fn routes_pick_upstream_by_host_and_connect_to_keeps_sni_and_host() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    // authentik.test is only reachable through --connect-to; its cert covers only that name.
    let authentik = start_upstream(UpstreamKind::TlsH2, &ca, &["authentik.test"]).await;
    let mastodon = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            routes: vec![
                "authentik.test=https://authentik.test:443".into(),
                format!("mastodon.test={}", mastodon.url()),
            ],
            connect_to: vec![format!("authentik.test:443=127.0.0.1:{}", authentik.addr.port())],
            ..Default::default()
        },
    )
    .await;
    let c = client(&ca, false);

    let (resp, body) = send(&c, get(&format!("https://authentik.test:{}/seen", gw.port))).await;
    assert_eq!(resp.status(), 200);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["sni"], "authentik.test", "SNI must stay the original name");
    assert_eq!(seen["host"], serde_json::json!([format!("authentik.test:{}", gw.port)]));
    let ex = gw.record().await;
    assert_eq!(ex.upstream, "https://authentik.test:443");

    let (resp, body) = send(&c, get(&format!("https://mastodon.test:{}/seen", gw.port))).await;
    assert_eq!(resp.status(), 200);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(seen["sni"], serde_json::Value::Null, "plain upstream: no TLS");
    assert_eq!(seen["host"], serde_json::json!([format!("mastodon.test:{}", gw.port)]));
    assert_eq!(gw.record().await.upstream, mastodon.url());

    // No route and no default: 502 that says what to add.
    let (resp, body) = send(&c, get(&format!("https://other.test:{}/", gw.port))).await;
    assert_eq!(resp.status(), 502);
    assert!(String::from_utf8_lossy(&body).contains("--route other.test"));
}

#[tokio::test]
async fn upstream_down_gives_502_and_the_gateway_keeps_serving() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    // A port with nothing listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let live = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            routes: vec![format!("dead.test=http://{dead}"), format!("live.test={}", live.url())],
            ..Default::default()
        },
    )
    .await;
    let c = client(&ca, false);
    let t = Instant::now();
    let (resp, body) = send(&c, get(&format!("https://dead.test:{}/x", gw.port))).await;
    assert_eq!(resp.status(), 502);
    assert!(t.elapsed() < Duration::from_secs(10));
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("refused the connection"), "{text}");
    let ex = gw.record().await;
    assert_eq!(ex.response.as_ref().unwrap().status, 502);
    assert!(ex.error.as_deref().unwrap().contains("refused"));

    let (resp, _) = send(&c, get(&format!("https://live.test:{}/seen", gw.port))).await;
    assert_eq!(resp.status(), 200, "gateway still serves after an upstream failure");
}

#[tokio::test]
async fn untrusted_upstream_certificate_gives_502_with_the_hint() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::TlsH1, &ca, &["127.0.0.1"]).await;
    let mut gw =
        start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), trust_ca: false, ..Default::default() })
            .await;
    let c = client(&ca, false);
    let (resp, body) = send(&c, get(&format!("https://localhost:{}/seen", gw.port))).await;
    assert_eq!(resp.status(), 502);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("certificate not trusted: pass --upstream-ca"), "{text}");
    assert!(gw.record().await.error.unwrap().contains("--upstream-ca"));
}

#[tokio::test]
async fn slow_upstream_gives_504() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            upstream: Some(up.url()),
            response_timeout: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await;
    let c = client(&ca, true);
    let (resp, body) = send(&c, get(&format!("https://localhost:{}/slow", gw.port))).await;
    assert_eq!(resp.status(), 504);
    assert!(String::from_utf8_lossy(&body).contains("did not answer within 1 s"));
    assert_eq!(gw.record().await.response.unwrap().status, 504);
}

#[tokio::test]
async fn records_match_the_wire_and_gzip_is_decoded_for_the_copy_only() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::TlsH2, &ca, &["127.0.0.1"]).await;
    let mut gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;
    let c = client(&ca, false);
    let form = "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fm.test%2Fcb";
    let req = Request::post(format!("https://localhost:{}/echo", gw.port))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(full(form))
        .unwrap();
    let (resp, body) = send(&c, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(&body[..], form.as_bytes());
    let ex = gw.record().await;
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.body.text(), Some(form));
    assert_eq!(ex.response.as_ref().unwrap().body.text(), Some(form));
    assert!(!ex.request.body.truncated && !ex.request.body.incomplete);
    assert!(ex.response_ms.is_some());
    assert_eq!(ex.request.header("content-type"), Some("application/x-www-form-urlencoded"));

    // A gzip body: the client gets the gzip bytes, the decoded copy is readable.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, b"{\"issuer\":\"https://a/\"}").unwrap();
    let gz = enc.finish().unwrap();
    let req = Request::post(format!("https://localhost:{}/echo", gw.port))
        .header("content-encoding", "gzip")
        .body(full(gz.clone()))
        .unwrap();
    let (_, body) = send(&c, req).await;
    assert_eq!(&body[..], &gz[..], "client must receive the encoded bytes");
    let mut ex = gw.record().await;
    ex.decode_bodies(1024 * 1024);
    assert_eq!(ex.request.body.text(), Some("{\"issuer\":\"https://a/\"}"));
    assert_eq!(ex.request.body.decoded_from.as_deref(), Some("gzip"));
    assert_eq!(ex.request.body.wire_len, gz.len() as u64);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;
    let c = client(&ca, false);
    let url = format!("https://localhost:{}/slow", gw.port);
    let inflight = tokio::spawn(async move { send(&c, get(&url)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let port = gw.port;
    gw.gw.shutdown().await;
    let (resp, body) = inflight.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(&body[..], b"late");
    // And nothing listens any more.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn shutdown_ends_connections_a_client_keeps_open_after_the_grace_period() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let opts = GatewayOpts {
        upstream: Some(up.url()),
        shutdown_grace: Duration::from_millis(300),
        ..Default::default()
    };
    let mut gw = start_gateway(&ca, opts).await;
    // A client that stops responding after its request (its thread is blocked, so it never
    // answers the gateway's GOAWAY nor closes): h1 and h2 connections, each left open.
    for h2 in [false, true] {
        let (ca, port) = (ca.clone(), gw.port);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let c = client(&ca, h2);
            let (resp, _) = rt.block_on(send(&c, get(&format!("https://localhost:{port}/"))));
            tx.send(resp.status()).unwrap();
            std::thread::sleep(Duration::from_secs(30));
            drop(c);
        });
        assert_eq!(rx.await.unwrap(), 404, "the upstream's own answer");
    }
    while gw.records.try_recv().is_some() {}
    let stopped = tokio::time::timeout(Duration::from_secs(5), gw.gw.shutdown()).await;
    assert!(stopped.is_ok(), "shutdown waited on idle client connections");
    // Every connection task ended: the capture channel is closed, so the analysis can finish.
    let closed = tokio::time::timeout(Duration::from_secs(2), gw.records.recv()).await;
    assert!(matches!(closed, Ok(None)), "{closed:?}");
}

/// An upstream that promises 1000 bytes, sends 10 and hangs up: the client sees the abort,
/// the record keeps what came and says what happened.
#[tokio::test]
async fn a_lying_upstream_is_recorded_not_lost() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"issuer\":").await;
            let _ = s.shutdown().await;
        }
    });
    let mut gw =
        start_gateway(&ca, GatewayOpts { upstream: Some(format!("http://{addr}")), ..Default::default() })
            .await;
    let c = client(&ca, false);
    let resp = c.request(get(&format!("https://localhost:{}/x", gw.port))).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body()).await;
    assert!(body.is_err(), "the client must see the truncated body as an error");
    let ex = gw.record().await;
    let r = ex.response.as_ref().unwrap();
    assert_eq!(r.body.text(), Some("{\"issuer\":"));
    assert!(r.body.incomplete);
    assert!(ex.error.as_deref().unwrap().contains("response body"), "{:?}", ex.error);
}

/// The gateway's own JWKS fetch goes where a request for that URL would go: a `jwks_uri` on the
/// gateway's own name (Host is preserved, so providers advertise it) reaches the upstream, with
/// that Host and X-Forwarded-Proto, and is recorded as an exchange.
#[tokio::test]
async fn key_fetches_are_routed_like_requests() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let router = oidc_tap::proxy::route::Router::new(
        Some(oidc_tap::proxy::route::Upstream::parse(&up.url()).unwrap()),
        vec![],
    );
    let mut f = oidc_tap::keyfetch::KeyFetcher::new(&Default::default(), Default::default(), router).unwrap();
    let ex = f.fetch("https://gateway.test:9443/seen", Some("k1")).await.expect("fetched");
    assert_eq!(ex.client_addr, "oidc-tap");
    assert_eq!(ex.upstream, up.url());
    assert_eq!(ex.request.host, "gateway.test:9443");
    let r = ex.response.as_ref().expect("a response");
    assert_eq!(r.status, 200);
    let seen: serde_json::Value = serde_json::from_slice(&r.body.bytes).unwrap();
    assert_eq!(seen["host"], serde_json::json!(["gateway.test:9443"]));
    assert_eq!(seen["x_forwarded_proto"], serde_json::json!(["https"]));
    // Same URL and kid again at once: rate-limited. A new kid (rotation) fetches again.
    assert!(f.fetch("https://gateway.test:9443/seen", Some("k1")).await.is_none());
    assert!(f.fetch("https://gateway.test:9443/seen", Some("k2")).await.is_some());
}

/// Every failure path answers with the gateway's 502 and its hint, on HTTP/1.1 and HTTP/2
/// alike, for bodiless and streamed requests (an h2 POST used to end in a stream error).
#[tokio::test]
async fn upstream_down_gives_the_same_502_on_both_protocols_with_and_without_a_body() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let gw = start_gateway(
        &ca,
        GatewayOpts { routes: vec![format!("dead.test=http://{dead}")], ..Default::default() },
    )
    .await;
    for h2 in [false, true] {
        let c = client(&ca, h2);
        let url = format!("https://dead.test:{}/application/o/token/", gw.port);
        for req in [
            get(&url),
            Request::post(&url).body(full("grant_type=x")).unwrap(),
            post_streamed(&url, pattern(1 << 20)),
        ] {
            let what = format!("h2={h2} {} {:?}", req.method(), req.headers());
            let resp = c.request(req).await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!(resp.status(), 502, "{what}");
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap_or_else(|e| panic!("{what}: {e:?}"))
                .to_bytes();
            let text = String::from_utf8_lossy(&body);
            assert!(text.starts_with("oidc-tap: upstream http://"), "{what}: {text}");
            assert!(text.contains("refused the connection"), "{what}: {text}");
        }
    }
}

/// Plain HTTP on the TLS port gets nginx's answer, a 400 that says the port speaks HTTPS, and
/// is recorded (a client sent there holds an http:// URL: evidence for DISC-INSECURE-ENDPOINT).
#[tokio::test]
async fn plain_http_on_the_tls_port_is_answered_400_and_recorded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw = start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), ..Default::default() }).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    tcp.write_all(
        b"POST /application/o/token/ HTTP/1.1\r\nHost: authentik.test\r\nContent-Length: 0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    assert!(answer.ends_with("oidc-tap: this port speaks HTTPS: use https://authentik.test\n"), "{answer}");
    let ex = gw.record().await;
    assert_eq!(ex.gateway_answer, Some(oidc_tap::capture::GatewayAnswer::PlainHttpOnTlsPort));
    assert!(!ex.tls);
    assert_eq!((ex.request.method.as_str(), ex.request.path.as_str()), ("POST", "/application/o/token/"));
    assert_eq!(ex.response.unwrap().status, 400);
    // The TLS side still works.
    let (resp, _) = send(&client(&ca, false), get(&format!("https://authentik.test:{}/seen", gw.port))).await;
    assert_eq!(resp.status(), 200);
}

/// A client that sends half a request head and goes silent is let go after the header read
/// timeout instead of holding its connection.
#[tokio::test]
async fn a_silent_half_head_is_dropped_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let gw = start_gateway(
        &ca,
        GatewayOpts {
            upstream: Some(up.url()),
            listen_tls: false,
            header_read_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let t = Instant::now();
    let mut rest = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
    assert!(r.is_ok(), "the connection is still held after 5 s");
    assert!(t.elapsed() >= Duration::from_millis(400), "closed too early: {:?}", t.elapsed());
}

/// At --max-connections, a new connection waits until one closes; it is then served.
#[tokio::test]
async fn the_connection_cap_holds_new_connections_until_one_closes() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let gw = start_gateway(
        &ca,
        GatewayOpts { upstream: Some(up.url()), listen_tls: false, max_connections: 1, ..Default::default() },
    )
    .await;
    let idle = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!("http://127.0.0.1:{}/seen", gw.port);
    let c = client(&ca, false);
    let waiting = tokio::spawn(async move { send(&c, get(&url)).await.0.status() });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!waiting.is_finished(), "served past the cap");
    drop(idle);
    let status =
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("served once a slot frees");
    assert_eq!(status.unwrap(), 200);
}

/// An upstream that presents a CA certificate as its server certificate (what `openssl req
/// -x509` makes by default) gets a 502 that says so, not a rustls error name.
#[tokio::test]
async fn a_ca_certificate_used_as_server_certificate_upstream_is_named() {
    init();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["selfsigned.test".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let ca = Arc::new(DevCa::generate().unwrap());
    let mut upstream_ca = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut upstream_ca, cert.pem().as_bytes()).unwrap();
    use oidc_tap::proxy::route::{ConnectTo, Router, Upstream};
    use oidc_tap::proxy::{Gateway, Listen, ProxyConfig};
    use oidc_tap::tls::ServerIdentity;
    let mut cfg = ProxyConfig::new(
        vec![Listen::parse("https://127.0.0.1:0").unwrap()],
        Router::new(Some(Upstream::parse("https://selfsigned.test").unwrap()), vec![]),
    );
    cfg.connect_to = ConnectTo::new(vec![(("selfsigned.test".into(), 443), addr.to_string())]);
    cfg.trust.extra_cas = vec![upstream_ca.path().to_owned()];
    cfg.identity = Some(ServerIdentity::DevCa { ca: ca.clone(), fallback: vec!["127.0.0.1".into()] });
    let gw = Gateway::start(cfg).await.unwrap();
    let port = gw.listening[0].addr.port();
    let (resp, body) = send(&client(&ca, false), get(&format!("https://selfsigned.test:{port}/"))).await;
    assert_eq!(resp.status(), 502);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "oidc-tap: upstream https://selfsigned.test presents a CA certificate as its server certificate (what `openssl req -x509` makes by default): give it a server certificate issued by that CA, or pass --insecure-upstream\n"
    );
}

/// Connection buffers are capped (64 KiB) to bound memory: a 40 KiB cookie still passes, a head
/// past the cap is refused with 431 and the gateway goes on serving.
#[tokio::test]
async fn request_heads_up_to_the_buffer_cap_pass_larger_ones_get_431() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let gw =
        start_gateway(&ca, GatewayOpts { listen_tls: false, upstream: Some(up.url()), ..Default::default() })
            .await;
    let status_for = |cookie_len: usize| async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        let head = format!(
            "GET /seen HTTP/1.1\r\nHost: authentik.test\r\nCookie: a={}\r\nConnection: close\r\n\r\n",
            "x".repeat(cookie_len)
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).lines().next().unwrap_or_default().to_owned()
    };
    assert_eq!(status_for(40 * 1024).await, "HTTP/1.1 200 OK");
    assert_eq!(status_for(100 * 1024).await, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_eq!(status_for(10).await, "HTTP/1.1 200 OK");
}

/// Connections are dealt to the forwarding lanes in turn and each stays on its lane, with that
/// lane's upstream pool. Many connections at once, on three lanes: every answer is its own
/// request's (nothing crosses between lanes), and every record has an id of its own (one
/// sequence for all lanes, which correlation and the journal rely on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_on_several_lanes_get_their_own_answers_and_distinct_record_ids() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::TlsH1, &ca, &["127.0.0.1"]).await;
    let mut gw =
        start_gateway(&ca, GatewayOpts { upstream: Some(up.url()), lanes: Some(3), ..Default::default() })
            .await;
    let base = format!("https://localhost:{}", gw.port);
    let (clients, per_client) = (6, 4);
    let mut calls = tokio::task::JoinSet::new();
    for c in 0..clients {
        // A client of its own per task: its own connection, so the six land on all three lanes.
        let client = client(&ca, false);
        let base = base.clone();
        calls.spawn(async move {
            for i in 0..per_client {
                let payload = format!("client {c} request {i}").into_bytes();
                let (resp, body) =
                    send(&client, post_streamed(&format!("{base}/echo"), payload.clone())).await;
                assert_eq!(resp.status(), 200);
                assert_eq!(&body[..], &payload[..], "client {c} got another request's answer");
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut bodies = std::collections::BTreeSet::new();
    for _ in 0..clients * per_client {
        let ex = gw.record().await;
        assert_eq!(ex.response.as_ref().map(|r| r.status), Some(200));
        assert!(ids.insert(ex.id), "record id {} given twice", ex.id);
        bodies.insert(String::from_utf8(ex.request.body.bytes.to_vec()).unwrap());
    }
    assert_eq!(bodies.len(), clients * per_client, "every request recorded once: {bodies:?}");
    assert!(bodies.contains("client 5 request 3"));
}
