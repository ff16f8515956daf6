//! Property tests: every decoder and parser the gateway and an offline analysis use, fed
//! structured hostile input (valid base64url around wrong JSON, huge numbers, nulls, arrays
//! where strings belong, control characters, truncated bodies). Whatever comes in: no panic,
//! no raw control character reaches the console, and a truncated capture never becomes an
//! error finding about the provider.

#![cfg(test)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{Analyzer, AnalyzerConfig, Event};
use crate::capture::{CapturedBody, Exchange, Header, RequestRecord, ResponseRecord};
use crate::output::console::{Console, Style};
use crate::rules::Severity;

/// Text with the characters that break terminals, parsers and HTML in it.
fn hostile_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\u{1b}[2J".to_owned()),
        Just("\n16:00:00.000 flow 9 · complete".to_owned()),
        Just("\r\u{7}\u{0}\u{85}\u{202e}\u{2028}".to_owned()),
        Just("%0a%1b&=?#;,\"'<>".to_owned()),
        Just("~redacted~".to_owned()),
        Just("https://authentik.test/application/o/mastodon/".to_owned()),
        "[a-zA-Z0-9._-]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(pieces, 0..4).prop_map(|v| v.concat())
}

/// JSON that is right in shape but wrong in type, size or content.
fn hostile_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1.7e308)),
        Just(json!(-0.5)),
        any::<i64>().prop_map(|n| json!(n)),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default())
}

/// Things that look like JWTs: valid base64url around wrong JSON, JWE shapes, garbage.
fn jwt_like() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just(json!({"alg": "RS256", "kid": "k"})),
        Just(json!({"alg": "none"})),
        Just(json!({"alg": "HS256"})),
        Just(json!({"alg": "RSA-OAEP", "enc": "A256GCM"})),
        hostile_json(),
    ];
    let claims = prop_oneof![
        prop::collection::btree_map(
            prop_oneof![
                Just("iss".to_owned()),
                Just("sub".to_owned()),
                Just("aud".to_owned()),
                Just("exp".to_owned()),
                Just("iat".to_owned()),
                Just("nbf".to_owned()),
                Just("nonce".to_owned()),
                Just("azp".to_owned()),
                Just("at_hash".to_owned()),
                Just("email".to_owned()),
                Just("preferred_username".to_owned()),
            ],
            hostile_json(),
            0..8
        )
        .prop_map(|m| Value::Object(m.into_iter().collect())),
        hostile_json(),
    ];
    prop_oneof![
        (header.clone(), claims, prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(h, c, sig)| format!(
            "{}.{}.{}",
            b64(&h),
            b64(&c),
            URL_SAFE_NO_PAD.encode(sig)
        )),
        header.prop_map(|h| format!("{}.a.b.c.d", b64(&h))),
        hostile_text(),
    ]
}

