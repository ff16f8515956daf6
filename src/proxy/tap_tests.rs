//! Unit tests of the capture tap (beside it: `tap.rs` keeps the mechanism on one page).

use http_body_util::{BodyExt, Full, StreamBody};

use super::*;
use crate::capture::RequestRecord;

/// Past the room for waiting login steps, the next one waits until analysis reads one; if
/// nobody reads, it goes on after ADMIT_WAIT. Both counted; no record lost either way.
#[tokio::test(start_paused = true)]
async fn a_login_step_waits_for_room_and_goes_on_when_analysis_is_stuck() {
    let (sink, mut rx, stats) = CaptureSink::new(16, 1024, None);
    let sink = sink.with_room(2);
    let step = |id| {
        let req = RequestRecord::new("POST", "https", "a", "/token", "HTTP/1.1", vec![]);
        Recorder::start(&sink, Exchange::begin(id, req, 1000), PackedHeaders::default(), Instant::now())
    };
    for id in 1..=2 {
        let r = step(id);
        r.wait_for_room().await;
        drop(r); // recorded, waiting for analysis
    }
    let third = step(3);
    let mut waiting = Box::pin(third.wait_for_room());
    let started = tokio::time::Instant::now();
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), &mut waiting).await.is_err(),
        "the third waits while two wait for analysis"
    );
    assert_eq!(rx.recv().await.unwrap().id, 1, "analysis reads one");
    waiting.await;
    assert!(started.elapsed() < ADMIT_WAIT, "room, not the timeout, let it go");
    drop(third);
    assert_eq!(stats.full_waited.load(Ordering::Relaxed), 1);
    assert_eq!(stats.full_over_budget.load(Ordering::Relaxed), 0);
    // Nobody reads now: the fourth goes on after ADMIT_WAIT all the same.
    let fourth = step(4);
    let started = tokio::time::Instant::now();
    fourth.wait_for_room().await;
    assert_eq!(started.elapsed(), ADMIT_WAIT);
    drop(fourth);
    assert_eq!(stats.full_over_budget.load(Ordering::Relaxed), 1);
    let ids: Vec<u64> = [rx.recv().await, rx.recv().await, rx.recv().await].map(|x| x.unwrap().id).into();
    assert_eq!(ids, [2, 3, 4], "every login step's record arrives");
    assert_eq!(stats.snapshot()[..3], [4, 0, 0]);
    assert_eq!(stats.json()["oidc_waited"], 2);
}

fn map(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (n, v) in pairs {
        map.append(*n, http::HeaderValue::from_static(v));
    }
    map
}

fn heads(pairs: &[(&'static str, &'static str)]) -> PackedHeaders {
    PackedHeaders::of(&map(pairs))
}

fn recorder(sink: &CaptureSink) -> Arc<Recorder> {
    let req = RequestRecord::new("POST", "https", "a", "/token", "HTTP/1.1", vec![]);
    let req_heads =
        heads(&[("content-type", "application/x-www-form-urlencoded"), ("authorization", "Basic eA==")]);
    Recorder::start(sink, Exchange::begin(7, req, 1000), req_heads, Instant::now())
}

#[tokio::test]
async fn the_record_goes_out_once_when_the_last_holder_lets_go() {
    let (sink, mut rx, stats) = CaptureSink::new(4, 1024, None);
    let rec = recorder(&sink);
    let body = TapBody::new(Full::new(Bytes::from_static(b"grant_type=x")), rec.clone(), Side::Request);
    rec.response_head(
        200,
        "HTTP/1.1",
        &map(&[("content-type", "application/json"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]),
    );
    drop(rec);
    assert!(rx.try_recv().is_none(), "the body still holds the recorder");
    let bytes = body.collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"grant_type=x", "forwarded unchanged");
    let ex = rx.try_recv().expect("emitted at end of stream");
    assert_eq!((ex.id, ex.request.body.text(), ex.request.body.wire_len), (7, Some("grant_type=x"), 12));
    assert_eq!(ex.response.as_ref().map(|r| r.status), Some(200));
    // The heads, packed on the forwarding side, arrive unpacked, in order, repeats kept.
    let pairs = |h: &[crate::capture::Header]| {
        h.iter().map(|h| format!("{}: {}", h.name, h.value)).collect::<Vec<_>>()
    };
    assert_eq!(
        pairs(&ex.request.headers),
        ["content-type: application/x-www-form-urlencoded", "authorization: Basic eA=="]
    );
    assert_eq!(
        pairs(&ex.response.as_ref().unwrap().headers),
        ["content-type: application/json", "set-cookie: a=1", "set-cookie: b=2"]
    );
    assert!(!ex.request.body.truncated && !ex.request.body.incomplete && ex.error.is_none());
    assert!(rx.try_recv().is_none(), "exactly one record");
    assert_eq!(stats.snapshot(), [1, 0, 0, 0, 0]);
}

