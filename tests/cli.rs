//! The binary as a user runs it: `certs init`, `demo`, and clear errors for bad flags.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oidc-tap"));
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

#[test]
fn certs_init_writes_ca_and_leaf_and_explains_trust() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["certs", "init", "--dir"])
        .arg(dir.path())
        .args(["--host", "authentik.company", "--host", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("created dev CA"));
    assert!(text.contains("SSL_CERT_FILE"));
    assert!(text.contains("--connect-to authentik.company:443="));
    for f in ["ca.pem", "ca.key", "leaf.pem", "leaf.key"] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    // Second run keeps the CA.
    let out = bin().args(["certs", "init", "--dir"]).arg(dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept existing dev CA"));
}

/// Runs the binary and returns (exit status, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_fail_with_a_clear_message_and_the_usage_exit_code() {
    for (args, stderr) in [
        (
            &["proxy"][..],
            "error: no upstream: pass --upstream https://authentik.company (or --route HOST=URL)\n",
        ),
        (
            &["proxy", "--upstream", "ftp://x"][..],
            "error: upstream \"ftp://x\" is not an http:// or https:// URL with a host\n",
        ),
        (
            &["proxy", "--upstream", "https://a", "--connect-to", "a=b"][..],
            "error: --connect-to \"a=b\" is not HOST:PORT=ADDR:PORT\n",
        ),
        (&["proxy", "--upstream", "https://a", "--route", "x"][..], "error: route \"x\" is not HOST=URL\n"),
    ] {
        assert_eq!(run(args), (Some(2), String::new(), stderr.to_owned()), "{args:?}");
    }
    let (code, _, stderr) = run(&["proxy", "--bogus"]);
    assert_eq!(code, Some(2), "clap's usage errors exit 2 too");
    assert!(stderr.starts_with("error: unexpected argument '--bogus' found"), "{stderr}");
}

