//! # wsproto-tokio: a thin tokio driver for the `wsproto` core
//!
//! The protocol lives in [`wsproto`]; this crate only moves bytes, events and deadlines between a tokio
//! socket and the core.
//!
//! - Server: [`accept`] (any upgrade) or [`accept_with`] (a hook sees the request — path, headers,
//!   subprotocols, origin — and accepts or rejects; plain HTTP requests come back to be answered, so a page
//!   and its WebSocket share one port).
//! - Client: [`connect`] / [`connect_with`] for `ws://` and `wss://` URLs (TLS by Cargo feature: `rustls`, the
//!   default, `rustls-platform-verifier` or `native-tls`; see [`tls`]; pass your own
//!   `ClientConfig` to trust a self-signed certificate), or [`client_handshake`] over any stream.
//! - [`WebSocket`]: `recv`, `send`, `queue` + `flush`, `close`; `Stream` + `Sink`. Writes are coalesced: replies
//!   sent while more input is buffered leave together in one write before the connection waits for input,
//!   and a lone send is written at once, so the plain `recv` + `send` loop below batches pipelined messages;
//!   [`WebSocket::recv_with`] handles every buffered message borrowed in place and replies in the same batch;
//!   [`WebSocket::split`] into halves for different tasks (the [`WsSender`] is a `Sink<Message>`; sends from
//!   any number of tasks leave in the driver's next write).
//! - Inside an HTTP server: [`WebSocket::from_upgraded`] over any upgraded stream; the `axum` feature's
//!   extractor (`axum::WebSocketUpgrade`) and the `hyper` feature's `hyper::upgrade`, over HTTP/1.1 and
//!   HTTP/2 (RFC 8441), with subprotocols and permessage-deflate negotiated by the core.
//! - Broadcast: [`WebSocket::send_prepared`] / [`WsSender::send_prepared`] send a [`PreparedMessage`] framed
//!   once, from shared bytes; a [`Hub`] publishes to many connections with a bound per slow subscriber.
//! - Backpressure (a write high-water mark), handshake and close timeouts, optional keepalive: [`Config`].
//! - Observability: [`Stats`] counts every refusal (by HTTP status) and every end (by close code; failures,
//!   budget refusals and timeouts by kind) for the connections that share it; the `tracing` feature adds a
//!   span per connection and an event for each (listed in the workspace README's "Observability" section).
//!
//! ```no_run
//! # async fn run() -> Result<(), wsproto_tokio::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9002").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut ws = wsproto_tokio::accept(tcp).await?;
//!         while let Some(msg) = ws.recv().await {
//!             let msg = msg?;
//!             if msg.is_data() { ws.send(msg).await?; }
//!         }
//!         Ok::<_, wsproto_tokio::Error>(())
//!     });
//! }
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod client;
mod config;
mod error;
mod handshake;
mod hub;
#[cfg(feature = "hyper")]
pub mod hyper;
mod message;
mod outq;
mod server;
mod socket;
mod split;
pub mod stats;
mod time;
pub mod tls;
mod trace;

pub use client::{client_handshake, connect, connect_with, ConnectOptions, MaybeTlsStream};
pub use config::{Config, Keepalive};
pub use error::{Error, TimeoutKind};
pub use hub::{Hub, HubConfig, Published, SlowPolicy, SubscriberId};
pub use message::Message;
pub use server::{accept, accept_with, Accepted, HttpRequest, Reject};
pub use socket::{Replies, WebSocket};
pub use split::{WsReceiver, WsSender};
pub use stats::{Stats, StatsSnapshot};
pub use wsproto;
pub use wsproto::handshake::{Accept, UpgradeRequest};
pub use wsproto::{CloseCode, CloseFrame, CloseOutcome, DataKind, EventRef, PreparedMessage};
