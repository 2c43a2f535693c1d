//! Borrowed, batched event handling: [`Connection::poll_events`] and the [`Responder`] its handler replies
//! through.
//!
//! [`Connection::poll_event`] hands out owned [`Event`](crate::Event)s: each message is split off the receive
//! buffer as a reference-counted `Bytes`, which costs a few atomic operations and, together with the
//! caller's bookkeeping, more CPU than the kernel spends moving a small message. `poll_events` instead walks
//! every frame already in the buffer and calls a handler with the payload **borrowed** in place (unmasked,
//! text validated), while the handler encodes its replies into the same output buffer. Frames that are not a
//! whole single-frame message already in the buffer (fragments, control frames, compressed messages, partial
//! frames, anything invalid) go through `poll_event`'s general path and reach the handler as a borrowed view
//! of the owned event, so both paths deliver the same events in the same order with the same errors.

use core::ops::ControlFlow;

use bytes::{Buf, Bytes};

use super::{Connection, Role};
use crate::close::CloseCode;
use crate::config::ReceiveMode;
use crate::connection::{Compress, Encoded};
use crate::error::{ProtocolError, SendError};
use crate::event::{DataKind, EventRef};
use crate::mask::apply_mask;

/// The commands available to a [`Connection::poll_events`] handler: they encode into the output buffer given
/// to `poll_events`, after any frames the connection queued on its own (as the [`Connection`] commands do).
#[derive(Debug)]
pub struct Responder<'a> {
    conn: &'a mut Connection,
    out: &'a mut Vec<u8>,
    /// The current event's payload when the connection holds it in a buffer of its own (a reassembled or
    /// large message): what [`send_shared`](Self::send_shared) can send without copying.
    shared: Option<&'a Bytes>,
}

impl Responder<'_> {
    /// Encodes a whole text message (see [`Connection::send_text`]).
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.conn.send_text(text, self.out)
    }

    /// Encodes a whole binary message (see [`Connection::send_binary`]).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.conn.send_binary(data, self.out)
    }

    /// Encodes a whole message (see [`Connection::send`]).
    pub fn send(&mut self, kind: DataKind, data: &[u8], compress: Compress) -> Result<(), SendError> {
        self.conn.send(kind, data, compress, self.out)
    }

    /// Encodes one frame of a fragmented message (see [`Connection::send_fragment`]).
    pub fn send_fragment(&mut self, kind: DataKind, data: &[u8], last: bool) -> Result<(), SendError> {
        self.conn.send_fragment(kind, data, last, self.out)
    }

    /// Encodes a ping (see [`Connection::send_ping`]).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.conn.send_ping(payload, self.out)
    }

    /// Encodes an unsolicited pong (see [`Connection::send_pong`]).
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.conn.send_pong(payload, self.out)
    }

    /// Starts the closing handshake (see [`Connection::close`]); later events are still delivered.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.conn.close(code, reason, self.out)
    }

    /// Like [`send`](Self::send) with [`Compress::Auto`], for `data` taken from the current event, without
    /// copying it when it can go on the wire unchanged (see [`Connection::send_unbuffered`]): when `data` lies
    /// within a payload the connection holds in a buffer of its own (reassembled or large messages — small
    /// single-frame messages are handled in the receive buffer, which is reused) and this is a server without
    /// compression for it, only the frame header goes into the output buffer and the payload comes back as
    /// shared `Bytes`, to be written right after the output buffer's bytes so far (e.g. with vectored I/O).
    /// Otherwise the whole frame is encoded and `None` comes back.
    pub fn send_shared(&mut self, kind: DataKind, data: &[u8]) -> Result<Option<Bytes>, SendError> {
        let within = |b: &&Bytes| {
            let (start, end) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
            let at = data.as_ptr() as usize;
            start <= at && at + data.len() <= end
        };
        match self.shared.filter(within) {
            Some(bytes) if !data.is_empty() => match self.conn.send_unbuffered(kind, data, self.out)? {
                Encoded::HeaderOnly => Ok(Some(bytes.slice_ref(data))),
                Encoded::Whole => Ok(None),
            },
            _ => self.send(kind, data, Compress::Auto).map(|()| None),
        }
    }

    /// Bytes in the output buffer so far (e.g. to stop the batch past a high-water mark).
    pub fn buffered(&self) -> usize {
        self.out.len()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.conn.role
    }
}

