//! Failure paths while traffic flows: background clients keep a login's back channel and
//! static files going through the gateway while upstreams refuse, reset mid-body, hang, present
//! a certificate for another name or an expired one, answer plain HTTP to a TLS dial, and a
//! client walks away from a 10 MB download. Each asserts what the client got, what the record
//! says, that the next request is served, and, at the end, that no login step's record was
//! lost. Then 5,000 connections at once, a JWKS endpoint failing or slow while logins go on, a
//! full trace disk, and a client that stops reading. Last, the load benchmark's script (not run
//! here) still parses and prints what BENCHMARKS.md quotes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use http_body_util::BodyExt;
use oidc_tap::analysis::{Analyzer, Event};
use oidc_tap::capture::Exchange;
use oidc_tap::tls::DevCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plain-HTTP upstream that reads a request head and then runs `act` on the socket.
async fn raw_upstream<F, Fut>(act: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let act = Arc::new(act);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let act = act.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                act(s).await;
            });
        }
    });
    addr
}

const OIDC_PATH: &str = "/application/o/mastodon/.well-known/openid-configuration";

fn is_login_step(ex: &Exchange) -> bool {
    !ex.summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_while_traffic_flows_cost_the_next_request_nothing_and_lose_no_login_step() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let good = start_upstream(UpstreamKind::TlsH1, &ca, &["authentik.test"]).await;
    let wrong_name = start_upstream(UpstreamKind::TlsH1, &ca, &["somebody-else.test"]).await;
    let expired = start_upstream_with(
        UpstreamKind::TlsH1,
        ca.issue_for_years(&["expired.test".to_string()], 2000, 2001).unwrap(),
    )
    .await;
    let plain = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let hangs = raw_upstream(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let resets = raw_upstream(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n0123456789").await;
        let _ = s.flush().await;
        // Close with unread data pending and linger 0: a reset, mid-body.
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await;
    let interest = Analyzer::new(Default::default()).interest();
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            routes: vec![
                "authentik.test=https://authentik.test:443".into(),
                format!("refused.test=https://{refused}"),
                format!("hangs.test=http://{hangs}"),
                format!("resets.test=http://{resets}"),
                "wrong.test=https://wrong.test:443".into(),
                "expired.test=https://expired.test:443".into(),
                "plain.test=https://plain.test:443".into(),
            ],
            connect_to: vec![
                format!("authentik.test:443=127.0.0.1:{}", good.addr.port()),
                format!("wrong.test:443=127.0.0.1:{}", wrong_name.addr.port()),
                format!("expired.test:443=127.0.0.1:{}", expired.addr.port()),
                format!("plain.test:443=127.0.0.1:{}", plain.addr.port()),
            ],
            response_timeout: Duration::from_secs(1),
            wanted: Some(Arc::new(move |m: &str, s: &str, h: &str, p: &str| interest.wants(m, s, h, p))),
            ..Default::default()
        },
    )
    .await;
    let port = gw.port;
    // The analysis side's part: take the records as they come.
    let mut rx = std::mem::replace(&mut gw.records, oidc_tap::proxy::tap::CaptureSink::new(1, 1, None).1);
    let reader = tokio::spawn(async move {
        let mut all = vec![];
        while let Some(ex) = rx.recv().await {
            all.push(ex);
        }
        all
    });

    // Background: 8 clients alternate a login step (discovery) and a static download.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent_oidc, sent_other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut background = vec![];
    for _ in 0..8 {
        let (c, stop, so, sx) = (client(&ca, false), stop.clone(), sent_oidc.clone(), sent_other.clone());
        background.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (url, counter) = if i.is_multiple_of(2) {
                    (format!("https://authentik.test:{port}{OIDC_PATH}"), &so)
                } else {
                    (format!("https://authentik.test:{port}/big?n=20000"), &sx)
                };
                let (resp, _) = send(&c, get(&url)).await;
                assert!(resp.status() == 404 || resp.status() == 200, "{}", resp.status());
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let c = client(&ca, false);
    let next_is_served = |c: &TestClient| {
        let c = c.clone();
        async move {
            let (resp, body) = send(&c, get(&format!("https://authentik.test:{port}/seen"))).await;
            assert_eq!(resp.status(), 200, "the next request is served");
            assert!(String::from_utf8_lossy(&body).contains("authentik.test"));
        }
    };
    let token = |host: &str| format!("https://{host}:{port}/application/o/token/");
    let mut faults_sent = 0;

    // Refused, hanging, wrong certificate, plain HTTP to a TLS dial: the gateway's own answer
    // with what to change, and the next request served.
    for (host, status, says) in [
        ("refused.test", 502, "refused the connection"),
        ("hangs.test", 504, "did not answer within 1 s"),
        ("wrong.test", 502, "does not cover that name"),
        ("expired.test", 502, "has expired or is not yet valid"),
        ("plain.test", 502, "TLS"),
    ] {
        let (resp, body) = send(&c, get(&token(host))).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(resp.status(), status, "{host}: {text}");
        assert_eq!(resp.headers().get("x-oidc-tap-error").map(|v| v.as_bytes()), Some(&b"1"[..]), "{host}");
        assert!(text.contains(says), "{host}: {text}");
        faults_sent += 1;
        next_is_served(&c).await;
    }

    // Reset mid-body: the client sees the body fail, the next request is served.
    let resp = c.request(get(&token("resets.test"))).await.expect("the head arrives");
    assert_eq!(resp.status(), 200, "the upstream's own head");
    assert!(resp.into_body().collect().await.is_err(), "the body is cut, not completed");
    faults_sent += 1;
    next_is_served(&c).await;

    // A client walks away from a 10 MB download after its first bytes.
    let mut resp = c.request(get(&format!("https://authentik.test:{port}/big?n=10485760"))).await.unwrap();
    let first = resp.body_mut().frame().await.unwrap().unwrap();
    assert!(first.is_data());
    drop(resp);
    next_is_served(&c).await;

    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for b in background {
        b.await.unwrap();
    }
    // Everything ends; every record is read.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = gw.gw.capture_stats();
    gw.gw.shutdown().await;
    let records = tokio::time::timeout(Duration::from_secs(10), reader).await.unwrap().unwrap();
    let discovery: Vec<&Exchange> =
        records.iter().filter(|x| x.request.path == OIDC_PATH && is_login_step(x)).collect();
    let sent = sent_oidc.load(Ordering::Relaxed);
    assert!(sent > 50, "the background ran ({sent} login steps)");
    assert_eq!(discovery.len() as u64, sent, "every login step under load has its whole record");
    assert!(discovery.iter().all(|x| x.response.is_some()));
    // A reader that keeps up loses nothing: every summary of other traffic arrived too.
    let [full, lost, cut, summaries, dropped] = stats.snapshot();
    assert_eq!((lost, cut, dropped), (0, 0, 0));
    assert_eq!(full as usize, records.iter().filter(|x| !x.summary).count());
    assert_eq!(summaries as usize, records.iter().filter(|x| x.summary).count());
    let statics = records.iter().filter(|x| x.request.path.starts_with("/big?n=20000")).count() as u64;
    assert_eq!(statics, sent_other.load(Ordering::Relaxed));
    assert!(records.iter().filter(|x| x.request.path.starts_with("/big")).all(|x| x.summary));

    // Each failure's record says what happened.
    let token_records: Vec<&Exchange> =
        records.iter().filter(|x| x.request.path == "/application/o/token/").collect();
    assert_eq!(token_records.len(), faults_sent, "{token_records:#?}");
    for (host, says) in [
        ("refused.test", "refused"),
        ("hangs.test", "did not answer"),
        ("wrong.test", "does not cover that name"),
        ("expired.test", "has expired"),
        ("plain.test", "TLS"),
    ] {
        let x = token_records.iter().find(|x| x.request.host.starts_with(host)).unwrap();
        assert!(
            x.gateway_answer.is_some() && x.error.as_deref().unwrap_or("").contains(says),
            "{host}: {x:?}"
        );
    }
    let reset = token_records.iter().find(|x| x.request.host.starts_with("resets.test")).unwrap();
    let body = &reset.response.as_ref().unwrap().body;
    assert!(body.incomplete && body.bytes.as_ref() == b"0123456789", "{reset:?}");
    let walked = records.iter().find(|x| x.request.path == "/big?n=10485760").unwrap();
    let body = &walked.response.as_ref().unwrap().body;
    assert!(body.incomplete && body.wire_len < 10_485_760, "{walked:?}");
}

/// When nobody reads (analysis stalled), other traffic's summaries overflow their bounded queue
/// and are counted; not one login step is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_analysis_side_costs_summaries_never_login_steps() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let interest = Analyzer::new(Default::default()).interest();
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            listen_tls: false,
            upstream: Some(up.url()),
            wanted: Some(Arc::new(move |m: &str, s: &str, h: &str, p: &str| interest.wants(m, s, h, p))),
            ..Default::default()
        },
    )
    .await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], gw.port));
    // 1,000 login steps (fewer than the 1,024 that may wait for analysis before the next waits
    // for room), 6,000 static files.
    for i in 0..7000u32 {
        let path = if i.is_multiple_of(7) { OIDC_PATH.to_owned() } else { format!("/static/app-{i}.js") };
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: authentik.test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
    }
    let stats = gw.gw.capture_stats();
    gw.gw.shutdown().await;
    let [full, lost, cut, summaries, dropped] = stats.snapshot();
    // The summaries' queue holds 4,096.
    assert_eq!((full, lost, cut), (1000, 0, 0));
    assert_eq!((summaries, dropped), (4096, 6000 - 4096));
    assert_eq!(stats.full_waited.load(std::sync::atomic::Ordering::Relaxed), 0);
    let mut login_steps = 0;
    while let Some(ex) = tokio::time::timeout(Duration::from_secs(5), gw.records.recv()).await.unwrap() {
        login_steps += usize::from(!ex.summary);
    }
    assert_eq!(login_steps, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_connections_at_once() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw =
        start_gateway(&ca, GatewayOpts { listen_tls: false, upstream: Some(up.url()), ..Default::default() })
            .await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], gw.port));
    // Every connection is open (its request sent) before any is answered in full.
    let barrier = Arc::new(tokio::sync::Barrier::new(5000));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..5000 {
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            barrier.wait().await;
            let req = format!(
                "GET {OIDC_PATH}?n={i} HTTP/1.1\r\nHost: authentik.test\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            String::from_utf8_lossy(&out).starts_with("HTTP/1.1 404")
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += usize::from(r.unwrap());
    }
    assert_eq!(ok, 5000, "every connection got the upstream's answer");
    gw.gw.shutdown().await;
    let mut n = 0;
    while tokio::time::timeout(Duration::from_secs(5), gw.records.recv()).await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 5000, "one whole record each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_cut_and_recorded_as_stalled() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    // The upstream promises 1,000 bytes, sends 10 and then nothing, keeping the socket open.
    let stalls = raw_upstream(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789").await;
        let _ = s.flush().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let live = start_upstream(UpstreamKind::Plain, &ca, &[]).await;
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            routes: vec![format!("stalls.test=http://{stalls}"), format!("live.test={}", live.url())],
            body_idle_timeout: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await;
    let c = client(&ca, false);
    let started = std::time::Instant::now();
    let resp =
        c.request(get(&format!("https://stalls.test:{}/application/o/token/", gw.port))).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.into_body().collect().await.is_err(), "the client sees the body cut");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1) && waited < Duration::from_secs(10), "{waited:?}");
    let ex = gw.record().await;
    let body = &ex.response.as_ref().unwrap().body;
    assert!(body.incomplete && body.bytes.as_ref() == b"0123456789", "{ex:?}");
    assert!(ex.error.as_deref().unwrap().contains("stalled: no data for 1 s"), "{:?}", ex.error);
    let (resp, _) = send(&c, get(&format!("https://live.test:{}/seen", gw.port))).await;
    assert_eq!(resp.status(), 200, "the next request is served");
}

