//! The real-peer conformance suite: oidc-tap between peers it did not write, as a user runs it.
//!
//! - Provider: panva's `oidc-provider` (npm, certified) laid out like authentik
//!   (`tests/peers/provider.mjs`): issuer `/application/o/mastodon/` with its trailing slash,
//!   authentik's endpoint paths, its claims; in two login styles, oidc-provider's own
//!   interaction pages and an authentik-like flow page driven by executor-shaped JSON. In both,
//!   the code comes from the provider's resume redirect (`/application/o/authorize/<uid>`), a
//!   path that is not the authorize endpoint.
//! - Relying parties: Debian's `ruby-omniauth-openid-connect` configured from Mastodon's
//!   `OIDC_*` variables (`rp-omniauth.rb`), and panva's `openid-client` (`rp-openid-client.mjs`).
//! - Browser: Debian's headless Chromium through chromedriver.
//! - Gateway: the `oidc-tap proxy` binary in front of the provider only (the common insertion),
//!   with `--mastodon-env` and `--trace`; the assertions read its journal.
//!
//! A provider fault is a switch of `provider.mjs`; a case is one row of [`CASES`]: the flow
//! count (always 1), the exchange kinds of the login, the exact rule ids with severities at
//! warning and error, and what the relying party did; the journal analysed offline gives the
//! live findings line for line, and (Mastodon's strategy) `reproduce` of it brings back every
//! rule, from the named demo faults or from the provider it rebuilds from the trace. `.ci/run` installs the peers (npm ci,
//! apt) and sets `OIDC_TAP_REAL_PEERS=required`; elsewhere a missing peer is SKIPPED. Alone:
//! `cargo test --test real_peers`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/browser.rs"]
mod browser;
use browser::Browser;

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");
const CLIENT_ID: &str = "Mn3QkTz8mastodonRealPeerClientIDx0123456";
const CLIENT_SECRET: &str = "real-peer-client-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const USERNAME: &str = "akadmin";
const PASSWORD: &str = "correct horse battery staple";

/// How the provider shows its login.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    /// oidc-provider's own pages: `/interaction/<uid>` and its form.
    Interaction,
    /// authentik-like: `/if/flow/<slug>/` whose script drives `/api/v3/flows/executor/<slug>/`.
    Authentik,
}

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Interaction => "interaction",
            Style::Authentik => "authentik",
        }
    }
}

/// The relying party that logs in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rp {
    Omniauth,
    OpenidClient,
}

/// What the relying party did with the login.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// It signed the user in.
    SignedIn,
    /// It refused (its own error page or sign-in page with a message).
    Rejected,
    /// The browser never got back to it (stopped at the provider or the gateway).
    NeverBack,
}

use Verdict::*;

/// One case: a provider fault (or none) and what must come of it.
struct Case {
    name: &'static str,
    /// Switches of `provider.mjs`.
    faults: &'static [&'static str],
    /// OIDC_ISSUER without its trailing slash (a relying-party side mistake).
    rp_issuer_no_slash: bool,
    /// The exchange kinds of the login (besides `other`), in any order.
    kinds: &'static str,
    /// Rule ids at warning or error, with severity (`E`/`W`), exact.
    rules: &'static [(&'static str, char)],
    /// What Mastodon's strategy did, then openid-client.
    verdict: (Verdict, Verdict),
    /// Where openid-client takes the login elsewhere (its kinds and rules), when it does.
    openid_client: Option<(&'static str, &'static [(&'static str, char)])>,
    /// A finding's `why` that must start so (rule, words): the advice a person follows.
    why: Option<(&'static str, &'static str)>,
    /// Words the console must show (as a person reads them).
    console: Option<&'static str>,
}

const FULL: &str = "discovery authorize authorize_response token jwks userinfo";

const fn case(
    name: &'static str,
    faults: &'static [&'static str],
    kinds: &'static str,
    rules: &'static [(&'static str, char)],
    verdict: (Verdict, Verdict),
) -> Case {
    Case {
        name,
        faults,
        rp_issuer_no_slash: false,
        kinds,
        rules,
        verdict,
        openid_client: None,
        why: None,
        console: None,
    }
}

