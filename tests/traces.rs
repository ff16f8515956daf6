//! Traces a customer can send and a support engineer can open: a live login through the
//! gateway written as a journal and a HAR, both analysed offline to the same findings; every
//! secret the login used searched for in every byte written; the HAR checked by an
//! independent HAR 1.2 parser; unreadable inputs refused with a message that says where.

use std::collections::BTreeSet;

use oidc_tap::analysis::{Analyzer, AnalyzerConfig, Event};
use oidc_tap::demo::provider::{Signing, StateTamper};
use oidc_tap::demo::rig::{PASSWORD, Rig, Scenario};
use oidc_tap::output::console::{Console, Style};
use oidc_tap::output::journal::Journal;
use oidc_tap::rules::Severity;
use oidc_tap::session::Session;
use oidc_tap::trace::har::HarWriter;
use oidc_tap::trace::report::Report;
use serde_json::Value;

#[derive(Clone, Default)]
struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A finding as the round trip compares it.
type Key = (String, Severity, Option<u64>, Option<u64>, Option<String>, Option<String>);

fn keys(events: &[Event]) -> BTreeSet<Key> {
    events
        .iter()
        .filter_map(|e| match e {
            // "not checked" notes describe the trace being read, not the login.
            Event::Finding(f) if !f.not_checked => {
                Some((f.rule.to_string(), f.severity, f.flow, f.exchange, f.expected.clone(), f.seen.clone()))
            }
            _ => None,
        })
        .collect()
}

struct Live {
    events: Vec<Event>,
    console: String,
    journal: String,
    har: String,
    dir: tempfile::TempDir,
}

/// One login through the real gateway, recorded as a journal and a HAR (redacted or not).
async fn live(sc: Scenario, redact: bool) -> Live {
    oidc_tap::tls::install_crypto_provider();
    let (console, journal) = (Buf::default(), Buf::default());
    let mut session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        Some(Console::new(Box::new(console.clone()), Style { color: false }, true)),
        Some(Journal::from_writer(Box::new(journal.clone()), redact)),
        1 << 20,
    )
    .keep_events();
    let dir = tempfile::tempdir().unwrap();
    session.har = Some(oidc_tap::session::HarOut {
        writer: HarWriter::new(redact, false),
        path: dir.path().join("t.har"),
        every: std::time::Duration::from_secs(3600),
        errors: 0,
    });
    let rig = Rig::start(sc, session).await.unwrap();
    rig.login().await.unwrap();
    let events = rig.finish().await.unwrap().keep.unwrap();
    let har = std::fs::read_to_string(dir.path().join("t.har")).unwrap();
    std::fs::write(dir.path().join("t.jsonl"), journal.text()).unwrap();
    Live { events, console: console.text(), journal: journal.text(), har, dir }
}

fn offline(path: &std::path::Path, sc: &Scenario) -> Vec<Event> {
    let mut events = vec![];
    oidc_tap::commands::analyze::analyze(
        &[path.to_str().unwrap().to_owned()],
        AnalyzerConfig { expectations: sc.expectations(), ..Default::default() },
        |ev| events.push(ev.clone()),
    )
    .unwrap();
    events
}

fn scenarios() -> Vec<(&'static str, Scenario)> {
    let mut v = vec![("clean", Scenario::clean())];
    for name in [
        "issuer-trailing-slash",
        "nonce-mismatch",
        "missing-openid-scope",
        "hs256-no-signing-key",
        "tampered-signature",
        "wrong-client-secret",
        "state-altered",
        // The token's shape survives redaction: unsigned stays unsigned, a JWE stays a JWE.
        "alg-none",
        "encrypted-id-token",
    ] {
        let mut sc = Scenario::clean();
        oidc_tap::demo::faults::apply(name, &mut sc).unwrap();
        v.push((name, sc));
    }
    v
}

/// A live login → journal and HAR → `analyze` of each: the same findings (rule, severity,
/// flow, exchange, expected, seen), a clean login and nine broken ones, redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journal_and_har_analysed_offline_give_the_live_findings() {
    for (name, sc) in scenarios() {
        let l = live(sc.clone(), true).await;
        let want = keys(&l.events);
        for file in ["t.jsonl", "t.har"] {
            let got = keys(&offline(&l.dir.path().join(file), &sc));
            assert_eq!(got, want, "{name}: {file} analysed offline differs from the live run");
        }
        if name == "tampered-signature" {
            // The live verdict travels with the redacted trace, word for word, and no note of
            // its own is added.
            let finding = |events: &[Event]| {
                events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Finding(f) if f.rule.as_str().starts_with("IDT-") => {
                            Some(serde_json::to_value(f).unwrap())
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            };
            for file in ["t.jsonl", "t.har"] {
                let replay = offline(&l.dir.path().join(file), &sc);
                assert_eq!(
                    finding(&replay),
                    finding(&l.events),
                    "{name}: {file}: the live signature verdict"
                );
            }
        }
    }
}

