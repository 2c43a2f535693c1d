//! Fragmented messages in `ReceiveMode::Whole`, reassembled in the receive buffer: control frames between
//! fragments, every chunking, empty fragments, messages larger than `max_buffered`, fragment and ping floods
//! in bounded memory.

mod common;

use common::*;
use wsproto::{Bytes, Config, Connection, DataKind, Event, ProtocolError, Role};

/// Splits `payload` into fragments of the given sizes (the last takes the rest).
fn split<'a>(payload: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        let n = n.min(payload.len() - at);
        out.push(&payload[at..at + n]);
        at += n;
    }
    out.push(&payload[at..]);
    out
}

/// A control frame to put between fragments.
#[derive(Debug, Clone, Copy)]
enum Ctl {
    Ping(usize),
    Pong(usize),
}

impl Ctl {
    fn payload(self, tag: u8) -> Vec<u8> {
        let n = match self {
            Ctl::Ping(n) | Ctl::Pong(n) => n,
        };
        (0..n).map(|i| tag.wrapping_add(i as u8)).collect()
    }

    fn wire(self, to: Role, tag: u8) -> Vec<u8> {
        let op = match self {
            Ctl::Ping(_) => OP_PING,
            Ctl::Pong(_) => OP_PONG,
        };
        frame_to(to, true, op, &self.payload(tag))
    }

    fn event(self, tag: u8) -> Event {
        let p = Bytes::from(self.payload(tag));
        match self {
            Ctl::Ping(_) => Event::Ping(p),
            Ctl::Pong(_) => Event::Pong(p),
        }
    }
}

/// The wire bytes of a message in `fragments`, with `between[i]` sent before fragment `i` (and `between[n]`
/// after the last one), followed by a short unfragmented message; and the events it must give.
fn scenario(to: Role, kind: DataKind, fragments: &[&[u8]], between: &[Vec<Ctl>]) -> (Vec<u8>, Vec<Event>) {
    let first_op = if kind == DataKind::Text { OP_TEXT } else { OP_BINARY };
    let mut wire = Vec::new();
    let mut events = Vec::new();
    let mut tag = 0u8;
    let mut message = Vec::new();
    for (i, frag) in fragments.iter().enumerate() {
        for ctl in &between[i] {
            tag = tag.wrapping_add(17);
            wire.extend(ctl.wire(to, tag));
            events.push(ctl.event(tag));
        }
        let op = if i == 0 { first_op } else { OP_CONT };
        wire.extend(frame_to(to, i + 1 == fragments.len(), op, frag));
        message.extend_from_slice(frag);
    }
    events.push(match kind {
        DataKind::Text => Event::Text(String::from_utf8(message).unwrap().into()),
        DataKind::Binary => Event::Binary(message.into()),
    });
    for ctl in &between[fragments.len()] {
        tag = tag.wrapping_add(17);
        wire.extend(ctl.wire(to, tag));
        events.push(ctl.event(tag));
    }
    // The next message starts cleanly after the reassembled one.
    wire.extend(frame_to(to, true, OP_BINARY, b"next"));
    events.push(Event::Binary(Bytes::from_static(b"next")));
    (wire, events)
}

/// Feeds `wire` in pieces of `chunk` bytes, draining after each; returns the events and checks that nothing is
/// left in the receive buffer at the end.
fn run(role: Role, config: &Config, wire: &[u8], chunk: usize) -> Vec<Event> {
    let mut c = conn_with(role, config.clone());
    let mut evs = Vec::new();
    for piece in wire.chunks(chunk) {
        assert!(piece.len() <= c.recv_capacity());
        c.feed(piece).unwrap();
        evs.extend(drain(&mut c));
    }
    assert_eq!(c.buffered_len(), 0, "bytes left after the last message");
    assert_eq!(c.awaiting_payload(), 0);
    // Pongs answer the latest pings in order (the queue keeps MAX_PENDING_PONGS).
    let pings: Vec<Bytes> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Ping(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let pongs: Vec<Vec<u8>> = transmit(&mut c).into_iter().map(|w| w.payload).collect();
    let latest = &pings[pings.len().saturating_sub(wsproto::MAX_PENDING_PONGS)..];
    assert!(pongs == latest.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), "pongs do not answer the pings");
    evs
}

