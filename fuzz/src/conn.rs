//! `server_connection` / `client_connection`: a [`Connection`] fed arbitrary bytes in arbitrary chunkings.
//!
//! Input: the [`prelude`](crate::prelude), then the bytes the peer sends. Flags: bit 0 streaming mode, bit 1
//! auto-pong off, bit 2 feed EOF at the end, bit 3 tight `max_buffered` (the smallest valid value). Preset
//! (mod 8): the limits in [`PRESETS`].
//!
//! Invariants, for each of three chunkings (all at once, the input's chunks, byte by byte):
//! - no panic; `buffered_len() <= max_buffered + max_message_size` after every call; `feed` beyond
//!   `recv_capacity` is refused and takes nothing; a full buffer always yields an event (no deadlock);
//! - once `poll_event` returns `Err` it returns the same `Err` forever, and no event follows an error or the
//!   close; feeding more after the end changes nothing;
//! - events are well-formed: text is UTF-8, messages within `max_message_size`, control payloads ≤ 125,
//!   streaming fragments have consistent `first`/`last`/kind and their text is a valid UTF-8 prefix;
//! - the three chunkings give the same events (streamed fragments joined into messages), the same final error
//!   and the same close frame; the unfinished streamed message of one is a prefix of the other's;
//! - all agree with an independent reference model ([`model`]) of RFC 6455 framing and the limits;
//! - `poll_transmit` output parses as valid frames (a server's unmasked, a client's masked): only pongs that
//!   echo received pings in order (the latest ping always answered), then at most one close frame, carrying
//!   the error's close code or echoing the peer's; outcome, `is_finished`, `wants_transport_closed` and the
//!   `SendError` for a later send all match.

use std::str;

use wsproto::internal::frame::{FrameHeader, OpCode};
use wsproto::{CloseOutcome, Config, Connection, DataKind, Event, ProtocolError, ReceiveMode, Role, SendError};

use crate::prelude::Prelude;

/// (max_frame_payload, max_message_size, max_fragments). Index 0 is the "small-ish" production-like config.
pub const PRESETS: [(u64, u64, u64); 8] = [
    (64 << 10, 256 << 10, 64),
    (125, 256, 4),
    (1024, 512, 8),
    (16, 64, 3),
    (300, 1000, 2),
    (1, 1, 1),
    (126, 65_537, 16),
    (4096, 4096, 1),
];

/// The connection config an input asks for.
pub fn config_for(flags: u8, preset: u8) -> Config {
    let (frame, msg, frags) = PRESETS[preset as usize % PRESETS.len()];
    let mut c = Config::default();
    // RFC 6455 alone: no RSV1 (the reference model knows no extension); deflate has its own targets.
    c.deflate = None;
    c.max_frame_payload = frame;
    c.max_message_size = msg;
    c.max_fragments = frags;
    c.receive_mode = if flags & 1 != 0 { ReceiveMode::Streaming } else { ReceiveMode::Whole };
    c.auto_pong = flags & 2 == 0;
    let need = match c.receive_mode {
        ReceiveMode::Streaming => 139,
        _ => (frame.min(msg) as usize + 14).max(139),
    };
    c.max_buffered = if flags & 8 != 0 { need } else { need + (64 << 10) };
    c.validate().expect("fuzz presets are valid");
    c
}

/// An event, normalised: streamed fragments are joined into whole messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Msg(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
}

/// Drives one connection and checks the per-call invariants.
#[derive(Debug)]
pub struct Driver {
    pub role: Role,
    pub cfg: Config,
    pub events: Vec<Ev>,
    /// The streamed message in progress.
    pub partial: Option<(DataKind, Vec<u8>)>,
    /// How much of the streamed text in `partial` is known to be complete UTF-8.
    pub partial_checked: usize,
    pub error: Option<ProtocolError>,
    pub closed: bool,
    pub eof: bool,
    /// Everything `poll_transmit` produced.
    pub transmit: Vec<u8>,
    pub pings: Vec<Vec<u8>>,
    /// Bytes the connection may hold beyond `max_buffered` (a handshake's leftover, fed without the check).
    pub slack: usize,
}

impl Driver {
    pub fn new(role: Role, cfg: Config) -> Driver {
        Driver {
            role,
            cfg,
            events: Vec::new(),
            partial: None,
            partial_checked: 0,
            error: None,
            closed: false,
            eof: false,
            transmit: Vec::new(),
            pings: Vec::new(),
            slack: 0,
        }
    }

