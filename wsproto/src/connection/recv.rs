//! The receive loop (RFC 6455 §5.2–§5.6, §8.1): frames are parsed ([`FrameHeader::parse`]), checked against
//! the connection's state and limits ([`check_frame`]), unmasked, validated and reassembled, one step at a
//! time. [`Connection::poll_event`] is this loop; [`Connection::poll_batch`](super::Connection::poll_batch)
//! runs whole small messages in place first and hands the rest here.

#[allow(unused_imports)]
use crate::prelude::*;

use bytes::Bytes;

use super::state::Input;
use super::{Connection, Role, MAX_PENDING_PONGS, RSV1};
use crate::close::{parse_close_payload, ClosePayloadError};
use crate::config::{Config, ReceiveMode};
use crate::error::ProtocolError;
use crate::event::{DataKind, Event, Fragment, Utf8Bytes};
use crate::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::{apply_mask, apply_mask_ascii};
use crate::utf8::Utf8Validator;

/// Largest chunk of inflated data reported at once in [`ReceiveMode::Streaming`].
const STREAM_CHUNK: usize = 64 * 1024;

/// A frame being received: its header and how much of its payload is still to come.
#[derive(Debug)]
pub(super) struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet taken out of the receive buffer.
    pub(super) remaining: u64,
    /// Payload bytes at the front of the unparsed bytes already unmasked and validated (≤ `remaining`).
    unmasked: usize,
    /// Payload bytes already taken out (aligns the mask for the next piece).
    taken: u64,
}

/// A data message being received.
#[derive(Debug)]
pub(super) struct InMessage {
    kind: DataKind,
    /// Payload bytes announced so far (wire bytes for a compressed message).
    size: u64,
    fragments: u64,
    utf8: Utf8Validator,
    /// A chunk of it was reported ([`ReceiveMode::Streaming`]).
    reported: bool,
    /// RSV1 was set: the payload is deflate data (RFC 7692 §6.1).
    compressed: bool,
    /// Inflated output not yet reported (compressed messages only).
    inflated: Vec<u8>,
    /// Inflated bytes so far (compressed messages only).
    inflated_total: u64,
}

impl InMessage {
    /// Memory held for this message beyond the receive buffer (inflated data not yet reported).
    pub(super) fn held_bytes(&self) -> usize {
        self.inflated.capacity()
    }

    /// The next chunk of this message ([`ReceiveMode::Streaming`]).
    fn chunk(&mut self, data: Bytes, last: bool) -> Fragment {
        let first = !self.reported;
        self.reported = true;
        Fragment { kind: self.kind, data, first, last }
    }

    /// The whole message ([`ReceiveMode::Whole`]); text was validated as it arrived.
    fn whole(kind: DataKind, payload: Bytes) -> Event {
        match kind {
            DataKind::Text => Event::Text(Utf8Bytes::from_validated(payload)),
            DataKind::Binary => Event::Binary(payload),
        }
    }
}

/// The message a frame would continue: its size so far and its frame count.
#[derive(Debug, Clone, Copy)]
pub(super) struct Continuing {
    pub(super) size: u64,
    pub(super) fragments: u64,
}

