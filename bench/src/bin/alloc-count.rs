//! Heap allocations per echoed message in steady state, in one process: a counting global allocator counts
//! the allocations made on one thread only, during the measurement window, divided by the messages echoed.
//!
//! ```text
//! alloc-count --role server --server wsproto|tungstenite|fastwebsockets|tokio-websockets|tcp
//!             [--size 16] [--conns 16] [--inflight 8] [--kind binary] [--frames 1] [--secs 1]
//! alloc-count --role client --client wsproto|tungstenite [same options]
//! alloc-count --role idle --server NAME [--conns 1000] [--echo-once] [--deflate [--takeover] [--bits 9..15]]
//! ```
//! Server role: the echo server runs on a counted thread (its own current-thread runtime, loopback TCP);
//! the load generator (allocation-free in steady state, and not counted) drives it from the main thread.
//! Client role: the client runs on the counted thread against the raw echo server on another thread.
//! Prints one JSON line: msgs, allocs, reallocs, bytes, allocs_per_msg, bytes_per_msg.
//!
//! Idle role: opens N connections (hand-made handshakes) to the server on the counted thread and reports the
//! heap it holds per idle connection (live bytes and blocks), with the sizes of the blocks every connection
//! keeps (`blocks`: "size x count-per-connection"). `--echo-once`: each connection first has one 1 KiB JSON-like
//! message echoed. `--deflate`: each offers permessage-deflate (`--takeover`: letting the server keep its
//! compression context between messages; `--bits`: both window sizes), and its message goes compressed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use wsproto_bench::loadgen::{self, Mark};
use wsproto_bench::util::{die, Args, Json};
use wsproto_bench::wire::{self, Kind};
use wsproto_bench::{clients, servers};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Live heap bytes and blocks allocated by the counted thread (freed ones subtracted when freed there).
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
/// Live blocks by size class (16-byte classes up to 64 KiB, then one class), with the last exact size seen.
const CLASSES: usize = 4097;
static LIVE_BY_CLASS: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];
static SIZE_OF_CLASS: [AtomicU64; CLASSES] = [const { AtomicU64::new(0) }; CLASSES];

fn class(size: usize) -> usize {
    (size / 16).min(CLASSES - 1)
}

fn track(size: usize, sign: i64) {
    LIVE_BYTES.fetch_add(sign * size as i64, Relaxed);
    LIVE_BLOCKS.fetch_add(sign, Relaxed);
    LIVE_BY_CLASS[class(size)].fetch_add(sign, Relaxed);
    if sign > 0 {
        SIZE_OF_CLASS[class(size)].store(size as u64, Relaxed);
    }
}

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
            track(layout.size(), 1);
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
            track(layout.size(), 1);
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            REALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
            track(layout.size(), -1);
            track(new_size, 1);
        }
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            track(layout.size(), -1);
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Starts `server` on a new thread (counted or not); returns its address.
fn spawn_server(server: &'static str, count: bool) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        COUNTED.with(|c| c.set(count));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let _ = servers::serve(server, listener).await;
        });
    });
    rx.recv().expect("server address")
}

fn server_name(a: &Args) -> &'static str {
    let server: String = a.get("server", "wsproto".to_string());
    servers::NAMES
        .iter()
        .find(|n| **n == server)
        .unwrap_or_else(|| die(&format!("--server is one of {:?}", servers::NAMES)))
}

