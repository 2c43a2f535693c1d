//! Commands (RFC 6455 §5.2–§5.5, §7.1.2): messages, fragments, control frames and the close frame, encoded
//! into a caller-owned buffer, and [`Connection::poll_transmit`] for the frames the connection sends on its
//! own. Every frame is encoded by [`Connection::encode_frame`].

#[allow(unused_imports)]
use crate::prelude::*;

use rand::Rng;

use super::state::Input;
use super::{Compress, Connection, Role, RSV1};
use crate::close::CloseCode;
use crate::error::SendError;
use crate::event::DataKind;
use crate::frame::{FrameHeader, OpCode};

/// What [`Connection::send_zero_copy`] put in the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "with HeaderOnly the caller must write the payload after the buffer"]
pub enum Encoded {
    /// The whole frame.
    Whole,
    /// Only the header: the payload follows, unchanged, written by the caller.
    HeaderOnly,
}

/// The payload of the keepalive ping (see [`Config::keepalive`](crate::Config::keepalive)).
pub(super) const KEEPALIVE_PING: &[u8] = b"keepalive";

impl Connection {
    /// Encodes a whole text message (one frame) into `out`.
    pub fn send_text(&mut self, text: &str, out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send(DataKind::Text, text.as_bytes(), Compress::Auto, out)
    }

    /// Encodes a whole binary message (one frame) into `out`.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Role};
    /// let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    /// let mut out = Vec::new();
    /// conn.send_binary(b"hi", &mut out).unwrap();
    /// assert_eq!(out, [0x82, 0x02, b'h', b'i']); // FIN + binary, unmasked length 2 (RFC 6455 §5.2)
    /// ```
    pub fn send_binary(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send(DataKind::Binary, data, Compress::Auto, out)
    }

    /// Encodes a whole message (one frame) into `out`, choosing whether to compress it when permessage-deflate
    /// is on ([`Compress::Auto`] follows the configured threshold).
    #[inline]
    pub fn send(
        &mut self,
        kind: DataKind,
        data: &[u8],
        compress: Compress,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_send_message()?;
        self.poll_transmit(out);
        if self.deflate.is_some() && compress != Compress::Never {
            self.send_maybe_compressed(kind, data, compress, out);
        } else {
            self.encode_frame(kind.into(), true, 0, data, out);
        }
        Ok(())
    }

    /// A whole message compressed (the caller checked that the codec compresses it), as one frame into `out`.
    pub(super) fn encode_compressed(&mut self, kind: DataKind, data: &[u8], out: &mut Vec<u8>) {
        let codec = self.deflate.as_mut().expect("deflate on");
        let wire = codec.compress(data, true);
        self.encode_frame(kind.into(), true, RSV1, &wire, out);
        self.deflate.as_mut().expect("deflate on").put_scratch(wire);
    }

    /// A message when permessage-deflate is on: compressed if `compress` and the codec say so.
    #[inline(never)]
    fn send_maybe_compressed(&mut self, kind: DataKind, data: &[u8], compress: Compress, out: &mut Vec<u8>) {
        let compressed = match (&self.deflate, compress) {
            (Some(codec), Compress::Auto) => codec.wants_to_compress(data.len()),
            (Some(codec), Compress::Always) => codec.can_compress(),
            _ => false,
        };
        if compressed {
            self.encode_compressed(kind, data, out);
        } else {
            self.encode_frame(kind.into(), true, 0, data, out);
        }
    }

    /// Like [`send`](Self::send) with [`Compress::Auto`], but when the payload would go on the wire unchanged
    /// (a server's uncompressed message: no masking, no deflate) only the frame header is appended to `out`
    /// and [`Encoded::HeaderOnly`] says so: the caller writes `payload` itself right after `out`'s bytes, e.g.
    /// with vectored I/O, saving a copy of large payloads. Otherwise the whole frame is in `out`
    /// ([`Encoded::Whole`]).
    pub fn send_zero_copy(&mut self, kind: DataKind, payload: &[u8], out: &mut Vec<u8>) -> Result<Encoded, SendError> {
        let verbatim =
            self.role == Role::Server && !self.deflate.as_ref().is_some_and(|c| c.wants_to_compress(payload.len()));
        if !verbatim {
            self.send(kind, payload, Compress::Auto, out)?;
            return Ok(Encoded::Whole);
        }
        self.check_send_message()?;
        self.poll_transmit(out);
        FrameHeader { fin: true, rsv: 0, opcode: kind.into(), mask: None, payload_len: payload.len() as u64 }
            .write_to(out);
        Ok(Encoded::HeaderOnly)
    }

