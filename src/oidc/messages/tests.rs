//! Decoders against authentik-shaped fixtures (tests/fixtures/authentik).

use super::token::ClientAuthMethod;
use super::*;
use crate::capture::{Header, HeaderLookup, RequestRecord, ResponseRecord};
use crate::oidc::www_authenticate::WwwAuthenticate;

fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/authentik/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn body_of(v: &Value) -> CapturedBody {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string(other).unwrap(),
    };
    CapturedBody { wire_len: text.len() as u64, bytes: text.into(), ..Default::default() }
}

fn headers(v: &Value) -> Vec<Header> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Header::new(h[0].as_str().unwrap(), h[1].as_str().unwrap()))
        .collect()
}

pub(crate) fn req_of(f: &Value) -> RequestRecord {
    let r = &f["request"];
    let url = r["url"].as_str().unwrap();
    let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or("/".into());
    RequestRecord {
        method: r["method"].as_str().unwrap().into(),
        scheme: "https".into(),
        host: "authentik.company".into(),
        path,
        version: "HTTP/1.1".into(),
        headers: headers(&r["headers"]),
        body: body_of(&r["body"]),
    }
}

pub(crate) fn resp_of(f: &Value) -> ResponseRecord {
    let r = &f["response"];
    ResponseRecord {
        status: r["status"].as_u64().unwrap() as u16,
        version: "HTTP/1.1".into(),
        headers: headers(&r["headers"]),
        body: body_of(&r["body"]),
    }
}

#[test]
fn authentik_discovery() {
    let f = fixture("discovery.json");
    let mut p = vec![];
    let d = Discovery::decode(
        "https://authentik.company/application/o/mastodon/.well-known/openid-configuration",
        &resp_of(&f),
        &mut p,
    );
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(d.issuer.as_deref(), Some("https://authentik.company/application/o/mastodon/"));
    assert_eq!(d.token_endpoint.as_deref(), Some("https://authentik.company/application/o/token/"));
    assert_eq!(d.jwks_uri.as_deref(), Some("https://authentik.company/application/o/mastodon/jwks/"));
    assert_eq!(d.id_token_signing_alg_values_supported, vec!["RS256"]);
    let hs = Discovery::decode("x", &resp_of(&fixture("discovery-hs256.json")), &mut p);
    assert_eq!(hs.id_token_signing_alg_values_supported, vec!["HS256"]);
}

#[test]
fn authentik_jwks_and_empty_jwks() {
    let mut p = vec![];
    let j = Jwks::decode("u", &resp_of(&fixture("jwks.json")), &mut p);
    assert_eq!(j.keys.len(), 1);
    assert_eq!(j.keys[0].kty.as_deref(), Some("RSA"));
    assert_eq!(j.keys[0].alg.as_deref(), Some("RS256"));
    let e = Jwks::decode("u", &resp_of(&fixture("jwks-empty.json")), &mut p);
    assert!(e.no_keys_member && e.keys.is_empty());
    assert!(p.is_empty());
}

#[test]
fn executor_redirect_and_autosubmit_carry_the_code() {
    let f = fixture("executor-redirect.json");
    let r = AuthorizationResponse::from_executor(&f["response"]["body"]).unwrap();
    assert_eq!(r.via, ResponseVia::Executor);
    assert_eq!(r.redirect_to, "https://mastodon.company/auth/auth/openid_connect/callback");
    assert_eq!(r.code.as_deref().map(str::len), Some(32));
    assert_eq!(r.state.as_deref(), Some("3f1c2a9be47d0c5581a6e2d94b07c3fe"));
    let a = AuthorizationResponse::from_executor(&fixture("executor-autosubmit.json")["response"]["body"])
        .unwrap();
    assert_eq!(a.via, ResponseVia::FormPost);
    assert_eq!(a.code.as_deref(), Some("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72"));
}

#[test]
fn silent_authorize_location_and_error_redirects() {
    let f = fixture("authorize-request-silent.json");
    let resp = resp_of(&f);
    let r = AuthorizationResponse::from_redirect_url(resp.header("location").unwrap(), ResponseVia::Location)
        .unwrap();
    assert_eq!(r.code.as_deref(), Some("5d3c8f0a6b1e4c2d9f7a0b8e1c3d5f72"));
    let e = AuthorizationResponse::from_redirect_url(
        "https://m/cb?error=access_denied&error_description=no%20way&state=s",
        ResponseVia::Location,
    )
    .unwrap();
    assert_eq!(e.error.as_deref(), Some("access_denied"));
    assert_eq!(e.error_description.as_deref(), Some("no way"));
    let frag = AuthorizationResponse::from_redirect_url(
        "https://m/cb#id_token=a.b.c&state=s",
        ResponseVia::Location,
    )
    .unwrap();
    assert_eq!(frag.via, ResponseVia::Fragment);
    assert!(AuthorizationResponse::from_redirect_url("https://m/other?x=1", ResponseVia::Location).is_none());
    let html = r#"<html><body onload="document.forms[0].submit()"><form method="post" action="https://m/cb"><input type="hidden" name="code" value="c1"/><input type="hidden" name="state" value="s&amp;1"/></form></body></html>"#;
    let fp = AuthorizationResponse::from_form_post_html(html).unwrap();
    assert_eq!((fp.code.as_deref(), fp.state.as_deref()), (Some("c1"), Some("s&1")));
}

