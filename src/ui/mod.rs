//! The web view (`proxy --ui`, `demo --ui`, `view FILE`): a page that lists the login flows as
//! they happen and draws one as a sequence diagram with the selected exchange decoded.
//!
//! It sits beside the console and the journal: the session hands it each event through a
//! bounded queue ([`UiFeed`], `try_send`, drops counted), so a slow or stuck browser can only
//! lose updates (it is told to reload), never slow analysis or forwarding. The model
//! ([`board::Board`]) is pure; [`server`] is a small hyper server on its own listener with the
//! page's assets compiled in, a strict Content-Security-Policy, a Host check against DNS
//! rebinding, and a random token whenever it listens beyond loopback.

pub mod board;
mod board_tests;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::analysis::{Event, FlowEventKind};
use crate::oidc::ExchangeKind;
use board::Board;

/// Where the web view listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8477";

/// Events queued for the page before new ones are dropped (and counted).
const FEED_QUEUE: usize = 4096;
/// Updates queued per browser before it is told to reload.
const BROADCAST_QUEUE: usize = 1024;

/// Live (fed by a running session) or a loaded trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    View,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::View => "view",
        }
    }
}

/// How the web view is served.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub addr: SocketAddr,
    /// Listening beyond loopback was asked for (`--ui-allow-remote`): a token is then required.
    pub allow_remote: bool,
    pub mode: Mode,
    /// The page's header line ("live · https://127.0.0.1:8443 → authentik.company").
    pub title: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(
        "--ui {0}: that address is reachable beyond this machine and the page shows every login; add --ui-allow-remote (a token is then required on every request) or listen on 127.0.0.1"
    )]
    RemoteNotAllowed(SocketAddr),
    #[error("--ui {addr}: cannot listen: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// What the session holds to feed the page.
#[derive(Clone)]
pub struct UiFeed {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

enum Msg {
    Event(Event),
}

impl UiFeed {
    /// Queues an event about a login for the page; never waits. Other traffic is not shown
    /// (the page is about logins), so it costs nothing here.
    pub fn send(&self, ev: &Event) {
        let wanted = match ev {
            Event::Exchange(x) => x.flow.is_some() && x.kind != ExchangeKind::Other,
            Event::Finding(_) => true,
            Event::Flow(f) => f.event == FlowEventKind::Opened || f.event == FlowEventKind::Closed,
        };
        if wanted && self.tx.try_send(Msg::Event(ev.clone())).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events the page never got because it fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// State shared by the feeder and the server.
struct Shared {
    board: std::sync::Mutex<Board>,
    updates: broadcast::Sender<bytes::Bytes>,
    token: Option<String>,
    cfg: UiConfig,
    dropped: Arc<AtomicU64>,
}

impl Shared {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn info(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": self.cfg.mode.as_str(),
            "title": self.cfg.title,
            "lost": self.dropped.load(Ordering::Relaxed),
        })
    }
}

/// A running web view.
pub struct Ui {
    pub addr: SocketAddr,
    /// Required on every request when listening beyond loopback.
    pub token: Option<String>,
    feed: UiFeed,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    feeder: JoinHandle<()>,
}

impl Ui {
    /// Binds and serves `board` (empty for a live session, loaded for `view`).
    pub async fn start(cfg: UiConfig, board: Board) -> Result<Ui, UiError> {
        let loopback = cfg.addr.ip().is_loopback();
        if !loopback && !cfg.allow_remote {
            return Err(UiError::RemoteNotAllowed(cfg.addr));
        }
        let listener = tokio::net::TcpListener::bind(cfg.addr)
            .await
            .map_err(|source| UiError::Bind { addr: cfg.addr, source })?;
        let addr = listener.local_addr().map_err(|source| UiError::Bind { addr: cfg.addr, source })?;
        let token = (!loopback).then(server::new_token);
        let (tx, rx) = mpsc::channel(FEED_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            board: std::sync::Mutex::new(board),
            updates: broadcast::channel(BROADCAST_QUEUE).0,
            token: token.clone(),
            cfg,
            dropped: dropped.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let server = tokio::spawn(server::serve(listener, shared.clone(), stop_rx));
        let feeder = tokio::spawn(feed_loop(rx, shared));
        Ok(Ui { addr, token, feed: UiFeed { tx, dropped }, stop, server, feeder })
    }

    /// The address to open (with the token when one is required).
    pub fn url(&self) -> String {
        match &self.token {
            Some(t) => format!("http://{}/?token={t}", self.addr),
            None => format!("http://{}/", self.addr),
        }
    }

    pub fn feed(&self) -> UiFeed {
        self.feed.clone()
    }

    /// Stops serving; open pages see the stream end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        drop(self.feed);
        self.feeder.abort();
        let _ = self.server.await;
    }
}

/// Takes the session's events into the board and tells every open page which flow changed.
async fn feed_loop(mut rx: mpsc::Receiver<Msg>, shared: Arc<Shared>) {
    let mut lost_told = 0;
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut changed = std::collections::BTreeSet::new();
        {
            let mut board = shared.board();
            for m in batch.drain(..) {
                match m {
                    Msg::Event(ev) => changed.extend(board.event(&ev)),
                }
            }
        }
        // A burst about one flow is one update.
        for id in changed {
            let row = shared.board().summary(id).map(serde_json::to_string);
            if let Some(Ok(row)) = row {
                let _ = shared.updates.send(format!("event: flow\ndata: {row}\n\n").into());
            }
        }
        let lost = shared.dropped.load(Ordering::Relaxed);
        if lost != lost_told {
            lost_told = lost;
            let _ = shared.updates.send(format!("event: info\ndata: {}\n\n", shared.info()).into());
        }
    }
}
