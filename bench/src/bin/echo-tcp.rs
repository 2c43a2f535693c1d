//! Plain TCP echo (the ceiling): `echo-tcp [ADDR]` (default 127.0.0.1:0) prints its bound address, then
//! echoes every byte back, 64 KiB reads, one write per read, on the same runtime as the WebSocket servers.

fn main() {
    wsproto_bench::servers::main_for("tcp");
}
