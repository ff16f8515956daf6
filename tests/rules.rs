//! Every rule id, produced end to end: the authentik stand-in with a fault switched on (or the
//! scripted Mastodon misbehaving), a real gateway in between, and the exact finding asserted —
//! id, severity, field, expected/seen. Plus a clean login with no error and no warning.

use oidc_tap::analysis::{Analyzer, AnalyzerConfig, Event};
use oidc_tap::demo::mastodon::Verdict;
use oidc_tap::demo::provider::{DupPlace, Duplicate, NonceMode, Signing};
use oidc_tap::demo::rig::{LoginOutcome, Rig, Scenario};
use oidc_tap::expect::Expectations;
use oidc_tap::rules::{Finding, RuleId, Severity};
use oidc_tap::session::Session;
use serde_json::json;

struct Run {
    findings: Vec<Finding>,
    outcome: LoginOutcome,
}

impl Run {
    fn get(&self, rule: &str) -> &Finding {
        self.findings.iter().find(|f| f.rule == rule).unwrap_or_else(|| {
            let all: Vec<_> =
                self.findings.iter().map(|f| format!("{} {:?} {}", f.rule, f.severity, f.message)).collect();
            panic!("no {rule} finding; got:\n{}", all.join("\n"))
        })
    }

    fn has(&self, rule: &str) -> bool {
        self.findings.iter().any(|f| f.rule == rule && f.severity >= Severity::Warning)
    }

    fn failure(&self) -> String {
        match &self.outcome.verdict {
            Some(Verdict::Failure { reason }) => reason.clone(),
            other => format!("{other:?}"),
        }
    }
}

async fn run_with(sc: Scenario, exp: Option<Expectations>, logins: usize) -> Run {
    oidc_tap::tls::install_crypto_provider();
    let expectations = exp.unwrap_or_else(|| sc.expectations());
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations, ..Default::default() }),
        None,
        None,
        1 << 20,
    )
    .keep_events();
    let rig = Rig::start(sc, session).await.unwrap();
    let mut outcome = rig.login().await.unwrap();
    for _ in 1..logins {
        outcome = rig.login().await.unwrap();
    }
    let s = rig.finish().await.unwrap();
    let findings = s
        .keep
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Finding(f) => Some(*f),
            _ => None,
        })
        .collect();
    Run { findings, outcome }
}

async fn run(f: impl FnOnce(&mut Scenario)) -> Run {
    let mut sc = Scenario::clean();
    f(&mut sc);
    run_with(sc, None, 1).await
}

fn assert_evidence(f: &Finding, field: &str, expected: &str, seen: &str) {
    assert_eq!(f.field.as_deref(), Some(field), "{f:?}");
    assert_eq!(f.expected.as_deref(), Some(expected), "{f:?}");
    assert_eq!(f.seen.as_deref(), Some(seen), "{f:?}");
}

const ISSUER: &str = "https://authentik.test/application/o/mastodon/";
const CALLBACK: &str = "https://mastodon.test/auth/auth/openid_connect/callback";

#[tokio::test]
async fn clean_login_has_no_error_and_no_warning() {
    let r = run(|_| {}).await;
    assert_eq!(r.outcome.verdict, Some(Verdict::Success { uid: "alice".into() }));
    let bad: Vec<_> =
        r.findings.iter().filter(|f| f.severity >= Severity::Warning).map(|f| (f.rule, &f.message)).collect();
    assert!(bad.is_empty(), "false alarms: {bad:?}");
    let u = r.get("MASTODON-USERNAME");
    assert_eq!((u.severity, u.expected.as_deref()), (Severity::Info, Some("@alice")));
}

#[tokio::test]
async fn clean_login_variants_have_no_error_and_no_warning() {
    for (name, tweak) in [
        (
            "pkce+post",
            Box::new(|s: &mut Scenario| {
                s.rp.pkce = true;
                s.rp.client_secret_post = true;
            }) as Box<dyn FnOnce(&mut Scenario)>,
        ),
        ("executor", Box::new(|s: &mut Scenario| s.provider.faults.executor = true)),
        ("es256", Box::new(|s: &mut Scenario| s.provider.faults.signing = Signing::Es256)),
        ("eddsa", Box::new(|s: &mut Scenario| s.provider.faults.signing = Signing::EdDsa)),
        ("ps256", Box::new(|s: &mut Scenario| s.provider.faults.signing = Signing::Ps256)),
    ] {
        let r = run(tweak).await;
        assert!(matches!(r.outcome.verdict, Some(Verdict::Success { .. })), "{name}: {:?}", r.outcome);
        let bad: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| (f.rule, &f.message))
            .collect();
        assert!(bad.is_empty(), "{name}: false alarms: {bad:?}");
    }
}

// ---- discovery ----

#[tokio::test]
async fn disc_fetch_failed_spots_a_doubled_well_known() {
    let r = run(|s| s.rp.issuer = format!("{ISSUER}.well-known/openid-configuration")).await;
    let f = r.get("DISC-FETCH-FAILED");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("404"), "{}", f.message);
    assert!(f.hint.as_deref().unwrap().contains("appears twice"));
    assert_eq!(r.failure(), "Not Found");
}

