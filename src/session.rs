//! A live analysis session: feeds exchange records to the [`Analyzer`] and sends what it
//! reports to the console and the journal. Shared by `proxy`, `demo` and the tests, so they
//! all print and record the same way.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::analysis::{Analyzer, Event};
use crate::capture::Exchange;
use crate::clock::now_ms;
use crate::keyfetch::KeyFetcher;
use crate::output::console::Console;
use crate::output::journal::Journal;
use crate::trace::har::HarWriter;
use std::path::PathBuf;

#[cfg(unix)]
type UserSignal = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type UserSignal = Option<()>;

/// SIGUSR1, where there is one: "write the HAR now".
fn user_signal() -> UserSignal {
    #[cfg(unix)]
    return tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    #[cfg(not(unix))]
    None
}

async fn next_signal(s: &mut UserSignal) {
    #[cfg(unix)]
    if let Some(s) = s {
        s.recv().await;
        return;
    }
    let _ = s;
    std::future::pending::<()>().await
}

pub struct Session {
    pub analyzer: Analyzer,
    pub console: Option<Console>,
    pub journal: Option<Journal>,
    /// Journal write failures (the first is reported; analysis goes on).
    pub journal_errors: u64,
    /// Everything reported, when kept (tests, demo summary).
    pub keep: Option<Vec<Event>>,
    /// Fetches JWKS the gateway has not seen (live sessions only).
    pub fetcher: Option<KeyFetcher>,
    /// The HAR being kept (`--har`): rewritten periodically, on SIGUSR1 and at the end.
    pub har: Option<HarOut>,
    /// The web view (`--ui`), fed without waiting.
    pub ui: Option<crate::ui::UiFeed>,
    capture_limit: usize,
}

/// A HAR file kept up to date while the session runs.
pub struct HarOut {
    pub writer: HarWriter,
    pub path: PathBuf,
    /// Between rewrites.
    pub every: Duration,
    /// Failed writes (the first is reported).
    pub errors: u64,
}

impl HarOut {
    /// Rewrites the file (atomically); a failure is reported once and counted.
    pub fn write(&mut self) {
        if let Err(e) = self.writer.write(&self.path) {
            if self.errors == 0 {
                tracing::error!("cannot write the HAR {}: {e}", self.path.display());
            }
            self.errors += 1;
        }
    }
}

impl Session {
    pub fn new(
        analyzer: Analyzer,
        console: Option<Console>,
        journal: Option<Journal>,
        capture_limit: usize,
    ) -> Session {
        Session {
            analyzer,
            console,
            journal,
            journal_errors: 0,
            keep: None,
            fetcher: None,
            har: None,
            ui: None,
            capture_limit,
        }
    }

    /// Keep every event in memory as well.
    pub fn keep_events(mut self) -> Session {
        self.keep = Some(vec![]);
        self
    }

    fn emit(&mut self, events: Vec<Event>) {
        for ev in events {
            if let Some(c) = &mut self.console {
                c.event(&ev);
            }
            if let Some(j) = &mut self.journal
                && let Err(e) = j.write(&ev)
            {
                if self.journal_errors == 0 {
                    tracing::error!("cannot write the trace journal: {e}");
                }
                self.journal_errors += 1;
            }
            if let Some(h) = &mut self.har {
                h.writer.event(&ev);
            }
            if let Some(u) = &self.ui {
                u.send(&ev);
            }
            if let Some(k) = &mut self.keep {
                k.push(ev);
            }
        }
    }

    /// One finished exchange from the gateway.
    pub fn exchange(&mut self, mut ex: Exchange) {
        ex.decode_bodies(self.capture_limit);
        self.ingest(ex);
    }

    fn ingest(&mut self, ex: Exchange) {
        let events = self.analyzer.ingest(&ex);
        self.emit(events);
    }

    /// One finished exchange, fetching the ID token's keys first when they were never seen.
    pub async fn exchange_fetching_keys(&mut self, mut ex: Exchange) {
        ex.decode_bodies(self.capture_limit);
        if let Some(f) = &mut self.fetcher
            && let Some((url, kid)) = self.analyzer.jwks_to_fetch(&ex)
            && let Some(fetched) = f.fetch(&url, kid.as_deref()).await
        {
            self.exchange(fetched);
        }
        self.ingest(ex);
    }

    /// Periodic clock tick (abandoned / expired flows).
    pub fn tick(&mut self, now: u64) {
        let events = self.analyzer.tick(now);
        self.emit(events);
    }

    /// End of session: every open flow is closed and reported.
    pub fn finish(&mut self, now: u64) {
        let events = self.analyzer.finish(now);
        self.emit(events);
    }
}

/// Feeds records to the session as they arrive and ticks its clock every second; returns the
/// session when the gateway's record stream ends.
pub fn spawn_session(mut rx: mpsc::Receiver<Exchange>, mut session: Session) -> JoinHandle<Session> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = session.har.as_ref().map(|h| h.every).unwrap_or(Duration::from_secs(3600));
        let mut har_tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        har_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut usr1 = user_signal();
        loop {
            tokio::select! {
                rec = rx.recv() => match rec {
                    Some(ex) => {
                        tracing::debug!(target: "oidc_tap::exchange", "#{} {}", ex.id, summary(&ex));
                        session.exchange_fetching_keys(ex).await;
                    }
                    None => break,
                },
                _ = tick.tick() => session.tick(now_ms()),
                _ = har_tick.tick(), if session.har.is_some() => {
                    if let Some(h) = &mut session.har { h.write() }
                }
                _ = next_signal(&mut usr1), if session.har.is_some() => {
                    if let Some(h) = &mut session.har { h.write() }
                }
            }
        }
        session.finish(now_ms());
        if let Some(h) = &mut session.har {
            h.write();
        }
        session
    })
}

/// `GET authentik.company/application/o/token/ → 200 (12 ms, HTTP/1.1)` for the debug log:
/// secrets in the URL masked and control characters escaped, like everything that leaves.
fn summary(ex: &Exchange) -> String {
    let status = ex.response.as_ref().map(|r| r.status.to_string()).unwrap_or_else(|| "---".into());
    let mut s = format!(
        "{} {}{} → {} ({} ms, {})",
        ex.request.method,
        ex.request.host,
        crate::redact::redact_url(&ex.request.path),
        status,
        ex.total_ms,
        ex.request.version
    );
    if let Some(e) = &ex.error {
        s.push_str(" · ");
        s.push_str(e);
    }
    crate::text::printable(&s).into_owned()
}