/// Heap held per idle connection by the server on the counted thread.
fn idle(a: &Args) {
    let server = server_name(a);
    let n: usize = a.get("conns", 1000);
    wsproto_bench::util::raise_nofile();
    let addr = spawn_server(server, true);
    drop(loadgen::connect_ws(addr).unwrap_or_else(|e| die(&format!("connect: {e}"))));
    std::thread::sleep(Duration::from_millis(200));
    let snap = || -> (i64, i64, Vec<i64>) {
        (LIVE_BYTES.load(Relaxed), LIVE_BLOCKS.load(Relaxed), LIVE_BY_CLASS.iter().map(|c| c.load(Relaxed)).collect())
    };
    let offer = a.flag("deflate").then(|| {
        let bits: u8 = a.get("bits", 0);
        loadgen::deflate_offer(!a.flag("takeover"), (bits != 0).then_some(bits))
    });
    let echo_once = a.flag("echo-once");
    let before = snap();
    let conns: Vec<_> = (0..n)
        .map(|i| {
            let (mut s, params) =
                loadgen::connect_ws_with(addr, offer.as_ref()).unwrap_or_else(|e| die(&format!("connection {i}: {e}")));
            if offer.is_some() && params.is_none() {
                die("the server declined permessage-deflate");
            }
            if echo_once {
                echo_one(&mut s, params.is_some()).unwrap_or_else(|e| die(&format!("echo on connection {i}: {e}")));
            }
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let after = snap();
    let mut blocks = Vec::new();
    for (i, (b, a)) in before.2.iter().zip(&after.2).enumerate() {
        let per = (a - b) as f64 / n as f64;
        if per >= 0.5 {
            blocks.push(format!("{} B x {per:.2}", SIZE_OF_CLASS[i].load(Relaxed)));
        }
    }
    println!(
        "{}",
        Json::new()
            .str("role", "idle")
            .str("name", server)
            .int("conns", n as u64)
            .str("deflate", &offer.as_ref().map_or("none".to_string(), |o| o.offer()))
            .str("echo_once", if echo_once { "yes" } else { "no" })
            .num("heap_bytes_per_conn", (after.0 - before.0) as f64 / n as f64)
            .num("heap_blocks_per_conn", (after.1 - before.1) as f64 / n as f64)
            .str("blocks", &blocks.join(", "))
            .finish()
    );
    drop(conns);
    std::process::exit(0);
}

/// Sends one 1 KiB JSON-like message (compressed if `deflate`) and reads until its whole echo has arrived.
fn echo_one(s: &mut std::net::TcpStream, deflate: bool) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use wsproto::internal::frame::FrameHeader;
    let payload = wire::payload(1024, Kind::Json);
    let msg = if deflate {
        wire::client_compressed_message(&wire::deflate_payload(&payload, 15, 6), Kind::Json)
    } else {
        wire::client_message(&payload, Kind::Json, 1)
    };
    s.write_all(&msg)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(Some((h, len))) = FrameHeader::parse(&got) {
            if got.len() >= len + h.payload_len as usize {
                return Ok(());
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the echo"));
        }
        got.extend_from_slice(&buf[..n]);
    }
}

fn main() {
    let a = Args::parse(&["deflate", "takeover", "echo-once"]);
    let role: String = a.get("role", "server".to_string());
    if role == "idle" {
        idle(&a);
    }
    let kind_name: String = a.get("kind", "binary".to_string());
    let kind = Kind::parse(&kind_name).unwrap_or_else(|| die("--kind is binary, text or text-mixed"));
    let (size, conns, inflight, frames) =
        (a.get("size", 16), a.get("conns", 16), a.get("inflight", 8), a.get("frames", 1));
    let (warmup, secs) = (a.secs("warmup", 0.5), a.secs("secs", 1.0));
    let mut snap = (0, 0, 0);
    let mut delta = (0, 0, 0);
    let mut mark = |m: Mark| {
        let now = (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed), BYTES.load(Relaxed));
        match m {
            Mark::Start => snap = now,
            Mark::End => delta = (now.0 - snap.0, now.1 - snap.1, now.2 - snap.2),
        }
    };
    let (name, result) = match role.as_str() {
        "server" => {
            let server = server_name(&a);
            let addr = spawn_server(server, true);
            let opts = loadgen::Options {
                addr,
                conns,
                inflight,
                size,
                kind,
                frames,
                warmup,
                secs,
                max_msgs: u64::MAX,
                server_pid: None,
                thread_cpu_only: true,
                deflate: None,
            };
            (server.to_string(), loadgen::run(&opts, &mut mark))
        }
        "client" => {
            let client: String = a.get("client", "wsproto".to_string());
            let addr = spawn_server("raw", false);
            std::thread::sleep(Duration::from_millis(50));
            let opts = clients::Options {
                addr,
                conns,
                inflight,
                size,
                kind,
                warmup,
                secs,
                server_pid: None,
                thread_cpu_only: true,
            };
            COUNTED.with(|c| c.set(true));
            let r = clients::run(&client, &opts, &mut mark);
            COUNTED.with(|c| c.set(false));
            (client, r)
        }
        _ => die("--role is server or client"),
    };
    let base = Json::new()
        .str("role", &role)
        .str("name", &name)
        .int("size", size as u64)
        .int("conns", conns as u64)
        .int("inflight", inflight as u64)
        .str("kind", kind.name())
        .int("frames", frames as u64);
    match result {
        Ok(r) => {
            let msgs = r.msgs.max(1) as f64;
            let j = base
                .int("msgs", r.msgs)
                .int("allocs", delta.0)
                .int("reallocs", delta.1)
                .int("bytes", delta.2)
                .num("allocs_per_msg", (delta.0 + delta.1) as f64 / msgs)
                .num("bytes_per_msg", delta.2 as f64 / msgs);
            println!("{}", j.finish());
        }
        Err(e) => {
            println!("{}", base.str("error", &e).finish());
            std::process::exit(1);
        }
    }
    std::process::exit(0);
}