/// A JSON object with the given keys set to hostile (or plausible) values.
fn object_with(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (prop::sample::select(keys), prop_oneof![hostile_json(), jwt_like().prop_map(Value::String)]),
        0..10,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// One exchange at an OIDC endpoint with a hostile body, headers and capture state.
fn hostile_exchange() -> impl Strategy<Value = Exchange> {
    let endpoint = prop_oneof![
        Just(("GET", "/application/o/mastodon/.well-known/openid-configuration")),
        Just(("GET", "/application/o/mastodon/jwks/")),
        Just(("POST", "/application/o/token/")),
        Just(("GET", "/application/o/userinfo/")),
        Just(("GET", "/application/o/authorize/")),
        Just(("GET", "/api/v3/flows/executor/default/")),
        Just(("GET", "/auth/auth/openid_connect/callback")),
        Just(("POST", "/auth/auth/openid_connect")),
    ];
    let body = prop_oneof![
        object_with(&[
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "id_token_signing_alg_values_supported",
            "response_types_supported",
            "subject_types_supported",
        ]),
        object_with(&[
            "access_token",
            "token_type",
            "id_token",
            "expires_in",
            "scope",
            "error",
            "error_description"
        ]),
        object_with(&["keys", "kty", "kid", "alg", "n", "e", "crv", "x"]),
        object_with(&["component", "to", "url", "attrs", "sub", "email", "email_verified"]),
        hostile_json(),
    ]
    .prop_map(|v| serde_json::to_vec(&v).unwrap_or_default());
    let raw_body = prop_oneof![body, prop::collection::vec(any::<u8>(), 0..64)];
    let query = prop::collection::vec(
        (
            prop::sample::select(
                &["state", "code", "nonce", "client_id", "redirect_uri", "scope", "iss", "error"][..],
            ),
            hostile_text(),
        ),
        0..6,
    )
    .prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| {
                format!("{k}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    (
        endpoint,
        query,
        raw_body,
        hostile_text(),
        jwt_like(),
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|((method, path), query, resp_body, text, jwt, status, truncated, redirect, basic)| {
            let status = [200, 200, 302, 400, 401, 403, 500, status % 600][(status % 8) as usize];
            let mut headers = vec![
                Header::new(
                    "content-type",
                    if text.len() % 2 == 0 { "application/json" } else { "text/html" },
                ),
                Header::new("www-authenticate", text.clone()),
                Header::new("date", text.clone()),
            ];
            if redirect {
                headers.push(Header::new("location", format!("https://mastodon.test/cb?{query}#{text}")));
            }
            let req_headers = vec![
                Header::new("authorization", format!("Basic {}", STANDARD.encode(&basic))),
                Header::new("cookie", text.clone()),
                Header::new("user-agent", text.clone()),
            ];
            let mut request = RequestRecord::new(
                method,
                "https",
                "authentik.test",
                format!("{path}?{query}"),
                "HTTP/1.1",
                req_headers,
            );
            request.body = CapturedBody {
                wire_len: query.len() as u64,
                bytes: format!("grant_type=authorization_code&{query}&code_verifier={jwt}").into(),
                ..Default::default()
            };
            let wire_len = resp_body.len() as u64 + if truncated { 1000 } else { 0 };
            Exchange {
                response: Some(ResponseRecord {
                    status,
                    version: "HTTP/1.1".into(),
                    headers,
                    body: CapturedBody { bytes: resp_body.into(), wire_len, truncated, ..Default::default() },
                }),
                total_ms: 3,
                ..Exchange::begin(1, request, 1_795_600_000_000)
            }
        })
}

/// Renders events as the console would (no colour), collecting the text.
fn render(events: &[Event]) -> String {
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
    let buf = Buf::default();
    let mut c = Console::new(Box::new(buf.clone()), Style { color: false }, true);
    for e in events {
        c.event(e);
    }
    String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned()
}

fn console_line_ok(l: &str) -> bool {
    let ts = l.len() > 13 && l.as_bytes()[2] == b':' && l.as_bytes()[8] == b'.' && l.as_bytes()[12] == b' ';
    ts || l.starts_with("              ") || l.starts_with("   ")
}

proptest! {
    // PROPTEST_CASES=5000 for a longer hunt; 256 by default keeps `cargo test` quick.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_exchanges_never_panic_inject_or_blame_a_truncated_capture(
        exchanges in prop::collection::vec(hostile_exchange(), 1..6)
    ) {
        let run = |exchanges: &[Exchange]| {
            let mut a = Analyzer::new(AnalyzerConfig::default());
            let mut events = vec![];
            for (i, ex) in exchanges.iter().enumerate() {
                let mut ex = ex.clone();
                ex.id = i as u64 + 1;
                ex.started_ms += i as u64 * 10;
                events.extend(a.ingest(&ex));
            }
            events.extend(a.finish(1_795_700_000_000));
            events
        };
        let events = run(&exchanges);
        let text = render(&events);
        prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "raw control character in {text:?}");
        for l in text.lines() {
            prop_assert!(console_line_ok(l), "a line that is not the console's: {l:?}");
        }
        // What a truncated body held never shows in a finding: the same run with those bodies
        // emptied gives the same findings.
        let emptied: Vec<Exchange> = exchanges
            .iter()
            .cloned()
            .map(|mut ex| {
                if let Some(r) = ex.response.as_mut().filter(|r| r.body.truncated) {
                    r.body.bytes = Default::default();
                }
                ex
            })
            .collect();
        let key = |evs: &[Event]| -> Vec<(crate::rules::RuleId, Severity, Option<u64>)> {
            evs.iter().filter_map(|e| match e {
                Event::Finding(f) => Some((f.rule, f.severity, f.exchange)),
                _ => None,
            }).collect()
        };
        prop_assert_eq!(key(&events), key(&run(&emptied)));
    }

    #[test]
    fn text_parsers_never_panic(s in hostile_text(), v in hostile_json(), jwt in jwt_like()) {
        let _ = crate::oidc::www_authenticate::WwwAuthenticate::parse(&s);
        let _ = crate::oidc::messages::parse_pairs(&s);
        let _ = crate::oidc::messages::AuthorizationResponse::from_form_post_html(&s);
        let _ = crate::oidc::messages::AuthorizationResponse::from_executor(&v);
        let _ = crate::oidc::messages::AuthorizationResponse::from_redirect_url(&s, crate::oidc::messages::ResponseVia::Location);
        let _ = crate::oidc::url::split_url(&s);
        let _ = crate::oidc::url::host_path(&s);
        if let Ok(j) = crate::oidc::jwt::DecodedJwt::decode(&jwt) {
            let _ = (j.alg(), j.kid(), j.audiences(), j.claim_time("exp"));
            let _ = crate::verify::KeyStore::default().verify(&j, None);
            let _ = crate::verify::verify_hmac(&j, Some(("s", "test")));
        }
        let _ = crate::redact::redact_url(&s);
        let shown = crate::text::printable(&s);
        prop_assert!(!shown.chars().any(|c| c.is_control()));
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_str(&s) {
            h.append(http::header::COOKIE, v.clone());
            h.append(http::header::COOKIE, v);
            crate::proxy::headers::join_cookies(&mut h);
        }
    }

    #[test]
    fn a_mastodon_env_file_never_panics(lines in prop::collection::vec(
        (prop::sample::select(&["OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_SCOPE", "OIDC_UID_FIELD", "export OIDC_REDIRECT_URI", "LOCAL_DOMAIN", "# x"][..]),
         hostile_text(), prop::sample::select(&["\n", "\r\n", " \n", "\"\n"][..])), 0..8)
    ) {
        let text: String = lines.iter().map(|(k, v, end)| format!("{k}={v}{end}")).collect();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        let _ = crate::expect::Expectations::from_env_file(f.path());
    }
}
