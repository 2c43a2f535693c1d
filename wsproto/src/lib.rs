//! # wsproto: a sans-IO WebSocket (RFC 6455) core
//!
//! `wsproto` implements the WebSocket protocol as pure state machines: **bytes in, events out; messages in,
//! bytes out**. It never touches a socket, a runtime, a clock or a hidden random source, so any runtime can
//! drive it — tokio (see `wsproto-tokio`), a blocking thread (see `examples/blocking.rs`), another executor,
//! or a test.
//!
//! ## Design
//!
//! - [`handshake`]: the opening handshake (§4) for both roles. [`handshake::ServerHandshake`] parses a request
//!   and lets the application accept or reject it; [`handshake::ClientHandshake`] builds a request and
//!   validates the response. Bytes after the HTTP head are handed on to the [`Connection`].
//! - [`Connection`]: framing (§5), fragmentation, UTF-8 (§8.1), ping/pong, and the closing handshake (§7),
//!   for either [`Role`]. Its drive contract: **inputs** ([`feed`](Connection::feed),
//!   [`feed_eof`](Connection::feed_eof)), **events** ([`poll_event`](Connection::poll_event)), **commands**
//!   that encode into a caller-owned buffer ([`send_text`](Connection::send_text), …), and **output**
//!   ([`poll_transmit`](Connection::poll_transmit) for frames the connection sends on its own).
//! - Errors say whose fault they are ([`error`]): a peer's [`ProtocolError`] carries the close code that goes
//!   on the wire and is sticky; a caller's [`SendError`] leaves the connection usable; handshake errors carry
//!   the HTTP status.
//! - Every limit is in [`Config`], with safe defaults.
//!
//! ## Driving a connection
//!
//! ```no_run
//! use wsproto::{Connection, Event, Role, Config};
//! # fn read(_: &mut [u8]) -> usize { 0 }
//! # fn write(_: &[u8]) {}
//! # fn close_transport() {}
//! let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
//! let mut out = Vec::new();
//! let mut buf = vec![0u8; 64 * 1024];
//! loop {
//!     // 1. input
//!     let room = conn.recv_capacity().min(buf.len());
//!     let n = read(&mut buf[..room]);
//!     if n == 0 { conn.feed_eof() } else { conn.feed(&buf[..n]).unwrap() }
//!     // 2. events, 3. commands
//!     loop {
//!         match conn.poll_event() {
//!             Ok(Some(Event::Text(t))) => conn.send_text(&t, &mut out).unwrap_or(()),
//!             Ok(Some(Event::Binary(b))) => conn.send_binary(&b, &mut out).unwrap_or(()),
//!             Ok(Some(_)) => {}
//!             Ok(None) => break,
//!             Err(e) => { eprintln!("{e}"); break }
//!         }
//!     }
//!     // 4. output
//!     conn.poll_transmit(&mut out);
//!     write(&out);
//!     out.clear();
//!     // 5. transport close
//!     if conn.wants_transport_closed() { close_transport(); break }
//! }
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod close;
mod config;
mod connection;
mod deflate;
mod error;
mod event;
pub mod handshake;
mod http_fields;
mod time;

/// The codec pieces under the connection, public only so that the fuzz targets and benchmarks can reach them:
/// not part of the API, and free to change.
#[doc(hidden)]
pub mod internal {
    pub mod frame;
    pub mod mask;
    pub mod utf8;
}
pub(crate) use internal::{frame, mask, utf8};

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Keepalive, ReceiveMode};
pub use connection::{CloseOutcome, Compress, Connection, Encoded, Responder, Role, State, MAX_PENDING_PONGS};
pub use deflate::{DeflateConfig, DeflateParamError, DeflateParams};
pub use error::{BufferFull, ConfigError, ProtocolError, SendError, Timeout};
pub use event::{DataKind, Event, EventRef, Fragment, Utf8Bytes};
pub use frame::FrameError;
pub use time::Instant;
