//! A live analysis session: feeds exchange records to the [`Analyzer`] and sends what it
//! reports to the console and the journal. Shared by `proxy`, `demo` and the tests, so they
//! all print and record the same way.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::analysis::{Analyzer, Event};
use crate::capture::Exchange;
use crate::clock::now_ms;
use crate::keyfetch::KeyFetcher;
use crate::oidc::decode::Decoded;
use crate::output::console::Console;
use crate::output::journal::Journal;
use crate::proxy::tap::Records;
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
    /// Counts the logins closed so far (`probe-rp` waits on it for a case's login to end).
    pub closed: Option<tokio::sync::watch::Sender<u64>>,
    /// Prometheus counters (`--metrics`).
    pub metrics: Option<std::sync::Arc<crate::telemetry::metrics::Metrics>>,
    /// Each closed login as an OpenTelemetry trace (`--otlp`).
    pub otlp: Option<OtlpOut>,
    capture_limit: usize,
}

/// Logins turned into traces and the exporter they are queued on.
pub struct OtlpOut {
    pub traces: crate::telemetry::otlp::TraceBuilder,
    pub sender: crate::telemetry::otlp::OtlpSender,
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
            closed: None,
            metrics: None,
            otlp: None,
            fetcher: None,
            har: None,
            ui: None,
            capture_limit,
        }
    }

    /// Writes the journal's first line (who wrote it, redacted or not, `extra`). A trace disk
    /// that is full or unwritable does not stop the session: the failure is said once and
    /// counted like any later write's.
    pub fn start_journal(&mut self, ts: u64, mut extra: serde_json::Map<String, serde_json::Value>) {
        // What the run was judged against, so `analyze` of the trace judges it the same way.
        let exp = self.analyzer.expectations();
        if !exp.is_unset() {
            extra.insert("expect".into(), exp.to_record());
        }
        if let Some(j) = &mut self.journal
            && let Err(e) = j.session(ts, extra)
        {
            self.journal_failed(&e);
        }
    }

    /// A failed journal write: counted; the first in the process is said (once, not per line
    /// or per demo run: a full disk fails every write after it).
    fn journal_failed(&mut self, e: &std::io::Error) {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                "cannot write the trace journal: {e}; forwarding and analysis go on, failed writes are counted"
            );
        }
        self.journal_errors += 1;
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
                self.journal_failed(&e);
            }
            if let Some(h) = &mut self.har {
                h.writer.event(&ev);
            }
            if let Some(u) = &self.ui {
                u.send(&ev);
            }
            if let Some(m) = &self.metrics {
                m.observe(&ev);
            }
            if let Some(o) = &mut self.otlp
                && let Some(req) = o.traces.event(&ev)
            {
                o.sender.send(&req);
            }
            if let (Some(w), Event::Flow(f)) = (&self.closed, &ev)
                && f.event == crate::analysis::FlowEventKind::Closed
            {
                w.send_modify(|n| *n += 1);
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
        let events = self.analyzer.ingest_owned(ex, None);
        self.emit(events);
    }

    /// Decodes the bodies of `ex` and says which keys its ID token needs that were never
    /// seen (the JWKS URL and kid), when this session may fetch them.
    /// The decoding made to find out is returned for [`Session::exchange_decoded`].
    pub fn keys_needed(&mut self, ex: &mut Exchange) -> (Option<Decoded>, Option<(String, Option<String>)>) {
        ex.decode_bodies(self.capture_limit);
        if self.fetcher.is_none() {
            return (None, None);
        }
        self.analyzer.decode_for_keys(ex)
    }

    /// The gateway's own fetch of the keys (recorded as an exchange and analysed).
    pub async fn fetch_keys(&mut self, url: &str, kid: Option<&str>) {
        if let Some(f) = &mut self.fetcher
            && let Some(fetched) = f.fetch(url, kid).await
        {
            self.exchange(fetched);
        }
    }

    /// An exchange whose bodies `keys_needed` already decoded (and maybe its messages).
    pub fn exchange_decoded(&mut self, ex: Exchange, decoded: Option<Decoded>) {
        let events = self.analyzer.ingest_owned(ex, decoded);
        self.emit(events);
    }

    /// Periodic clock tick (abandoned / expired flows).
    pub fn tick(&mut self, now: u64) {
        let events = self.analyzer.tick(now);
        self.emit(events);
    }

    /// Writes out what the journal holds in its buffer; a failure is counted like a write's.
    pub fn flush(&mut self) {
        if let Some(c) = &mut self.console {
            c.flush();
        }
        if let Some(j) = &mut self.journal
            && let Err(e) = j.flush()
        {
            self.journal_failed(&e);
        }
    }

    /// End of session: every open flow is closed and reported.
    pub fn finish(&mut self, now: u64) {
        let events = self.analyzer.finish(now);
        self.emit(events);
    }
}

