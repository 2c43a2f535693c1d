//! `roundtrip_deflate`: a client and a server with permessage-deflate negotiated (real handshakes, configs
//! from the input: no context takeover either way, window bits 8–15, level, threshold) exchange an arbitrary
//! script of messages both ways — whole messages via `Connection::send` with `Compress::Auto`, `Always` or
//! `Never` or via `send_zero_copy` (header only for a server's uncompressed message), fragmented ones via `send_fragment` (with a ping between fragments), pings and pongs — delivered
//! in arbitrary chunks at arbitrary points of the script, with an optional closing handshake at the end.
//! Receivers are in whole or streaming mode (chosen per side).
//!
//! Invariants:
//! - every send succeeds and writes valid frames (masked iff a client); RSV1 is on the first frame of a
//!   message exactly when it is compressed, and never elsewhere. A message is compressed exactly when the
//!   sender's negotiated window is at least 9 bits and `Auto` with the message at the threshold or longer, or
//!   `Always`, or a fragmented send;
//! - with no context takeover for the sender, every compressed message decodes on its own (a fresh
//!   decompressor, no history); at a level of 1 or more, a kilobyte or more of zeros compresses at least
//!   eightfold;
//! - each receiver reports exactly what the other sent (messages, pings, pongs, automatic pongs, the close and
//!   its echo), in order, with no error; `check_end` holds on both.

use arbitrary::{Arbitrary, Unstructured};
use wsproto::internal::frame::OpCode;
use wsproto::{CloseCode, Compress, Config, Connection, DataKind, DeflateParams, Encoded, ReceiveMode, Role};

use crate::conn::{parse_frames, parse_frames_ext, Driver, Ev};
use crate::deflate::{handshake_pair, DataGen, DeflateGen};

#[derive(Arbitrary, Debug)]
pub enum RtOp {
    Send {
        from_server: bool,
        text: bool,
        data: DataGen,
        compress: u8,
    },
    Fragmented {
        from_server: bool,
        text: bool,
        data: DataGen,
        pieces: Vec<u8>,
        ping_between: bool,
    },
    Ping {
        from_server: bool,
        len: u8,
    },
    Pong {
        from_server: bool,
        len: u8,
    },
    /// Deliver what one side has sent so far.
    Deliver {
        to_server: bool,
    },
}

#[derive(Arbitrary, Debug)]
pub struct RtScript {
    client: DeflateGen,
    server: DeflateGen,
    client_streaming: bool,
    server_streaming: bool,
    chunks: Vec<u8>,
    ops: Vec<RtOp>,
    /// (by the server, code index).
    close: Option<(bool, u8)>,
}

const MAX_MESSAGE: usize = 96 << 10;
const BUDGET: usize = 1 << 20;
const RSV1: u8 = 0b100;
const CODES: [u16; 6] = [1000, 1001, 1003, 1011, 3000, 4999];

fn config(deflate: wsproto::DeflateConfig, streaming: bool) -> Config {
    let mut c = Config::default();
    c.max_frame_payload = 256 << 10;
    c.max_message_size = 256 << 10;
    c.max_fragments = 256;
    c.receive_mode = if streaming { ReceiveMode::Streaming } else { ReceiveMode::Whole };
    c.max_buffered = if streaming { 4096 } else { (256 << 10) + 14 + 4096 };
    c.deflate = Some(deflate);
    c.validate().expect("valid roundtrip config");
    c
}

/// One direction: what the sender wrote and not yet delivered, what the receiver must report.
struct Side {
    role: Role,
    conn: Connection,
    cfg: Config,
    /// Drives this side's receiving.
    rx: Driver,
    /// Bytes of `rx.transmit` (automatic frames) already moved to the other side's wire.
    auto_sent: usize,
    /// Bytes sent to this side, not yet delivered.
    inbox: Vec<u8>,
    /// What this side must report, in order.
    expect: Vec<Ev>,
    /// This side's send window (bits) and reset, from the negotiated parameters.
    send_bits: u8,
    send_reset: bool,
    /// This side sent a compressed message whose last frame is empty while keeping its context: the data did
    /// not end in a stripped empty stored block, which misaligns the peer's decompressor.
    poisoned: bool,
}

