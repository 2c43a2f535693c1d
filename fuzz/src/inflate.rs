//! `inflate`: a server [`Connection`](wsproto::Connection) with permessage-deflate negotiated (real handshakes in memory), fed
//! compressed messages — valid ones from a client `Connection`, the same mutated, foreign compressor output
//! (any window, BFINAL blocks), RFC 7692 §7.2.3 examples, arbitrary bytes with RSV1 — in arbitrary
//! fragmentations and chunkings, under small limits.
//!
//! Input (`arbitrary`): flags (bit 0 streaming, bit 1 auto-pong off, bit 2 EOF at the end, bit 3 tight
//! `max_buffered`, bit 4 the server has deflate off so RSV1 is never negotiated), a limits preset
//! ([`PRESETS`]), the client's and the server's [`DeflateConfig`](wsproto::DeflateConfig) (no context
//! takeover, window bits, level, threshold), chunk sizes, a masking seed, the messages and trailing bytes.
//!
//! Invariants:
//! - no panic; the [`Driver`] checks hold (sticky errors, events well formed: text is UTF-8, messages and
//!   streamed messages within `max_message_size`, the close frame carries the error's code: 1007 for invalid
//!   compressed data or UTF-8, 1009 for the limits);
//! - the three chunkings (all at once, the input's chunks, byte by byte) give the same events, error and
//!   close frame;
//! - what is known to be valid is delivered exactly, or fails with a limit error exactly when it is over a
//!   limit (frame size, fragment count, compressed or inflated message size): uncompressed messages, pings,
//!   the client's own compressed messages while the server's decompressor history matches the client's,
//!   fresh compressed streams within the negotiated window (foreign, RFC examples, including the BFINAL form of
//!   RFC 7692 §7.2.3.4); anything else fails only with a plausible error (1007 / 1009, or the RSV error for
//!   abused frames); without deflate negotiated, RSV1 fails with `ReservedBits`;
//! - memory: live heap while feeding stays within [`MEM_MSG_FACTOR`] × (max_message_size + max_frame_payload)
//!   + 2 × max_buffered + [`MEM_CONST`] (counting allocator; events dropped as they come).

use arbitrary::{Arbitrary, Unstructured};
use flate2::{Compression, FlushCompress};
use wsproto::internal::frame::{FrameHeader, OpCode};
use wsproto::internal::mask::apply_mask;
use wsproto::{Compress, Config, DataKind, DeflateParams, Event, ProtocolError, ReceiveMode, Role};

use crate::alloc;
use crate::conn::{auto_frames, parse_frames_ext, Driver, Ev};
use crate::deflate::{handshake_pair, DataGen, DeflateGen};

/// (max_frame_payload, max_message_size, max_fragments).
pub const PRESETS: [(u64, u64, u64); 8] = [
    (16 << 10, 64 << 10, 16),
    (64 << 10, 64 << 10, 64),
    (1024, 4096, 8),
    (125, 1000, 4),
    (64, 256, 2),
    (4096, 65_537, 32),
    (8, 16, 4),
    (100_000, 32 << 10, 128),
];

/// Memory bound: `MEM_MSG_FACTOR * (max_message_size + max_frame_payload) + 2 * max_buffered + MEM_CONST`.
/// The factor covers the inflated message's buffer growing by doubling (up to 2× the limit) plus the receive
/// buffer; the constant covers zlib-rs's inflate state (about 47 KiB whatever the window bits, measured; held
/// twice for a moment when it is reset) and one 32 KiB output reservation. Measured peaks stay under half of
/// the bound with these presets.
pub const MEM_MSG_FACTOR: usize = 3;
pub const MEM_CONST: usize = 128 << 10;

const RSV1: u8 = 0b100;
/// Most plaintext generated per input (keeps one execution fast).
const BUDGET: usize = 1 << 20;
/// Wires up to this length are also fed byte by byte; longer ones in pieces of 1–16 bytes.
const BYTEWISE_MAX: usize = 16 << 10;

#[derive(Arbitrary, Debug)]
pub enum Mutation {
    Flip(u16, u8),
    Set(u16, u8),
    Truncate(u16),
    Insert(u16, u8, u8),
    Remove(u16, u8),
    AppendTail,
    Append(u8, u8),
    Swap(u16, u16),
}

