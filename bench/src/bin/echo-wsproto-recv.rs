//! Diagnostic echo server on wsproto-tokio's owned-message API (`recv` + `queue`): `echo-wsproto-recv [ADDR]`
//! prints its bound address; the difference to `echo-wsproto` (`recv_with`, borrowed) is what owned messages
//! cost.

fn main() {
    wsproto_bench::servers::main_for("wsproto-recv");
}
