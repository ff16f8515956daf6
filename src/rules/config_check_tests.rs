//! Unit tests of `check-config`'s judgement (beside it: `config_check.rs` keeps the rules on their pages).

use super::*;

fn ids(c: &ConfigCheck<'_>) -> Vec<(&'static str, Severity)> {
    c.findings.iter().map(|f| (f.rule.as_str(), f.severity)).collect()
}

#[test]
fn discovery_url_is_built_as_the_gem_does_and_shapes_are_judged() {
    let env = EnvFile::parse(
        "OIDC_ENABLED=true\nOIDC_ISSUER=https://a.test/application/o/m\nOIDC_SCOPE=openid,profile,email\nOIDC_UID_FIELD=preferred_username\nWEB_DOMAIN=s.test\nOIDC_REDIRECT_URI=https://s.test/auth/auth/openid_connect/callback\n",
    );
    let (c, url) = ConfigCheck::new(&env, None);
    assert_eq!(url.as_deref(), Some("https://a.test/application/o/m/.well-known/openid-configuration"));
    assert_eq!(ids(&c), vec![("CONFIG-UID-FIELD", Severity::Info)]);
    let env = EnvFile::parse(
        "OIDC_ISSUER=https://a.test/application/o/m/.well-known/openid-configuration\nOIDC_SCOPE=openid profile email\n",
    );
    let (c, _) = ConfigCheck::new(&env, None);
    let shape = c.findings.iter().find(|f| f.rule == RuleId::ConfigIssuerShape).unwrap();
    assert_eq!(shape.expected.as_deref(), Some("https://a.test/application/o/m/"));
    assert_eq!(shape.field.as_deref(), Some("OIDC_ISSUER (line 1)"));
    assert!(ids(&c).contains(&("CONFIG-OIDC-DISABLED", Severity::Error)), "OIDC_ENABLED is unset");
    assert!(ids(&c).contains(&("CONFIG-SCOPE", Severity::Warning)));
    assert!(ids(&c).contains(&("CONFIG-REDIRECT-URI-MISMATCH", Severity::Error)));
}

/// What check-config read, as Mastodon's dotenv reads it: a cut value is an error with both
/// forms shown (a secret only by length), a trailing comment is fine, a placeholder is an
/// error, a file without OIDC_ lines says so once.
#[test]
fn says_what_it_read() {
    let env = EnvFile::parse(
        "OIDC_ENABLED=true\nOIDC_DISPLAY_NAME=Log#in\nOIDC_CLIENT_SECRET=s3cr#et\nOIDC_CLIENT_ID=abc # from authentik\n",
    );
    let (c, _) = ConfigCheck::new(&env, None);
    let syntax: Vec<&Finding> = c.findings.iter().filter(|f| f.rule == RuleId::ConfigEnvSyntax).collect();
    type Shown<'a> = (Severity, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let got: Vec<Shown> = syntax
        .iter()
        .map(|f| (f.severity, f.expected.as_deref(), f.seen.as_deref(), f.hint.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Severity::Error,
                Some("Log#in"),
                Some("Log"),
                Some("cut at `#`: the rest of the line is read as a comment")
            ),
            (Severity::Error, None, Some("4 characters, of the 7 typed (cut at `#`)"), None),
            (Severity::Info, None, None, None),
        ]
    );
    assert_eq!(syntax[0].fix, "OIDC_DISPLAY_NAME='Log#in' (single quotes keep the `#`; restart Mastodon)");
    assert!(!syntax[1].fix.contains("s3cr") && !syntax[1].why.contains("s3cr"), "{:?}", syntax[1]);
    assert_eq!(
        syntax[2].message,
        "line 4: `# from authentik` is a comment: Mastodon reads OIDC_CLIENT_ID as `abc` (fine, unless the value really goes on past the space: then single-quote it)"
    );
    assert_eq!(
        as_read(&env),
        [
            "line 1    OIDC_ENABLED        true",
            "line 2    OIDC_DISPLAY_NAME   Log",
            "line 3    OIDC_CLIENT_SECRET  (secret, 4 characters)",
            "line 4    OIDC_CLIENT_ID      abc",
        ]
    );

    let env = EnvFile::parse(
        "OIDC_ENABLED=true\nOIDC_ISSUER=https://authentik.company/application/o/<slug>/\nOIDC_CLIENT_ID=<Client ID from authentik>\nOIDC_CLIENT_SECRET=changeme\nOIDC_SCOPE=openid,profile,email\nOIDC_UID_FIELD=preferred_username\nWEB_DOMAIN=s.test\nOIDC_REDIRECT_URI=https://s.test/auth/auth/openid_connect/callback\n",
    );
    let (c, url) = ConfigCheck::new(&env, None);
    assert_eq!(url, None, "a placeholder issuer is not fetched");
    let placeholders: Vec<(&str, Option<&str>)> = c
        .findings
        .iter()
        .filter(|f| f.rule == RuleId::ConfigPlaceholder)
        .map(|f| (f.field.as_deref().unwrap(), f.seen.as_deref()))
        .collect();
    assert_eq!(
        placeholders,
        [
            ("OIDC_CLIENT_ID (line 3)", Some("<Client ID from authentik>")),
            ("OIDC_CLIENT_SECRET (line 4)", None),
            ("OIDC_ISSUER (line 2)", Some("https://authentik.company/application/o/<slug>/")),
        ]
    );
    assert!(
        c.findings.iter().all(|f| f.rule == RuleId::ConfigPlaceholder || f.severity == Severity::Info),
        "{:?}",
        ids(&c)
    );

    let env = EnvFile::parse("LOCAL_DOMAIN=s.test\nDB_HOST=db\n");
    let (c, url) = ConfigCheck::new(&env, None);
    assert_eq!((ids(&c), url), (vec![("CONFIG-OIDC-DISABLED", Severity::Error)], None));
    for v in ["<x>", "https://<WEB_DOMAIN>/cb", "{{ secret }}", "CHANGEME", "your-client-id", "..."] {
        assert!(is_placeholder(v), "{v}");
    }
    for v in ["abc", "https://a.test/application/o/m/", "your.domain.example", "a<b"] {
        assert!(!is_placeholder(v), "{v}");
    }
}

#[test]
fn hostile_discovery_answers_are_findings_not_panics() {
    let env = EnvFile::parse("OIDC_ISSUER=https://a.test/x/\n");
    for body in
        [&b"not json"[..], b"[]", b"{\"issuer\": 5}", b"{\"issuer\":\"https://a.test/x/\",\"jwks_uri\":[1]}"]
    {
        let (mut c, _) = ConfigCheck::new(&env, None);
        let next = c.discovery(&Fetched { url: "u".into(), result: Ok((200, body.to_vec())) });
        assert!(next.is_none());
        c.jwks(&Fetched { url: "j".into(), result: Ok((200, b"{\"keys\":{}}".to_vec())) });
    }
}
