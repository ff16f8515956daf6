//! One login stays one flow when its correlation values are tampered with, and the browser's
//! whole path through authentik joins it. End to end through the gateway: the authentik
//! stand-in (with its flow executor walking identification → password → consent), the
//! scripted Mastodon and browser, and the exact flows, rule ids, severities and `joined_by`.

use oidc_tap::analysis::{Analyzer, AnalyzerConfig, Event, ExchangeEvent, FlowEventKind};
use oidc_tap::demo::mastodon::Verdict;
use oidc_tap::demo::provider::StateTamper;
use oidc_tap::demo::rig::{PASSWORD, Rig, Scenario};
use oidc_tap::output::journal::Journal;
use oidc_tap::rules::{Finding, Severity};
use oidc_tap::session::Session;

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

struct Run {
    events: Vec<Event>,
    verdicts: Vec<Option<Verdict>>,
    journal: String,
}

impl Run {
    fn flows_opened(&self) -> usize {
        self.events.iter().filter(|e| matches!(e, Event::Flow(f) if f.event == FlowEventKind::Opened)).count()
    }

    fn outcomes(&self) -> Vec<(u64, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Flow(f) if f.event == FlowEventKind::Closed => {
                    Some((f.flow, f.outcome.map(|o| o.as_str()).unwrap_or("").to_owned()))
                }
                _ => None,
            })
            .collect()
    }

    fn findings(&self) -> Vec<&Finding> {
        self.events
            .iter()
            .filter_map(|e| if let Event::Finding(f) = e { Some(f.as_ref()) } else { None })
            .collect()
    }

    /// (rule, severity, flow) of every warning and error.
    fn bad(&self) -> Vec<(String, Severity, Option<u64>)> {
        self.findings()
            .into_iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| (f.rule.to_string(), f.severity, f.flow))
            .collect()
    }

    fn get(&self, rule: &str) -> &Finding {
        self.findings()
            .into_iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no {rule}: {:?}", self.bad()))
    }

    fn exchanges(&self) -> Vec<&ExchangeEvent> {
        self.events
            .iter()
            .filter_map(|e| if let Event::Exchange(x) = e { Some(x.as_ref()) } else { None })
            .collect()
    }

    /// `joined_by` of the exchanges of one kind, in order.
    fn joined(&self, kind: &str) -> Vec<&'static str> {
        self.exchanges()
            .into_iter()
            .filter(|x| x.kind.as_str() == kind)
            .map(|x| x.joined_by.map(|j| j.as_str()).unwrap_or("none"))
            .collect()
    }
}

/// Runs `logins` through the rig (each entry: abandon in authentik's flow?) with one browser
/// per entry, or the same browser for all when `same_browser`.
async fn run(sc: Scenario, logins: &[bool], same_browser: bool) -> Run {
    oidc_tap::tls::install_crypto_provider();
    let journal = Buf::default();
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        None,
        Some(Journal::from_writer(Box::new(journal.clone()), true)),
        1 << 20,
    )
    .keep_events();
    let rig = Rig::start(sc, session).await.unwrap();
    let mut verdicts = vec![];
    let mut shared = rig.browser().unwrap();
    for abandon in logins {
        let mut own = rig.browser().unwrap();
        let b = if same_browser { &mut shared } else { &mut own };
        b.abandon_in_flow = *abandon;
        verdicts.push(rig.login_as(b).await.unwrap().verdict);
    }
    let events = rig.finish().await.unwrap().keep.unwrap();
    let journal = String::from_utf8(journal.0.lock().unwrap().clone()).unwrap();
    Run { events, verdicts, journal }
}

fn staged() -> Scenario {
    let mut sc = Scenario::clean();
    sc.provider.faults.executor = true;
    sc.provider.faults.flow_stages = true;
    sc
}