/// All chunkings, from all at once to byte at a time, give exactly `expected`.
fn check_every_chunking(role: Role, wire: &[u8], expected: &[Event]) {
    let config = Config::default();
    for chunk in [wire.len(), 64, 13, 7, 5, 3, 2, 1] {
        let evs = run(role, &config, wire, chunk.max(1));
        assert_eq!(evs, expected, "chunk {chunk}");
    }
}

const TEXT: &str = "fragments: héllo wörld, ☃ and 🎉 split anywhere";

fn fragment_layouts(len: usize) -> Vec<Vec<usize>> {
    vec![
        vec![],
        vec![0],
        vec![0, 0],
        vec![1],
        vec![1, 0, 0, 1],
        vec![3, 0, 4, 0],
        vec![len / 2],
        vec![5, 5, 5, 5, 5, 5, 5],
        vec![0, 20, 0, 1, 1, 1],
        vec![len],
        (0..len).map(|_| 1).collect(),
    ]
}

/// Pings and pongs (empty, small and 125 bytes) at every position between fragments, one position at a time and
/// at all positions at once, for every fragment layout (empty fragments included), text and binary, both roles,
/// in every chunking.
#[test]
fn control_frames_at_every_position_in_every_chunking() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(47).collect();
    let inserts: [&[Ctl]; 4] =
        [&[Ctl::Ping(3)], &[Ctl::Pong(0)], &[Ctl::Ping(125), Ctl::Pong(7)], &[Ctl::Ping(0), Ctl::Ping(125)]];
    for role in [Role::Server, Role::Client] {
        for (kind, payload) in [(DataKind::Text, TEXT.as_bytes()), (DataKind::Binary, &binary[..])] {
            for layout in fragment_layouts(payload.len()) {
                let fragments = split(payload, &layout);
                let gaps = fragments.len() + 1;
                let mut cases = vec![vec![Vec::new(); gaps]];
                for (i, ins) in inserts.iter().enumerate() {
                    for at in 0..gaps {
                        let mut between = vec![Vec::new(); gaps];
                        between[at] = ins.to_vec();
                        cases.push(between);
                    }
                    cases.push((0..gaps).map(|g| inserts[(g + i) % inserts.len()].to_vec()).collect());
                }
                for between in cases {
                    let (wire, expected) = scenario(role, kind, &fragments, &between);
                    check_every_chunking(role, &wire, &expected);
                }
            }
        }
    }
}

/// A message split inside code points across fragments, with a ping between each, still fails fast: 1007 when
/// the invalid byte arrives, before the final fragment, at the same point in every chunking.
#[test]
fn invalid_utf8_fails_fast_with_held_fragments_and_control_frames() {
    for role in [Role::Server, Role::Client] {
        let mut wire = Vec::new();
        wire.extend(frame_to(role, false, OP_TEXT, "ab\u{e9}".as_bytes()));
        wire.extend(frame_to(role, true, OP_PING, b"p1"));
        wire.extend(frame_to(role, false, OP_CONT, &[0xe2, 0x98])); // ☃ without its last byte
        wire.extend(frame_to(role, true, OP_PONG, b""));
        let bad_at = wire.len();
        wire.extend(frame_to(role, false, OP_CONT, &[0x83, b'x', 0xff, b'y']));
        wire.extend(frame_to(role, true, OP_CONT, b"never reached"));
        for chunk in [wire.len(), 5, 1] {
            let mut c = conn(role);
            let mut fed = 0;
            let mut err = None;
            for piece in wire.chunks(chunk) {
                c.feed(piece).unwrap();
                fed += piece.len();
                let (_, e) = drain_until_error(&mut c);
                if let Some(e) = e {
                    err = Some(e);
                    break;
                }
            }
            // valid_up_to counts the message's bytes: "abé" (4) + ☃ (3) + "x" (1).
            assert_eq!(err, Some(ProtocolError::InvalidUtf8 { valid_up_to: 8 }), "chunk {chunk}");
            if chunk == 1 {
                // The frame carrying 0xff was cut right after it: a fail-fast check, not at the frame's end.
                let header = if role == Role::Server { 6 } else { 2 };
                assert_eq!(fed, bad_at + header + 3, "failed late");
            }
            assert_eq!(c.buffered_len(), 0);
            let close = transmit(&mut c);
            assert_eq!(close.last().unwrap().close().0, Some(1007));
        }
    }
}