/// The JWKS endpoint answers 500 while several logins run at once: each ID token's check says
/// the keys could not be read and why; the logins' other steps pass through untouched, and once
/// the endpoint recovers the next logins verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_jwks_endpoint_is_said_while_logins_go_on() {
    use oidc_tap::demo::rig::{Rig, Scenario};
    init();
    let mut sc = Scenario::clean();
    sc.provider.faults.jwks_status = Some(500);
    let rig = Rig::start(sc.clone(), oidc_tap::demo::rig::quiet_session(&sc)).await.unwrap();
    let outcomes = futures_util::future::join_all((0..4).map(|_| rig.login())).await;
    for o in &outcomes {
        // Mastodon itself cannot read the keys: its login fails at the ID token.
        let o = o.as_ref().unwrap();
        assert!(!matches!(o.verdict, Some(oidc_tap::demo::mastodon::Verdict::Success { .. })), "{o:?}");
    }
    let mut f = rig.provider.config().faults;
    f.jwks_status = None;
    rig.provider.set_faults(f);
    let after = rig.login().await.unwrap();
    assert!(matches!(after.verdict, Some(oidc_tap::demo::mastodon::Verdict::Success { .. })), "{after:?}");
    let events = rig.finish().await.unwrap().keep.unwrap();
    let tokens = token_calls(&events);
    assert_eq!(tokens.len(), 5, "every token call recorded");
    let said: Vec<String> = id_token_findings(&events)
        .map(|f| format!("{} {} {}", f.rule.as_str(), f.message, f.seen.clone().unwrap_or_default()))
        .collect();
    let about_500 = said.iter().filter(|s| s.contains("500")).count();
    assert_eq!(about_500, 4, "{said:#?}");
    assert!(
        tokens[4].passed.iter().any(|c| c.to_string().starts_with("signature ✓")),
        "{:?}",
        tokens[4].passed
    );
}