#[test]
fn authorize_request_params() {
    let f = fixture("authorize-request.json");
    let a = AuthorizeRequest::from_url(f["request"]["url"].as_str().unwrap());
    assert_eq!(a.endpoint, "https://authentik.company/application/o/authorize/");
    assert_eq!(a.client_id.as_deref(), Some("FAKEmastodonClientID0123456789abcdefghij"));
    assert_eq!(a.redirect_uri.as_deref(), Some("https://mastodon.company/auth/auth/openid_connect/callback"));
    assert_eq!(a.scopes(), vec!["openid", "profile", "email"]);
    assert_eq!(a.nonce.as_deref().map(str::len), Some(32));
}

#[test]
fn token_request_basic_and_post() {
    let mut p = vec![];
    let b = TokenRequest::decode(&req_of(&fixture("token-request-basic.json")), &mut p);
    assert_eq!(b.client_auth.method, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(b.client_auth.client_id.as_deref(), Some("FAKEmastodonClientID0123456789abcdefghij"));
    assert!(b.client_auth.secret.as_ref().unwrap().expose().starts_with("FAKEsecretDoNotUse"));
    assert_eq!(b.grant_type.as_deref(), Some("authorization_code"));
    assert_eq!(b.scope.as_deref(), Some("openid profile email"));
    let post = TokenRequest::decode(&req_of(&fixture("token-request-post.json")), &mut p);
    assert_eq!(post.client_auth.method, ClientAuthMethod::ClientSecretPost);
    assert!(p.is_empty(), "{p:?}");
    // Broken Basic header: a problem, not a panic.
    let mut r = req_of(&fixture("token-request-basic.json"));
    r.headers.retain(|h| h.name != "Authorization");
    r.headers.push(Header::new("Authorization", "Basic !!!"));
    TokenRequest::decode(&r, &mut p);
    assert_eq!(p[0].at, ProblemAt::Authorization);
}

#[test]
fn token_responses_rs256_hs256_errors_and_garbage() {
    let mut p = vec![];
    let t = TokenResponse::decode(&resp_of(&fixture("token-response.json")), &mut p);
    assert_eq!(t.token_type.as_deref(), Some("Bearer"));
    assert_eq!(t.id_token_decoded.as_ref().unwrap().alg(), Some("RS256"));
    assert_eq!(t.cache_control.as_deref(), Some("no-store"));
    let h = TokenResponse::decode(&resp_of(&fixture("token-response-hs256.json")), &mut p);
    assert_eq!(h.id_token_decoded.as_ref().unwrap().alg(), Some("HS256"));
    assert!(h.id_token_decoded.as_ref().unwrap().kid().is_none());
    let e = TokenResponse::decode(&resp_of(&fixture("token-error-invalid-grant.json")), &mut p);
    assert_eq!(e.error.as_deref(), Some("invalid_grant"));
    assert!(p.is_empty(), "{p:?}");
    let mut garbage = resp_of(&fixture("token-response.json"));
    garbage.body = CapturedBody { bytes: "<html>login</html>".into(), ..Default::default() };
    let g = TokenResponse::decode(&garbage, &mut p);
    assert!(g.not_json);
    assert_eq!(p[0].at, ProblemAt::TokenResponseBody);
}

#[test]
fn userinfo_ok_401_403() {
    let mut p = vec![];
    let f = fixture("userinfo-ok.json");
    let rq = UserinfoRequest::decode(&req_of(&f));
    assert_eq!(rq.token_source, TokenSource::Header);
    let ok = UserinfoResponse::decode(&resp_of(&f), &mut p);
    assert!(ok.claims.unwrap().contains_key("sub"));
    let u401 = UserinfoResponse::decode(&resp_of(&fixture("userinfo-401.json")), &mut p);
    assert_eq!(u401.www_authenticate.unwrap().error.as_deref(), Some("invalid_token"));
    let u403 = UserinfoResponse::decode(&resp_of(&fixture("userinfo-403-insufficient-scope.json")), &mut p);
    let w = u403.www_authenticate.unwrap();
    assert_eq!(w.error.as_deref(), Some("insufficient_scope"));
    assert!(w.scheme.is_none());
    assert!(p.is_empty());
    let b = WwwAuthenticate::parse(r#"Bearer realm="x", error="invalid_token", error_description="expired""#);
    assert_eq!((b.scheme.as_deref(), b.error.as_deref()), (Some("Bearer"), Some("invalid_token")));
}

#[test]
fn provider_error_pages() {
    let r = ProviderErrorPage::detect(&resp_of(&fixture("authorize-error-redirect-uri.json"))).unwrap();
    assert_eq!(r.kind, RefusalKind::RedirectUri);
    assert!(r.message.unwrap().contains("mismatching redirection URI"));
    let c = ProviderErrorPage::detect(&resp_of(&fixture("authorize-error-client-id.json"))).unwrap();
    assert_eq!(c.kind, RefusalKind::ClientId);
}
