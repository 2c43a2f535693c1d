//! Plain TCP echo (the ceiling): `echo-tcp [ADDR]` (default 127.0.0.1:0) prints its bound address, then
//! echoes every byte back through a 4 MiB ring (one `readv` + one `writev` per wake-up; see `servers::tcp_conn`).

fn main() {
    wsproto_bench::servers::main_for("tcp");
}