/// Every secret the login used (client secret, codes, tokens, the ID token's signature, the
/// PKCE verifier, session cookies, the password typed into authentik's flow) is absent from
/// every byte written by default, and present with --no-redact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaves_by_default_and_all_do_with_no_redact() {
    let mut sc = Scenario::clean();
    sc.provider.faults.executor = true;
    sc.provider.faults.flow_stages = true;
    sc.rp.pkce = true;
    for redact in [true, false] {
        let l = live(sc.clone(), redact).await;
        // The client secret travels inside `Basic base64(id:secret)`: search both forms.
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", sc.provider.client_id, sc.provider.client_secret));
        let mut secrets: BTreeSet<String> =
            [sc.provider.client_secret.clone(), basic.clone(), PASSWORD.to_owned()].into();
        for e in &l.events {
            let Event::Exchange(x) = e else { continue };
            let d = &x.decoded;
            if let Some(c) = d.authorization_response.as_ref().and_then(|r| r.code.clone()) {
                secrets.insert(c);
            }
            if let Some(t) = &d.token_response {
                secrets.extend(t.access_token.clone());
                if let Some(sig) = t.id_token.as_deref().and_then(|t| t.rsplit('.').next()) {
                    secrets.insert(sig.to_owned());
                }
            }
            if let Some(v) = d.token_request.as_ref().and_then(|t| t.code_verifier.clone()) {
                secrets.insert(v);
            }
            for h in x
                .exchange
                .response
                .iter()
                .flat_map(|r| &r.headers)
                .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
            {
                if let Some((_, v)) = h.value.split(';').next().and_then(|p| p.split_once('=')) {
                    secrets.insert(v.to_owned());
                }
            }
        }
        assert!(secrets.len() >= 8, "{secrets:?}");
        let mut report = Report::default();
        l.events.iter().for_each(|e| report.event(e));
        let outputs = [
            ("console", l.console.clone()),
            ("journal", l.journal.clone()),
            ("har", l.har.clone()),
            ("report", report.markdown()),
            ("report json", report.json().to_string()),
        ];
        for (what, text) in &outputs {
            // The console never shows secrets, --no-redact or not.
            let must_hide = redact || *what == "console" || what.starts_with("report");
            for s in &secrets {
                if must_hide {
                    assert!(!text.contains(s.as_str()), "redact={redact}: a secret in the {what}: {s}");
                }
            }
        }
        if !redact {
            for s in secrets.iter().filter(|s| **s != sc.provider.client_secret) {
                assert!(l.journal.contains(s.as_str()), "--no-redact journal lacks {s}");
                assert!(l.har.contains(s.as_str()), "--no-redact HAR lacks {s}");
            }
            assert!(l.har.contains("NOT REDACTED"));
        }
    }
}

/// The HAR passes an independent HAR 1.2 parser (the `har` crate), and its timings add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_har_is_valid_har_1_2_with_one_page_per_login() {
    let mut sc = Scenario::clean();
    sc.provider.faults.signing = Signing::Es256;
    sc.provider.faults.state_tamper = Some(StateTamper::Suffix);
    let l = live(sc, true).await;
    let parsed = har::from_str(&l.har).expect("an independent HAR parser accepts it");
    let har::Spec::V1_2(log) = parsed.log else { panic!("not HAR 1.2") };
    assert_eq!(log.creator.name, "oidc-tap");
    assert_eq!(log.pages.as_ref().map(Vec::len), Some(1));
    assert!(!log.entries.is_empty());
    for e in &log.entries {
        let d = e.started_date_time.as_bytes();
        assert!(
            d.len() == 24 && d[4] == b'-' && d[10] == b'T' && d[19] == b'.' && d[23] == b'Z',
            "ISO 8601: {}",
            e.started_date_time
        );
        let t = &e.timings;
        let sum: f64 =
            [t.blocked, t.dns, t.connect, t.ssl].iter().flatten().filter(|v| **v >= 0.0).sum::<f64>()
                + t.send
                + t.wait
                + t.receive;
        assert_eq!(sum, e.time, "time is the sum of the phases");
        assert!(e.comment.as_deref().is_some_and(|c| c.starts_with("flow 1 · ") || !c.is_empty()));
    }
    let doc: Value = serde_json::from_str(&l.har).unwrap();
    let flagged: Vec<&Value> = doc["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["comment"].as_str().is_some_and(|c| c.contains("AUTHZ-STATE-MISMATCH")))
        .collect();
    assert_eq!(flagged.len(), 1, "the finding is in the standard comment too");
    assert_eq!(flagged[0]["_oidc"]["findings"][0]["rule"], "AUTHZ-STATE-MISMATCH");
    assert!(doc["log"]["comment"].as_str().unwrap().contains("flow 1: failed (AUTHZ-STATE-MISMATCH)"));
}

