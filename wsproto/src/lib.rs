//! # wsproto: a sans-IO WebSocket (RFC 6455) core
//!
//! `wsproto` implements the WebSocket protocol as pure state machines: **bytes in, events out; messages in,
//! bytes out; the caller's time in, deadlines out**. It never touches a socket, a runtime, a clock or a hidden
//! random source, so any runtime can drive it: tokio (`wsproto-tokio`), a blocking thread
//! (`examples/blocking.rs`), another executor, an HTTP server's upgrade, or a test.
//!
//! ## The drive contract
//!
//! A [`Connection`] (after the [`handshake`]) has four kinds of methods. A driver repeats, at each wake-up:
//!
//! | step | methods | what happens |
//! |---|---|---|
//! | time | [`handle_timeout(now)`](Connection::handle_timeout) | keepalive pings, pong, close and message deadlines fire |
//! | input | [`feed`](Connection::feed), [`feed_eof`](Connection::feed_eof) | bytes from the transport (at most [`recv_capacity`](Connection::recv_capacity)) |
//! | events | [`poll_event`](Connection::poll_event), or [`poll_batch`](Connection::poll_batch) with a handler | messages, pings, pongs, the peer's close; a [`ProtocolError`] fails the connection (sticky, with its close code) |
//! | commands | [`send_text`](Connection::send_text), [`send_binary`](Connection::send_binary), [`send`](Connection::send), [`send_fragment`](Connection::send_fragment), [`send_ping`](Connection::send_ping), [`close`](Connection::close) | encode frames into a caller-owned `Vec<u8>`; a [`SendError`] is the caller's and changes nothing |
//! | output | [`poll_transmit`](Connection::poll_transmit), [`wants_transport_closed`](Connection::wants_transport_closed), [`poll_timeout`](Connection::poll_timeout) | frames the connection sends on its own; when to close the transport (RFC 6455 §7.1.1); when to wake up next |
//!
//! ```
//! use std::time::Duration;
//! use wsproto::{Config, Connection, Event, Instant, Keepalive, Role};
//!
//! // A server connection with keepalive, driven by hand: the "transport" is a Vec.
//! let config = Config::default().with_keepalive(Some(Keepalive::new(Duration::from_secs(30), Duration::from_secs(10))));
//! let mut conn = Connection::new(Role::Server, config, [0; 32]).unwrap();
//! let mut out = Vec::new();
//!
//! conn.handle_timeout(Instant::ZERO);                                  // time
//! conn.feed(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]).unwrap();   // input: a masked text frame "hi"
//! while let Some(event) = conn.poll_event().unwrap() {                 // events
//!     if let Event::Text(text) = event {
//!         conn.send_text(&text, &mut out).unwrap();                    // commands: echo it
//!     }
//! }
//! conn.poll_transmit(&mut out);                                        // output
//! assert_eq!(out, [0x81, 0x02, b'h', b'i']);
//! assert!(!conn.wants_transport_closed());
//! assert_eq!(conn.poll_timeout(), Some(Instant::ZERO + Duration::from_secs(30))); // sleep until then
//! ```
//!
//! `examples/blocking.rs` is a complete driver over `std::net::TcpStream`; `wsproto-tokio` is one over tokio.
//!
//! ## The pieces
//!
//! - [`handshake`]: the opening handshake (RFC 6455 §4) for both roles. [`handshake::ServerHandshake`] parses a
//!   request and lets the application accept or refuse it (errors carry the HTTP status: 400, 408, 414, 426,
//!   431); [`handshake::ClientHandshake`] writes a request and validates the response. Bytes after the head go
//!   to the [`Connection`]. For another HTTP stack: [`handshake::validate_request`],
//!   [`handshake::accept_key`], [`handshake::validate_response`].
//! - [`Connection`]: framing (§5), masking, fragmentation, UTF-8 (§8.1), ping/pong, the closing handshake
//!   (§7) as a [`State`], deadlines, and permessage-deflate (RFC 7692, cargo feature `deflate`).
//! - [`Config`]: every limit and deadline, with safe defaults and builder methods.
//! - Errors say whose fault they are: the peer's [`ProtocolError`] (with the close code that goes on the
//!   wire), the caller's [`SendError`], [`BufferFull`] and [`ConfigError`], and the handshakes' errors (with
//!   the HTTP status).
//! - Randomness: a client's masking keys come from a generator seeded by the caller, so whole conversations
//!   replay in tests.
//!
//! ## Driver support
//!
//! A few methods exist for drivers that manage memory closely (as `wsproto-tokio` does): reading straight
//! into the receive buffer ([`read_buf`](Connection::read_buf), [`awaiting_payload`](Connection::awaiting_payload)),
//! giving memory back when quiet ([`release_recv_buffer`](Connection::release_recv_buffer),
//! [`recv_buffer_capacity`](Connection::recv_buffer_capacity), [`buffered_len`](Connection::buffered_len)),
//! and sending a large payload without copying it ([`send_zero_copy`](Connection::send_zero_copy),
//! [`Responder::send_zero_copy`]). A simple driver needs none of them.
// No `std` in the library itself (only `alloc`); its unit tests run with the standard library.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(all(feature = "std", not(test)))]
extern crate std;

mod prelude;

mod budget;
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

pub use budget::Budget;
pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame};
pub use config::{Config, Keepalive, ReceiveMode};
pub use connection::{
    CloseOutcome, Compress, Connection, Encoded, PreparedMessage, Responder, Role, State, MAX_PENDING_PONGS,
};
pub use deflate::{DeflateConfig, DeflateParamError, DeflateParams};
pub use error::{BufferFull, ConfigError, ProtocolError, SendError, Timeout};
pub use event::{DataKind, Event, EventRef, Fragment, Utf8Bytes};
pub use frame::FrameError;
pub use time::Instant;
