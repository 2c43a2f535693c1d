//! Load generator for WebSocket echo servers (see `wsproto_bench::loadgen`). Prints one JSON line.
//!
//! ```text
//! loadgen --addr 127.0.0.1:9000 [--conns 100] [--inflight 8] [--size 16] [--kind binary|text|text-mixed]
//!         [--frames 1] [--warmup 0.5] [--secs 2] [--max-msgs N] [--server-pid PID] [--label NAME]
//!         [--deflate [--deflate-bits 9..15] [--server-no-context-takeover]]
//! ```
//! `--deflate` offers `permessage-deflate; client_no_context_takeover; client_max_window_bits` (plus the
//! window and takeover options given), requires the server to accept it, sends the message pre-compressed
//! (use `--kind json` for a compressible corpus) and inflates the echoes. It adds tx_wire_bytes_per_msg,
//! rx_wire_bytes_per_msg, ratio_c2s and ratio_s2c (wire bytes / payload bytes) and the negotiated `deflate`.
//! Output fields: msgs, secs, msgs_per_s, mb_per_s (payload MB/s one way), server_cpu and gen_cpu (fraction
//! of one core over the window), server_us_per_msg, gen_us_per_msg, gen_syscalls_per_msg; with `--inflight 1`
//! also p50_us, p99_us and max_us (round trips, from the end of each send to its whole echo); `error` on failure
//! (exit 1).

use wsproto_bench::loadgen::{deflate_offer, run, Options};
use wsproto_bench::util::{die, raise_nofile, Args, Json};
use wsproto_bench::wire::Kind;

fn main() {
    let a = Args::parse(&["deflate", "server-no-context-takeover"]);
    raise_nofile();
    let kind_name: String = a.get("kind", "binary".to_string());
    let kind = Kind::parse(&kind_name).unwrap_or_else(|| die("--kind is binary, text or text-mixed"));
    let opts = Options {
        addr: a.req("addr"),
        conns: a.get("conns", 100),
        inflight: a.get("inflight", 8),
        size: a.get("size", 16),
        kind,
        frames: a.get("frames", 1),
        warmup: a.secs("warmup", 0.5),
        secs: a.secs("secs", 2.0),
        max_msgs: a.get("max-msgs", u64::MAX),
        server_pid: a.opt("server-pid").map(|p| p.parse().unwrap_or_else(|_| die("bad --server-pid"))),
        thread_cpu_only: false,
        deflate: a.flag("deflate").then(|| {
            let bits = a.opt("deflate-bits").map(|b| b.parse().unwrap_or_else(|_| die("bad --deflate-bits")));
            deflate_offer(a.flag("server-no-context-takeover"), bits)
        }),
    };
    let label: String = a.get("label", String::new());
    let base = Json::new()
        .str("label", &label)
        .int("size", opts.size as u64)
        .int("conns", opts.conns as u64)
        .int("inflight", opts.inflight as u64)
        .str("kind", kind.name())
        .int("frames", opts.frames as u64)
        .bool("deflate", opts.deflate.is_some());
    match run(&opts, &mut |_| {}) {
        Ok(r) => {
            let msgs = r.msgs.max(1) as f64;
            let mut j = base
                .int("msgs", r.msgs)
                .num("secs", r.secs)
                .num("msgs_per_s", r.msgs as f64 / r.secs)
                .num("mb_per_s", r.msgs as f64 * opts.size as f64 / r.secs / 1e6)
                .num("gen_cpu", r.gen_cpu / r.secs)
                .num("gen_us_per_msg", r.gen_cpu * 1e6 / msgs)
                .num("gen_syscalls_per_msg", r.syscalls as f64 / msgs)
                .int("tx_wire_bytes_per_msg", r.msg_wire_len as u64)
                .num("rx_wire_bytes_per_msg", r.rx_bytes as f64 / msgs)
                .num("ratio_c2s", r.msg_wire_len as f64 / opts.size.max(1) as f64)
                .num("ratio_s2c", r.rx_bytes as f64 / msgs / opts.size.max(1) as f64);
            if let Some(p) = r.deflate {
                j = j.str("deflate_params", &p.response_header());
            }
            if !r.latency_us.is_empty() {
                // --inflight 1: round-trip percentiles over the window.
                let at = |q: f64| r.latency_us[((r.latency_us.len() - 1) as f64 * q) as usize] as u64;
                j = j.int("p50_us", at(0.5)).int("p99_us", at(0.99)).int("max_us", at(1.0));
            }
            if let Some(s) = r.server_cpu {
                j = j.num("server_cpu", s / r.secs).num("server_us_per_msg", s * 1e6 / msgs);
            }
            println!("{}", j.finish());
        }
        Err(e) => {
            println!("{}", base.str("error", &e).finish());
            std::process::exit(1);
        }
    }
}
