//! The echo servers, one per library, each a task per connection on the caller's runtime (the binaries use
//! a current-thread runtime for all of them).
//!
//! Each uses its library's best batching pattern that its API offers:
//! - wsproto-tokio: `recv_with`: every message already read is handled borrowed in place and echoed into
//!   the write buffer, written in one write when the socket would wait for input (large payloads are
//!   written from the received buffer, not copied). The diagnostic `wsproto-recv` uses `recv` + `queue`
//!   (owned messages) instead.
//! - tokio-tungstenite and tokio-websockets: `Stream` + `Sink` ([`echo_stream_sink`]): every message that is
//!   ready is read first, then all are `start_send`-queued, then one `poll_flush`: one write per batch.
//!   tokio-websockets' `flush_threshold` is raised to 128 KiB, tungstenite's write buffer size.
//! - fastwebsockets: `read_frame` + `write_frame` through a `FragmentCollector` (its API writes every frame
//!   at once; it has no queue to batch into).
//! - tcp: the ceiling: after a bare 101 handshake, the same bytes echoed through a 4 MiB ring the socket reads
//!   into and writes from, one `readv` and one `writev` per wake-up ([`tcp_conn`]).
//! - raw: a minimal WebSocket echo with no checks beyond framing (unmask, clear the mask bit, echo), used
//!   to drive the client benchmark, and a floor for what parsing + unmasking + copying costs.
//! - wsproto-core: the wsproto core driven directly (no wsproto-tokio): 64 KiB reads into `feed`,
//!   `poll_batch` answering every event with `send_binary` / `send_text` into one buffer, one write per
//!   read. A diagnostic: the difference to `wsproto` is the adapter's per-message cost.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use futures_util::{Sink, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsproto::internal::frame::{FrameHeader, OpCode};
use wsproto::internal::mask::apply_mask;

use crate::wire;

/// The servers, by command-line name.
pub const NAMES: [&str; 11] = [
    "wsproto",
    "tungstenite",
    "fastwebsockets",
    "tokio-websockets",
    "tcp",
    "raw",
    "wsproto-core",
    "wsproto-recv",
    "wsproto-send",
    "wsproto-sink",
    "wsproto-split",
];

/// Serves `name` on `listener` until the runtime stops.
pub async fn serve(name: &str, listener: TcpListener) -> io::Result<()> {
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        match name {
            "wsproto" => tokio::spawn(wsproto_conn(tcp)),
            "wsproto-recv" => tokio::spawn(wsproto_recv_conn(tcp)),
            "tungstenite" => tokio::spawn(tungstenite_conn(tcp)),
            "fastwebsockets" => tokio::spawn(fastwebsockets_conn(tcp)),
            "tokio-websockets" => tokio::spawn(tokio_websockets_conn(tcp)),
            "tcp" => tokio::spawn(tcp_conn(tcp)),
            "raw" => tokio::spawn(raw_conn(tcp)),
            "wsproto-core" => tokio::spawn(wsproto_core_conn(tcp)),
            "wsproto-send" => tokio::spawn(wsproto_send_conn(tcp)),
            "wsproto-sink" => tokio::spawn(wsproto_sink_conn(tcp)),
            "wsproto-split" => tokio::spawn(wsproto_split_conn(tcp)),
            other => return Err(io::Error::other(format!("unknown server {other:?}"))),
        };
    }
}

/// Binds `addr`, prints the bound address on stdout (one line) and serves `name` on a current-thread runtime.
pub fn main_for(name: &str) {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    crate::util::raise_nofile();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let listener =
            TcpListener::bind(&addr).await.unwrap_or_else(|e| crate::util::die(&format!("bind {addr}: {e}")));
        println!("{}", listener.local_addr().expect("bound"));
        if let Err(e) = serve(name, listener).await {
            crate::util::die(&format!("accept: {e}"));
        }
    });
}

async fn wsproto_accept(tcp: TcpStream) -> Option<wsproto_tokio::WebSocket<TcpStream>> {
    use wsproto_tokio::{accept_with, Accept, Accepted, Config};
    match accept_with(tcp, Config::default(), |_| Ok(Accept::default())).await {
        Ok(Accepted::WebSocket(ws, _)) => Some(ws),
        _ => None,
    }
}

