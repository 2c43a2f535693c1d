//! `axum`: a WebSocket route in an axum 0.8 app, next to a page that opens it.
//!
//! `GET /` serves a page whose script opens `ws://<host>/ws` with the subprotocol `echo`, sends a few
//! messages and writes what it got back, and the negotiated `ws.extensions` and `ws.protocol`, into the page.
//! `/ws` echoes data messages; it answers HTTP/1.1 upgrades and, over HTTP/2 (h2c here; `axum::serve` enables
//! extended CONNECT), RFC 8441 requests, with permessage-deflate and the subprotocol negotiated by the core.
//!
//! ```text
//! cargo run -p wsproto-tokio --features axum --example axum [ADDR]
//! ```
//! then open <http://localhost:8080>.

use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use wsproto_tokio::axum::WebSocketUpgrade;

const PAGE: &str = include_str!("axum.html");

// The route: the extractor, the subprotocols, the session.
async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.protocols(["echo"]).on_upgrade(|mut ws| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_data() && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let app = Router::new().route("/", get(|| async { Html(PAGE) })).route("/ws", any(ws));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on ws://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