/// Inflates one message's payload with a fresh decompressor (32 KiB window): what a receiver without any
/// history gets. `None` if it does not decode.
fn inflate_fresh(payload: &[u8]) -> Option<Vec<u8>> {
    let mut d = flate2::Decompress::new(false);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(4 * input.len() + 1024);
    loop {
        let at = d.total_in() as usize;
        let before = d.total_out();
        let status = d.decompress_vec(&input[at..], &mut out, flate2::FlushDecompress::Sync).ok()?;
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Some(out);
        }
        if status == flate2::Status::StreamEnd || (d.total_out() == before && d.total_in() as usize == at) {
            return (d.total_in() as usize == input.len()).then_some(out);
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        if out.len() > MAX_MESSAGE * 4 {
            return None;
        }
    }
}

/// Sends `data` whole from `tx`, checks the frame, records the expectation at `rx_expect`.
fn send_whole(tx: &mut Side, rx_inbox: &mut Vec<u8>, rx_expect: &mut Vec<Ev>, kind: DataKind, data: &[u8], c: u8) {
    // c % 4 == 3: `send_zero_copy`, which compresses like `Compress::Auto` and may leave the payload to us.
    let compress = [Compress::Auto, Compress::Always, Compress::Never, Compress::Auto][c as usize % 4];
    let mut out = Vec::new();
    if c % 4 == 3 {
        match tx.conn.send_zero_copy(kind, data, &mut out).expect("send_zero_copy") {
            Encoded::Whole => {}
            Encoded::HeaderOnly => {
                assert_eq!(tx.role, Role::Server, "a client's frame is masked: never HeaderOnly");
                out.extend_from_slice(data);
            }
        }
    } else {
        tx.conn.send(kind, data, compress, &mut out).expect("send");
    }
    let frames = parse_frames_ext(tx.role, &out, true);
    assert_eq!(frames.len(), 1, "a whole message is one frame");
    let (h, payload) = &frames[0];
    let d = tx.cfg.deflate.as_ref().expect("deflate configured");
    let can = tx.send_bits >= 9;
    let want = match compress {
        Compress::Auto => can && data.len() >= d.threshold,
        Compress::Always => can,
        Compress::Never => false,
        other => unreachable!("the script picks only the three policies above, not {other:?}"),
    };
    assert_eq!(
        h.rsv == RSV1,
        want,
        "{:?} sent {} bytes with {compress:?} (window {} bits, threshold {}): RSV1 {}",
        tx.role,
        data.len(),
        tx.send_bits,
        d.threshold,
        h.rsv == RSV1
    );
    assert!(h.fin);
    assert_eq!(h.opcode, if kind == DataKind::Text { OpCode::Text } else { OpCode::Binary });
    if want {
        tx.poisoned |= payload.is_empty() && !tx.send_reset;
        if tx.send_reset {
            assert_eq!(
                inflate_fresh(payload),
                Some(data.to_vec()),
                "without context takeover a compressed message does not decode on its own"
            );
        }
        if d.level >= 1 && data.len() >= 1024 && data.iter().all(|&b| b == 0) {
            assert!(
                payload.len() * 8 <= data.len(),
                "{} zero bytes compressed to {} at level {}",
                data.len(),
                payload.len(),
                d.level
            );
        }
    } else {
        assert_eq!(payload, data, "an uncompressed message's payload differs from the message");
    }
    rx_inbox.extend_from_slice(&out);
    rx_expect.push(Ev::Msg(kind, data.to_vec()));
}

