//! Unit tests of redaction (beside it: `redact.rs` keeps the masking rules on one page).

use super::*;

#[test]
fn secrets_never_print_their_value() {
    let s = Secret::new("hunter2-client-secret");
    assert_eq!(format!("{s:?}"), format!("Secret({})", short("hunter2-client-secret")));
    assert!(!format!("{s} {s:?} {s:#?}").contains("hunter2"));
    let exp = crate::expect::Expectations { client_secret: Some(s.clone()), ..Default::default() };
    assert!(!format!("{exp:?}").contains("hunter2"));
    let auth = crate::oidc::messages::token::ClientAuth {
        secret: Some(s.clone()),
        secret_raw: Some(s),
        ..Default::default()
    };
    assert!(!format!("{auth:?}").contains("hunter2"));
    assert_eq!("x".parse::<Secret>().unwrap().expose(), "x");
}

/// The per-thread memory of recent fingerprints never changes one: the same as hashing,
/// however secrets come and go (more than it remembers), and for secrets too long to keep.
#[test]
fn remembered_fingerprints_are_the_hashes() {
    let secrets: Vec<String> = (0..3 * REMEMBERED).map(|i| format!("code-{i}-{}", "x".repeat(i))).collect();
    for round in 0..3 {
        for (i, s) in secrets.iter().enumerate() {
            if (i + round) % 2 == 0 {
                assert_eq!(fingerprint(s), fingerprint_of(s), "{s}");
                assert_eq!(fingerprint(s), fingerprint_of(s), "{s}, again");
            }
        }
    }
    let long = "y".repeat(REMEMBER_UP_TO + 1);
    assert_eq!(fingerprint(&long), fingerprint_of(&long));
    assert_eq!(fingerprint("Case"), fingerprint_of("Case"));
    assert_ne!(fingerprint("Case"), fingerprint("case"));
}

/// A body is rewritten only when it held a secret: otherwise the journal keeps it byte for
/// byte (its spacing and key order as the provider sent them).
#[test]
fn bodies_without_secrets_are_kept_as_sent() {
    let plain =
        r#"{ "issuer": "https://a.test/o/", "next": "https://a.test/cb?state=s1", "n": [1, {"x": "y"}] }"#;
    assert_eq!(redact_body_text(plain, "application/json"), None);
    let secret = r#"{"nested": {"Access_Token": "abc"}, "to": "https://m.test/cb?code=c1&state=s"}"#;
    let out = redact_body_text(secret, "application/json").expect("rewritten");
    assert!(!out.contains("\"abc\"") && !out.contains("code=c1"), "{out}");
    assert!(out.contains(&mask("abc")) && out.contains("state=s"), "{out}");
    assert_eq!(redact_body_text("a=1&b=2", "application/x-www-form-urlencoded"), None);
}

#[test]
fn markers_are_stable_and_idempotent() {
    let m = mask("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72");
    assert!(m.starts_with(MARK));
    assert_eq!(m, mask("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72"));
    assert_eq!(mask(&m), m);
    assert_eq!(fp_of(&m), fp_of("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72"));
    assert_eq!(short(&m).chars().count(), 5);
}

