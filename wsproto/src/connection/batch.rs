//! Borrowed, batched event handling: [`Connection::poll_batch`] and the [`Responder`] its handler replies
//! through.
//!
//! [`Connection::poll_event`] hands out owned [`Event`](crate::Event)s: each message is split off the receive
//! buffer as a reference-counted `Bytes`, which costs a few atomic operations and, together with the
//! caller's bookkeeping, more CPU than the kernel spends moving a small message. `poll_batch` instead walks
//! every frame already in the buffer and calls a handler with the payload **borrowed** in place (unmasked,
//! text validated), while the handler encodes its replies into the same output buffer. That covers whole
//! uncompressed messages under 16 KiB: single frames, and fragmented messages whose frames have all arrived
//! with no control frame between them (gathered in place). Everything else (control frames, compressed or
//! larger messages, partial frames, anything invalid) goes through `poll_event`'s general path and reaches the
//! handler as a borrowed view of the owned event, so both paths deliver the same events in the same order with
//! the same errors (`tests/batch.rs` and the `batch` fuzz target check exactly that).

#[allow(unused_imports)]
use crate::prelude::*;

use core::ops::{ControlFlow, Range};

use bytes::{Buf, Bytes};

use super::recv::{check_frame, Continuing};
use super::{Compress, Connection, Encoded, Role};
use crate::close::CloseCode;
use crate::config::{Config, ReceiveMode};
use crate::error::{ProtocolError, SendError};
use crate::event::{DataKind, EventRef};
use crate::frame::{FrameHeader, OpCode};
use crate::mask::{apply_mask, apply_mask_ascii};
use crate::utf8::validate_whole;