/// A journal writer whose disk fills up after `room` bytes.
struct FillsUp {
    room: usize,
}

impl std::io::Write for FillsUp {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.room < b.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device"));
        }
        self.room -= b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The trace's disk fills up during logins: forwarding and analysis go on, the failed writes
/// are counted (the first one is reported), nothing else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_trace_disk_stops_nothing_but_the_trace() {
    use oidc_tap::analysis::AnalyzerConfig;
    use oidc_tap::demo::rig::{Rig, Scenario};
    use oidc_tap::output::journal::Journal;
    use oidc_tap::session::Session;
    init();
    let sc = Scenario::clean();
    let journal = Journal::from_writer(
        Box::new(std::io::BufWriter::with_capacity(256, FillsUp { room: 20_000 })),
        true,
    );
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        None,
        Some(journal),
        1 << 20,
    )
    .keep_events();
    let rig = Rig::start(sc, session).await.unwrap();
    for _ in 0..3 {
        let o = rig.login().await.unwrap();
        assert!(matches!(o.verdict, Some(oidc_tap::demo::mastodon::Verdict::Success { .. })), "{o:?}");
    }
    let s = rig.finish().await.unwrap();
    assert!(s.journal_errors > 0, "the failed writes are counted");
    let events = s.keep.unwrap();
    let completed = events
        .iter()
        .filter(|e| matches!(e, Event::Flow(f) if f.outcome.map(|o| o.as_str()) == Some("complete")))
        .count();
    assert_eq!(completed, 3, "analysis saw every login whole");
}

