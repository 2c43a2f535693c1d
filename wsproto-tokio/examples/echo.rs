//! `echo`: echoes every text and binary message back unchanged — the service `wss://echo.websocket.org`
//! offers (ZIO HTTP's WebSocket echo; the browser WebSocket intro).
//!
//! WebSocket upgrades are accepted on any path. `GET /` serves the intro's `index.html` + `index.js`, which
//! connects back, sends two messages and closes; it writes its console lines into the page as well.
//!
//! ```text
//! cargo run -p wsproto-tokio --example echo [ADDR] [--cert PEM --key PEM] [limits]
//! cargo run -p wsproto-tokio --example echo-client    # in another terminal
//! ```
//!
//! The limits are the defaults unless set: `--max-fragments N` (frames per message), `--max-message BYTES`,
//! `--handshake-timeout SECS` (or `off`), `--keepalive SECS` (ping after SECS of silence, drop the peer if
//! no pong within SECS; default off). `tests/hostile.rs` attacks it with them.

mod common;

use std::sync::Arc;

use common::{Site, Stream};
use wsproto_tokio::{CloseCode, CloseOutcome, Error, WebSocket};

const USAGE: &str = "echo [LISTEN_ADDR (default 127.0.0.1:8080)] [--cert CERT.pem --key KEY.pem] \
                     [--max-fragments N] [--max-message BYTES] [--handshake-timeout SECS|off] \
                     [--keepalive SECS]";

const INDEX: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>echo</title></head>
<body>
<pre id="log"></pre>
<script>
// index.js from the intro, connecting to this server instead of echo.websocket.org.
function log(...parts) {
  console.log(...parts);
  document.getElementById("log").textContent += parts.join(" ") + "\n";
}

const s = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");

s.addEventListener("open", (e) => {
  log("connected");
  s.send("Hello WebSocket!");
  log("client -> server: Hello WebSocket!");
});

s.addEventListener("message", (e) => {
  log("client <- server:", e.data);
});

s.addEventListener("close", (e) => {
  log("disconnected");
});

setTimeout(() => {
  s.send("Hello World!");
  log("client -> server: Hello World!");
}, 1000);

setTimeout(() => s.close(), 2000);
</script>
</body>
</html>
"#;

// One thread serves every connection in turn. (The multi-thread scheduler confined to one core, as in the
// benchmark, serves some connections again and again while others wait in its global queue: at 1,000
// connections its p99 round trip was 140 ms against 33 ms on one thread, with the same code.)
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = common::parse_args(USAGE, &[&["--cert", "--key"], common::LIMIT_OPTIONS].concat(), 1);
    let listener = common::bind(args.positional_or(0, "127.0.0.1:8080"), common::tls_acceptor(&args)).await;
    let site = Site {
        pages: &[("/", INDEX)],
        ws_paths: None,
        no_upgrade: (426, "WebSocket upgrade required\n"),
        handler: |ws, _peer| echo(ws),
    };
    common::serve_with(listener, Arc::new(site), args.config()).await;
}

async fn echo(mut ws: WebSocket<Stream>) -> Result<CloseOutcome, Error> {
    while let Some(msg) = common::recv_data(&mut ws).await? {
        ws.send(msg).await?;
    }
    ws.close(CloseCode::NORMAL, "").await
}