#[allow(clippy::too_many_arguments)]
fn send_fragmented(
    tx: &mut Side,
    rx_inbox: &mut Vec<u8>,
    rx_expect: &mut Vec<Ev>,
    kind: DataKind,
    data: &[u8],
    pieces: &[u8],
    ping_between: bool,
) {
    let mut sizes: Vec<usize> = pieces.iter().take(32).map(|&b| ((b & 0x3f) as usize) << (3 * (b >> 6))).collect();
    sizes.push(usize::MAX);
    let mut out = Vec::new();
    let mut at = 0usize;
    let n = sizes.len();
    for (i, s) in sizes.into_iter().enumerate() {
        let end = at.saturating_add(s).min(data.len());
        let last = i + 1 == n;
        tx.conn.send_fragment(kind, &data[at..end], last, &mut out).expect("send_fragment");
        at = end;
        if i == 0 && ping_between && !last {
            let ping = format!("between {}", data.len()).into_bytes();
            tx.conn.send_ping(&ping, &mut out).expect("ping between fragments");
            rx_expect.push(Ev::Ping(ping));
        }
    }
    let frames = parse_frames_ext(tx.role, &out, true);
    let data_frames: Vec<_> = frames.iter().filter(|(h, _)| !h.opcode.is_control()).collect();
    assert_eq!(data_frames.len(), n, "one frame per fragment");
    let compressed = tx.send_bits >= 9;
    assert_eq!(data_frames[0].0.rsv == RSV1, compressed, "RSV1 of a fragmented message ({} bits)", tx.send_bits);
    tx.poisoned |= compressed && data_frames[n - 1].1.is_empty() && !tx.send_reset;
    if compressed && tx.send_reset {
        let joined: Vec<u8> = data_frames.iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(
            inflate_fresh(&joined),
            Some(data.to_vec()),
            "without context takeover a compressed fragmented message does not decode on its own"
        );
    }
    if !compressed {
        let joined: Vec<u8> = data_frames.iter().flat_map(|(_, p)| p.clone()).collect();
        assert_eq!(joined, data, "uncompressed fragments differ from the message");
    }
    rx_inbox.extend_from_slice(&out);
    rx_expect.push(Ev::Msg(kind, data.to_vec()));
}

