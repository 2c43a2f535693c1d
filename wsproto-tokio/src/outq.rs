//! The bytes waiting to be written: an encoded-frames buffer, with large payloads kept as shared `Bytes`
//! between its parts and written with vectored I/O instead of being copied in.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;

/// The most slices handed to one vectored write.
const MAX_SLICES: usize = 64;

/// Frames waiting to be written, in order.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    /// Encoded bytes (headers, small frames, control frames).
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: usize,
    /// Payloads to write verbatim after `buf[..at]`, in order of `at`.
    payloads: VecDeque<(usize, Bytes)>,
    /// Bytes of the front payload already written.
    payload_pos: usize,
    /// Bytes waiting in `payloads`.
    payload_len: usize,
    /// Bytes written so far, in all.
    written: u64,
}

impl OutQueue {
    /// Where to encode the next frames (appended after everything queued).
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Queues `payload` to be written right after the bytes in [`buf`](Self::buf) so far.
    pub(crate) fn push_payload(&mut self, payload: Bytes) {
        self.payload_len += payload.len();
        self.payloads.push_back((self.buf.len(), payload));
    }

    /// Queues `payload` to be written right after `buf[..at]`: `at` is a length [`buf`](Self::buf) had (not less
    /// than that of any payload queued before), recorded while encoding into it.
    pub(crate) fn push_payload_at(&mut self, at: usize, payload: Bytes) {
        debug_assert!(at <= self.buf.len() && self.payloads.back().is_none_or(|(end, _)| *end <= at));
        self.payload_len += payload.len();
        self.payloads.push_back((at, payload));
    }

    /// Bytes of memory the encoded-frames buffer holds.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Frees the encoded-frames buffer if nothing waits in it.
    pub(crate) fn release(&mut self) {
        if self.pending() == 0 {
            self.buf = Vec::new();
        }
    }

    /// Bytes written so far, in all.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.pos + self.payload_len - self.payload_pos
    }

    /// One (vectored) write. `Ready(Ok(()))` means progress, or nothing was pending.
    pub(crate) fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending() == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = if self.payloads.is_empty() {
            ready!(Pin::new(&mut *io).poll_write(cx, &self.buf[self.pos..]))?
        } else {
            // On the stack: a write allocates nothing.
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut used = 0;
            let mut at = self.pos;
            let mut all = true;
            for (i, (end, payload)) in self.payloads.iter().enumerate() {
                if used + 2 > MAX_SLICES {
                    all = false;
                    break;
                }
                if *end > at {
                    slices[used] = IoSlice::new(&self.buf[at..*end]);
                    used += 1;
                }
                at = at.max(*end);
                let skip = if i == 0 { self.payload_pos } else { 0 };
                slices[used] = IoSlice::new(&payload[skip..]);
                used += 1;
            }
            if all && at < self.buf.len() {
                slices[used] = IoSlice::new(&self.buf[at..]);
                used += 1;
            }
            ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..used]))?
        };
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        self.advance(n);
        Poll::Ready(Ok(()))
    }

    /// Marks `n` bytes as written, in queue order.
    fn advance(&mut self, mut n: usize) {
        self.written += n as u64;
        while n > 0 {
            let buf_end = self.payloads.front().map_or(self.buf.len(), |(at, _)| *at);
            if self.pos < buf_end {
                let k = n.min(buf_end - self.pos);
                self.pos += k;
                n -= k;
                continue;
            }
            let (_, payload) = self.payloads.front().expect("bytes were written past the buffer");
            let k = n.min(payload.len() - self.payload_pos);
            self.payload_pos += k;
            n -= k;
            if self.payload_pos == payload.len() {
                self.payload_len -= payload.len();
                self.payloads.pop_front();
                self.payload_pos = 0;
            }
        }
        // Zero-length payloads at the front are done too.
        while let Some((at, p)) = self.payloads.front() {
            if *at == self.pos && p.is_empty() {
                self.payloads.pop_front();
            } else {
                break;
            }
        }
        if self.pending() == 0 {
            self.pos = 0;
            self.payloads.clear();
            self.payload_len = 0;
            // Kept, however large: freeing and faulting in a fresh large buffer per batch costs more than the
            // copy it holds (a client's masked 64 KiB messages ran at half speed that way). The driver frees
            // it with `release` once the connection has gone quiet.
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `max` bytes per call and records them.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if !self.vectored {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
                return self.poll_write(cx, first);
            }
            let mut left = self.max;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(left);
                self.out.extend_from_slice(&b[..k]);
                left -= k;
                n += k;
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn interleaves_buffer_and_payloads_in_order_at_any_write_size() {
        for vectored in [true, false] {
            for max in [1, 2, 3, 7, 64, 1 << 20] {
                let mut q = OutQueue::default();
                let mut expected = Vec::new();
                for i in 0..5u8 {
                    let head = vec![i; i as usize + 1];
                    q.buf().extend_from_slice(&head);
                    expected.extend_from_slice(&head);
                    let payload = Bytes::from(vec![100 + i; (i as usize) * 10]);
                    expected.extend_from_slice(&payload);
                    q.push_payload(payload);
                }
                q.buf().extend_from_slice(b"tail");
                expected.extend_from_slice(b"tail");
                assert_eq!(q.pending(), expected.len());
                let mut w = Trickle { out: Vec::new(), max, vectored };
                let waker = futures_task_noop();
                let mut cx = Context::from_waker(&waker);
                while q.pending() > 0 {
                    assert!(matches!(q.poll_write(&mut w, &mut cx), Poll::Ready(Ok(()))));
                }
                assert_eq!(w.out, expected, "max {max} vectored {vectored}");
                assert!(q.payloads.is_empty() && q.buf.is_empty());
            }
        }
    }

    #[test]
    fn a_large_buffer_is_reused_until_released() {
        let waker = futures_task_noop();
        let mut cx = Context::from_waker(&waker);
        let mut w = Trickle { out: Vec::new(), max: usize::MAX, vectored: true };
        let mut q = OutQueue::default();
        let mut flush = |q: &mut OutQueue, len: usize| {
            q.buf().resize(len, 7);
            while q.pending() > 0 {
                assert!(matches!(q.poll_write(&mut w, &mut cx), Poll::Ready(Ok(()))));
            }
        };
        flush(&mut q, 200_000);
        let cap = q.capacity();
        assert!(cap >= 200_000, "kept after a large batch");
        flush(&mut q, 150_000);
        flush(&mut q, 100);
        assert_eq!(q.capacity(), cap, "reused, not reallocated");
        q.buf().push(1);
        q.release();
        assert_eq!(q.capacity(), cap, "not freed while bytes wait");
        flush(&mut q, 1);
        q.release();
        assert_eq!(q.capacity(), 0);
    }

    fn futures_task_noop() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }
}