#[test]
fn fingerprint_is_at_hash() {
    // OIDC Core A.3: at_hash of this access token is 77QmUPtjPfzWtF2AnpK9RQ.
    assert_eq!(fingerprint("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
}

/// A query without a secret parameter is returned as it came, without being rebuilt; one with
/// a secret under an escaped name is still caught, and a personal name only under --redact-pii.
#[test]
fn queries_without_secrets_are_kept_and_escaped_names_still_caught() {
    for q in ["v=2024.8", "a=1&b=%20x&&c", "", "=", "codex=1&state=s&scope=openid+profile", "x=%zz"] {
        assert_eq!(redact_params(q), q);
    }
    let r = redact_params("co%64e=SECRET&state=s");
    assert!(!r.contains("SECRET") && r.ends_with("&state=s"), "{r}");
    let r = redact_params("access+token=a&access_token=SECRET");
    assert!(r.starts_with("access+token=a&access_token=%7Eredacted%7E"), "{r}");
    // Under --redact-pii a personal name is masked too, only then.
    assert_eq!(redact_params("email=a%40b.test"), "email=a%40b.test");
    let r = with_policy(Policy { pii: true, ..Default::default() }, || redact_params("email=a%40b.test"));
    assert!(r.starts_with("email=%7Eredacted%7Ek"), "{r}");
}

#[test]
fn query_strings_keep_all_but_secrets() {
    let q = "client_id=abc&code=SECRETCODE&state=s1&scope=openid%20profile";
    let r = redact_params(q);
    assert!(r.starts_with("client_id=abc&code=%7Eredacted%7E"));
    assert!(r.ends_with("&state=s1&scope=openid%20profile"));
    assert!(!r.contains("SECRETCODE"));
    let u = redact_url("https://m/cb?code=SECRETCODE&state=x#access_token=TOK&id_token=a.b.c");
    assert!(!u.contains("SECRETCODE") && !u.contains("TOK&"));
    assert!(u.contains("id_token=a.b.%7Eredacted%7E"));
}

#[test]
fn basic_auth_keeps_client_id() {
    let v = format!("Basic {}", STANDARD.encode("my-client:s3cr3t"));
    let r = redact_authorization(&v);
    let decoded = String::from_utf8(STANDARD.decode(r.strip_prefix("Basic ").unwrap()).unwrap()).unwrap();
    assert!(decoded.starts_with("my-client:~redacted~"));
    assert_eq!(redact_authorization("Bearer abc.def.ghi"), format!("Bearer {}", mask("abc.def.ghi")));
}

#[test]
fn json_bodies_mask_tokens_and_nested_urls() {
    let mut v = serde_json::json!({
        "access_token": "AT", "id_token": "h.p.sig", "token_type": "Bearer",
        "to": "https://m/cb?code=C0DE&state=s",
        "attrs": {"code": "C0DE", "state": "s"}
    });
    redact_json(&mut v);
    assert_eq!(v["access_token"], mask("AT"));
    assert_eq!(v["id_token"], format!("h.p.{}", mask("sig")));
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["attrs"]["code"], mask("C0DE"));
    assert_eq!(v["attrs"]["state"], "s");
    assert!(!v["to"].as_str().unwrap().contains("C0DE"));
}

#[test]
fn the_policy_keeps_signatures_or_masks_personal_data() {
    let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"1","email":"alice@example.test","name":"Alice"}"#);
    let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl");
    assert!(mask_jwt(&jwt).ends_with(&mask("c2lnbmF0dXJl")));
    assert!(mask_jwt(&jwt).contains(&payload), "claims stay readable");
    let keep = Policy { keep_signatures: true, pii: false };
    assert_eq!(with_policy(keep, || mask_jwt(&jwt)), jwt);
    let pii = Policy { keep_signatures: false, pii: true };
    let masked = with_policy(pii, || mask_jwt(&jwt));
    let claims = URL_SAFE_NO_PAD.decode(masked.split('.').nth(1).unwrap()).unwrap();
    let claims = String::from_utf8(claims).unwrap();
    assert!(!claims.contains("alice@example.test") && !claims.contains("Alice"), "{claims}");
    assert!(claims.contains(r#""sub":"1""#));
    let mut v = serde_json::json!({"email": "alice@example.test", "sub": "1"});
    with_policy(pii, || redact_json(&mut v));
    assert!(v["email"].as_str().unwrap().starts_with("~redacted~k"));
    let mut v = serde_json::json!({"email": "alice@example.test"});
    redact_json(&mut v);
    assert_eq!(v["email"], "alice@example.test", "personal data stays by default");
}

#[test]
fn cookies_and_html_forms() {
    // Cookies are keyed: stable within this run, not an unkeyed hash anyone could test.
    assert_eq!(redact_cookie_pairs("a=1; b=2"), format!("a={}; b={}", mask_keyed("1"), mask_keyed("2")));
    assert_ne!(mask_keyed("1"), mask("1"));
    assert!(mask_keyed("1").starts_with("~redacted~k"));
    assert!(redact_set_cookie("s=abc; Path=/; Secure").ends_with("; Path=/; Secure"));
    let html = r#"<form method="post"><input type="hidden" name="code" value="SECRETCODE123"><input name="state" value="st"></form>"#;
    let r = redact_body_text(html, "text/html").unwrap();
    assert!(!r.contains("SECRETCODE123"));
    assert!(r.contains(r#"value="st""#));
}

/// Headers are masked by name, whatever its case (a browser's HAR keeps `X-CSRFToken` as sent):
/// credentials, cookies, URLs carrying codes, and any name with `csrf` or `token` in it.
#[test]
fn headers_are_masked_by_name_in_any_case() {
    let heads = |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| Header::new(*n, *v)).collect::<Vec<_>>();
    let mut h = heads(&[
        ("Authorization", "Bearer abc.def.ghi"),
        ("X-CSRFToken", "csrf-value-1"),
        ("x-authentik-csrf", "csrf-value-2"),
        ("X-Upstream-Token", "token-value-3"),
        ("X-API-Key", "key-value-4"),
        ("Cookie", "authentik_session=sess-5"),
        ("Location", "https://m.test/cb?code=code-6&state=st"),
        ("Content-Type", "application/json"),
        ("x-tok", "kept-7"),
    ]);
    redact_headers(&mut h);
    let values: Vec<&str> = h.iter().map(|h| h.value.as_str()).collect();
    assert_eq!(
        values,
        [
            format!("Bearer {}", mask("abc.def.ghi")).as_str(),
            &mask("csrf-value-1"),
            &mask("csrf-value-2"),
            &mask("token-value-3"),
            &mask("key-value-4"),
            &format!("authentik_session={}", mask_keyed("sess-5")),
            &redact_url("https://m.test/cb?code=code-6&state=st"),
            "application/json",
            "kept-7",
        ]
    );
    assert!(!values[6].contains("code-6") && values[6].contains("state=st"), "{}", values[6]);
    assert_eq!(h[1].name, "X-CSRFToken", "names are kept as sent");
}

/// A secret compared across clear and masked forms: a keyed marker only with a keyed marker.
#[test]
fn secrets_compare_across_their_forms() {
    assert_eq!(same_secret("s3cret", "s3cret"), Some(true));
    assert_eq!(same_secret("s3cret", &mask("s3cret")), Some(true));
    assert_eq!(same_secret(&mask("other"), "s3cret"), Some(false));
    assert_eq!(same_secret(&mask_keyed("s3cret"), &mask_keyed("s3cret")), Some(true));
    assert_eq!(same_secret(&mask_keyed("s3cret"), &mask_keyed("other")), Some(false));
    assert_eq!(same_secret("s3cret", &mask_keyed("s3cret")), None);
    assert_eq!(same_secret(&mask_keyed("s3cret"), "s3cret"), None);
    assert!(is_keyed(&mask_keyed("x")) && !is_keyed(&mask("x")));
}

/// One decision per parameter, applied by every view: a state or nonce is shown, a code or
/// token only as its fingerprint, however it is spelled.
#[test]
fn each_parameter_is_decided_once() {
    for clear in ["state", "nonce", "redirect_uri", "client_id", "scope"] {
        assert!(!is_secret_param(clear), "{clear}");
        assert_eq!(shown(clear, "abc-waf", 64), "abc-waf");
    }
    for secret in ["code", "Access_Token", "refresh_token", "client_secret", "id_token", "code_verifier"] {
        assert!(is_secret_param(secret), "{secret}");
        assert_eq!(shown(secret, "SECRETVALUE", 64), short("SECRETVALUE"));
    }
    // A marker from a redacted trace is shown as a fingerprint even under a clear name.
    assert_eq!(shown("state", &mask("s"), 64), short("s"));
    assert_eq!(shown("state", &"a".repeat(70), 10), format!("{}… (70 characters)", "a".repeat(9)));
}
