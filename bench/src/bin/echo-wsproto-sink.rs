//! Echo server on wsproto-tokio's plain API, `Stream` + `Sink` (see `wsproto_bench::servers`):
//! `echo-wsproto-sink [ADDR]` prints its bound address.

fn main() {
    wsproto_bench::servers::main_for("wsproto-sink");
}