#[test]
fn unusable_certificates_exit_with_the_tls_code_and_missing_files_with_the_io_code() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a cert").unwrap();
    let bad = bad.to_str().unwrap();
    let (code, stdout, stderr) = run(&[
        "proxy",
        "--upstream",
        "https://a",
        "--listen",
        "https://127.0.0.1:0",
        "--cert",
        bad,
        "--key",
        bad,
    ]);
    assert_eq!((code, stdout.as_str()), (Some(4), ""));
    assert_eq!(stderr, format!("error: --cert: {bad} is not usable PEM: no CERTIFICATE block found\n"));
    let (code, _, stderr) = run(&[
        "proxy",
        "--upstream",
        "https://a",
        "--listen",
        "https://127.0.0.1:0",
        "--cert",
        "/nonexistent/cert.pem",
        "--key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(code, Some(3));
    assert_eq!(
        stderr,
        "error: --cert: cannot read /nonexistent/cert.pem: No such file or directory (os error 2)\n"
    );
}

#[test]
fn demo_runs_and_shows_traffic() {
    let out = bin().arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // The default run: a clean login, then broken ones, each with its finding and verdict.
    assert!(text.contains("── demo fault: clean"), "{text}");
    assert!(text.contains("Mastodon: signed in, account key (uid) \"alice\""), "{text}");
    assert!(text.contains("✗ CONFIG-ISSUER-MISMATCH"), "{text}");
    assert!(text.contains("because “Issuer mismatch”"), "{text}");
    assert!(text.contains("✗ USERINFO-ERROR"), "{text}");
    assert!(text.contains("! MASTODON-EMAIL-UNVERIFIED"), "{text}");
    let (code, stdout, stderr) = run(&["demo", "--fault", "nope"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert!(stderr.starts_with("error: unknown demo fault \"nope\"; known: clean, "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A trace on a full disk (Linux's /dev/full fails every write with ENOSPC, the first one
/// included): the logins still run and are judged, one warning says so, the count at the end.
#[test]
fn a_full_trace_disk_is_said_once_and_stops_nothing() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let (code, stdout, stderr) = run(&["demo", "--trace", "/dev/full"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("Mastodon: signed in, account key (uid) \"alice\""), "{stdout}");
    assert!(stdout.contains("✗ CONFIG-ISSUER-MISMATCH"), "{stdout}");
    assert_eq!(stdout.matches("── demo fault:").count(), 4, "{stdout}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("cannot write the trace journal")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("No space left on device") && said[0].contains("WARN"), "{stderr}");
    let count = stderr.lines().find(|l| l.ends_with("events could not be written to the trace journal"));
    let n: u64 = count.and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0);
    assert!(n > 10, "{stderr}");
    // An unopenable trace is a mistake to fix before anything runs: it names the file.
    let (code, _, stderr) = run(&["demo", "--trace", "/nonexistent-dir/t.jsonl"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("cannot open trace /nonexistent-dir/t.jsonl"), "{stderr}");
}

#[test]
fn demo_list_faults_names_every_fault_with_its_rules() {
    let (code, listing, stderr) = run(&["demo", "--list-faults"]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    let names: Vec<&str> = listing.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    let want: Vec<&str> = oidc_tap::demo::faults::FAULTS.iter().map(|f| f.name).collect();
    assert_eq!(names, want);
    assert!(names.len() >= 60, "{}", names.len());
    let line = listing.lines().find(|l| l.starts_with("wrong-aud ")).unwrap();
    assert!(line.ends_with("→ IDT-AUD-MISMATCH (error)"), "{line}");
    // The old spelling still works and prints the same.
    assert_eq!(run(&["demo", "--fault", "list"]).1, listing);
}

#[test]
fn demo_faults_combine_into_one_login_and_conflicts_are_refused() {
    let (code, stdout, stderr) = run(&["demo", "--fault", "clock-skew", "--fault", "email-unverified"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.matches("── demo fault:").count(), 1, "{stdout}");
    assert!(stdout.contains("── demo fault: clock-skew + email-unverified — "), "{stdout}");
    assert!(stdout.contains("✗ CLOCK-SKEW"), "{stdout}");
    assert!(stdout.contains("! MASTODON-EMAIL-UNVERIFIED"), "{stdout}");
    let (code, stdout, stderr) = run(&["demo", "--fault", "hs256", "--fault", "alg-none"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert_eq!(
        stderr,
        "error: demo faults \"hs256\" and \"alg-none\" change the same setting and cannot share one login\n"
    );
}

#[test]
fn decode_prints_claims_with_human_times_and_rejects_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/authentik/token-response.json")).unwrap();
    let path = dir.path().join("resp.json");
    std::fs::write(&path, fixture["response"]["body"].to_string()).unwrap();
    let out = bin().arg("decode").arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("== id_token (JWS, signature not verified)"));
    assert!(text.contains("exp       1795603642 = 2026-11-25 10:47:22 UTC (expired"));
    let out = bin().args(["decode", "not-a-token"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a JWT"));
}

#[test]
fn insecure_upstream_warns_on_start() {
    use std::io::BufRead;
    let mut child = bin()
        .args([
            "proxy",
            "--listen",
            "http://127.0.0.1:0",
            "--upstream",
            "https://127.0.0.1:9",
            "--insecure-upstream",
        ])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = vec![];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(l) => {
                let done = l.contains("listening");
                seen.push(l);
                if done {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("--insecure-upstream: upstream certificates are NOT verified"), "{text}");
}

/// Log lines written while an exchange is handled carry `exchange{id=N}`: the journal's id;
/// they go through the same redaction as the console and the journal.
#[test]
fn log_lines_carry_the_exchange_id() {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = bin()
        .args(["proxy", "--listen", &format!("http://127.0.0.1:{port}"), "--upstream", "http://127.0.0.1:1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut conn = None;
    for _ in 0..100 {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    let mut c = conn.expect("the proxy listens");
    c.write_all(
        b"GET /auth/auth/openid_connect/callback?code=CODE-LEAK-666&state=ST HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let masked = format!("code=%7Eredacted%7E{}", oidc_tap::redact::fingerprint("CODE-LEAK-666"));
    assert!(
        stderr.contains(&format!(
            "ERROR exchange{{id=1}}: oidc_tap::proxy::forward: GET a/auth/auth/openid_connect/callback?{masked}&state=ST: upstream"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("CODE-LEAK-666"), "a secret on stderr: {stderr}");
}

/// Half a CA (the certificate without its key, or the reverse) is never replaced: the
/// certificate may already be in Mastodon's trust store.
#[test]
fn half_a_ca_is_refused_and_never_overwritten() {
    for (keep, missing) in [("ca.pem", "ca.key"), ("ca.key", "ca.pem")] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        std::fs::write(dir.path().join(keep), "distributed already").unwrap();
        let want = format!(
            "error: dev CA in {d}: {d}/{keep} exists but {d}/{missing} does not: refusing to make a new one next to it (the certificate may already be trusted by Mastodon); restore {d}/{missing}, or move both away to start afresh\n"
        );
        assert_eq!(run(&["certs", "init", "--dir", d]), (Some(3), String::new(), want.clone()), "certs init");
        let (code, _, stderr) =
            run(&["proxy", "--upstream", "https://a", "--listen", "https://127.0.0.1:0", "--ca-dir", d]);
        assert_eq!((code, stderr), (Some(3), want), "proxy");
        assert_eq!(std::fs::read_to_string(dir.path().join(keep)).unwrap(), "distributed already");
        assert!(!dir.path().join(missing).exists());
    }
}

/// Every file the tool writes is readable by its owner only; stderr has no colour codes when
/// it is not a terminal, even without NO_COLOR.
#[cfg(unix)]
#[test]
fn written_files_are_private_and_redirected_stderr_is_plain() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let out = bin().args(["certs", "init", "--dir"]).arg(&certs).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    for f in ["ca.pem", "ca.key", "leaf.pem", "leaf.key"] {
        let mode = std::fs::metadata(certs.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let trace = dir.path().join("t.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oidc-tap"))
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "oidc_tap=debug")
        .args(["demo", "--fault", "clean", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&trace).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!out.stderr.contains(&0x1b), "colour codes in redirected stderr");
    assert!(!out.stdout.contains(&0x1b), "colour codes in redirected stdout");
}

#[test]
fn credentials_in_an_upstream_url_are_refused_without_echoing_the_password() {
    let (code, stdout, stderr) = run(&["proxy", "--upstream", "https://admin:hunter2@authentik.company"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert_eq!(
        stderr,
        "error: upstream \"https://admin:***@authentik.company\" carries credentials: the gateway does not send them (it forwards each client's own Authorization), so remove them from the URL\n"
    );
}

#[test]
fn decode_of_a_missing_file_says_no_such_file() {
    assert_eq!(
        run(&["decode", "/nonexistent"]),
        (Some(3), String::new(), "error: /nonexistent: no such file (and not a JWT either)\n".into())
    );
}

/// Flags and files are checked before anything binds, and the message names them.
#[test]
fn messages_name_the_flag_and_the_files() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        let out = bin().args(["certs", "init", "--dir"]).arg(dir.path().join(sub)).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let cert = dir.path().join("a/leaf.pem");
    let key = dir.path().join("b/leaf.key");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (code, stdout, stderr) = run(&[
        "proxy",
        "--upstream",
        "https://a",
        "--listen",
        "https://127.0.0.1:0",
        "--cert",
        cert,
        "--key",
        key,
    ]);
    assert_eq!((code, stdout.as_str()), (Some(4), ""));
    assert_eq!(
        stderr,
        format!(
            "error: --cert {cert} and --key {key} do not belong together: TLS configuration rejected: keys may not be consistent: KeyMismatch\n"
        )
    );
    assert_eq!(
        run(&[
            "proxy",
            "--upstream",
            "https://a",
            "--listen",
            "https://127.0.0.1:0",
            "--cert",
            "/nope.pem",
            "--key",
            "/nope.key"
        ]),
        (
            Some(3),
            String::new(),
            "error: --cert: cannot read /nope.pem: No such file or directory (os error 2)\n".into()
        )
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    assert_eq!(
        run(&["proxy", "--upstream", "https://a", "--listen", &format!("http://{addr}")]),
        (
            Some(3),
            String::new(),
            format!("error: cannot listen on {addr}: Address already in use (os error 98)\n")
        )
    );
    let (code, _, stderr) = run(&["certs", "init", "--dir", "/tmp/unused", "--host", "https://x"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with(
            "error: invalid value 'https://x' for '--host <NAME>': a DNS name or an IP address, not a URL: use --host x\n"
        ),
        "{stderr}"
    );
}

/// Runs `proxy` until its banner is out, stops it, returns what it wrote to stderr.
fn proxy_banner(args: &[&str]) -> String {
    let mut child = bin()
        .arg("proxy")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned()
}

/// The banner says which CA signs the gateway's certificates and where it lives, and says it
/// loudly when that CA was just created (Mastodon has never seen it).
#[test]
fn the_banner_names_the_ca_and_says_when_it_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("elsewhere");
    let d = ca_dir.to_str().unwrap();
    let args = ["--upstream", "https://a", "--listen", "https://127.0.0.1:0", "--ca-dir", d];
    let first = proxy_banner(&args);
    let tls_line = format!("  TLS certificates issued on the fly by the dev CA {d}/ca.pem (--ca-dir {d})\n");
    assert!(
        first.starts_with(&format!("NOTICE: created a NEW dev CA in {d}: Mastodon does not trust it yet.\n")),
        "{first}"
    );
    assert!(first.contains(&tls_line), "{first}");
    let second = proxy_banner(&args);
    assert!(!second.contains("NOTICE"), "{second}");
    assert!(second.contains(&tls_line), "{second}");
}

/// Inputs `analyze` cannot read exit 2 with a message that says what is wrong and where.
#[test]
fn unreadable_traces_exit_2_saying_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let cases = [
        (file("empty.har", ""), "empty file".to_owned()),
        (file("text.har", "hello"), "not JSON at byte".to_owned()),
        (
            file("cut.har", r#"{"log":{"version":"1.2","entries":[{"request":"#),
            "truncated at byte".to_owned(),
        ),
        (
            file("other.json", r#"{"name":"not a trace"}"#),
            "not a HAR (no `log.entries`) and not an oidc-tap journal".to_owned(),
        ),
        (
            file("v2.har", r#"{"log":{"version":"2.0","entries":[]}}"#),
            "HAR version \"2.0\" is not 1.x".to_owned(),
        ),
        (
            file(
                "noreq.har",
                r#"{"log":{"version":"1.2","entries":[{"startedDateTime":"2026-01-01T00:00:00Z"}]}}"#,
            ),
            "entry 1 has no `request`".to_owned(),
        ),
        (
            file(
                "cut.jsonl",
                "{\"v\":1,\"type\":\"session\"}\n{\"v\":1,\"type\":\"exchange\",\"exchange\":{",
            ),
            "journal line 2: the line ends inside a JSON value (truncated)".to_owned(),
        ),
    ];
    for (path, want) in cases {
        let (code, stdout, stderr) = run(&["analyze", &path]);
        assert_eq!((code, stdout.as_str()), (Some(2), ""), "{path}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {path}: ")) && stderr.contains(&want),
            "{path}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// `analyze` of a recorded broken login exits 1 (error findings), `--format json` is one JSON
/// document; `export` and `report -o` write 0600 files; a gzip'd journal reads the same.
#[cfg(unix)]
#[test]
fn analyze_export_and_report_a_recorded_trace() {
    use std::os::unix::fs::PermissionsExt;
    let journal = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journals/demo-state-altered.jsonl");
    let (code, stdout, stderr) = run(&["analyze", journal]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.contains("✗ AUTHZ-STATE-MISMATCH"), "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "9 exchanges read from {journal} (listed in the order their requests started); 1 error finding\n"
        )
    );
    let (code, json, _) = run(&["analyze", "--format", "json", journal]);
    assert_eq!(code, Some(1));
    let doc: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(
        doc["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "AUTHZ-STATE-MISMATCH").count(),
        1
    );
    assert_eq!(doc["flows"][0]["outcome"], "failed");
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("out.har");
    let (code, _, stderr) = run(&["export", journal, "--har", har.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::metadata(&har).unwrap().permissions().mode() & 0o777, 0o600);
    let (code, stdout, _) = run(&["analyze", har.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("✗ AUTHZ-STATE-MISMATCH"));
    let md = dir.path().join("report.md");
    let (code, _, stderr) = run(&["report", journal, "-o", md.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::metadata(&md).unwrap().permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(
        text.starts_with(
            "# oidc-tap report\n\n## Login flow 1 · failed\n\n**Failed at the code: `AUTHZ-STATE-MISMATCH`"
        ),
        "{text}"
    );
    // gzip'd input.
    let gz = dir.path().join("t.jsonl.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &std::fs::read(journal).unwrap()).unwrap();
    enc.finish().unwrap();
    let (code, stdout2, _) = run(&["analyze", gz.to_str().unwrap()]);
    assert_eq!((code, stdout2), (Some(1), stdout_of_analyze(journal)));
}

fn stdout_of_analyze(path: &str) -> String {
    run(&["analyze", path]).1
}

/// The client secret's fingerprint is keyed per run: two runs of the same login differ, so
/// nobody holding a trace can test guesses of the secret against it.
#[test]
fn the_client_secrets_fingerprint_differs_between_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut masked = vec![];
    for n in 0..2 {
        let t = dir.path().join(format!("{n}.jsonl"));
        let out = bin().args(["demo", "--fault", "clean", "--trace"]).arg(&t).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = std::fs::read_to_string(&t).unwrap();
        let line = text.lines().find(|l| l.contains(r#""kind":"token""#)).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let auth = v["exchange"]["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("authorization")))
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_owned();
        use base64::Engine;
        let pair =
            base64::engine::general_purpose::STANDARD.decode(auth.trim_start_matches("Basic ")).unwrap();
        let secret = String::from_utf8(pair).unwrap().split_once(':').unwrap().1.to_owned();
        assert!(secret.starts_with("~redacted~k"), "{secret}");
        masked.push(secret);
    }
    assert_ne!(masked[0], masked[1]);
}

/// `export --redact-pii` masks e-mail addresses and names; `--keep-signatures` keeps ID token
/// signatures; neither unmasks a secret.
#[test]
fn export_redacts_personal_data_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("t.jsonl");
    let out = bin().args(["demo", "--fault", "clean", "--trace"]).arg(&journal).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j = journal.to_str().unwrap();
    let plain = dir.path().join("plain.har");
    let pii = dir.path().join("pii.har");
    assert_eq!(run(&["export", j, "--har", plain.to_str().unwrap()]).0, Some(0));
    assert_eq!(run(&["export", j, "--har", pii.to_str().unwrap(), "--redact-pii"]).0, Some(0));
    let plain = std::fs::read_to_string(plain).unwrap();
    let pii = std::fs::read_to_string(pii).unwrap();
    assert!(plain.contains("alice@example.test"), "personal data stays by default");
    assert!(!pii.contains("alice@example.test"), "--redact-pii masks e-mail addresses");
    assert!(!pii.contains("Alice Example"), "--redact-pii masks names");
    assert!(pii.contains("~redacted~k"));
}

/// `proxy --har` keeps a usable HAR on disk while it runs (every --har-every seconds, and on
/// SIGUSR1), so a killed gateway still leaves one; it is 0600 and never half-written.
/// Connects to a gateway the test just started, once it listens (up to 5 s).
fn connect_when_listening(port: u16) -> std::net::TcpStream {
    for _ in 0..100 {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            return c;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the proxy does not listen on {port}");
}

#[cfg(unix)]
#[test]
fn proxy_keeps_a_har_up_to_date_while_it_runs() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("live.har");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = bin()
        .args(["proxy", "--listen", &format!("http://127.0.0.1:{port}"), "--upstream", "http://127.0.0.1:1"])
        .args(["--har", har.to_str().unwrap(), "--har-every", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = connect_when_listening(port);
    c.write_all(
        b"GET /application/o/token/?code=SECRET-CODE HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1600));
    let text = std::fs::read_to_string(&har).expect("the HAR is written while the proxy runs");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("a whole HAR");
    assert_eq!(doc["log"]["entries"].as_array().unwrap().len(), 1);
    assert!(!text.contains("SECRET-CODE"));
    assert_eq!(std::fs::metadata(&har).unwrap().permissions().mode() & 0o777, 0o600);
    child.kill().unwrap();
    let stderr = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "  HAR {} (secrets redacted), rewritten every 1 s and on SIGUSR1",
            har.display()
        )),
        "{stderr}"
    );
}

/// Other traffic is a summary in the journal (method, URL, status, sizes; no heads or body);
/// `--trace-all` keeps it whole, from the capture on.
#[cfg(unix)]
#[test]
fn trace_all_keeps_other_traffic_whole_and_the_default_keeps_a_summary() {
    use std::io::{Read, Write};
    // A plain upstream answering every request with the same static file.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in upstream.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "console.log('STATIC-FILE-BODY');";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/javascript\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    for all in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t.jsonl");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = bin();
        cmd.args(["proxy", "--listen", &format!("http://127.0.0.1:{port}")]).args([
            "--upstream",
            &format!("http://127.0.0.1:{up}"),
            "--trace",
            trace.to_str().unwrap(),
        ]);
        if all {
            cmd.arg("--trace-all");
        }
        let child =
            cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let mut c = connect_when_listening(port);
        c.write_all(b"GET /static/dist/app.js HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.ends_with("console.log('STATIC-FILE-BODY');"), "{answer}");
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(child.wait_with_output().unwrap().status.success());
        let text = std::fs::read_to_string(&trace).unwrap();
        let line: serde_json::Value = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "exchange")
            .expect("the exchange's line");
        assert_eq!(line["kind"], "other");
        let resp = &line["exchange"]["response"];
        if all {
            assert_eq!(resp["body"]["bytes"]["text"], "console.log('STATIC-FILE-BODY');", "{line}");
            assert!(resp["headers"].as_array().is_some_and(|h| !h.is_empty()), "{line}");
        } else {
            assert_eq!(resp["body"]["bytes"], serde_json::json!({"text": ""}), "{line}");
            assert_eq!(resp["body"]["wire_len"], 32, "{line}");
            assert_eq!(resp["body"]["summarised"], true, "{line}");
            assert_eq!(line["exchange"]["summary"], true, "{line}");
            assert_eq!(line["status"], 200);
        }
        // Either way the support engineer can read the trace back: a summary is listed, not judged.
        let out = bin().args(["analyze", trace.to_str().unwrap(), "--format", "json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let replay = doc["exchanges"].as_array().unwrap();
        assert_eq!(replay.len(), 1, "{replay:#?}");
        assert_eq!(doc["findings"], serde_json::json!([]), "a summary is judged by no rule");
        assert_eq!(replay[0]["kind"], "other");
        let summarised = &replay[0]["exchange"]["response"]["body"]["summarised"];
        assert_eq!(summarised, if all { &serde_json::Value::Null } else { &serde_json::Value::Bool(true) });
    }
}

/// `demo --serve` until SIGINT: reads what it printed up to "Ctrl-C stops.".
struct Served {
    child: std::process::Child,
    banner: String,
    rest: std::sync::mpsc::Receiver<String>,
}

fn serve(args: &[&str], ca_dir: &std::path::Path) -> Served {
    serve_with(&[&["demo"][..], args].concat(), ca_dir)
}

/// `COMMAND… --serve` on a free port with `ca_dir`, read up to "Ctrl-C stops.".
fn serve_with(command: &[&str], ca_dir: &std::path::Path) -> Served {
    use std::io::BufRead;
    let mut child = bin()
        .args(command)
        .args(["--serve", "--listen", "https://127.0.0.1:0", "--ca-dir", ca_dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line == "Ctrl-C stops." {
            break;
        }
    }
    let (tx, rest) = std::sync::mpsc::channel();
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| drop(tx.send(l))));
    Served { child, banner, rest }
}

impl Served {
    fn env(&self, key: &str) -> String {
        let prefix = format!("{key}=");
        self.banner
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{key} in\n{}", self.banner))
            .to_owned()
    }

    fn port(&self) -> u16 {
        let l = self.banner.lines().find(|l| l.starts_with("  gateway ")).unwrap();
        l.split(':').nth(2).unwrap().split(' ').next().unwrap().parse().unwrap()
    }

    /// SIGINT, then everything it printed after the banner and its exit code.
    fn stop(mut self) -> (Option<i32>, String) {
        std::process::Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        let code = self.child.wait().unwrap().code();
        std::thread::sleep(std::time::Duration::from_millis(100));
        (code, self.rest.try_iter().collect::<Vec<_>>().join("\n"))
    }
}

// Multi-threaded: the blocking waits on the child leave a worker for the client's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serve_keeps_a_provider_running_for_a_real_mastodon() {
    oidc_tap::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("certs");
    let served = serve(&["--fault", "wrong-aud", "--web-domain", "social.example"], &ca_dir);
    let port = served.port();
    let issuer = served.env("OIDC_ISSUER");
    assert_eq!(issuer, format!("https://authentik.test:{port}/application/o/mastodon/"));
    assert_eq!(served.env("OIDC_REDIRECT_URI"), "https://social.example/auth/auth/openid_connect/callback");
    assert_eq!(served.env("OIDC_SCOPE"), "openid,profile,email");
    assert!(served.banner.contains("faults: wrong-aud\n"), "{}", served.banner);
    assert!(
        served.banner.contains(&format!("CA to trust  {}/ca.pem (NEW", ca_dir.display())),
        "{}",
        served.banner
    );
    // What Mastodon's gem does first: discovery at the issuer, trusting the printed CA.
    let ca = oidc_tap::tls::load_certs(&ca_dir.join("ca.pem")).unwrap();
    let trust = oidc_tap::tls::UpstreamTrust { extra_roots: ca, ..Default::default() };
    let gateway: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = oidc_tap::proxy::upstream::build_client(
        &trust,
        oidc_tap::proxy::route::ConnectTo::new(vec![(("authentik.test".into(), port), gateway.to_string())]),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let req = http::Request::get(format!("{issuer}.well-known/openid-configuration"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let (parts, body) = oidc_tap::demo::http::send(&client, req).await.unwrap();
    drop(client);
    assert_eq!(parts.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());
    let (code, after) = served.stop();
    assert_eq!(code, Some(0), "{after}");
    // The gateway analysed it live, expecting the served issuer (no false mismatch).
    assert!(after.contains(&format!("DISCOVERY  GET authentik.test:{port}/application/o/mastodon/.well-known/openid-configuration → 200")), "{after}");
    assert!(!after.contains("CONFIG-ISSUER-MISMATCH"), "{after}");
    assert!(after.contains("stopping"), "{after}");
    // A second run keeps the CA Mastodon now trusts.
    let again = serve(&[], &ca_dir);
    assert!(again.banner.contains("faults: none (a correct provider)\n"), "{}", again.banner);
    assert!(!again.banner.contains("(NEW"), "{}", again.banner);
    assert_eq!(again.stop().0, Some(0));
}

/// The rule ids `check-config` printed (✗ error, ! warning), in order, and its exit code.
fn raised_by_config(env: &str, served: &Served, extra: &[&str]) -> (Option<i32>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.production");
    std::fs::write(&path, env).unwrap();
    let port = served.port();
    let (code, stdout, stderr) = run(&[
        &["check-config", "--mastodon-env", path.to_str().unwrap()][..],
        &["--connect-to", &format!("authentik.test:{port}=127.0.0.1:{port}")],
        extra,
    ]
    .concat());
    assert_eq!(stderr, "", "{stdout}");
    let ids = stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("✗ ").or(l.trim_start().strip_prefix("! ")))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    (code, ids)
}

#[test]
fn check_config_against_the_served_demo_provider() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("certs");
    let served = serve(&[], &ca_dir);
    let ca = ca_dir.join("ca.pem");
    let trust = ["--upstream-ca", ca.to_str().unwrap()];
    let block =
        served.banner.lines().skip_while(|l| !l.starts_with("OIDC_ENABLED=")).take_while(|l| !l.is_empty());
    let good = format!("WEB_DOMAIN=mastodon.test\n{}\n", block.collect::<Vec<_>>().join("\n"));
    let issuer = served.env("OIDC_ISSUER");
    let with = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    // The block `demo --serve` prints is correct.
    assert_eq!(raised_by_config(&good, &served, &trust), (Some(0), vec![]));
    // One broken block per finding.
    let no_slash =
        with(&format!("OIDC_ISSUER={issuer}"), &format!("OIDC_ISSUER={}", issuer.trim_end_matches('/')));
    assert_eq!(
        raised_by_config(&no_slash, &served, &trust),
        (Some(1), vec!["CONFIG-ISSUER-MISMATCH".into()])
    );
    let discovery_url = with(
        &format!("OIDC_ISSUER={issuer}"),
        &format!("OIDC_ISSUER={issuer}.well-known/openid-configuration"),
    );
    assert_eq!(
        raised_by_config(&discovery_url, &served, &trust),
        (Some(1), vec!["CONFIG-ISSUER-SHAPE".into(), "DISC-FETCH-FAILED".into()])
    );
    let spaces = with("OIDC_SCOPE=openid,profile,email", "OIDC_SCOPE=openid profile email");
    assert_eq!(raised_by_config(&spaces, &served, &trust), (Some(0), vec!["CONFIG-SCOPE".into()]));
    let sub = with("OIDC_UID_FIELD=preferred_username", "OIDC_UID_FIELD=sub");
    assert_eq!(raised_by_config(&sub, &served, &trust), (Some(0), vec!["CONFIG-UID-FIELD".into()]));
    let redirect =
        with("https://mastodon.test/auth/auth/openid_connect/callback", "https://mastodon.test/callback");
    assert_eq!(
        raised_by_config(&redirect, &served, &trust),
        (Some(1), vec!["CONFIG-REDIRECT-URI-MISMATCH".into()])
    );
    let auth = format!("{good}OIDC_AUTH_ENDPOINT=https://authentik.test/application/o/authorize/\n");
    assert_eq!(raised_by_config(&auth, &served, &trust), (Some(0), vec!["CONFIG-AUTH-ENDPOINT".into()]));
    let crlf_twice = format!("{}OIDC_UID_FIELD=preferred_username\r\n", good.replace('\n', "\r\n"));
    assert_eq!(
        raised_by_config(&crlf_twice, &served, &trust),
        (Some(0), vec!["CONFIG-ENV-SYNTAX".into(), "CONFIG-ENV-SYNTAX".into()])
    );
    let client_id = served.env("OIDC_CLIENT_ID");
    let placeholder =
        with(&format!("OIDC_CLIENT_ID={client_id}"), "OIDC_CLIENT_ID=<Client ID from authentik>");
    assert_eq!(raised_by_config(&placeholder, &served, &trust), (Some(1), vec!["CONFIG-PLACEHOLDER".into()]));
    let disabled = with("OIDC_ENABLED=true", "OIDC_ENABLED=yes");
    assert_eq!(raised_by_config(&disabled, &served, &trust), (Some(1), vec!["CONFIG-OIDC-DISABLED".into()]));
    // Without the CA: the certificate problem, with the flag that fixes it.
    assert_eq!(raised_by_config(&good, &served, &[]), (Some(1), vec!["DISC-FETCH-FAILED".into()]));
    assert_eq!(served.stop().0, Some(0));
    // A provider without a signing key, one with http:// endpoints.
    let hs = serve(&["--fault", "hs256"], &ca_dir);
    let good_hs = good.replace(&issuer, &hs.env("OIDC_ISSUER"));
    assert_eq!(
        raised_by_config(&good_hs, &hs, &trust),
        (Some(1), vec!["CONFIG-SIGNING-KEY".into(), "CONFIG-SIGNING-KEY".into()])
    );
    hs.stop();
    let http = serve(&["--fault", "http-endpoints"], &ca_dir);
    let good_http = good.replace(&issuer, &http.env("OIDC_ISSUER"));
    let (code, ids) = raised_by_config(&good_http, &http, &trust);
    assert_eq!(code, Some(1));
    assert!(
        ids.contains(&"CONFIG-ISSUER-MISMATCH".to_owned())
            && ids.contains(&"DISC-INSECURE-ENDPOINT".to_owned()),
        "{ids:?}"
    );
    http.stop();
    // It could not run: exit 2, saying why.
    let (code, _, stderr) = run(&["check-config", "--mastodon-env", "/nonexistent/.env.production"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: --mastodon-env: cannot read /nonexistent/.env.production"),
        "{stderr}"
    );
}

// ---- examples/: each file stays true ----

fn example(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(path))
        .unwrap()
}

#[test]
fn example_env_block_passes_check_config_against_the_served_demo() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("certs");
    let served = serve(&[], &ca_dir);
    let port = served.port();
    let env = dir.path().join(".env.production");
    let template = example("mastodon/env.production.oidc");
    // The served provider reached as authentik.company on 443, as Mastodon would.
    let check = |text: &str| {
        std::fs::write(&env, text).unwrap();
        run(&[
            "check-config",
            "--mastodon-env",
            env.to_str().unwrap(),
            "--connect-to",
            &format!("authentik.company:443=127.0.0.1:{port}"),
            "--upstream-ca",
            ca_dir.join("ca.pem").to_str().unwrap(),
        ])
    };
    // As shipped, the two values to copy from authentik are placeholders: errors until filled in.
    let (code, stdout, _) = check(&template);
    assert_eq!(code, Some(1), "{stdout}");
    let placeholders: Vec<&str> = stdout.lines().filter(|l| l.starts_with("   ✗ ")).collect();
    assert_eq!(
        placeholders,
        [
            "   ✗ CONFIG-PLACEHOLDER  OIDC_CLIENT_ID is a placeholder, not a value: Mastodon sends it as it is",
            "   ✗ CONFIG-PLACEHOLDER  OIDC_CLIENT_SECRET is a placeholder, not a value: Mastodon sends it as it is",
        ],
        "{stdout}"
    );
    let filled = template
        .replace("<Client ID from authentik>", "mastodonClientID0123456789")
        .replace("<Client Secret from authentik>", "s3cret#with$chars");
    let (code, stdout, stderr) = check(&filled);
    assert_eq!((code, stderr.as_str()), (Some(0), ""), "{stdout}");
    assert!(
        stdout.contains(
            "GET https://authentik.company/application/o/mastodon/.well-known/openid-configuration"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 error(s), 0 warning(s)\n"), "{stdout}");
    // The serve console saw the tool's own calls: no login, nothing about Mastodon.
    let (code, after) = served.stop();
    assert_eq!(code, Some(0), "{after}");
    assert!(after.contains("DISCOVERY  GET authentik.company/application/o/mastodon/.well-known/openid-configuration → 200  (oidc-tap)"), "{after}");
    for said in ["CONFIG-", "FLOW-", "flow 1"] {
        assert!(!after.contains(said), "{said} in\n{after}");
    }
}

/// The words of a command line continued with `\` (systemd) or folded (compose `>`).
fn words_after(text: &str, start: &str, end: impl Fn(&str) -> bool) -> Vec<String> {
    let mut words = vec![];
    let mut on = false;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix(start) {
            on = true;
            words.extend(rest.split_whitespace().filter(|w| *w != "\\").map(str::to_owned));
            continue;
        }
        if on {
            if end(l) {
                break;
            }
            words.extend(l.split_whitespace().filter(|w| *w != "\\").map(str::to_owned));
        }
    }
    words
}

#[test]
fn example_systemd_unit_and_compose_commands_are_valid_command_lines() {
    use clap::Parser;
    let unit = example("systemd/oidc-tap.service");
    let words = words_after(&unit, "ExecStart=", |l| !l.ends_with('\\') && !l.starts_with("--"));
    assert_eq!(words[0], "/usr/local/bin/oidc-tap");
    oidc_tap::cli::Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
    assert!(words.contains(&"--mastodon-env".to_owned()));
    let compose = example("docker-compose/docker-compose.oidc-tap.yml");
    let mut commands = 0;
    for part in compose.split("command: >").skip(1) {
        let words: Vec<String> = part
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().ends_with(':'))
            .flat_map(|l| l.split_whitespace())
            .map(str::to_owned)
            .collect();
        oidc_tap::cli::Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{words:?}: {e}"));
        commands += 1;
    }
    assert_eq!(commands, 2, "both ways of inserting the gateway");
}

#[test]
fn example_nginx_snippet_passes_nginx_t() {
    let nginx = ["nginx", "/usr/sbin/nginx"]
        .into_iter()
        .find(|n| Command::new(n).arg("-v").output().is_ok())
        .expect("nginx is needed for this test (.ci/run installs it)");
    let dir = tempfile::tempdir().unwrap();
    let leaf = oidc_tap::tls::DevCa::generate().unwrap().issue(&["authentik.company".into()]).unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let snippet = example("nginx/oidc-tap.conf")
        .replace("/etc/ssl/authentik.company/fullchain.pem", cert.to_str().unwrap())
        .replace("/etc/ssl/authentik.company/privkey.pem", key.to_str().unwrap());
    std::fs::write(dir.path().join("snippet.conf"), snippet).unwrap();
    let d = dir.path().display();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, format!("error_log stderr;\npid {d}/nginx.pid;\nevents {{}}\nhttp {{ access_log off; include {d}/snippet.conf; }}\n")).unwrap();
    let out = Command::new(nginx)
        .args(["-t", "-c", conf.to_str().unwrap(), "-p", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("test is successful"), "{stderr}");
}

#[test]
fn example_traces_analyse_to_the_findings_their_report_shows() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces");
    let journal = dir.join("issuer-trailing-slash.jsonl");
    let expect = ["--expect-issuer", "https://authentik.test/application/o/mastodon"];
    let (code, report, stderr) = run(&[&["report", journal.to_str().unwrap()][..], &expect].concat());
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert_eq!(report, example("traces/issuer-trailing-slash.report.md"), "the recorded report is stale");
    assert!(report.contains("`CONFIG-ISSUER-MISMATCH`"), "{report}");
    for trace in ["issuer-trailing-slash.jsonl", "issuer-trailing-slash.har"] {
        let (code, out, _) = run(&[&["analyze", dir.join(trace).to_str().unwrap()][..], &expect].concat());
        assert_eq!(code, Some(1), "{trace}: {out}");
        assert!(out.contains("✗ CONFIG-ISSUER-MISMATCH"), "{trace}: {out}");
        // One cause, one finding: the abandoned login says what it follows from.
        assert!(
            out.contains("   ! FLOW-ABANDONED  Mastodon fetched discovery, then sent the browser back to sign-in instead of to authentik\n              follows from CONFIG-ISSUER-MISMATCH\n"),
            "{trace}: {out}"
        );
    }
    // Redacted: nothing of the demo client's secret in what a customer would send.
    for f in ["issuer-trailing-slash.jsonl", "issuer-trailing-slash.har"] {
        assert!(!example(&format!("traces/{f}")).contains("demoSecretDoNotUse"), "{f}");
    }
}

/// A wrong client secret (authentik's differs from the one Mastodon sends, which is
/// .env.production's) is explained as that, first, with the fix on authentik's side; `analyze`
/// of the journal and of its HAR says the same words as the live run (the journal records what
/// the run was judged against, the secret only as a keyed fingerprint).
#[test]
fn a_wrong_client_secret_reads_the_same_live_and_offline() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("w.jsonl");
    let (code, live, stderr) =
        run(&["demo", "--fault", "wrong-client-secret", "--trace", journal.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let block = |out: &str| -> String {
        let at = out.find("✗ TOKEN-ERROR").unwrap_or_else(|| panic!("no TOKEN-ERROR in\n{out}"));
        out[at..].lines().take(5).collect::<Vec<_>>().join("\n")
    };
    let want = "✗ TOKEN-ERROR  token endpoint answered invalid_client: Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)
              seen     invalid_client
              why      the secret sent is OIDC_CLIENT_SECRET, so authentik's Client Secret differs from .env.production (regenerated in authentik, or copied with a space or a character missing); not the redirect_uri: it is the one authentik accepted at authorize
              fix      copy authentik's provider 'Client Secret' (Applications → Providers → this provider → Edit) into OIDC_CLIENT_SECRET, without quotes or spaces, then restart Mastodon (web and sidekiq)
              Mastodon “Invalid client”";
    assert_eq!(block(&live), want);
    let text = std::fs::read_to_string(&journal).unwrap();
    let session: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let secret = session["expect"]["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("~redacted~k"), "{session}");
    assert_eq!(session["expect"]["source"], "demo .env.production");
    let (code, offline, stderr) = run(&["analyze", journal.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(block(&offline), want);
    assert!(
        stderr.contains("judged against the expectations the live run recorded (from demo .env.production); --mastodon-env or --expect-* judge it otherwise"),
        "{stderr}"
    );
    let har = dir.path().join("w.har");
    assert_eq!(run(&["export", journal.to_str().unwrap(), "--har", har.to_str().unwrap()]).0, Some(0));
    assert_eq!(block(&run(&["analyze", har.to_str().unwrap()]).1), want);
    // Judged against nothing recorded, the secret cannot be compared: the causes authentik has.
    let (_, generic, _) = run(&[
        "analyze",
        journal.to_str().unwrap(),
        "--expect-client-id",
        "demoMastodonClientID0123456789abcdefghijk",
    ]);
    assert!(
        block(&generic).contains("why      authentik answers invalid_client for a wrong secret or an unknown client_id; not the redirect_uri: it is the one authentik accepted at authorize"),
        "{generic}"
    );
}

/// The demo's journal holds exchanges as they finished (a login's POST finishes after the
/// discovery it caused); `analyze` and `report` list them by when their request started, and
/// show that time.
#[test]
fn views_read_in_the_order_requests_started() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("clean.jsonl");
    assert_eq!(run(&["demo", "--fault", "clean", "--trace", journal.to_str().unwrap()]).0, Some(0));
    let starts: Vec<u64> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "exchange")
        .map(|v| v["exchange"]["started_ms"].as_u64().unwrap())
        .collect();
    assert!(starts.windows(2).any(|w| w[0] > w[1]), "the journal is in finishing order: {starts:?}");
    let clock = |ms: u64| {
        let s = (ms / 1000) % 86_400;
        format!("{:02}:{:02}:{:02}.{:03}", s / 3600, s % 3600 / 60, s % 60, ms % 1000)
    };
    let mut want: Vec<String> = starts.iter().map(|s| clock(*s)).collect();
    want.sort();
    let (_, out, stderr) = run(&["analyze", journal.to_str().unwrap()]);
    let shown: Vec<String> = out
        .lines()
        .filter(|l| l.contains(" flow 1 · ") && !l.contains("complete"))
        .map(|l| l[..12].to_owned())
        .collect();
    assert_eq!(shown, want, "{out}");
    assert!(stderr.contains("(listed in the order their requests started)"), "{stderr}");
    let (_, report, _) = run(&["report", journal.to_str().unwrap()]);
    assert!(report.contains("### Sequence (in the order requests started)"), "{report}");
    // Sequence rows start with the time (`| 20:04:04.185 |`), whatever the hour.
    let is_time = |t: &str| {
        t.len() == 12
            && t.char_indices().all(|(i, c)| {
                if [2, 5].contains(&i) {
                    c == ':'
                } else if i == 8 {
                    c == '.'
                } else {
                    c.is_ascii_digit()
                }
            })
    };
    let rows: Vec<String> = report
        .lines()
        .filter_map(|l| l.strip_prefix("| ").and_then(|r| r.get(..12)))
        .filter(|t| is_time(t))
        .map(str::to_owned)
        .collect();
    assert_eq!(rows, want, "{report}");
}

/// A trace no named fault explains (a provider that announces an http:// userinfo endpoint and
/// writes `scopes_supported` twice) is reproduced by the provider built from the trace itself.
#[test]
fn reproduce_builds_the_provider_from_a_trace_no_fault_explains() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.jsonl");
    let (code, _, stderr) = run(&["demo", "--fault", "clean", "--trace", clean.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let mut edited = String::new();
    for line in std::fs::read_to_string(&clean).unwrap().lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["kind"] == "discovery" {
            let response = &mut v["exchange"]["response"];
            let text = response["body"]["bytes"]["text"].as_str().unwrap().to_owned();
            let text = text
                .replace(r#""userinfo_endpoint": "https://"#, r#""userinfo_endpoint": "http://"#)
                .replacen("{\n", "{\n  \"scopes_supported\": [\"openid\"],\n", 1);
            response["body"]["wire_len"] = text.len().into();
            for h in response["headers"].as_array_mut().unwrap() {
                if h["name"] == "content-length" {
                    h["value"] = text.len().to_string().into();
                }
            }
            response["body"]["bytes"]["text"] = text.into();
        }
        edited.push_str(&format!("{v}\n"));
    }
    let trace = dir.path().join("edited.jsonl");
    std::fs::write(&trace, edited).unwrap();
    let (code, out, _) = run(&["reproduce", trace.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "edited.jsonl: DISC-INSECURE-ENDPOINT, JSON-DUPLICATE-MEMBER\n",
        "no demo fault raises any of these without raising others\n",
        "  discovery    the recorded document (17 members)\n",
        "  twice        `scopes_supported` in the discovery document (the first value as recorded)\n",
        "reproduced 2/2: DISC-INSECURE-ENDPOINT, JSON-DUPLICATE-MEMBER\n",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert!(!out.contains("not reproduced"), "{out}");
    assert!(!out.contains("also raised"), "{out}");
}

#[test]
fn reproduce_gives_back_the_rule_ids_of_demo_traces() {
    let dir = tempfile::tempdir().unwrap();
    let faults = [
        "wrong-aud",
        "wrong-iss",
        "expired",
        "iat-future",
        "nbf-future",
        "nonce-missing",
        "nonce-altered",
        "state-altered",
        "unknown-kid",
        "wrong-key",
        "alg-none",
        "hs256",
        "jwe",
        "redirect-uri-changed",
        "userinfo-sub-mismatch",
        "email-unverified",
        "code-reused",
        "backchannel-redirect",
        "at-hash-mismatch",
        "azp-mismatch",
        "pkce-mismatch",
        "issuer-trailing-slash",
    ];
    for name in faults {
        let trace = dir.path().join(format!("{name}.jsonl"));
        let (code, _, stderr) = run(&["demo", "--fault", name, "--trace", trace.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{stderr}");
        // What the customer's .env said is part of what the trace means (as for `analyze`).
        let expect: &[&str] = match name {
            "issuer-trailing-slash" => &["--expect-issuer", "https://authentik.test/application/o/mastodon"],
            _ => &[],
        };
        let (code, out, stderr) = run(&[&["reproduce", trace.to_str().unwrap()][..], expect].concat());
        let fault = oidc_tap::demo::faults::find(name).unwrap();
        let mut want: Vec<&str> = fault.rules.iter().map(|(r, _)| *r).collect();
        want.sort_unstable();
        let line = format!("reproduced {n}/{n}: {}\n", want.join(", "), n = want.len());
        assert_eq!((code, stderr.as_str()), (Some(0), ""), "{name}: {out}");
        assert!(out.contains(&line), "{name}: want {line:?} in\n{out}");
        assert!(!out.contains("not reproduced"), "{name}: {out}");
    }
    // The reproduced login is set up like the trace's deployment.
    let (_, out, _) = run(&["reproduce", dir.path().join("hs256.jsonl").to_str().unwrap()]);
    for line in [
        "  issuer       https://authentik.test/application/o/mastodon/\n",
        "  client_id    demoMastodonClientID0123456789abcdefghijk\n",
        "  redirect_uri https://mastodon.test/auth/auth/openid_connect/callback\n",
        "  scope        openid profile email\n",
        "  signing      HS256 (a fresh local key of that type)\n",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    // --serve keeps the reproducing provider running, with the faults chosen.
    let trace = dir.path().join("wrong-aud.jsonl");
    let served = serve_with(&["reproduce", trace.to_str().unwrap()], &dir.path().join("certs"));
    assert!(served.banner.contains("reproduced 1/1: IDT-AUD-MISMATCH\n"), "{}", served.banner);
    assert!(served.banner.contains("faults: wrong-aud\n"), "{}", served.banner);
    assert_eq!(served.stop().0, Some(0));
    // A trace whose findings no fault raises alone says so and exits 1.
    let (code, out, _) = run(&["reproduce", "examples/traces/issuer-trailing-slash.har"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FLOW-ABANDONED"), "{out}");
    assert!(out.contains("no demo fault raises any of these without raising others"), "{out}");
    // An unreadable trace is a usage error.
    assert_eq!(run(&["reproduce", "/nonexistent.jsonl"]).0, Some(2));
}

#[test]
fn report_html_is_one_self_contained_page_with_the_findings() {
    let journal =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces/issuer-trailing-slash.jsonl");
    let (code, html, stderr) = run(&[
        "report",
        journal.to_str().unwrap(),
        "--format",
        "html",
        "--expect-issuer",
        "https://authentik.test/application/o/mastodon",
    ]);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains(r#"content="default-src 'none'; style-src 'unsafe-inline'""#));
    // Nothing to run and nothing to load.
    for banned in ["<script", "src=", "href=\"http", "href=\"/", "@import", "url("] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    // Links stay in the page: each arrow opens its exchange's details further down.
    assert!(html.contains("href=\"#x-") && html.contains("<section class=\"xd\" id=\"x-"), "{html}");
    // The verdict, the failing hop, the finding with its evidence and fix.
    assert!(
        html.contains("<p class=\"verdict error\">Failed at discovery: CONFIG-ISSUER-MISMATCH"),
        "{html}"
    );
    assert!(html.contains("class=\"arrow r fail s"), "{html}");
    assert!(html.contains("<div class=\"finding error\" id=\"flow-1-CONFIG-ISSUER-MISMATCH\">"), "{html}");
    assert!(
        html.contains(
            "<dt>expected</dt><dd><code>https://authentik.test/application/o/mastodon/</code></dd>"
        ),
        "{html}"
    );
    assert!(html.contains("<dt>fix</dt><dd>set OIDC_ISSUER=https://authentik.test/application/o/mastodon/ in .env.production (authentik&#39;s issuer ends with &#39;/&#39;) and restart Mastodon</dd>"), "{html}");
    assert!(!html.contains("demoSecretDoNotUse"));
}

#[test]
fn report_html_shows_the_id_tokens_claims_with_human_times() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    assert_eq!(run(&["demo", "--fault", "wrong-aud", "--trace", trace.to_str().unwrap()]).0, Some(0));
    let (code, html, _) = run(&["report", trace.to_str().unwrap(), "--format", "html"]);
    assert_eq!(code, Some(0));
    assert!(html.contains("<tr><td>header.alg</td><td><code>&quot;RS256&quot;</code></td></tr>"), "{html}");
    assert!(html.contains("<tr><td>aud</td><td><code>another-client</code></td></tr>"), "{html}");
    let exp = html.split("<tr><td>exp</td><td><code>").nth(1).unwrap().split("</code>").next().unwrap();
    assert!(exp.contains(" UTC (expires in ") && exp.ends_with(" when it arrived)"), "{exp}");
    assert!(html.contains("<div class=\"finding error\" id=\"flow-1-IDT-AUD-MISMATCH\">"), "{html}");
}

/// A client that puts an IP address in SNI (wrk, some load balancers) is served, and rustls'
/// own complaint about it is not shown to the user as a warning.
#[test]
fn an_ip_address_in_sni_is_served_without_a_warning() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["proxy", "--listen", "https://127.0.0.1:0", "--upstream", "http://127.0.0.1:9", "--ca-dir"])
        .arg(dir.path().join("certs"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let port: u16 = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening https://127.0.0.1:")
                .nth(1)
                .map(|r| r.split(' ').next().unwrap().parse().unwrap())
        })
        .expect("the listening line");
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "127.0.0.1"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN CERTIFICATE"), "the handshake completed");
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    child.wait().unwrap();
    assert!(rest.iter().any(|l| l.starts_with("capture:")), "{rest:?}");
    assert!(!rest.iter().any(|l| l.contains("WARN") || l.contains("SNI")), "{rest:?}");
}

/// check-config says what it read: a value cut at `#` is an error shown as Mastodon reads it
/// (a secret by length only), a trailing comment is fine, a placeholder is an error, and a file
/// without OIDC_ lines says so once.
#[test]
fn check_config_says_what_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        run(&["check-config", "--mastodon-env", path.to_str().unwrap()])
    };
    let (code, out, _) = check(
        "cut.env",
        "OIDC_ENABLED=true\nOIDC_ISSUER=https://authentik.company/application/o/<application-slug>/\n\
         OIDC_CLIENT_SECRET=s3cr#et\nOIDC_CLIENT_ID=<Client ID from authentik>\n",
    );
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "  line 3    OIDC_CLIENT_SECRET  (secret, 4 characters)",
        "  line 4    OIDC_CLIENT_ID      <Client ID from authentik>",
        "   ✗ CONFIG-ENV-SYNTAX  line 3: `#` inside an unquoted value starts a comment: the value is cut there",
        "              seen     4 characters, of the 7 typed (cut at `#`)",
        "   ✗ CONFIG-PLACEHOLDER  OIDC_CLIENT_ID is a placeholder, not a value: Mastodon sends it as it is",
        "   ✗ CONFIG-PLACEHOLDER  OIDC_ISSUER is a placeholder, not a value: Mastodon sends it as it is",
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("s3cr") && !out.contains("discovery  GET"), "{out}");

    let (code, out, _) = check("comment.env", "OIDC_ENABLED=true\nOIDC_CLIENT_SECRET=s3cret # note\n");
    assert!(out.lines().any(|l| l == "   · CONFIG-ENV-SYNTAX  line 2: `# note` is a comment: Mastodon reads OIDC_CLIENT_SECRET as its 6 characters before it (fine, unless the value really goes on past the space: then single-quote it)"), "{out}");
    assert!(!out.contains("✗ CONFIG-ENV-SYNTAX") && !out.contains("! CONFIG-ENV-SYNTAX"), "{out}");
    assert_eq!(code, Some(1), "OIDC_ISSUER is still unset: {out}");

    let (code, out, _) = check("none.env", "LOCAL_DOMAIN=social.example\nDB_HOST=db\n");
    assert_eq!(code, Some(1));
    let findings: Vec<&str> =
        out.lines().filter(|l| l.starts_with("   ✗ ") || l.starts_with("   ! ")).collect();
    assert_eq!(
        findings,
        [
            "   ✗ CONFIG-OIDC-DISABLED  no OIDC_ line in this file: Mastodon's OpenID Connect login is not configured here (is it the .env.production Mastodon runs with?)"
        ],
        "{out}"
    );
    assert!(out.ends_with("1 error(s), 0 warning(s)\n"), "{out}");
}

/// probe-rp without --login-url asks for a login and, when none comes, says it cannot decide
/// (exit 2) instead of guessing; its cases and their conformance aliases are listed.
#[test]
fn probe_rp_never_guesses_without_evidence() {
    let (code, listing, _) = run(&["probe-rp", "--list-cases"]);
    assert_eq!(code, Some(0));
    assert!(listing.lines().any(|l| l.starts_with("aud (rp-id_token-aud) ")), "{listing}");
    assert_eq!(listing.lines().count(), oidc_tap::probe::cases::CASES.len());
    let (code, _, stderr) = run(&["probe-rp", "--case", "nope"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--case: no case \"nope\" (--list-cases shows them)"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = bin()
        .args(["probe-rp", "--listen", &format!("https://127.0.0.1:{port}"), "--ca-dir"])
        .arg(dir.path().join("ca"))
        .args(["--case", "rp-id_token-aud,clean", "--wait", "1", "--report"])
        .arg(dir.path().join("probe.html"))
        .arg("--har")
        .arg(dir.path().join("probe.har"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(only its own answers: a real provider's traffic is never altered)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("OIDC_ISSUER=https://authentik.test:{port}/application/o/mastodon/")),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  aud: log in now at https://mastodon.test/auth/sign_in (waiting up to 1 s; Enter moves on)"
        ),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("? ")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows[0].starts_with("? clean "), "the catalogue's order: {stdout}");
    assert!(
        rows[1].starts_with("? aud (rp-id_token-aud)")
            && rows[1].contains("seen undecided  no login reached the provider's token endpoint in time"),
        "{stdout}"
    );
    assert!(stdout.contains("\nthe control login was not accepted"), "{stdout}");
    let html = std::fs::read_to_string(dir.path().join("probe.html")).unwrap();
    assert!(
        html.contains("<h1>probe-rp results</h1>") && html.contains("<td>aud (rp-id_token-aud)</td>"),
        "{html}"
    );
    assert!(html.contains("<td>undecided</td>"), "{html}");
    let har: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("probe.har")).unwrap()).unwrap();
    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(out.status.code(), Some(2));
}

/// --metrics stays on loopback unless asked: the check comes before anything binds.
#[test]
fn metrics_beyond_loopback_must_be_asked_for() {
    let (code, _, stderr) = run(&[
        "proxy",
        "--upstream",
        "http://127.0.0.1:9",
        "--metrics",
        "0.0.0.0:9464",
        "--listen",
        "http://127.0.0.1:0",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--metrics 0.0.0.0:9464: not a loopback address; add --metrics-allow-remote to serve it beyond this host"
        ),
        "{stderr}"
    );
}

/// examples/prometheus: the scrape config passes `promtool check config`, and every panel of
/// the dashboard queries only metrics `--metrics` serves.
#[test]
fn prometheus_examples_use_only_the_metrics_served() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus");
    if std::path::Path::new("/usr/bin/promtool").exists() {
        let out = std::process::Command::new("/usr/bin/promtool")
            .args(["check", "config"])
            .arg(dir.join("prometheus.yml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    } else {
        assert_ne!(std::env::var("OIDC_TAP_REAL_PEERS").as_deref(), Ok("required"), "promtool missing");
        eprintln!("SKIPPED: promtool missing (.ci/run installs prometheus)");
    }
    let families = oidc_tap::telemetry::metrics::FAMILIES;
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("grafana-dashboard.json")).unwrap()).unwrap();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            let mut named = 0;
            while let Some(i) = rest.find("oidc_tap_") {
                let name: String =
                    rest[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let family = ["_total", "_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(families.contains(&family), "{name} in {expr:?} is not served: {families:?}");
                named += 1;
                rest = &rest[i + name.len()..];
            }
            assert!(named > 0, "{expr}");
        }
    }
}

/// The README's table of relying-party profiles is `rp::markdown_table()` (UPDATE_README=1
/// rewrites it), and every profile's name is documented.
#[test]
fn readme_profile_table_is_the_profiles() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find("| `--rp` | application |").expect("README has the profile table");
    let end = start + readme[start..].find("\n\n").expect("table ends with a blank line") + 1;
    let table = oidc_tap::rp::markdown_table();
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(path, format!("{}{table}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert_eq!(&readme[start..end], table, "run UPDATE_README=1 cargo test readme_profile_table");
    for p in oidc_tap::rp::PROFILES {
        assert!(readme.contains(&format!("| `{}` |", p.name)), "README lacks {}", p.name);
    }
}

/// What a profile says or tolerates is keyed by rule id: a misspelt id would silently never
/// apply, so every key must be in the catalogue.
#[test]
fn every_profiles_words_are_keyed_by_real_rule_ids() {
    for p in oidc_tap::rp::PROFILES {
        for (rule, _) in p.says.iter().chain(p.tolerates) {
            assert!(oidc_tap::rules::RuleId::parse(rule).is_some(), "{}: {rule} is no rule id", p.name);
        }
    }
}