/// Feeds records to the session as they arrive and ticks its clock every second; returns the
/// session when the gateway's record stream ends. The session runs on a thread of its own
/// (its own small runtime), so analysis and the journal's disk writes never occupy one of
/// forwarding's lanes: under saturation login steps wait in their queue, they are not dropped.
pub fn spawn_session(rx: Records, session: Session) -> JoinHandle<Session> {
    let (tx, done) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("oidc-tap-analysis".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("cannot start the analysis thread's runtime: {e}");
                return;
            }
        };
        let _ = tx.send(rt.block_on(session_loop(rx, session)));
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the analysis thread: {e}");
    }
    tokio::spawn(async move { done.await.expect("the analysis thread ended without its session") })
}

async fn session_loop(mut rx: Records, mut session: Session) -> Session {
    {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = session.har.as_ref().map(|h| h.every).unwrap_or(Duration::from_secs(3600));
        let mut har_tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        har_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut usr1 = user_signal();
        // The journal is written through a buffer: flushed when nothing is waiting and at
        // least every 100 ms, so a crash loses at most that window.
        let mut flush = tokio::time::interval(Duration::from_millis(100));
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Records taken early while looking for Mastodon's JWKS fetch (see `with_keys`).
        let mut ahead: VecDeque<Exchange> = VecDeque::new();
        // The queue is read in batches every millisecond rather than waited on record by
        // record: a forwarding lane that hands over a record then never has to wake this
        // thread (a syscall per request under load).
        // When a poll finds nothing, the loop waits for the next record instead (one wake-up
        // after a quiet spell, and no polling while the gateway sits idle).
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle = false;
        loop {
            if let Some(ex) = ahead.pop_front() {
                with_keys(&mut session, &mut rx, &mut ahead, ex).await;
                continue;
            }
            tokio::select! {
                rec = rx.recv(), if idle => match rec {
                    Some(ex) => {
                        idle = false;
                        poll.reset();
                        with_keys(&mut session, &mut rx, &mut ahead, ex).await;
                        if rx.is_empty() && ahead.is_empty() {
                            session.flush();
                        }
                    }
                    None => break,
                },
                _ = poll.tick(), if !idle => {
                    let mut took = false;
                    while let Some(ex) = rx.try_recv() {
                        took = true;
                        tracing::debug!(target: "oidc_tap::exchange", "#{} {}", ex.id, summary(&ex));
                        with_keys(&mut session, &mut rx, &mut ahead, ex).await;
                        if !ahead.is_empty() {
                            break;
                        }
                    }
                    if took && rx.is_empty() && ahead.is_empty() {
                        session.flush();
                    }
                    idle = !took && ahead.is_empty();
                    if ahead.is_empty() && rx.is_closed() && rx.is_empty() {
                        break;
                    }
                }
                _ = flush.tick() => session.flush(),
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
        session.flush();
        if let Some(h) = &mut session.har {
            h.write();
        }
        session
    }
}

/// How often the analysis thread takes what the gateway queued.
const POLL: Duration = Duration::from_millis(1);

/// How long analysis waits for Mastodon's own JWKS fetch before fetching the keys itself.
const KEYS_WAIT: Duration = Duration::from_millis(300);

/// One exchange; when its ID token needs keys never seen, they are read first: from Mastodon's
/// own JWKS fetch, which follows the token call (already waiting, or arriving within
/// [`KEYS_WAIT`]), so the token is judged by the keys of its moment however far analysis lags;
/// else fetched by the gateway. Records taken meanwhile wait in `ahead`, in order.
async fn with_keys(
    session: &mut Session,
    rx: &mut Records,
    ahead: &mut VecDeque<Exchange>,
    mut ex: Exchange,
) {
    let (decoded, keys) = session.keys_needed(&mut ex);
    // Only when the keys would be fetched now: a kid that stays unknown (a provider whose
    // JWKS fails) must not hold every token response up.
    let due = |url: &str, kid: &Option<String>| {
        session.fetcher.as_ref().is_some_and(|f| f.due(url, kid.as_deref()))
    };
    if let Some((url, kid)) = keys.filter(|(u, k)| due(u, k)) {
        match mastodons_fetch(rx, ahead, &url).await {
            Some(keys) => session.exchange(keys),
            None => session.fetch_keys(&url, kid.as_deref()).await,
        }
    }
    session.exchange_decoded(ex, decoded);
}

async fn mastodons_fetch(rx: &mut Records, ahead: &mut VecDeque<Exchange>, url: &str) -> Option<Exchange> {
    if let Some(at) = ahead.iter().position(|x| is_fetch_of(x, url)) {
        return ahead.remove(at);
    }
    let deadline = tokio::time::Instant::now() + KEYS_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(x)) if is_fetch_of(&x, url) => return Some(x),
            Ok(Some(x)) => ahead.push_back(x),
            _ => return None,
        }
    }
}

/// Whether `ex` is a GET of the JWKS at `url`.
fn is_fetch_of(ex: &Exchange, url: &str) -> bool {
    let Some((host, path)) = crate::oidc::classify::host_path(url) else { return false };
    let r = &ex.request;
    let got = r.path.split(['?', '#']).next().unwrap_or(&r.path);
    r.method == "GET"
        && crate::oidc::classify::normalize_host(&r.host, &r.scheme) == host
        && got.trim_end_matches('/') == path.trim_end_matches('/')
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