impl Case {
    /// openid-client takes this login elsewhere: these kinds and rules instead.
    const fn but_openid_client(self, kinds: &'static str, rules: &'static [(&'static str, char)]) -> Case {
        Case { openid_client: Some((kinds, rules)), ..self }
    }

    /// The console shows `words`.
    const fn console(self, words: &'static str) -> Case {
        Case { console: Some(words), ..self }
    }

    /// The `why` of `rule` starts with `words`.
    const fn why(self, rule: &'static str, words: &'static str) -> Case {
        Case { why: Some((rule, words)), ..self }
    }
}

/// Every case; a new fault is one row (and, if new, one switch in `provider.mjs`).
const CASES: &[Case] = &[
    case("clean", &[], FULL, &[], (SignedIn, SignedIn)),
    // The relying party's side: OIDC_ISSUER without authentik's trailing slash.
    Case {
        rp_issuer_no_slash: true,
        ..case("issuer-trailing-slash", &[], "discovery", ISSUER_MISMATCH, (Rejected, Rejected))
    },
    case("iss-no-slash", &["iss-no-slash"], "discovery", ISSUER_MISMATCH, (Rejected, Rejected)),
    case(
        "discovery-issuer-no-slash",
        &["discovery-issuer-no-slash"],
        "discovery",
        ISSUER_MISMATCH,
        (Rejected, Rejected),
    ),
    case(
        "wrong-aud",
        &["wrong-aud"],
        TO_TOKEN,
        &[("IDT-AUD-MISMATCH", 'E'), INCOMPLETE],
        (Rejected, Rejected),
    ),
    case(
        "wrong-iss",
        &["wrong-iss"],
        TO_TOKEN,
        &[("IDT-ISS-MISMATCH", 'E'), INCOMPLETE],
        (Rejected, Rejected),
    ),
    case(
        "expired-id-token",
        &["expired-id-token"],
        TO_TOKEN,
        &[("IDT-EXPIRED", 'E'), INCOMPLETE],
        (Rejected, Rejected),
    ),
    case("iat-future", &["iat-future"], FULL, &[("IDT-IAT-FUTURE", 'W')], (SignedIn, SignedIn)),
    case(
        "nonce-mismatch",
        &["nonce-mismatch"],
        TO_TOKEN,
        &[("IDT-NONCE-MISMATCH", 'E'), INCOMPLETE],
        (Rejected, Rejected),
    ),
    case(
        "nonce-removed",
        &["nonce-removed"],
        TO_TOKEN,
        &[("IDT-NONCE-MISSING", 'E'), INCOMPLETE],
        (Rejected, Rejected),
    ),
    case(
        "at-hash-mismatch",
        &["at-hash-mismatch"],
        FULL,
        &[("IDT-AT-HASH-MISMATCH", 'W')],
        (SignedIn, SignedIn),
    ),
    // authentik without a signing key: HS256 with the client secret, JWKS `{}` (never fetched).
    case(
        "hs256-no-signing-key",
        &["hs256-no-signing-key"],
        "discovery authorize authorize_response token userinfo",
        &[("IDT-SYMMETRIC-ALG", 'W')],
        (SignedIn, SignedIn),
    ),
    // openid-client relies on TLS to the token endpoint and does not check the ID token's
    // signature (OIDC Core 3.1.3.7 allows it): it signs in; the gateway still flags the token.
    case(
        "unknown-kid",
        &["unknown-kid"],
        TO_TOKEN,
        &[("IDT-KID-UNKNOWN", 'E'), INCOMPLETE],
        (Rejected, SignedIn),
    )
    .but_openid_client(FULL, &[("IDT-KID-UNKNOWN", 'E')]),
    case(
        "wrong-key",
        &["wrong-key"],
        TO_TOKEN,
        &[("IDT-SIGNATURE-INVALID", 'E'), INCOMPLETE],
        (Rejected, SignedIn),
    )
    .but_openid_client(FULL, &[("IDT-SIGNATURE-INVALID", 'E')]),
    case(
        "tampered-signature",
        &["tampered-signature"],
        TO_TOKEN,
        &[("IDT-SIGNATURE-INVALID", 'E'), INCOMPLETE],
        (Rejected, SignedIn),
    )
    .but_openid_client(FULL, &[("IDT-SIGNATURE-INVALID", 'E')]),
    case(
        "alg-unadvertised",
        &["alg-unadvertised"],
        FULL,
        &[("IDT-ALG-UNADVERTISED", 'W')],
        (SignedIn, Rejected),
    )
    .but_openid_client(TO_TOKEN, &[("IDT-ALG-UNADVERTISED", 'W'), INCOMPLETE]),
    // The state comes back altered in the provider's resume redirect: caught there.
    case(
        "state-altered",
        &["state-altered"],
        "discovery authorize authorize_response",
        &[("AUTHZ-STATE-MISMATCH", 'E'), INCOMPLETE],
        (Rejected, Rejected),
    ),
    // Mastodon's strategy merges userinfo into the claims without comparing sub: it signs in.
    case(
        "userinfo-sub-mismatch",
        &["userinfo-sub-mismatch"],
        FULL,
        &[("USERINFO-SUB-MISMATCH", 'E')],
        (SignedIn, Rejected),
    ),
    case(
        "userinfo-email-conflict",
        &["userinfo-email-conflict"],
        FULL,
        &[("USERINFO-CLAIM-CONFLICT", 'W')],
        (SignedIn, SignedIn),
    ),
    case(
        "insufficient-scope",
        &["insufficient-scope"],
        FULL,
        &[("USERINFO-ERROR", 'E')],
        (Rejected, Rejected),
    ),
    case(
        "email-verified-missing",
        &["email-verified-missing"],
        FULL,
        &[("MASTODON-EMAIL-UNVERIFIED", 'W')],
        (SignedIn, SignedIn),
    ),
    case(
        "missing-preferred-username",
        &["missing-preferred-username"],
        FULL,
        &[("MASTODON-UID-CLAIM-MISSING", 'W')],
        (SignedIn, SignedIn),
    ),
    // A member name given twice (the relying party keeps the last, the real one, and signs in).
    case("duplicate-iss", &["duplicate-iss"], FULL, &[("JSON-DUPLICATE-MEMBER", 'E')], (SignedIn, SignedIn)),
    case(
        "duplicate-id-token",
        &["duplicate-id-token"],
        FULL,
        &[("JSON-DUPLICATE-MEMBER", 'W')],
        (SignedIn, SignedIn),
    ),
    case(
        "duplicate-issuer",
        &["duplicate-issuer"],
        FULL,
        &[("JSON-DUPLICATE-MEMBER", 'W')],
        (SignedIn, SignedIn),
    ),
    // Bidi overrides and zero-width characters in claims reach the console escaped, and the
    // username Mastodon will create is shown as it will be.
    case("hostile-claims", &["hostile-claims"], FULL, &[], (SignedIn, SignedIn))
        .console("preferred_username admin\\u{202e}gnp.exe\\u{200b} · email akadmin\\u{202e}@example.test"),
    // The provider does not trust X-Forwarded-Proto: every endpoint it builds is http://, and
    // the browser's authorize request arrives as plain HTTP on the gateway's HTTPS port.
    case(
        "http-endpoints",
        &["http-endpoints"],
        "discovery authorize",
        &[("DISC-INSECURE-ENDPOINT", 'E'), INCOMPLETE],
        (NeverBack, Rejected),
    )
    // openid-client refuses http:// endpoints itself, before the browser leaves.
    .but_openid_client("discovery", &[("DISC-INSECURE-ENDPOINT", 'E'), ("FLOW-ABANDONED", 'W')]),
    case(
        "invalid-client",
        &["invalid-client"],
        "discovery authorize authorize_response token",
        &[("TOKEN-ERROR", 'E')],
        (Rejected, Rejected),
    )
    // The secret Mastodon sends is OIDC_CLIENT_SECRET: authentik's must be the one that differs.
    .why(
        "TOKEN-ERROR",
        "the secret sent is OIDC_CLIENT_SECRET, so authentik's Client Secret differs from .env.production",
    ),
    case(
        "authorize-denied",
        &["authorize-denied"],
        "discovery authorize authorize_response",
        &[("AUTHZ-ERROR", 'E')],
        (Rejected, Rejected),
    ),
];

const TO_TOKEN: &str = "discovery authorize authorize_response token jwks";
const INCOMPLETE: (&str, char) = ("FLOW-INCOMPLETE", 'W');
/// Mastodon gives up after discovery; the gateway, in front of the provider only, does not see
/// its sign-in page, so the abandoned login is a warning.
const ISSUER_MISMATCH: &[(&str, char)] = &[("CONFIG-ISSUER-MISMATCH", 'E'), ("FLOW-ABANDONED", 'W')];

/// Kills a peer (and its children) when the case ends, however it ends.
struct Peer {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Starts `cmd`, its stderr to `log`, and waits for its "listening PORT" line.
    fn start(name: &'static str, mut cmd: Command, log: PathBuf) -> (Peer, u16) {
        cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("listening ") {
                    let _ = tx.send(p.trim().parse::<u16>().ok());
                }
            }
        });
        let peer = Peer { name, child, log };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(port)) => (peer, port),
            _ => panic!(
                "{} did not start:\n{}",
                peer.name,
                std::fs::read_to_string(&peer.log).unwrap_or_default()
            ),
        }
    }
}

/// What is missing for the suite here (`None`: everything).
fn missing() -> Option<String> {
    let has = |c: &str, a: &str| Command::new(c).arg(a).output().is_ok_and(|o| o.status.success());
    let mut gone = vec![];
    if !Path::new(PEERS).join("node_modules/oidc-provider").exists() {
        gone.push("tests/peers/node_modules (npm ci in tests/peers)".to_owned());
    }
    if !has("node", "--version") {
        gone.push("node".into());
    }
    if !has("ruby", "-romniauth_openid_connect") {
        gone.push("ruby with ruby-omniauth-openid-connect".into());
    }
    if !Path::new(browser::CHROMIUM).exists() || !Path::new(browser::CHROMEDRIVER).exists() {
        gone.push("chromium and chromedriver".into());
    }
    (!gone.is_empty()).then(|| gone.join(", "))
}

