//! Lingering close, as nginx does it. When the gateway answers before it has read the whole
//! request (an upstream that refused the connection gets its 502 at once, while the client is
//! still sending a body), hyper closes the connection after the answer. Closing a socket with
//! unread bytes in it makes the kernel send a reset, which can reach the client before it read
//! the answer: the client then sees "broken pipe" or "connection reset", not the 502 and its
//! hint. [`Linger`] wraps the client's socket: on shutdown it sends its FIN, then reads and
//! discards what the client still sends until the client closes, goes quiet for
//! [`LINGER_IDLE`], or [`LINGER_MAX`] / [`LINGER_BYTES`] are reached.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A quiet client for this long after the FIN is taken to have stopped sending.
pub const LINGER_IDLE: Duration = Duration::from_millis(500);
/// Lingering never lasts longer than this...
pub const LINGER_MAX: Duration = Duration::from_secs(5);
/// ...nor discards more than this.
pub const LINGER_BYTES: usize = 8 << 20;

/// An I/O stream whose shutdown drains what the peer still sends (see the module docs).
pub struct Linger<IO> {
    inner: IO,
    state: State,
}

enum State {
    Open,
    Draining { quiet: Pin<Box<Sleep>>, until: Instant, left: usize },
    Closed,
}

impl<IO> Linger<IO> {
    pub fn new(inner: IO) -> Linger<IO> {
        Linger { inner, state: State::Open }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Linger<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    let now = Instant::now();
                    this.state = State::Draining {
                        quiet: Box::pin(tokio::time::sleep_until(now + LINGER_IDLE)),
                        until: now + LINGER_MAX,
                        left: LINGER_BYTES,
                    };
                }
                State::Draining { quiet, until, left } => {
                    let mut scratch = [0u8; 8192];
                    let mut rb = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                            *left = left.saturating_sub(rb.filled().len());
                            if *left == 0 {
                                this.state = State::Closed;
                            } else {
                                let next = (Instant::now() + LINGER_IDLE).min(*until);
                                quiet.as_mut().reset(next);
                            }
                        }
                        // The peer closed too (or the socket failed): nothing left to protect.
                        Poll::Ready(_) => this.state = State::Closed,
                        Poll::Pending => {
                            ready!(quiet.as_mut().poll(cx));
                            this.state = State::Closed;
                        }
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The answer goes out, the peer's late bytes are read and dropped, and shutdown ends when
    /// the peer closes: the peer reads the whole answer and then the end of the stream.
    #[tokio::test]
    async fn shutdown_drains_what_the_peer_still_sends_until_it_closes() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let mut w = Linger::new(a);
        w.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await.unwrap();
        let peer = tokio::spawn(async move {
            b.write_all(&vec![9u8; 200 * 1024]).await.unwrap(); // more than the pipe holds
            let mut answer = Vec::new();
            b.read_to_end(&mut answer).await.unwrap();
            drop(b);
            answer
        });
        tokio::time::timeout(LINGER_MAX, w.shutdown()).await.expect("ends when the peer closes").unwrap();
        assert_eq!(peer.await.unwrap(), b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
    }

    /// A peer that neither sends nor closes holds the shutdown only for the quiet time.
    #[tokio::test(start_paused = true)]
    async fn a_quiet_peer_holds_the_shutdown_only_for_the_quiet_time() {
        let (a, _b) = tokio::io::duplex(1024);
        let mut w = Linger::new(a);
        let started = Instant::now();
        w.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), LINGER_IDLE);
    }

    /// A peer that never stops sending is cut off after the longest linger.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_keeps_sending_is_cut_off_after_the_longest_linger() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut w = Linger::new(a);
        tokio::spawn(async move {
            while b.write_all(&[1u8; 100]).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = Instant::now();
        w.shutdown().await.unwrap();
        assert!(started.elapsed() >= LINGER_MAX && started.elapsed() < LINGER_MAX + LINGER_IDLE);
    }
}
