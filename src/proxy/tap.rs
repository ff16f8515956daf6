//! The capture tap: copies body bytes (up to a cap) while they stream through, and hands one
//! [`Exchange`] record to the analysis side when the exchange ends.
//!
//! The record is emitted when the last holder of the [`Recorder`] lets go of it: the request
//! body, the response body and the forwarding future each hold one. Two ways out, so a slow
//! consumer never costs latency and never costs a login:
//! - requests the analysis side asked for (its [`Wanted`] predicate: login steps) are recorded
//!   whole and queued without ever being dropped; past [`MAX_QUEUED_BYTES`] waiting, their
//!   bodies are cut (marked, counted) but the record stays; past [`MAX_WAITING_LOGIN_STEPS`]
//!   waiting, a new login step waits (up to [`ADMIT_WAIT`]) for analysis to take one before it
//!   is forwarded, so a flood of login steps is slowed to the pace they are judged at instead of
//!   growing memory without end (other traffic never waits);
//! - everything else is a summary (heads, sizes, times; no bodies) on a bounded queue, dropped
//!   and counted when analysis falls behind.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::capture::{CapturedBody, Exchange, GatewayAnswer, PackedHeaders, ResponseRecord};

pub use crate::capture::Wants;

/// What the capture asks (shared by every connection).
pub type Wanted = Arc<dyn Wants>;

/// Captured body bytes that may wait for analysis on the lossless queue.
pub const MAX_QUEUED_BYTES: usize = 32 * 1024 * 1024;

/// Login steps that may be in flight or waiting for analysis before the next one waits for
/// room (a step holds its place from its arrival until analysis reads its record).
pub const MAX_WAITING_LOGIN_STEPS: usize = 1024;

/// How long a login step waits for room; past it, it goes on anyway (a stuck analysis side must
/// not take the login path down) and is counted as `oidc_over_budget`.
pub const ADMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the capture kept and lost, for the exit line and the journal.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Records kept whole (login steps).
    pub full: AtomicU64,
    /// Whole records lost (only when the analysis side is gone: shutdown).
    pub full_lost: AtomicU64,
    /// Whole records whose bodies were cut because too much was waiting.
    pub full_cut: AtomicU64,
    /// Summaries of other traffic handed over.
    pub summaries: AtomicU64,
    /// Summaries dropped because analysis fell behind.
    pub summaries_dropped: AtomicU64,
    /// Login steps that waited for room before being forwarded (analysis was behind).
    pub full_waited: AtomicU64,
    /// Login steps that went on after [`ADMIT_WAIT`] without room.
    pub full_over_budget: AtomicU64,
}

impl CaptureStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `(full, full_lost, full_cut, summaries, summaries_dropped)` now.
    pub fn snapshot(&self) -> [u64; 5] {
        [&self.full, &self.full_lost, &self.full_cut, &self.summaries, &self.summaries_dropped]
            .map(|c| c.load(Ordering::Relaxed))
    }

    /// The counters as the journal's `capture` line and the exit summary carry them.
    pub fn json(&self) -> serde_json::Value {
        let [full, full_lost, full_cut, summaries, summaries_dropped] = self.snapshot();
        serde_json::json!({
            "oidc_records": full,
            "oidc_records_lost": full_lost,
            "oidc_bodies_cut": full_cut,
            "oidc_waited": self.full_waited.load(Ordering::Relaxed),
            "oidc_over_budget": self.full_over_budget.load(Ordering::Relaxed),
            "other_summaries": summaries,
            "other_summaries_dropped": summaries_dropped,
        })
    }
}

/// A finished record on its way to the analysis side, its heads still packed: they are
/// unpacked there, off the forwarding thread.
struct Captured {
    ex: Exchange,
    req_heads: PackedHeaders,
    resp_heads: PackedHeaders,
}

impl Captured {
    fn unpack(self) -> Exchange {
        let mut ex = self.ex;
        ex.request.headers = self.req_heads.unpack();
        if let Some(r) = &mut ex.response {
            r.headers = self.resp_heads.unpack();
        }
        ex
    }
}

/// Where finished exchange records go. Cloned into every connection task.
#[derive(Clone)]
pub struct CaptureSink {
    full: mpsc::UnboundedSender<(Captured, Option<OwnedSemaphorePermit>)>,
    /// Room for login steps waiting for analysis (a permit travels with each record).
    room: Arc<Semaphore>,
    room_size: usize,
    summaries: mpsc::Sender<Captured>,
    wanted: Option<Wanted>,
    queued: Arc<AtomicUsize>,
    stats: Arc<CaptureStats>,
    limit: usize,
}