/// Writes an unredacted HAR of one login through authentik's flow (the raw material of the
/// browser-shaped fixtures): `FIXTURE_OUT=/tmp/raw.har cargo test --test traces -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn record_a_raw_har_for_fixtures() {
    let Some(out) = std::env::var_os("FIXTURE_OUT") else { return };
    let mut sc = Scenario::clean();
    sc.provider.faults.executor = true;
    sc.provider.faults.flow_stages = true;
    if std::env::var_os("FIXTURE_TAMPER").is_some() {
        sc.provider.faults.state_tamper = Some(StateTamper::Suffix);
    }
    let l = live(sc, false).await;
    std::fs::write(out, l.har).unwrap();
}

fn fixture(name: &str) -> Vec<Event> {
    let path =
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/har")).join(name);
    offline(&path, &Scenario::clean())
}

/// HARs in the shapes Chrome and Firefox export (sanitised: no cookies, no Authorization; the
/// front channel only) are understood: authentik's executor delivery joins the login, a clean
/// login completes at Mastodon's callback, an altered state is found.
#[test]
fn browser_exported_hars_are_analysed() {
    for name in ["chrome-sanitized-clean.har", "firefox-clean.har"] {
        let ev = fixture(name);
        let bad: Vec<_> = ev
            .iter()
            .filter_map(|e| if let Event::Finding(f) = e { Some(f) } else { None })
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| f.rule)
            .collect();
        assert!(bad.is_empty(), "{name}: {bad:?}");
        let closed: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Event::Flow(f) if f.event == oidc_tap::analysis::FlowEventKind::Closed => {
                    f.outcome.map(|o| o.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(closed, vec!["complete"], "{name}");
        let code = ev
            .iter()
            .find_map(|e| match e {
                Event::Exchange(x) if x.kind.as_str() == "authorize_response" => Some(x),
                _ => None,
            })
            .expect("the executor's redirect carries the code");
        assert!(code.exchange.request.path.starts_with("/api/v3/flows/executor/"));
        assert_eq!(code.joined_by.map(|j| j.as_str()), Some("state"));
        assert_eq!(
            code.provider_leg.as_ref().unwrap().stages,
            vec!["identification", "password", "consent", "flow-redirect"]
        );
    }
    let ev = fixture("chrome-sanitized-state-altered.har");
    let f = ev
        .iter()
        .find_map(|e| match e {
            Event::Finding(f) if f.rule == "AUTHZ-STATE-MISMATCH" => Some(f),
            _ => None,
        })
        .expect("the altered state is found");
    assert_eq!((f.severity, f.hint.as_deref()), (Severity::Error, Some("\"-waf\" was appended")));
}

/// A HAR mitmproxy wrote (after reading oidc-tap's own): both logins come back.
#[test]
fn a_har_written_by_mitmproxy_is_analysed() {
    let ev = fixture("mitmproxy-export.har");
    let mut closed: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Flow(f) if f.event == oidc_tap::analysis::FlowEventKind::Closed => {
                f.outcome.map(|o| o.as_str())
            }
            _ => None,
        })
        .collect();
    closed.sort();
    assert_eq!(closed, vec!["complete", "failed"]);
    let errors: Vec<_> = ev
        .iter()
        .filter_map(|e| if let Event::Finding(f) = e { Some(f) } else { None })
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.rule.to_string())
        .collect();
    assert_eq!(errors, vec!["AUTHZ-STATE-MISMATCH"]);
}