#[tokio::test]
async fn a_clean_login_through_authentiks_flow_is_one_flow_with_no_warning() {
    let r = run(staged(), &[false], false).await;
    assert_eq!(r.verdicts, vec![Some(Verdict::Success { uid: "alice".into() })]);
    assert_eq!(r.flows_opened(), 1);
    assert!(r.bad().is_empty(), "{:?}", r.bad());
    // The browser's path through authentik joined by the authorize query it resumes.
    assert_eq!(r.joined("provider_flow"), vec!["provider_interaction"; 4], "page, GET, 2 POSTs");
    assert_eq!(r.joined("authorize_response"), vec!["state"]);
    assert_eq!(r.joined("rp_callback"), vec!["state"]);
    assert_eq!(r.joined("token"), vec!["code"]);
    assert_eq!(r.joined("userinfo"), vec!["access_token"]);
    let code = r.exchanges().into_iter().find(|x| x.kind.as_str() == "authorize_response").unwrap();
    let leg = code.provider_leg.as_ref().expect("the flow's summary under the code");
    assert_eq!(leg.stages, vec!["identification", "password", "consent", "flow-redirect"]);
    assert_eq!(leg.calls, 5, "and the POST answered with the redirect");
    // What the user typed never reaches the trace.
    assert!(!r.journal.contains(PASSWORD), "the password is in the journal");
    assert!(r.journal.contains(r#""joined_by":"provider_interaction""#));
}

#[tokio::test]
async fn state_altered_in_the_location_redirect_is_one_flow_and_a_state_mismatch() {
    let mut sc = Scenario::clean();
    sc.provider.faults.state_tamper = Some(StateTamper::Suffix);
    let r = run(sc, &[false], false).await;
    assert_eq!(r.verdicts, vec![Some(Verdict::Failure { reason: "Invalid 'state' parameter".into() })]);
    assert_eq!(r.flows_opened(), 1);
    assert_eq!(r.bad(), vec![("AUTHZ-STATE-MISMATCH".into(), Severity::Error, Some(1))]);
    let f = r.get("AUTHZ-STATE-MISMATCH");
    assert_eq!(f.field.as_deref(), Some("authorization_response.state"));
    assert_eq!(f.hint.as_deref(), Some("\"-waf\" was appended"));
    let (sent, seen) = (f.expected.as_deref().unwrap(), f.seen.as_deref().unwrap());
    assert_eq!(format!("{sent}-waf"), seen, "both states in clear, the change visible");
    assert_eq!(f.diff_at, Some(sent.chars().count()), "the caret under the first added character");
    assert!(f.fix.contains("rewriting the Location header"), "{}", f.fix);
    assert_eq!(r.joined("authorize_response"), vec!["state"]);
    assert_eq!(r.joined("rp_callback"), vec!["code"], "the altered state joins by the code");
}

#[tokio::test]
async fn state_altered_inside_the_executors_redirect_joins_by_the_provider_interaction() {
    let mut sc = staged();
    sc.provider.faults.state_tamper = Some(StateTamper::Truncate);
    let r = run(sc, &[false], false).await;
    assert_eq!(r.flows_opened(), 1, "one login, not split in two");
    assert_eq!(r.bad(), vec![("AUTHZ-STATE-MISMATCH".into(), Severity::Error, Some(1))]);
    let f = r.get("AUTHZ-STATE-MISMATCH");
    assert_eq!(f.hint.as_deref(), Some("truncated after 16 of 32 characters"));
    assert!(f.why.contains("joined to its login by provider interaction"), "{}", f.why);
    assert_eq!(r.joined("authorize_response"), vec!["provider_interaction"]);
    assert_eq!(r.outcomes(), vec![(1, "failed".to_owned())]);
}

#[tokio::test]
async fn state_whose_percent_encoding_changed_is_named_as_such() {
    let mut sc = Scenario::clean();
    sc.rp.quirks.base64_state = true;
    sc.provider.faults.state_tamper = Some(StateTamper::PercentDecoded);
    let r = run(sc, &[false], false).await;
    assert_eq!(r.flows_opened(), 1);
    assert_eq!(r.bad(), vec![("AUTHZ-STATE-MISMATCH".into(), Severity::Error, Some(1))]);
    let hint = r.get("AUTHZ-STATE-MISMATCH").hint.clone().unwrap();
    assert!(hint.starts_with("the percent-encoding changed"), "{hint}");
}

#[tokio::test]
async fn a_token_request_with_another_logins_code_joins_that_login_by_its_code() {
    let mut sc = Scenario::clean();
    sc.rp.quirks.redeem_previous_code = true;
    let r = run(sc, &[false, false], false).await;
    assert_eq!(r.flows_opened(), 2);
    assert_eq!(r.verdicts[1], Some(Verdict::Failure { reason: "invalid_grant".into() }));
    // The code is the strong key: the second token call belongs to the first login.
    assert_eq!(r.joined("token"), vec!["code", "code"]);
    let tokens: Vec<Option<u64>> =
        r.exchanges().into_iter().filter(|x| x.kind.as_str() == "token").map(|x| x.flow).collect();
    assert_eq!(tokens, vec![Some(1), Some(1)]);
    let reused = r.get("TOKEN-CODE-REUSED");
    assert_eq!((reused.severity, reused.flow), (Severity::Error, Some(1)));
    assert!(r.bad().contains(&("TOKEN-ERROR".into(), Severity::Error, Some(1))), "{:?}", r.bad());
    assert_eq!(r.outcomes().into_iter().find(|(f, _)| *f == 2).map(|(_, o)| o).as_deref(), Some("failed"));
}

#[tokio::test]
async fn a_redirect_uri_changed_at_the_token_call_is_found_when_the_login_joined_by_fallback() {
    let mut sc = Scenario::clean();
    sc.rp.quirks.code_tamper = true;
    sc.rp.quirks.token_redirect_uri = Some("https://mastodon.test/other/callback".into());
    let r = run(sc, &[false], false).await;
    assert_eq!(r.flows_opened(), 1);
    assert_eq!(r.joined("token"), vec!["client_redirect"]);
    let mut bad = r.bad();
    bad.sort();
    assert_eq!(
        bad,
        vec![
            ("TOKEN-CODE-UNKNOWN".into(), Severity::Error, Some(1)),
            ("TOKEN-ERROR".into(), Severity::Error, Some(1)),
            ("TOKEN-REDIRECT-URI-CHANGED".into(), Severity::Error, Some(1)),
        ]
    );
}

#[tokio::test]
async fn two_users_logging_in_at_once_are_two_complete_flows() {
    oidc_tap::tls::install_crypto_provider();
    let sc = staged();
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        None,
        None,
        1 << 20,
    )
    .keep_events();
    let rig = Rig::start(sc, session).await.unwrap();
    let (a, b) = tokio::join!(rig.login(), rig.login());
    assert!(matches!(a.unwrap().verdict, Some(Verdict::Success { .. })));
    assert!(matches!(b.unwrap().verdict, Some(Verdict::Success { .. })));
    let r =
        Run { events: rig.finish().await.unwrap().keep.unwrap(), verdicts: vec![], journal: String::new() };
    assert_eq!(r.flows_opened(), 2);
    assert_eq!(r.outcomes().into_iter().map(|(_, o)| o).collect::<Vec<_>>(), vec!["complete", "complete"]);
    assert!(r.bad().is_empty(), "{:?}", r.bad());
    for flow in [1, 2] {
        let kinds: Vec<&str> = r
            .exchanges()
            .into_iter()
            .filter(|x| x.flow == Some(flow))
            .map(|x| x.kind.as_str())
            .filter(|k| {
                ["rp_login", "authorize", "authorize_response", "token", "userinfo", "rp_callback"]
                    .contains(k)
            })
            .collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec!["authorize", "authorize_response", "rp_callback", "rp_login", "token", "userinfo"],
            "flow {flow}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn a_user_who_starts_over_leaves_the_first_login_abandoned_not_joined() {
    let r = run(staged(), &[true, false], true).await;
    assert_eq!(r.verdicts[1], Some(Verdict::Success { uid: "alice".into() }));
    assert_eq!(r.flows_opened(), 2);
    let mut outcomes = r.outcomes();
    outcomes.sort();
    assert_eq!(outcomes, vec![(1, "abandoned".to_owned()), (2, "complete".to_owned())]);
    assert_eq!(r.bad(), vec![("FLOW-ABANDONED".into(), Severity::Warning, Some(1))]);
    let f = r.get("FLOW-ABANDONED");
    assert_eq!(f.message, "the same browser started a new login (flow 2) before this one got its code");
    assert_eq!(f.seen.as_deref(), Some("authorizing"));
}
