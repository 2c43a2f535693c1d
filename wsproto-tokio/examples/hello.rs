//! `hello`: a page and its WebSocket on one port (after Dream's `k-websocket` example).
//!
//! `GET /` serves a page whose script opens `ws://<host>/websocket` and sends `Hello?`; the server answers
//! `Good-bye!` and closes. Anything else gets a close. The page shows the reply (in an alert, as in the
//! original, and in the page itself). Every request is logged with its status and duration.
//!
//! ```text
//! cargo run -p wsproto-tokio --example hello [ADDR] [--cert PEM --key PEM]
//! ```
//! then open <http://localhost:8080>. With `--cert`/`--key` it serves `https://` and `wss://`.

mod common;

use std::sync::Arc;

use common::{Site, Stream};
use wsproto_tokio::{CloseCode, CloseOutcome, Error, Message, WebSocket};

const USAGE: &str = "hello [LISTEN_ADDR (default 127.0.0.1:8080)] [--cert CERT.pem --key KEY.pem]";

const HOME: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>hello</title></head>
<body>
  <div id="log"></div>
  <script>

  function show(line) {
    var div = document.createElement("div");
    div.textContent = line;
    document.getElementById("log").append(div);
  }

  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + window.location.host + "/websocket");

  socket.onopen = function () {
    socket.send("Hello?");
    show("sent: Hello?");
  };

  socket.onmessage = function (e) {
    show("received: " + e.data);
    alert(e.data);
  };

  socket.onclose = function (e) {
    show("closed: " + e.code);
  };

  </script>
</body>
</html>
"#;

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--cert", "--key"], 1);
    let listener = common::bind(args.positional_or(0, "127.0.0.1:8080"), common::tls_acceptor(&args)).await;
    common::log(format_args!("open {}://{}/ in a browser", listener.http_scheme(), listener.addr));
    let site = Site {
        pages: &[("/", HOME)],
        ws_paths: Some(&["/websocket"]),
        no_upgrade: (426, "WebSocket upgrade required\n"),
        handler: |ws, _peer| websocket(ws),
    };
    common::serve(listener, Arc::new(site)).await;
}

/// `Hello?` gets `Good-bye!`; then (or for anything else) the server closes.
async fn websocket(mut ws: WebSocket<Stream>) -> Result<CloseOutcome, Error> {
    if let Some(Message::Text(t)) = common::recv_data(&mut ws).await? {
        if t.as_str() == "Hello?" {
            ws.send("Good-bye!").await?;
        }
    }
    ws.close(CloseCode::NORMAL, "").await
}
