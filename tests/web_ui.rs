//! The web view and the HTML report as a person sees them: Debian's headless Chromium, driven
//! through chromedriver (WebDriver, the `fantoccini` crate). `.ci/run` installs both and sets
//! `OIDC_TAP_BROWSER_TESTS=required`, so in CI these tests cannot skip; elsewhere, without
//! chromium, they say so and pass. Screenshots land in `target/tmp/web-ui/`.
//!
//! The token and Host checks need no browser and always run.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use oidc_tap::analysis::Event;
use oidc_tap::demo::faults;
use oidc_tap::demo::rig::{Numbering, Rig, Scenario};
use oidc_tap::ui::board::Board;
use oidc_tap::ui::{Mode, Ui, UiConfig};

#[path = "common/browser.rs"]
mod browser;
use browser::{Browser, WAIT};

/// One demo login through a fresh rig whose session feeds `ui`; its events, unredacted.
async fn login(ui: &Ui, names: &[&str]) -> Vec<Event> {
    login_after(ui, names, Numbering::default()).await.0
}

/// One demo login fed to the page, numbered on after `numbering` (as `demo` runs its logins).
async fn login_after(ui: &Ui, names: &[&str], numbering: Numbering) -> (Vec<Event>, Numbering) {
    let mut sc = Scenario::clean();
    faults::combine(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &mut sc).unwrap();
    sc.numbering = numbering;
    let mut session = oidc_tap::demo::rig::quiet_session(&sc);
    session.ui = Some(ui.feed());
    let rig = Rig::start(sc, session).await.unwrap();
    rig.login().await.unwrap();
    let (session, next) = rig.finish_numbered().await.unwrap();
    (session.keep.unwrap(), next)
}

/// The same login again as flow `flow` (a page fed many logins quickly).
fn as_flow(events: &[Event], flow: u64) -> Vec<Event> {
    let mut out = events.to_vec();
    for e in &mut out {
        match e {
            Event::Exchange(x) => x.flow = x.flow.map(|_| flow),
            Event::Finding(f) => f.flow = f.flow.map(|_| flow),
            Event::Flow(f) => f.flow = flow,
        }
    }
    out
}

/// Every secret the logins carried in clear: codes, tokens, the ID token's signature, the
/// client secret, passwords, cookies.
fn secrets(events: &[Event]) -> Vec<String> {
    let mut out = vec![Scenario::clean().rp.client_secret.clone()];
    for ev in events {
        let Event::Exchange(x) = ev else { continue };
        let ex = &x.exchange;
        for body in [Some(&ex.request.body), ex.response.as_ref().map(|r| &r.body)].into_iter().flatten() {
            let Some(t) = body.text() else { continue };
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t) {
                for k in ["access_token", "refresh_token", "password"] {
                    out.extend(m.get(k).and_then(|v| v.as_str()).map(str::to_owned));
                }
                if let Some(sig) =
                    m.get("id_token").and_then(|v| v.as_str()).and_then(|j| j.rsplit('.').next())
                {
                    out.push(sig.to_owned());
                }
            }
            for (k, v) in form_urlencoded::parse(t.as_bytes()) {
                if ["code", "client_secret", "password", "refresh_token"].contains(&k.as_ref()) {
                    out.push(v.into_owned());
                }
            }
        }
        if let Some(q) = ex.request.path.split_once('?').map(|(_, q)| q) {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if k == "code" {
                    out.push(v.into_owned());
                }
            }
        }
        let heads = ex.request.headers.iter().chain(ex.response.iter().flat_map(|r| r.headers.iter()));
        for h in heads {
            let n = h.name.to_ascii_lowercase();
            if n == "cookie" || n == "set-cookie" {
                for kv in h.value.split(';') {
                    out.extend(kv.split_once('=').map(|(_, v)| v.trim().to_owned()));
                }
            }
            if n == "authorization" {
                out.extend(h.value.split_once(' ').map(|(_, v)| v.to_owned()));
            }
        }
    }
    out.retain(|s| s.len() >= 12);
    out.sort();
    out.dedup();
    assert!(out.len() > 5, "the logins carried secrets to look for: {out:?}");
    out
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} contains the secret {s}");
    }
}

