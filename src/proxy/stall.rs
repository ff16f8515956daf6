//! A client that stops reading: the connection's socket stays unwritable, hyper stops polling
//! the response body, and nothing else would ever time out (the body's own idle timer only runs
//! while the body is read). [`WriteStall`] wraps the client's socket and fails a write that has
//! made no progress for the `--body-timeout`, so such a client frees its connection slot and
//! its buffers instead of pinning them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The error a stalled write ends the connection with (its text reaches the log line).
pub fn stalled_error(after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the client stopped reading: no progress writing to it for {} s (--body-timeout)",
            after.as_secs()
        ),
    )
}

/// An I/O stream whose writes fail once they have been blocked for `after` in a row.
pub struct WriteStall<IO> {
    inner: IO,
    after: Duration,
    /// Armed when a write or flush first returns `Pending`; disarmed by any progress.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<IO> WriteStall<IO> {
    pub fn new(inner: IO, after: Duration) -> WriteStall<IO> {
        WriteStall { inner, after, timer: None }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }

    /// Passes a write's outcome on; a `Pending` one arms the timer (or fails when it ran out).
    fn watch<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let after = self.after;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + after)));
                ready!(timer.as_mut().poll(cx));
                self.timer = None;
                Poll::Ready(Err(stalled_error(after)))
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteStall<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteStall<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_stops_fails_the_write_after_the_timeout() {
        // A 4 KiB pipe: the writer fills it, then nobody reads.
        let (a, mut b) = tokio::io::duplex(4096);
        let mut w = WriteStall::new(a, Duration::from_secs(5));
        let started = Instant::now();
        let chunk = [7u8; 1024];
        let mut written = 0usize;
        let err = loop {
            match w.write(&chunk).await {
                Ok(n) => written += n,
                Err(e) => break e,
            }
        };
        assert_eq!(written, 4096, "everything the pipe holds was written first");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("stopped reading"), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // The bytes written before the stall are still there for the reader.
        let mut got = vec![0u8; 4096];
        b.read_exact(&mut got).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_never_cut() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut w = WriteStall::new(a, Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            // Reads 512 bytes every 4 s: each wait is shorter than the timeout.
            while total < 8192 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                total += b.read(&mut buf).await.unwrap();
            }
            total
        });
        for _ in 0..8 {
            w.write_all(&[1u8; 1024]).await.expect("progress resets the timer");
        }
        w.flush().await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 8192);
    }
}