/// Checks a parsed header against the connection's state and limits (RFC 6455 §5.1, §5.2, §5.4; RFC 7692
/// §6): the one check every received frame passes, on either receive path. `continuing` is the unfinished
/// message, if any.
#[inline(always)]
pub(super) fn check_frame(
    h: &FrameHeader,
    role: Role,
    deflate: bool,
    config: &Config,
    continuing: Option<Continuing>,
) -> Result<(), ProtocolError> {
    if h.rsv != 0 {
        // RSV1 marks a compressed message when permessage-deflate is on (RFC 7692 §6), and only on the first
        // frame of a data message. Anything else is reserved (RFC 6455 §5.2).
        if h.rsv != RSV1 || !deflate {
            return Err(ProtocolError::ReservedBits(h.rsv));
        }
        if !matches!(h.opcode, OpCode::Text | OpCode::Binary) {
            return Err(ProtocolError::MisplacedCompressionBit);
        }
    }
    match (role, h.mask.is_some()) {
        (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
        (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
        _ => {}
    }
    let so_far = match (h.opcode, continuing) {
        (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
        (OpCode::Continuation, Some(msg)) => {
            if msg.fragments >= config.max_fragments {
                return Err(ProtocolError::TooManyFragments { max: config.max_fragments });
            }
            msg.size
        }
        (OpCode::Text | OpCode::Binary, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
        (OpCode::Text | OpCode::Binary, None) => 0,
        (OpCode::Close | OpCode::Ping | OpCode::Pong, _) => return Ok(()),
    };
    if h.payload_len > config.max_frame_payload {
        return Err(ProtocolError::FrameTooLarge { len: h.payload_len, max: config.max_frame_payload });
    }
    if so_far + h.payload_len > config.max_message_size {
        return Err(ProtocolError::MessageTooLarge { max: config.max_message_size });
    }
    Ok(())
}

/// What one step of the loop produced.
enum Step {
    Event(Event),
    Continue,
    NeedMore,
}

impl Connection {
    /// The next event, `Ok(None)` when more input is needed (or the connection is finished), or the error
    /// that failed the connection (sticky: returned again on every call).
    ///
    /// ```
    /// use wsproto::{Config, Connection, Event, Role};
    /// let mut conn = Connection::new(Role::Client, Config::default(), [0; 32]).unwrap();
    /// conn.feed(&[0x81, 0x02, b'h', b'i']).unwrap(); // an unmasked text frame from the server
    /// assert_eq!(conn.poll_event(), Ok(Some(Event::Text("hi".into()))));
    /// assert_eq!(conn.poll_event(), Ok(None));
    /// ```
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if self.life.is_finished() {
            return match self.life.failure() {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        }
        loop {
            let step = self.step();
            // One check when no budget is set (`account` is inline).
            if let Err(e) = self.account() {
                return Err(self.fail(e));
            }
            match step {
                Ok(Step::Event(ev)) => return Ok(Some(ev)),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) if self.life.eof() => return Err(self.fail(ProtocolError::UnexpectedEof)),
                Ok(Step::NeedMore) => {
                    let need = match &self.frame {
                        Some(f) => usize::try_from(f.remaining).unwrap_or(usize::MAX),
                        None => MAX_HEADER_LEN,
                    };
                    self.recv.make_room(need, self.config.max_buffered);
                    return Ok(None);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// The unfinished message, as [`check_frame`] needs it.
    pub(super) fn continuing(&self) -> Option<Continuing> {
        self.message.as_ref().map(|m| Continuing { size: m.size, fragments: m.fragments })
    }

    fn step(&mut self) -> Result<Step, ProtocolError> {
        if self.frame.is_none() {
            let Some((header, header_len)) = FrameHeader::parse(self.recv.unparsed()).map_err(ProtocolError::Frame)?
            else {
                return Ok(Step::NeedMore);
            };
            check_frame(&header, self.role, self.deflate.is_some(), &self.config, self.continuing())?;
            self.recv.consume(header_len);
            match header.opcode {
                OpCode::Text | OpCode::Binary => {
                    self.message = Some(InMessage {
                        kind: if header.opcode == OpCode::Text { DataKind::Text } else { DataKind::Binary },
                        size: header.payload_len,
                        fragments: 1,
                        utf8: Utf8Validator::new(),
                        reported: false,
                        compressed: header.rsv & RSV1 != 0,
                        inflated: Vec::new(),
                        inflated_total: 0,
                    });
                    self.timers.message_started(&self.config);
                }
                OpCode::Continuation => {
                    // Count the frame towards the message's limits (checked above).
                    let msg = self.message.as_mut().expect("check_frame ensured a message");
                    msg.size += header.payload_len;
                    msg.fragments += 1;
                }
                _ => {}
            }
            self.frame = Some(InFrame { header, remaining: header.payload_len, unmasked: 0, taken: 0 });
        }
        let frame = self.frame.as_ref().expect("set above");
        if frame.header.opcode.is_control() {
            return self.control_frame();
        }
        if self.message.as_ref().is_some_and(|m| m.compressed) {
            return self.compressed_data_frame();
        }
        self.data_frame()
    }

    /// A message ended (or was abandoned): its deadline goes with it.
    fn end_message(&mut self) -> Option<InMessage> {
        self.timers.message_ended();
        self.message.take()
    }

    fn control_frame(&mut self) -> Result<Step, ProtocolError> {
        let frame = self.frame.as_ref().expect("caller checked");
        let len = frame.remaining as usize; // ≤ 125, checked by FrameHeader::parse
        if self.recv.unparsed().len() < len {
            return Ok(Step::NeedMore);
        }
        let header = frame.header;
        self.frame = None;
        // Inside a message reassembled in place the payload is copied out and its bytes become stale.
        let mut payload = self.recv.take(len);
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        let payload = payload.freeze();
        match header.opcode {
            OpCode::Ping => {
                if self.config.auto_pong && self.life.is_open() {
                    if self.pending_pongs.len() == MAX_PENDING_PONGS {
                        // RFC 6455 §5.5.3: answering only the most recent pings is allowed.
                        self.pending_pongs.pop_front();
                    }
                    self.pending_pongs.push_back(payload.clone());
                    self.has_pending = true;
                }
                Ok(Step::Event(Event::Ping(payload)))
            }
            OpCode::Pong => {
                self.timers.pong_received(&self.config);
                Ok(Step::Event(Event::Pong(payload)))
            }
            _ => {
                let frame = parse_close_payload(&payload).map_err(|e| match e {
                    ClosePayloadError::OneByte => ProtocolError::CloseTooShort,
                    ClosePayloadError::BadCode(c) => ProtocolError::InvalidCloseCode(c),
                    ClosePayloadError::BadReason => ProtocolError::InvalidCloseReason,
                })?;
                self.transition(Input::PeerClose(frame.clone()));
                Ok(Step::Event(Event::Close(frame)))
            }
        }
    }

    fn data_frame(&mut self) -> Result<Step, ProtocolError> {
        let frame = self.frame.as_mut().expect("caller checked");
        let msg = self.message.as_mut().expect("a data frame always has a message");
        let unparsed = self.recv.unparsed_mut();
        let avail = (unparsed.len() as u64).min(frame.remaining) as usize;
        if avail > frame.unmasked {
            let fresh = &mut unparsed[frame.unmasked..avail];
            let at = (frame.taken as usize).wrapping_add(frame.unmasked);
            let text = msg.kind == DataKind::Text;
            // For text, whether the bytes are all ASCII comes with the unmasking: then they need no second look.
            let ascii = match frame.header.mask {
                Some(key) if text => apply_mask_ascii(fresh, key, at),
                Some(key) => {
                    apply_mask(fresh, key, at);
                    false
                }
                None => false,
            };
            if text && ascii && !msg.utf8.is_partial() {
                msg.utf8.feed_ascii(fresh.len());
            } else if text {
                msg.utf8.feed(fresh).map_err(|e| ProtocolError::InvalidUtf8 { valid_up_to: e.valid_up_to })?;
            }
            frame.unmasked = avail;
        }
        let frame_done = avail as u64 == frame.remaining;
        let fin = frame.header.fin;
        let last = frame_done && fin;
        if last && msg.kind == DataKind::Text {
            msg.utf8.finish().map_err(|e| ProtocolError::InvalidUtf8 { valid_up_to: e.valid_up_to })?;
        }
        match self.config.receive_mode {
            ReceiveMode::Streaming => {
                if avail == 0 && !last {
                    if frame_done {
                        self.frame = None;
                        return Ok(Step::Continue);
                    }
                    return Ok(Step::NeedMore);
                }
                let data = self.recv.take(avail).freeze();
                frame.remaining -= avail as u64;
                frame.taken += avail as u64;
                frame.unmasked = 0;
                if frame_done {
                    self.frame = None;
                }
                let fragment = msg.chunk(data, last);
                if last {
                    self.end_message();
                }
                Ok(Step::Event(Event::Fragment(fragment)))
            }
            ReceiveMode::Whole => {
                if !frame_done {
                    return Ok(Step::NeedMore);
                }
                // Reassembly in place: the payload joins the held bytes at the front of the buffer.
                self.frame = None;
                self.recv.hold(avail);
                if !fin {
                    return Ok(Step::Continue);
                }
                let kind = self.end_message().expect("checked above").kind;
                Ok(Step::Event(InMessage::whole(kind, self.recv.take_held())))
            }
        }
    }

    /// A frame of a compressed message (RFC 7692 §7.2.2): payload bytes are unmasked and inflated as they
    /// arrive; the inflated size counts against `max_message_size` (1009 the moment it is exceeded) and
    /// inflated text is validated as it comes out (1007 at the first invalid byte). Compressed messages are
    /// never held in place, so their frames start at the front of the buffer.
    fn compressed_data_frame(&mut self) -> Result<Step, ProtocolError> {
        let frame = self.frame.as_mut().expect("caller checked");
        let msg = self.message.as_mut().expect("a data frame always has a message");
        let codec = self.deflate.as_mut().expect("RSV1 is only accepted with deflate on");
        let unparsed = self.recv.unparsed_mut();
        let avail = (unparsed.len() as u64).min(frame.remaining) as usize;
        if avail > frame.unmasked {
            if let Some(key) = frame.header.mask {
                let at = (frame.taken as usize).wrapping_add(frame.unmasked);
                apply_mask(&mut unparsed[frame.unmasked..avail], key, at);
            }
            frame.unmasked = avail;
        }
        let limit = self.config.max_message_size;
        let room = usize::try_from(limit - msg.inflated_total).unwrap_or(usize::MAX).saturating_add(1);
        let cap = msg.inflated.len().saturating_add(match self.config.receive_mode {
            ReceiveMode::Whole => room,
            ReceiveMode::Streaming => room.min(STREAM_CHUNK),
        });
        let before = msg.inflated.len();
        // Problems are reported in the order they occur in the data, whatever the chunking: invalid UTF-8
        // within the limit, then the limit, then corrupt deflate data.
        let inflated = codec.inflate(&self.recv.unparsed()[..avail], &mut msg.inflated, cap);
        let mut corrupt = inflated.is_err();
        let used = inflated.unwrap_or(0);
        self.recv.consume(used);
        frame.remaining -= used as u64;
        frame.taken += used as u64;
        frame.unmasked -= used;
        let frame_done = !corrupt && frame.remaining == 0;
        let last = frame_done && frame.header.fin;
        if last {
            // The removed 00 00 ff ff tail ends the message's deflate data (`size` counts its wire bytes).
            corrupt = codec.finish_message(&mut msg.inflated, before.saturating_add(room), msg.size == 0).is_err();
        }
        let fresh = &msg.inflated[before..];
        let within = usize::try_from(limit - msg.inflated_total).unwrap_or(usize::MAX).min(fresh.len());
        if msg.kind == DataKind::Text {
            msg.utf8.feed(&fresh[..within]).map_err(|e| ProtocolError::InvalidUtf8 { valid_up_to: e.valid_up_to })?;
        }
        msg.inflated_total += fresh.len() as u64;
        if msg.inflated_total > limit {
            return Err(ProtocolError::MessageTooLarge { max: limit });
        }
        if corrupt {
            return Err(ProtocolError::InvalidCompressedData);
        }
        if last && msg.kind == DataKind::Text {
            msg.utf8.finish().map_err(|e| ProtocolError::InvalidUtf8 { valid_up_to: e.valid_up_to })?;
        }
        if frame_done {
            self.frame = None;
        }
        match self.config.receive_mode {
            ReceiveMode::Streaming => {
                if msg.inflated.is_empty() && !last {
                    return Ok(if frame_done || used > 0 { Step::Continue } else { Step::NeedMore });
                }
                let data = Bytes::from(core::mem::take(&mut msg.inflated));
                let fragment = msg.chunk(data, last);
                if last {
                    self.end_message();
                }
                Ok(Step::Event(Event::Fragment(fragment)))
            }
            ReceiveMode::Whole => {
                if !last {
                    return Ok(if frame_done { Step::Continue } else { Step::NeedMore });
                }
                let msg = self.end_message().expect("checked above");
                Ok(Step::Event(InMessage::whole(msg.kind, Bytes::from(msg.inflated))))
            }
        }
    }
}