#[tokio::test]
async fn disc_issuer_mismatch_global_issuer_mode() {
    let r = run(|s| s.provider.faults.discovery_issuer = Some("https://authentik.test/".into())).await;
    let f = r.get("DISC-ISSUER-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "discovery.issuer", ISSUER, "https://authentik.test/");
    assert!(f.fix.contains("Issuer mode"));
    assert_eq!(r.failure(), "Issuer mismatch");
}

#[tokio::test]
async fn disc_insecure_endpoint_and_idt_iss_when_authentik_builds_http_urls() {
    let r = run(|s| s.provider.faults.http_urls = true).await;
    let f = r.get("DISC-INSECURE-ENDPOINT");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "discovery.issuer", ISSUER, "http://authentik.test/application/o/mastodon/");
    assert_eq!(f.hint.as_deref(), Some("scheme: http vs https"));
    assert!(f.fix.contains("X-Forwarded-Proto"));
    // OIDC_ISSUER (https) is right: no CONFIG-ISSUER-MISMATCH telling otherwise; the rest
    // follows from authentik's http:// URLs.
    assert!(!r.has("CONFIG-ISSUER-MISMATCH"));
    assert_eq!(r.get("DISC-ISSUER-MISMATCH").follows, Some(RuleId::DiscInsecureEndpoint));
    let a = r.get("FLOW-ABANDONED");
    assert_eq!((a.follows, a.severity), (Some(RuleId::DiscInsecureEndpoint), Severity::Warning));
}

#[tokio::test]
async fn disc_missing_field() {
    let r = run(|s| s.provider.faults.discovery_drop = vec!["jwks_uri".into()]).await;
    let f = r.get("DISC-MISSING-FIELD");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("discovery.jwks_uri")));
    assert_eq!(r.failure(), "jwks_uri can't be blank");
}

#[tokio::test]
async fn disc_endpoint_authority() {
    let r = run(|s| s.provider.faults.endpoint_host = Some("auth-internal.test".into())).await;
    let f = r.get("DISC-ENDPOINT-AUTHORITY");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        (f.expected.as_deref(), f.seen.as_deref()),
        (Some("authentik.test"), Some("auth-internal.test"))
    );
}

// ---- configuration ----

#[tokio::test]
async fn config_issuer_mismatch_trailing_slash_and_flow_abandoned() {
    let r = run(|s| s.rp.issuer = ISSUER.trim_end_matches('/').into()).await;
    let f = r.get("CONFIG-ISSUER-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "OIDC_ISSUER", ISSUER, ISSUER.trim_end_matches('/'));
    assert_eq!(f.hint.as_deref(), Some("trailing slash: expected ends with '/', seen does not"));
    assert!(f.fix.contains(&format!("OIDC_ISSUER={ISSUER}")));
    assert_eq!(r.failure(), "Issuer mismatch");
    // One cause, one finding: the abandoned login follows from it, at the catalogue's severity.
    let a = r.get("FLOW-ABANDONED");
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(a.follows, Some(RuleId::ConfigIssuerMismatch));
    assert_eq!(a.why, "follows from CONFIG-ISSUER-MISMATCH");
    assert_eq!(
        a.message,
        "Mastodon fetched discovery, then sent the browser back to sign-in instead of to authentik"
    );
    assert!(a.fix.is_empty() && a.expected.is_none(), "{a:?}");
}

#[tokio::test]
async fn flow_abandoned_without_expectations_names_the_issuer() {
    let mut sc = Scenario::clean();
    sc.rp.issuer = ISSUER.trim_end_matches('/').into();
    let r = run_with(sc, Some(Expectations::default()), 1).await;
    let a = r.get("FLOW-ABANDONED");
    assert!(a.why.contains(&format!("OIDC_ISSUER must be exactly {ISSUER}")), "{}", a.why);
    assert_eq!(
        a.fix,
        format!(
            "set OIDC_ISSUER={ISSUER} in .env.production (authentik's issuer ends with '/') and restart Mastodon"
        )
    );
    let n = r.get("CONFIG-ISSUER-MISMATCH");
    assert_eq!(n.severity, Severity::Info);
    assert!(n.message.starts_with("not checked: pass --expect-issuer"));
}

#[tokio::test]
async fn config_redirect_uri_mismatch() {
    let mut sc = Scenario::clean();
    sc.rp.redirect_uri = format!("{CALLBACK}/");
    sc.provider.redirect_uris.push(format!("{CALLBACK}/"));
    let mut exp = sc.expectations();
    exp.redirect_uri = None; // only WEB_DOMAIN: the canonical callback is expected
    let r = run_with(sc, Some(exp), 1).await;
    let f = r.get("CONFIG-REDIRECT-URI-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "authorize.redirect_uri", CALLBACK, &format!("{CALLBACK}/"));
    assert_eq!(f.hint.as_deref(), Some("trailing slash: seen ends with '/', expected does not"));
}

#[tokio::test]
async fn config_client_id_mismatch() {
    let sc = Scenario::clean();
    let mut exp = sc.expectations();
    exp.client_id = Some("someOtherClientID".into());
    let r = run_with(sc, Some(exp), 1).await;
    let f = r.get("CONFIG-CLIENT-ID-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(
        f,
        "authorize.client_id",
        "someOtherClientID",
        "demoMastodonClientID0123456789abcdefghijk",
    );
}

#[tokio::test]
async fn config_scope_without_email_and_mastodon_email_missing() {
    let r = run(|s| s.rp.scope = vec!["openid".into(), "profile".into()]).await;
    let f = r.get("CONFIG-SCOPE");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "authorize.scope", "openid profile email", "openid profile");
    let m = r.get("MASTODON-EMAIL-MISSING");
    assert_eq!((m.severity, m.field.as_deref()), (Severity::Warning, Some("claims.email")));
}

// ---- authorize ----

#[tokio::test]
async fn authz_missing_param_and_redirect_uri_rejected() {
    let r = run(|s| s.rp.redirect_uri = String::new()).await;
    let f = r.get("AUTHZ-MISSING-PARAM");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("authorize.redirect_uri")));
    let rej = r.get("AUTHZ-REDIRECT-URI-REJECTED");
    assert_eq!(rej.severity, Severity::Error);
    assert!(r.outcome.verdict.is_none(), "the browser stays on authentik");
}