    fn check_buffered(&self, conn: &Connection) {
        let bound = self.cfg.max_buffered + self.cfg.max_message_size as usize + self.slack;
        assert!(
            conn.buffered_len() <= bound,
            "buffered_len {} exceeds max_buffered + max_message_size = {bound}",
            conn.buffered_len()
        );
    }

    /// Feeds one chunk the way a driver must: at most `recv_capacity` at a time, draining events in between.
    pub fn feed(&mut self, conn: &mut Connection, chunk: &[u8]) {
        let mut rest = chunk;
        loop {
            if conn.is_finished() {
                let before = conn.buffered_len();
                conn.feed(rest).expect("feed after the end is accepted (and discarded)");
                assert_eq!(conn.buffered_len(), before, "bytes fed after the end were kept");
                self.drain(conn);
                return;
            }
            let cap = conn.recv_capacity();
            if rest.len() > cap {
                let before = conn.buffered_len();
                let r = conn.feed(&rest[..cap + 1]);
                assert_eq!(r, Err(wsproto::BufferFull { capacity: cap }), "feed over capacity");
                assert_eq!(conn.buffered_len(), before, "a refused feed took bytes");
            }
            let n = cap.min(rest.len());
            conn.feed(&rest[..n]).expect("feed within recv_capacity");
            rest = &rest[n..];
            self.check_buffered(conn);
            self.drain(conn);
            if rest.is_empty() {
                return;
            }
            assert!(
                conn.recv_capacity() > 0 || conn.is_finished(),
                "deadlock: receive buffer full ({} bytes) but poll_event wants more",
                conn.buffered_len()
            );
        }
    }

    /// The transport ended.
    pub fn feed_eof(&mut self, conn: &mut Connection) {
        conn.feed_eof();
        self.eof = true;
        self.drain(conn);
    }

    /// Polls events until `Ok(None)` or the error, then collects `poll_transmit`.
    pub fn drain(&mut self, conn: &mut Connection) {
        loop {
            let r = conn.poll_event();
            self.check_buffered(conn);
            match r {
                Ok(Some(ev)) => {
                    assert!(self.error.is_none(), "event {ev:?} after error {:?}", self.error);
                    assert!(!self.closed, "event {ev:?} after the close event");
                    self.on_event(conn, ev);
                }
                Ok(None) => {
                    assert!(self.error.is_none(), "poll_event returned Ok(None) after error {:?}", self.error);
                    break;
                }
                Err(e) => {
                    match &self.error {
                        Some(prev) => assert_eq!(prev, &e, "the sticky error changed"),
                        None => {
                            assert!(!self.closed, "error {e:?} after the close event");
                            self.error = Some(e.clone());
                        }
                    }
                    assert!(conn.is_finished(), "not finished after error {e:?}");
                    assert_eq!(conn.poll_event(), Err(e.clone()), "error not sticky");
                    assert_eq!(conn.buffered_len(), 0, "a failed connection still buffers bytes");
                    break;
                }
            }
        }
        conn.poll_transmit(&mut self.transmit);
        assert!(!conn.has_pending_transmit(), "poll_transmit left frames pending");
        assert!(!conn.poll_transmit(&mut self.transmit), "second poll_transmit wrote frames");
    }

