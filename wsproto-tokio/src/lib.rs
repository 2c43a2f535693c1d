//! # wsproto-tokio: a thin tokio driver for the `wsproto` core
//!
//! The protocol lives in [`wsproto`]; this crate only moves bytes, events and deadlines between a tokio
//! socket and the core.
//!
//! - Server: [`accept`] (any upgrade) or [`accept_with`] (a hook sees the request — path, headers,
//!   subprotocols, origin — and accepts or rejects; plain HTTP requests come back to be answered, so a page
//!   and its WebSocket share one port).
//! - Client: [`connect`] / [`connect_with`] for `ws://` and `wss://` URLs (rustls; pass your own
//!   `ClientConfig` to trust a self-signed certificate), or [`client_handshake`] over any stream.
//! - [`WebSocket`]: `recv`, `send`, `queue` + `flush`, `close`; `Stream` + `Sink`. Writes are coalesced: replies
//!   sent while more input is buffered leave together in one write before the connection waits for input,
//!   and a lone send is written at once, so the plain `recv` + `send` loop below batches pipelined messages;
//!   [`WebSocket::recv_with`] handles every buffered message borrowed in place and replies in the same batch;
//!   [`WebSocket::split`] into halves for different tasks (the [`WsSender`] is a `Sink<Message>`; sends from
//!   any number of tasks leave in the driver's next write).
//! - Broadcast: [`WebSocket::send_prepared`] / [`WsSender::send_prepared`] send a [`PreparedMessage`] framed
//!   once, from shared bytes; a [`Hub`] publishes to many connections with a bound per slow subscriber.
//! - Backpressure (a write high-water mark), handshake and close timeouts, optional keepalive: [`Config`].
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

mod client;
mod config;
mod error;
mod handshake;
mod hub;
mod message;
mod outq;
mod server;
mod socket;
mod split;
mod time;
pub mod tls;

pub use client::{client_handshake, connect, connect_with, ConnectOptions, MaybeTlsStream};
pub use config::{Config, Keepalive};
pub use error::{Error, TimeoutKind};
pub use hub::{Hub, HubConfig, Published, SlowPolicy, SubscriberId};
pub use message::Message;
pub use server::{accept, accept_with, Accepted, HttpRequest, Reject};
pub use socket::{Replies, WebSocket};
pub use split::{WsReceiver, WsSender};
pub use wsproto;
pub use wsproto::handshake::{Accept, UpgradeRequest};
pub use wsproto::{CloseCode, CloseFrame, CloseOutcome, DataKind, EventRef, PreparedMessage};