#[tokio::test]
async fn authz_redirect_uri_rejected_shows_what_to_register() {
    // Mastodon's own callback, not registered in authentik: the fix is authentik's list.
    let r = run(|s| {
        s.provider.redirect_uris = vec!["https://elsewhere.test/auth/auth/openid_connect/callback".into()]
    })
    .await;
    let f = r.get("AUTHZ-REDIRECT-URI-REJECTED");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.field.as_deref(), Some("authorize.redirect_uri"));
    assert_eq!(f.seen.as_deref(), Some(CALLBACK));
    assert!(f.fix.contains(&format!("`{CALLBACK}`")), "{}", f.fix);
    assert!(f.message.contains("Redirect URI Error"));
    assert_eq!(f.follows, None);
    assert!(!r.has("CONFIG-REDIRECT-URI-MISMATCH"));
    assert_eq!(r.outcome.browser.last_status, 400);
}

/// A redirect_uri that is not Mastodon's callback route (a trailing slash) is fixed in
/// Mastodon's OIDC_REDIRECT_URI, never by registering it in authentik (the next failure);
/// the route shape alone shows it, without an env file.
#[tokio::test]
async fn a_redirect_uri_off_mastodons_route_is_fixed_in_oidc_redirect_uri() {
    for exp in [None, Some(Expectations::default())] {
        let mut sc = Scenario::clean();
        sc.rp.redirect_uri.push('/');
        let r = run_with(sc, exp.clone(), 1).await;
        let c = r.get("CONFIG-REDIRECT-URI-MISMATCH");
        assert_eq!((c.severity, c.not_checked), (Severity::Error, false), "{exp:?}");
        assert_evidence(c, "authorize.redirect_uri", CALLBACK, &format!("{CALLBACK}/"));
        assert_eq!(
            c.fix,
            format!(
                "OIDC_REDIRECT_URI={CALLBACK} in .env.production (restart Mastodon), and authentik → provider → Redirect URIs: exactly {CALLBACK} (strict)"
            )
        );
        let f = r.get("AUTHZ-REDIRECT-URI-REJECTED");
        assert_eq!(f.follows, Some(RuleId::ConfigRedirectUriMismatch));
        assert!(f.fix.is_empty(), "{}", f.fix);
    }
}

#[tokio::test]
async fn authz_no_openid_scope() {
    let r = run(|s| s.rp.quirks.omit_openid = true).await;
    let f = r.get("AUTHZ-NO-OPENID-SCOPE");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "authorize.scope", "openid …", "profile email");
}

#[tokio::test]
async fn authz_no_state() {
    let r = run(|s| s.rp.quirks.omit_state = true).await;
    let f = r.get("AUTHZ-NO-STATE");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Warning, Some("authorize.state")));
}

#[tokio::test]
async fn authz_no_nonce() {
    let r = run(|s| s.rp.quirks.omit_nonce = true).await;
    let f = r.get("AUTHZ-NO-NONCE");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Warning, Some("authorize.nonce")));
    assert!(!r.has("IDT-NONCE-MISSING"), "no nonce sent, none expected back");
}

#[tokio::test]
async fn authz_pkce_plain() {
    let r = run(|s| {
        s.rp.pkce = true;
        s.rp.quirks.pkce_plain = true;
    })
    .await;
    let f = r.get("AUTHZ-PKCE-PLAIN");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "authorize.code_challenge_method", "S256", "plain");
    assert!(!r.has("TOKEN-PKCE-MISMATCH"), "plain verifier matches its challenge");
}

#[tokio::test]
async fn authz_client_rejected() {
    let r = run(|s| s.rp.client_id = "wrongClientID".into()).await;
    let f = r.get("AUTHZ-CLIENT-REJECTED");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.seen.as_deref(), Some("wrongClientID"));
    assert!(f.message.contains("Client ID Error"));
}

#[tokio::test]
async fn authz_error_access_denied() {
    let r = run(|s| s.provider.faults.authorize_error = Some("access_denied".into())).await;
    let f = r.get("AUTHZ-ERROR");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.seen.as_deref(), Some("access_denied"));
    assert!(f.fix.contains("Bindings"));
    assert_eq!(r.failure(), "The request was refused");
}

#[tokio::test]
async fn authz_state_mismatch() {
    let r = run(|s| s.provider.faults.state_override = Some("ffffffffffffffffffffffffffffffff".into())).await;
    let f = r.get("AUTHZ-STATE-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.field.as_deref(), Some("authorization_response.state"));
    // A state is a CSRF nonce, not a secret: both values are shown as they were.
    assert_eq!(f.seen.as_deref(), Some("ffffffffffffffffffffffffffffffff"));
    assert!(f.expected.as_deref().is_some_and(|e| e.len() == 32 && !e.starts_with('…')), "{f:?}");
    assert_eq!(f.hint.as_deref(), Some("a different value altogether"));
    assert_eq!(f.mastodon.as_deref(), Some("“Invalid 'state' parameter” (csrf_detected)"));
    assert_eq!(r.failure(), "Invalid 'state' parameter");
}

#[tokio::test]
async fn authz_iss_mismatch() {
    let r = run(|s| s.provider.faults.iss_param = Some("https://evil.test/".into())).await;
    let f = r.get("AUTHZ-ISS-MISMATCH");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "authorization_response.iss", ISSUER, "https://evil.test/");
}

// ---- token ----