/// The commands available to a [`Connection::poll_batch`] handler: they encode into the output buffer given
/// to `poll_batch`, after any frames the connection queued on its own (as the [`Connection`] commands do).
#[derive(Debug)]
pub struct Responder<'a> {
    conn: &'a mut Connection,
    out: &'a mut Vec<u8>,
    /// The current event's payload when the connection holds it in a buffer of its own (a reassembled or
    /// large message): what [`send_zero_copy`](Self::send_zero_copy) can send without copying.
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
    /// copying it when it can go on the wire unchanged (see [`Connection::send_zero_copy`]): when `data` lies
    /// within a payload the connection holds in a buffer of its own (reassembled or large messages — small
    /// single-frame messages are handled in the receive buffer, which is reused) and this is a server without
    /// compression for it, only the frame header goes into the output buffer and the payload comes back as
    /// shared `Bytes`, to be written right after the output buffer's bytes so far (e.g. with vectored I/O).
    /// Otherwise the whole frame is encoded and `None` comes back.
    pub fn send_zero_copy(&mut self, kind: DataKind, data: &[u8]) -> Result<Option<Bytes>, SendError> {
        let within = |b: &&Bytes| {
            let (start, end) = (b.as_ptr() as usize, b.as_ptr() as usize + b.len());
            let at = data.as_ptr() as usize;
            start <= at && at + data.len() <= end
        };
        match self.shared.filter(within) {
            Some(bytes) if !data.is_empty() => match self.conn.send_zero_copy(kind, data, self.out)? {
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
    /// and a [`Responder`] that encodes replies into `out` — step 3 and 4 of the drive contract in one call,
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
    /// let handled = conn.poll_batch(&mut out, |event, tx| {
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
    pub fn poll_batch<F>(&mut self, out: &mut Vec<u8>, mut handler: F) -> Result<usize, ProtocolError>
    where
        F: FnMut(EventRef<'_>, &mut Responder<'_>) -> ControlFlow<()>,
    {
        let mut handled = 0;
        loop {
            if self.frame.is_none() && self.message.is_none() && self.life.accepts_input() {
                let (n, flow) = self.in_place(out, &mut handler)?;
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

    /// Whole uncompressed data messages under 16 KiB at the front of the receive buffer — single frames, and
    /// in [`ReceiveMode::Whole`] fragmented ones whose frames have all arrived (no control frame between
    /// them) — handled in place: parsed and checked as the general path does ([`FrameHeader::parse`],
    /// [`check_frame`]), unmasked, fragments moved together, text validated, then handed to the handler
    /// borrowed. Stops at the first frame that is anything else (or the first check that fails), leaving it
    /// untouched for the general path, which reports every error but one: invalid UTF-8, found here once a
    /// message is unmasked, fails the connection here with the error the general path would give.
    fn in_place<F>(&mut self, out: &mut Vec<u8>, handler: &mut F) -> Result<(usize, ControlFlow<()>), ProtocolError>
    where
        F: FnMut(EventRef<'_>, &mut Responder<'_>) -> ControlFlow<()>,
    {
        // The buffer is moved out while the handler runs with the connection (the Responder cannot reach the
        // receive side), and put back with the handled frames removed.
        let mut recv = core::mem::take(self.recv.whole_mut());
        let rules = Rules {
            role: self.role,
            deflate: self.deflate.is_some(),
            streaming: self.config.receive_mode == ReceiveMode::Streaming,
        };
        let (mut at, mut handled, mut flow) = (0, 0, ControlFlow::Continue(()));
        let mut failure = None;
        while let Some(msg) = next_message(&mut recv[at..], &rules, &self.config) {
            let payload = &recv[at + msg.payload.start..at + msg.payload.end];
            let event = match msg.kind {
                DataKind::Text => match validate_whole(payload, msg.ascii) {
                    Ok(text) if rules.streaming => {
                        EventRef::Fragment { kind: DataKind::Text, data: text.as_bytes(), first: true, last: true }
                    }
                    Ok(text) => EventRef::Text(text),
                    Err(e) => {
                        // RFC 6455 §8.1: fail the connection, as the general path would.
                        failure = Some(ProtocolError::InvalidUtf8 { valid_up_to: e.valid_up_to });
                        break;
                    }
                },
                DataKind::Binary if rules.streaming => {
                    EventRef::Fragment { kind: DataKind::Binary, data: payload, first: true, last: true }
                }
                DataKind::Binary => EventRef::Binary(payload),
            };
            at += msg.consumed;
            handled += 1;
            flow = handler(event, &mut Responder { conn: self, out, shared: None });
            if flow.is_break() {
                break;
            }
        }
        recv.advance(at);
        *self.recv.whole_mut() = recv;
        match failure {
            Some(e) => Err(self.fail(e)),
            None => Ok((handled, flow)),
        }
    }
}

/// What [`next_message`] needs from the connection.
struct Rules {
    role: Role,
    deflate: bool,
    streaming: bool,
}

/// A message found in place by [`next_message`].
struct InPlace {
    kind: DataKind,
    /// Where its payload is (unmasked, fragments moved together), from the start of the buffer given.
    payload: Range<usize>,
    /// How many bytes its frames took.
    consumed: usize,
    /// The payload is known to be ASCII (checked while unmasking a single frame).
    ascii: bool,
}

/// The largest message handled in place. Larger ones go through the general path, which splits them off into
/// a buffer of their own: copying them would cost more than the split, and from there
/// [`Responder::send_zero_copy`] can send them on without a copy (as `wsproto-tokio` does from 16 KiB).
const IN_PLACE_MAX: u64 = 16 * 1024 - 1;

/// Frames of a gathered message remembered by the first pass of [`gather`] (more are parsed again).
const GATHER_REMEMBER: usize = 16;

/// Whether the in-place path takes a parsed frame: checked as on the general path ([`check_frame`]), and also
/// uncompressed (no RSV bits) and small. `false` leaves it to the general path (which reports any error).
#[inline(always)]
fn admit(h: &FrameHeader, rules: &Rules, config: &Config, continuing: Option<Continuing>) -> bool {
    h.rsv == 0 && h.payload_len <= IN_PLACE_MAX && check_frame(h, rules.role, rules.deflate, config, continuing).is_ok()
}

/// The whole data message at the front of `buf`, if the in-place path can take it: unmasks it (and gathers a
/// fragmented one). `buf` is untouched when it returns `None`.
#[inline(always)]
fn next_message(buf: &mut [u8], rules: &Rules, config: &Config) -> Option<InPlace> {
    let Ok(Some((h, len))) = FrameHeader::parse(buf) else { return None };
    if !admit(&h, rules, config, None) {
        return None;
    }
    let kind = match h.opcode {
        OpCode::Text => DataKind::Text,
        OpCode::Binary => DataKind::Binary,
        _ => return None,
    };
    if !h.fin {
        if rules.streaming {
            return None;
        }
        let (payload, consumed) = gather(buf, h, len, rules, config)?;
        return Some(InPlace { kind, payload, consumed, ascii: false });
    }
    let end = len + h.payload_len as usize;
    let payload = buf.get_mut(len..end)?;
    let ascii = match h.mask {
        // Text: whether it is all ASCII comes with the unmasking, for free.
        Some(key) if kind == DataKind::Text => apply_mask_ascii(payload, key, 0),
        Some(key) => {
            apply_mask(payload, key, 0);
            false
        }
        None => false,
    };
    Some(InPlace { kind, payload: len..end, consumed: end, ascii })
}

/// A fragmented message at the front of `buf`, starting with `first` (a text or binary frame without FIN, its
/// header `first_len` bytes): when all its frames are in `buf` — continuations only, the last with FIN, each
/// admitted as the general path would, within [`IN_PLACE_MAX`] — unmasks them and moves their payloads
/// together behind the first frame's header. Returns where the payload now is and how many bytes the frames
/// took; `None` (and `buf` untouched) otherwise.
fn gather(
    buf: &mut [u8],
    first: FrameHeader,
    first_len: usize,
    rules: &Rules,
    config: &Config,
) -> Option<(Range<usize>, usize)> {
    // First pass, reading only: are all the frames here and acceptable? The continuations' payload offsets,
    // lengths and keys are remembered for the second pass.
    let mut seen = [(0usize, 0usize, None::<[u8; 4]>); GATHER_REMEMBER];
    let first_payload = first.payload_len as usize;
    let mut at = first_len + first_payload;
    let mut msg = Continuing { size: first.payload_len, fragments: 1 };
    loop {
        let Ok(Some((h, len))) = FrameHeader::parse(buf.get(at..)?) else { return None };
        if !admit(&h, rules, config, Some(msg)) || h.opcode != OpCode::Continuation {
            return None;
        }
        if let Some(slot) = seen.get_mut(msg.fragments as usize - 1) {
            *slot = (at + len, h.payload_len as usize, h.mask);
        }
        msg.size += h.payload_len;
        msg.fragments += 1;
        at += len + h.payload_len as usize;
        if msg.size > IN_PLACE_MAX || at > buf.len() {
            return None;
        }
        if h.fin {
            break;
        }
    }
    let consumed = at;
    // Second pass: unmask each payload and move it up to the end of the message so far.
    if let Some(key) = first.mask {
        apply_mask(&mut buf[first_len..first_len + first_payload], key, 0);
    }
    let mut end = first_len + first_payload;
    let mut next = end;
    for i in 0..(msg.fragments - 1) as usize {
        let (from, len, key) = match seen.get(i) {
            Some(&frame) => frame,
            None => {
                // Past the remembered frames: parse again (headers after `end` are still in place).
                let (h, len) = FrameHeader::parse(&buf[next..]).ok().flatten().expect("parsed in the first pass");
                (next + len, h.payload_len as usize, h.mask)
            }
        };
        move_unmasked(buf, from, len, key, end);
        end += len;
        next = from + len;
    }
    Some((first_len..end, consumed))
}

/// Unmasks `buf[from..from + len]` (if `key`) and moves it to `buf[to..]` (`to <= from`).
#[inline(always)]
fn move_unmasked(buf: &mut [u8], from: usize, len: usize, key: Option<[u8; 4]>, to: usize) {
    if len <= 16 {
        // Small fragments: one pass, no calls.
        let key = key.unwrap_or([0; 4]);
        let gap = from - to;
        if to + 16 <= from + len && from + 16 <= buf.len() {
            // One 16-byte load and store: the bytes stored past `to + len` land on stale headers or on this
            // fragment's own (already loaded) source, never on anything still needed.
            let k = u32::from_ne_bytes(key) as u128;
            let word = k | k << 32 | k << 64 | k << 96;
            let src: [u8; 16] = buf[from..from + 16].try_into().expect("16 bytes");
            buf[to..to + 16].copy_from_slice(&(u128::from_ne_bytes(src) ^ word).to_ne_bytes());
            return;
        }
        // Byte by byte in increasing order, which is right even where the two ranges overlap.
        let span = &mut buf[to..from + len];
        for i in 0..len {
            span[i] = span[gap + i] ^ key[i & 3];
        }
        return;
    }
    if let Some(key) = key {
        apply_mask(&mut buf[from..from + len], key, 0);
    }
    buf.copy_within(from..from + len, to);
}
