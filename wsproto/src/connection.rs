//! The connection state machine after the opening handshake (RFC 6455 §5–§7), for either role.
//!
//! # Drive contract
//!
//! A [`Connection`] never performs I/O and never reads a clock. Its driver repeats:
//!
//! 1. **Input**: [`feed`](Connection::feed) the bytes read from the transport (at most
//!    [`recv_capacity`](Connection::recv_capacity)), or [`feed_eof`](Connection::feed_eof) when it ends.
//! 2. **Events**: call [`poll_event`](Connection::poll_event) until it returns `Ok(None)` (need more bytes)
//!    or an error (the peer failed the connection; the error repeats on later calls).
//! 3. **Commands**: [`send_text`](Connection::send_text), [`send_binary`](Connection::send_binary),
//!    [`send_fragment`](Connection::send_fragment), [`send_ping`](Connection::send_ping),
//!    [`close`](Connection::close) encode frames into a caller-owned `Vec<u8>`.
//! 4. **Output**: [`poll_transmit`](Connection::poll_transmit) appends what the connection itself must send
//!    (pongs, the close reply, the close frame that fails a connection). Write the buffer to the transport.
//! 5. **Transport close**: once [`wants_transport_closed`](Connection::wants_transport_closed) is true and the
//!    output is flushed, close the transport. A client whose closing handshake is done waits (with a timeout
//!    of the driver's choosing) for the server to close first (RFC 6455 §7.1.1).
//!
//! Commands flush pending automatic frames into the same buffer first, so frames always leave in a valid
//! order.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::close::{parse_close_payload, CloseCode, CloseFrame, ClosePayloadError};
use crate::config::{Config, ConfigError, ReceiveMode};
use crate::deflate::{Codec, DeflateParams};
use crate::error::{BufferFull, ProtocolError, SendError};
use crate::event::{DataKind, Event, Fragment, Utf8Bytes};
use crate::frame::{FrameHeader, OpCode};
use crate::mask::{apply_mask, apply_mask_ascii};
use crate::utf8::Utf8Validator;

mod batch;
pub use batch::Responder;

/// Largest chunk of inflated data reported at once in [`ReceiveMode::Streaming`].
const STREAM_CHUNK: usize = 64 * 1024;

/// What [`Connection::send_unbuffered`] put in the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "with HeaderOnly the caller must write the payload after the buffer"]
pub enum Encoded {
    /// The whole frame.
    Whole,
    /// Only the header: the payload follows, unchanged, written by the caller.
    HeaderOnly,
}

/// Whether to compress a message when permessage-deflate was negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compress {
    /// Compress when the message reaches the configured threshold.
    #[default]
    Auto,
    /// Compress whatever the size.
    Always,
    /// Send uncompressed.
    Never,
}

/// Most pongs queued for [`Connection::poll_transmit`]; older ones are dropped past this (each ≤ 125 bytes).
pub const MAX_PENDING_PONGS: usize = 32;

/// Which end of the connection this is. It decides masking (RFC 6455 §5.1) and who closes TCP (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends masked frames; expects unmasked ones.
    Client,
    /// Sends unmasked frames; expects masked ones.
    Server,
}

/// How the connection ended, once it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Close frames were exchanged. `remote` is the peer's close frame.
    Clean {
        /// The peer's close frame.
        remote: CloseFrame,
        /// Whether we sent our close first.
        initiated_locally: bool,
    },
    /// We failed the connection because the peer broke the protocol; the close code went on the wire.
    Failed(ProtocolError),
    /// The transport ended before a close frame arrived (1006).
    Abnormal,
}

impl CloseOutcome {
    /// The code that describes the outcome: the peer's code (1005 if none), the code we failed with, or 1006.
    pub fn code(&self) -> CloseCode {
        match self {
            CloseOutcome::Clean { remote, .. } => remote.code_or_no_status(),
            CloseOutcome::Failed(e) => e.close_code(),
            CloseOutcome::Abnormal => CloseCode::ABNORMAL,
        }
    }
}