#[tokio::test]
async fn token_error_invalid_client() {
    let mut sc = Scenario::clean();
    sc.rp.client_secret = "wrong-secret".into();
    let mut exp = sc.expectations();
    exp.client_secret = Some(oidc_tap::redact::Secret::new(sc.provider.client_secret.clone())); // what .env.production should say
    let r = run_with(sc, Some(exp), 1).await;
    let f = r.get("TOKEN-ERROR");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.seen.as_deref(), Some("invalid_client"));
    assert!(f.why.contains("is not OIDC_CLIENT_SECRET"), "{}", f.why);
    assert!(!f.why.contains("wrong-secret"), "secret leaked into the finding");
    assert_eq!(f.mastodon.as_deref(), Some("“Invalid client”"));
    assert_eq!(r.failure(), "invalid_client");
}

#[tokio::test]
async fn token_redirect_uri_changed() {
    let r = run(|s| {
        s.rp.quirks.token_redirect_uri = Some(format!("{CALLBACK}?redirect_uri=x"));
        s.provider.redirect_uris.push(format!("{CALLBACK}?redirect_uri=x"));
    })
    .await;
    let f = r.get("TOKEN-REDIRECT-URI-CHANGED");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "token_request.redirect_uri", CALLBACK, &format!("{CALLBACK}?redirect_uri=x"));
}

#[tokio::test]
async fn token_pkce_mismatch() {
    let r = run(|s| {
        s.rp.pkce = true;
        s.rp.quirks.pkce_bad_verifier = true;
    })
    .await;
    let f = r.get("TOKEN-PKCE-MISMATCH");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("token_request.code_verifier")));
    assert!(f.expected.as_deref().unwrap().starts_with("S256(verifier) = "));
    assert_eq!(r.get("TOKEN-ERROR").seen.as_deref(), Some("invalid_grant"));
}

#[tokio::test]
async fn token_code_reused() {
    let r = run(|s| s.rp.quirks.redeem_twice = true).await;
    let f = r.get("TOKEN-CODE-REUSED");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("token_request.code")));
    assert!(f.seen.as_deref().unwrap().starts_with('…'));
}

#[tokio::test]
async fn token_code_slow() {
    let mut sc = Scenario::clean();
    sc.provider.faults.code_lifetime_s = Some(1);
    sc.rp.quirks.token_delay_ms = 2100;
    let mut exp = sc.expectations();
    exp.code_lifetime_s = 1;
    let r = run_with(sc, Some(exp), 1).await;
    let f = r.get("TOKEN-CODE-SLOW");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("token_request.code")));
    assert_eq!(f.expected.as_deref(), Some("≤ 1 s"));
    assert_eq!(r.failure(), "invalid_grant");
}

#[tokio::test]
async fn token_no_id_token() {
    let r = run(|s| s.provider.faults.omit_id_token = true).await;
    let f = r.get("TOKEN-NO-ID-TOKEN");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("token_response.id_token")));
}

#[tokio::test]
async fn token_type() {
    let r = run(|s| s.provider.faults.token_type = Some("mac".into())).await;
    let f = r.get("TOKEN-TYPE");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "token_response.token_type", "Bearer", "mac");
    assert_eq!(r.failure(), "Unexpected Token Type");
}

#[tokio::test]
async fn token_scope_dropped_openid_and_userinfo_403() {
    let r = run(|s| s.provider.faults.scope_drop = vec!["openid".into()]).await;
    let f = r.get("TOKEN-SCOPE-DROPPED");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "token_response.scope", "openid profile email", "profile email");
    let u = r.get("USERINFO-ERROR");
    assert_eq!(u.severity, Severity::Error);
    assert_eq!(u.seen.as_deref(), Some("403 insufficient_scope"));
    assert_eq!(u.follows, Some(RuleId::TokenScopeDropped));
    assert_eq!(u.mastodon.as_deref(), Some("“Insufficient scope”"));
    assert_eq!(r.failure(), "Insufficient Scope");
}

#[tokio::test]
async fn backchannel_redirect_on_token_without_trailing_slash() {
    let r = run(|s| s.provider.faults.token_endpoint_no_slash = true).await;
    let f = r.get("BACKCHANNEL-REDIRECT");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.field.as_deref(), Some("token.status"));
    assert_eq!(f.expected.as_deref(), Some("/application/o/token/"));
    assert!(f.hint.as_deref().unwrap().contains("trailing slash"));
    assert_eq!(r.failure(), "Unknown");
}

// ---- ID token ----

#[tokio::test]
async fn idt_malformed() {
    let r = run(|s| s.provider.faults.id_token_raw = Some("not-a-jwt".into())).await;
    let f = r.get("IDT-MALFORMED");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("token_response.id_token")));
    assert_eq!(f.seen.as_deref(), Some("9 characters, 1 segments"));
}

#[tokio::test]
async fn idt_encrypted() {
    let r = run(|s| s.provider.faults.signing = Signing::Jwe).await;
    let f = r.get("IDT-ENCRYPTED");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "token_response.id_token", "3 segments (signed JWS)", "5 segments (JWE)");
    assert!(f.fix.contains("Encryption Key"));
}

#[tokio::test]
async fn idt_alg_none() {
    let r = run(|s| s.provider.faults.signing = Signing::None).await;
    let f = r.get("IDT-ALG-NONE");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "id_token.header.alg", "RS256", "none");
}

#[tokio::test]
async fn idt_alg_unadvertised() {
    let r = run(|s| s.provider.faults.advertised_algs = Some(vec!["ES256".into()])).await;
    let f = r.get("IDT-ALG-UNADVERTISED");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "id_token.header.alg", "ES256", "RS256");
}