fn mutate(p: &mut Vec<u8>, muts: &[Mutation]) {
    for m in muts.iter().take(8) {
        let at = |i: u16, len: usize| i as usize % (len + 1);
        match *m {
            Mutation::Flip(i, b) if !p.is_empty() => {
                let i = i as usize % p.len();
                p[i] ^= 1 << (b % 8);
            }
            Mutation::Set(i, v) if !p.is_empty() => {
                let i = i as usize % p.len();
                p[i] = v;
            }
            Mutation::Truncate(n) => p.truncate(at(n, p.len())),
            Mutation::Insert(i, v, n) => {
                let i = at(i, p.len());
                p.splice(i..i, std::iter::repeat_n(v, 1 + n as usize % 8));
            }
            Mutation::Remove(i, n) if !p.is_empty() => {
                let i = i as usize % p.len();
                let end = (i + 1 + n as usize % 8).min(p.len());
                p.drain(i..end);
            }
            Mutation::AppendTail => p.extend_from_slice(&[0, 0, 0xff, 0xff]),
            Mutation::Append(v, n) => p.extend(std::iter::repeat_n(v, 1 + n as usize % 8)),
            Mutation::Swap(i, j) if !p.is_empty() => {
                let (i, j) = (i as usize % p.len(), j as usize % p.len());
                p.swap(i, j);
            }
            _ => {}
        }
    }
}

/// How a message is cut into frames.
#[derive(Arbitrary, Debug)]
pub struct FragGen {
    /// Frame payload sizes, `(b & 0x3f) << (3 * (b >> 6))` (0 = an empty frame); the rest is the last frame.
    sizes: Vec<u8>,
    ping_between: bool,
    /// (frame index, RSV bits): overwrite one frame's RSV bits.
    abuse: Option<(u8, u8)>,
}

#[derive(Arbitrary, Debug)]
pub enum MsgGen {
    /// Sent by the client `Connection` (`send`, or `send_fragment` in the given pieces), then possibly mutated.
    Client {
        text: bool,
        data: DataGen,
        compress: u8,
        pieces: Vec<u8>,
        muts: Vec<Mutation>,
        frag: FragGen,
    },
    /// A fresh raw-deflate stream from flate2 directly, with any window (also larger than negotiated: zlib-rs
    /// inflates with a 32 KiB window whatever the bits, so that is not an error) and end.
    Foreign {
        text: bool,
        data: DataGen,
        bits: u8,
        level: u8,
        end: u8,
        muts: Vec<Mutation>,
        frag: FragGen,
    },
    /// Arbitrary bytes as a compressed payload.
    Raw {
        text: bool,
        payload: Vec<u8>,
        frag: FragGen,
    },
    /// RFC 7692 §7.2.3 examples.
    Rfc {
        which: u8,
        frag: FragGen,
    },
    /// Uncompressed (RSV1 clear).
    Plain {
        text: bool,
        data: DataGen,
        frag: FragGen,
    },
    Ping(u8, u8),
    Close(u8),
}

#[derive(Arbitrary, Debug)]
pub struct InflateInput {
    flags: u8,
    preset: u8,
    client: DeflateGen,
    server: DeflateGen,
    chunks: Vec<u8>,
    mask_seed: u32,
    msgs: Vec<MsgGen>,
    tail: Vec<u8>,
}

/// What the server must make of one item on the wire.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Delivered as this event.
    Exact(Ev),
    /// Fails with FrameTooLarge, MessageTooLarge or TooManyFragments.
    Limit,
    /// Fails with this error.
    Fail(ProtocolError),
    /// Delivered as a message of this kind with whatever content, or fails with a plausible error.
    Any(DataKind, bool),
}

#[derive(Debug)]
struct Item {
    expect: Expect,
    /// A ping between the fragments of message `excuse`: not delivered if that message fails.
    excuse: Option<usize>,
    what: String,
}

/// Where a compressed message comes from, for the decompressor-history bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Producer {
    /// The client connection, unmodified.
    Client,
    /// A complete, unmodified fresh stream; `window_ok`: within the negotiated window; `misaligns`: it kept its
    /// `00 00 ff ff`, so the tail the receiver appends starts a stored block that never ends (the message
    /// itself decodes, what follows does not).
    Fresh { window_ok: bool, bfinal: bool, misaligns: bool },
    /// The second message of the RFC 7692 §7.2.3.2 example (refers back into the first).
    Shared,
    /// Anything else.
    Dirty,
}