/// The analysis side's end: login steps first, then summaries.
pub struct Records {
    full: mpsc::UnboundedReceiver<(Captured, Option<OwnedSemaphorePermit>)>,
    summaries: mpsc::Receiver<Captured>,
    queued: Arc<AtomicUsize>,
}

fn captured_len(ex: &Exchange) -> usize {
    ex.request.body.bytes.len() + ex.response.as_ref().map(|r| r.body.bytes.len()).unwrap_or(0)
}

impl Records {
    /// The next record; `None` once the gateway is gone and both queues are empty.
    pub async fn recv(&mut self) -> Option<Exchange> {
        let ex = tokio::select! {
            biased;
            Some((x, _room)) = self.full.recv() => x,
            Some(x) = self.summaries.recv() => x,
            else => return None,
        };
        Some(self.taken(ex))
    }

    /// A record leaves the queue: its bodies no longer wait, its heads are unpacked.
    fn taken(&self, c: Captured) -> Exchange {
        if !c.ex.summary {
            self.queued.fetch_sub(captured_len(&c.ex), Ordering::Relaxed);
        }
        c.unpack()
    }

    /// The next record if one is waiting (login steps first).
    pub fn try_recv(&mut self) -> Option<Exchange> {
        let c = self.full.try_recv().map(|(x, _room)| x).or_else(|_| self.summaries.try_recv()).ok()?;
        Some(self.taken(c))
    }

    /// The gateway is gone: nothing more will come (what is queued may still be read).
    pub fn is_closed(&self) -> bool {
        self.full.is_closed() && self.summaries.is_closed()
    }

    /// Nothing waiting right now (the moment to flush what was written).
    pub fn is_empty(&self) -> bool {
        self.full.is_empty() && self.summaries.is_empty()
    }
}