#[tokio::test]
async fn bodies_over_the_cap_are_truncated_in_the_copy_only() {
    let (sink, mut rx, _) = CaptureSink::new(4, 4, None);
    let rec = recorder(&sink);
    rec.response_head(200, "HTTP/1.1", &http::HeaderMap::new());
    let body = TapBody::new(Full::new(Bytes::from_static(b"0123456789")), rec, Side::Response);
    assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"0123456789");
    let ex = rx.try_recv().unwrap();
    let b = &ex.response.unwrap().body;
    assert_eq!((&b.bytes[..], b.wire_len, b.truncated), (&b"0123"[..], 10, true));
}

#[tokio::test]
async fn a_body_dropped_before_its_end_is_marked_incomplete() {
    let (sink, mut rx, _) = CaptureSink::new(4, 1024, None);
    let rec = recorder(&sink);
    let chunks = futures_chunks(&[b"half", b"rest"]);
    let mut body = TapBody::new(StreamBody::new(chunks), rec, Side::Request);
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"half");
    drop(body); // the client hung up
    let ex = rx.try_recv().unwrap();
    assert!(ex.request.body.incomplete);
    assert_eq!(ex.request.body.bytes.as_ref(), b"half");
    assert_eq!(ex.error.as_deref(), Some("request body ended early (peer went away or upstream failed)"));
}

#[test]
fn login_steps_are_never_dropped_other_traffic_is_summarised_and_may_be() {
    // The analysis side wants only /token; the summary queue has room for one.
    let wanted: Wanted = Arc::new(|_: &str, _: &str, _: &str, p: &str| p == "/token");
    let (sink, mut rx, stats) = CaptureSink::new(1, 1024, Some(wanted));
    let other = |id| {
        let req = RequestRecord::new("GET", "https", "a", "/static/app.js", "HTTP/1.1", vec![]);
        Recorder::start(&sink, Exchange::begin(id, req, 1000), PackedHeaders::default(), Instant::now())
    };
    for id in 0..3 {
        let rec = other(id);
        rec.response_head(200, "HTTP/1.1", &http::HeaderMap::new());
        rec.append(Side::Response, &Bytes::from_static(b"console.log(1)"));
    }
    for _ in 0..1000 {
        let rec = recorder(&sink);
        rec.append(Side::Request, &Bytes::from_static(b"grant_type=x"));
    }
    assert_eq!(stats.snapshot(), [1000, 0, 0, 1, 2]);
    let mut full = 0;
    while let Some(ex) = rx.try_recv() {
        if ex.summary {
            // Sizes kept, bodies not.
            let b = &ex.response.as_ref().unwrap().body;
            assert_eq!((b.bytes.len(), b.wire_len, b.truncated), (0, 14, false));
        } else {
            assert_eq!(ex.request.body.text(), Some("grant_type=x"));
            full += 1;
        }
    }
    assert_eq!(full, 1000);
}

/// The analysis side's second look: a request it did not want (a provider's resume URL) is kept
/// whole from its response head on when the answer says so; the request body that already
/// passed is not kept (the record says so), the response body is.
#[test]
fn an_answer_can_make_a_summary_whole() {
    struct ByAnswer;
    impl Wants for ByAnswer {
        fn request(&self, _: &str, _: &str, _: &str, _: &str) -> bool {
            false
        }
        fn answer(&self, req: &RequestRecord, status: u16, h: &http::HeaderMap) -> bool {
            req.path.starts_with("/resume/") && status == 303 && h.contains_key("location")
        }
    }
    let (sink, mut rx, stats) = CaptureSink::new(4, 1024, Some(Arc::new(ByAnswer)));
    for (id, path) in [(1, "/resume/abc"), (2, "/static/app.js")] {
        let req = RequestRecord::new("POST", "https", "id", path, "HTTP/1.1", vec![]);
        let rec =
            Recorder::start(&sink, Exchange::begin(id, req, 1000), PackedHeaders::default(), Instant::now());
        rec.append(Side::Request, &Bytes::from_static(b"password=hunter2"));
        rec.response_head(303, "HTTP/1.1", &map(&[("location", "https://rp/cb?code=c&state=s")]));
        rec.append(Side::Response, &Bytes::from_static(b"<p>see other</p>"));
    }
    let resume = rx.try_recv().unwrap();
    assert!(!resume.summary && resume.kept_at_answer);
    assert_eq!(
        (resume.request.body.bytes.len(), resume.request.body.wire_len),
        (0, 16),
        "the password never kept"
    );
    let r = resume.response.as_ref().unwrap();
    assert_eq!(r.body.text(), Some("<p>see other</p>"));
    assert!(r.headers.iter().any(|h| h.name == "location" && h.value == "https://rp/cb?code=c&state=s"));
    let other = rx.try_recv().unwrap();
    assert!(other.summary && !other.kept_at_answer);
    assert_eq!(stats.snapshot(), [1, 0, 0, 1, 0]);
}

type Chunk = Result<Frame<Bytes>, std::convert::Infallible>;

fn futures_chunks(parts: &[&'static [u8]]) -> impl futures_util::Stream<Item = Chunk> + Unpin {
    let frames: Vec<Chunk> = parts.iter().map(|p| Ok(Frame::data(Bytes::from_static(p)))).collect();
    futures_util::stream::iter(frames)
}