/// The server decompressor's state, as far as the generator knows it.
struct History {
    reset: bool,
    /// At a block boundary after well-formed data.
    aligned: bool,
    /// Holds exactly what the client's compressor holds.
    client: bool,
    last_exact: bool,
}

impl History {
    /// Whether a compressed message from `p` is decoded exactly; then updates the state.
    fn message(&mut self, p: Producer) -> bool {
        let start = self.reset || self.aligned;
        let exact = match p {
            Producer::Client => self.reset || (self.aligned && self.client),
            Producer::Fresh { window_ok, .. } => start && window_ok,
            Producer::Shared => self.last_exact && !self.reset,
            Producer::Dirty => false,
        };
        self.last_exact = exact;
        if self.reset {
            self.aligned = true;
            self.client = true;
        } else {
            self.aligned = self.aligned
                && p != Producer::Dirty
                && !matches!(p, Producer::Fresh { window_ok: false, .. } | Producer::Fresh { misaligns: true, .. });
            // After a BFINAL block the stream ends: a receiver starts a fresh one, the client's history is gone.
            self.client = self.client && p == Producer::Client;
            if matches!(p, Producer::Fresh { bfinal: true, .. }) {
                self.aligned = exact;
            }
        }
        exact
    }
}

fn lcg(seed: u32) -> impl FnMut() -> u32 {
    let mut s = seed ^ 0x2545_f491;
    move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        s
    }
}

/// The server's config for the input.
pub fn server_config(flags: u8, preset: u8) -> Config {
    let (frame, msg, frags) = PRESETS[preset as usize % PRESETS.len()];
    let mut c = Config::default();
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
    c
}

/// RFC 7692 §7.2.3: (payload, message, BFINAL form).
const RFC_EXAMPLES: [(&[u8], &[u8], bool); 6] = [
    (&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], b"Hello", false), // §7.2.3.1
    (&[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], b"Hello", false), // §7.2.3.3
    (&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], b"Hello", true), // §7.2.3.4
    (&[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00], b"Hello", false), // §7.2.3.5
    (&[0x00], b"", false),                                          // an empty message
    (&[], b"", false),                                              // an empty payload (malformed)
];
/// §7.2.3.2: the second "Hello", referring back into the first.
const RFC_SHARED: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];

/// A foreign compressor's fresh raw-deflate stream; returns (payload, BFINAL form, RFC-sanctioned end).
fn foreign(data: &[u8], bits: u8, level: u8, end: u8) -> (Vec<u8>, bool, bool) {
    let mut c = flate2::Compress::new_with_window_bits(Compression::new(level as u32 % 10), false, bits);
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 64);
    let mut run = |input: &[u8], flush: FlushCompress, out: &mut Vec<u8>| {
        let start = c.total_in();
        for _ in 0..100_000 {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity() + 64);
            }
            let done = (c.total_in() - start) as usize;
            let status = c.compress_vec(&input[done..], out, flush).expect("compress");
            let done = (c.total_in() - start) as usize;
            let finished = match flush {
                FlushCompress::Finish => status == flate2::Status::StreamEnd,
                _ => out.len() < out.capacity(),
            };
            if done == input.len() && finished {
                return;
            }
        }
        panic!("foreign compressor does not finish");
    };
    let strip = |out: &mut Vec<u8>| {
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        }
    };
    match end % 6 {
        // Sync flush, tail removed (RFC 7692 §7.2.1).
        0 => {
            run(data, FlushCompress::Sync, &mut out);
            strip(&mut out);
        }
        // Sync flush, tail kept (RFC 7692 §7.2.1 says to remove it): the message decodes, but the tail the
        // receiver appends then starts a stored block whose length comes from the next message.
        1 => run(data, FlushCompress::Sync, &mut out),
        // Full flush, tail removed.
        2 => {
            run(data, FlushCompress::Full, &mut out);
            strip(&mut out);
        }
        // Two sync-flushed halves (two blocks in one message, §7.2.3.5).
        3 => {
            let half = data.len() / 2;
            run(&data[..half], FlushCompress::Sync, &mut out);
            run(&data[half..], FlushCompress::Sync, &mut out);
            strip(&mut out);
        }
        // A final block plus a 0x00 octet: RFC 7692 §7.2.3.4.
        4 => {
            run(data, FlushCompress::Finish, &mut out);
            out.push(0);
            return (out, true, true);
        }
        // A final block alone (not the RFC's form: the appended tail then starts a broken stored block).
        _ => {
            run(data, FlushCompress::Finish, &mut out);
            return (out, true, false);
        }
    }
    (out, false, false)
}