    fn on_event(&mut self, conn: &Connection, ev: Event) {
        let max_msg = self.cfg.max_message_size as usize;
        let whole = self.cfg.receive_mode == ReceiveMode::Whole;
        match ev {
            Event::Text(t) => {
                assert!(whole, "Text event in streaming mode");
                let b = t.clone().into_bytes();
                assert!(str::from_utf8(&b).is_ok(), "Text event is not UTF-8");
                assert_eq!(t.as_str().as_bytes(), &b[..]);
                assert!(b.len() <= max_msg, "text message of {} bytes over max_message_size {max_msg}", b.len());
                self.events.push(Ev::Msg(DataKind::Text, b.to_vec()));
            }
            Event::Binary(b) => {
                assert!(whole, "Binary event in streaming mode");
                assert!(b.len() <= max_msg, "binary message of {} bytes over max_message_size {max_msg}", b.len());
                self.events.push(Ev::Msg(DataKind::Binary, b.to_vec()));
            }
            Event::Fragment(f) => {
                assert!(!whole, "Fragment event in whole mode");
                assert!(!f.data.is_empty() || f.last, "empty non-final fragment");
                match &mut self.partial {
                    None => {
                        assert!(f.first, "fragment without `first` starts a message");
                        self.partial = Some((f.kind, f.data.to_vec()));
                    }
                    Some((kind, buf)) => {
                        assert!(!f.first, "`first` fragment inside a message");
                        assert_eq!(*kind, f.kind, "fragment kind changed within a message");
                        buf.extend_from_slice(&f.data);
                    }
                }
                let (kind, buf) = self.partial.as_ref().expect("set above");
                assert!(buf.len() <= max_msg, "streamed message of {} bytes over max_message_size", buf.len());
                if *kind == DataKind::Text {
                    // Check from the last complete code point only (checking the whole message again on every
                    // fragment is quadratic for large messages streamed in small pieces).
                    let from = if f.first { 0 } else { self.partial_checked };
                    match str::from_utf8(&buf[from..]) {
                        Ok(_) => self.partial_checked = buf.len(),
                        Err(e) => assert!(
                            e.error_len().is_none() && !f.last && {
                                self.partial_checked = from + e.valid_up_to();
                                true
                            },
                            "streamed text is not a valid UTF-8 prefix (last = {})",
                            f.last
                        ),
                    }
                }
                if f.last {
                    let (kind, buf) = self.partial.take().expect("set above");
                    self.events.push(Ev::Msg(kind, buf));
                }
            }
            Event::Ping(p) => {
                assert!(p.len() <= 125, "ping payload of {} bytes", p.len());
                self.pings.push(p.to_vec());
                self.events.push(Ev::Ping(p.to_vec()));
            }
            Event::Pong(p) => {
                assert!(p.len() <= 125, "pong payload of {} bytes", p.len());
                self.events.push(Ev::Pong(p.to_vec()));
            }
            Event::Close(cf) => {
                if let Some(c) = cf.code {
                    assert!(sendable(c.0), "close event with unsendable code {}", c.0);
                }
                assert!(cf.reason.len() <= 123, "close reason of {} bytes", cf.reason.len());
                assert!(cf.code.is_some() || cf.reason.is_empty(), "close reason without a code");
                assert!(conn.is_finished(), "not finished after the close event");
                self.closed = true;
                self.events.push(Ev::Close(cf.code.map(|c| c.0), cf.reason));
            }
            other => panic!("unknown event {other:?}"),
        }
    }

