//! User-space memory per idle connection: opens N WebSocket connections (hand-made handshakes) to a running
//! echo server and reads its resident set size from `/proc/PID/statm` before and after.
//!
//! ```text
//! idle-conns --addr 127.0.0.1:9000 --server-pid PID [--conns 10000] [--settle 0.5]
//! ```
//! One connection is opened and closed first (lazy one-time setup), then the baseline is read; after the N
//! handshakes, and again after one 16-byte echo on every connection (buffers a first message leaves
//! behind). Prints one JSON line with the RSS values and the deltas per connection.

use std::io::{Read, Write};
use std::time::Duration;

use wsproto::frame::FrameHeader;
use wsproto_bench::loadgen::connect_ws;
use wsproto_bench::util::{die, proc_rss, proc_status_kb, raise_nofile, Args, Json};
use wsproto_bench::wire::{self, Kind};

fn main() {
    let a = Args::parse(&[]);
    raise_nofile();
    let addr = a.req("addr");
    let pid: u32 = a.req("server-pid");
    let n: usize = a.get("conns", 10_000);
    let settle = a.secs("settle", 0.5);
    let label: String = a.get("label", String::new());
    let rss = || proc_rss(pid).unwrap_or_else(|| die("cannot read the server's /proc/PID/statm"));
    let anon = || proc_status_kb(pid, "RssAnon").unwrap_or(0);

    drop(connect_ws(addr).unwrap_or_else(|e| die(&format!("connect: {e}"))));
    std::thread::sleep(settle);
    let (rss0, anon0) = (rss(), anon());
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        conns.push(connect_ws(addr).unwrap_or_else(|e| die(&format!("connection {i}: {e}"))));
    }
    std::thread::sleep(settle);
    let (rss1, anon1) = (rss(), anon());

    let msg = wire::client_message(&wire::payload(16, Kind::Binary), Kind::Binary, 1);
    for c in &mut conns {
        c.write_all(&msg).unwrap_or_else(|e| die(&format!("write: {e}")));
    }
    let mut buf = [0u8; 64];
    for c in &mut conns {
        let mut got = 0;
        loop {
            if let Ok(Some((h, hl))) = FrameHeader::parse(&buf[..got]) {
                if got >= hl + h.payload_len as usize {
                    break;
                }
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
