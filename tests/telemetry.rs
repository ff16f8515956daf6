//! OpenTelemetry export end to end: demo logins through a real gateway, their traces received
//! by an OTLP/HTTP collector on loopback and decoded with `opentelemetry-proto`; the halves of
//! one login seen by two gateways land in one trace.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

use oidc_tap::analysis::{Analyzer, AnalyzerConfig, Event};
use oidc_tap::demo::faults;
use oidc_tap::demo::rig::{Rig, Scenario, quiet_session};
use oidc_tap::telemetry::otlp::{FleetKey, OtlpSender, TraceBuilder, traces_url};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// A collector: accepts POSTs, keeps each body, answers 200.
fn collector() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(vec![]));
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if first {
                            assert!(line.starts_with("POST /v1/traces "), "{line}");
                            first = false;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    keep.lock().unwrap().push(body);
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, got)
}

fn attr<'a>(attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()).and_then(|v| v.value.as_ref())
}

fn text(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_login_is_one_trace_with_its_findings_and_no_secret() {
    oidc_tap::tls::install_crypto_provider();
    let (url, got) = collector();
    let mut sc = Scenario::clean();
    faults::combine(&["wrong-aud".to_string()], &mut sc).unwrap();
    let mut session = quiet_session(&sc);
    let client = reqwest::Client::builder().build().unwrap();
    session.otlp = Some(oidc_tap::session::OtlpOut {
        traces: TraceBuilder::new(FleetKey::from_bytes(b"a fleet key of the test deployment"), "gw-a"),
        sender: OtlpSender::start(traces_url(&url), client, std::time::Duration::from_secs(5)),
    });
    let rig = Rig::start(sc.clone(), session).await.unwrap();
    rig.login().await.unwrap();
    let mut done = rig.finish().await.unwrap();
    done.otlp.take().unwrap().sender.flush(std::time::Duration::from_secs(5)).await;
    let events = done.keep.unwrap();
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one login, one export");
    let req = ExportTraceServiceRequest::decode(bodies[0].as_slice()).unwrap();
    let spans: Vec<&Span> = req.resource_spans[0].scope_spans[0].spans.iter().collect();
    let root = spans[0];
    assert_eq!(root.name, "oidc login · failed");
    assert!(root.parent_span_id.is_empty() && root.trace_id.len() == 16);
    match attr(&root.attributes, "oidc_tap.rules") {
        Some(Value::ArrayValue(a)) => {
            let rules: Vec<&str> = a.values.iter().filter_map(|v| text(v.value.as_ref())).collect();
            assert!(rules.contains(&"IDT-AUD-MISMATCH"), "{rules:?}");
        }
        other => panic!("{other:?}"),
    }
    let kinds: Vec<&str> =
        spans[1..].iter().filter_map(|s| text(attr(&s.attributes, "oidc_tap.kind"))).collect();
    for k in ["discovery", "rp_login", "authorize_response", "token", "jwks", "rp_callback"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert!(spans[1..].iter().all(|s| s.trace_id == root.trace_id && s.parent_span_id == root.span_id));
    let token = spans.iter().find(|s| text(attr(&s.attributes, "oidc_tap.kind")) == Some("token")).unwrap();
    let ev = token
        .events
        .iter()
        .find(|e| e.name == "IDT-AUD-MISMATCH")
        .expect("the finding on its exchange's span");
    assert_eq!(text(attr(&ev.attributes, "oidc_tap.severity")), Some("error"));
    assert_eq!(text(attr(&ev.attributes, "oidc_tap.field")), Some("id_token.aud"));
    assert!(text(attr(&ev.attributes, "oidc_tap.fix")).is_some());
    assert!(token.start_time_unix_nano > 0 && token.end_time_unix_nano >= token.start_time_unix_nano);
    // No secret: the client secret, the password, the code, any signed JWT.
    let bytes = String::from_utf8_lossy(&bodies[0]).into_owned();
    let mut secrets = vec![sc.rp.client_secret.clone(), oidc_tap::demo::browser::PASSWORD.to_owned()];
    for e in &events {
        if let Event::Exchange(x) = e {
            if let Some(c) = x.decoded.authorization_response.as_ref().and_then(|r| r.code.clone()) {
                secrets.push(c);
            }
            if let Some(body) = x.exchange.response.as_ref().and_then(|r| r.body.text())
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(body)
            {
                for k in ["id_token", "access_token"] {
                    if let Some(t) = v[k].as_str() {
                        secrets.push(t.to_owned());
                    }
                }
            }
        }
    }
    assert!(secrets.len() >= 4, "{secrets:?}");
    for s in &secrets {
        assert!(!bytes.contains(s.as_str()), "a secret in the export: {s}");
    }
}

/// Two gateways behind one load balancer, each seeing half of one login (the browser's steps,
/// Mastodon's back channel), with the fleet's key: one trace id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_of_one_login_on_two_gateways_share_a_trace_id() {
    oidc_tap::tls::install_crypto_provider();
    let events = oidc_tap::demo::rig::run_login(Scenario::clean()).await.unwrap();
    let records: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) => Some(x.clone()),
            _ => None,
        })
        .collect();
    let back = |k: &str| matches!(k, "token" | "jwks" | "userinfo");
    let ids = |front: bool, key: &[u8]| {
        let mut a = Analyzer::new(AnalyzerConfig::default());
        let mut t = TraceBuilder::new(FleetKey::from_bytes(key), if front { "gw-front" } else { "gw-back" });
        let mut out = vec![];
        for x in records.iter().filter(|x| back(x.kind.as_str()) != front) {
            for ev in a.ingest_owned(x.exchange.clone(), None) {
                out.extend(t.event(&ev));
            }
        }
        for ev in a.finish(u64::MAX / 2) {
            out.extend(t.event(&ev));
        }
        out.iter()
            .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.iter())
            .filter(|s| s.parent_span_id.is_empty())
            .filter(|s| text(attr(&s.attributes, "oidc_tap.outcome")).is_some())
            .map(|s| (s.trace_id.clone(), s.name.clone()))
            .collect::<Vec<_>>()
    };
    let key = b"the fleet's shared key, 32 bytes";
    let (front, back_half) = (ids(true, key), ids(false, key));
    assert!(!front.is_empty() && !back_half.is_empty(), "{front:?} {back_half:?}");
    let shared: Vec<_> = front.iter().filter(|(t, _)| back_half.iter().any(|(u, _)| u == t)).collect();
    assert_eq!(shared.len(), 1, "one login, one trace id: {front:?} / {back_half:?}");
    // Another deployment's key: another id, so nobody can tie a trace to a code without it.
    let other = ids(false, b"another deployment's key, 32 by");
    assert!(other.iter().all(|(t, _)| !front.iter().any(|(u, _)| u == t)));
}

