//! The client-role benchmark: C connections × P messages in flight from one library's client, on a
//! current-thread runtime, against an echo server.
//!
//! - wsproto-tokio: `queue` + `recv` (replies to echoes are queued; the socket flushes them when it would
//!   wait for input).
//! - tokio-tungstenite: `Stream` + `Sink` driven as `StreamExt::forward` does (`start_send` per message,
//!   `poll_flush` when nothing more is ready).
//!
//! Each echo received is checked for length and answered by a clone of the same prepared message (a
//! reference-counted payload: the library encodes and masks it).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::net::TcpStream;

use crate::loadgen::{Mark, Report};
use crate::util::{proc_cpu, self_cpu, thread_cpu};
use crate::wire::{self, Kind};

/// The clients, by command-line name.
pub const NAMES: [&str; 2] = ["wsproto", "tungstenite"];

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The echo server.
    pub addr: SocketAddr,
    /// Connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub inflight: usize,
    /// Payload bytes.
    pub size: usize,
    /// Payload kind.
    pub kind: Kind,
    /// Time before the window.
    pub warmup: Duration,
    /// The window.
    pub secs: Duration,
    /// The server's pid, for its CPU time.
    pub server_pid: Option<u32>,
    /// Count only this thread's CPU time.
    pub thread_cpu_only: bool,
}

static MSGS: AtomicU64 = AtomicU64::new(0);
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

fn fail(e: String) {
    let mut f = FAILURE.lock().unwrap_or_else(|p| p.into_inner());
    f.get_or_insert(e);
}

/// Runs `client` (one of [`NAMES`]) on a new current-thread runtime on this thread.
pub fn run(client: &str, opts: &Options, mark: &mut dyn FnMut(Mark)) -> Result<Report, String> {
    if !NAMES.contains(&client) {
        return Err(format!("unknown client {client:?} (one of {NAMES:?})"));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let payload = Bytes::from(wire::payload(opts.size, opts.kind));
    let report = rt.block_on(async {
        for _ in 0..opts.conns {
            let (addr, p, size, kind, payload) = (opts.addr, opts.inflight, opts.size, opts.kind, payload.clone());
            match client {
                "wsproto" => tokio::spawn(async move {
                    if let Err(e) = wsproto_client(addr, p, size, kind, payload).await {
                        fail(format!("wsproto client: {e}"));
                    }
                }),
                _ => tokio::spawn(async move {
                    if let Err(e) = tungstenite_client(addr, p, size, kind, payload).await {
                        fail(format!("tungstenite client: {e}"));
                    }
                }),
            };
        }
        let cpu = || if opts.thread_cpu_only { thread_cpu() } else { self_cpu() };
        tokio::time::sleep(opts.warmup).await;
        mark(Mark::Start);
        let (t0, m0, c0, s0) =
            (Instant::now(), MSGS.load(Ordering::Relaxed), cpu(), opts.server_pid.and_then(proc_cpu));
        tokio::time::sleep(opts.secs).await;
        let (secs, msgs, gen_cpu) = (t0.elapsed().as_secs_f64(), MSGS.load(Ordering::Relaxed) - m0, cpu() - c0);
        let server_cpu = match (s0, opts.server_pid.and_then(proc_cpu)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        mark(Mark::End);
        Report {
            msgs,
            secs,
            gen_cpu,
            server_cpu,
            syscalls: 0,
            rx_bytes: 0,
            msg_wire_len: 0,
            deflate: None,
            latency_us: Vec::new(),
        }
    });
    // Connections are dropped with the runtime.
    drop(rt);
    if let Some(e) = FAILURE.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    Ok(report)
}

async fn wsproto_client(addr: SocketAddr, p: usize, size: usize, kind: Kind, payload: Bytes) -> Result<(), String> {
    use wsproto_tokio::wsproto::handshake::ClientRequest;
    use wsproto_tokio::{client_handshake, Config, DataKind, Message};
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut ws, _, _) = client_handshake(tcp, ClientRequest::new(addr.to_string(), "/"), Config::default())
        .await
        .map_err(|e| e.to_string())?;
    let msg = if kind.is_text() {
        let text = String::from_utf8(payload.to_vec()).map_err(|e| e.to_string())?;
        Message::Text(text.into())
    } else {
        Message::Binary(payload)
    };
    for _ in 0..p {
        ws.queue(msg.clone()).await.map_err(|e| e.to_string())?;
    }
    // Every echo that has arrived is checked borrowed in place and answered with the next message in the same
    // batch (`recv_with`), written when the connection would wait for input.
    let (kind, data) = match &msg {
        Message::Text(t) => (DataKind::Text, t.as_bytes()),
        Message::Binary(b) => (DataKind::Binary, &b[..]),
        _ => unreachable!("a data message"),
    };
    let mut failure = None;
    while let Some(r) = ws
        .recv_with(|event, tx| match event.data() {
            Some((k, echo)) if k == kind && echo.len() == size => {
                MSGS.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = tx.send(kind, data) {
                    failure.get_or_insert(e.to_string());
                }
            }
            Some((k, echo)) => {
                failure.get_or_insert(format!("echo of {} bytes ({k:?}), {size} sent ({kind:?})", echo.len()));
            }
            None => {}
        })
        .await
    {
        r.map_err(|e| e.to_string())?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
    }
    Ok(())
}

async fn tungstenite_client(addr: SocketAddr, p: usize, size: usize, kind: Kind, payload: Bytes) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp).await.map_err(|e| e.to_string())?;
    let msg = if kind.is_text() {
        Message::Text(Utf8Bytes::try_from(payload).map_err(|e| e.to_string())?)
    } else {
        Message::Binary(payload)
    };
    let check = |m: &Message| match m {
        Message::Text(t) => t.len() == size,
        Message::Binary(b) => b.len() == size,
        _ => false,
    };
    pipeline_stream_sink(ws, p, msg, check).await
}

/// Keeps `p` clones of `msg` in flight on a `Stream + Sink`: sends `p`, then one more per echo received,
/// flushing whenever nothing more is ready (as `StreamExt::forward` does).
pub async fn pipeline_stream_sink<W, M, E>(
    mut ws: W,
    p: usize,
    msg: M,
    check: impl Fn(&M) -> bool,
) -> Result<(), String>
where
    W: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    M: Clone,
    E: std::fmt::Display,
{
    let mut to_send = p;
    poll_fn(|cx| loop {
        while to_send > 0 {
            match Pin::new(&mut ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    Pin::new(&mut ws).start_send(msg.clone()).map_err(|e| e.to_string())?;
                    to_send -= 1;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.to_string())),
                Poll::Pending => return Poll::Pending,
            }
        }
        match Pin::new(&mut ws).poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => {
                if !check(&m) {
                    return Poll::Ready(Err("echo of the wrong length or kind".into()));
                }
                MSGS.fetch_add(1, Ordering::Relaxed);
                to_send += 1;
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e.to_string())),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => {
                return match Pin::new(&mut ws).poll_flush(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e.to_string())),
                    _ => Poll::Pending,
                };
            }
        }
    })
    .await
}