/// A client that stops reading in the middle of a big download (its socket stays unwritable,
/// so hyper stops polling the body and no body timer runs): after `--body-timeout` the gateway
/// closes that connection, frees its slot (here the only one) and records the download as cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_let_go_after_the_body_timeout() {
    init();
    let ca = Arc::new(DevCa::generate().unwrap());
    let up = start_upstream(UpstreamKind::TlsH1, &ca, &["authentik.test"]).await;
    let mut gw = start_gateway(
        &ca,
        GatewayOpts {
            upstream: Some("https://authentik.test:443".into()),
            connect_to: vec![format!("authentik.test:443=127.0.0.1:{}", up.addr.port())],
            body_idle_timeout: Duration::from_secs(1),
            max_connections: 1,
            ..Default::default()
        },
    )
    .await;
    let port = gw.port;

    // A raw TLS client with a small receive buffer asks for 32 MB, reads 64 KiB, then stops.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("authentik.test").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.unwrap();
    s.write_all(b"GET /big?n=33554432 HTTP/1.1\r\nhost: authentik.test\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < 64 * 1024 {
        got += s.read(&mut buf).await.unwrap();
    }
    let stopped = std::time::Instant::now();

    // Meanwhile a second client waits for the only connection slot; it is served once the
    // stalled client has been let go (after the 1 s timeout), not after 32 MB.
    let c = client(&ca, false);
    let (resp, _) = tokio::time::timeout(
        Duration::from_secs(10),
        send(&c, get(&format!("https://authentik.test:{port}/seen"))),
    )
    .await
    .expect("the next client is served once the stalled one is let go");
    assert_eq!(resp.status(), 200);
    assert!(stopped.elapsed() >= Duration::from_millis(900), "{:?}", stopped.elapsed());

    // The stalled client finds its connection closed after what the buffers held.
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the connection was closed by the gateway");
    assert!(got < 33_554_432, "the download was cut ({got} bytes)");

    // Its record: the response body cut short, not an upstream failure.
    let rec = loop {
        let r = gw.record().await;
        if r.request.path.starts_with("/big") {
            break r;
        }
    };
    let body = &rec.response.as_ref().expect("the upstream answered").body;
    assert!(body.incomplete && body.wire_len < 33_554_432, "{rec:?}");
    assert!(rec.gateway_answer.is_none(), "{rec:?}");
    gw.gw.shutdown().await;
}