impl CaptureSink {
    /// A sink with room for `capacity` summaries in flight, a per-body capture cap of `limit`,
    /// and the analysis side's predicate (`None`: keep everything whole).
    pub fn new(capacity: usize, limit: usize, wanted: Option<Wanted>) -> (Self, Records, Arc<CaptureStats>) {
        let (full_tx, full_rx) = mpsc::unbounded_channel();
        let (sum_tx, sum_rx) = mpsc::channel(capacity.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(CaptureStats::default());
        let sink = CaptureSink {
            full: full_tx,
            room: Arc::new(Semaphore::new(MAX_WAITING_LOGIN_STEPS)),
            room_size: MAX_WAITING_LOGIN_STEPS,
            summaries: sum_tx,
            wanted,
            queued: queued.clone(),
            stats: stats.clone(),
            limit,
        };
        (sink, Records { full: full_rx, summaries: sum_rx, queued }, stats)
    }

    /// Room for `n` waiting login steps instead of [`MAX_WAITING_LOGIN_STEPS`] (tests).
    pub fn with_room(mut self, n: usize) -> CaptureSink {
        self.room = Arc::new(Semaphore::new(n.max(1)));
        self.room_size = n.max(1);
        self
    }

    fn wants(&self, ex: &Exchange) -> bool {
        let r = &ex.request;
        self.wanted.as_ref().is_none_or(|w| w.request(&r.method, &r.scheme, &r.host, &r.path))
    }

    /// A summary's answer shows it matters after all (asked only for summaries).
    fn wants_answer(&self, ex: &Exchange, status: u16, headers: &http::HeaderMap) -> bool {
        self.wanted.as_ref().is_some_and(|w| w.answer(&ex.request, status, headers))
    }

    fn emit(&self, mut c: Captured, room: Option<OwnedSemaphorePermit>) {
        if c.ex.summary {
            match self.summaries.try_send(c) {
                Ok(()) => CaptureStats::bump(&self.stats.summaries),
                Err(_) => CaptureStats::bump(&self.stats.summaries_dropped),
            }
            return;
        }
        let len = captured_len(&c.ex);
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED_BYTES {
            // Too much waits already: the record goes on without its bodies, marked.
            self.queued.fetch_sub(len, Ordering::Relaxed);
            let ex = &mut c.ex;
            for b in
                [Some(&mut ex.request.body), ex.response.as_mut().map(|r| &mut r.body)].into_iter().flatten()
            {
                if !b.bytes.is_empty() {
                    b.bytes = Bytes::new();
                    b.truncated = true;
                }
            }
            CaptureStats::bump(&self.stats.full_cut);
        }
        let len = captured_len(&c.ex);
        match self.full.send((c, room)) {
            Ok(()) => CaptureStats::bump(&self.stats.full),
            Err(_) => {
                self.queued.fetch_sub(len, Ordering::Relaxed);
                CaptureStats::bump(&self.stats.full_lost)
            }
        }
    }
}

/// Which body of the exchange a [`TapBody`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

struct Progress {
    ex: Exchange,
    req_heads: PackedHeaders,
    resp_heads: PackedHeaders,
    /// The client's request body stream failed (it went away mid-request).
    client_hung_up: bool,
    req: BytesMut,
    resp: BytesMut,
}

/// Accumulates one exchange; emits it on drop.
pub struct Recorder {
    state: Mutex<Option<Progress>>,
    started: Instant,
    sink: CaptureSink,
    /// This login step's place among those waiting for analysis (given back when read).
    room: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Recorder {
    /// Starts recording; `ex` carries the request line (its headers are `heads`, unpacked on
    /// the analysis side), its body is filled in as it streams (or, when the analysis side
    /// does not want it whole, only counted).
    pub fn start(
        sink: &CaptureSink,
        mut ex: Exchange,
        heads: PackedHeaders,
        started: Instant,
    ) -> Arc<Recorder> {
        ex.summary = !sink.wants(&ex);
        Arc::new(Recorder {
            state: Mutex::new(Some(Progress {
                ex,
                req_heads: heads,
                resp_heads: PackedHeaders::default(),
                client_hung_up: false,
                req: BytesMut::new(),
                resp: BytesMut::new(),
            })),
            started,
            sink: sink.clone(),
            room: Mutex::new(None),
        })
    }

    /// For a login step: waits until fewer than [`MAX_WAITING_LOGIN_STEPS`] wait for analysis
    /// (at most [`ADMIT_WAIT`]), so a flood of login steps cannot grow memory without end.
    /// Other traffic never waits.
    pub async fn wait_for_room(&self) {
        if self.with(|p| p.ex.summary).unwrap_or(true) {
            return;
        }
        let room = &self.sink.room;
        let permit = match room.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                let stats = &self.sink.stats;
                if stats.full_waited.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "{} login steps are in flight or waiting for analysis: new login steps wait for room before they are forwarded (other traffic does not)",
                        self.sink.room_size
                    );
                }
                match tokio::time::timeout(ADMIT_WAIT, room.clone().acquire_owned()).await {
                    Ok(Ok(p)) => Some(p),
                    _ => {
                        CaptureStats::bump(&stats.full_over_budget);
                        None
                    }
                }
            }
        };
        *self.room.lock().unwrap_or_else(|p| p.into_inner()) = permit;
    }

    fn with<R>(&self, f: impl FnOnce(&mut Progress) -> R) -> Option<R> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_mut().map(f)
    }

    /// Records the response head that is about to go to the client. A request kept only as a
    /// summary is kept whole from here on when its answer shows it is a login step (the
    /// request body that already passed was not kept: the record says so).
    pub fn response_head(&self, status: u16, version: &str, headers: &http::HeaderMap) {
        let ms = self.started.elapsed().as_millis() as u64;
        let heads = PackedHeaders::of(headers);
        self.with(|p| {
            if p.ex.summary && self.sink.wants_answer(&p.ex, status, headers) {
                p.ex.summary = false;
                p.ex.kept_at_answer = true;
            }
            p.ex.response_ms = Some(ms);
            p.resp_heads = heads;
            p.ex.response = Some(ResponseRecord {
                status,
                version: version.to_owned(),
                headers: Vec::new(),
                body: CapturedBody::default(),
            });
        });
    }

    /// Records a gateway-side failure (kept even when a response was already recorded).
    pub fn error(&self, msg: impl Into<String>) {
        let msg = msg.into();
        self.with(|p| match &mut p.ex.error {
            Some(e) => {
                e.push_str("; ");
                e.push_str(&msg);
            }
            None => p.ex.error = Some(msg),
        });
    }

    /// Marks the response as the gateway's own, and why.
    pub fn answered_by_gateway(&self, why: GatewayAnswer) {
        self.with(|p| p.ex.gateway_answer = Some(why));
    }

    /// Whether the client went away while sending its request body.
    pub fn client_hung_up(&self) -> bool {
        self.with(|p| p.client_hung_up).unwrap_or(false)
    }

    /// Marks the exchange as switching protocols.
    pub fn upgraded(&self) {
        self.with(|p| p.ex.upgraded = true);
    }

    fn append(&self, side: Side, data: &Bytes) {
        let limit = self.sink.limit;
        self.with(|p| {
            let summary = p.ex.summary;
            let limit = if summary { 0 } else { limit };
            let (buf, body) = match side {
                Side::Request => (&mut p.req, &mut p.ex.request.body),
                Side::Response => match &mut p.ex.response {
                    Some(r) => (&mut p.resp, &mut r.body),
                    None => return,
                },
            };
            body.wire_len += data.len() as u64;
            let room = limit.saturating_sub(buf.len());
            if data.len() > room && !summary {
                body.truncated = true;
            }
            buf.extend_from_slice(&data[..data.len().min(room)]);
        });
    }

    fn incomplete(&self, side: Side, why: &str) {
        self.with(|p| match side {
            Side::Request => p.ex.request.body.incomplete = true,
            Side::Response => {
                if let Some(r) = &mut p.ex.response {
                    r.body.incomplete = true
                }
            }
        });
        let what = match side {
            Side::Request => "request body",
            Side::Response => "response body",
        };
        self.error(format!("{what} {why}"));
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let taken = self.state.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut p) = taken {
            p.ex.total_ms = self.started.elapsed().as_millis() as u64;
            p.ex.request.body.bytes = p.req.freeze();
            if let Some(r) = &mut p.ex.response {
                r.body.bytes = p.resp.freeze();
            }
            let room = self.room.get_mut().unwrap_or_else(|p| p.into_inner()).take();
            self.sink.emit(Captured { ex: p.ex, req_heads: p.req_heads, resp_heads: p.resp_heads }, room);
        }
    }
}

