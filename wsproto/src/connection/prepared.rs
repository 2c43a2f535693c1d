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
/// again per connection. Where a connection cannot use it as it is — a client (whose frames are masked with
/// keys of its own, RFC 6455 §5.3), or a connection whose permessage-deflate compresses the message — the frame
/// is encoded for that connection as [`Connection::send`] would.
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
        PreparedMessage(Arc::new(Prepared { kind, frame: Bytes::from(frame), header_len }))
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
    /// connection that sends the message uncompressed gets the shared frame back, to write right after `out`'s
    /// bytes (e.g. with vectored I/O): nothing is copied. Otherwise — a client, or permessage-deflate
    /// compressing this message ([`Compress::Auto`]) — the frame is encoded into `out` and `None` comes back.
    pub fn send_prepared(&mut self, msg: &PreparedMessage, out: &mut Vec<u8>) -> Result<Option<Bytes>, SendError> {
        let compresses = self.deflate.as_ref().is_some_and(|c| c.wants_to_compress(msg.payload().len()));
        if self.role == Role::Client || compresses {
            self.send(msg.kind(), msg.payload(), Compress::Auto, out)?;
            return Ok(None);
        }
        self.check_send_message()?;
        self.poll_transmit(out);
        Ok(Some(msg.frame().clone()))
    }
}