/// A JWKS endpoint that answers 1.5 s late while logins go on: the gateway keeps forwarding
/// (a discovery request during the wait is answered at once), every ID token is verified once
/// the keys arrive, and no rule mistakes the wait for a missing or unknown key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_jwks_endpoint_delays_the_verdict_not_the_traffic() {
    use oidc_tap::demo::rig::{Rig, Scenario};
    init();
    let mut sc = Scenario::clean();
    sc.provider.faults.jwks_delay_ms = 1500;
    let rig = Rig::start(sc.clone(), oidc_tap::demo::rig::quiet_session(&sc)).await.unwrap();
    let port = rig.gateway_addr.port();
    let c = client(&rig.ca, false);
    let logins = futures_util::future::join_all((0..3).map(|_| rig.login()));
    let meanwhile = async {
        // Well into the logins, while their JWKS fetches wait.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let started = std::time::Instant::now();
        let url =
            format!("https://authentik.test:{port}/application/o/mastodon/.well-known/openid-configuration");
        let (resp, _) = send(&c, get(&url)).await;
        (resp.status(), started.elapsed())
    };
    let started = std::time::Instant::now();
    let (outcomes, (status, took)) = tokio::join!(logins, meanwhile);
    assert!(started.elapsed() >= Duration::from_millis(1500), "the logins waited for the keys");
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(500), "forwarding did not wait for the JWKS: {took:?}");
    for o in &outcomes {
        let o = o.as_ref().unwrap();
        assert!(matches!(o.verdict, Some(oidc_tap::demo::mastodon::Verdict::Success { .. })), "{o:?}");
    }
    let events = rig.finish().await.unwrap().keep.unwrap();
    let tokens = token_calls(&events);
    assert_eq!(tokens.len(), 3, "every token call recorded");
    let signature_findings: Vec<String> =
        id_token_findings(&events).map(|f| format!("{} {}", f.rule, f.message)).collect();
    assert!(signature_findings.is_empty(), "{signature_findings:#?}");
    let verified = events
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) => {
                Some(x.passed.iter().filter(|c| c.to_string().starts_with("signature ✓")).count())
            }
            _ => None,
        })
        .sum::<usize>();
    assert_eq!(verified, 3, "each ID token verified once its keys arrived");
}

/// The token calls among a run's events.
fn token_calls(events: &[Event]) -> Vec<&oidc_tap::analysis::ExchangeEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) if x.kind.as_str() == "token" => Some(x.as_ref()),
            _ => None,
        })
        .collect()
}

/// The ID token findings (`IDT-…`) among a run's events.
fn id_token_findings(events: &[Event]) -> impl Iterator<Item = &oidc_tap::rules::Finding> {
    events.iter().filter_map(|e| match e {
        Event::Finding(f) if f.rule.as_str().starts_with("IDT-") => Some(f.as_ref()),
        _ => None,
    })
}

/// The load benchmark is not run by CI (it takes minutes and installs nginx), but it must stay a
/// script bash can run, and BENCHMARKS.md quotes lines it prints: both must still match it.
#[test]
fn the_load_benchmark_script_parses_and_prints_what_benchmarks_md_quotes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = format!("{root}/bench/run.sh");
    let out = std::process::Command::new("bash").args(["-n", &script]).output().expect("bash runs");
    assert!(out.status.success(), "bash -n bench/run.sh: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&script).unwrap();
    let doc = std::fs::read_to_string(format!("{root}/BENCHMARKS.md")).unwrap();
    for printed in [
        "CPU per request (round 1, /proc): upstream",
        "connection(s), wrk -t1 (not saturated): p50 / p99 ms, p50 added over direct",
        "== checking what each proxy answers (status, bytes)",
    ] {
        assert!(text.contains(printed), "bench/run.sh no longer prints {printed:?}");
        assert!(doc.contains(printed), "BENCHMARKS.md no longer quotes {printed:?}");
    }
}