/// A plain HTTP/1.1 GET: (status, head, body).
fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Connection: close\r\n\r\n", addr.port())
        .unwrap();
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// The finding's expected, seen and fix, as the page must show them.
fn finding_of<'a>(events: &'a [Event], rule: &str) -> &'a oidc_tap::rules::Finding {
    events
        .iter()
        .find_map(|e| match e {
            Event::Finding(f) if f.rule.as_str() == rule => Some(f.as_ref()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{rule} raised"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_draws_each_login_as_it_happens() {
    let Some(b) = Browser::start(true).await else { return };
    let cfg = UiConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        allow_remote: false,
        mode: Mode::Live,
        title: "live · test".into(),
    };
    let ui = Ui::start(cfg, Board::new(false, Default::default())).await.unwrap();
    b.client.goto(&ui.url()).await.unwrap();
    assert!(b.text("#empty").await.contains("No login yet"));
    assert_eq!(b.text("#mode").await, "live · test");
    // A mark a reload would wipe.
    b.client.execute("window.stillHere = true; return true", vec![]).await.unwrap();

    let (clean, after) = login_after(&ui, &[], Numbering::default()).await;
    let (broken, _) = login_after(&ui, &["wrong-aud"], after).await;

    // Both flows appear without a reload: the clean one complete, the broken one failed.
    b.wait_for("#row-1.ok").await;
    let row = b.text("#row-2.error").await;
    assert!(row.contains("IDT-AUD-MISMATCH") && row.contains("flow 2 · failed"), "{row}");
    assert!(b.text("#row-1").await.contains("flow 1 · complete"));
    assert_eq!(b.client.execute("return window.stillHere === true", vec![]).await.unwrap(), true);

    // The broken flow's failing arrow is marked; selecting it shows the finding and the ID token.
    b.wait_for("#row-2").await.click().await.unwrap();
    // The fragment may be redrawn by a late update while it is read: read it again then.
    let mut tries = 0;
    let (arrow, x) = loop {
        let arrow = b.wait_for("#flow-2 .seq a.arrow.fail").await;
        match (arrow.text().await, arrow.attr("data-x").await) {
            (Ok(t), Ok(Some(x))) => {
                assert!(t.contains("the token call"), "{t}");
                break (arrow, x);
            }
            other => {
                tries += 1;
                assert!(tries < 50, "the failing arrow stayed unreadable: {other:?}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(b.client.find_all(Locator::Css("#flow-2 .seq a.arrow.fail")).await.unwrap().len(), 1);
    arrow.click().await.unwrap();
    let detail = b.text(&format!("#x-{x}.sel")).await;
    let f = finding_of(&broken, "IDT-AUD-MISMATCH");
    for (label, want) in [
        ("expected", f.expected.as_deref().unwrap()),
        ("seen", f.seen.as_deref().unwrap()),
        ("fix", f.fix.as_str()),
    ] {
        assert!(detail.contains(&format!("{label}\n{want}")), "{label} {want:?} in\n{detail}");
    }
    let claims = b.text(&format!("#x-{x}.sel table.id-token")).await;
    assert!(claims.contains("aud another-client"), "{claims}");
    assert!(claims.contains(" UTC (expires in ") && claims.contains("from now"), "{claims}");
    assert!(detail.contains("✓ signature ✓") || detail.contains("signature ✓"), "{detail}");
    assert!(b.client.current_url().await.unwrap().as_str().ends_with(&format!("#flow-2/x-{x}")));
    b.shot("live-failed-flow.png").await;
    // Readable at 1280 px: nothing wider than the window.
    assert_eq!(
        b.client
            .execute("return document.documentElement.scrollWidth <= window.innerWidth", vec![])
            .await
            .unwrap(),
        true
    );

    // Keyboard: ↓ selects the next exchange, ← / → move between flows.
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Down.to_string())
        .await
        .unwrap();
    b.until(&format!("return document.querySelector('.seq a.arrow.sel').dataset.x !== '{x}'")).await;
    b.client.active_element().await.unwrap().send_keys("]").await.unwrap();
    b.wait_for("#flow-1 .seq").await;
    b.shot("live-clean-flow.png").await;

    // Nothing on the page or in a download holds a secret; the downloads are what is shown.
    let mut secrets = secrets(&clean);
    secrets.extend(self::secrets(&broken));
    assert_no_secret("the page", &b.client.source().await.unwrap(), &secrets);
    for path in ["/api/flows", "/api/flows/1", "/api/flows/2", "/app.js"] {
        let (status, _, body) = get(ui.addr, path, "");
        assert_eq!(status, 200, "{path}");
        assert_no_secret(path, &body, &secrets);
    }
    let (_, head, har) = get(ui.addr, "/download/trace.har", "");
    assert!(head.contains("attachment; filename=\"oidc-tap.har\""), "{head}");
    let har: serde_json::Value = serde_json::from_str(&har).unwrap();
    assert!(har["log"]["entries"].as_array().unwrap().len() >= 10);
    assert_no_secret("the HAR", &har.to_string(), &secrets);
    let (_, _, jsonl) = get(ui.addr, "/download/trace.jsonl?flow=2", "");
    assert!(jsonl.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert!(jsonl.contains("\"IDT-AUD-MISMATCH\"") && !jsonl.contains("\"flow\":1,"), "{jsonl}");
    assert_no_secret("the journal", &jsonl, &secrets);
    let (_, _, md) = get(ui.addr, "/download/report.md", "");
    assert!(md.contains("## Login flow 2 · failed") && md.contains("`IDT-AUD-MISMATCH`"), "{md}");
    assert_no_secret("the report", &md, &secrets);

    // The errors-only filter hides the clean flow, and the downloads hold only what is shown.
    b.wait_for("#errors-only").await.click().await.unwrap();
    b.until("return document.getElementById('row-1').offsetParent === null").await;
    assert_eq!(
        b.wait_for("#dl-md").await.attr("href").await.unwrap().as_deref(),
        Some("/download/report.md?errors=1")
    );
    let (_, _, md) = get(ui.addr, "/download/report.md?errors=1", "");
    assert!(md.contains("## Login flow 2 · failed") && !md.contains("## Login flow 1"), "{md}");

    // Strict CSP on every answer.
    let (_, head, _) = get(ui.addr, "/", "");
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'")
    );
    ui.shutdown().await;
}

/// `oidc-tap view …` in the background: its address, and the child to stop.
struct Viewing {
    child: std::process::Child,
    url: String,
}

impl Viewing {
    fn start(args: &[&str]) -> Viewing {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
            .arg("view")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(u) = line.trim().strip_prefix("web view") {
                url = u.trim().to_owned();
            }
            if line == "Ctrl-C stops." {
                break;
            }
        }
        assert!(url.starts_with("http://"), "no address printed");
        Viewing { child, url }
    }

    fn addr(&self) -> std::net::SocketAddr {
        let hostport = self.url.trim_start_matches("http://").split('/').next().unwrap();
        let port: u16 = hostport.rsplit(':').next().unwrap().parse().unwrap();
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }
}

impl Drop for Viewing {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// A HAR of one broken login, as a customer would send it.
fn recorded_har(dir: &Path) -> PathBuf {
    let har = dir.join("wrong-aud.har");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["demo", "--fault", "wrong-aud", "--har", har.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    har
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_of_a_recorded_har_shows_the_same_login() {
    let Some(b) = Browser::start(true).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let har = recorded_har(dir.path());
    let v = Viewing::start(&[har.to_str().unwrap(), "--ui", "127.0.0.1:0"]);
    b.client.goto(&v.url).await.unwrap();
    assert!(b.text("#mode").await.starts_with("trace "));
    // The failing flow opens by itself, its failing arrow selected.
    let row = b.text("ol.flows li.error.sel").await;
    assert!(row.contains("IDT-AUD-MISMATCH"), "{row}");
    let arrow = b.wait_for(".seq a.arrow.fail.sel").await;
    let x = arrow.attr("data-x").await.unwrap().unwrap();
    let detail = b.text(&format!("#x-{x}.sel")).await;
    assert!(detail.contains("IDT-AUD-MISMATCH"), "{detail}");
    assert!(detail.contains("seen\nanother-client"), "{detail}");
    assert!(detail.contains("fix\n"), "{detail}");
    assert!(b.text(&format!("#x-{x}.sel table.id-token")).await.contains("aud another-client"));
    // Redacted values show as fingerprints.
    let fp = b.text(&format!("#x-{x}.sel .fp")).await;
    assert!(fp.starts_with("redacted …"), "{fp}");
    b.shot("view-har.png").await;
    let light =
        b.client.execute("return getComputedStyle(document.body).backgroundColor", vec![]).await.unwrap();
    assert_eq!(light, "rgb(255, 255, 255)");
    // The same page for a system that prefers dark.
    let dark = Browser::launch(true, true).await.unwrap();
    dark.client.goto(&v.url).await.unwrap();
    dark.wait_for(".seq a.arrow.fail.sel").await;
    let bg =
        dark.client.execute("return getComputedStyle(document.body).backgroundColor", vec![]).await.unwrap();
    assert_eq!(bg, "rgb(13, 17, 23)");
    dark.shot("view-har-dark.png").await;
    let (status, _, page) = get(v.addr(), &format!("/api/flows/{}", "1"), "");
    assert_eq!(status, 200);
    assert!(!page.contains("demoSecretDoNotUse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_reads_the_same_without_javascript() {
    let Some(b) = Browser::start(false).await else { return };
    // JavaScript is really off in this browser.
    b.client.goto("data:text/html,<title>off</title><script>document.title='on'</script>").await.unwrap();
    assert_eq!(b.client.title().await.unwrap(), "off");
    let dir = tempfile::tempdir().unwrap();
    let har = recorded_har(dir.path());
    let html = dir.path().join("report.html");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["report", har.to_str().unwrap(), "--format", "html", "-o", html.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    b.client.goto(&format!("file://{}", html.display())).await.unwrap();
    let finding = b.text("section .finding.error#flow-1-IDT-AUD-MISMATCH").await;
    assert!(finding.contains("seen\nanother-client") && finding.contains("fix\n"), "{finding}");
    assert!(b.text(".seq a.arrow.fail").await.contains("the token call"));
    // Every exchange's details are on the page, the ID token's claims among them.
    assert!(b.text("table.id-token").await.contains("aud another-client"));
    assert!(b.wait_for(".xd").await.is_displayed().await.unwrap());
    b.shot("report-no-javascript.png").await;
    let source = std::fs::read_to_string(&html).unwrap();
    assert!(!source.contains("demoSecretDoNotUse"));
}

#[test]
fn beyond_loopback_the_view_needs_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces/issuer-trailing-slash.jsonl");
    // Not without saying so.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["view", trace.to_str().unwrap(), "--ui", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --ui-allow-remote"), "{out:?}");
    drop(dir);

    let v = Viewing::start(&[trace.to_str().unwrap(), "--ui", "0.0.0.0:0", "--ui-allow-remote"]);
    let token = v.url.split_once("?token=").map(|(_, t)| t.to_owned()).expect("a token in the address");
    assert_eq!(token.len(), 22);
    for path in ["/", "/api/flows", "/app.js", "/events", "/download/trace.har"] {
        assert_eq!(get(v.addr(), path, "").0, 401, "{path}");
        assert_eq!(get(v.addr(), &format!("{path}?token=x{token}"), "").0, 401, "{path}");
    }
    let (status, head, _) = get(v.addr(), &format!("/?token={token}"), "");
    assert_eq!(status, 200);
    assert!(head.contains(&format!("set-cookie: oidc_tap_ui={token}; HttpOnly; SameSite=Strict")), "{head}");
    let (status, _, flows) = get(v.addr(), "/api/flows", &format!("Cookie: oidc_tap_ui={token}\r\n"));
    assert_eq!(status, 200);
    assert!(flows.contains("\"mode\":\"view\""), "{flows}");
    assert_eq!(get(v.addr(), "/api/flows", &format!("Authorization: Bearer {token}\r\n")).0, 200);
}

#[test]
fn on_loopback_the_view_answers_only_to_its_own_names() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces/issuer-trailing-slash.jsonl");
    let v = Viewing::start(&[trace.to_str().unwrap(), "--ui", "127.0.0.1:0"]);
    assert!(!v.url.contains("token"));
    assert_eq!(get(v.addr(), "/api/flows", "").0, 200);
    // A page elsewhere that rebinds its name to 127.0.0.1 reads nothing.
    let mut s = std::net::TcpStream::connect(v.addr()).unwrap();
    write!(
        s,
        "GET /api/flows HTTP/1.1\r\nHost: attacker.example:{}\r\nConnection: close\r\n\r\n",
        v.addr().port()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    // Only GET; the flow a page asks for must exist.
    assert_eq!(get(v.addr(), "/api/flows/999", "").0, 404);
}

/// Starts `oidc-tap ARGS…`, reads the lines of `stream` up to `last`; the child and those lines.
fn started(args: &[&str], last: &str, stderr: bool) -> (std::process::Child, Vec<String>) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"));
    cmd.args(args);
    if stderr {
        cmd.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null());
    } else {
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
    }
    let mut child = cmd.spawn().unwrap();
    let out: Box<dyn Read + Send> =
        if stderr { Box::new(child.stderr.take().unwrap()) } else { Box::new(child.stdout.take().unwrap()) };
    let mut lines = vec![];
    let mut reader = std::io::BufReader::new(out).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        let done = line.contains(last);
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || reader.for_each(drop));
    (child, lines)
}

fn ui_addr(lines: &[String]) -> std::net::SocketAddr {
    let url = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("web view"))
        .unwrap_or_else(|| panic!("no web view line in {lines:?}"))
        .trim();
    url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap()
}

fn stop(mut child: std::process::Child) -> Option<i32> {
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap().code()
}

mod text {
    /// At most 2,000 characters of a long answer in a failure message.
    pub fn abbreviate(s: &str) -> String {
        s.chars().take(2000).collect()
    }
}

/// Polls the page's list until `ok` holds for it.
fn flows_until(addr: std::net::SocketAddr, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, _, body) = get(addr, "/api/flows", "");
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if ok(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "never: {}", crate::text::abbreviate(&v.to_string()));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_ui_keeps_the_demo_logins_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, har) = (dir.path().join("demo.jsonl"), dir.path().join("demo.har"));
    let (journal, har) = (journal.to_str().unwrap(), har.to_str().unwrap());
    let (child, lines) =
        started(&["demo", "--ui", "127.0.0.1:0", "--trace", journal, "--har", har], "Ctrl-C stops.", false);
    assert!(lines.iter().any(|l| l == "The logins above, as sequence diagrams:"), "{lines:?}");
    // Newest first, each login with the finding its verdict is about (the page may still be
    // taking in the last one when the address is printed).
    let worst = |v: &serde_json::Value| -> Vec<String> {
        v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["worst"]["rule"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    let v = flows_until(ui_addr(&lines), |v| {
        worst(v) == ["MASTODON-EMAIL-UNVERIFIED", "TOKEN-SCOPE-DROPPED", "CONFIG-ISSUER-MISMATCH", "-"]
    });
    assert_eq!(v["mode"], "live");
    assert_eq!(stop(child), Some(0));

    // The same flow numbers everywhere: console, web view, journal, HAR pages, report.
    let want: std::collections::BTreeSet<u64> = (1..=4).collect();
    let console: std::collections::BTreeSet<u64> =
        lines.iter().filter_map(|l| l.split(" flow ").nth(1)?.split(' ').next()?.parse().ok()).collect();
    assert_eq!(console, want, "console");
    let page: std::collections::BTreeSet<u64> =
        v["flows"].as_array().unwrap().iter().map(|f| f["id"].as_u64().unwrap()).collect();
    assert_eq!(page, want, "web view");
    let written: Vec<serde_json::Value> =
        std::fs::read_to_string(journal).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let in_journal: std::collections::BTreeSet<u64> =
        written.iter().filter(|v| v["type"] == "flow").filter_map(|v| v["flow"].as_u64()).collect();
    assert_eq!(in_journal, want, "journal");
    let ids: Vec<u64> =
        written.iter().filter(|v| v["type"] == "exchange").map(|v| v["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        "exchange ids are unique"
    );
    let har: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(har).unwrap()).unwrap();
    let pages: std::collections::BTreeSet<u64> = har["log"]["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().strip_prefix("flow-").unwrap().parse().unwrap())
        .collect();
    assert_eq!(pages, want, "HAR pages");
    let report = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .args(["report", journal])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout);
    let in_report: std::collections::BTreeSet<u64> = report
        .lines()
        .filter_map(|l| l.strip_prefix("## Login flow ")?.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(in_report, want, "report");
}

#[test]
fn proxy_ui_shows_what_crosses_the_gateway() {
    // An upstream that refuses: the gateway answers 502 and the page shows the login it broke.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (child, lines) = started(
        &[
            "proxy",
            "--listen",
            "http://127.0.0.1:0",
            "--upstream",
            &format!("http://{dead}"),
            "--ca-dir",
            dir.path().to_str().unwrap(),
            "--ui",
            "127.0.0.1:0",
        ],
        "web view",
        true,
    );
    let listening = lines.iter().find_map(|l| l.split("listening http://").nth(1)).unwrap();
    let gateway: std::net::SocketAddr = listening.split(' ').next().unwrap().parse().unwrap();
    let ui = ui_addr(&lines);
    assert_eq!(get(ui, "/api/flows", "").0, 200);
    let (status, _, _) = get(gateway, "/application/o/mastodon/.well-known/openid-configuration", "");
    assert_eq!(status, 502);
    let v = flows_until(ui, |v| !v["flows"][0]["worst"].is_null());
    assert_eq!(v["mode"], "live");
    assert!(v["title"].as_str().unwrap().starts_with("live · http://127.0.0.1:"), "{v}");
    assert_eq!(v["flows"][0]["worst"]["rule"], "GATEWAY-UPSTREAM-FAILED", "{v}");
    assert_eq!(stop(child), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_browser_holds_nothing_up() {
    let cfg = UiConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        allow_remote: false,
        mode: Mode::Live,
        title: "live".into(),
    };
    let ui = Ui::start(cfg, Board::new(false, Default::default())).await.unwrap();
    // A browser that opens the stream and never reads it.
    let mut stuck = std::net::TcpStream::connect(ui.addr).unwrap();
    write!(stuck, "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", ui.addr.port()).unwrap();
    let events = login(&ui, &[]).await;
    let feed = ui.feed();
    let started = std::time::Instant::now();
    for flow in 2..=301 {
        for e in &as_flow(&events, flow) {
            feed.send(e);
        }
    }
    // Sending never waited on the page (a queue push each), and the page kept up regardless.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let addr = ui.addr;
    // The newest of the 301 logins on top, the page bounded to MAX_FLOWS of them.
    let v = tokio::task::spawn_blocking(move || {
        flows_until(addr, |v| v["flows"][0]["id"] == 301 && v["flows"][0]["outcome"] == "complete")
    })
    .await
    .unwrap();
    assert_eq!(v["flows"].as_array().unwrap().len(), oidc_tap::ui::board::MAX_FLOWS);
    drop(stuck);
    ui.shutdown().await;
}

#[test]
fn demo_serve_ui_prints_the_page_with_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("certs");
    let (child, lines) = started(
        &[
            "demo",
            "--serve",
            "--listen",
            "https://127.0.0.1:0",
            "--ca-dir",
            ca.to_str().unwrap(),
            "--ui",
            "127.0.0.1:0",
        ],
        "Ctrl-C stops.",
        false,
    );
    // The page's address sits with the gateway's, before the last line.
    let at = lines.iter().position(|l| l.trim().starts_with("web view")).expect("a web view line");
    assert!(at < lines.len() - 1 && lines.iter().any(|l| l.starts_with("  gateway ")), "{lines:?}");
    let v = flows_until(ui_addr(&lines), |v| v["mode"] == "live");
    assert!(v["title"].as_str().unwrap().starts_with("live · demo --serve · https://127.0.0.1:"), "{v}");
    assert_eq!(stop(child), Some(0));
}
