//! Every demo fault, end to end: the fault applied to the demo deployment, one login through a
//! real gateway, and the rule ids at warning or error, with their severities, compared with what
//! `--list-faults` says the fault raises.

use std::collections::BTreeSet;

use oidc_tap::analysis::{Analyzer, AnalyzerConfig, Event};
use oidc_tap::demo::faults::{FAULTS, combine};
use oidc_tap::demo::rig::{Rig, Scenario};
use oidc_tap::rules::Severity;
use oidc_tap::session::Session;

/// (rule id, severity) at warning or above for one login with `names` applied.
async fn raised(names: &[&str]) -> BTreeSet<(String, Severity)> {
    let mut sc = Scenario::clean();
    combine(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &mut sc).unwrap();
    verdicts(sc).await.into_iter().map(|(rule, severity, _, _)| (rule, severity)).collect()
}

fn listed(rules: &[(&str, Severity)]) -> BTreeSet<(String, Severity)> {
    rules.iter().map(|(r, s)| (r.to_string(), *s)).collect()
}

#[tokio::test]
async fn every_fault_raises_exactly_the_rules_it_lists() {
    oidc_tap::tls::install_crypto_provider();
    let mut wrong = Vec::new();
    for f in FAULTS {
        let got = raised(&[f.name]).await;
        let want = listed(f.rules);
        if got != want {
            wrong.push(format!("{}: lists {:?}, raised {:?}", f.name, want, got));
        }
    }
    assert!(wrong.is_empty(), "{} faults differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// The findings of one login at warning or above: (rule, severity, follows, fix).
async fn verdicts(sc: Scenario) -> Vec<(String, Severity, bool, String)> {
    oidc_tap::demo::rig::run_login(sc)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Finding(f) if f.severity >= Severity::Warning => {
                Some((f.rule.as_str().to_owned(), f.severity, f.follows.is_some(), f.fix.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Faults whose printed fixes lie outside the demo: what they ask for is a host's clock, a
/// proxy or cache rewriting traffic, the user's browser, a patched client, Mastodon's load.
const OUT_OF_REACH: &[&str] = &[
    "expired-id-token",
    "tampered-signature",
    "state-altered",
    "discovery-issuer-no-slash",
    "expired",
    "iat-future",
    "nbf-future",
    "wrong-key",
    "invalid-grant",
    "code-reused",
    "at-hash-mismatch",
    "pkce-mismatch",
    "code-altered",
    "alg-unadvertised",
    "no-id-token",
    "token-type",
    "clock-skew",
    "discovery-field-missing",
    "discovery-field-type",
    "no-state",
    "iss-param-mismatch",
    "id-token-malformed",
];

/// A reader follows every fix the demo prints (each cause's, in order; a consequence says what
/// it follows from and has none of its own) by changing the setting it names, with the value it
/// prints, and the next login is clean. Faults whose fix is outside the demo's reach are listed
/// above and must say what they need.
#[tokio::test]
async fn following_every_printed_fix_ends_with_a_clean_login() {
    use oidc_tap::demo::remedy::{Step, follow};
    oidc_tap::tls::install_crypto_provider();
    let (mut wrong, mut unreachable) = (vec![], vec![]);
    for fault in FAULTS.iter().filter(|f| f.name != "clean") {
        let mut sc = Scenario::clean();
        combine(&[fault.name.to_string()], &mut sc).unwrap();
        let before = verdicts(sc.clone()).await;
        let mut steps = vec![];
        for (rule, _, follows, fix) in &before {
            if *follows {
                assert!(fix.is_empty(), "{}: {rule} follows from a cause and repeats a fix", fault.name);
                continue;
            }
            let followed = follow(fix, &mut sc);
            if followed.is_empty() {
                wrong
                    .push(format!("{}: {rule}'s fix names nothing the demo can change: {fix:?}", fault.name));
            }
            steps.extend(followed);
        }
        let after = verdicts(sc).await;
        let out_of_reach = steps.iter().any(|s| matches!(s, Step::OutOfReach(_)));
        match (after.is_empty(), OUT_OF_REACH.contains(&fault.name)) {
            (true, false) => {}
            (false, true) if out_of_reach => unreachable.push(fault.name),
            (false, true) => wrong.push(format!(
                "{}: listed out of reach but its fixes say nothing of it: {steps:?}",
                fault.name
            )),
            (true, true) => {
                wrong.push(format!("{}: listed out of reach, but following {steps:?} fixed it", fault.name))
            }
            (false, false) => wrong.push(format!(
                "{}: after following {steps:?} the next login still raised {:?}",
                fault.name,
                after.iter().map(|(r, s, _, _)| format!("{r} ({s:?})")).collect::<Vec<_>>()
            )),
        }
    }
    assert!(wrong.is_empty(), "{} faults:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(unreachable, OUT_OF_REACH);
}

#[tokio::test]
async fn faults_combine_in_one_login() {
    oidc_tap::tls::install_crypto_provider();
    // Both faults show: the skewed clock does not stop Mastodon, the unverified e-mail is seen.
    let got = raised(&["clock-skew", "email-unverified"]).await;
    assert_eq!(
        got,
        listed(&[("CLOCK-SKEW", Severity::Error), ("MASTODON-EMAIL-UNVERIFIED", Severity::Warning)])
    );
}

/// The README's fault table is `faults::markdown_table()` byte for byte (`UPDATE_README=1 cargo
/// test readme_fault_table` rewrites it).
#[test]
fn readme_fault_table_is_the_fault_list() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find("| fault | what it breaks |").expect("README has the fault table");
    let end = start + readme[start..].find("\n\n").expect("table ends with a blank line") + 1;
    let table = oidc_tap::demo::faults::markdown_table();
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(path, format!("{}{table}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "README fault table is stale: run UPDATE_README=1 cargo test readme_fault_table"
    );
}

/// A trace from a deployment unlike the demo's (its own provider host, slug, client and
/// Mastodon domain) is reproduced under those names.
#[tokio::test]
async fn reproduce_takes_over_the_traces_deployment() {
    oidc_tap::tls::install_crypto_provider();
    let mut sc = Scenario::for_web_domain("social.example");
    oidc_tap::demo::derive::Derived {
        issuer: Some("https://sso.example/application/o/social/".into()),
        slug: Some("social".into()),
        client_id: Some("customerClientID42".into()),
        ..Default::default()
    }
    .apply(&mut sc);
    combine(&["wrong-aud".to_owned()], &mut sc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("customer.jsonl");
    let journal = oidc_tap::output::journal::Journal::open(&trace, true).unwrap();
    let expectations = sc.expectations();
    let session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations, ..Default::default() }),
        None,
        Some(journal),
        1 << 20,
    );
    let rig = Rig::start(sc, session).await.unwrap();
    rig.login().await.unwrap();
    rig.finish().await.unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["reproduce", trace.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "  issuer       https://sso.example/application/o/social/\n",
        "  client_id    customerClientID42\n",
        "  redirect_uri https://social.example/auth/auth/openid_connect/callback\n",
        "reproduced 1/1: IDT-AUD-MISMATCH\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

/// `demo --rp NAME`: every fault that applies to another application's client raises the same
/// rule ids as Mastodon's login, every finding reads in that application's words (no
/// `.env.production` variable in a fix) and predicts only what that client does. Grafana and
/// Nextcloud have no package here: their clients are emulated from their source (callback
/// path, scopes, PKCE, nonce, client authentication: `src/rp/grafana.rs`, `nextcloud.rs`).
#[tokio::test]
async fn every_fault_that_applies_reads_in_each_applications_words() {
    oidc_tap::tls::install_crypto_provider();
    let mut wrong = Vec::new();
    for name in ["gitlab", "synapse", "grafana", "nextcloud", "generic"] {
        let rp = oidc_tap::rp::by_name(name).unwrap();
        // What another client does not do, or Mastodon's account mapping that it does not have.
        let applies = |rule: &str| {
            let not_applying = (rule.starts_with("MASTODON-USERNAME") || rule.starts_with("MASTODON-UID"))
                && !rp.account.mastodon_usernames
                || rule.starts_with("MASTODON-EMAIL") && !rp.account.needs_email
                || rule == "MASTODON-EMAIL-UNVERIFIED" && !rp.account.reads_email_verified
                || rule.starts_with("IDT-NONCE") && !rp.client.nonce
                || rule == "CONFIG-SCOPE" && !rp.account.needs_email
                || rule.starts_with("USERINFO-") && !rp.client.userinfo
                // No state and no nonce: nothing joins the callback to its authorize request.
                || rule == "AUTHZ-NO-STATE" && !rp.client.nonce
                // No callback route known (generic): its shape is not judged.
                || rule == "CONFIG-REDIRECT-URI-MISMATCH" && rp.callback.is_empty()
                || rp.tolerates(rule).is_some();
            !not_applying
        };
        // A callback no profile knows is not seen as the relying party's answer: the gateway
        // cannot tell a refused login from an unfinished one (FLOW-INCOMPLETE).
        let unseen_callback = rp.callback.is_empty();
        let mut checked = 0;
        for f in FAULTS {
            if f.rules.iter().any(|(r, _)| !applies(r)) {
                continue;
            }
            let mut sc = Scenario::clean_for(rp);
            combine(&[f.name.to_string()], &mut sc).unwrap();
            let events = oidc_tap::demo::rig::run_login(sc).await.unwrap();
            let findings: Vec<_> = events
                .iter()
                .filter_map(|e| if let Event::Finding(f) = e { Some(f) } else { None })
                .collect();
            let got: BTreeSet<(String, Severity)> = findings
                .iter()
                .filter(|x| x.severity >= Severity::Warning)
                .filter(|x| !(unseen_callback && x.rule == "FLOW-INCOMPLETE"))
                .map(|x| (x.rule.to_string(), x.severity))
                .collect();
            let mut want = listed(f.rules);
            if unseen_callback {
                want.remove(&("FLOW-INCOMPLETE".to_string(), Severity::Warning));
            }
            if got != want {
                wrong.push(format!("{name} {}: lists {want:?}, raised {got:?}", f.name));
            }
            for x in &findings {
                if x.rp != Some(name) {
                    wrong.push(format!("{name} {}: {} not in {name}'s words", f.name, x.rule));
                }
                let words = format!("{} {} {}", x.fix, x.message, x.mastodon.as_deref().unwrap_or(""));
                if words.contains("OIDC_") || words.contains(".env.production") || words.contains('⟨') {
                    wrong.push(format!("{name} {}: {} says {words:?}", f.name, x.rule));
                }
            }
            checked += 1;
        }
        assert!(checked >= 40, "{name}: only {checked} faults apply");
    }
    assert!(wrong.is_empty(), "{} differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Grafana and Nextcloud have no package here: their logins are the demo's client emulated
/// from their source (`demo --rp`), and what each finding predicts is what that source does —
/// Grafana never verifies the ID token (generic_oauth.go), user_oidc checks the nonce only
/// when the token has one and answers 403 with its own sentence (LoginController.php).
#[tokio::test]
async fn grafana_and_nextcloud_logins_predict_what_their_source_does() {
    oidc_tap::tls::install_crypto_provider();
    // (profile, fault, rule, prediction starts, fix contains)
    let cases = [
        (
            "grafana",
            "wrong-aud",
            "IDT-AUD-MISMATCH",
            "signs the user in anyway: Grafana does not verify the ID token",
            "client_id",
        ),
        ("grafana", "tampered-signature", "IDT-SIGNATURE-INVALID", "signs the user in anyway", ""),
        ("grafana", "state-altered", "AUTHZ-STATE-MISMATCH", "“Login failed: invalid state”", ""),
        (
            "grafana",
            "wrong-client-secret",
            "TOKEN-ERROR",
            "“Login failed: failed to exchange the code”",
            "client_secret",
        ),
        (
            "nextcloud",
            "wrong-aud",
            "IDT-AUD-MISMATCH",
            "403 “The audience does not match ours”",
            "--clientid",
        ),
        (
            "nextcloud",
            "nonce-missing",
            "IDT-NONCE-MISSING",
            "signs the user in: user_oidc checks the nonce only when the token has one",
            "",
        ),
        (
            "nextcloud",
            "wrong-iss",
            "IDT-ISS-MISMATCH",
            "403 “The issuer does not match the one from the discovery endpoint”",
            "",
        ),
        ("nextcloud", "expired-id-token", "IDT-EXPIRED", "403 “The received token is expired.”", ""),
    ];
    let mut wrong = vec![];
    for (name, fault, rule, says, fix) in cases {
        let mut sc = Scenario::clean_for(oidc_tap::rp::by_name(name).unwrap());
        combine(&[fault.to_string()], &mut sc).unwrap();
        let events = oidc_tap::demo::rig::run_login(sc).await.unwrap();
        let f = events.iter().find_map(|e| match e {
            Event::Finding(f) if f.rule == rule => Some(f),
            _ => None,
        });
        match f {
            None => wrong.push(format!("{name} {fault}: no {rule}")),
            Some(f) => {
                let said = f.mastodon.as_deref().unwrap_or("");
                if !said.starts_with(says) || !f.fix.contains(fix) || f.rp != Some(name) {
                    wrong.push(format!(
                        "{name} {fault}: {rule} predicts {said:?}, fix {:?}, rp {:?}",
                        f.fix, f.rp
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