/// Appends one masked frame.
fn push_frame(wire: &mut Vec<u8>, fin: bool, rsv: u8, opcode: OpCode, payload: &[u8], key: [u8; 4]) {
    let h = FrameHeader { fin, rsv, opcode, mask: Some(key), payload_len: payload.len() as u64 };
    h.write_to(wire);
    let start = wire.len();
    wire.extend_from_slice(payload);
    apply_mask(&mut wire[start..], key, 0);
}

fn split_sizes(sizes: &[u8]) -> Vec<usize> {
    sizes.iter().take(64).map(|&b| ((b & 0x3f) as usize) << (3 * (b >> 6))).collect()
}

/// Builds the wire and the expectations.
struct Builder<'a> {
    cfg: &'a Config,
    params: Option<DeflateParams>,
    wire: Vec<u8>,
    items: Vec<Item>,
    key: Box<dyn FnMut() -> u32>,
    history: History,
    /// The client sent a compressed message whose last frame is empty (the compressor had nothing to flush),
    /// so the data did not end in a stripped empty stored block: the server's decompressor is misaligned from
    /// here on (until a reset). Messages about later items say so.
    poisoned: bool,
}

impl Builder<'_> {
    /// Frames one message: `payload` (compressed when `rsv1`), checks the limits, records the expectation.
    /// `exact`: the content it must arrive as, if known.
    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        kind: DataKind,
        payload: &[u8],
        rsv1: bool,
        producer: Producer,
        plain: &[u8],
        frag: &FragGen,
        mut what: String,
    ) {
        if self.poisoned {
            what.push_str(" [after a compressed message with an empty last frame]");
        }
        let mut pieces = Vec::new();
        let mut at = 0;
        for s in split_sizes(&frag.sizes) {
            let end = (at + s).min(payload.len());
            pieces.push(&payload[at..end]);
            at = end;
        }
        pieces.push(&payload[at..]);
        let n = pieces.len();
        let opcode = if kind == DataKind::Text { OpCode::Text } else { OpCode::Binary };
        let mut rsvs: Vec<u8> = (0..n).map(|i| if i == 0 && rsv1 { RSV1 } else { 0 }).collect();
        let mut abused = false;
        if let Some((i, bits)) = frag.abuse {
            let i = i as usize % n;
            if rsvs[i] != bits % 8 {
                rsvs[i] = bits % 8;
                abused = true;
            }
        }
        let index = self.items.len() + usize::from(frag.ping_between && n > 1);
        for (i, p) in pieces.iter().enumerate() {
            let op = if i == 0 { opcode } else { OpCode::Continuation };
            let key = (self.key)().to_be_bytes();
            push_frame(&mut self.wire, i + 1 == n, rsvs[i], op, p, key);
            if i == 0 && frag.ping_between && n > 1 {
                let ping = format!("between {}", self.items.len()).into_bytes();
                let key = (self.key)().to_be_bytes();
                push_frame(&mut self.wire, true, 0, OpCode::Ping, &ping, key);
                self.items.push(Item {
                    expect: Expect::Exact(Ev::Ping(ping)),
                    excuse: Some(index),
                    what: "ping between fragments".into(),
                });
            }
        }
        let c = self.cfg;
        let over = n as u64 > c.max_fragments
            || pieces.iter().any(|p| p.len() as u64 > c.max_frame_payload)
            || payload.len() as u64 > c.max_message_size
            || plain.len() as u64 > c.max_message_size;
        let (expect, bfinal) = if abused {
            // RSV bits changed on some frame: the decompressor may see anything.
            if self.params.is_some() && rsvs[0] & RSV1 != 0 {
                self.history.message(Producer::Dirty);
            } else if rsv1 && !self.history.reset {
                // The sender's compressor took the message in; the server's decompressor never sees it.
                self.history.client = false;
            }
            (Expect::Any(kind, true), false)
        } else if !rsv1 {
            (if over { Expect::Limit } else { Expect::Exact(Ev::Msg(kind, plain.to_vec())) }, false)
        } else if self.params.is_none() {
            (Expect::Fail(ProtocolError::ReservedBits(RSV1)), false)
        } else {
            let exact = self.history.message(producer);
            let bfinal = matches!(producer, Producer::Fresh { bfinal: true, .. });
            match (exact, over) {
                (true, true) => (Expect::Limit, bfinal),
                (true, false) => (Expect::Exact(Ev::Msg(kind, plain.to_vec())), bfinal),
                (false, _) => (Expect::Any(kind, false), false),
            }
        };
        debug_assert_eq!(self.items.len(), index);
        // Exactness that rests on RFC 7692 §7.2.3.4 says so in every message about the item.
        let what = if bfinal { format!("{what} [BFINAL block, RFC 7692 §7.2.3.4]") } else { what };
        self.items.push(Item { expect, excuse: None, what });
    }
}