fn skip_unless_peers() -> bool {
    let Some(gone) = missing() else { return false };
    if std::env::var("OIDC_TAP_REAL_PEERS").as_deref() == Ok("required") {
        panic!("real peers missing: {gone} (.ci/run installs them)");
    }
    eprintln!("SKIPPED: real peers missing: {gone}; .ci/run installs them");
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The dev CA every case's gateway issues its leaves from (made once per test).
fn ca_dir(dir: &Path) -> PathBuf {
    let ca = dir.join("ca");
    let st = Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["certs", "init", "--dir"])
        .arg(&ca)
        .args(["--host", "localhost"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    ca
}

/// What one login left in the gateway's journal.
#[derive(Debug)]
struct Seen {
    flows: Vec<u64>,
    /// (kind, flow, summary) of every exchange.
    exchanges: Vec<(String, Option<u64>, bool, String)>,
    /// (rule, severity) at warning and error.
    rules: BTreeSet<(String, char)>,
    /// What the gateway printed.
    console: String,
    /// rule → its `why`.
    whys: std::collections::BTreeMap<String, String>,
    verdict: Verdict,
    outcome: String,
    /// Finding lines (every severity) that the redacted journal analysed offline gives
    /// differently: the live ones missing offline, then the offline ones not seen live.
    offline_differs: Vec<String>,
    /// What `reproduce` of the journal did not bring back (Mastodon's strategy only).
    not_reproduced: Option<String>,
}

/// Runs one login of `case` through fresh peers and the gateway, and reads the journal.
async fn run(case: &Case, style: Style, rp: Rp, browser: &Browser, ca: &Path, dir: &Path) -> Seen {
    run_with(case, style, rp, browser, ca, dir, &[], |_| ()).await
}

/// [`run`] with more gateway flags, and `during` called after the login while the gateway
/// still runs (a scrape of its metrics).
#[allow(clippy::too_many_arguments)]
async fn run_with(
    case: &Case,
    style: Style,
    rp: Rp,
    browser: &Browser,
    ca: &Path,
    dir: &Path,
    extra: &[&str],
    during: impl FnOnce(&Path),
) -> Seen {
    let dir = dir.join(format!("{}-{}-{:?}", case.name, style.name(), rp));
    std::fs::create_dir_all(&dir).unwrap();
    // The gateway's port stays taken until the gateway starts, so neither peer (both listen on
    // a port the system picks) can be given it meanwhile.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gw_port = held.local_addr().unwrap().port();
    let public = format!("https://localhost:{gw_port}");
    let mut issuer = format!("{public}/application/o/mastodon/");
    if case.rp_issuer_no_slash {
        issuer.pop();
    }
    // The relying party first: the provider registers its callback.
    let rp_port = free_port();
    let redirect = format!("http://127.0.0.1:{rp_port}/auth/auth/openid_connect/callback");
    let env = [
        ("OIDC_ENABLED", "true".to_owned()),
        ("OIDC_DISPLAY_NAME", "authentik".into()),
        ("OIDC_DISCOVERY", "true".into()),
        ("OIDC_ISSUER", issuer.clone()),
        ("OIDC_SCOPE", "openid,profile,email".into()),
        ("OIDC_UID_FIELD", "preferred_username".into()),
        ("OIDC_CLIENT_ID", CLIENT_ID.into()),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("OIDC_REDIRECT_URI", redirect.clone()),
    ];
    let env_file = dir.join(".env.production");
    let mut text = format!("LOCAL_DOMAIN=127.0.0.1:{rp_port}\nWEB_DOMAIN=127.0.0.1:{rp_port}\n");
    for (k, v) in &env {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(&env_file, text).unwrap();
    let mut rp_cmd = match rp {
        Rp::Omniauth => {
            let mut c = Command::new("ruby");
            c.arg(Path::new(PEERS).join("rp-omniauth.rb")).env("SSL_CERT_FILE", ca.join("ca.pem"));
            c
        }
        Rp::OpenidClient => {
            let mut c = Command::new("node");
            c.arg(Path::new(PEERS).join("rp-openid-client.mjs"))
                .env("NODE_EXTRA_CA_CERTS", ca.join("ca.pem"));
            c
        }
    };
    rp_cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str()))).env("PORT", rp_port.to_string());
    let (_rp, _) = Peer::start("relying party", rp_cmd, dir.join("rp.log"));
    let config = serde_json::json!({
        "port": 0, "public": public, "slug": "mastodon", "style": style.name(), "faults": case.faults,
        "client": { "id": CLIENT_ID, "secret": CLIENT_SECRET, "redirect_uris": [redirect] },
    });
    let mut p = Command::new("node");
    p.arg(Path::new(PEERS).join("provider.mjs")).arg(config.to_string());
    let (_provider, provider_port) = Peer::start("provider", p, dir.join("provider.log"));
    let journal = dir.join("login.jsonl");
    let mut gw = Command::new(env!("CARGO_BIN_EXE_oidc-tap"));
    gw.args(["proxy", "--listen", &format!("https://127.0.0.1:{gw_port}"), "--ca-dir"])
        .arg(ca)
        .args(["--upstream", &format!("http://127.0.0.1:{provider_port}"), "--trace"])
        .arg(&journal)
        .arg("--mastodon-env")
        .arg(&env_file)
        .args(extra)
        .stdout(std::fs::File::create(dir.join("console.txt")).unwrap())
        .stderr(std::fs::File::create(dir.join("gateway.log")).unwrap());
    drop(held);
    let mut gateway = gw.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", gw_port)).is_err() {
        let gone = gateway.try_wait().unwrap();
        assert!(
            gone.is_none() && Instant::now() < deadline,
            "the gateway did not listen: {}",
            std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (verdict, outcome) = log_in(browser, rp_port, gw_port).await;
    // Let the last records reach analysis, then stop the gateway as a user does (Ctrl-C).
    std::thread::sleep(Duration::from_millis(300));
    during(&dir);
    let _ = Command::new("kill").args(["-INT", &gateway.id().to_string()]).status();
    let _ = gateway.wait();
    let mut seen = read_journal(&journal);
    seen.verdict = verdict;
    seen.outcome = outcome;
    seen.offline_differs = offline_differs(&journal, &env_file);
    if rp == Rp::Omniauth {
        seen.not_reproduced = not_reproduced(&journal, &env_file, seen.rules.len());
    }
    seen.console = std::fs::read_to_string(dir.join("console.txt")).unwrap_or_default();
    seen
}

/// The redacted journal analysed offline (`analyze --format json`, with the same env file)
/// against the live run's finding lines, byte for byte.
fn offline_differs(journal: &Path, env_file: &Path) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["analyze", "--format", "json", "--mastodon-env"])
        .arg(env_file)
        .arg(journal)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let offline: BTreeSet<String> =
        doc["findings"].as_array().into_iter().flatten().map(|f| f.to_string()).collect();
    let live: BTreeSet<String> = std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "finding")
        .map(|v| v.to_string())
        .collect();
    let missing = live.difference(&offline).map(|l| format!("live only: {l}"));
    missing.chain(offline.difference(&live).map(|l| format!("offline only: {l}"))).collect()
}

/// `reproduce` of the journal (as a support engineer runs it, with the same env file): `None`
/// when it brought back every rule the trace raised (`rules` of them), else what it said.
fn not_reproduced(journal: &Path, env_file: &Path, rules: usize) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["reproduce", "--mastodon-env"])
        .arg(env_file)
        .arg(journal)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let want = format!("reproduced {rules}/{rules}: ");
    let fine = if rules == 0 { said.contains("nothing to reproduce") } else { said.contains(&want) };
    (!(fine && out.status.success()))
        .then(|| format!("reproduce (exit {:?}) said:\n{said}", out.status.code()))
}

fn read_journal(path: &Path) -> Seen {
    let mut seen = Seen {
        flows: vec![],
        exchanges: vec![],
        rules: BTreeSet::new(),
        whys: Default::default(),
        console: String::new(),
        verdict: NeverBack,
        outcome: String::new(),
        offline_differs: vec![],
        not_reproduced: None,
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("flow") if v["event"] == "opened" => seen.flows.push(v["flow"].as_u64().unwrap()),
            Some("exchange") => seen.exchanges.push((
                v["kind"].as_str().unwrap_or("").to_owned(),
                v["flow"].as_u64(),
                v["exchange"]["summary"].as_bool().unwrap_or(false),
                v["exchange"]["request"]["path"].as_str().unwrap_or("").to_owned(),
            )),
            Some("finding") => {
                let sev = match v["severity"].as_str() {
                    Some("error") => 'E',
                    Some("warning") => 'W',
                    _ => continue,
                };
                seen.rules.insert((v["rule"].as_str().unwrap().to_owned(), sev));
                seen.whys.insert(
                    v["rule"].as_str().unwrap().to_owned(),
                    v["why"].as_str().unwrap_or("").to_owned(),
                );
            }
            _ => {}
        }
    }
    seen
}

/// A person logging in: the relying party's sign-in page, its button, the provider's login
/// (either style), back to the relying party; what the relying party said at the end.
async fn log_in(b: &Browser, rp_port: u16, gw_port: u16) -> (Verdict, String) {
    let c = &b.client;
    c.goto(&format!("http://127.0.0.1:{rp_port}/auth/sign_in")).await.unwrap();
    c.execute("document.body.dataset.before = '1'; document.getElementById('login').click();", vec![])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acted = String::new();
    let mut still_since: Option<(String, Instant)> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Where the browser is, and what the page offers.
        let state = c
            .execute(
                r#"const b = document.body; const o = document.getElementById('outcome');
                return [location.href, document.readyState, b && b.dataset.before ? 'old' : 'new',
                  o ? o.textContent : null, b && b.dataset.stage || '',
                  !!document.querySelector('input[name=login]'), b ? b.innerText.slice(0, 300) : ''];"#,
                vec![],
            )
            .await;
        let Ok(serde_json::Value::Array(s)) = state else { continue };
        let href = s[0].as_str().unwrap_or("").to_owned();
        let fresh = s[2] == "new" && s[1] == "complete";
        let on_rp = href.starts_with(&format!("http://127.0.0.1:{rp_port}/"));
        if on_rp
            && fresh
            && let Some(o) = s[3].as_str()
        {
            let v = if o.starts_with("signed in as ") { SignedIn } else { Rejected };
            return (v, o.to_owned());
        }
        let stage = s[4].as_str().unwrap_or("");
        let key = format!("{href} {stage}");
        if fresh && s[5] == true && acted != key {
            acted = key;
            let script = format!(
                "document.querySelector('input[name=login]').value = {USERNAME:?};
                 document.querySelector('input[name=password]').value = {PASSWORD:?};
                 document.querySelector('form').submit();"
            );
            c.execute(&script, vec![]).await.unwrap();
            continue;
        }
        if fresh && (stage == "ak-stage-identification" || stage == "ak-stage-password") && acted != key {
            acted = key;
            let value = if stage == "ak-stage-password" { PASSWORD } else { USERNAME };
            let script = format!(
                "document.getElementById('field').value = {value:?}; document.getElementById('go').click();"
            );
            c.execute(&script, vec![]).await.unwrap();
            continue;
        }
        // A page that stays as it is (the provider's error page, the gateway's 400): the
        // login stopped there.
        let here = format!("{href}\n{}", s[6].as_str().unwrap_or(""));
        match &still_since {
            Some((was, since)) if *was == here => {
                if since.elapsed() > Duration::from_millis(1500) && fresh {
                    let _ = gw_port;
                    return (NeverBack, here);
                }
            }
            _ => still_since = Some((here, Instant::now())),
        }
        assert!(Instant::now() < deadline, "the login did not end: {href}");
    }
}

