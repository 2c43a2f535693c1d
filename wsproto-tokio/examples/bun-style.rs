//! `bun-style`: the Bun + Hono WebSocket server from the Node `ws` page.
//!
//! `stop` → the server closes the connection; any other message → `Hello from server!`. Logs the open, each
//! message, and the close code and reason (1000 normal closure, 1005 when the client's close had no status),
//! as Bun's `open`, `message` and `close` handlers do. `GET /` serves the same chat page as `broadcast` ("the
//! client code remains the same"); other plain requests get Bun's `500 WebSockets upgrade failed`.
//!
//! ```text
//! cargo run -p wsproto-tokio --example bun-style [ADDR (default 127.0.0.1:3001)] [--cert PEM --key PEM]
//! ```

mod common;

use std::sync::Arc;

use common::{Site, Stream};
use wsproto_tokio::{CloseCode, CloseOutcome, Error, Message, WebSocket};

const USAGE: &str = "bun-style [LISTEN_ADDR (default 127.0.0.1:3001)] [--cert CERT.pem --key KEY.pem]";

const CHAT: &str = include_str!("common/chat.html");

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--cert", "--key"], 1);
    let listener = common::bind(args.positional_or(0, "127.0.0.1:3001"), common::tls_acceptor(&args)).await;
    common::log(format_args!("WebSocket server is listening on port {}", listener.addr.port()));
    let site = Site {
        pages: &[("/", CHAT)],
        ws_paths: None,
        no_upgrade: (500, "WebSockets upgrade failed"),
        handler: |ws, _peer| websocket(ws),
    };
    common::serve(listener, Arc::new(site)).await;
}

async fn websocket(mut ws: WebSocket<Stream>) -> Result<CloseOutcome, Error> {
    common::log("WebSocket is open.");
    while let Some(msg) = common::recv_data(&mut ws).await? {
        match &msg {
            Message::Text(t) => common::log(format_args!("received {:?}", t.as_str())),
            other => common::log(format_args!("received {} bytes", other.clone().into_data().len())),
        }
        if msg.as_text() == Some("stop") {
            break;
        }
        ws.send("Hello from server!").await?;
    }
    // After `stop` this sends our close (1000); after the client's close it only finishes the handshake.
    let outcome = ws.close(CloseCode::NORMAL, "").await?;
    common::log(format_args!("WebSocket closed with code {}", outcome.code().0));
    if let CloseOutcome::Clean { remote, .. } = &outcome {
        if !remote.reason.is_empty() {
            common::log(format_args!("WebSocket closed with message {:?}", remote.reason));
        }
    }
    Ok(outcome)
}
