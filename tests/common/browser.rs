//! Debian's headless Chromium through chromedriver (WebDriver, the `fantoccini` crate), for the
//! tests that look at pages as a person does (`web_ui.rs`) or log in as one (`real_peers.rs`).
//! `.ci/run` installs both and sets `OIDC_TAP_BROWSER_TESTS=required`, so in CI these tests
//! cannot skip; elsewhere, without chromium, they say so and pass.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const WAIT: Duration = Duration::from_secs(15);

pub fn shots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A headless Chromium session; the driver is killed when it goes.
pub struct Browser {
    pub client: Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// The driver and every Chromium process it started (one process group), even when the
    /// test failed before closing its session.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = std::process::Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// `None` (with a note) when chromium is not installed and the tests are not required.
    pub async fn start(javascript: bool) -> Option<Browser> {
        Browser::launch(javascript, false).await
    }

    /// `dark`: the system prefers a dark colour scheme.
    pub async fn launch(javascript: bool, dark: bool) -> Option<Browser> {
        Browser::launch_with(javascript, dark, &[]).await
    }

    /// With more Chromium flags (`--ignore-certificate-errors` for a browser that logs in
    /// through the gateway's dev CA: its trust is not what those tests look at).
    pub async fn launch_with(javascript: bool, dark: bool, extra: &[&str]) -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            if std::env::var("OIDC_TAP_BROWSER_TESTS").as_deref() == Ok("required") {
                panic!("{CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)");
            }
            eprintln!("SKIPPED: no {CHROMIUM}/{CHROMEDRIVER}; .ci/run installs them");
            return None;
        }
        // chromedriver picks its own port and says which: a port chosen here and handed over
        // could be taken meanwhile by another test's server (parallel tests, 2 cores).
        let mut driver = std::process::Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = driver.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(p) = line.split("started successfully on port ").nth(1) {
                    let _ = tx.send(p.trim_end_matches('.').trim().parse::<u16>().ok());
                }
            }
        });
        let port = match rx.recv_timeout(WAIT) {
            Ok(Some(port)) => port,
            _ => panic!("chromedriver did not start"),
        };
        let profile = tempfile::tempdir().unwrap();
        let mut opts = serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if dark {
            opts["args"].as_array_mut().unwrap().push("--force-dark-mode".into());
        }
        opts["args"].as_array_mut().unwrap().extend(extra.iter().map(|a| serde_json::Value::from(*a)));
        if !javascript {
            opts["prefs"] = serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), opts);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a chromium session");
        Some(Browser { client, driver, _profile: profile })
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("{css}: {e}\n{}", self.client.source().await.unwrap_or_default()),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap()
    }

    pub async fn shot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let p = shots().join(name);
        std::fs::write(&p, png).unwrap();
        p
    }

    /// Waits until the script returns true.
    pub async fn until(&self, script: &str) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if self.client.execute(script, vec![]).await.unwrap() == serde_json::Value::Bool(true) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "never true: {script}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