/// Every case of [`CASES`] in one style with one relying party, one login each.
async fn suite(style: Style, rp: Rp) {
    if skip_unless_peers() {
        return;
    }
    let Some(browser) = Browser::launch_with(true, false, &["--ignore-certificate-errors"]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_dir(dir.path());
    let mut failures = vec![];
    // One case alone: OIDC_TAP_REAL_PEERS_CASE=name.
    let only = std::env::var("OIDC_TAP_REAL_PEERS_CASE").ok();
    for case in CASES.iter().filter(|c| only.as_deref().is_none_or(|o| o == c.name)) {
        let seen = run(case, style, rp, &browser, &ca, dir.path()).await;
        let problems = judge(case, rp, &seen);
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({} style, {rp:?}): {}\n  seen: {seen:#?}",
                case.name,
                style.name(),
                problems.join("; ")
            ));
        }
        let _ = browser.client.delete_all_cookies().await;
    }
    if std::env::var_os("OIDC_TAP_REAL_PEERS_KEEP").is_some() {
        eprintln!("kept: {}", dir.keep().display());
        return assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
    if !failures.is_empty() {
        // Keep the peers' logs and journals for a look.
        let kept = dir.keep();
        panic!(
            "{} of {} cases failed (files in {}):\n{}",
            failures.len(),
            CASES.len(),
            kept.display(),
            failures.join("\n")
        );
    }
}

/// What is wrong with what a case left (empty: nothing).
fn judge(case: &Case, rp: Rp, seen: &Seen) -> Vec<String> {
    let mut wrong = vec![];
    if seen.flows.len() != 1 {
        wrong.push(format!("{} flows, not 1", seen.flows.len()));
    }
    let flow = seen.flows.first().copied();
    let kinds: BTreeSet<&str> = seen
        .exchanges
        .iter()
        .map(|(k, ..)| k.as_str())
        .filter(|k| *k != "other" && *k != "provider_flow")
        .collect();
    let (kinds_want, rules_want) = match (rp, case.openid_client) {
        (Rp::OpenidClient, Some(other)) => other,
        _ => (case.kinds, case.rules),
    };
    let want: BTreeSet<&str> = kinds_want.split_whitespace().collect();
    if kinds != want {
        wrong.push(format!("kinds {kinds:?}, not {want:?}"));
    }
    for (kind, f, summary, path) in &seen.exchanges {
        // Every exchange kept whole belongs to the login; summaries are other traffic.
        if !summary && *f != flow {
            wrong.push(format!("{kind} {path} in flow {f:?}, not {flow:?}"));
        }
        if kind != "other" && *summary {
            wrong.push(format!("{kind} {path} only a summary"));
        }
    }
    let rules: BTreeSet<(String, char)> = rules_want.iter().map(|(r, s)| (r.to_string(), *s)).collect();
    if seen.rules != rules {
        wrong.push(format!("rules {:?}, not {:?}", seen.rules, rules));
    }
    wrong.extend(seen.offline_differs.iter().cloned());
    wrong.extend(seen.not_reproduced.iter().cloned());
    // No line a person reads carries a raw control, bidi or zero-width character.
    let raw = |c: char| {
        (c.is_control() && c != '\n')
            || ('\u{200b}'..='\u{200f}').contains(&c)
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2060}'..='\u{2069}').contains(&c)
            || c == '\u{feff}'
    };
    if let Some(line) = seen.console.lines().find(|l| l.chars().any(raw)) {
        wrong.push(format!("a raw character on the console: {line:?}"));
    }
    if let Some(words) = case.console
        && !seen.console.contains(words)
    {
        wrong.push(format!("the console does not show {words:?}"));
    }
    if let Some((rule, words)) = case.why {
        let why = seen.whys.get(rule).map(String::as_str).unwrap_or("");
        if !why.starts_with(words) {
            wrong.push(format!("{rule} says why {why:?}, not {words:?}…"));
        }
    }
    let verdict = if rp == Rp::Omniauth { case.verdict.0 } else { case.verdict.1 };
    if seen.verdict != verdict {
        wrong.push(format!("the relying party: {:?} ({}), not {verdict:?}", seen.verdict, seen.outcome));
    }
    wrong
}