#[tokio::test]
async fn idt_symmetric_alg_verified_with_the_secret_from_the_token_request() {
    let r = run(|s| s.provider.faults.signing = Signing::Hs256).await;
    let f = r.get("IDT-SYMMETRIC-ALG");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "id_token.header.alg", "RS256 (a signing key)", "HS256");
    assert!(
        f.message.contains("MAC verified with the client secret from the token request"),
        "{}",
        f.message
    );
    assert!(!r.has("IDT-SIGNATURE-INVALID") && !r.has("IDT-UNVERIFIABLE"));
    assert!(matches!(r.outcome.verdict, Some(Verdict::Success { .. })));
}

#[tokio::test]
async fn idt_kid_unknown_after_the_gateway_refetched() {
    let r = run(|s| s.provider.faults.id_token_kid = Some("rotated-away".into())).await;
    let f = r.get("IDT-KID-UNKNOWN");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "id_token.header.kid", "demo-rsa-a", "rotated-away");
    assert_eq!(r.failure(), "JSON::JWK::Set::KidNotFound");
}

#[tokio::test]
async fn rotated_keys_are_refetched_and_verify() {
    oidc_tap::tls::install_crypto_provider();
    let session = Session::new(Analyzer::new(AnalyzerConfig::default()), None, None, 1 << 20).keep_events();
    let rig = Rig::start(Scenario::clean(), session).await.unwrap();
    rig.login().await.unwrap();
    // The provider rotates to another key; the gateway knows only the old one.
    let mut f = rig.provider.config().faults;
    f.signing = Signing::Rs256Rotated;
    rig.provider.set_faults(f);
    let second = rig.login().await.unwrap();
    assert!(matches!(second.verdict, Some(Verdict::Success { .. })));
    let s = rig.finish().await.unwrap();
    let events = s.keep.unwrap();
    let sig_findings: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finding(f) if f.rule.as_str().starts_with("IDT-") && f.severity >= Severity::Warning => {
                Some(f.rule)
            }
            _ => None,
        })
        .collect();
    assert!(sig_findings.is_empty(), "{sig_findings:?}");
    let gateway_fetches = events
        .iter()
        .filter(
            |e| matches!(e, Event::Exchange(x) if x.decoded.caller.map(|c| c.as_str()) == Some("oidc-tap")),
        )
        .count();
    // At most one fetch per unknown key: none when Mastodon's own JWKS fetch was already
    // waiting for analysis (its keys are the ones of that moment).
    assert!(gateway_fetches <= 2, "{gateway_fetches} fetches");
    // Both ID tokens verified, the second with the rotated key.
    let verified: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) if x.kind.as_str() == "token" => {
                x.passed.iter().map(|c| c.to_string()).find(|c| c.starts_with("signature ✓"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(verified.len(), 2, "{verified:?}");
    assert!(
        verified[0].contains("kid demo-rsa-a") && !verified[1].contains("kid demo-rsa-a"),
        "{verified:?}"
    );
}

/// The same rotation while analysis lags behind the logins: the keys are Mastodon's JWKS fetch
/// of the moment (taken from the queue), never a later fetch that would miss a rotated-away key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_analysis_judges_tokens_by_the_keys_of_their_time() {
    oidc_tap::tls::install_crypto_provider();
    let session = Session::new(Analyzer::new(AnalyzerConfig::default()), None, None, 1 << 20).keep_events();
    let rig = Rig::start(Scenario::clean(), session).await.unwrap();
    for rotated in [false, true, false, true] {
        let mut f = rig.provider.config().faults;
        f.signing = if rotated { Signing::Rs256Rotated } else { Signing::Rs256 };
        rig.provider.set_faults(f);
        rig.login().await.unwrap();
    }
    let events = rig.finish().await.unwrap().keep.unwrap();
    let wrong: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Finding(f) if f.rule.as_str().starts_with("IDT-") && f.severity >= Severity::Warning => {
                Some(f.message.clone())
            }
            _ => None,
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[tokio::test]
async fn idt_kid_ambiguous() {
    let r = run(|s| s.provider.faults.duplicate_kid = true).await;
    let f = r.get("IDT-KID-AMBIGUOUS");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Warning, Some("id_token.header.kid")));
    assert_eq!(f.seen.as_deref(), Some("2 candidate keys"));
}

#[tokio::test]
async fn idt_signature_invalid() {
    let r = run(|s| s.provider.faults.tamper_signature = true).await;
    let f = r.get("IDT-SIGNATURE-INVALID");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("id_token.signature")));
    assert_eq!(r.failure(), "JSON::JWS::VerificationFailed");
}

#[tokio::test]
async fn idt_unverifiable_es512() {
    let r = run(|s| s.provider.faults.signing = Signing::Es512).await;
    let f = r.get("IDT-UNVERIFIABLE");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("ES512 is not supported"), "{}", f.message);
    assert_eq!(f.seen.as_deref(), Some("ES512 kid demo-ec-p521"));
}

#[tokio::test]
async fn idt_missing_claim() {
    let r = run(|s| s.provider.faults.drop_claims = vec!["iat".into()]).await;
    let f = r.get("IDT-MISSING-CLAIM");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("id_token.iat")));
}

