//! Fan-out load for `bench/fanout.py`: N subscribers and one publisher against a `fanout-server`, on one
//! thread. Prints one JSON line.
//!
//! ```text
//! fanout-load --addr A --mode tcp|ws --subs N --size BYTES [--deflate] [--stuck K] [--window W]
//!             [--warmup 0.5] [--secs 1.5] [--server-pid PID]
//! ```
//! The publisher stamps each message with the time it sends it (nanoseconds since this process started, in the
//! first 8 bytes; a sequence number in the next 8), and sends message k once every subscriber has message
//! k − W (W from `--window`, default: as many as keep 256 MiB in flight, 1 to 16). Subscribers parse the
//! server's frames (inflating them with `--deflate`), and take the delivery latency from the stamp: one
//! process, one clock. `--stuck K` adds K subscribers that never read. Output: deliveries, deliveries_per_s,
//! server_us_per_delivery (server CPU, from /proc), p50_us, p99_us, gen_cpu, and `error` on failure (exit 1).
//!
//! In `tcp` mode (for `fanout-server --mode tcp`) nothing is a WebSocket handshake: subscribers send `S`, the
//! publisher `P` and then `[u32 length][server frame]` records it builds itself (compressed, with
//! `--deflate`, once per message as a prepared message would be).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use wsproto::internal::frame::{FrameHeader, OpCode};
use wsproto_bench::util::{die, proc_cpu, raise_nofile, self_cpu, Args, Json};
use wsproto_bench::wire::{self, Kind};
use wsproto_tokio::{connect_with, Config, ConnectOptions, Message};

const OFFER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

struct Shared {
    epoch: Instant,
    delivered: Cell<u64>,
    /// The publisher waits until `delivered` reaches this.
    want: Cell<u64>,
    wake: Notify,
    measuring: Cell<bool>,
    latency_us: RefCell<Vec<u32>>,
    error: RefCell<Option<String>>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
    fn fail(&self, e: String) {
        self.error.borrow_mut().get_or_insert(e);
        self.wake.notify_one();
    }
}