/// Delivers `side.inbox` to `side` in the script's chunk sizes; moves its automatic frames to `other`.
fn deliver(side: &mut Side, other: &mut Side, sizes: &[usize]) {
    let wire = std::mem::take(&mut side.inbox);
    let mut at = 0;
    let mut i = 0;
    while at < wire.len() {
        let n = if sizes.is_empty() { wire.len() } else { sizes[i % sizes.len()] };
        let end = (at + n).min(wire.len());
        side.rx.feed(&mut side.conn, &wire[at..end]);
        at = end;
        i += 1;
    }
    side.rx.drain(&mut side.conn);
    if let Some(e) = &side.rx.error {
        let tag = if other.poisoned { " [after a compressed message with an empty last frame]" } else { "" };
        panic!("{:?} failed on what its peer sent{tag}: {e:?}", side.role);
    }
    let fresh = &side.rx.transmit[side.auto_sent..];
    for (h, p) in parse_frames(side.role, fresh) {
        match h.opcode {
            OpCode::Pong => other.expect.push(Ev::Pong(p)),
            OpCode::Close => {
                let code = (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
                let reason = String::from_utf8(p.get(2..).unwrap_or(&[]).to_vec()).expect("UTF-8 reason");
                other.expect.push(Ev::Close(code, reason));
            }
            op => panic!("automatic {op:?} frame"),
        }
    }
    other.inbox.extend_from_slice(fresh);
    side.auto_sent = side.rx.transmit.len();
}

fn side(role: Role, conn: Connection, cfg: &Config, p: &DeflateParams) -> Side {
    let (send_bits, send_reset) = match role {
        Role::Client => (p.client_max_window_bits, p.client_no_context_takeover),
        Role::Server => (p.server_max_window_bits, p.server_no_context_takeover),
    };
    Side {
        role,
        conn,
        cfg: cfg.clone(),
        rx: Driver::new(role, cfg.clone()),
        auto_sent: 0,
        inbox: Vec::new(),
        expect: Vec::new(),
        send_bits,
        send_reset,
        poisoned: false,
    }
}

/// The `roundtrip_deflate` target.
pub fn roundtrip_deflate(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(s) = RtScript::arbitrary(&mut u) else { return };
    if std::env::var_os("WSPROTO_FUZZ_DEBUG").is_some() {
        eprintln!("{s:#?}");
    }
    let ccfg = config(s.client.valid(), s.client_streaming);
    let scfg = config(s.server.valid(), s.server_streaming);
    let pair = handshake_pair(&ccfg, &scfg, 7);
    let p = pair.params.expect("both sides configure deflate");
    let mut client = side(Role::Client, pair.client, &ccfg, &p);
    let mut server = side(Role::Server, pair.server, &scfg, &p);
    let sizes: Vec<usize> = s.chunks.iter().take(32).map(|&b| (1 + (b & 0x3f) as usize) << (3 * (b >> 6))).collect();
    let mut budget = BUDGET;
    for op in s.ops.iter().take(64) {
        match op {
            RtOp::Send { from_server, text, data, compress } => {
                let bytes = data.bytes(*text, MAX_MESSAGE, false);
                if bytes.len() > budget {
                    continue;
                }
                budget -= bytes.len();
                let kind = if *text { DataKind::Text } else { DataKind::Binary };
                let (tx, rx) = if *from_server { (&mut server, &mut client) } else { (&mut client, &mut server) };
                send_whole(tx, &mut rx.inbox, &mut rx.expect, kind, &bytes, *compress);
            }
            RtOp::Fragmented { from_server, text, data, pieces, ping_between } => {
                let bytes = data.bytes(*text, MAX_MESSAGE, false);
                if bytes.len() > budget {
                    continue;
                }
                budget -= bytes.len();
                let kind = if *text { DataKind::Text } else { DataKind::Binary };
                let (tx, rx) = if *from_server { (&mut server, &mut client) } else { (&mut client, &mut server) };
                send_fragmented(tx, &mut rx.inbox, &mut rx.expect, kind, &bytes, pieces, *ping_between);
            }
            RtOp::Ping { from_server, len } | RtOp::Pong { from_server, len } => {
                let payload = vec![b'p'; *len as usize % 126];
                let (tx, rx) = if *from_server { (&mut server, &mut client) } else { (&mut client, &mut server) };
                let mut out = Vec::new();
                if matches!(op, RtOp::Ping { .. }) {
                    tx.conn.send_ping(&payload, &mut out).expect("ping");
                    rx.expect.push(Ev::Ping(payload));
                } else {
                    tx.conn.send_pong(&payload, &mut out).expect("pong");
                    rx.expect.push(Ev::Pong(payload));
                }
                rx.inbox.extend_from_slice(&out);
            }
            RtOp::Deliver { to_server: true } => deliver(&mut server, &mut client, &sizes),
            RtOp::Deliver { to_server: false } => deliver(&mut client, &mut server, &sizes),
        }
    }
    if let Some((by_server, c)) = s.close {
        let code = CODES[c as usize % CODES.len()];
        let (tx, rx) = if by_server { (&mut server, &mut client) } else { (&mut client, &mut server) };
        let mut out = Vec::new();
        tx.conn.close(CloseCode(code), "bye", &mut out).expect("close");
        rx.expect.push(Ev::Close(Some(code), "bye".into()));
        rx.inbox.extend_from_slice(&out);
    }
    // Deliver everything, including the replies to what is delivered.
    for _ in 0..4 {
        deliver(&mut server, &mut client, &sizes);
        deliver(&mut client, &mut server, &sizes);
    }
    let closer = s.close.map(|(by_server, _)| if by_server { Role::Server } else { Role::Client });
    let poisoned = [server.poisoned, client.poisoned];
    for (side, peer_poisoned) in [&mut client, &mut server].into_iter().zip(poisoned) {
        let tag = if peer_poisoned { " [after a compressed message with an empty last frame]" } else { "" };
        assert!(side.inbox.is_empty(), "undelivered bytes");
        assert_eq!(side.rx.error, None, "{:?} failed on what its peer sent{tag}", side.role);
        assert_eq!(side.rx.partial, None, "{:?}: unfinished message", side.role);
        if side.rx.events != side.expect {
            let n = side.rx.events.iter().zip(&side.expect).take_while(|(a, b)| a == b).count();
            panic!(
                "{:?} received differently from what was sent{tag}: event {n} of {} is {:?}, expected {:?}",
                side.role,
                side.expect.len(),
                side.rx.events.get(n).map(crate::inflate::short),
                side.expect.get(n).map(crate::inflate::short),
            );
        }
        if closer == Some(side.role) {
            // The initiator sent no reply (check_end expects one); its outcome is a clean close it started.
            match side.conn.close_outcome() {
                Some(wsproto::CloseOutcome::Clean { initiated_locally: true, .. }) => {}
                other => panic!("{:?} closed first, outcome {other:?}", side.role),
            }
            assert!(side.conn.is_finished(), "the closer is not finished after the echo");
        } else {
            side.rx.check_end(&mut side.conn);
        }
    }
}
