//! Unit tests of the core (and the minimal exchanges other core tests build on).

use super::*;
use crate::capture::{CapturedBody, Header, RequestRecord, ResponseRecord};
use crate::oidc::flow::JoinedBy;
use crate::rules::RuleId;

/// A minimal exchange for core tests.
pub(crate) fn exchange(method: &str, path: &str, status: u16, body: &str) -> Exchange {
    Exchange {
        conn: 1,
        client_addr: "127.0.0.1:1".into(),
        upstream: "https://a".into(),
        response_ms: Some(1),
        total_ms: 1,
        response: Some(ResponseRecord {
            status,
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("content-type", "application/json")],
            body: CapturedBody {
                bytes: body.to_owned().into(),
                wire_len: body.len() as u64,
                ..Default::default()
            },
        }),
        ..Exchange::begin(1, RequestRecord::new(method, "https", "a", path, "HTTP/1.1", vec![]), 1000)
    }
}

#[test]
fn malformed_bodies_become_problems_not_panics() {
    let mut a = Analyzer::new(AnalyzerConfig::default());
    for (path, body) in [
        ("/application/o/x/.well-known/openid-configuration", "{not json"),
        ("/application/o/x/jwks/", "[1,2]"),
        ("/application/o/token/", "<html>"),
        ("/application/o/userinfo/", "\u{0}"),
    ] {
        let ev = a.ingest(&exchange("GET", path, 200, body));
        let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
        assert!(!x.decoded.problems.is_empty(), "{path}: {:?}", x.decoded);
    }
    // A token response whose id_token is garbage.
    let ev = a.ingest(&exchange(
        "POST",
        "/application/o/token/",
        200,
        r#"{"access_token":"a","token_type":"Bearer","id_token":"x.y"}"#,
    ));
    let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
    assert_eq!(x.decoded.problems[0].at, crate::oidc::messages::ProblemAt::IdToken);
}

fn findings(events: &[Event]) -> Vec<&Finding> {
    events.iter().filter_map(|e| if let Event::Finding(f) = e { Some(f.as_ref()) } else { None }).collect()
}

/// oidc-provider style: a root issuer without trailing slash is a valid discovery URL
/// (Discovery §4.1 strips the terminating '/'), not an issuer mismatch.
#[test]
fn a_root_issuer_without_slash_is_no_mismatch() {
    let mut a = Analyzer::new(AnalyzerConfig::default());
    let doc = r#"{"issuer":"https://a","authorization_endpoint":"https://a/auth","token_endpoint":"https://a/token","userinfo_endpoint":"https://a/me","jwks_uri":"https://a/jwks","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#;
    let ev = a.ingest(&exchange("GET", "/.well-known/openid-configuration", 200, doc));
    let f = findings(&ev);
    assert!(f.iter().all(|f| f.severity == crate::rules::Severity::Info), "{f:?}");
    // ...and discovery taught the core that /me is this provider's userinfo endpoint.
    let ev = a.ingest(&exchange(
        "GET",
        "/me",
        400,
        r#"{"error":"invalid_request","error_description":"no access token provided"}"#,
    ));
    let f = findings(&ev);
    let u = f.iter().find(|f| f.rule == "USERINFO-ERROR").expect("USERINFO-ERROR");
    assert_eq!(u.seen.as_deref(), Some("400 invalid_request"));
    assert!(u.message.ends_with(": no access token provided"), "{}", u.message);
    assert!(u.why.contains("no access token"), "{}", u.why);
}