/// A frame being received: its header and how much of its payload is still to come.
#[derive(Debug)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet taken out of the receive buffer.
    remaining: u64,
    /// Payload bytes at the frame's place in the receive buffer (`held + skip`) already unmasked and
    /// validated (≤ `remaining`).
    unmasked: usize,
    /// Payload bytes already taken out (aligns the mask for the next piece).
    taken: u64,
}

/// A data message being received.
#[derive(Debug)]
struct InMessage {
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

/// The close frame queued for [`Connection::poll_transmit`].
#[derive(Debug)]
struct QueuedClose {
    code: Option<CloseCode>,
    reason: Bytes,
}

/// One side of a WebSocket connection after the handshake: a pure state machine (see the module docs for the
/// drive contract).
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    /// The masking-key generator: a client's only (boxed, so a server connection does not carry its ~300 bytes).
    rng: Option<Box<StdRng>>,
    /// The receive buffer: `[held][skip][unparsed…]` (see `held`, `skip`).
    recv: BytesMut,
    /// Payload of the uncompressed message being reassembled in place ([`ReceiveMode::Whole`]): unmasked,
    /// validated, at the front of `recv`. Bounded by `max_message_size`, not counted in `max_buffered`.
    held: usize,
    /// Stale bytes after `held` (headers of continuation frames and control frames received while part of a
    /// message is held). Frames are parsed at `held + skip`. Zero when `held` is; counted in `max_buffered`
    /// and compacted away (see [`Connection::compact`]). `held == skip == 0` whenever `message` is `None`,
    /// so that a new message always starts at `recv[0]`.
    skip: usize,
    frame: Option<InFrame>,
    message: Option<InMessage>,
    /// Payloads of unanswered pings, oldest first, at most [`MAX_PENDING_PONGS`].
    pending_pongs: VecDeque<Bytes>,
    pending_close: Option<QueuedClose>,
    /// A close frame is sent or queued: no more data may be sent.
    close_queued: bool,
    /// We sent (queued) our close before receiving the peer's.
    initiated_close: bool,
    /// The peer's close frame arrived.
    received_close: bool,
    eof: bool,
    failed: Option<ProtocolError>,
    outcome: Option<CloseOutcome>,
    /// Kind of the fragmented message being sent, if any.
    sending: Option<DataKind>,
    /// The fragmented message being sent is compressed.
    sending_compressed: bool,
    /// permessage-deflate, when negotiated.
    deflate: Option<Codec>,
}

impl Connection {
    /// A connection in `role`, ready for frames.
    ///
    /// `seed` feeds the masking-key generator (ChaCha12): use 32 bytes from the OS's random source. A client
    /// masks every frame with a fresh key from it (RFC 6455 §5.3: keys must be unpredictable); fixing the seed
    /// makes a whole conversation reproducible in tests. A server never masks and ignores it.
    pub fn new(role: Role, config: Config, seed: [u8; 32]) -> Result<Connection, ConfigError> {
        config.validate()?;
        Ok(Connection {
            role,
            config,
            rng: (role == Role::Client).then(|| Box::new(StdRng::from_seed(seed))),
            recv: BytesMut::new(),
            held: 0,
            skip: 0,
            frame: None,
            message: None,
            pending_pongs: VecDeque::new(),
            pending_close: None,
            close_queued: false,
            initiated_close: false,
            received_close: false,
            eof: false,
            failed: None,
            outcome: None,
            sending: None,
            sending_compressed: false,
            deflate: None,
        })
    }

    /// Turns on permessage-deflate with the negotiated parameters (done by the handshakes).
    pub(crate) fn set_deflate(&mut self, params: DeflateParams) {
        #[cfg(feature = "deflate")]
        {
            let config = self.config.deflate.clone().unwrap_or_default();
            self.deflate = Some(Codec::new(params, &config, self.role == Role::Server));
        }
        #[cfg(not(feature = "deflate"))]
        let _ = params; // never negotiated: Config::validate refuses deflate without the feature
    }