impl Connection {
    /// Handles every event that the buffered input holds, in order, calling `handler` with each one borrowed
    /// and a [`Responder`] that encodes replies into `out` — step 2 and 3 of the drive contract in one call,
    /// without allocating or reference counting per message.
    ///
    /// Returns how many events were handled once more input is needed (or the connection is finished), or
    /// as soon as `handler` returns [`ControlFlow::Break`] (call again to go on). The error that fails the
    /// connection is returned after the events before it were handled, and again on every later call, as
    /// [`poll_event`](Self::poll_event) does. The two can be mixed freely.
    ///
    /// ```
    /// # use std::ops::ControlFlow;
    /// # use wsproto::{Config, Connection, EventRef, Role};
    /// # let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    /// # conn.feed(&[0x82, 0x82, 1, 2, 3, 4, 0x6b, 0x6b]).unwrap();
    /// let mut out = Vec::new();
    /// // An echo server: every data message goes back as it came.
    /// let handled = conn.poll_events(&mut out, |event, tx| {
    ///     match event {
    ///         EventRef::Text(t) => tx.send_text(t).unwrap_or(()),
    ///         EventRef::Binary(b) => tx.send_binary(b).unwrap_or(()),
    ///         _ => {}
    ///     }
    ///     ControlFlow::Continue(())
    /// });
    /// assert_eq!(handled, Ok(1));
    /// assert_eq!(out, [0x82, 0x02, b'j', b'i']);
    /// ```
    pub fn poll_events<F>(&mut self, out: &mut Vec<u8>, mut handler: F) -> Result<usize, ProtocolError>
    where
        F: FnMut(EventRef<'_>, &mut Responder<'_>) -> ControlFlow<()>,
    {
        let mut handled = 0;
        loop {
            if self.frame.is_none() && self.message.is_none() && self.failed.is_none() && !self.received_close {
                let (n, flow) = self.whole_frames(out, &mut handler);
                handled += n;
                if flow.is_break() {
                    return Ok(handled);
                }
            }
            let event = match self.poll_event() {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(handled),
                Err(e) => return Err(e),
            };
            handled += 1;
            let shared = event.shared_payload();
            if handler(event.as_event_ref(), &mut Responder { conn: self, out, shared }).is_break() {
                return Ok(handled);
            }
        }
    }

    /// The fast path: whole single-frame, uncompressed data messages at the front of the receive buffer,
    /// handled in place. Stops at the first frame that is anything else (it is left untouched for the general
    /// path, which also reports every error).
    fn whole_frames<F>(&mut self, out: &mut Vec<u8>, handler: &mut F) -> (usize, ControlFlow<()>)
    where
        F: FnMut(EventRef<'_>, &mut Responder<'_>) -> ControlFlow<()>,
    {
        // The buffer is moved out while the handler runs with the connection (the Responder cannot reach the
        // receive side), and put back with the handled frames removed.
        let mut recv = core::mem::take(&mut self.recv);
        let expect_mask = self.role == Role::Server;
        let max_len = self.config.max_frame_payload.min(self.config.max_message_size);
        let streaming = self.config.receive_mode == ReceiveMode::Streaming;
        let (mut at, mut handled, mut flow) = (0, 0, ControlFlow::Continue(()));
        while let Some(&[b0, b1]) = recv.get(at..at + 2) {
            // FIN, no RSV bits, text or binary (RFC 6455 §5.2); the mask bit as the role requires (§5.1).
            let opcode = b0 ^ 0x80;
            if !(opcode == 0x1 || opcode == 0x2) || (b1 & 0x80 != 0) != expect_mask {
                break;
            }
            let (len, mut head) = match b1 & 0x7f {
                126 => match recv.get(at + 2..at + 4) {
                    Some(&[a, b]) => (u16::from_be_bytes([a, b]) as u64, 4),
                    _ => break,
                },
                // 64-bit lengths are large messages: the general path reads them.
                127 => break,
                n => (n as u64, 2),
            };
            if len > max_len {
                break;
            }
            let key = if expect_mask {
                let Some(&[k0, k1, k2, k3]) = recv.get(at + head..at + head + 4) else { break };
                head += 4;
                Some([k0, k1, k2, k3])
            } else {
                None
            };
            let start = at + head;
            let end = start + len as usize;
            let Some(payload) = recv.get_mut(start..end) else { break };
            if let Some(key) = key {
                apply_mask(payload, key, 0);
            }
            let text = if opcode == 0x1 {
                match core::str::from_utf8(payload) {
                    Ok(text) => Some(text),
                    Err(_) => {
                        // Left for the general path to fail with 1007 (RFC 6455 §8.1), masked as it came.
                        if let Some(key) = key {
                            apply_mask(payload, key, 0);
                        }
                        break;
                    }
                }
            } else {
                None
            };
            let event = match (streaming, text) {
                // A whole message in streaming mode is its own first and last chunk.
                (true, _) => EventRef::Fragment {
                    kind: if text.is_some() { DataKind::Text } else { DataKind::Binary },
                    data: &*payload,
                    first: true,
                    last: true,
                },
                (false, Some(text)) => EventRef::Text(text),
                (false, None) => EventRef::Binary(&*payload),
            };
            at = end;
            handled += 1;
            flow = handler(event, &mut Responder { conn: self, out, shared: None });
            if flow.is_break() {
                break;
            }
        }
        recv.advance(at);
        self.recv = recv;
        (handled, flow)
    }
}
