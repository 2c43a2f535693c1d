//! Encode once, send to many: a [`PreparedMessage`] is framed once, and every server connection sends the
//! same bytes (RFC 6455 §5.1: a server's frames are not masked, so they do not depend on the connection).

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::sync::Arc;

use bytes::Bytes;

use super::{Compress, Connection, Role};
use crate::error::SendError;
use crate::event::DataKind;
use crate::frame::FrameHeader;

/// A whole message framed once, for broadcast: chat, market data, dashboards, game state. Cheap to clone
/// (clones share the bytes).
///
/// [`Connection::send_prepared`] hands a server connection the shared frame: no payload is copied or framed
/// again per connection. With permessage-deflate, a server that resets its compressor for every message
/// (`server_no_context_takeover`, RFC 7692 §7.1.1.1) compresses the message once per distinct (level, window
/// bits) and shares that frame too; one that keeps its compression context must compress for itself, as
/// [`Connection::send`] does. A client masks its frames with keys of its own (RFC 6455 §5.3), so it always
/// encodes its copy.
///
/// ```
/// use wsproto::{Config, Connection, DataKind, PreparedMessage, Role};
///
/// let msg = PreparedMessage::new(DataKind::Text, "tick 42");
/// let mut subscribers: Vec<Connection> =
///     (0..3).map(|_| Connection::new(Role::Server, Config::default().with_deflate(None), [0; 32]).unwrap()).collect();
/// for conn in &mut subscribers {
///     let mut out = Vec::new();
///     let frame = conn.send_prepared(&msg, &mut out).unwrap().expect("a server shares the frame");
///     assert!(out.is_empty());                       // nothing else was due
///     assert_eq!(frame.as_ptr(), msg.frame().as_ptr()); // the same bytes for every subscriber
/// }
/// ```
#[derive(Debug, Clone)]
pub struct PreparedMessage(Arc<Prepared>);

#[derive(Debug)]
struct Prepared {
    kind: DataKind,
    /// The unmasked frame: header and payload (RFC 6455 §5.2).
    frame: Bytes,
    /// Where the payload starts in `frame`.
    header_len: usize,
    /// Compressed frames, one per (level, window bits), made by the first connection that needs each.
    #[cfg(feature = "deflate")]
    compressed: std::sync::Mutex<Vec<((u32, u8), Bytes)>>,
}

impl PreparedMessage {
    /// Frames `payload` as a whole message of `kind` (one copy, here, into the frame). For text, the caller
    /// ensures `payload` is UTF-8 (a `&str` or `String` always is).
    pub fn new(kind: DataKind, payload: impl AsRef<[u8]>) -> PreparedMessage {
        let payload = payload.as_ref();
        let header =
            FrameHeader { fin: true, rsv: 0, opcode: kind.into(), mask: None, payload_len: payload.len() as u64 };
        let mut frame = Vec::with_capacity(header.encoded_len() + payload.len());
        header.write_to(&mut frame);
        let header_len = frame.len();
        frame.extend_from_slice(payload);
        PreparedMessage(Arc::new(Prepared {
            kind,
            frame: Bytes::from(frame),
            header_len,
            #[cfg(feature = "deflate")]
            compressed: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// The message's kind.
    pub fn kind(&self) -> DataKind {
        self.0.kind
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.0.frame[self.0.header_len..]
    }

    /// The frame a server sends: header and payload, shared.
    pub fn frame(&self) -> &Bytes {
        &self.0.frame
    }
}

impl Connection {
    /// Sends a [`PreparedMessage`]. Frames the connection queued on its own go into `out` first. A server
    /// connection gets a shared frame back — the uncompressed one, or, where permessage-deflate compresses the
    /// message ([`Compress::Auto`]) without context takeover, the one compressed for its parameters — to write
    /// right after `out`'s bytes (e.g. with vectored I/O): nothing is copied. Otherwise (a client, or a server
    /// that keeps its compression context) the frame is encoded into `out` and `None` comes back.
    pub fn send_prepared(&mut self, msg: &PreparedMessage, out: &mut Vec<u8>) -> Result<Option<Bytes>, SendError> {
        let compresses = self.deflate.as_ref().is_some_and(|c| c.wants_to_compress(msg.payload().len()));
        if self.role == Role::Client {
            self.send(msg.kind(), msg.payload(), Compress::Auto, out)?;
            return Ok(None);
        }
        if compresses {
            return self.send_prepared_compressed(msg, out);
        }
        self.check_send_message()?;
        self.poll_transmit(out);
        Ok(Some(msg.frame().clone()))
    }

    #[cfg(feature = "deflate")]
    fn send_prepared_compressed(
        &mut self,
        msg: &PreparedMessage,
        out: &mut Vec<u8>,
    ) -> Result<Option<Bytes>, SendError> {
        let key = self.deflate.as_ref().and_then(|c| c.stateless_key());
        let Some(key) = key else {
            // Our compressor keeps its context: the bytes depend on what this connection sent before.
            self.send(msg.kind(), msg.payload(), Compress::Auto, out)?;
            return Ok(None);
        };
        self.check_send_message()?;
        self.poll_transmit(out);
        let mut cache = msg.0.compressed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, frame)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(Some(frame.clone()));
        }
        // The first connection with these parameters compresses (its compressor starts afresh for every
        // message, so the result is what any of them would send) and leaves the frame for the others.
        let mut frame = Vec::new();
        self.encode_compressed(msg.kind(), msg.payload(), &mut frame);
        let frame = Bytes::from(frame);
        cache.push((key, frame.clone()));
        Ok(Some(frame))
    }

    #[cfg(not(feature = "deflate"))]
    fn send_prepared_compressed(&mut self, _: &PreparedMessage, _: &mut Vec<u8>) -> Result<Option<Bytes>, SendError> {
        unreachable!("permessage-deflate is never negotiated without the `deflate` feature")
    }
}