/// Feeds `chunks` to a fresh server connection with the driver's checks.
fn run(client_cfg: &Config, server_cfg: &Config, chunks: &[&[u8]], eof: bool) -> Driver {
    let mut conn = handshake_pair(client_cfg, server_cfg, 1).server;
    let mut d = Driver::new(Role::Server, server_cfg.clone());
    for c in chunks {
        d.feed(&mut conn, c);
    }
    if eof {
        d.feed_eof(&mut conn);
    }
    d.check_end(&mut conn);
    d
}

/// FNV-1a, fed piece by piece without allocating.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn digest_bytes(tag: u8, data: &[u8]) -> (u8, usize, u64) {
    let mut h = Fnv::new();
    h.update(data);
    (tag, data.len(), h.0)
}

fn digest(ev: &Ev) -> (u8, usize, u64) {
    match ev {
        Ev::Msg(DataKind::Text, d) => digest_bytes(0, d),
        Ev::Msg(DataKind::Binary, d) => digest_bytes(1, d),
        Ev::Ping(d) => digest_bytes(2, d),
        Ev::Pong(d) => digest_bytes(3, d),
        Ev::Close(code, reason) => digest_bytes(4, format!("{code:?}{reason}").as_bytes()),
    }
}

/// Feeds `chunks` to a fresh server connection keeping nothing but digests of the events, and returns
/// them with the peak live heap (bytes above the level before the first feed).
fn lean_run(client_cfg: &Config, server_cfg: &Config, chunks: &[&[u8]], cap: usize) -> (Vec<(u8, usize, u64)>, usize) {
    let mut conn = handshake_pair(client_cfg, server_cfg, 1).server;
    let mut digests = Vec::with_capacity(cap);
    let mut out = Vec::with_capacity(16 << 10);
    // A streamed message: (tag, length, hasher) — no allocation.
    let mut partial: Option<(u8, usize, Fnv)> = None;
    let base = alloc::start();
    for c in chunks {
        let mut rest: &[u8] = c;
        loop {
            let n = conn.recv_capacity().min(rest.len());
            conn.feed(&rest[..n]).expect("within capacity");
            rest = &rest[n..];
            while let Ok(Some(ev)) = conn.poll_event() {
                let d = match ev {
                    Event::Text(t) => Some(digest_bytes(0, t.as_str().as_bytes())),
                    Event::Binary(b) => Some(digest_bytes(1, &b)),
                    Event::Ping(p) => Some(digest_bytes(2, &p)),
                    Event::Pong(p) => Some(digest_bytes(3, &p)),
                    Event::Close(c) => {
                        Some(digest_bytes(4, format!("{:?}{}", c.code.map(|c| c.0), c.reason).as_bytes()))
                    }
                    Event::Fragment(f) => {
                        let tag = if f.kind == DataKind::Text { 0 } else { 1 };
                        let (_, len, h) = partial.get_or_insert_with(|| (tag, 0, Fnv::new()));
                        *len += f.data.len();
                        h.update(&f.data);
                        if f.last {
                            let (tag, len, h) = partial.take().expect("set above");
                            Some((tag, len, h.0))
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                if let Some(d) = d {
                    if digests.len() < digests.capacity() {
                        digests.push(d);
                    }
                }
            }
            out.clear();
            conn.poll_transmit(&mut out);
            if rest.is_empty() || conn.is_finished() {
                break;
            }
        }
        if conn.is_finished() {
            break;
        }
    }
    (digests, alloc::peak().saturating_sub(base))
}

/// An event in a few words (messages can be large).
pub fn short(ev: &Ev) -> String {
    match ev {
        Ev::Msg(kind, d) => format!("{kind:?} of {} bytes starting {:02x?}", d.len(), &d[..d.len().min(16)]),
        other => format!("{other:?}"),
    }
}

fn is_prefix(a: &Option<(DataKind, Vec<u8>)>, b: &Option<(DataKind, Vec<u8>)>) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some((ka, da)), Some((kb, db))) => ka == kb && db.starts_with(da),
        (Some(_), None) => false,
    }
}