#[tokio::test]
async fn idt_iss_mismatch() {
    let r = run(|s| {
        s.provider.faults.id_token_iss = Some("http://authentik.test/application/o/mastodon/".into())
    })
    .await;
    let f = r.get("IDT-ISS-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "id_token.iss", ISSUER, "http://authentik.test/application/o/mastodon/");
    assert_eq!(f.hint.as_deref(), Some("scheme: http vs https"));
    assert_eq!(f.mastodon.as_deref(), Some("“Invalid ID token: Issuer does not match”"));
    assert_eq!(r.failure(), "Invalid ID token: Issuer does not match");
}

#[tokio::test]
async fn idt_aud_mismatch() {
    let r = run(|s| s.provider.faults.id_token_aud = Some(json!("another-client"))).await;
    let f = r.get("IDT-AUD-MISMATCH");
    assert_eq!(f.severity, Severity::Error);
    assert_evidence(f, "id_token.aud", "demoMastodonClientID0123456789abcdefghijk", "another-client");
    assert_eq!(r.failure(), "Invalid ID token: Audience does not match");
}

#[tokio::test]
async fn idt_azp_mismatch() {
    let r = run(|s| s.provider.faults.id_token_azp = Some("another-client".into())).await;
    let f = r.get("IDT-AZP-MISMATCH");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "id_token.azp", "demoMastodonClientID0123456789abcdefghijk", "another-client");
}

#[tokio::test]
async fn idt_expired() {
    let r = run(|s| s.provider.faults.exp_offset_s = Some(-120)).await;
    let f = r.get("IDT-EXPIRED");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("id_token.exp")));
    assert!(f.message.contains("expired 2m"), "{}", f.message);
    assert_eq!(r.failure(), "Invalid ID token: Expired token");
}

#[tokio::test]
async fn idt_iat_and_nbf_in_the_future() {
    let r = run(|s| {
        s.provider.faults.iat_offset_s = 3000;
        s.provider.faults.nbf_offset_s = Some(3000);
    })
    .await;
    let f = r.get("IDT-IAT-FUTURE");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Warning, Some("id_token.iat")));
    assert!(f.message.contains("m") && f.message.ends_with("in the future"), "{}", f.message);
    let n = r.get("IDT-NBF-FUTURE");
    assert_eq!((n.severity, n.field.as_deref()), (Severity::Warning, Some("id_token.nbf")));
}

#[tokio::test]
async fn idt_nonce_missing() {
    let r = run(|s| s.provider.faults.nonce = NonceMode::Omit).await;
    let f = r.get("IDT-NONCE-MISSING");
    assert_eq!(
        (f.severity, f.field.as_deref(), f.seen.as_deref()),
        (Severity::Error, Some("id_token.nonce"), Some("(none)"))
    );
    assert_eq!(r.failure(), "Invalid ID Token: Nonce does not match");
}

#[tokio::test]
async fn idt_nonce_mismatch() {
    let r = run(|s| s.provider.faults.nonce = NonceMode::Wrong).await;
    let f = r.get("IDT-NONCE-MISMATCH");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("id_token.nonce")));
    assert_eq!(f.seen.as_deref(), Some("0123456789abcdef0123456789abcdef"));
}

#[tokio::test]
async fn idt_at_hash_mismatch() {
    let r = run(|s| s.provider.faults.bad_at_hash = true).await;
    let f = r.get("IDT-AT-HASH-MISMATCH");
    assert_eq!(
        (f.severity, f.field.as_deref(), f.seen.as_deref()),
        (Severity::Warning, Some("id_token.at_hash"), Some("AAAAAAAAAAAAAAAAAAAAAA"))
    );
}

#[tokio::test]
async fn clock_skew() {
    let r = run(|s| s.provider.faults.date_skew_s = 120).await;
    let f = r.get("CLOCK-SKEW");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("response.date")));
    assert!(f.message.contains("ahead of"), "{}", f.message);
}

// ---- userinfo ----

#[tokio::test]
async fn userinfo_sub_mismatch() {
    let r = run(|s| {
        s.provider.faults.userinfo_claims.insert("sub".into(), json!("someone-else"));
    })
    .await;
    let f = r.get("USERINFO-SUB-MISMATCH");
    assert_eq!(
        (f.severity, f.field.as_deref(), f.seen.as_deref()),
        (Severity::Error, Some("userinfo.sub"), Some("someone-else"))
    );
}

#[tokio::test]
async fn userinfo_claim_conflict() {
    let r = run(|s| {
        s.provider.faults.userinfo_claims.insert("email".into(), json!("other@example.test"));
    })
    .await;
    let f = r.get("USERINFO-CLAIM-CONFLICT");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "userinfo.email", "alice@example.test", "other@example.test");
}

// ---- Mastodon account mapping ----

#[tokio::test]
async fn mastodon_uid_claim_missing() {
    let r = run(|s| s.rp.uid_field = "username".into()).await;
    let f = r.get("MASTODON-UID-CLAIM-MISSING");
    assert_eq!(
        (f.severity, f.field.as_deref(), f.seen.as_deref()),
        (Severity::Warning, Some("claims.username"), Some("(absent)"))
    );
    assert!(f.mastodon.as_deref().unwrap().starts_with("creates @"));
}

#[tokio::test]
async fn mastodon_uid_changed_between_flows() {
    oidc_tap::tls::install_crypto_provider();
    let sc = Scenario::clean();
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        None,
        None,
        1 << 20,
    )
    .keep_events();
    let rig = Rig::start(sc, session).await.unwrap();
    rig.login().await.unwrap();
    let mut f = rig.provider.config().faults;
    f.claims.insert("preferred_username".into(), json!("alice.renamed"));
    rig.provider.set_faults(f);
    rig.login().await.unwrap();
    let s = rig.finish().await.unwrap();
    let found: Vec<Finding> = s
        .keep
        .unwrap()
        .into_iter()
        .filter_map(|e| if let Event::Finding(f) = e { Some(*f) } else { None })
        .collect();
    let f = found.iter().find(|f| f.rule == "MASTODON-UID-CHANGED").expect("MASTODON-UID-CHANGED");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "claims.preferred_username", "alice", "alice.renamed");
    assert_eq!(f.flow, Some(2));
}