#[tokio::test(flavor = "multi_thread")]
async fn omniauth_through_oidc_provider_interaction_pages() {
    suite(Style::Interaction, Rp::Omniauth).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn omniauth_through_an_authentik_like_flow_executor() {
    suite(Style::Authentik, Rp::Omniauth).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openid_client_through_oidc_provider_interaction_pages() {
    suite(Style::Interaction, Rp::OpenidClient).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openid_client_through_an_authentik_like_flow_executor() {
    suite(Style::Authentik, Rp::OpenidClient).await;
}

/// `probe-rp` against real relying parties, each logging in through the tool's own browser
/// (`--login-url`): case → "accepted" / "rejected" / "undecided" as the results table printed
/// it, the exit code, and the `RP-ACCEPTS-*` findings printed.
fn probe(
    rp: &str,
    lax: &str,
    dir: &Path,
) -> (std::collections::BTreeMap<String, String>, Option<i32>, Vec<String>) {
    probe_as("mastodon", rp, lax, dir).0
}

/// [`probe`] of the relying party as `--rp app` (GitLab: the omniauth strategy mounted as
/// gitlab.rb mounts it); also what probe-rp printed.
#[allow(clippy::type_complexity)]
fn probe_as(
    app: &str,
    rp: &str,
    lax: &str,
    dir: &Path,
) -> ((std::collections::BTreeMap<String, String>, Option<i32>, Vec<String>), String) {
    let sc = oidc_tap::demo::rig::Scenario::clean();
    let ca = ca_dir(dir);
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gw_port = held.local_addr().unwrap().port();
    let rp_port = free_port();
    let mount = if app == "gitlab" { "/users/auth" } else { "/auth/auth" };
    let redirect = format!("http://127.0.0.1:{rp_port}{mount}/openid_connect/callback");
    let env = [
        ("OIDC_ISSUER", format!("https://localhost:{gw_port}/application/o/mastodon/")),
        ("OIDC_CLIENT_ID", sc.rp.client_id.clone()),
        ("OIDC_CLIENT_SECRET", sc.rp.client_secret.clone()),
        ("OIDC_REDIRECT_URI", redirect.clone()),
        ("OIDC_SCOPE", "openid,profile,email".into()),
        ("OIDC_UID_FIELD", "preferred_username".into()),
        ("PORT", rp_port.to_string()),
        ("LAX", lax.to_owned()),
        ("GITLAB", if app == "gitlab" { "1" } else { "" }.to_owned()),
    ];
    let mut cmd = match rp {
        "omniauth" => {
            let mut c = Command::new("ruby");
            c.arg(Path::new(PEERS).join("rp-omniauth.rb")).env("SSL_CERT_FILE", ca.join("ca.pem"));
            c
        }
        script => {
            let mut c = Command::new("node");
            c.arg(Path::new(PEERS).join(script)).env("NODE_EXTRA_CA_CERTS", ca.join("ca.pem"));
            c
        }
    };
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let (_rp, _) = Peer::start("relying party", cmd, dir.join(format!("{rp}.log")));
    drop(held);
    let out = Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["probe-rp", "--rp", app, "--listen", &format!("https://127.0.0.1:{gw_port}"), "--ca-dir"])
        .arg(&ca)
        .args(["--provider-host", "localhost", "--web-domain", &format!("127.0.0.1:{rp_port}")])
        .args(["--redirect-uri", &redirect, "--wait", "20"])
        .args(["--login-url", &format!("http://127.0.0.1:{rp_port}/auth/sign_in")])
        .arg("--report")
        .arg(dir.join(format!("{rp}.md")))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut seen = std::collections::BTreeMap::new();
    let mut findings = vec![];
    for line in stdout.lines() {
        if let Some(rest) = ["✓ ", "✗ ", "! ", "? "].iter().find_map(|m| line.strip_prefix(m)) {
            let name = rest.split_whitespace().next().unwrap().to_owned();
            let word = rest.split("  seen ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
            seen.insert(name, word);
        }
        let t = line.trim_start();
        if let Some(id) = t.strip_prefix("✗ RP-ACCEPTS-").or(t.strip_prefix("! RP-ACCEPTS-")) {
            findings.push(format!("RP-ACCEPTS-{}", id.split_whitespace().next().unwrap()));
        }
    }
    assert!(
        !stdout.contains("code=") || stdout.contains("code=%7Eredacted%7E"),
        "a code in clear:\n{stdout}"
    );
    assert_eq!(
        seen.len(),
        oidc_tap::probe::cases::CASES.len(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ((seen, out.status.code(), findings), stdout)
}

/// The cases a relying party accepted (the control included).
fn accepted(seen: &std::collections::BTreeMap<String, String>) -> Vec<&str> {
    seen.iter().filter(|(_, v)| *v == "accepted").map(|(k, _)| k.as_str()).collect()
}

/// The probe tells a lax relying party from the strict ones, and says what real ones accept.
#[test]
fn probe_rp_finds_what_each_relying_party_accepts() {
    if skip_unless_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A hand-written RP that skips aud and the nonce: exactly those come out accepted.
    let (seen, code, findings) = probe("rp-lax.mjs", "", &dir.path().join("lax"));
    // (jose refuses a token without kid when the JWKS has two keys: conformant either way.)
    assert_eq!(accepted(&seen), ["aud", "clean", "nonce-invalid", "nonce-missing"], "{seen:?}");
    assert_eq!(code, Some(1));
    assert_eq!(findings, ["RP-ACCEPTS-AUD", "RP-ACCEPTS-NONCE-INVALID", "RP-ACCEPTS-NONCE-MISSING"]);
    let report = std::fs::read_to_string(dir.path().join("lax/rp-lax.mjs.md")).unwrap();
    assert!(
        report.starts_with(
            "# probe-rp results\n\nACCEPTED 3 of 13 bad answers: aud, nonce-invalid, nonce-missing\n"
        ),
        "{report}"
    );
    assert!(report.contains("| aud (rp-id_token-aud) |") && report.contains("RP-ACCEPTS-AUD"), "{report}");
    // Debian's omniauth strategy, Mastodon's client stack: it refuses every forged or broken ID
    // token but two, both real: an HS256 token MACed with the client secret although discovery
    // announces RS256 (the strategy picks the secret for HS*), and a userinfo answer about
    // another sub (it never compares them); it does not check RFC 9207's iss (a warning).
    // The same strategy probed as GitLab runs it (`--rp gitlab`, its callback under
    // /users/auth): the same verdicts, its findings in GitLab's words.
    let mut gitlab_out = String::new();
    for app in ["mastodon", "gitlab"] {
        let ((seen, code, findings), out) = probe_as(app, "omniauth", "", &dir.path().join(app));
        assert_eq!(
            accepted(&seen),
            ["clean", "hs256-client-secret", "iss-param", "kid-absent", "userinfo-bad-sub"],
            "{app}: {out}"
        );
        assert_eq!(code, Some(1), "{app}");
        assert_eq!(
            findings,
            ["RP-ACCEPTS-HS256-CLIENT-SECRET", "RP-ACCEPTS-USERINFO-BAD-SUB", "RP-ACCEPTS-ISS-PARAM"],
            "{app}"
        );
        assert!(seen.values().all(|v| v != "undecided"), "{app}: {seen:?}");
        gitlab_out = out;
    }
    let out = gitlab_out;
    assert!(out.contains("The relying party's gitlab.rb (gitlab_rails['omniauth_providers'] → args) (then run gitlab-ctl reconfigure):"), "{out}");
    assert!(out.contains("  client_options.redirect_uri = http://127.0.0.1:"), "{out}");
    assert!(!out.contains("OIDC_"), "{out}");
    // panva's openid-client (certified) does not check the ID token's signature in the code
    // flow: OIDC Core §3.1.3.7 (6) lets it rely on the TLS of its token request.
    let (seen, code, findings) = probe("rp-openid-client.mjs", "", &dir.path().join("openid-client"));
    assert_eq!(accepted(&seen), ["bad-sig", "clean", "kid-absent"], "{seen:?}");
    assert_eq!((code, findings), (Some(1), vec!["RP-ACCEPTS-BAD-SIG".to_owned()]));
    // A relying party that checks nothing: every bad answer accepted, each with its finding.
    let (seen, code, findings) = probe("rp-lax.mjs", "all", &dir.path().join("none"));
    assert!(seen.values().all(|v| v == "accepted"), "{seen:?}");
    assert_eq!(code, Some(1));
    let want: Vec<String> = oidc_tap::probe::cases::CASES
        .iter()
        .filter_map(|c| c.accepted.map(|r| r.as_str().to_owned()))
        .collect();
    assert_eq!(findings, want);
    for id in [
        "RP-ACCEPTS-BAD-SIG",
        "RP-ACCEPTS-ALG-NONE",
        "RP-ACCEPTS-HS256-CLIENT-SECRET",
        "RP-ACCEPTS-ISSUER-MISMATCH",
        "RP-ACCEPTS-AUD",
        "RP-ACCEPTS-SUB-MISSING",
        "RP-ACCEPTS-IAT-MISSING",
        "RP-ACCEPTS-EXPIRED",
        "RP-ACCEPTS-NONCE-INVALID",
        "RP-ACCEPTS-NONCE-MISSING",
        "RP-ACCEPTS-USERINFO-BAD-SUB",
        "RP-ACCEPTS-STATE-ALTERED",
        "RP-ACCEPTS-ISS-PARAM",
    ] {
        assert!(findings.iter().any(|f| f == id), "{id} not raised: {findings:?}");
    }
}

/// A real Prometheus (Debian's) scrapes the gateway every second during a real-peer login with
/// a wrong `aud`, and its HTTP API answers the finding's counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_findings_of_a_real_login() {
    if skip_unless_peers() {
        return;
    }
    if !Path::new("/usr/bin/prometheus").exists() {
        if std::env::var("OIDC_TAP_REAL_PEERS").as_deref() == Ok("required") {
            panic!("prometheus missing (.ci/run installs Debian's prometheus)");
        }
        eprintln!("SKIPPED: /usr/bin/prometheus missing; .ci/run installs it");
        return;
    }
    let Some(browser) = Browser::launch_with(true, false, &["--ignore-certificate-errors"]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_dir(dir.path());
    let (metrics_port, prom_port) = (free_port(), free_port());
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: oidc-tap\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let mut prom = Command::new("/usr/bin/prometheus");
    prom.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap());
    let mut prom = prom.spawn().unwrap();
    let case = CASES.iter().find(|c| c.name == "wrong-aud").unwrap();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let found = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let f2 = found.clone();
    let seen = run_with(
        case,
        Style::Interaction,
        Rp::Omniauth,
        &browser,
        &ca,
        dir.path(),
        &["--metrics", &metrics],
        move |_| {
            let q = "oidc_tap_findings_total%7Brule%3D%22IDT-AUD-MISMATCH%22%7D";
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let text = http_get(prom_port, &format!("/api/v1/query?query={q}"));
                if text.contains("IDT-AUD-MISMATCH") {
                    *f2.lock().unwrap() = text;
                    return;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        },
    )
    .await;
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(seen.rules.contains(&("IDT-AUD-MISMATCH".to_owned(), 'E')), "{:?}", seen.rules);
    let answer: serde_json::Value = serde_json::from_str(&found.lock().unwrap()).unwrap_or_else(|_| {
        panic!(
            "Prometheus never had the counter:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        )
    });
    let r = &answer["data"]["result"][0];
    assert_eq!(
        (r["metric"]["severity"].as_str(), r["metric"]["job"].as_str()),
        (Some("error"), Some("oidc-tap"))
    );
    assert_eq!(r["value"][1], "1", "{answer}");
}

/// The body of a plain HTTP/1.0 GET on loopback (empty when nothing answers).
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

/// Where Synapse runs from: `OIDC_TAP_SYNAPSE_PYTHON`, else the venv `.ci/run` makes
/// (`pip install matrix-synapse[oidc]` from PyPI).
fn synapse_python() -> Option<PathBuf> {
    let p = std::env::var_os("OIDC_TAP_SYNAPSE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(PEERS).join(".venv/bin/python"));
    let ok =
        Command::new(&p).args(["-c", "import synapse, authlib"]).output().is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

fn skip_unless_synapse() -> Option<PathBuf> {
    if skip_unless_peers() {
        return None;
    }
    let p = synapse_python();
    if p.is_none() {
        if std::env::var("OIDC_TAP_REAL_PEERS").as_deref() == Ok("required") {
            panic!("matrix-synapse missing: tests/peers/.venv (.ci/run installs it from PyPI)");
        }
        eprintln!("SKIPPED: matrix-synapse missing (tests/peers/.venv; .ci/run installs it)");
    }
    p
}

const SYNAPSE_CLIENT_ID: &str = "synapse-real-peer-client";
const SYNAPSE_SECRET: &str = "synapse-real-peer-secret-0a1b2c3d4e5f";

/// A real Synapse (PyPI's matrix-synapse, SQLite) whose `oidc_providers` entry names the
/// gateway's issuer: its OIDC client is authlib's, through Synapse's own HTTP client.
fn start_synapse(python: &Path, dir: &Path, port: u16, issuer: &str, ca: &Path) -> Peer {
    let d = dir.display();
    let yaml = format!(
        r#"server_name: "real-peer.test"
public_baseurl: "http://127.0.0.1:{port}/"
listeners:
  - {{ port: {port}, bind_addresses: ['127.0.0.1'], type: http, tls: false, resources: [{{ names: [client], compress: false }}] }}
database: {{ name: sqlite3, args: {{ database: "{d}/homeserver.db" }} }}
log_config: "{d}/log.yaml"
media_store_path: "{d}/media"
signing_key_path: "{d}/signing.key"
report_stats: false
macaroon_secret_key: "real-peer-macaroon-secret-key-0123456789"
form_secret: "real-peer-form-secret-0123456789"
trusted_key_servers: []
suppress_key_server_warning: true
oidc_providers:
  - idp_id: authentik
    idp_name: authentik
    issuer: "{issuer}"
    client_id: "{SYNAPSE_CLIENT_ID}"
    client_secret: "{SYNAPSE_SECRET}"
    scopes: ["openid", "profile", "email"]
    user_mapping_provider:
      config:
        localpart_template: "{{{{ user.preferred_username }}}}"
        display_name_template: "{{{{ user.name }}}}"
"#
    );
    std::fs::write(dir.join("homeserver.yaml"), yaml).unwrap();
    std::fs::write(
        dir.join("log.yaml"),
        "version: 1\nformatters: {p: {format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}\nhandlers: {c: {class: logging.StreamHandler, formatter: p}}\nroot: {level: INFO, handlers: [c]}\ndisable_existing_loggers: false\n",
    )
    .unwrap();
    let conf = dir.join("homeserver.yaml");
    let st = Command::new(python)
        .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let log = dir.join("synapse.log");
    let child = Command::new(python)
        .args(["-m", "synapse.app.homeserver", "-c"])
        .arg(&conf)
        .env("SSL_CERT_FILE", ca.join("ca.pem"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let peer = Peer { name: "synapse", child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http_get(port, "/_matrix/client/versions").contains("versions") {
        assert!(
            Instant::now() < deadline,
            "synapse did not start:\n{}",
            std::fs::read_to_string(&peer.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    peer
}

/// A person signing in to Synapse: its SSO redirect, the provider's login form, back to
/// Synapse; what Synapse's page said (its confirmation page, or its SSO error page's code).
async fn log_in_to_synapse(b: &Browser, port: u16) -> (Verdict, String) {
    let c = &b.client;
    let origin = format!("http://127.0.0.1:{port}/");
    c.goto(&format!(
        "{origin}_matrix/client/v3/login/sso/redirect/oidc-authentik?redirectUrl=http%3A%2F%2F127.0.0.1%3A9%2Fsigned-in"
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acted = String::new();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let state = c
            .execute(
                r#"const b = document.body;
                return [location.href, document.readyState, !!document.querySelector('input[name=login]'),
                  b ? b.innerText.replace(/\s+/g, ' ').slice(0, 2000) : ''];"#,
                vec![],
            )
            .await;
        let Ok(serde_json::Value::Array(s)) = state else { continue };
        let href = s[0].as_str().unwrap_or("").to_owned();
        let text = s[3].as_str().unwrap_or("").to_owned();
        if s[1] == "complete"
            && href.starts_with(&format!("{origin}_synapse/client/oidc/callback"))
            && !text.is_empty()
        {
            let v = if text.contains("Continue") { SignedIn } else { Rejected };
            return (v, text);
        }
        if s[1] == "complete" && s[2] == true && acted != href {
            acted = href.clone();
            let script = format!(
                "document.querySelector('input[name=login]').value = {USERNAME:?};
                 document.querySelector('input[name=password]').value = {PASSWORD:?};
                 document.querySelector('form').submit();"
            );
            c.execute(&script, vec![]).await.unwrap();
        }
        assert!(Instant::now() < deadline, "the Synapse login did not end: {href}\n{text}");
    }
}

/// The journal's finding lines (every severity) from byte `from` on.
fn findings_since(journal: &Path, from: usize) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    text.get(from..)
        .unwrap_or("")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "finding")
        .collect()
}

/// One gateway (the binary, `--trace`, `extra` flags) in front of a provider that a test
/// restarts per case on the same port (one fault each), for the other applications' tests.
struct AppRig {
    dir: tempfile::TempDir,
    ca: PathBuf,
    gw_port: u16,
    provider_port: u16,
    public: String,
    journal: PathBuf,
    gateway: Child,
}

impl AppRig {
    fn start(extra: &[&str]) -> AppRig {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_dir(dir.path());
        let (gw_port, provider_port) = (free_port(), free_port());
        let journal = dir.path().join("gateway.jsonl");
        let mut gw = Command::new(env!("CARGO_BIN_EXE_oidc-tap"));
        gw.args(["proxy", "--listen", &format!("https://127.0.0.1:{gw_port}"), "--ca-dir"])
            .arg(&ca)
            .args(["--upstream", &format!("http://127.0.0.1:{provider_port}"), "--trace"])
            .arg(&journal)
            .args(extra)
            .stdout(std::fs::File::create(dir.path().join("console.txt")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap());
        let mut gateway = gw.spawn().unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", gw_port)).is_err() {
            assert!(gateway.try_wait().unwrap().is_none(), "the gateway stopped");
            std::thread::sleep(Duration::from_millis(20));
        }
        let public = format!("https://localhost:{gw_port}");
        AppRig { dir, ca, gw_port, provider_port, public, journal, gateway }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The issuer of the authentik application `slug` through the gateway.
    fn issuer(&self, slug: &str) -> String {
        format!("{}/application/o/{slug}/", self.public)
    }

    /// oidc-provider as authentik's application `slug`, with `faults`, for one client.
    fn provider(
        &self,
        slug: &str,
        client: (&str, &str, &str),
        faults: &[&str],
        extra: serde_json::Value,
    ) -> Peer {
        let (id, secret, callback) = client;
        let mut config = serde_json::json!({
            "port": self.provider_port, "public": self.public, "slug": slug, "style": "interaction", "faults": faults,
            "client": { "id": id, "secret": secret, "redirect_uris": [callback] },
        });
        if let (Some(c), serde_json::Value::Object(more)) = (config.as_object_mut(), extra) {
            c.extend(more);
        }
        let name = faults.first().copied().unwrap_or("clean");
        let mut p = Command::new("node");
        p.arg(Path::new(PEERS).join("provider.mjs")).arg(config.to_string());
        Peer::start("provider", p, self.path().join(format!("provider-{name}.log"))).0
    }

    fn journal_len(&self) -> usize {
        std::fs::metadata(&self.journal).map(|m| m.len() as usize).unwrap_or(0)
    }

    /// Stops the gateway as a user does (Ctrl-C); what it printed.
    fn stop(&mut self) -> String {
        let _ = Command::new("kill").args(["-INT", &self.gateway.id().to_string()]).status();
        let _ = self.gateway.wait();
        std::fs::read_to_string(self.path().join("console.txt")).unwrap_or_default()
    }
}

/// What one application's login left against what its profile says: the rule raised, each
/// finding in `app`'s words, the prediction's quoted words in what the application showed
/// (`said`), the fix naming `fix_words` and no `.env.production` variable.
fn judge_app_login(
    app: &str,
    rule: Option<&str>,
    fix_words: &str,
    found: &[serde_json::Value],
    signed_in: bool,
    said: &str,
) -> Vec<String> {
    let mut fail = vec![];
    let raised: Vec<&str> = found
        .iter()
        .filter(|f| f["severity"] != "info" && f["follows"].is_null())
        .filter_map(|f| f["rule"].as_str())
        .collect();
    if signed_in != rule.is_none() {
        fail.push(format!("signed in: {signed_in}: {said}"));
    }
    if let Some(f) = found.iter().find(|f| f["severity"] != "info" && f["rp"] != app) {
        fail.push(format!("a finding not in {app}'s words: {f}"));
    }
    let Some(rule) = rule else {
        if !raised.is_empty() {
            fail.push(format!("a clean login raised {raised:?}"));
        }
        return fail;
    };
    let Some(f) = found.iter().find(|f| f["rule"] == rule) else {
        fail.push(format!("no {rule}; raised {raised:?}"));
        return fail;
    };
    let says = f["mastodon"].as_str().unwrap_or("");
    let quoted: Vec<&str> = says.split('“').skip(1).filter_map(|q| q.split('”').next()).collect();
    if !quoted.is_empty() && !quoted.iter().any(|q| said.contains(q)) {
        fail.push(format!("{rule} predicts {says:?}; {app} said {said:?}"));
    }
    let fix = f["fix"].as_str().unwrap_or("");
    if fix.contains("OIDC_") || fix.contains(".env.production") || !fix.contains(fix_words) {
        fail.push(format!("{rule}'s fix is not {app}'s (wants {fix_words:?}): {fix}"));
    }
    fail
}

/// Real Synapse logins through the gateway, one provider fault each (oidc-provider, part 1's
/// real provider, with the issuer of an authentik application named `synapse`): every
/// login is recognised as Synapse's by its callback, each finding reads in Synapse's
/// `homeserver.yaml` words and predicts what Synapse does — and Synapse's own page says it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synapse_logins_read_in_synapses_words() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let Some(python) = skip_unless_synapse() else { return };
    let Some(browser) = Browser::launch_with(true, false, &["--ignore-certificate-errors"]).await else {
        return;
    };
    let mut rig = AppRig::start(&["--rp", "synapse"]);
    let syn_port = free_port();
    let issuer = rig.issuer("synapse");
    let callback = format!("http://127.0.0.1:{syn_port}/_synapse/client/oidc/callback");
    let client = (SYNAPSE_CLIENT_ID, SYNAPSE_SECRET, callback.as_str());
    let ca = rig.ca.clone();
    // Synapse reads discovery and the JWKS at start: the provider must be up.
    let clean = rig.provider("synapse", client, &[], serde_json::Value::Null);
    let syn_dir = rig.path().join("synapse");
    std::fs::create_dir_all(&syn_dir).unwrap();
    // Synapse configured without authentik's trailing slash: it finds discovery anyway and
    // trusts the discovered issuer, so check-config says so at info and the logins work.
    let _synapse = start_synapse(&python, &syn_dir, syn_port, issuer.trim_end_matches('/'), &ca);
    let yaml = syn_dir.join("homeserver.yaml");
    let (code, out) = check_config(&ca, &["--rp", "synapse", yaml.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("checking ") && out.contains("(as Synapse reads it)"), "{out}");
    assert!(
        out.contains("CONFIG-ISSUER-MISMATCH  issuer is not byte-equal to the issuer discovery announces: Synapse logs in anyway"),
        "{out}"
    );
    let text = std::fs::read_to_string(&yaml).unwrap();
    let broken = syn_dir.join("broken.yaml");
    std::fs::write(&broken, text.replace(SYNAPSE_SECRET, "<Client Secret from authentik>")).unwrap();
    let (code, out) = check_config(&ca, &["--rp", "synapse", broken.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("✗ CONFIG-PLACEHOLDER  client_secret is a placeholder"), "{out}");
    assert!(!out.contains("OIDC_") && !out.contains(".env.production"), "{out}");
    drop(clean);
    // (fault, the rule raised, what Synapse's page must show, words the fix must name)
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        ("", None, "Continue", ""),
        ("wrong-aud", Some("IDT-AUD-MISMATCH"), "invalid_token", "client_id"),
        ("wrong-iss", Some("IDT-ISS-MISMATCH"), "invalid_token", ""),
        ("expired-id-token", Some("IDT-EXPIRED"), "invalid_token", ""),
        ("nonce-mismatch", Some("IDT-NONCE-MISMATCH"), "invalid_token", ""),
        ("wrong-key", Some("IDT-SIGNATURE-INVALID"), "invalid_token", ""),
        ("state-altered", Some("AUTHZ-STATE-MISMATCH"), "mismatching_session", ""),
        ("invalid-client", Some("TOKEN-ERROR"), "invalid_client", "client_secret"),
    ];
    let mut failures = vec![];
    for (fault, rule, page, fix_words) in cases {
        let faults: Vec<&str> = if fault.is_empty() { vec![] } else { vec![fault] };
        let _p = rig.provider("synapse", client, &faults, serde_json::Value::Null);
        let from = rig.journal_len();
        let (verdict, said) = log_in_to_synapse(&browser, syn_port).await;
        std::thread::sleep(Duration::from_millis(400));
        let found = findings_since(&rig.journal, from);
        let name = if fault.is_empty() { "clean" } else { fault };
        let mut seen = judge_app_login("synapse", *rule, fix_words, &found, verdict == SignedIn, &said);
        if !said.contains(page) {
            seen.push(format!("Synapse's page does not show {page:?}: {said}"));
        }
        // The prediction is the profile's, and it names what Synapse's page shows.
        if let Some(rule) = rule {
            let says = oidc_tap::rp::by_name("synapse").unwrap().predict(rule, Some("-")).unwrap();
            let f = found.iter().find(|f| f["rule"] == *rule);
            if f.is_some_and(|f| f["mastodon"] != says.as_str()) || !says.contains(page) {
                seen.push(format!("{rule}: Synapse's prediction is {says:?}"));
            }
        }
        failures.extend(seen.into_iter().map(|w| format!("{name}: {w}")));
    }
    let console = rig.stop();
    // Synapse does not call userinfo (user_profile_method: auto): its clean login ends with the
    // verified ID token, complete, and no login is left "incomplete" without a cause.
    for f in findings_since(&rig.journal, 0) {
        if f["rule"].as_str().is_some_and(|r| r.starts_with("FLOW-")) && f["follows"].is_null() {
            failures.push(format!("a login closed with {} and no cause: {f}", f["rule"]));
        }
    }
    assert!(failures.is_empty(), "{}\n--- console\n{console}", failures.join("\n"));
}

/// GitLab's logins: Debian's omniauth OpenID Connect strategy (the one GitLab runs) configured
/// as `gitlab.rb`'s omniauth_providers entry configures it (authentik's GitLab guide: issuer,
/// discovery, scope, uid_field, client_options identifier/secret/redirect_uri), mounted at
/// `/users/auth/openid_connect`, its failures worded as GitLab's flash. One gateway in front
/// of oidc-provider, one fault per login: the findings are GitLab's, recognised by the
/// callback path alone (no `--rp`), and the flash GitLab shows is the one predicted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_logins_read_in_gitlabs_words() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    if skip_unless_peers() {
        return;
    }
    let Some(browser) = Browser::launch_with(true, false, &["--ignore-certificate-errors"]).await else {
        return;
    };
    let mut rig = AppRig::start(&[]);
    let (ca, gw_port) = (rig.ca.clone(), rig.gw_port);
    let rp_port = free_port();
    let issuer = rig.issuer("gitlab");
    let callback = format!("http://127.0.0.1:{rp_port}/users/auth/openid_connect/callback");
    let client = (CLIENT_ID, CLIENT_SECRET, callback.as_str());
    // gitlab.rb's args, as the strategy reads them (the same keys rp-omniauth.rb maps).
    let mut rp = Command::new("ruby");
    rp.arg(Path::new(PEERS).join("rp-omniauth.rb"))
        .env("SSL_CERT_FILE", ca.join("ca.pem"))
        .env("GITLAB", "1")
        .env("OIDC_ISSUER", &issuer)
        .env("OIDC_SCOPE", "openid,profile,email")
        .env("OIDC_UID_FIELD", "preferred_username")
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_REDIRECT_URI", &callback)
        .env("PORT", rp_port.to_string());
    let (_rp, _) = Peer::start("gitlab (omniauth)", rp, rig.path().join("rp.log"));
    // The same settings as gitlab.rb holds them, checked before anyone logs in.
    let rb = |issuer: &str| {
        format!(
            "external_url 'http://127.0.0.1:{rp_port}'\ngitlab_rails['omniauth_providers'] = [\n  {{\n    name: \"openid_connect\",\n    label: \"authentik\",\n    args: {{\n      name: \"openid_connect\",\n      scope: [\"openid\",\"profile\",\"email\"],\n      response_type: \"code\",\n      issuer: \"{issuer}\",\n      discovery: true,\n      uid_field: \"preferred_username\",\n      client_options: {{\n        identifier: \"{CLIENT_ID}\",\n        secret: \"{CLIENT_SECRET}\",\n        redirect_uri: \"{callback}\"\n      }}\n    }}\n  }}\n]\n"
        )
    };
    {
        let _p = rig.provider("gitlab", client, &[], serde_json::Value::Null);
        let good = rig.path().join("gitlab.rb");
        std::fs::write(&good, rb(&issuer)).unwrap();
        let (code, out) = check_config(&ca, &["--rp", "gitlab", good.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{out}");
        let bad = rig.path().join("gitlab-no-slash.rb");
        std::fs::write(&bad, rb(issuer.trim_end_matches('/'))).unwrap();
        let (code, out) = check_config(&ca, &["--rp", "gitlab", bad.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("✗ CONFIG-ISSUER-MISMATCH  issuer is not byte-equal"), "{out}");
        assert!(
            out.contains(&format!("fix      set issuer={issuer} in gitlab.rb (gitlab_rails['omniauth_providers'] → args) and run gitlab-ctl reconfigure")),
            "{out}"
        );
        assert!(
            out.contains(
                "GitLab “Could not authenticate you from OpenIDConnect because \"Issuer mismatch\".”"
            ),
            "{out}"
        );
    }
    // (fault, the rule raised, words the fix must name)
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("", None, ""),
        ("wrong-aud", Some("IDT-AUD-MISMATCH"), "client_options.identifier"),
        ("wrong-iss", Some("IDT-ISS-MISMATCH"), ""),
        ("expired-id-token", Some("IDT-EXPIRED"), ""),
        ("nonce-mismatch", Some("IDT-NONCE-MISMATCH"), ""),
        ("state-altered", Some("AUTHZ-STATE-MISMATCH"), ""),
        ("wrong-key", Some("IDT-SIGNATURE-INVALID"), ""),
        ("unknown-kid", Some("IDT-KID-UNKNOWN"), ""),
        ("invalid-client", Some("TOKEN-ERROR"), "client_options.secret"),
    ];
    let mut failures = vec![];
    for (fault, rule, fix_words) in cases {
        let faults: Vec<&str> = if fault.is_empty() { vec![] } else { vec![fault] };
        let name = if fault.is_empty() { "clean" } else { fault };
        let _p = rig.provider("gitlab", client, &faults, serde_json::Value::Null);
        let from = rig.journal_len();
        let (verdict, said) = log_in(&browser, rp_port, gw_port).await;
        std::thread::sleep(Duration::from_millis(400));
        let found = findings_since(&rig.journal, from);
        let mut seen = judge_app_login("gitlab", *rule, fix_words, &found, verdict == SignedIn, &said);
        if rule.is_some_and(|r| {
            !found.iter().any(|f| f["rule"] == r && f["mastodon"].as_str().is_some_and(|m| m.contains('“')))
        }) {
            seen.push("no prediction quoting GitLab's flash".into());
        }
        failures.extend(seen.into_iter().map(|w| format!("{name}: {w}")));
    }
    let console = rig.stop();
    assert!(failures.is_empty(), "{}\n--- console\n{console}", failures.join("\n"));
}

/// One gateway in front of one provider, as in front of authentik: Mastodon (Debian's omniauth
/// strategy, configured from its `.env.production`, given to the gateway) and a real Synapse
/// log in at the same moment, both refused for a wrong audience. Two logins, each recognised by
/// its callback: Mastodon's findings in Mastodon's words (judged against its .env), Synapse's
/// in Synapse's (not judged against Mastodon's settings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mastodon_and_synapse_at_once_keep_two_logins_in_their_own_words() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let Some(python) = skip_unless_synapse() else { return };
    let flags = ["--ignore-certificate-errors"];
    let (Some(b1), Some(b2)) =
        (Browser::launch_with(true, false, &flags).await, Browser::launch_with(true, false, &flags).await)
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_dir(dir.path());
    let (gw_port, provider_port, syn_port, rp_port) = (free_port(), free_port(), free_port(), free_port());
    let public = format!("https://localhost:{gw_port}");
    let issuer = format!("{public}/application/o/shared/");
    let syn_callback = format!("http://127.0.0.1:{syn_port}/_synapse/client/oidc/callback");
    let m_callback = format!("http://127.0.0.1:{rp_port}/auth/auth/openid_connect/callback");
    let config = serde_json::json!({
        "port": provider_port, "public": public, "slug": "shared", "style": "interaction", "faults": ["wrong-aud"],
        "client": { "id": CLIENT_ID, "secret": CLIENT_SECRET, "redirect_uris": [m_callback] },
        "extra_clients": [{ "id": SYNAPSE_CLIENT_ID, "secret": SYNAPSE_SECRET, "redirect_uris": [syn_callback] }],
    });
    let mut p = Command::new("node");
    p.arg(Path::new(PEERS).join("provider.mjs")).arg(config.to_string());
    let (_provider, _) = Peer::start("provider", p, dir.path().join("provider.log"));
    let env_file = dir.path().join(".env.production");
    let env = [
        ("OIDC_ENABLED", "true".to_owned()),
        ("OIDC_ISSUER", issuer.clone()),
        ("OIDC_SCOPE", "openid,profile,email".into()),
        ("OIDC_UID_FIELD", "preferred_username".into()),
        ("OIDC_CLIENT_ID", CLIENT_ID.into()),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET.into()),
        ("OIDC_REDIRECT_URI", m_callback.clone()),
    ];
    let mut text = format!("LOCAL_DOMAIN=127.0.0.1:{rp_port}\nWEB_DOMAIN=127.0.0.1:{rp_port}\n");
    for (k, v) in &env {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(&env_file, text).unwrap();
    let journal = dir.path().join("both.jsonl");
    let mut gw = Command::new(env!("CARGO_BIN_EXE_oidc-tap"));
    gw.args(["proxy", "--listen", &format!("https://127.0.0.1:{gw_port}"), "--ca-dir"])
        .arg(&ca)
        .args(["--upstream", &format!("http://127.0.0.1:{provider_port}"), "--trace"])
        .arg(&journal)
        .arg("--mastodon-env")
        .arg(&env_file)
        .stdout(std::fs::File::create(dir.path().join("console.txt")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap());
    let mut gateway = gw.spawn().unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", gw_port)).is_err() {
        assert!(gateway.try_wait().unwrap().is_none(), "the gateway stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rp = Command::new("ruby");
    rp.arg(Path::new(PEERS).join("rp-omniauth.rb"))
        .env("SSL_CERT_FILE", ca.join("ca.pem"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("PORT", rp_port.to_string());
    let (_rp, _) = Peer::start("mastodon (omniauth)", rp, dir.path().join("rp.log"));
    let syn_dir = dir.path().join("synapse");
    std::fs::create_dir_all(&syn_dir).unwrap();
    let _synapse = start_synapse(&python, &syn_dir, syn_port, &issuer, &ca);
    let ((mv, m_said), (sv, s_said)) =
        tokio::join!(log_in(&b1, rp_port, gw_port), log_in_to_synapse(&b2, syn_port));
    std::thread::sleep(Duration::from_millis(400));
    let _ = Command::new("kill").args(["-INT", &gateway.id().to_string()]).status();
    let _ = gateway.wait();
    let console = std::fs::read_to_string(dir.path().join("console.txt")).unwrap_or_default();
    assert_eq!((mv, sv), (Rejected, Rejected), "{m_said}\n{s_said}\n{console}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let aud: Vec<&serde_json::Value> = lines.iter().filter(|v| v["rule"] == "IDT-AUD-MISMATCH").collect();
    assert_eq!(aud.len(), 2, "one per login:\n{console}");
    let (syn, mas): (Vec<&&serde_json::Value>, Vec<&&serde_json::Value>) =
        aud.iter().partition(|f| f["rp"] == "synapse");
    let (syn, mas) = (syn[0], mas[0]);
    assert_ne!(syn["flow"], mas["flow"], "two logins");
    assert_eq!(mas["rp"], serde_json::Value::Null, "Mastodon's login reads in the default words");
    assert_eq!(mas["mastodon"], "“Invalid ID token: Audience does not match”");
    assert!(m_said.contains("Audience does not match"), "{m_said}");
    assert_eq!(
        syn["mastodon"].as_str().unwrap(),
        oidc_tap::rp::by_name("synapse").unwrap().predict("IDT-AUD-MISMATCH", Some("-")).unwrap()
    );
    assert!(s_said.contains("invalid_token"), "{s_said}");
    // Each login's flow says whose it is; Synapse's is not judged against Mastodon's .env.
    let closed_rp = |flow: &serde_json::Value| {
        lines
            .iter()
            .find(|v| v["type"] == "flow" && v["event"] == "closed" && v["flow"] == *flow)
            .map(|v| v["rp"].clone())
    };
    assert_eq!(closed_rp(&syn["flow"]), Some(serde_json::json!("synapse")), "{console}");
    assert_eq!(closed_rp(&mas["flow"]), Some(serde_json::Value::Null), "{console}");
    let judged_against_mastodon = lines.iter().any(|v| {
        v["flow"] == syn["flow"]
            && v["rule"].as_str().is_some_and(|r| r.starts_with("CONFIG-"))
            && v["severity"] != "info"
    });
    assert!(!judged_against_mastodon, "{console}");
    assert!(console.contains("Synapse shows its SSO error page: invalid_token"), "{console}");
    assert!(console.contains("Mastodon “Invalid ID token: Audience does not match”"), "{console}");
}

/// `oidc-tap check-config ARGS…` against the gateway (its CA trusted): exit code and stdout.
fn check_config(ca: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .arg("check-config")
        .args(args)
        .arg("--upstream-ca")
        .arg(ca.join("ca.pem"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The other applications' tests (a Synapse, a second strategy, two browsers) take turns, so
/// that with the suites beside them two cores are not asked for more than a login's timing
/// allows.
static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