    /// End-of-run checks: transmitted frames, outcome, state queries, and what a send returns now.
    pub fn check_end(&mut self, conn: &mut Connection) {
        // Feeding after the end changes nothing.
        if conn.is_finished() {
            let before = self.events.len();
            conn.feed(&[0x81, 0x00, 0x89, 0x80, 0, 0, 0, 0]).expect("feed after the end");
            self.drain(conn);
            assert_eq!(self.events.len(), before, "events after the end");
        }
        let sent = auto_frames(self.role, &self.transmit);
        // Pongs echo pings, in order, each at most once; the latest ping is answered unless the connection
        // closed or failed first.
        let mut pings = self.pings.iter();
        for p in &sent.pongs {
            assert!(pings.any(|q| q == p), "pong {p:?} does not echo a ping (in order)");
        }
        if !self.cfg.auto_pong {
            assert!(sent.pongs.is_empty(), "pong sent with auto_pong off");
        } else if self.error.is_none() && !self.closed {
            if let Some(last) = self.pings.last() {
                assert_eq!(sent.pongs.last(), Some(last), "the latest ping was not answered");
            }
        }
        match (&self.error, self.closed) {
            (Some(ProtocolError::UnexpectedEof), _) => {
                assert_eq!(sent.close, None, "close frame sent after EOF")
            }
            (Some(e), _) => {
                let c = sent.close.as_ref().unwrap_or_else(|| panic!("no close frame after error {e:?}"));
                assert!(c.len() >= 2, "close frame for {e:?} has no code");
                assert_eq!(u16::from_be_bytes([c[0], c[1]]), e.close_code().0, "close code for {e:?}");
                assert!(str::from_utf8(&c[2..]).is_ok(), "close reason not UTF-8");
            }
            (None, true) => {
                let Some(Ev::Close(code, _)) = self.events.last() else { panic!("closed without a close event") };
                let want = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                assert_eq!(sent.close.as_ref(), Some(&want), "close reply does not echo the code");
            }
            (None, false) => assert_eq!(sent.close, None, "close frame sent while open"),
        }
        // Outcome and state.
        let outcome = conn.close_outcome().cloned();
        match (&self.error, self.closed) {
            (Some(ProtocolError::UnexpectedEof), _) => assert_eq!(outcome, Some(CloseOutcome::Abnormal)),
            (Some(e), _) => assert_eq!(outcome, Some(CloseOutcome::Failed(e.clone()))),
            (None, true) => match outcome {
                Some(CloseOutcome::Clean { remote, initiated_locally: false }) => {
                    assert_eq!(
                        Some(Ev::Close(remote.code.map(|c| c.0), remote.reason)),
                        self.events.last().cloned(),
                        "outcome's remote close differs from the close event"
                    );
                }
                other => panic!("outcome {other:?} after a close event"),
            },
            (None, false) => assert_eq!(outcome, None, "outcome while open"),
        }
        assert_eq!(conn.is_finished(), self.error.is_some() || self.closed, "is_finished");
        let wants = self.error.is_some() || self.eof || (self.closed && self.role == Role::Server);
        assert_eq!(conn.wants_transport_closed(), wants, "wants_transport_closed");
        assert_eq!(conn.is_closing(), self.closed || matches!(&self.error, Some(e) if e.sends_close()));
        let mut out = Vec::new();
        // With permessage-deflate on, a 1-byte message may be compressed (threshold 0): ask for it plain.
        let r = if conn.is_deflate_enabled() {
            conn.send(DataKind::Binary, b"x", wsproto::Compress::Never, &mut out)
        } else {
            conn.send_binary(b"x", &mut out)
        };
        if self.error.is_some() || self.eof {
            assert_eq!(r, Err(SendError::Failed), "send after failure/EOF");
            assert!(out.is_empty());
        } else if self.closed {
            assert_eq!(r, Err(SendError::Closing), "send after the close");
            assert!(out.is_empty());
        } else {
            assert_eq!(r, Ok(()), "send on an open connection");
            let frames = parse_frames(self.role, &out);
            assert_eq!(frames.len(), 1);
            assert_eq!((frames[0].0.opcode, frames[0].0.fin, &frames[0].1[..]), (OpCode::Binary, true, &b"x"[..]));
        }
    }
}

/// Whether a close code may be on the wire (RFC 6455 §7.4, IANA registry) — written out independently.
pub fn sendable(code: u16) -> bool {
    (1000..=1003).contains(&code) || (1007..=1014).contains(&code) || (3000..=4999).contains(&code)
}

/// Parses a byte stream sent by `sender`: every frame complete, valid, in shortest-length form, masked iff
/// the sender is a client. Returns headers with unmasked payloads.
pub fn parse_frames(sender: Role, bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    parse_frames_ext(sender, bytes, false)
}

/// [`parse_frames`], also allowing RSV1 (permessage-deflate) when `rsv1` is true: only on the first frame of
/// a data message, never on a continuation or control frame (RFC 7692 §6.1).
pub fn parse_frames_ext(sender: Role, mut bytes: &[u8], rsv1: bool) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = match FrameHeader::parse_strict(bytes) {
            Ok(Some(x)) => x,
            other => panic!("sent bytes do not parse as a frame: {other:?} at {:02x?}", &bytes[..bytes.len().min(16)]),
        };
        assert_eq!(h.mask.is_some(), sender == Role::Client, "{sender:?} sent a frame with mask {:?}", h.mask);
        if rsv1 && h.rsv == 0b100 {
            assert!(
                matches!(h.opcode, OpCode::Text | OpCode::Binary),
                "sent RSV1 on a {:?} frame (only the first frame of a message may carry it)",
                h.opcode
            );
        } else {
            assert_eq!(h.rsv, 0, "sent frame with RSV bits");
        }
        let len = usize::try_from(h.payload_len).expect("length fits");
        assert!(bytes.len() >= n + len, "sent frame truncated");
        let mut payload = bytes[n..n + len].to_vec();
        if let Some(k) = h.mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        out.push((h, payload));
        bytes = &bytes[n + len..];
    }
    out
}