async fn wsproto_conn(tcp: TcpStream) {
    use wsproto_tokio::EventRef;
    let Some(mut ws) = wsproto_accept(tcp).await else { return };
    let mut failed = false;
    while let Some(Ok(_)) = ws
        .recv_with(|event, tx| {
            failed |= match event {
                EventRef::Text(t) => tx.send_text(t),
                EventRef::Binary(b) => tx.send_binary(b),
                _ => Ok(()),
            }
            .is_err();
        })
        .await
    {
        if failed {
            break;
        }
    }
}

async fn wsproto_recv_conn(tcp: TcpStream) {
    let Some(mut ws) = wsproto_accept(tcp).await else { return };
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_data() && ws.queue(m).await.is_err() {
            break;
        }
    }
}

/// The plain API as a user writes it: `recv` + `send`.
async fn wsproto_send_conn(tcp: TcpStream) {
    let Some(mut ws) = wsproto_accept(tcp).await else { return };
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_data() && ws.send(m).await.is_err() {
            break;
        }
    }
}

/// `Stream` + `Sink`, driven as the peers' rows are (as `StreamExt::forward` drives a sink). (`forward` through
/// `StreamExt::split` writes the batch's last message apart: `SplitSink` holds it until the flush.)
async fn wsproto_sink_conn(tcp: TcpStream) {
    let Some(ws) = wsproto_accept(tcp).await else { return };
    echo_stream_sink(ws, wsproto_tokio::Message::is_data).await;
}

/// Split halves: this task receives and feeds the `WsSender`; the driver task owns the socket.
async fn wsproto_split_conn(tcp: TcpStream) {
    let Some(ws) = wsproto_accept(tcp).await else { return };
    let (tx, mut rx) = ws.split();
    while let Some(Ok(m)) = rx.recv().await {
        if m.is_data() && tx.send(m).await.is_err() {
            break;
        }
    }
}

