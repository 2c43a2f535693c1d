//! Echo server on wsproto-tokio's plain API, split halves: `recv` + `WsSender::send` (see `wsproto_bench::servers`):
//! `echo-wsproto-split [ADDR]` prints its bound address.

fn main() {
    wsproto_bench::servers::main_for("wsproto-split");
}
