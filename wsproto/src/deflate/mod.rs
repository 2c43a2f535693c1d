//! permessage-deflate, RFC 7692: [`negotiate`] (the offer and the answer, §5 and §7.1) and [`codec`] (the
//! per-message compressor and decompressor, §7.2). Neither imports from the handshake or the connection: they
//! use this module, not the other way round.
//!
//! Compiled with the `deflate` cargo feature. Compression uses `flate2` with the pure-Rust `zlib-rs` backend.
//!
//! # What we offer and accept
//!
//! - A client offers `permessage-deflate; client_max_window_bits` plus whatever [`DeflateConfig`] asks for.
//! - A server accepts the first offer it can honour, answering with exactly one element.
//! - Window bits 8: zlib cannot compress with a 256-byte window (it silently uses 512), so output might refer
//!   further back than a peer with an 8-bit window can see. When our sending window is limited to 8 bits, we
//!   send every message **uncompressed** (RSV1 clear), which RFC 7692 allows per message. Receiving always
//!   works: we inflate with a window of at least what the peer may use.
//!
//! # Memory per connection
//!
//! Both codecs are created on first use, so a connection that never sends or receives a compressed message
//! pays nothing (about 2.2 KB of server memory per idle connection, measured with 1,000 connections by
//! `bench/`'s `idle-conns`). Once a connection has exchanged a compressed message both ways, it holds both
//! codecs: measured **about 339 KiB per connection with 15-bit windows and 210 KiB with 9-bit windows**
//! (zlib-rs at level 6: the deflate window, hash chains and pending buffer dominate). With
//! `no_context_takeover` a codec is reset after each message but kept, so the figure is the same; servers with
//! many mostly idle connections should negotiate smaller windows (`server_max_window_bits`) or turn deflate off.

mod codec;
mod negotiate;

pub(crate) use codec::Codec;
pub(crate) use negotiate::from_response;
pub use negotiate::{DeflateConfig, DeflateParamError, DeflateParams, EXTENSION_NAME};