/// The binary: `proxy --otlp` exports the login it saw (here one whose upstream is down) when
/// it stops, with the gateway's finding on the exchange's span.
#[test]
fn proxy_otlp_exports_on_the_way_out() {
    let (url, got) = collector();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    drop(std::net::TcpListener::bind(dead));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("fleet.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    let gw = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args([
            "proxy",
            "--listen",
            &format!("http://127.0.0.1:{port}"),
            "--upstream",
            &format!("http://{dead}"),
        ])
        .args(["--otlp", &url, "--fleet-key"])
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut s = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the gateway did not listen");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    write!(
        s,
        "GET /application/o/mastodon/.well-known/openid-configuration HTTP/1.1\r\nHost: authentik.test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = std::process::Command::new("kill").args(["-INT", &gw.id().to_string()]).status();
    let out = gw.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("  traces {url}/v1/traces (OTLP/HTTP, one trace per login, redacted)")),
        "{stderr}"
    );
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{stderr}");
    let req = ExportTraceServiceRequest::decode(bodies[0].as_slice()).unwrap();
    let spans = &req.resource_spans[0].scope_spans[0].spans;
    assert!(spans[0].name.starts_with("oidc login · "), "{:?}", spans[0].name);
    let discovery =
        spans.iter().find(|s| text(attr(&s.attributes, "oidc_tap.kind")) == Some("discovery")).unwrap();
    assert!(discovery.events.iter().any(|e| e.name == "GATEWAY-UPSTREAM-FAILED"), "{discovery:?}");
    assert!(matches!(attr(&discovery.attributes, "http.response.status_code"), Some(Value::IntValue(502))));
}