/// The frames a connection sends on its own.
#[derive(Debug, Default)]
pub struct AutoFrames {
    pub pongs: Vec<Vec<u8>>,
    /// The close frame's payload.
    pub close: Option<Vec<u8>>,
}

/// Parses `poll_transmit` output: pongs, then at most one close frame, nothing after it.
pub fn auto_frames(sender: Role, bytes: &[u8]) -> AutoFrames {
    let mut out = AutoFrames::default();
    for (h, payload) in parse_frames(sender, bytes) {
        assert!(out.close.is_none(), "frame {h:?} after the close frame");
        assert!(h.fin, "automatic frame without FIN");
        assert!(payload.len() <= 125, "automatic control frame of {} bytes", payload.len());
        match h.opcode {
            OpCode::Pong => out.pongs.push(payload),
            OpCode::Close => {
                if !payload.is_empty() {
                    assert!(payload.len() >= 2, "close frame with one byte");
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    assert!(sendable(code), "sent close code {code}");
                    assert!(str::from_utf8(&payload[2..]).is_ok(), "sent close reason not UTF-8");
                }
                out.close = Some(payload);
            }
            op => panic!("poll_transmit produced a {op:?} frame"),
        }
    }
    out
}

/// What the reference model expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub events: Vec<Ev>,
    pub error: Option<ProtocolError>,
    /// The unfinished message: its bytes so far (including bytes of a partial frame).
    pub partial: Option<(DataKind, Vec<u8>)>,
}

struct ModelMsg {
    kind: DataKind,
    data: Vec<u8>,
    size: u64,
    frames: u64,
}

/// An independent reference model of what a connection in `role` reports for the peer's byte stream `data`
/// (RFC 6455 §5–§8 plus the configured limits), whatever the chunking.
///
/// Where one frame breaks several rules, it reports the first in this order (wsproto's documented checks):
/// header syntax (`FrameHeader::parse`), RSV bits, masking, continuation state, fragment count, frame size,
/// message size; then the payload (close payload, UTF-8 as soon as a byte is invalid).
pub fn model(role: Role, cfg: &Config, data: &[u8], eof: bool) -> Expected {
    let mut events = Vec::new();
    let mut msg: Option<ModelMsg> = None;
    let mut pos = 0usize;
    let err = 'frames: loop {
        let (h, hl) = match FrameHeader::parse(&data[pos..]) {
            Err(e) => break Some(ProtocolError::Frame(e)),
            Ok(None) => break None,
            Ok(Some(x)) => x,
        };
        if h.rsv != 0 {
            break Some(ProtocolError::ReservedBits(h.rsv));
        }
        match (role, h.mask.is_some()) {
            (Role::Server, false) => break Some(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => break Some(ProtocolError::MaskedFrame),
            _ => {}
        }
        let len = h.payload_len;
        let size_err = |so_far: u64| {
            if len > cfg.max_frame_payload {
                Some(ProtocolError::FrameTooLarge { len, max: cfg.max_frame_payload })
            } else if so_far + len > cfg.max_message_size {
                Some(ProtocolError::MessageTooLarge { max: cfg.max_message_size })
            } else {
                None
            }
        };
        match h.opcode {
            OpCode::Continuation => {
                let Some(m) = &msg else { break Some(ProtocolError::UnexpectedContinuation) };
                if m.frames >= cfg.max_fragments {
                    break Some(ProtocolError::TooManyFragments { max: cfg.max_fragments });
                }
                if let Some(e) = size_err(m.size) {
                    break Some(e);
                }
            }
            OpCode::Text | OpCode::Binary => {
                if msg.is_some() {
                    break Some(ProtocolError::ExpectedContinuation);
                }
                if let Some(e) = size_err(0) {
                    break Some(e);
                }
            }
            _ => {}
        }
        pos += hl;
        let avail = ((data.len() - pos) as u64).min(len) as usize;
        let mut payload = data[pos..pos + avail].to_vec();
        if let Some(k) = h.mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        let complete = avail as u64 == len;
        match h.opcode {
            OpCode::Ping | OpCode::Pong | OpCode::Close => {
                if !complete {
                    break None;
                }
                pos += avail;
                match h.opcode {
                    OpCode::Ping => events.push(Ev::Ping(payload)),
                    OpCode::Pong => events.push(Ev::Pong(payload)),
                    _ => match payload.len() {
                        0 => {
                            events.push(Ev::Close(None, String::new()));
                            return Expected { events, error: None, partial: msg.map(|m| (m.kind, m.data)) };
                        }
                        1 => break Some(ProtocolError::CloseTooShort),
                        _ => {
                            let code = u16::from_be_bytes([payload[0], payload[1]]);
                            if !sendable(code) {
                                break Some(ProtocolError::InvalidCloseCode(code));
                            }
                            let Ok(reason) = str::from_utf8(&payload[2..]) else {
                                break Some(ProtocolError::InvalidCloseReason);
                            };
                            events.push(Ev::Close(Some(code), reason.to_owned()));
                            return Expected { events, error: None, partial: msg.map(|m| (m.kind, m.data)) };
                        }
                    },
                }
            }
            _ => {
                let m = match h.opcode {
                    OpCode::Continuation => msg.as_mut().expect("checked above"),
                    op => msg.insert(ModelMsg {
                        kind: if op == OpCode::Text { DataKind::Text } else { DataKind::Binary },
                        data: Vec::new(),
                        size: 0,
                        frames: 0,
                    }),
                };
                m.size += len;
                m.frames += 1;
                m.data.extend_from_slice(&payload);
                if m.kind == DataKind::Text {
                    if let Err(e) = str::from_utf8(&m.data) {
                        if e.error_len().is_some() || (complete && h.fin) {
                            break 'frames Some(ProtocolError::InvalidUtf8 { valid_up_to: e.valid_up_to() as u64 });
                        }
                    }
                }
                if !complete {
                    break None;
                }
                pos += avail;
                if h.fin {
                    let m = msg.take().expect("set above");
                    events.push(Ev::Msg(m.kind, m.data));
                }
            }
        }
    };
    let error = match err {
        Some(e) => Some(e),
        None if eof => Some(ProtocolError::UnexpectedEof),
        None => None,
    };
    Expected { events, error, partial: msg.map(|m| (m.kind, m.data)) }
}