/// A config whose messages (1 MiB) are a thousand times larger than its receive buffer (1 KiB).
fn small_buffer() -> Config {
    let mut c = Config::default();
    c.max_buffered = 1024;
    c.max_frame_payload = 1000;
    c.max_message_size = 1 << 20;
    c.deflate = None;
    c
}

/// Feeds everything, at most `recv_capacity()` at a time (pieces of at most `chunk`), draining in between.
fn feed_as_it_fits(c: &mut Connection, wire: &[u8], chunk: usize) -> Vec<Event> {
    let mut evs = Vec::new();
    let mut rest = wire;
    let bound = c.config().max_buffered + c.config().max_message_size as usize;
    while !rest.is_empty() {
        let n = c.recv_capacity().min(chunk).min(rest.len());
        assert!(n > 0, "receive buffer full ({} bytes) but no event", c.buffered_len());
        c.feed(&rest[..n]).unwrap();
        rest = &rest[n..];
        evs.extend(drain(c));
        assert!(c.buffered_len() <= bound, "buffered_len {} over {bound}", c.buffered_len());
    }
    evs
}

/// A fragmented message far larger than `max_buffered` (but within `max_message_size`) arrives whole: the
/// reassembled part does not count against the receive buffer's limit (Autobahn 9.x sends 64 MiB fragmented
/// messages with the default 16 MiB buffer). With a ping every few fragments.
#[test]
fn fragmented_message_larger_than_max_buffered() {
    let config = small_buffer();
    let len = (1 << 20) - 1000;
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    for role in [Role::Server, Role::Client] {
        let mut wire = Vec::new();
        let mut pings = 0;
        for (i, frag) in payload.chunks(100).enumerate() {
            if i % 37 == 5 {
                wire.extend(frame_to(role, true, OP_PING, &[i as u8; 20]));
                pings += 1;
            }
            let op = if i == 0 { OP_BINARY } else { OP_CONT };
            wire.extend(frame_to(role, (i + 1) * 100 >= len, op, frag));
        }
        wire.extend(frame_to(role, true, OP_TEXT, b"after"));
        for chunk in [usize::MAX, 333, 64] {
            let mut c = conn_with(role, config.clone());
            let evs = feed_as_it_fits(&mut c, &wire, chunk);
            assert_eq!(evs.len(), pings + 2);
            assert_eq!(evs[pings], Event::Binary(payload.clone().into()), "chunk {chunk}");
            assert_eq!(evs[pings + 1], Event::Text("after".into()));
            assert_eq!(c.buffered_len(), 0);
        }
    }
}

/// Held payload never counts against `max_buffered`; `awaiting_payload` counts only the frame's missing bytes.
#[test]
fn capacity_and_awaiting_payload_with_a_held_fragment() {
    let config = small_buffer();
    for role in [Role::Server, Role::Client] {
        let mut c = conn_with(role, config.clone());
        c.feed(&frame_to(role, false, OP_BINARY, &[1; 1000])).unwrap();
        assert_eq!(drain(&mut c), vec![]);
        assert_eq!(c.buffered_len(), 1000);
        assert_eq!(c.recv_capacity(), 1024, "the held fragment does not count against max_buffered");
        c.feed(&frame_to(role, true, OP_PING, b"hi")).unwrap();
        assert_eq!(drain(&mut c), vec![Event::Ping(Bytes::from_static(b"hi"))]);
        let cont = frame_to(role, true, OP_CONT, &[2; 500]);
        let header = cont.len() - 500;
        c.feed(&cont[..header + 100]).unwrap();
        assert_eq!(drain(&mut c), vec![]);
        assert_eq!(c.awaiting_payload(), 400);
        c.feed(&cont[header + 100..]).unwrap();
        let mut expected = vec![1; 1000];
        expected.extend([2; 500]);
        assert_eq!(drain(&mut c), vec![Event::Binary(expected.into())]);
        assert_eq!(c.buffered_len(), 0);
        assert_eq!(c.recv_capacity(), 1024);
        c.release_recv_buffer();
    }
}