fn error_kind(e: &Option<ProtocolError>) -> String {
    match e {
        None => "None".into(),
        Some(e) => format!("{e:?}").split([' ', '(', '{']).next().unwrap_or("").to_string(),
    }
}

fn is_limit(e: &ProtocolError) -> bool {
    matches!(
        e,
        ProtocolError::FrameTooLarge { .. }
            | ProtocolError::MessageTooLarge { .. }
            | ProtocolError::TooManyFragments { .. }
    )
}

/// The `inflate` target.
pub fn inflate(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(inp) = InflateInput::arbitrary(&mut u) else { return };
    if std::env::var_os("WSPROTO_FUZZ_DEBUG").is_some() {
        eprintln!("{inp:#?}");
    }
    let mut server_cfg = server_config(inp.flags, inp.preset);
    server_cfg.deflate = if inp.flags & 16 != 0 { None } else { Some(inp.server.valid()) };
    server_cfg.validate().expect("valid server config");
    let mut client_cfg = Config::default();
    client_cfg.deflate = Some(inp.client.valid());
    let eof = inp.flags & 4 != 0;
    let pair = handshake_pair(&client_cfg, &server_cfg, 1);
    let mut client = pair.client;
    let params = pair.params;
    let recv_bits = params.map_or(15, |p| p.client_max_window_bits.max(9));

    let r = lcg(inp.mask_seed);
    let mut b = Builder {
        cfg: &server_cfg,
        params,
        wire: Vec::new(),
        items: Vec::new(),
        key: Box::new(r),
        history: History {
            reset: params.is_some_and(|p| p.client_no_context_takeover),
            aligned: true,
            client: true,
            last_exact: false,
        },
        poisoned: false,
    };
    let mut budget = BUDGET;
    let max = server_cfg.max_message_size as usize * 9 / 8 + 64;
    for (i, m) in inp.msgs.iter().take(24).enumerate() {
        match m {
            MsgGen::Client { text, data, compress, pieces, muts, frag } => {
                let plain = data.bytes(*text, max, true);
                if plain.len() > budget {
                    continue;
                }
                budget -= plain.len();
                let kind = if *text { DataKind::Text } else { DataKind::Binary };
                let mut out = Vec::new();
                if pieces.is_empty() {
                    let c = [Compress::Auto, Compress::Always, Compress::Never][*compress as usize % 3];
                    client.send(kind, &plain, c, &mut out).expect("client send");
                } else {
                    let sizes = split_sizes(pieces);
                    let mut at = 0;
                    for s in &sizes {
                        let end = (at + s).min(plain.len());
                        client.send_fragment(kind, &plain[at..end], false, &mut out).expect("send_fragment");
                        at = end;
                    }
                    client.send_fragment(kind, &plain[at..], true, &mut out).expect("last send_fragment");
                }
                let frames = parse_frames_ext(Role::Client, &out, true);
                let rsv1 = frames[0].0.rsv == RSV1;
                let empty_last = rsv1 && frames.last().is_some_and(|(_, p)| p.is_empty());
                let sent: Vec<u8> = frames.into_iter().flat_map(|(_, p)| p).collect();
                let mut payload = sent.clone();
                if rsv1 {
                    mutate(&mut payload, muts);
                }
                let producer = if payload == sent { Producer::Client } else { Producer::Dirty };
                let what = format!("client message {i} ({} bytes, rsv1 {rsv1}, {producer:?})", plain.len());
                b.message(kind, &payload, rsv1, producer, &plain, frag, what);
                if empty_last && !b.history.reset {
                    b.poisoned = true;
                }
            }
            MsgGen::Foreign { text, data, bits, level, end, muts, frag } => {
                let plain = data.bytes(*text, max, true);
                if plain.len() > budget {
                    continue;
                }
                budget -= plain.len();
                let bits = 9 + bits % 7;
                let (sent, bfinal, rfc_form) = foreign(&plain, bits, *level, *end);
                let mut payload = sent.clone();
                mutate(&mut payload, muts);
                let producer = if payload != sent || (bfinal && !rfc_form) {
                    Producer::Dirty
                } else {
                    Producer::Fresh { window_ok: bits <= recv_bits, bfinal, misaligns: end % 6 == 1 }
                };
                let kind = if *text { DataKind::Text } else { DataKind::Binary };
                let what =
                    format!("foreign message {i} ({} bytes, {bits} bits, end {}, {producer:?})", plain.len(), end % 6);
                b.message(kind, &payload, true, producer, &plain, frag, what);
            }
            MsgGen::Raw { text, payload, frag } => {
                let kind = if *text { DataKind::Text } else { DataKind::Binary };
                b.message(kind, payload, true, Producer::Dirty, &[], frag, format!("raw message {i}"));
            }
            MsgGen::Rfc { which, frag } => {
                let w = *which as usize % (RFC_EXAMPLES.len() + 1);
                let (payload, plain, bfinal) = RFC_EXAMPLES[w % RFC_EXAMPLES.len()];
                // An empty payload has no header bits for the appended LEN/NLEN: it leaves the decompressor
                // inside a stored block's header. Whatever it decodes to, it is not well formed.
                let producer = if payload.is_empty() {
                    Producer::Dirty
                } else {
                    Producer::Fresh { window_ok: true, bfinal, misaligns: false }
                };
                b.message(DataKind::Text, payload, true, producer, plain, frag, format!("RFC 7692 example {w}"));
                if w == RFC_EXAMPLES.len() {
                    let what = "RFC 7692 §7.2.3.2 shared window".to_string();
                    b.message(DataKind::Text, RFC_SHARED, true, Producer::Shared, b"Hello", frag, what);
                }
            }
            MsgGen::Plain { text, data, frag } => {
                let plain = data.bytes(*text, max, false);
                if plain.len() > budget {
                    continue;
                }
                budget -= plain.len();
                let kind = if *text { DataKind::Text } else { DataKind::Binary };
                let what = format!("plain message {i} ({} bytes)", plain.len());
                b.message(kind, &plain, false, Producer::Dirty, &plain.clone(), frag, what);
            }
            MsgGen::Ping(n, v) => {
                let p = vec![*v; *n as usize % 126];
                let key = (b.key)().to_be_bytes();
                push_frame(&mut b.wire, true, 0, OpCode::Ping, &p, key);
                b.items.push(Item { expect: Expect::Exact(Ev::Ping(p)), excuse: None, what: "ping".into() });
            }
            MsgGen::Close(c) => {
                let code = [1000u16, 1001, 1003, 1008, 3000, 4999][*c as usize % 6];
                let key = (b.key)().to_be_bytes();
                push_frame(&mut b.wire, true, 0, OpCode::Close, &code.to_be_bytes(), key);
                let expect = Expect::Exact(Ev::Close(Some(code), String::new()));
                b.items.push(Item { expect, excuse: None, what: "close".into() });
            }
        }
    }
    b.wire.extend_from_slice(&inp.tail[..inp.tail.len().min(256)]);
    let Builder { wire, items, .. } = b;
    if std::env::var_os("WSPROTO_FUZZ_DEBUG").is_some() {
        eprintln!(
            "params {params:?}\nitems {items:#?}\nwire ({} bytes) {:02x?}",
            wire.len(),
            &wire[..wire.len().min(512)]
        );
    }

    // Three chunkings.
    let sizes: Vec<usize> = split_sizes(&inp.chunks).into_iter().map(|s| s.max(1)).collect();
    let cycle = |sizes: &[usize]| -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < wire.len() {
            let end = (at + sizes[i % sizes.len()]).min(wire.len());
            out.push(&wire[at..end]);
            at = end;
            i += 1;
        }
        out
    };
    let given = if sizes.is_empty() { vec![&wire[..]] } else { cycle(&sizes) };
    let small = if wire.len() <= BYTEWISE_MAX { wire.chunks(1).collect() } else { cycle(&[1, 16, 2, 7, 3, 11, 1, 5]) };
    let chunkings: [Vec<&[u8]>; 3] = [vec![&wire[..]], given, small];
    let runs: Vec<Driver> = chunkings.iter().map(|c| run(&client_cfg, &server_cfg, c, eof)).collect();
    let a = &runs[0];
    let a_close = auto_frames(Role::Server, &a.transmit).close;
    for (i, r) in runs.iter().enumerate().skip(1) {
        if r.error != a.error {
            // Named by the pair of error kinds, so one known cause can be skipped while exploring.
            let mut pair = [error_kind(&a.error), error_kind(&r.error)];
            pair.sort();
            panic!(
                "chunking {i}: the error depends on the chunking [{}/{}]: {:?} (all at once) vs {:?}, after {} and {} events",
                pair[0],
                pair[1],
                a.error,
                r.error,
                a.events.len(),
                r.events.len()
            );
        }
        assert_eq!(r.events, a.events, "chunking {i}: events depend on the chunking");
        assert_eq!(auto_frames(Role::Server, &r.transmit).close, a_close, "chunking {i}: the close frame differs");
        assert!(
            is_prefix(&a.partial, &r.partial) || is_prefix(&r.partial, &a.partial),
            "chunking {i}: unfinished streamed messages diverge"
        );
    }

    // Memory, with events dropped as they come (the input's chunking); the same events.
    let (digests, peak) = lean_run(&client_cfg, &server_cfg, &chunkings[1], a.events.len() + 8);
    let want: Vec<_> = a.events.iter().map(digest).collect();
    assert_eq!(digests, want, "the lean run's events differ");
    if alloc::installed() {
        let c = &server_cfg;
        let bound =
            MEM_MSG_FACTOR * (c.max_message_size + c.max_frame_payload) as usize + 2 * c.max_buffered + MEM_CONST;
        if std::env::var_os("WSPROTO_FUZZ_MEM").is_some() {
            eprintln!(
                "mem inflate: peak {peak}, bound {bound} (message {}, frame {}, buffered {}, {:?}, window {recv_bits})",
                c.max_message_size, c.max_frame_payload, c.max_buffered, c.receive_mode
            );
        }
        assert!(
            peak <= bound,
            "inflate: {peak} live heap bytes (bound {bound}: max_message_size {}, max_frame_payload {}, max_buffered {})",
            c.max_message_size,
            c.max_frame_payload,
            c.max_buffered
        );
    }

    // What was known to be valid arrived as sent; the rest failed plausibly.
    let mut delivered = a.events.iter();
    let mut failed_at = None;
    for (k, it) in items.iter().enumerate() {
        let Some(ev) = delivered.next() else {
            failed_at = Some(k);
            break;
        };
        match &it.expect {
            Expect::Exact(want) => {
                assert!(ev == want, "item {k} ({}): delivered as {}, sent {}", it.what, short(ev), short(want))
            }
            Expect::Limit => panic!("item {k} ({}): over a limit, yet delivered", it.what),
            Expect::Fail(e) => panic!("item {k} ({}): delivered, but should fail with {e:?}", it.what),
            Expect::Any(kind, _) => {
                assert!(matches!(ev, Ev::Msg(k2, _) if k2 == kind), "item {k} ({}): delivered as {ev:?}", it.what)
            }
        }
        if matches!(ev, Ev::Close(..)) {
            assert!(delivered.next().is_none(), "events after the close");
            failed_at = None;
            break;
        }
    }
    if let Some(k) = failed_at {
        let closed = matches!(a.events.last(), Some(Ev::Close(..)));
        let err = a.error.as_ref();
        let it = &items[items[k].excuse.unwrap_or(k)];
        match (err, &it.expect) {
            (None, _) => assert!(closed, "item {k} ({}) not delivered, and no error", it.what),
            (Some(e), Expect::Exact(_)) => panic!("item {k} ({}): valid message rejected: {e:?}", it.what),
            (Some(e), Expect::Limit) => {
                assert!(is_limit(e), "item {k} ({}): over a limit, but failed with {e:?}", it.what)
            }
            (Some(e), Expect::Fail(want)) => assert_eq!(e, want, "item {k} ({})", it.what),
            (Some(e), Expect::Any(_, abused)) => assert!(
                is_limit(e)
                    || matches!(e, ProtocolError::InvalidCompressedData | ProtocolError::InvalidUtf8 { .. })
                    || (*abused
                        && matches!(e, ProtocolError::ReservedBits(_) | ProtocolError::MisplacedCompressionBit)),
                "item {k} ({}): implausible error {e:?}",
                it.what
            ),
        }
    } else if inp.tail.is_empty() {
        assert!(delivered.next().is_none(), "more events than sent");
        let closed = matches!(a.events.last(), Some(Ev::Close(..)));
        match &a.error {
            None => assert!(!eof || closed, "no error after EOF"),
            Some(e) => assert!(eof && *e == ProtocolError::UnexpectedEof, "error {e:?} after every item arrived"),
        }
    }
}