fn is_prefix(a: &Option<(DataKind, Vec<u8>)>, b: &Option<(DataKind, Vec<u8>)>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some((ka, da)), Some((kb, db))) => ka == kb && db.starts_with(da),
        (Some(_), None) => false,
    }
}

/// Runs one chunking through a fresh connection.
pub fn run_chunks(role: Role, cfg: &Config, chunks: &[&[u8]], eof: bool) -> Driver {
    let mut conn = Connection::new(role, cfg.clone(), [0x5a; 32]).expect("valid config");
    let mut d = Driver::new(role, cfg.clone());
    for c in chunks {
        d.feed(&mut conn, c);
    }
    if eof {
        d.feed_eof(&mut conn);
    }
    d.check_end(&mut conn);
    d
}

/// Checks that the runs of several chunkings agree with each other and with the model.
pub fn compare_runs(runs: &[Driver], want: &Expected) {
    let a = &runs[0];
    let a_close = auto_frames(a.role, &a.transmit).close;
    for (i, r) in runs.iter().enumerate().skip(1) {
        assert_eq!(r.events, a.events, "chunking {i}: events depend on the chunking");
        assert_eq!(r.error, a.error, "chunking {i}: the final error depends on the chunking");
        assert_eq!(auto_frames(r.role, &r.transmit).close, a_close, "chunking {i}: the close frame differs");
        assert!(
            is_prefix(&a.partial, &r.partial) || is_prefix(&r.partial, &a.partial),
            "chunking {i}: unfinished streamed messages diverge"
        );
    }
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r.events, want.events, "chunking {i}: events differ from the reference model");
        assert_eq!(r.error, want.error, "chunking {i}: final error differs from the reference model");
        assert!(is_prefix(&r.partial, &want.partial), "chunking {i}: streamed data not in the model's message");
    }
}

/// The `server_connection` / `client_connection` target.
pub fn connection_target(role: Role, input: &[u8]) {
    let Some(p) = Prelude::parse(input) else { return };
    let cfg = config_for(p.flags, p.preset);
    let eof = p.flags & 4 != 0;
    let want = model(role, &cfg, p.data, eof);
    let runs: Vec<Driver> = p.chunkings().iter().map(|chunks| run_chunks(role, &cfg, chunks, eof)).collect();
    compare_runs(&runs, &want);
}
