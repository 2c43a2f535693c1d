//! `subscriptions`: the ZIO HTTP "advanced" WebSocket server at `ws://…:8080/subscriptions`.
//!
//! - once the handshake completes, the server sends `Greetings!`;
//! - `foo` → `bar`, `bar` → `foo`;
//! - `end` → the server closes the connection (1000);
//! - any other message is sent back 10 times.
//!
//! ```text
//! cargo run -p wsproto-tokio --example subscriptions [ADDR] [--cert PEM --key PEM]
//! cargo run -p wsproto-tokio --example console-client     # in another terminal
//! ```

mod common;

use std::sync::Arc;

use common::{Site, Stream};
use wsproto_tokio::{CloseCode, CloseOutcome, Error, WebSocket};

const USAGE: &str = "subscriptions [LISTEN_ADDR (default 127.0.0.1:8080)] [--cert CERT.pem --key KEY.pem]";

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--cert", "--key"], 1);
    let listener = common::bind(args.positional_or(0, "127.0.0.1:8080"), common::tls_acceptor(&args)).await;
    common::log(format_args!("WebSocket endpoint: {}://{}/subscriptions", listener.ws_scheme(), listener.addr));
    let site = Site {
        pages: &[],
        ws_paths: Some(&["/subscriptions"]),
        no_upgrade: (426, "WebSocket upgrade required\n"),
        handler: |ws, _peer| subscriptions(ws),
    };
    common::serve(listener, Arc::new(site)).await;
}

async fn subscriptions(mut ws: WebSocket<Stream>) -> Result<CloseOutcome, Error> {
    ws.send("Greetings!").await?;
    while let Some(msg) = common::recv_data(&mut ws).await? {
        match msg.as_text() {
            Some("end") => break,
            Some("foo") => ws.send("bar").await?,
            Some("bar") => ws.send("foo").await?,
            _ => {
                // Queue the ten copies, then write them together.
                for _ in 0..10 {
                    ws.queue(msg.clone()).await?;
                }
                ws.flush().await?;
            }
        }
    }
    ws.close(CloseCode::NORMAL, "").await
}
