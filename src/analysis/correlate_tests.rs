//! Unit tests of flow correlation (kept beside `correlate.rs`, out of its way).
#![cfg(test)]

use super::*;
use crate::oidc::EndpointBook;
use crate::oidc::messages::{Discovery, TokenRequest};

fn decoded(kind: ExchangeKind) -> Decoded {
    let mut d = crate::oidc::decode_exchange(
        &EndpointBook::default(),
        &crate::analysis::tests::exchange("GET", "/x", 200, ""),
    );
    d.kind = kind;
    d
}

fn discovery() -> Decoded {
    let mut d = decoded(ExchangeKind::Discovery);
    d.discovery = Some(Discovery {
        issuer: Some("https://a/".into()),
        status: 200,
        valid_json: true,
        ..Default::default()
    });
    d
}

#[test]
fn discovery_then_silence_is_abandoned_then_expired() {
    let mut t = FlowTracker::new(FlowLimits { idle_ms: 60_000, abandon_ms: 10_000, ..Default::default() }, 0);
    let a = t.assign(&discovery(), Some("https://a/"), 1000);
    assert!(a.opened);
    t.record(a.flow.unwrap(), &discovery(), 1, 1000, Some("https://a/"));
    assert!(t.abandoned(5000).is_empty());
    assert_eq!(t.abandoned(11_000), vec![1]);
    assert!(t.abandoned(12_000).is_empty(), "reported once");
    let gone = t.expire(70_000);
    assert_eq!(gone.len(), 1);
    assert!(!gone[0].1, "already closed as abandoned");
    assert!(t.is_empty());
}

#[test]
fn flows_are_bounded() {
    let mut t = FlowTracker::new(FlowLimits { max_flows: 3, ..Default::default() }, 0);
    for i in 0..5 {
        t.assign(&discovery(), None, i);
    }
    assert_eq!(t.len(), 3);
    assert_eq!(t.evicted, 2);
    assert_eq!(t.iter().next().unwrap().id, 3, "oldest evicted first");
}

#[test]
fn unknown_code_at_token_opens_a_flow_and_other_traffic_does_not() {
    let mut t = FlowTracker::new(FlowLimits::default(), 0);
    let mut tok = decoded(ExchangeKind::Token);
    tok.token_request = Some(TokenRequest { code: Some("c".into()), ..Default::default() });
    let a = t.assign(&tok, Some("https://a/"), 0);
    assert!(a.opened);
    t.record(a.flow.unwrap(), &tok, 1, 0, Some("https://a/"));
    assert_eq!(t.get(1).unwrap().issuer.as_deref(), Some("https://a/"));
    assert!(t.assign(&decoded(ExchangeKind::Other), None, 0).flow.is_none());
    // A JWKS joins the login of its own issuer, never another's, and never opens one.
    assert!(t.assign(&decoded(ExchangeKind::Jwks), Some("https://zzz/"), 0).flow.is_none());
    assert_eq!(t.assign(&decoded(ExchangeKind::Jwks), Some("https://a/"), 0).flow, Some(1));
    assert_eq!(t.len(), 1);
}