#[test]
fn flow_events_say_how_many_exchanges_were_not_listed() {
    let limits = FlowLimits { max_steps: 2, ..Default::default() };
    let mut a = Analyzer::new(AnalyzerConfig { limits, ..Default::default() });
    let mut events = vec![];
    for _ in 0..3 {
        let mut ex = exchange("POST", "/application/o/token/", 400, r#"{"error":"invalid_grant"}"#);
        ex.request.body.bytes = "grant_type=authorization_code&code=same".into();
        events.extend(a.ingest(&ex));
    }
    let flows: Vec<_> =
        events.iter().filter_map(|e| if let Event::Exchange(x) = e { Some(x.flow) } else { None }).collect();
    assert_eq!(flows, vec![Some(1); 3], "joined by code");
    let json =
        serde_json::to_value(FlowEvent::of(a.flows.get(1).unwrap(), FlowEventKind::Closed, 0)).unwrap();
    assert_eq!(json["exchanges"].as_array().unwrap().len(), 2);
    assert_eq!(json["exchanges_not_listed"], 1);
}

/// Mastodon fetches the JWKS after the token call; a gateway that never saw discovery
/// cannot fetch it first. The token is then "not checked yet" — never "no JWKS seen" next
/// to a JWKS with keys — and is checked when the JWKS passes.
#[test]
fn a_token_before_any_jwks_is_checked_when_the_jwks_passes() {
    use crate::demo::provider::Signing;
    let mut a = Analyzer::new(AnalyzerConfig::default());
    let claims = serde_json::json!({"iss": "https://a/application/o/mastodon/", "sub": "1", "aud": "c", "exp": 4_000_000_000u64, "iat": 1});
    let idt = Signing::Rs256.sign(&claims, Signing::Rs256.kid(), "");
    let body = format!(r#"{{"access_token":"at","token_type":"Bearer","id_token":"{idt}"}}"#);
    let mut tok = exchange("POST", "/application/o/token/", 200, &body);
    tok.id = 5;
    tok.request.body.bytes = "grant_type=authorization_code&code=c1".into();
    let ev = a.ingest(&tok);
    let f = findings(&ev);
    let u = f.iter().find(|f| f.rule == RuleId::IdtUnverifiable).expect("a note");
    assert_eq!(u.severity, crate::rules::Severity::Info);
    assert!(u.not_checked && u.message.contains("not checked yet"), "{}", u.message);
    let jwks = format!(r#"{{"keys":[{}]}}"#, Signing::Rs256.jwk().unwrap());
    let mut j = exchange("GET", "/application/o/mastodon/jwks/", 200, &jwks);
    j.id = 6;
    let ev = a.ingest(&j);
    let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
    assert_eq!(
        x.passed.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        vec![
            "signature ✓ RS256 kid demo-rsa-a of the ID token in exchange 5 (keys from https://a/application/o/mastodon/jwks/)"
        ]
    );
    assert!(
        findings(&ev).iter().all(|f| f.severity < crate::rules::Severity::Warning),
        "{:?}",
        findings(&ev)
    );
}

/// A trace recorded before the answer-time decision (or with the summary queue's record only):
/// a summary whose Location carries the code is still read from its head and joins its login
/// by state; a summary without one stays plain other traffic.
#[test]
fn a_summary_redirecting_with_the_code_is_read_from_its_head() {
    let mut a = Analyzer::new(AnalyzerConfig::default());
    let authorize = exchange(
        "GET",
        "/application/o/authorize/?client_id=c&state=s1&nonce=n&redirect_uri=https%3A%2F%2Frp%2Fcb&response_type=code&scope=openid",
        302,
        "",
    );
    let opened = a.ingest(&authorize);
    let flow = opened.iter().find_map(|e| if let Event::Exchange(x) = e { x.flow } else { None });
    let mut resume = exchange("GET", "/application/o/authorize/Xy12uid", 303, "");
    resume.summary = true;
    let r = resume.response.as_mut().unwrap();
    r.headers = vec![Header::new("location", "https://rp/cb?code=c0de&state=s1")];
    r.body = CapturedBody { summarised: true, ..Default::default() };
    let ev = a.ingest(&resume);
    let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
    assert_eq!(x.kind, ExchangeKind::AuthorizeResponse);
    assert_eq!((x.flow, x.joined_by), (flow, Some(JoinedBy::State)));
    assert_eq!(x.decoded.authorization_response.as_ref().and_then(|r| r.code.as_deref()), Some("c0de"));
    let mut other = exchange("GET", "/static/app.js", 200, "");
    other.summary = true;
    let ev = a.ingest(&other);
    let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
    assert_eq!((x.kind, x.flow), (ExchangeKind::Other, None));
}

/// check-config (or the key fetch) through a running gateway: its discovery GET opens no
/// login and raises nothing about Mastodon, even when the issuer is not OIDC_ISSUER.
#[test]
fn the_tools_own_calls_open_no_login() {
    let exp = Expectations { issuer: Some("https://a/other/".into()), ..Default::default() };
    let mut a = Analyzer::new(AnalyzerConfig { expectations: exp, ..Default::default() });
    let doc = r#"{"issuer":"https://a/","authorization_endpoint":"https://a/auth","token_endpoint":"https://a/token","userinfo_endpoint":"https://a/me","jwks_uri":"https://a/jwks","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#;
    let mut ours = exchange("GET", "/.well-known/openid-configuration", 200, doc);
    ours.request.headers.push(Header::new("user-agent", concat!("oidc-tap/", env!("CARGO_PKG_VERSION"))));
    let ev = a.ingest(&ours);
    assert!(!ev.iter().any(|e| matches!(e, Event::Flow(_))), "{ev:?}");
    let x = ev.iter().find_map(|e| if let Event::Exchange(x) = e { Some(x) } else { None }).unwrap();
    assert_eq!(x.flow, None);
    assert!(findings(&ev).iter().all(|f| !f.rule.as_str().starts_with("CONFIG-")), "{:?}", findings(&ev));
    assert!(a.finish(10_000_000).iter().all(|e| !matches!(e, Event::Finding(_))));
    // The same document fetched by Mastodon is a login, and its mismatch is said.
    let mut theirs = exchange("GET", "/.well-known/openid-configuration", 200, doc);
    theirs.request.headers.push(Header::new("user-agent", "SWD 2.0.3"));
    let ev = a.ingest(&theirs);
    assert!(findings(&ev).iter().any(|f| f.rule == "CONFIG-ISSUER-MISMATCH"));
}

/// A gateway in front of authentik sees every app's logins: Synapse's callback makes its login
/// Synapse's (judged against Synapse's route, not Mastodon's configuration); a callback no
/// profile knows is not judged against Mastodon's route, and says so once, at info.
#[test]
fn another_applications_login_is_not_judged_as_mastodons() {
    let exp = Expectations { client_id: Some("mastodon-client".into()), ..Default::default() };
    let mut a = Analyzer::new(AnalyzerConfig { expectations: exp, ..Default::default() });
    let q = "client_id=synapse&redirect_uri=https%3A%2F%2Fmatrix.test%2F_synapse%2Fclient%2Foidc%2Fcallback&response_type=code&scope=openid+profile&state=s0&nonce=n0";
    let mut x = exchange("GET", &format!("/application/o/authorize/?{q}"), 302, "");
    x.id = 7;
    x.response.as_mut().unwrap().headers.push(Header::new("location", "https://a/if/flow/x/"));
    let ev = a.ingest(&x);
    let f = findings(&ev);
    assert!(
        f.iter().all(|f| f.severity == crate::rules::Severity::Info && f.rp == Some("synapse")),
        "Mastodon's OIDC_CLIENT_ID is not Synapse's: {f:?}"
    );
    let opened = ev.iter().find_map(|e| if let Event::Flow(f) = e { Some(f.flow) } else { None }).unwrap();
    assert_eq!(a.flows.get(opened).and_then(|f| f.app), Some("synapse"));
    let q = "client_id=other&redirect_uri=https%3A%2F%2Fapp.test%2Foauth2%2Fcallback&response_type=code&scope=openid+profile&state=s1&nonce=n1";
    let mut x = exchange("GET", &format!("/application/o/authorize/?{q}"), 302, "");
    x.response
        .as_mut()
        .unwrap()
        .headers
        .push(Header::new("location", "https://a/if/flow/default-provider-authorization-implicit-consent/"));
    let ev = a.ingest(&x);
    let redirect: Vec<_> =
        findings(&ev).into_iter().filter(|f| f.rule == RuleId::ConfigRedirectUriMismatch).collect();
    assert_eq!(redirect.len(), 1, "{redirect:?}");
    assert_eq!(
        (redirect[0].severity, redirect[0].message.as_str()),
        (
            crate::rules::Severity::Info,
            "not checked: no profile knows this callback route (--rp names the application)"
        )
    );
    // Mastodon's near miss on the same gateway is still judged.
    let q = q
        .replace("app.test%2Foauth2%2Fcallback", "m.test%2Fauth%2Fauth%2Fopenid_connect%2Fcallback%2F")
        .replace("s1", "s2")
        .replace("client_id=other", "client_id=mastodon-client");
    let mut y = exchange("GET", &format!("/application/o/authorize/?{q}"), 302, "");
    y.id = 2;
    y.response.as_mut().unwrap().headers.push(Header::new("location", "https://a/if/flow/x/"));
    let ev = a.ingest(&y);
    assert!(
        findings(&ev)
            .iter()
            .any(|f| f.rule == RuleId::ConfigRedirectUriMismatch
                && f.severity == crate::rules::Severity::Error),
        "{:?}",
        findings(&ev)
    );
}