/// A flood of empty fragments (or of pings) inside a fragmented message, fed in one buffer, leaves a receive
/// buffer bounded by the held payload: consumed headers and control frames are compacted away, not kept.
#[test]
fn fragment_and_ping_floods_stay_bounded() {
    const N: usize = 100_000;
    for role in [Role::Server, Role::Client] {
        for held in [1usize, 10, 1000] {
            let mut config = Config::default();
            config.max_fragments = N as u64 + 2;
            config.deflate = None;
            let first = vec![b'a'; held];
            // 100,000 empty fragments in one buffer (about 600 KB towards a server).
            let mut wire = frame_to(role, false, OP_TEXT, &first);
            let empty = frame_to(role, false, OP_CONT, b"");
            for _ in 0..N {
                wire.extend_from_slice(&empty);
            }
            let mut c = conn_with(role, config.clone());
            c.feed(&wire).unwrap();
            assert_eq!(drain(&mut c), vec![]);
            // The held payload, and fewer stale bytes than that (plus one header's worth).
            let bound = 2 * held + 14;
            assert!(c.buffered_len() <= bound, "{} bytes buffered, bound {bound}", c.buffered_len());
            assert_eq!(c.recv_capacity(), config.max_buffered - (c.buffered_len() - held));

            // 100,000 pings as well, in buffers of about 64 KiB, drained after each.
            let ping = frame_to(role, true, OP_PING, b"0123456789");
            let mut pings = Vec::new();
            for _ in 0..N {
                pings.extend_from_slice(&ping);
            }
            let mut events = 0;
            for piece in pings.chunks(64 << 10) {
                c.feed(piece).unwrap();
                events += drain(&mut c).len();
                assert!(c.buffered_len() <= bound + ping.len(), "{} bytes buffered", c.buffered_len());
            }
            assert_eq!(events, N);
            c.feed(&frame_to(role, true, OP_CONT, b"!")).unwrap();
            let mut text = String::from_utf8(first).unwrap();
            text.push('!');
            assert_eq!(drain(&mut c), vec![Event::Text(text.into())]);
            assert_eq!(c.buffered_len(), 0);
        }
    }
}

/// With the smallest valid receive buffer, stale bytes (counted against it) never keep a frame from fitting:
/// whatever mix of control frames and fragments comes, a drained connection always has room for more.
#[test]
fn stale_bytes_never_fill_a_tight_buffer() {
    let mut config = small_buffer();
    config.max_frame_payload = 500;
    config.max_buffered = 514;
    for role in [Role::Server, Role::Client] {
        let mut wire = frame_to(role, false, OP_BINARY, &[7; 300]);
        let mut expected = vec![7; 300];
        for i in 0..200usize {
            for _ in 0..(i % 7) {
                wire.extend(frame_to(role, true, OP_PONG, &[i as u8; 125]));
            }
            let n = [0, 1, 500, 499, 13][i % 5];
            wire.extend(frame_to(role, false, OP_CONT, &vec![i as u8; n]));
            expected.extend(vec![i as u8; n]);
        }
        wire.extend(frame_to(role, true, OP_CONT, &[9; 500]));
        expected.extend([9; 500]);
        for chunk in [usize::MAX, 100, 7] {
            let mut c = conn_with(role, config.clone());
            let evs = feed_as_it_fits(&mut c, &wire, chunk);
            assert_eq!(evs.last(), Some(&Event::Binary(expected.clone().into())), "chunk {chunk}");
            assert_eq!(c.buffered_len(), 0);
        }
    }
}

/// A close frame in the middle of a reassembled message ends the connection cleanly and frees the buffer.
#[test]
fn close_inside_a_fragmented_message() {
    for role in [Role::Server, Role::Client] {
        let mut wire = frame_to(role, false, OP_TEXT, b"abc");
        wire.extend(frame_to(role, true, OP_PING, b""));
        wire.extend(frame_to(role, false, OP_CONT, b"def"));
        wire.extend(close_to(role, 1000, b"bye"));
        let evs = run_until_close(role, &wire);
        assert_eq!(evs.len(), 2);
        assert!(matches!(&evs[1], Event::Close(f) if f.code == Some(wsproto::CloseCode(1000))), "{evs:?}");
    }
}

fn run_until_close(role: Role, wire: &[u8]) -> Vec<Event> {
    let mut c = conn(role);
    c.feed(wire).unwrap();
    let evs = drain(&mut c);
    assert!(c.is_finished());
    assert_eq!(c.buffered_len(), 0);
    assert_eq!(c.awaiting_payload(), 0);
    evs
}