async fn wsproto_core_conn(mut tcp: TcpStream) {
    use std::ops::ControlFlow;
    use wsproto::handshake::{Accept, Incoming, ServerHandshake};
    use wsproto::EventRef;
    let config = wsproto::Config::default().with_deflate(Some(wsproto::DeflateConfig::default()));
    let Ok(mut hs) = ServerHandshake::new(config) else { return };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    let req = loop {
        match hs.poll_request() {
            Ok(Some(Incoming::Upgrade(req))) => break req,
            Ok(None) => {}
            _ => return,
        }
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => hs.feed(&buf[..n]),
        }
    };
    let Ok(mut conn) = hs.accept(&req, Accept::default(), &mut out) else { return };
    loop {
        let mut failed = false;
        let _ = conn.poll_batch(&mut out, |event, tx| {
            failed |= match event {
                EventRef::Binary(b) => tx.send_binary(b),
                EventRef::Text(t) => tx.send_text(t),
                _ => Ok(()),
            }
            .is_err();
            if failed {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if failed {
            return;
        }
        conn.poll_transmit(&mut out);
        if !out.is_empty() {
            if tcp.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if conn.wants_transport_closed() {
            return;
        }
        let room = conn.recv_capacity().min(buf.len());
        match tcp.read(&mut buf[..room]).await {
            Ok(0) | Err(_) => conn.feed_eof(),
            Ok(n) => {
                if conn.feed(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Echoes the data messages of a `Stream + Sink` with the most batching the two traits allow: read every
/// message that is ready (until `poll_next` is `Pending`) into a local batch, then `start_send` them all, then
/// `poll_flush` once — one write per batch of input, whatever the library does between messages.
///
/// (`StreamExt::forward`'s pattern, `start_send` after each message read and `poll_flush` only when the stream
/// is `Pending`, is not enough for every library: tokio-websockets' `poll_next` flushes its queue before it
/// reads the next frame, so that pattern makes it write once per message.)
pub async fn echo_stream_sink<W, M, E>(mut ws: W, is_data: impl Fn(&M) -> bool)
where
    W: Stream<Item = Result<M, E>> + Sink<M> + Unpin,
{
    let mut batch: std::collections::VecDeque<M> = std::collections::VecDeque::new();
    poll_fn(|cx| {
        // Everything that is ready, without sending (the queue is empty while reading: nothing to flush).
        let mut ended = false;
        loop {
            match Pin::new(&mut ws).poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => {
                    if is_data(&m) {
                        batch.push_back(m);
                    }
                }
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        while let Some(m) = batch.pop_front() {
            match Pin::new(&mut ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if Pin::new(&mut ws).start_send(m).is_err() {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {
                    // Its write buffer is full and the socket would block: wait to send the rest.
                    batch.push_front(m);
                    return Poll::Pending;
                }
            }
        }
        match Pin::new(&mut ws).poll_flush(cx) {
            Poll::Ready(Err(_)) => Poll::Ready(()),
            _ if ended => Poll::Ready(()),
            // Read to `Pending` and flushed (or waiting to): woken by new input or by the socket's room.
            _ => Poll::Pending,
        }
    })
    .await
}

async fn tungstenite_conn(tcp: TcpStream) {
    // Its default write buffer: 128 KiB before `start_send` writes on its own; `poll_flush` writes the rest.
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    echo_stream_sink(ws, |m: &tokio_tungstenite::tungstenite::Message| m.is_text() || m.is_binary()).await;
}

async fn tokio_websockets_conn(tcp: TcpStream) {
    // Its `poll_ready` flushes once 8 KiB are queued (the default `flush_threshold`); 128 KiB, as tungstenite's
    // write buffer, lets a batch go out in one `writev` (its queue writes frames vectored, without a copy).
    let config = tokio_websockets::Config::default().flush_threshold(128 * 1024);
    let Ok((_, ws)) = tokio_websockets::ServerBuilder::new().config(config).accept(tcp).await else { return };
    echo_stream_sink(ws, |m: &tokio_websockets::Message| m.is_text() || m.is_binary()).await;
}

/// Reads a request head and answers 101 (no checks: for peers without their own handshake).
pub async fn raw_handshake(tcp: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 2048];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = wire::head_end(&head) {
            if end != head.len() {
                return Err(io::Error::other("frames before the handshake response"));
            }
            let resp = wire::handshake_response(&head).ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
            return tcp.write_all(&resp).await;
        }
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
    }
}

async fn fastwebsockets_conn(mut tcp: TcpStream) {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    if raw_handshake(&mut tcp).await.is_err() {
        return;
    }
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(tcp, Role::Server));
    loop {
        let Ok(frame) = ws.read_frame().await else { return };
        let echo = match frame.opcode {
            OpCode::Close => return,
            OpCode::Text | OpCode::Binary => true,
            _ => false,
        };
        if echo && ws.write_frame(frame).await.is_err() {
            return;
        }
    }
}

/// The TCP echo's queue: bytes read and not yet written back, in one ring buffer the socket reads straight
/// into and writes straight from (no copy in user space).
const TCP_RING: usize = 4 << 20;

/// The ceiling: an echo that does the least any user-space echo can do per byte, which is one `recv` copy in
/// and one `send` copy out, with the fewest system calls:
/// - every readiness event is answered with at most one `readv` (everything the socket holds, up to 4 MiB,
///   into the free space of the ring: up to two slices when it wraps) and one `writev` (everything queued:
///   all messages read since the last write, coalesced, from the same memory they were read into);
/// - reading and writing are independent: a full send buffer does not stop reads (up to 4 MiB queued), and
///   an empty socket does not stop writes;
/// - a read that returned less than the room offered means the socket is drained: no extra `read` to see
///   `EAGAIN` before writing;
/// - the ring is allocated at the first byte (idle connections hold none), never zeroed (only the pages bytes
///   are read into become resident), and rewinds to its start whenever it empties, so small messages stay in
///   the first (cache-hot) pages.
///
/// Like any WebSocket echo (which cannot answer a message it does not have yet), it writes back whole frames:
/// it reads the length in each frame header and holds a frame's first bytes until its last ones are in. Without
/// this, a large message arriving in pieces costs one write per piece, and wsproto, which writes whole
/// messages, did fewer system calls than the "ceiling" at 64 KiB. It falls back to passing bytes through as
/// they come when a frame is longer than the ring and at the end of the stream.
///
/// A WebSocket server has to have every payload byte in its memory (to unmask and validate it), so zero-copy
/// forwarding (`splice`, `MSG_ZEROCOPY`) is not an echo any WebSocket server could match and is left out.
/// Walks the frame headers among the first `len` queued bytes (`byte(i)` is the i-th), from `*next` (the start of
/// a frame) on, and returns the end of the last whole frame; `*next` is left at the first frame not yet whole
/// (its start, if its header is incomplete; its end, beyond `len`, if its payload is). Only lengths are read:
/// no unmasking, no checks.
fn frames_end(byte: impl Fn(usize) -> u8, next: &mut usize, len: usize) -> usize {
    let mut whole = 0;
    while *next <= len {
        whole = *next;
        let at = *next;
        if len - at < 2 {
            break;
        }
        let b1 = byte(at + 1);
        let (ext, short) = match b1 & 0x7f {
            126 => (2, None),
            127 => (8, None),
            n => (0, Some(n as u64)),
        };
        let header = 2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 };
        if len - at < header {
            break;
        }
        let payload = short.unwrap_or_else(|| (0..ext).fold(0u64, |v, i| v << 8 | byte(at + 2 + i) as u64));
        *next = at.saturating_add(header).saturating_add(usize::try_from(payload).unwrap_or(usize::MAX));
    }
    whole
}

async fn tcp_conn(mut tcp: TcpStream) {
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    // The generator speaks WebSocket: answer its handshake, then echo bytes (its masked frames come back
    // masked; the generator accepts both).
    if raw_handshake(&mut tcp).await.is_err() {
        return;
    }
    // The ring is the spare capacity of this Vec (its length stays 0): never zeroed, so allocating it touches
    // no page, and only the pages bytes are read into become resident. Queued bytes are at offsets
    // head..head + len, wrapping at TCP_RING; they, and only they, have been written (by `readv`).
    let mut ring: Vec<u8> = Vec::new();
    let (mut head, mut len) = (0usize, 0usize);
    // Of the queued bytes, the first `whole` are whole frames (written back as soon as possible); `next` is the
    // offset of the next frame's start, beyond `len` while that frame's payload is still arriving.
    let (mut whole, mut next) = (0usize, 0usize);
    let mut eof = false;
    let fd = tcp.as_raw_fd();
    loop {
        let interest = match (!eof && len < TCP_RING, whole > 0) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::READABLE,
            (false, true) => Interest::WRITABLE,
            (false, false) => return,
        };
        let Ok(ready) = tcp.ready(interest).await else { return };
        if ready.is_readable() && !eof && len < TCP_RING {
            ring.reserve_exact(TCP_RING);
            let base = ring.as_mut_ptr();
            let tail = (head + len) % TCP_RING;
            let room = TCP_RING - len;
            // The free space: from the tail to the end of the ring, then from the start to the head; or, when
            // the queued bytes wrap, from the tail to the head.
            let (at, first, second) = if tail >= head { (tail, TCP_RING - tail, head) } else { (tail, head - tail, 0) };
            debug_assert_eq!(first + second, room);
            // SAFETY: both ranges lie within the Vec's capacity of TCP_RING bytes and hold no queued byte.
            let iov = unsafe {
                [
                    libc::iovec { iov_base: base.add(at).cast(), iov_len: first },
                    libc::iovec { iov_base: base.cast(), iov_len: second },
                ]
            };
            let mut got = None;
            // `try_io` clears tokio's cached readiness when the closure says `WouldBlock`: a short read (less than
            // the room offered) drained the socket, so it says so and the next `ready()` waits for new bytes
            // instead of costing a `read` that returns `EAGAIN`.
            let r = tcp.try_io(Interest::READABLE, || {
                // SAFETY: the iovecs point into `ring`'s allocation, which outlives the call.
                let n = unsafe { libc::readv(fd, iov.as_ptr(), 2) };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                got = Some(n as usize);
                if n > 0 && (n as usize) < room {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (got, r) {
                (Some(0), _) => eof = true,
                (Some(n), _) => len += n,
                (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                (None, _) => return,
            }
            // SAFETY: offsets below `len` are queued bytes: in the allocation and written by `readv`.
            let byte = |i: usize| unsafe { *ring.as_ptr().add((head + i) % TCP_RING) };
            whole = whole.max(frames_end(byte, &mut next, len));
            if eof || (len == TCP_RING && whole == 0) {
                // The end of the stream, or a frame longer than the ring: pass the bytes through as they are.
                whole = len;
            }
        }
        // Write whatever is queued now, without waiting for a writable event first (the send buffer usually
        // has room): one `writev` of everything read so far, from where it was read.
        if whole > 0 {
            let base = ring.as_ptr();
            let first = whole.min(TCP_RING - head);
            // SAFETY: offsets head..head + first and 0..whole - first are queued bytes: inside the allocation,
            // and written by `readv` (so initialised); nothing writes them while these slices live.
            let (a, b) = unsafe {
                (std::slice::from_raw_parts(base.add(head), first), std::slice::from_raw_parts(base, whole - first))
            };
            match tcp.try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
                Ok(n) => {
                    (len, whole, next) = (len - n, whole - n, next.saturating_sub(n));
                    head = if len == 0 { 0 } else { (head + n) % TCP_RING };
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// Minimal WebSocket echo: every complete frame in the buffer is answered (unmasked, same opcode and FIN)
/// in one write. A ping is answered with a pong; a close is echoed and ends the connection.
async fn raw_conn(mut tcp: TcpStream) {
    if raw_handshake(&mut tcp).await.is_err() {
        return;
    }
    let mut inb = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let n = match tcp.read(&mut inb[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut at = 0;
        let mut closing = false;
        let mut need = 0;
        loop {
            let (h, hl) = match FrameHeader::parse(&inb[at..filled]) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(_) => return,
            };
            let len = h.payload_len as usize;
            if filled - at < hl + len {
                need = hl + len;
                break;
            }
            let opcode = if h.opcode == OpCode::Ping { OpCode::Pong } else { h.opcode };
            FrameHeader { mask: None, opcode, ..h }.write_to(&mut out);
            let start = out.len();
            out.extend_from_slice(&inb[at + hl..at + hl + len]);
            if let Some(key) = h.mask {
                apply_mask(&mut out[start..], key, 0);
            }
            at += hl + len;
            if h.opcode == OpCode::Close {
                closing = true;
                break;
            }
        }
        inb.copy_within(at..filled, 0);
        filled -= at;
        if need > inb.len() {
            inb.resize(need, 0);
        } else if filled == inb.len() {
            inb.resize(inb.len() * 2, 0);
        }
        if !out.is_empty() {
            if tcp.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if closing {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Sends `data` through the TCP echo — written in uneven pieces, read back only once a whole ring-full has
    /// been written (so the echo queues megabytes and writes them back in partial writes while reading behind
    /// them, wrapping around its ring), then the client's EOF — and returns what came back before the server
    /// closed.
    fn echo_through_tcp(data: &[u8]) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { serve("tcp", listener).await });
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(&wire::handshake_request("localhost")).await.unwrap();
            let mut head = Vec::new();
            while wire::head_end(&head).is_none() {
                let mut b = [0u8; 512];
                let n = tcp.read(&mut b).await.unwrap();
                assert!(n > 0, "closed during the handshake");
                head.extend_from_slice(&b[..n]);
            }
            wire::check_handshake_response(&head).unwrap();
            assert_eq!(wire::head_end(&head), Some(head.len()), "bytes after the 101 before any were sent");
            let (mut rd, mut wr) = tcp.into_split();
            let (one_ring, start_reading) = tokio::sync::oneshot::channel();
            let to_send = data.to_vec();
            let writer = tokio::spawn(async move {
                let (mut at, mut piece, mut signal) = (0, 1, Some(one_ring));
                while at < to_send.len() {
                    let end = (at + piece).min(to_send.len());
                    wr.write_all(&to_send[at..end]).await.unwrap();
                    at = end;
                    piece = piece * 7 % 300_007 + 1;
                    if at >= TCP_RING.min(to_send.len()) {
                        if let Some(s) = signal.take() {
                            let _ = s.send(());
                        }
                    }
                }
                wr.shutdown().await.unwrap();
            });
            let echoed = tokio::time::timeout(Duration::from_secs(60), async {
                start_reading.await.unwrap();
                let mut echoed = Vec::with_capacity(data.len());
                let mut buf = vec![0u8; 100_003];
                loop {
                    match rd.read(&mut buf).await.unwrap() {
                        0 => return echoed,
                        n => echoed.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await
            .expect("the echo took over 60 s");
            writer.await.unwrap();
            echoed
        })
    }

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// Bytes that are no WebSocket at all: frame lengths read from them are garbage (some longer than the ring),
    /// so this checks the pass-through fallbacks (a full ring, the end of the stream).
    #[test]
    fn tcp_echo_returns_every_byte_of_a_stream_that_is_not_frames() {
        let mut rng = Lcg(0x243f_6a88_85a3_08d3);
        let data: Vec<u8> = (0..3 * TCP_RING + 12_345).map(|_| rng.next() as u8).collect();
        let echoed = echo_through_tcp(&data);
        assert_eq!(echoed.len(), data.len(), "bytes echoed before the server closed");
        assert!(echoed == data, "the echo differs from what was sent");
    }

    /// Masked client frames of every length encoding (7-bit, 16-bit, 64-bit; 0 bytes to 1 MiB), ending in a
    /// partial header: every byte comes back, frames whole, across the ring's wrap-arounds.
    #[test]
    fn tcp_echo_returns_whole_frames_through_a_full_and_wrapping_ring() {
        let mut rng = Lcg(7);
        let mut data = Vec::new();
        while data.len() < 3 * TCP_RING {
            let len = match rng.next() % 8 {
                0 => 0,
                1..=3 => rng.next() as usize % 126,
                4 | 5 => 126 + rng.next() as usize % 65_410,
                6 => 65_536 + rng.next() as usize % 200_000,
                _ => (1 << 20) - rng.next() as usize % 3,
            };
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            data.extend_from_slice(&wire::client_message(&payload, wire::Kind::Binary, 1));
        }
        data.extend_from_slice(&[0x82, 0xfe, 0x01]); // the start of a header, then EOF
        let echoed = echo_through_tcp(&data);
        assert_eq!(echoed.len(), data.len(), "bytes echoed before the server closed");
        assert!(echoed == data, "the echo differs from what was sent");
    }

    #[test]
    fn frames_end_finds_whole_frames_and_waits_for_the_rest() {
        // Masked frames: 5 bytes (7-bit), 300 bytes (16-bit), 70,000 bytes (64-bit).
        let mut wire = Vec::new();
        for len in [5usize, 300, 70_000] {
            wire.extend_from_slice(&wire::client_message(&vec![b'x'; len], wire::Kind::Binary, 1));
        }
        let ends = [2 + 4 + 5, 2 + 4 + 5 + 4 + 4 + 300, wire.len()];
        for cut in 0..=wire.len() {
            if cut > 400 && cut < wire.len() - 20 && cut % 997 != 0 {
                continue; // every cut near the headers and the end, a sample of the long payload
            }
            let mut next = 0;
            let whole = frames_end(|i| wire[i], &mut next, cut);
            let want = ends.iter().copied().filter(|&e| e <= cut).max().unwrap_or(0);
            assert_eq!(whole, want, "whole frames in the first {cut} bytes");
            assert!(next >= want, "next {next} before the end of the whole frames {want}");
            // Resuming from `next` with all the bytes gives the same answer as starting over.
            let mut resumed = next;
            assert_eq!(frames_end(|i| wire[i], &mut resumed, wire.len()).max(want), wire.len());
        }
    }
}
