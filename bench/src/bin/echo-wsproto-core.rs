//! Diagnostic echo server on the wsproto core alone (no wsproto-tokio): `echo-wsproto-core [ADDR]` prints
//! its bound address; the difference to `echo-wsproto` is the adapter's per-message cost.

fn main() {
    wsproto_bench::servers::main_for("wsproto-core");
}