fn main() {
    let a = Args::parse(&["deflate"]);
    raise_nofile();
    let addr: String = a.req("addr");
    let mode: String = a.get("mode", "ws".to_string());
    let subs: usize = a.get("subs", 100);
    let size: usize = a.get::<usize>("size", 1024).max(16);
    let deflate = a.flag("deflate");
    let stuck: usize = a.get("stuck", 0);
    let default_window = ((256usize << 20) / (subs * size).max(1)).clamp(1, 16);
    let window: u64 = a.get("window", default_window as u64);
    let warmup = a.secs("warmup", 0.5);
    let secs = a.secs("secs", 1.5);
    let server_pid: Option<u32> = a.opt("server-pid").map(|p| p.parse().unwrap_or_else(|_| die("bad --server-pid")));
    let tcp_mode = mode == "tcp";

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let shared = Rc::new(Shared {
        epoch: Instant::now(),
        delivered: Cell::new(0),
        want: Cell::new(0),
        wake: Notify::new(),
        measuring: Cell::new(false),
        latency_us: RefCell::new(Vec::new()),
        error: RefCell::new(None),
    });
    let base = Json::new()
        .str("mode", &mode)
        .int("subs", subs as u64)
        .int("size", size as u64)
        .bool("deflate", deflate)
        .int("stuck", stuck as u64)
        .int("window", window);
    let result = local.block_on(&rt, async {
        // Subscribers, 200 connecting at a time, within 60 s.
        let setup = async {
            let mut conns = Vec::with_capacity(subs + stuck);
            while conns.len() < subs + stuck {
                let n = (subs + stuck - conns.len()).min(200);
                let batch = (0..n).map(|_| subscribe(&addr, tcp_mode, deflate));
                for c in futures_util::future::join_all(batch).await {
                    conns.push(c?);
                }
            }
            Ok::<_, String>(conns)
        };
        let mut conns = tokio::time::timeout(Duration::from_secs(60), setup)
            .await
            .map_err(|_| "subscribers not connected within 60 s".to_string())??;
        let stuck_conns: Vec<_> = conns.drain(subs..).collect();
        for (tcp, rest) in conns {
            tokio::task::spawn_local(read_frames(tcp, rest, deflate, shared.clone()));
        }
        let publisher = publish(&addr, tcp_mode, size, deflate, window, subs as u64, shared.clone());
        let measure = async {
            tokio::time::sleep(warmup).await;
            let (d0, s0, g0, t0) = (shared.delivered.get(), server_pid.and_then(proc_cpu), self_cpu(), Instant::now());
            shared.measuring.set(true);
            tokio::time::sleep(secs).await;
            shared.measuring.set(false);
            let (d1, s1, g1, t1) = (shared.delivered.get(), server_pid.and_then(proc_cpu), self_cpu(), Instant::now());
            (d1 - d0, s0.zip(s1).map(|(a, b)| b - a), g1 - g0, (t1 - t0).as_secs_f64())
        };
        let r = tokio::select! {
            e = publisher => Err(e),
            m = measure => Ok(m),
        };
        drop(stuck_conns);
        r
    });
    let error = shared.error.borrow().clone();
    match (result, error) {
        (Ok((deliveries, server_cpu, gen_cpu, secs)), None) => {
            let mut lat = shared.latency_us.take();
            lat.sort_unstable();
            let at = |q: f64| lat.get(((lat.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or(0) as u64;
            let mut j = base
                .int("deliveries", deliveries)
                .num("secs", secs)
                .num("deliveries_per_s", deliveries as f64 / secs)
                .num("gen_cpu", gen_cpu / secs)
                .int("p50_us", at(0.5))
                .int("p99_us", at(0.99))
                .int("max_us", at(1.0));
            if let Some(s) = server_cpu {
                j = j.num("server_cpu", s / secs).num("server_us_per_delivery", s * 1e6 / deliveries.max(1) as f64);
            }
            println!("{}", j.finish());
        }
        (Err(e), _) | (_, Some(e)) => {
            println!("{}", base.str("error", &e).finish());
            std::process::exit(1);
        }
    }
}

/// Connects one subscriber: the stream, and bytes read past the handshake.
async fn subscribe(addr: &str, tcp_mode: bool, deflate: bool) -> Result<(TcpStream, Vec<u8>), String> {
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    if tcp_mode {
        tcp.write_all(b"S").await.map_err(|e| e.to_string())?;
        return Ok((tcp, Vec::new()));
    }
    let req = wire::handshake_request_with(addr, deflate.then_some(OFFER));
    tcp.write_all(&req).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("EOF in the handshake".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = wire::head_end(&buf) {
            wire::check_handshake_response(&buf[..end])?;
            if deflate != wire::response_extensions(&buf[..end]).is_some() {
                return Err("permessage-deflate not negotiated as offered".into());
            }
            return Ok((tcp, buf.split_off(end)));
        }
    }
}

/// Reads the server's frames, counting deliveries and their latency.
async fn read_frames(mut tcp: TcpStream, mut buf: Vec<u8>, deflate: bool, shared: Rc<Shared>) {
    let mut inflater = deflate.then(|| Decompress::new(false));
    let mut inflated = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        // Every whole frame in `buf`.
        let mut at = 0;
        while let Some((fin_op, rsv1, header, len)) = parse_header(&buf[at..]) {
            if buf.len() - at < header + len {
                break;
            }
            let payload = &buf[at + header..at + header + len];
            at += header + len;
            let opcode = fin_op & 0x0f;
            if opcode == 0x8 {
                shared.fail("the server closed a subscriber".into());
                return;
            }
            if opcode != 0x1 && opcode != 0x2 {
                continue;
            }
            let stamp_src: &[u8] = match (rsv1, inflater.as_mut()) {
                (true, Some(d)) => {
                    inflated.clear();
                    inflated.reserve(len * 4 + 64);
                    d.reset(false);
                    let mut input = payload.to_vec();
                    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
                    let mut consumed = 0;
                    loop {
                        if inflated.capacity() - inflated.len() < 1024 {
                            inflated.reserve(inflated.capacity());
                        }
                        let before = d.total_in();
                        if let Err(e) = d.decompress_vec(&input[consumed..], &mut inflated, FlushDecompress::Sync) {
                            shared.fail(format!("inflate: {e}"));
                            return;
                        }
                        consumed += (d.total_in() - before) as usize;
                        if consumed == input.len() && inflated.capacity() > inflated.len() {
                            break;
                        }
                    }
                    &inflated
                }
                _ => payload,
            };
            if stamp_src.len() < 8 {
                shared.fail("a message without a stamp".into());
                return;
            }
            let stamp = u64::from_le_bytes(stamp_src[..8].try_into().unwrap());
            if shared.measuring.get() {
                let us = shared.now_ns().saturating_sub(stamp) / 1000;
                shared.latency_us.borrow_mut().push(us.min(u32::MAX as u64) as u32);
            }
            shared.delivered.set(shared.delivered.get() + 1);
            if shared.delivered.get() >= shared.want.get() {
                shared.wake.notify_one();
            }
        }
        buf.drain(..at);
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                shared.fail("a subscriber's connection ended".into());
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A server frame's (FIN + opcode byte, RSV1, header length, payload length), once its header is complete.
fn parse_header(b: &[u8]) -> Option<(u8, bool, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let (len, header) = match b[1] & 0x7f {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    Some((b[0], b[0] & 0x40 != 0, header, len))
}

/// The publisher: message k once `delivered` ≥ (k + 1 − window) × subs. Returns only on failure.
async fn publish(
    addr: &str,
    tcp_mode: bool,
    size: usize,
    deflate: bool,
    window: u64,
    subs: u64,
    shared: Rc<Shared>,
) -> String {
    let mut payload = wire::payload(size, if deflate { Kind::Json } else { Kind::Binary });
    enum Out {
        Tcp(TcpStream),
        Ws(Box<wsproto_tokio::WebSocket<wsproto_tokio::MaybeTlsStream>>),
    }
    let mut out = if tcp_mode {
        let mut tcp = match TcpStream::connect(addr).await {
            Ok(t) => t,
            Err(e) => return format!("publisher: {e}"),
        };
        let _ = tcp.set_nodelay(true);
        if tcp.write_all(b"P").await.is_err() {
            return "publisher: write".into();
        }
        Out::Tcp(tcp)
    } else {
        let mut config = Config::default().no_keepalive();
        config.protocol.deflate = None;
        let opts = ConnectOptions { config, ..Default::default() };
        match connect_with(&format!("ws://{addr}/pub"), opts).await {
            Ok((ws, _)) => Out::Ws(Box::new(ws)),
            Err(e) => return format!("publisher: {e}"),
        }
    };
    let mut record = Vec::new();
    for k in 0u64.. {
        let want = (k + 1).saturating_sub(window) * subs;
        shared.want.set(want);
        while shared.delivered.get() < want {
            if let Some(e) = shared.error.borrow().clone() {
                return e;
            }
            shared.wake.notified().await;
        }
        if let Some(e) = shared.error.borrow().clone() {
            return e;
        }
        payload[..8].copy_from_slice(&shared.now_ns().to_le_bytes());
        payload[8..16].copy_from_slice(&k.to_le_bytes());
        let r = match &mut out {
            Out::Tcp(tcp) => {
                // The server frame, built (and compressed) once, as a prepared message is.
                let (body, rsv) = if deflate && size >= 64 {
                    (wire::deflate_payload(&payload, 15, 6), 0x4)
                } else {
                    (payload.clone(), 0)
                };
                let opcode = OpCode::Binary;
                let h = FrameHeader { fin: true, rsv, opcode, mask: None, payload_len: body.len() as u64 };
                record.clear();
                record.extend_from_slice(&[0; 4]);
                h.write_to(&mut record);
                record.extend_from_slice(&body);
                let n = (record.len() - 4) as u32;
                record[..4].copy_from_slice(&n.to_be_bytes());
                tcp.write_all(&record).await.map_err(|e| e.to_string())
            }
            Out::Ws(ws) => ws.send(Message::binary(payload.clone())).await.map_err(|e| e.to_string()),
        };
        if let Err(e) = r {
            return format!("publisher: {e}");
        }
    }
    unreachable!()
}
