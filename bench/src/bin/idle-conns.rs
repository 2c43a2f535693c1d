//! User-space memory per idle connection: opens N WebSocket connections (hand-made handshakes) to a running
//! echo server and reads its resident set size from `/proc/PID/statm` before and after.
//!
//! ```text
//! idle-conns --addr 127.0.0.1:9000 --server-pid PID [--conns 10000] [--settle 0.5]
//!            [--deflate [--deflate-bits 9..15] [--no-context-takeover]]
//! ```
//! With `--deflate` every connection negotiates permessage-deflate (`client_no_context_takeover` always;
//! `--deflate-bits B` adds `server_max_window_bits=B; client_max_window_bits=B`, `--no-context-takeover`
//! adds `server_no_context_takeover`), and the echo is of one 1 KiB JSON message sent compressed and
//! echoed compressed (checked by inflating it), so both of the server's codecs exist.
//! One connection is opened and closed first (lazy one-time setup), then the baseline is read; after the N
//! handshakes, and again after one 16-byte echo on every connection (buffers a first message leaves
//! behind). Prints one JSON line with the RSS values and the deltas per connection.

use std::io::{Read, Write};
use std::time::Duration;

use wsproto::internal::frame::FrameHeader;
use wsproto_bench::loadgen::{connect_ws_with, deflate_offer};
use wsproto_bench::util::{die, proc_rss, proc_status_kb, raise_nofile, Args, Json};
use wsproto_bench::wire::{self, Kind};

fn main() {
    let a = Args::parse(&["deflate", "no-context-takeover"]);
    raise_nofile();
    let addr = a.req("addr");
    let pid: u32 = a.req("server-pid");
    let n: usize = a.get("conns", 10_000);
    let settle = a.secs("settle", 0.5);
    let label: String = a.get("label", String::new());
    let rss = || proc_rss(pid).unwrap_or_else(|| die("cannot read the server's /proc/PID/statm"));
    let anon = || proc_status_kb(pid, "RssAnon").unwrap_or(0);
    let bits: Option<u8> = a.opt("deflate-bits").map(|b| b.parse().unwrap_or_else(|_| die("bad --deflate-bits")));
    let deflate = a.flag("deflate").then(|| deflate_offer(a.flag("no-context-takeover"), bits));
    let connect =
        |i: usize| connect_ws_with(addr, deflate.as_ref()).unwrap_or_else(|e| die(&format!("connection {i}: {e}")));

    drop(connect(0));
    std::thread::sleep(settle);
    let (rss0, anon0) = (rss(), anon());
    let mut conns = Vec::with_capacity(n);
    let mut params = None;
    for i in 0..n {
        let (c, p) = connect(i);
        params = p;
        conns.push(c);
    }
    std::thread::sleep(settle);
    let (rss1, anon1) = (rss(), anon());

    let (payload, msg) = match params {
        Some(p) => {
            let payload = wire::payload(1024, Kind::Json);
            let z = wire::deflate_payload(&payload, p.client_max_window_bits, 6);
            (payload, wire::client_compressed_message(&z, Kind::Json))
        }
        None => (Vec::new(), wire::client_message(&wire::payload(16, Kind::Binary), Kind::Binary, 1)),
    };
    for c in &mut conns {
        c.write_all(&msg).unwrap_or_else(|e| die(&format!("write: {e}")));
    }
    let mut buf = [0u8; 4096];
    for c in &mut conns {
        let mut got = 0;
        loop {
            if let Ok(Some((h, hl))) = FrameHeader::parse(&buf[..got]) {
                if got >= hl + h.payload_len as usize {
                    if params.is_some() {
                        check_compressed_echo(&buf[..got], h, hl, &payload);
                    }
                    break;
                }
            }
            if got == buf.len() {
                die("echo longer than expected");
            }
            let r = c.read(&mut buf[got..]).unwrap_or_else(|e| die(&format!("read: {e}")));
            if r == 0 {
                die("the server closed a connection");
            }
            got += r;
        }
    }
    std::thread::sleep(settle);
    let (rss2, anon2) = (rss(), anon());
    let per = |a: u64, b: u64| (b as f64 - a as f64) / n as f64;
    println!(
        "{}",
        Json::new()
            .str("label", &label)
            .int("conns", n as u64)
            .str("deflate_params", &params.map(|p| p.response_header()).unwrap_or_default())
            .int("rss_before", rss0)
            .int("rss_idle", rss1)
            .int("rss_after_echo", rss2)
            .num("bytes_per_idle_conn", per(rss0, rss1))
            .num("bytes_per_conn_after_echo", per(rss0, rss2))
            .num("anon_bytes_per_idle_conn", per(anon0, anon1))
            .num("anon_bytes_per_conn_after_echo", per(anon0, anon2))
            .finish()
    );
    drop(conns);
    std::thread::sleep(Duration::from_millis(100));
}

/// The echo of the compressed message: one frame with RSV1 that inflates to what was sent.
fn check_compressed_echo(frame: &[u8], h: FrameHeader, hl: usize, payload: &[u8]) {
    if !h.fin || h.rsv != 0x4 {
        die(&format!("echo not a single compressed frame (fin {}, rsv {:#x})", h.fin, h.rsv));
    }
    let mut z = frame[hl..hl + h.payload_len as usize].to_vec();
    z.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(payload.len() + 64);
    flate2::Decompress::new(false)
        .decompress_vec(&z, &mut out, flate2::FlushDecompress::Sync)
        .unwrap_or_else(|e| die(&format!("inflate: {e}")));
    if out != payload {
        die("the inflated echo differs from what was sent");
    }
}
