//! The console as a user sees it, pinned whole: recorded journals (made with `oidc-tap demo
//! --fault NAME --trace`) analysed as `oidc-tap analyze` does and rendered without colour, compared line
//! for line with `tests/golden/*.txt`. Times come from the records, so the output is fixed.
//! `UPDATE_GOLDEN=1 cargo test --test console_golden` rewrites the golden files after an
//! intended change of layout; review the diff before committing it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use oidc_tap::analysis::AnalyzerConfig;
use oidc_tap::demo::rig::Scenario;
use oidc_tap::output::console::{Console, Style};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `tests/fixtures/journals/demo-<fault>.jsonl` analysed exactly as `oidc-tap analyze` does
/// (live verdicts included), with the expectations the demo used.
fn render(fault: &str, show_all: bool) -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let mut sc = Scenario::clean();
    oidc_tap::demo::faults::apply(fault, &mut sc).unwrap();
    let buf = Buf::default();
    let mut console = Console::new(Box::new(buf.clone()), Style { color: false }, show_all);
    oidc_tap::commands::analyze::analyze(
        &[format!("{dir}/tests/fixtures/journals/demo-{fault}.jsonl")],
        AnalyzerConfig { expectations: sc.expectations(), ..Default::default() },
        |ev| console.event(ev),
    )
    .unwrap();
    let out = buf.0.lock().unwrap().clone();
    String::from_utf8(out).unwrap()
}

fn check(name: &str, text: &str) {
    let path = format!("{}/tests/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} missing: UPDATE_GOLDEN=1"));
    if want != text {
        let diff: Vec<String> = want
            .lines()
            .zip(text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden   {a}\n  rendered {b}", i + 1))
            .collect();
        panic!(
            "{name}: console output differs from {path} ({} vs {} lines)\n{}\n(UPDATE_GOLDEN=1 after an intended change)",
            want.lines().count(),
            text.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn clean_login_console_is_pinned() {
    check("console-clean", &render("clean", false));
}

#[test]
fn issuer_trailing_slash_console_is_pinned() {
    check("console-issuer-trailing-slash", &render("issuer-trailing-slash", false));
}

/// authentik's flow summed up under the code; the altered state joined by the provider's
/// interaction and named.
#[test]
fn state_altered_console_is_pinned() {
    check("console-state-altered", &render("state-altered", false));
    check("console-state-altered-show-all", &render("state-altered", true));
}

#[test]
fn nonce_mismatch_console_with_show_all_is_pinned() {
    check("console-nonce-mismatch-show-all", &render("nonce-mismatch", true));
}
