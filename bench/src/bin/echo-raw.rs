//! Echo server: `echo-raw [ADDR]` (default 127.0.0.1:0) prints its bound address, then echoes every
//! text and binary message (see `wsproto_bench::servers` for the pattern used).

fn main() {
    wsproto_bench::servers::main_for("raw");
}