#[tokio::test]
async fn mastodon_email_unverified() {
    let r = run(|s| {
        s.provider.faults.claims.insert("email_verified".into(), json!(false));
    })
    .await;
    let f = r.get("MASTODON-EMAIL-UNVERIFIED");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "claims.email_verified", "true", "false");
    assert!(f.fix.contains("OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED=true"));
    // With the Mastodon setting, no warning.
    let mut sc = Scenario::clean();
    sc.provider.faults.claims.insert("email_verified".into(), json!(false));
    let mut exp = sc.expectations();
    exp.assume_email_verified = true;
    assert!(!run_with(sc, Some(exp), 1).await.has("MASTODON-EMAIL-UNVERIFIED"));
}

#[tokio::test]
async fn mastodon_username_reserved() {
    let r = run(|s| {
        s.provider.faults.claims.insert("preferred_username".into(), json!("admin"));
    })
    .await;
    let f = r.get("MASTODON-USERNAME");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!((f.expected.as_deref(), f.seen.as_deref()), (Some("@admin"), Some("admin")));
    assert!(f.why.contains("reserved"));
}

// ---- flow ----

#[tokio::test]
async fn flow_incomplete_when_authentik_denies_in_the_flow() {
    let r = run(|s| {
        s.provider.faults.executor = true;
        s.provider.faults.deny_in_flow = true;
    })
    .await;
    let f = r.get("FLOW-INCOMPLETE");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.seen.as_deref(), Some("authorizing"));
    assert!(f.why.contains("no code came back"));
}

/// The README's rule table is the catalogue, byte for byte (`UPDATE_README=1 cargo test
/// readme_rule_table` rewrites it).
#[test]
fn readme_rule_table_is_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find("| rule | severity |").expect("README has the rule table");
    let end = start + readme[start..].find("\n\n").expect("table ends with a blank line") + 1;
    let table = oidc_tap::rules::catalogue::markdown_table();
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(path, format!("{}{table}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "README rule table differs from the catalogue: run UPDATE_README=1 cargo test readme_rule_table"
    );
    for e in oidc_tap::rules::catalogue::CATALOGUE {
        assert!(readme.contains(&format!("| `{}` |", e.id)), "README lacks {}", e.id);
    }
}

#[test]
fn every_catalogue_rule_has_an_end_to_end_test_here() {
    let me = include_str!("rules.rs");
    // check-config's rules are asserted end to end against `demo --serve` in cli.rs.
    let cli = include_str!("cli.rs");
    let start = cli.find("fn check_config_against_the_served_demo_provider").unwrap();
    let config = &cli[start..start + cli[start..].find("\n}\n").unwrap()];
    // probe-rp's RP-ACCEPTS-* are asserted against real relying parties in real_peers.rs.
    let peers = include_str!("real_peers.rs");
    let start = peers.find("fn probe_rp_finds_what_each_relying_party_accepts").unwrap();
    let probe = &peers[start..];
    for e in oidc_tap::rules::catalogue::CATALOGUE {
        let asserted = me.contains(&format!(".get(\"{}\")", e.id))
            || probe.contains(&format!("\"{}\"", e.id))
            || me.contains(&format!("f.rule == \"{}\"", e.id))
            || config.contains(&format!("\"{}\".into()", e.id))
            || config.contains(&format!("\"{}\".to_owned()", e.id));
        assert!(asserted, "no end-to-end test asserts {}", e.id);
    }
}

/// A discovery document that gives `issuer` twice: both values named, a warning (an error would
/// be inside the ID token: the real-peer suite's duplicate-iss).
#[tokio::test]
async fn json_duplicate_member_names_both_values() {
    let r = run(|s| {
        s.provider.faults.duplicates.push(Duplicate {
            place: DupPlace::Discovery,
            name: "issuer".into(),
            first: "https://evil.test/".into(),
        })
    })
    .await;
    let f = r.get("JSON-DUPLICATE-MEMBER");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.message,
        format!("the discovery document gives `issuer` twice: https://evil.test/ and {ISSUER}")
    );
    assert_evidence(f, "discovery document.issuer", "one member", &format!("https://evil.test/ | {ISSUER}"));
}

// ---- the gateway's own view: nothing here is blamed on the provider ----

/// No finding about authentik or Mastodon's configuration: only the gateway's own ones and
/// "not checked" notes.
fn assert_nothing_blamed_on_the_provider(r: &Run) {
    let blamed: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning && !f.rule.as_str().starts_with("GATEWAY-"))
        .filter(|f| !f.rule.as_str().starts_with("FLOW-"))
        .map(|f| (f.rule, f.message.clone()))
        .collect();
    assert!(blamed.is_empty(), "blamed on the provider: {blamed:?}");
}

#[tokio::test]
async fn gateway_upstream_failed_when_authentik_is_unreachable() {
    let r = run(|s| s.gateway.authentik_unreachable = true).await;
    let f = r.get("GATEWAY-UPSTREAM-FAILED");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("exchange.error")));
    assert_eq!(
        f.seen.as_deref(),
        Some(
            "upstream https://authentik.test refused the connection: is it running, and are --upstream/--connect-to right?"
        )
    );
    assert_eq!(f.fix, "is it running, and are --upstream/--connect-to right?");
    assert_eq!(f.message, "the gateway got no answer from the upstream for this discovery call");
    assert!(!r.findings.iter().any(|f| f.rule == "DISC-FETCH-FAILED"), "{:?}", r.findings);
    assert_nothing_blamed_on_the_provider(&r);
}