    /// Encodes one frame of a fragmented message (RFC 6455 §5.4): the first call starts a message of `kind`,
    /// later calls continue it, and the call with `last = true` ends it. Control frames may be sent between
    /// fragments. For text, the caller ensures the whole message is UTF-8 (fragments may split code points).
    pub fn send_fragment(
        &mut self,
        kind: DataKind,
        data: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.life.can_send()?;
        let opcode = match self.sending {
            None => OpCode::from(kind),
            Some(k) if k == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::FragmentInProgress),
        };
        self.poll_transmit(out);
        if self.sending.is_none() {
            self.sending_compressed = self.deflate.as_ref().is_some_and(|c| c.can_compress());
        }
        let rsv = if self.sending.is_none() && self.sending_compressed { RSV1 } else { 0 };
        match self.deflate.as_mut() {
            Some(codec) if self.sending_compressed => {
                let wire = codec.compress(data, last);
                self.encode_frame(opcode, last, rsv, &wire, out);
                self.deflate.as_mut().expect("checked above").put_scratch(wire);
            }
            _ => self.encode_frame(opcode, last, rsv, data, out),
        }
        self.sending = if last { None } else { Some(kind) };
        Ok(())
    }

    /// Encodes a ping (payload at most 125 bytes) into `out`.
    pub fn send_ping(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload, out)
    }

    /// Encodes an unsolicited pong (a heartbeat, RFC 6455 §5.5.3) into `out`.
    pub fn send_pong(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload, out)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.life.can_send()?;
        if payload.len() > 125 {
            return Err(SendError::ControlTooLong(payload.len()));
        }
        self.poll_transmit(out);
        self.encode_frame(opcode, true, 0, payload, out);
        Ok(())
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2): encodes a close frame with `code` and `reason` into
    /// `out`. Events keep coming until the peer's close arrives ([`Event::Close`](crate::Event::Close)), which
    /// must happen within [`Config::close_timeout`](crate::Config::close_timeout) once timers run.
    pub fn close(&mut self, code: CloseCode, reason: &str, out: &mut Vec<u8>) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::UnsendableCloseCode(code.0));
        }
        if reason.len() > 123 {
            return Err(SendError::CloseReasonTooLong(reason.len()));
        }
        self.close_with(Some(code), reason.as_bytes(), out)
    }

    /// Starts the closing handshake with an empty close frame (the peer sees 1005, no status).
    pub fn close_without_code(&mut self, out: &mut Vec<u8>) -> Result<(), SendError> {
        self.close_with(None, &[], out)
    }

    fn close_with(&mut self, code: Option<CloseCode>, reason: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.life.can_send()?;
        self.poll_transmit(out);
        self.transition(Input::LocalClose);
        self.encode_close(code, reason, out);
        Ok(())
    }

    /// Appends the frames the connection must send on its own (a pong, a keepalive ping, the reply to a close,
    /// the close that fails the connection) to `out`. Returns whether anything was appended.
    #[inline]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        if !self.has_pending_transmit() {
            return false;
        }
        self.transmit_pending(out);
        true
    }

    #[inline(never)]
    fn transmit_pending(&mut self, out: &mut Vec<u8>) {
        while let Some(p) = self.pending_pongs.pop_front() {
            self.encode_frame(OpCode::Pong, true, 0, &p, out);
        }
        if core::mem::take(&mut self.pending_ping) {
            self.encode_frame(OpCode::Ping, true, 0, KEEPALIVE_PING, out);
        }
        if let Some(c) = self.pending_close.take() {
            self.encode_close(c.code, c.reason.as_bytes(), out);
        }
        self.has_pending = false;
    }

    /// Whether frames wait for [`poll_transmit`](Self::poll_transmit).
    #[inline]
    pub fn has_pending_transmit(&self) -> bool {
        self.has_pending
    }

    /// A whole message may be sent now.
    #[inline]
    pub(super) fn check_send_message(&self) -> Result<(), SendError> {
        self.life.can_send()?;
        if self.sending.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        Ok(())
    }

    fn encode_close(&mut self, code: Option<CloseCode>, reason: &[u8], out: &mut Vec<u8>) {
        let mut payload = [0u8; 125];
        let len = match code {
            Some(c) => {
                payload[..2].copy_from_slice(&c.0.to_be_bytes());
                let n = reason.len().min(123);
                payload[2..2 + n].copy_from_slice(&reason[..n]);
                2 + n
            }
            None => 0,
        };
        self.encode_frame(OpCode::Close, true, 0, &payload[..len], out);
    }

    /// Every frame this end sends: the header ([`FrameHeader::write_to`]) and the payload in one pass into
    /// `out`; a client masks with a fresh key (RFC 6455 §5.3). A server's small frame is inlined.
    #[inline(always)]
    fn encode_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8], out: &mut Vec<u8>) {
        if self.rng.is_none() && payload.len() <= 125 {
            out.reserve(2 + payload.len());
            FrameHeader { fin, rsv, opcode, mask: None, payload_len: payload.len() as u64 }.write_to(out);
            out.extend_from_slice(payload);
            return;
        }
        self.encode_frame_general(opcode, fin, rsv, payload, out);
    }

    #[inline(never)]
    fn encode_frame_general(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8], out: &mut Vec<u8>) {
        let mask = self.rng.as_mut().map(|rng| rng.next_u32().to_ne_bytes());
        let header = FrameHeader { fin, rsv, opcode, mask, payload_len: payload.len() as u64 };
        out.reserve(header.encoded_len() + payload.len());
        header.write_to(out);
        match mask {
            Some(key) => crate::mask::extend_masked(out, payload, key),
            None => out.extend_from_slice(payload),
        }
    }
}
