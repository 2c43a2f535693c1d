//! Echo server on wsproto-tokio's plain API, `recv` + `send` (see `wsproto_bench::servers`):
//! `echo-wsproto-send [ADDR]` prints its bound address.

fn main() {
    wsproto_bench::servers::main_for("wsproto-send");
}