#[tokio::test]
async fn a_body_over_the_capture_limit_is_not_checked_never_an_error() {
    let r = run(|s| s.gateway.capture_limit = Some(512)).await;
    assert!(matches!(r.outcome.verdict, Some(Verdict::Success { .. })), "{:?}", r.outcome);
    let d: Vec<_> = r.findings.iter().filter(|f| f.rule == "DISC-FETCH-FAILED").collect();
    assert!(!d.is_empty(), "{:?}", r.findings);
    for f in d {
        assert_eq!(f.severity, Severity::Info);
        assert!(f.not_checked);
        assert!(
            f.message.starts_with("not checked: response body truncated at 512 of ")
                && f.message.ends_with(" bytes (raise --capture-limit)"),
            "{}",
            f.message
        );
    }
    assert_nothing_blamed_on_the_provider(&r);
}

#[tokio::test]
async fn gateway_client_hung_up_mid_token_request() {
    use tokio::io::AsyncWriteExt;
    oidc_tap::tls::install_crypto_provider();
    let sc = Scenario::clean();
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        None,
        None,
        1 << 20,
    )
    .keep_events();
    let rig = Rig::start(sc, session).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rig.ca.cert_der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(rig.gateway_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("authentik.test").unwrap();
    let mut tls =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg)).connect(name, tcp).await.unwrap();
    tls.write_all(
        b"POST /application/o/token/ HTTP/1.1\r\nHost: authentik.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ngrant_type=authorization_code&code=half",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(tls); // hang up with 160 bytes still owed
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let events = rig.finish().await.unwrap().keep.unwrap();
    let findings: Vec<Finding> =
        events.into_iter().filter_map(|e| if let Event::Finding(f) = e { Some(*f) } else { None }).collect();
    let r = Run { findings, outcome: LoginOutcome { browser: Default::default(), verdict: None } };
    let f = r.get("GATEWAY-CLIENT-HUNG-UP");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Warning, Some("request.body")));
    assert_eq!(
        f.seen.as_deref(),
        Some("the client hung up after 39 bytes of its request, before it was complete")
    );
    assert!(!r.findings.iter().any(|f| f.rule == "TOKEN-ERROR" || f.rule == "GATEWAY-UPSTREAM-FAILED"));
    assert_nothing_blamed_on_the_provider(&r);
}

// ---- types: a claim or field of the wrong type is a finding, never trusted ----

#[tokio::test]
async fn idt_claim_type_for_iss_sub_aud_and_an_absurd_exp() {
    let r = run(|s| {
        let c = &mut s.provider.faults.claims;
        c.insert("iss".into(), json!(123));
        c.insert("sub".into(), json!(null));
        c.insert("aud".into(), json!(5));
        c.insert("exp".into(), json!(u64::MAX));
        c.insert("iat".into(), json!(1.7e308));
    })
    .await;
    let mut got: Vec<(String, String, String, Severity)> = r
        .findings
        .iter()
        .filter(|f| f.rule == "IDT-CLAIM-TYPE")
        .map(|f| (f.field.clone().unwrap(), f.expected.clone().unwrap(), f.seen.clone().unwrap(), f.severity))
        .collect();
    got.sort();
    let want = |field: &str, exp: &str, seen: &str| {
        (field.to_owned(), exp.to_owned(), seen.to_owned(), Severity::Error)
    };
    assert_eq!(
        got,
        vec![
            want("id_token.aud", "a string or an array of strings", "5"),
            want(
                "id_token.exp",
                "a NumericDate (seconds since 1970, a number before year 10000)",
                "18446744073709551615"
            ),
            want(
                "id_token.iat",
                "a NumericDate (seconds since 1970, a number before year 10000)",
                "1.7e+308"
            ),
            want("id_token.iss", "a string", "123"),
            want("id_token.sub", "a non-empty string", "null"),
        ]
    );
    let f = r.get("IDT-CLAIM-TYPE");
    assert!(f.message.starts_with("the id_token's "), "{}", f.message);
    // Nothing was trusted: no expiry computed from a clamped number.
    assert!(!r.findings.iter().any(|f| f.rule == "IDT-EXPIRED"), "{:?}", r.findings);
}

#[tokio::test]
async fn disc_field_type_for_a_numeric_issuer_and_an_array_jwks_uri() {
    let r = run(|s| {
        let d = &mut s.provider.faults.discovery_set;
        d.insert("issuer".into(), json!(123));
        d.insert("jwks_uri".into(), json!(["https://a/jwks/", "https://b/jwks/"]));
    })
    .await;
    let got: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.rule == "DISC-FIELD-TYPE")
        .map(|f| (f.field.clone().unwrap(), f.expected.clone().unwrap(), f.seen.clone().unwrap(), f.severity))
        .collect();
    let f = r.get("DISC-FIELD-TYPE");
    assert_eq!((f.severity, f.expected.as_deref()), (Severity::Error, Some("a string")));
    assert!(got.contains(&(
        "discovery.jwks_uri".into(),
        "a string".into(),
        r#"["https://a/jwks/","https://b/jwks/"]"#.into(),
        Severity::Error
    )));
    assert!(got.contains(&("discovery.issuer".into(), "a string".into(), "123".into(), Severity::Error)));
}

#[tokio::test]
async fn token_code_unknown_when_the_code_changed_on_its_way() {
    let r = run(|s| s.rp.quirks.code_tamper = true).await;
    let f = r.get("TOKEN-CODE-UNKNOWN");
    assert_eq!((f.severity, f.field.as_deref()), (Severity::Error, Some("token_request.code")));
    assert_eq!(f.hint.as_deref(), Some("a suffix of 1 characters was added"));
    assert!(f.expected.as_deref().is_some_and(|e| e.starts_with('…')), "{f:?}");
    assert_eq!(r.failure(), "invalid_grant");
}
