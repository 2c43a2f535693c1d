//! Client-role benchmark: one library's client keeps C × P messages in flight against an echo server
//! (see `wsproto_bench::clients`). Prints one JSON line.
//!
//! ```text
//! client-bench --client wsproto|tungstenite --addr 127.0.0.1:9000 [--conns 16] [--inflight 8] [--size 16]
//!              [--kind binary|text] [--warmup 0.5] [--secs 2] [--server-pid PID]
//! ```

use wsproto_bench::clients::{run, Options};
use wsproto_bench::util::{die, raise_nofile, Args, Json};
use wsproto_bench::wire::Kind;

fn main() {
    let a = Args::parse(&[]);
    raise_nofile();
    let client: String = a.req("client");
    let kind_name: String = a.get("kind", "binary".to_string());
    let kind = Kind::parse(&kind_name).unwrap_or_else(|| die("--kind is binary, text or text-mixed"));
    let opts = Options {
        addr: a.req("addr"),
        conns: a.get("conns", 16),
        inflight: a.get("inflight", 8),
        size: a.get("size", 16),
        kind,
        warmup: a.secs("warmup", 0.5),
        secs: a.secs("secs", 2.0),
        server_pid: a.opt("server-pid").map(|p| p.parse().unwrap_or_else(|_| die("bad --server-pid"))),
        thread_cpu_only: false,
    };
    let base = Json::new()
        .str("client", &client)
        .int("size", opts.size as u64)
        .int("conns", opts.conns as u64)
        .int("inflight", opts.inflight as u64)
        .str("kind", kind.name());
    match run(&client, &opts, &mut |_| {}) {
        Ok(r) => {
            let msgs = r.msgs.max(1) as f64;
            let mut j = base
                .int("msgs", r.msgs)
                .num("secs", r.secs)
                .num("msgs_per_s", r.msgs as f64 / r.secs)
                .num("client_cpu", r.gen_cpu / r.secs)
                .num("client_us_per_msg", r.gen_cpu * 1e6 / msgs);
            if let Some(s) = r.server_cpu {
                j = j.num("server_cpu", s / r.secs);
            }
            println!("{}", j.finish());
        }
        Err(e) => {
            println!("{}", base.str("error", &e).finish());
            std::process::exit(1);
        }
    }
}