    /// Whether permessage-deflate is in use.
    pub fn is_deflate_enabled(&self) -> bool {
        self.deflate.is_some()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- input -----

    /// How many more bytes [`feed`](Self::feed) accepts now. Zero means: poll events first.
    ///
    /// [`Config::max_buffered`] less the bytes buffered, not counting the earlier fragments of a message being
    /// reassembled (bounded by [`Config::max_message_size`] instead).
    pub fn recv_capacity(&self) -> usize {
        self.config.max_buffered.saturating_sub(self.recv.len() - self.held)
    }

    /// Gives the connection bytes read from the transport. Bytes after the peer's close frame, after a failure
    /// or after EOF are discarded.
    ///
    /// Fails, taking nothing, when `data` is longer than [`recv_capacity`](Self::recv_capacity).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        if self.is_finished() {
            return Ok(());
        }
        if data.len() > self.recv_capacity() {
            return Err(BufferFull { capacity: self.recv_capacity() });
        }
        self.recv.extend_from_slice(data);
        Ok(())
    }

    /// Bytes received right after the handshake, taken without the capacity check (they were bounded by it).
    pub(crate) fn feed_leftover(&mut self, data: &[u8]) {
        self.recv.extend_from_slice(data);
    }

    /// Room to read into directly, without an intermediate copy: up to `want` bytes (capped by
    /// [`recv_capacity`](Self::recv_capacity)) of writable space at the end of the receive buffer. Bytes
    /// appended through it (e.g. by tokio-util's `poll_read_buf`, or `BufMut::put_slice`) count as fed.
    ///
    /// The room is reserved at once: size `want` by what a single read can bring (e.g. what the peer has
    /// sent so far, or a socket buffer's worth), not by [`awaiting_payload`](Self::awaiting_payload), which a
    /// peer controls with one header.
    ///
    /// Returns `None` when nothing should be read: the buffer is full, or the connection is finished (the
    /// peer's close arrived or it failed), so that a zero-length buffer is never mistaken for end of stream.
    pub fn read_buf(&mut self, want: usize) -> Option<bytes::buf::Limit<&mut BytesMut>> {
        let n = want.min(self.recv_capacity());
        if n == 0 || self.is_finished() {
            return None;
        }
        self.recv.reserve(n);
        Some(bytes::BufMut::limit(&mut self.recv, n))
    }

    /// Frees the receive buffer's memory if it holds no bytes (e.g. after a burst of large messages), so that
    /// an idle connection costs little. The next read allocates again.
    pub fn release_recv_buffer(&mut self) {
        if self.recv.is_empty() {
            self.recv = BytesMut::new();
        }
    }

    /// Payload bytes of the frame in progress that have not arrived yet (0 between frames): a hint for drivers
    /// to read a large frame straight into [`read_buf`](Self::read_buf) instead of through a small buffer.
    pub fn awaiting_payload(&self) -> u64 {
        match &self.frame {
            Some(f) => f.remaining.saturating_sub((self.recv.len() - self.base()) as u64),
            None => 0,
        }
    }

    /// The transport ended (read returned 0). If the closing handshake was not done, the next
    /// [`poll_event`](Self::poll_event) reports [`ProtocolError::UnexpectedEof`] (1006) once buffered
    /// events are drained.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    // ----- events -----

    /// The next event, `Ok(None)` when more input is needed (or the connection is finished), or the error
    /// that failed the connection (sticky: returned again on every call).
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.received_close {
            return Ok(None);
        }
        loop {
            match self.step() {
                Ok(Step::Event(ev)) => return Ok(Some(ev)),
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) if self.eof => return Err(self.fail(ProtocolError::UnexpectedEof)),
                Ok(Step::NeedMore) => {
                    self.make_room();
                    return Ok(None);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        if e.sends_close() && !self.close_queued {
            self.pending_close = Some(QueuedClose {
                code: Some(e.close_code()),
                reason: Bytes::from_static(e.wire_reason().as_bytes()),
            });
            self.close_queued = true;
        }
        self.pending_pongs.clear();
        self.reset_recv();
        self.frame = None;
        self.message = None;
        self.outcome = Some(if e == ProtocolError::UnexpectedEof {
            CloseOutcome::Abnormal
        } else {
            CloseOutcome::Failed(e.clone())
        });
        self.failed = Some(e.clone());
        e
    }

    /// Empties the receive buffer, freeing its memory.
    fn reset_recv(&mut self) {
        self.recv = BytesMut::new();
        self.held = 0;
        self.skip = 0;
    }

    /// Where the next frame (or the current frame's payload) starts in `recv`.
    fn base(&self) -> usize {
        self.held + self.skip
    }

    /// Moves the held payload over the stale bytes (`skip` becomes 0). Costs `held` bytes of copying, so it is
    /// only done when `skip > held` (paid for by the stale bytes that arrived since the last compaction), or
    /// when the stale bytes would keep the frame being parsed from fitting in `max_buffered` (see
    /// [`make_room`](Self::make_room)).
    fn compact(&mut self) {
        if self.skip > 0 {
            self.recv.copy_within(0..self.held, self.skip);
            self.recv.advance(self.skip);
            self.skip = 0;
        }
    }

    /// Counts `n` consumed bytes at `base` as stale, compacting when they outnumber the held ones.
    fn add_skip(&mut self, n: usize) {
        self.skip += n;
        if self.skip > self.held {
            self.compact();
        }
    }

    /// Before waiting for input: the stale bytes count against `max_buffered`, so when they would keep what the
    /// parser waits for (the current frame's payload, or a header) from fitting, compact. Each such compaction
    /// costs at most `held` (≤ `max_message_size`) and is paid for by at least `max_buffered / 2 - 14` bytes
    /// of input: stale bytes (`skip`) or the payload of the frame that must now arrive.
    fn make_room(&mut self) {
        if self.skip == 0 {
            return;
        }
        let need = match &self.frame {
            Some(f) => usize::try_from(f.remaining).unwrap_or(usize::MAX),
            None => crate::frame::MAX_HEADER_LEN,
        };
        if self.skip.saturating_add(need) > self.config.max_buffered {
            self.compact();
        }
    }

    fn step(&mut self) -> Result<Step, ProtocolError> {
        if self.frame.is_none() {
            let base = self.base();
            let Some((header, header_len)) = FrameHeader::parse(&self.recv[base..]).map_err(ProtocolError::Frame)?
            else {
                return Ok(Step::NeedMore);
            };
            self.check_header(&header)?;
            if base == 0 {
                self.recv.advance(header_len);
            } else {
                self.add_skip(header_len);
            }
            if matches!(header.opcode, OpCode::Text | OpCode::Binary) {
                let kind = if header.opcode == OpCode::Text { DataKind::Text } else { DataKind::Binary };
                self.message = Some(InMessage {
                    kind,
                    size: header.payload_len,
                    fragments: 1,
                    utf8: Utf8Validator::new(),
                    reported: false,
                    compressed: header.rsv & RSV1 != 0,
                    inflated: Vec::new(),
                    inflated_total: 0,
                });
            } else if header.opcode == OpCode::Continuation {
                // Count the frame towards the message's limits (checked by `check_header` above).
                let msg = self.message.as_mut().expect("check_header ensured a message");
                msg.size += header.payload_len;
                msg.fragments += 1;
            }
            self.frame = Some(InFrame { header, remaining: header.payload_len, unmasked: 0, taken: 0 });
        }
        let frame = self.frame.as_ref().expect("set above");
        if frame.header.opcode.is_control() {
            return self.control_frame();
        }
        self.data_frame()
    }

    /// Checks a header against the connection's state and limits (RFC 6455 §5.1, §5.2, §5.4).
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        if h.rsv != 0 {
            // RSV1 marks a compressed message when permessage-deflate is on (RFC 7692 §6), and only on the
            // first frame of a data message. Anything else is reserved (RFC 6455 §5.2).
            if h.rsv != RSV1 || self.deflate.is_none() {
                return Err(ProtocolError::ReservedBits(h.rsv));
            }
            if !matches!(h.opcode, OpCode::Text | OpCode::Binary) {
                return Err(ProtocolError::MisplacedCompressionBit);
            }
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        match h.opcode {
            OpCode::Continuation => {
                let Some(msg) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                if msg.fragments >= self.config.max_fragments {
                    return Err(ProtocolError::TooManyFragments { max: self.config.max_fragments });
                }
                self.check_sizes(h.payload_len, msg.size)
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                self.check_sizes(h.payload_len, 0)
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => Ok(()),
        }
    }

    fn check_sizes(&self, len: u64, so_far: u64) -> Result<(), ProtocolError> {
        if len > self.config.max_frame_payload {
            return Err(ProtocolError::FrameTooLarge { len, max: self.config.max_frame_payload });
        }
        if so_far + len > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge { max: self.config.max_message_size });
        }
        Ok(())
    }

    fn control_frame(&mut self) -> Result<Step, ProtocolError> {
        let frame = self.frame.as_ref().expect("caller checked");
        let len = frame.remaining as usize; // ≤ 125, checked by FrameHeader::parse
        let base = self.base();
        if self.recv.len() - base < len {
            return Ok(Step::NeedMore);
        }
        let header = frame.header;
        self.frame = None;
        let payload = if base == 0 {
            let mut payload = self.recv.split_to(len);
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            payload.freeze()
        } else {
            // Inside a message reassembled in place: copied out, its bytes become stale.
            let mut payload = self.recv[base..base + len].to_vec();
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            self.add_skip(len);
            Bytes::from(payload)
        };
        match header.opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_queued {
                    if self.pending_pongs.len() == MAX_PENDING_PONGS {
                        // RFC 6455 §5.5.3: answering only the most recent pings is allowed.
                        self.pending_pongs.pop_front();
                    }
                    self.pending_pongs.push_back(payload.clone());
                }
                Ok(Step::Event(Event::Ping(payload)))
            }
            OpCode::Pong => Ok(Step::Event(Event::Pong(payload))),
            _ => {
                let frame = parse_close_payload(&payload).map_err(|e| match e {
                    ClosePayloadError::OneByte => ProtocolError::CloseTooShort,
                    ClosePayloadError::BadCode(c) => ProtocolError::InvalidCloseCode(c),
                    ClosePayloadError::BadReason => ProtocolError::InvalidCloseReason,
                })?;
                self.received_close = true;
                self.message = None;
                self.reset_recv();
                if !self.close_queued {
                    // RFC 6455 §5.5.1: reply with a close frame, echoing the status code.
                    self.close_queued = true;
                    self.pending_pongs.clear();
                    self.pending_close = Some(QueuedClose { code: frame.code, reason: Bytes::new() });
                }
                self.outcome =
                    Some(CloseOutcome::Clean { remote: frame.clone(), initiated_locally: self.initiated_close });
                Ok(Step::Event(Event::Close(frame)))
            }
        }
    }

    fn data_frame(&mut self) -> Result<Step, ProtocolError> {
        if self.message.as_ref().is_some_and(|m| m.compressed) {
            return self.compressed_data_frame();
        }
        let base = self.base();
        let frame = self.frame.as_mut().expect("caller checked");
        let msg = self.message.as_mut().expect("a data frame always has a message");
        let avail = ((self.recv.len() - base) as u64).min(frame.remaining) as usize;
        if avail > frame.unmasked {
            let fresh = &mut self.recv[base + frame.unmasked..base + avail];
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
                let data = self.recv.split_to(avail).freeze();
                frame.remaining -= avail as u64;
                frame.taken += avail as u64;
                frame.unmasked = 0;
                if frame_done {
                    self.frame = None;
                }
                let fragment = msg.chunk(data, last);
                if last {
                    self.message = None;
                }
                Ok(Step::Event(Event::Fragment(fragment)))
            }
            ReceiveMode::Whole => {
                if !frame_done {
                    return Ok(Step::NeedMore);
                }
                // Reassembly in place: the payload joins the held bytes at the front of `recv`.
                self.frame = None;
                if self.skip > 0 {
                    // Whichever moves fewer bytes: the held bytes over the stale ones, or the payload back.
                    if self.held <= avail {
                        self.compact();
                    } else {
                        self.recv.copy_within(base..base + avail, self.held);
                    }
                }
                self.held += avail;
                if !fin {
                    return Ok(Step::Continue);
                }
                let kind = self.message.take().expect("checked above").kind;
                let payload = self.recv.split_to(self.held).freeze();
                self.recv.advance(self.skip);
                self.held = 0;
                self.skip = 0;
                Ok(Step::Event(InMessage::whole(kind, payload)))
            }
        }
    }

    /// A frame of a compressed message (RFC 7692 §7.2.2): payload bytes are unmasked and inflated as they
    /// arrive; the inflated size counts against `max_message_size` (1009 the moment it is exceeded) and
    /// inflated text is validated as it comes out (1007 at the first invalid byte).
    fn compressed_data_frame(&mut self) -> Result<Step, ProtocolError> {
        let frame = self.frame.as_mut().expect("caller checked");
        let msg = self.message.as_mut().expect("a data frame always has a message");
        let codec = self.deflate.as_mut().expect("RSV1 is only accepted with deflate on");
        let avail = (self.recv.len() as u64).min(frame.remaining) as usize;
        if avail > frame.unmasked {
            if let Some(key) = frame.header.mask {
                let at = (frame.taken as usize).wrapping_add(frame.unmasked);
                apply_mask(&mut self.recv[frame.unmasked..avail], key, at);
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
        let inflated = codec.inflate(&self.recv[..avail], &mut msg.inflated, cap);
        let mut corrupt = inflated.is_err();
        let used = inflated.unwrap_or(0);
        self.recv.advance(used);
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
                    self.message = None;
                }
                Ok(Step::Event(Event::Fragment(fragment)))
            }
            ReceiveMode::Whole => {
                if !last {
                    return Ok(if frame_done { Step::Continue } else { Step::NeedMore });
                }
                let msg = self.message.take().expect("checked above");
                let payload = Bytes::from(msg.inflated);
                Ok(Step::Event(InMessage::whole(msg.kind, payload)))
            }
        }
    }

    // ----- commands -----

    #[inline]
    fn check_send(&self) -> Result<(), SendError> {
        if self.failed.is_some() || self.eof {
            return Err(SendError::Failed);
        }
        if self.close_queued {
            return Err(SendError::Closing);
        }
        Ok(())
    }

    /// Encodes a whole text message (one frame) into `out`.
    pub fn send_text(&mut self, text: &str, out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_message(OpCode::Text, text.as_bytes(), out)
    }

    /// Encodes a whole binary message (one frame) into `out`.
    pub fn send_binary(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_message(OpCode::Binary, data, out)
    }

    /// Encodes a whole message (one frame) into `out`, choosing whether to compress it when permessage-deflate
    /// is on ([`Compress::Auto`] follows the configured threshold).
    pub fn send(
        &mut self,
        kind: DataKind,
        data: &[u8],
        compress: Compress,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        let opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        self.send_message_with(opcode, data, compress, out)
    }

    /// Like [`send`](Self::send) with [`Compress::Auto`], but when the payload would go on the wire unchanged
    /// (a server's uncompressed message: no masking, no deflate) only the frame header is appended to `out`
    /// and [`Encoded::HeaderOnly`] says so: the caller writes `payload` itself right after `out`'s bytes, e.g.
    /// with vectored I/O, saving a copy of large payloads. Otherwise the whole frame is in `out`
    /// ([`Encoded::Whole`]).
    pub fn send_unbuffered(&mut self, kind: DataKind, payload: &[u8], out: &mut Vec<u8>) -> Result<Encoded, SendError> {
        let verbatim =
            self.role == Role::Server && !self.deflate.as_ref().is_some_and(|c| c.wants_to_compress(payload.len()));
        if !verbatim {
            self.send(kind, payload, Compress::Auto, out)?;
            return Ok(Encoded::Whole);
        }
        self.check_send()?;
        if self.sending.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        self.poll_transmit(out);
        let opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        FrameHeader { fin: true, rsv: 0, opcode, mask: None, payload_len: payload.len() as u64 }.write_to(out);
        Ok(Encoded::HeaderOnly)
    }

    fn send_message(&mut self, opcode: OpCode, data: &[u8], out: &mut Vec<u8>) -> Result<(), SendError> {
        self.send_message_with(opcode, data, Compress::Auto, out)
    }

    #[inline]
    fn send_message_with(
        &mut self,
        opcode: OpCode,
        data: &[u8],
        compress: Compress,
        out: &mut Vec<u8>,
    ) -> Result<(), SendError> {
        self.check_send()?;
        if self.sending.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        if self.has_pending_transmit() {
            self.poll_transmit(out);
        }
        if self.deflate.is_none() || compress == Compress::Never {
            self.encode_frame(opcode, true, 0, data, out);
            return Ok(());
        }
        self.send_maybe_compressed(opcode, data, compress, out);
        Ok(())
    }

    /// A message when permessage-deflate is on: compressed if `compress` and the codec say so.
    fn send_maybe_compressed(&mut self, opcode: OpCode, data: &[u8], compress: Compress, out: &mut Vec<u8>) {
        let compressed = match (&mut self.deflate, compress) {
            (Some(codec), Compress::Auto) if codec.wants_to_compress(data.len()) => Some(codec.compress(data, true)),
            (Some(codec), Compress::Always) if codec.can_compress() => Some(codec.compress(data, true)),
            _ => None,
        };
        match compressed {
            Some(wire) => {
                self.encode_frame(opcode, true, RSV1, &wire, out);
                self.deflate.as_mut().expect("compressed above").put_scratch(wire);
            }
            None => self.encode_frame(opcode, true, 0, data, out),
        }
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
        self.check_send()?;
        let opcode = match self.sending {
            None => match kind {
                DataKind::Text => OpCode::Text,
                DataKind::Binary => OpCode::Binary,
            },
            Some(k) if k == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::FragmentInProgress),
        };
        self.poll_transmit(out);
        if self.sending.is_none() {
            self.sending_compressed = self.deflate.as_ref().is_some_and(|c| c.can_compress());
        }
        let rsv = if self.sending.is_none() && self.sending_compressed { RSV1 } else { 0 };
        if self.sending_compressed {
            let codec = self.deflate.as_mut().expect("checked at the first fragment");
            let wire = codec.compress(data, last);
            self.encode_frame(opcode, last, rsv, &wire, out);
            self.deflate.as_mut().expect("checked above").put_scratch(wire);
        } else {
            self.encode_frame(opcode, last, rsv, data, out);
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
        self.check_send()?;
        if payload.len() > 125 {
            return Err(SendError::ControlTooLong(payload.len()));
        }
        self.poll_transmit(out);
        self.encode_frame(opcode, true, 0, payload, out);
        Ok(())
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2): encodes a close frame with `code` and `reason` into
    /// `out`. Events keep coming until the peer's close arrives ([`Event::Close`]).
    pub fn close(&mut self, code: CloseCode, reason: &str, out: &mut Vec<u8>) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::UnsendableCloseCode(code.0));
        }
        if reason.len() > 123 {
            return Err(SendError::CloseReasonTooLong(reason.len()));
        }
        self.check_send()?;
        self.poll_transmit(out);
        self.initiated_close = true;
        self.close_queued = true;
        self.encode_close(Some(code), reason.as_bytes(), out);
        Ok(())
    }

    /// Starts the closing handshake with an empty close frame (the peer sees 1005, no status).
    pub fn close_without_code(&mut self, out: &mut Vec<u8>) -> Result<(), SendError> {
        self.check_send()?;
        self.poll_transmit(out);
        self.initiated_close = true;
        self.close_queued = true;
        self.encode_close(None, &[], out);
        Ok(())
    }

    // ----- output -----

    /// Appends the frames the connection must send on its own (a pong, the reply to a close, the close that
    /// fails the connection) to `out`. Returns whether anything was appended.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        let mut wrote = false;
        while let Some(p) = self.pending_pongs.pop_front() {
            self.encode_frame(OpCode::Pong, true, 0, &p, out);
            wrote = true;
        }
        if let Some(c) = self.pending_close.take() {
            self.encode_close(c.code, &c.reason, out);
            wrote = true;
        }
        wrote
    }

    /// Whether frames wait for [`poll_transmit`](Self::poll_transmit).
    #[inline]
    pub fn has_pending_transmit(&self) -> bool {
        !self.pending_pongs.is_empty() || self.pending_close.is_some()
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

    /// Header and payload in one pass into `out`; a client masks with a fresh key (RFC 6455 §5.3).
    #[inline]
    fn encode_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8], out: &mut Vec<u8>) {
        if self.rng.is_none() && payload.len() <= 125 {
            // A server's small frame: a two-byte header (RFC 6455 §5.2), then the payload as it is.
            let b0 = (fin as u8) << 7 | (rsv & 0x7) << 4 | opcode.as_u8();
            out.reserve(2 + payload.len());
            out.extend_from_slice(&[b0, payload.len() as u8]);
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

    // ----- state -----

    /// No more events will come: the peer's close arrived, the connection failed, or the transport ended.
    pub fn is_finished(&self) -> bool {
        self.received_close || self.failed.is_some()
    }

    /// A close frame was sent or queued: data can no longer be sent.
    pub fn is_closing(&self) -> bool {
        self.close_queued
    }

    /// Bytes of memory the receive buffer holds (its capacity), whether or not they are in use: with
    /// [`release_recv_buffer`](Self::release_recv_buffer), lets a driver free a large buffer once a
    /// connection has gone quiet.
    pub fn recv_buffer_capacity(&self) -> usize {
        self.recv.capacity()
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<&CloseOutcome> {
        self.outcome.as_ref()
    }

    /// Whether the driver should close the transport after flushing [`poll_transmit`](Self::poll_transmit)
    /// (RFC 6455 §7.1.1): a server once the closing handshake is done, either role once the connection has
    /// failed or the transport ended. A client whose handshake is done returns `false`: it waits for the
    /// server to close the TCP connection, with a timeout, then closes itself.
    pub fn wants_transport_closed(&self) -> bool {
        if self.failed.is_some() || self.eof {
            return true;
        }
        self.received_close && self.close_queued && self.role == Role::Server
    }

    /// Bytes held in the receive buffer, including the message being reassembled, for memory accounting.
    pub fn buffered_len(&self) -> usize {
        self.recv.len()
    }
}

/// The RSV1 bit in [`FrameHeader::rsv`]: a compressed message (RFC 7692 §6).
const RSV1: u8 = 0b100;

enum Step {
    Event(Event),
    Continue,
    NeedMore,
}