/// Errors a tapped body passes on: the peer's own, or the gateway's idle timeout.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body that forwards every frame unchanged and copies data frames into a [`Recorder`].
pub struct TapBody<B> {
    inner: B,
    rec: Option<Arc<Recorder>>,
    side: Side,
    idle: Option<Idle>,
}

/// No data for this long while the body is being read: the peer is stuck, the body ends with
/// an error (so a stalled client or upstream cannot hold a connection and its buffers forever).
struct Idle {
    after: std::time::Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<B: Body> TapBody<B> {
    pub fn new(inner: B, rec: Arc<Recorder>, side: Side) -> Self {
        // A body that is empty from the start is complete even if nobody ever polls it.
        let rec = if inner.is_end_stream() { None } else { Some(rec) };
        TapBody { inner, rec, side, idle: None }
    }

    /// Ends the body with an error when no frame arrives for `after` while it is read.
    pub fn idle_timeout(mut self, after: std::time::Duration) -> Self {
        self.idle = Some(Idle { after, timer: Box::pin(tokio::time::sleep(after)) });
        self
    }
}

impl<B> Body for TapBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(rec)) = (frame.data_ref(), &this.rec) {
                    rec.append(this.side, data);
                }
                if this.inner.is_end_stream() {
                    this.rec = None;
                }
                if let Some(i) = &mut this.idle {
                    let at = tokio::time::Instant::now() + i.after;
                    i.timer.as_mut().reset(at);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                if let Some(rec) = this.rec.take() {
                    if this.side == Side::Request {
                        // The client's own stream failed: it went away mid-request.
                        rec.with(|p| p.client_hung_up = true);
                    }
                    rec.incomplete(this.side, &format!("failed: {e}"));
                }
                Poll::Ready(Some(Err(e)))
            }
            // End of stream: let go of the recorder so the record goes out without waiting
            // for hyper to drop the body.
            Poll::Ready(None) => {
                this.rec = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let stalled = this.idle.as_mut().is_some_and(|i| i.timer.as_mut().poll(cx).is_ready());
                if !stalled {
                    return Poll::Pending;
                }
                let secs = this.idle.take().map(|i| i.after.as_secs()).unwrap_or(0);
                let why = format!("stalled: no data for {secs} s (the peer stopped sending)");
                if let Some(rec) = this.rec.take() {
                    rec.incomplete(this.side, &why);
                }
                Poll::Ready(Some(Err(why.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TapBody<B> {
    fn drop(&mut self) {
        if let Some(rec) = self.rec.take() {
            rec.incomplete(self.side, "ended early (peer went away or upstream failed)");
        }
    }
}

#[cfg(test)]
#[path = "tap_tests.rs"]
mod tests;
