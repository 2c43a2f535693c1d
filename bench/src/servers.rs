//! The echo servers, one per library, each a task per connection on the caller's runtime (the binaries use
//! a current-thread runtime for all of them).
//!
//! Each uses its library's best batching pattern that its API offers:
//! - wsproto-tokio: `recv_with`: every message already read is handled borrowed in place and echoed into
//!   the write buffer, written in one write when the socket would wait for input (large payloads are
//!   written from the received buffer, not copied). The diagnostic `wsproto-recv` uses `recv` + `feed`
//!   (owned messages) instead.
//! - tokio-tungstenite and tokio-websockets: `Stream` + `Sink` driven as `StreamExt::forward` does
//!   (`start_send` each message, `poll_flush` when the stream has nothing ready): one write per batch.
//! - fastwebsockets: `read_frame` + `write_frame` through a `FragmentCollector` (its API writes every frame
//!   at once; it has no queue to batch into).
//! - tcp: a plain tokio TCP echo of the same bytes after a bare 101 handshake, 64 KiB reads: the ceiling.
//! - raw: a minimal WebSocket echo with no checks beyond framing (unmask, clear the mask bit, echo), used
//!   to drive the client benchmark, and a floor for what parsing + unmasking + copying costs.
//! - wsproto-core: the wsproto core driven directly (no wsproto-tokio): 64 KiB reads into `feed`,
//!   `poll_events` answering every event with `send_binary` / `send_text` into one buffer, one write per
//!   read. A diagnostic: the difference to `wsproto` is the adapter's per-message cost.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use futures_util::{Sink, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsproto::frame::{FrameHeader, OpCode};
use wsproto::mask::apply_mask;

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
        if m.is_data() && ws.feed(m).await.is_err() {
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
    let Ok(mut hs) = ServerHandshake::new(wsproto::Config::default()) else { return };
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
        let _ = conn.poll_events(&mut out, |event, tx| {
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

/// Echoes the data messages of a `Stream + Sink` the way `StreamExt::forward` drives a sink: queue each
/// message, flush when nothing more is ready.
pub async fn echo_stream_sink<W, M, E>(mut ws: W, is_data: impl Fn(&M) -> bool)
where
    W: Stream<Item = Result<M, E>> + Sink<M> + Unpin,
{
    let mut pending: Option<M> = None;
    poll_fn(|cx| loop {
        if let Some(m) = pending.take() {
            match Pin::new(&mut ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if Pin::new(&mut ws).start_send(m).is_err() {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {
                    pending = Some(m);
                    return Poll::Pending;
                }
            }
        }
        match Pin::new(&mut ws).poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => {
                if is_data(&m) {
                    pending = Some(m);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return Poll::Ready(()),
            Poll::Pending => {
                return match Pin::new(&mut ws).poll_flush(cx) {
                    Poll::Ready(Err(_)) => Poll::Ready(()),
                    _ => Poll::Pending,
                };
            }
        }
    })
    .await
}

async fn tungstenite_conn(tcp: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    echo_stream_sink(ws, |m: &tokio_tungstenite::tungstenite::Message| m.is_text() || m.is_binary()).await;
}

async fn tokio_websockets_conn(tcp: TcpStream) {
    let Ok((_, ws)) = tokio_websockets::ServerBuilder::new().accept(tcp).await else { return };
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

async fn tcp_conn(mut tcp: TcpStream) {
    // The generator speaks WebSocket: answer its handshake, then echo bytes (its masked frames come back
    // masked; the generator accepts both).
    if raw_handshake(&mut tcp).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if tcp.write_all(&buf[..n]).await.is_err() {
            return;
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
