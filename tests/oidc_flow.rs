//! A complete code flow through the gateway: authentik stand-in, scripted Mastodon and browser
//! on loopback. Asserts the exact flow, its correlation keys and the JSONL journal.

use std::sync::{Arc, Mutex};

use oidc_tap::analysis::{Analyzer, AnalyzerConfig, Event, FlowEventKind};
use oidc_tap::demo::mastodon::Verdict;
use oidc_tap::demo::rig::{Rig, Scenario};
use oidc_tap::output::console::{Console, Style};
use oidc_tap::output::journal::Journal;
use oidc_tap::session::Session;
use serde_json::Value;

/// A writer tests can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn session(console: &Shared, journal: &Shared, redact: bool) -> Session {
    Session::new(
        Analyzer::new(AnalyzerConfig::default()),
        Some(Console::new(Box::new(console.clone()), Style { color: false }, false)),
        Some(Journal::from_writer(Box::new(journal.clone()), redact)),
        1024 * 1024,
    )
    .keep_events()
}

fn exchanges(events: &[Event]) -> Vec<&oidc_tap::analysis::ExchangeEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) => Some(x.as_ref()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_login_is_one_flow_with_every_key_joined() {
    oidc_tap::tls::install_crypto_provider();
    let (console, journal) = (Shared::default(), Shared::default());
    let rig = Rig::start(Scenario::clean(), session(&console, &journal, true)).await.unwrap();
    let out = rig.login().await.unwrap();
    assert_eq!(out.verdict, Some(Verdict::Success { uid: "alice".into() }), "{out:?}");
    let s = rig.finish().await.unwrap();
    let events = s.keep.unwrap();

    let xs = exchanges(&events);
    let kinds: Vec<&str> = xs.iter().map(|x| x.kind.as_str()).collect();
    // The exchange records arrive in completion order: Mastodon's request phase ends after
    // its discovery, the callback after the whole back channel; Mastodon's JWKS fetch is
    // analysed before the token call whose ID token it verifies.
    assert_eq!(
        kinds,
        [
            "discovery",
            "rp_login",
            "authorize_response",
            "discovery",
            "jwks",
            "token",
            "userinfo",
            "rp_callback"
        ],
        "{kinds:?}"
    );
    let flows: Vec<Option<u64>> = xs.iter().map(|x| x.flow).collect();
    assert!(flows.iter().all(|f| *f == Some(1)), "every exchange in flow 1: {flows:?}");

    let flow_events: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Flow(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(flow_events.len(), 2, "{flow_events:?}");
    assert_eq!((flow_events[0].event, flow_events[0].flow), (FlowEventKind::Opened, 1));
    assert_eq!(flow_events[1].event, FlowEventKind::Closed);
    assert_eq!(flow_events[1].outcome.map(|o| o.as_str()), Some("complete"));
    assert_eq!(flow_events[1].issuer.as_deref(), Some("https://authentik.test/application/o/mastodon/"));
    assert_eq!(flow_events[1].client_id.as_deref(), Some("demoMastodonClientID0123456789abcdefghijk"));

    // The ID token's key was not seen yet: analysis reads Mastodon's own JWKS fetch, which
    // follows the token call, before the token (the keys of that moment); no fetch of its own.
    assert_eq!(xs[4].decoded.caller.map(|c| c.as_str()), Some("Mastodon, openid_connect"));
    assert!(xs.iter().all(|x| x.decoded.caller.map(|c| c.as_str()) != Some("oidc-tap")));
    // A correct login: no error, no warning.
    let bad: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finding(f) if f.severity >= oidc_tap::rules::Severity::Warning => {
                Some((f.rule, f.message.clone()))
            }
            _ => None,
        })
        .collect();
    assert!(bad.is_empty(), "false alarms: {bad:?}");

    // Correlation keys: state (authorize ↔ response), code (response ↔ token), nonce
    // (authorize ↔ ID token), access token (token ↔ userinfo).
    let authz = xs[2].decoded.authorize.as_ref().unwrap();
    let resp = xs[2].decoded.authorization_response.as_ref().unwrap();
    assert_eq!(authz.state, resp.state);
    let token_req = xs[5].decoded.token_request.as_ref().unwrap();
    assert_eq!(token_req.code, resp.code);
    assert_eq!(token_req.client_auth.method.as_str(), "client_secret_basic");
    let token_resp = xs[5].decoded.token_response.as_ref().unwrap();
    assert!(
        xs[5].passed.iter().any(|p| p.to_string().starts_with("signature ✓ RS256 kid demo-rsa-a")),
        "{:?}",
        xs[5].passed
    );
    for check in ["nonce ✓", "iss ✓", "aud ✓", "exp ✓"] {
        assert!(xs[5].passed.iter().any(|p| p.to_string() == *check), "{check} missing: {:?}", xs[5].passed);
    }
    assert!(xs[2].passed.iter().any(|p| p.to_string() == "state ✓"));
    assert!(xs[6].passed.iter().any(|p| p.to_string() == "sub ✓ = ID token"));
    let idt = token_resp.id_token_decoded.as_ref().unwrap();
    assert_eq!(idt.claim_str("nonce"), authz.nonce.as_deref());
    let ui = xs[6].decoded.userinfo_request.as_ref().unwrap();
    assert_eq!(ui.access_token, token_resp.access_token);
    assert_eq!(xs[0].decoded.caller.map(|c| c.as_str()), Some("Mastodon, SWD"));

    // Console: one line per exchange tagged with the flow; no secret in clear.
    let text = console.text();
    assert!(text.contains("flow 1 · DISCOVERY"), "{text}");
    assert!(text.contains("flow 1 · TOKEN"), "{text}");
    assert!(text.contains("flow 1 · complete · 8 exchanges"), "{text}");
    let code = resp.code.as_deref().unwrap();
    let access = token_resp.access_token.as_deref().unwrap();
    assert!(!text.contains(code) && !text.contains(access), "secrets leaked to the console");
    assert!(text.contains(&format!("code {}", oidc_tap::redact::short(code))));

    // Journal: versioned lines, exchanges with kind and flow, redacted.
    let jtext = journal.text();
    assert!(!jtext.contains(code) && !jtext.contains(access), "secrets leaked to the journal");
    let lines: Vec<Value> = jtext.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().all(|l| l["v"] == 1));
    let jkinds: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "exchange").map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(jkinds, kinds);
    assert!(lines.iter().filter(|l| l["type"] == "exchange").all(|l| l["flow"] == 1));
    let token_line = lines.iter().find(|l| l["kind"] == "token").unwrap();
    assert_eq!(token_line["status"], 200);
    assert_eq!(token_line["method"], "POST");
    assert!(token_line["decoded"]["token_request"]["code"].as_str().unwrap().starts_with("~redacted~"));
    assert_eq!(
        token_line["decoded"]["token_response"]["id_token_decoded"]["claims"]["nonce"],
        authz.nonce.as_deref().unwrap()
    );
    let flow_lines: Vec<&Value> = lines.iter().filter(|l| l["type"] == "flow").collect();
    assert_eq!(flow_lines.len(), 2);
    assert_eq!(flow_lines[1]["outcome"], "complete");
    assert_eq!(flow_lines[1]["exchanges"].as_array().unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_delivered_codes_join_the_flow_and_no_redact_keeps_secrets() {
    oidc_tap::tls::install_crypto_provider();
    let (console, journal) = (Shared::default(), Shared::default());
    let mut sc = Scenario::clean();
    sc.provider.faults.executor = true;
    sc.rp.pkce = true;
    sc.rp.client_secret_post = true;
    let rig = Rig::start(sc, session(&console, &journal, false)).await.unwrap();
    let out = rig.login().await.unwrap();
    assert_eq!(out.verdict, Some(Verdict::Success { uid: "alice".into() }));
    let s = rig.finish().await.unwrap();
    let events = s.keep.unwrap();
    let xs = exchanges(&events);
    let resp = xs.iter().find(|x| x.kind.as_str() == "authorize_response").unwrap();
    let ar = resp.decoded.authorization_response.as_ref().unwrap();
    assert_eq!(format!("{:?}", ar.via), "Executor");
    assert!(resp.exchange.request.path.starts_with("/api/v3/flows/executor/"));
    // The authorize request itself (302 to the flow UI) is its own exchange in the same flow.
    let authz = xs.iter().find(|x| x.kind.as_str() == "authorize").unwrap();
    assert_eq!(authz.flow, resp.flow);
    let token = xs.iter().find(|x| x.kind.as_str() == "token").unwrap();
    assert_eq!(token.flow, resp.flow);
    assert_eq!(
        token.decoded.token_request.as_ref().unwrap().client_auth.method.as_str(),
        "client_secret_post"
    );
    assert!(token.decoded.token_request.as_ref().unwrap().code_verifier.is_some());
    // --no-redact: the journal keeps the code in clear.
    assert!(journal.text().contains(ar.code.as_deref().unwrap()));
}

/// The journal carries every exchange record: replaying it through a fresh core gives the
/// findings seen live — exactly, when recorded with --no-redact; with redaction, everything
/// but the signature checks (whose input was masked), which then say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_journal_gives_the_live_findings() {
    oidc_tap::tls::install_crypto_provider();
    for redact in [false, true] {
        let (console, journal) = (Shared::default(), Shared::default());
        let mut sc = Scenario::clean();
        sc.provider.faults.http_urls = true;
        sc.provider.faults.claims.insert("email_verified".into(), serde_json::json!(false));
        sc.rp.issuer = "http://authentik.test/application/o/mastodon/".into();
        let exp = sc.expectations();
        let live_session = Session::new(
            Analyzer::new(AnalyzerConfig { expectations: exp.clone(), ..Default::default() }),
            Some(Console::new(Box::new(console.clone()), Style { color: false }, false)),
            Some(Journal::from_writer(Box::new(journal.clone()), redact)),
            1 << 20,
        )
        .keep_events();
        let rig = Rig::start(sc, live_session).await.unwrap();
        rig.login().await.unwrap();
        let live = rig.finish().await.unwrap().keep.unwrap();

        let key = |e: &Event| match e {
            Event::Finding(f) => {
                Some((f.rule, f.severity, f.flow, f.exchange, f.expected.clone(), f.seen.clone()))
            }
            _ => None,
        };
        let live_findings: Vec<_> = live.iter().filter_map(key).collect();
        assert!(live_findings.iter().any(|f| f.0 == "DISC-INSECURE-ENDPOINT"));

        let mut replay = Analyzer::new(AnalyzerConfig { expectations: exp, ..Default::default() });
        let mut replayed = vec![];
        let mut last_ts = 0;
        for line in journal.text().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["type"] == "exchange" {
                let ex: oidc_tap::capture::Exchange = serde_json::from_value(v["exchange"].clone()).unwrap();
                last_ts = last_ts.max(ex.started_ms + ex.total_ms);
                replayed.extend(replay.ingest(&ex));
            }
        }
        replayed.extend(replay.finish(last_ts + 1));
        let replay_findings: Vec<_> = replayed.iter().filter_map(key).collect();
        if redact {
            let masked: Vec<_> = replayed
                .iter()
                .filter_map(|e| match e {
                    Event::Finding(f) if f.rule == "IDT-UNVERIFIABLE" => Some(f.message.clone()),
                    _ => None,
                })
                .collect();
            assert!(masked.iter().all(|m| m.contains("redacted")), "{masked:?}");
            let without: Vec<_> = replay_findings.into_iter().filter(|f| f.0 != "IDT-UNVERIFIABLE").collect();
            assert_eq!(without, live_findings);
        } else {
            assert_eq!(replay_findings, live_findings);
        }
    }
}

/// A hostile provider's values cannot drive the terminal: control characters in an error
/// text are shown escaped, and a newline in it cannot start a fake console line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_values_cannot_inject_into_the_console() {
    oidc_tap::tls::install_crypto_provider();
    let (console, journal) = (Shared::default(), Shared::default());
    let mut sc = Scenario::clean();
    sc.provider.faults.token_error = Some("invalid_grant\u{1b}[2J".into());
    sc.provider.faults.token_error_description = Some("x\n16:00:00.000 flow 9 · complete\u{7}".into());
    let rig = Rig::start(sc, session(&console, &journal, true)).await.unwrap();
    rig.login().await.unwrap();
    rig.finish().await.unwrap();
    let text = console.text();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "raw control characters: {text:?}");
    assert!(!text.lines().any(|l| l.starts_with("16:00:00.000 flow 9")), "a fake line: {text}");
    assert!(
        text.contains("   ✗ TOKEN-ERROR  token endpoint answered invalid_grant\\e[2J: x\\n16:00:00.000 flow 9 · complete\\x07\n"),
        "{text}"
    );
    // The journal keeps the values as they came (JSON escapes them).
    assert!(journal.text().contains(r#""error":"invalid_grant\u001b[2J""#), "{}", journal.text());
}
