//! `Connection::poll_batch` (borrowed, batched) against `poll_event` (owned, one at a time): for any input —
//! valid or not, in any chunking, either role — both deliver the same events in the same order, end with the
//! same error, and, when every data message is echoed, write the same bytes.

mod common;

use std::ops::ControlFlow;

use common::*;
use proptest::prelude::*;
use wsproto::{Config, Connection, Event, EventRef, ProtocolError, ReceiveMode, Role};

/// One frame of the generated input.
#[derive(Debug, Clone)]
enum Piece {
    /// A frame with this first byte (FIN, RSV, opcode) and payload, masked as the peer should (or not).
    Frame { b0: u8, payload: Vec<u8>, wrong_mask: bool },
    /// A frame announcing a 16-bit or 64-bit length: (b0, length, bytes of payload actually sent).
    Long { b0: u8, len: u64, sent: usize },
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40),
        2 => "[a-zé€😀 ]{0,30}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 100..400),
        1 => Just(vec![0xe2, 0x82]), // a code point cut short
    ]
}

fn first_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => Just(0x81u8),
        8 => Just(0x82),
        2 => Just(0x01),
        2 => Just(0x02),
        3 => Just(0x00),
        2 => Just(0x80),
        2 => Just(0x89),
        1 => Just(0x8a),
        1 => Just(0x88),
        1 => any::<u8>(),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        20 => (first_byte(), payload(), proptest::bool::weighted(0.02))
            .prop_map(|(b0, payload, wrong_mask)| Piece::Frame { b0, payload, wrong_mask }),
        1 => (prop_oneof![Just(0x81u8), Just(0x82), Just(0x02)], prop_oneof![Just(200u64), Just(70_000), Just(1 << 40)], 0usize..300)
            .prop_map(|(b0, len, sent)| Piece::Long { b0, len, sent }),
    ]
}

fn encode(to: Role, pieces: &[Piece]) -> Vec<u8> {
    let mut wire = Vec::new();
    for p in pieces {
        match p {
            Piece::Frame { b0, payload, wrong_mask } => {
                let mask = if *wrong_mask { masking(to).xor(Some(KEY)) } else { masking(to) };
                wire.extend(raw_frame(*b0, mask, payload));
            }
            Piece::Long { b0, len, sent } => {
                wire.extend(frame_header(*b0, masking(to), *len));
                wire.extend(std::iter::repeat_n(0x41, *sent));
            }
        }
    }
    wire
}

fn config(streaming: bool) -> Config {
    let mut c = Config::default();
    c.max_frame_payload = 1000;
    c.max_message_size = 1500;
    c.max_fragments = 6;
    if streaming {
        c.receive_mode = ReceiveMode::Streaming;
    }
    c
}

/// What a drive observed.
#[derive(Debug, PartialEq)]
struct Observed {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    out: Vec<u8>,
}

fn echo_owned(conn: &mut Connection, event: &Event, out: &mut Vec<u8>) {
    match event {
        Event::Text(t) => conn.send_text(t, out).unwrap_or(()),
        Event::Binary(b) => conn.send_binary(b, out).unwrap_or(()),
        _ => {}
    }
}

/// Feeds `wire` in `chunks`, draining the events after each feed with `drain` (which records them and echoes
/// the data messages), then the automatic frames; stops at the first error.
fn drive(
    role: Role,
    streaming: bool,
    wire: &[u8],
    chunks: &[usize],
    mut drain: impl FnMut(&mut Connection, &mut Vec<Event>, &mut Vec<u8>) -> Result<(), ProtocolError>,
) -> Observed {
    let mut conn = Connection::new(role, config(streaming), [7; 32]).unwrap();
    let (mut events, mut out, mut error) = (Vec::new(), Vec::new(), None);
    for chunk in split(wire, chunks) {
        if conn.feed(chunk).is_err() {
            break;
        }
        error = drain(&mut conn, &mut events, &mut out).err();
        conn.poll_transmit(&mut out);
        if error.is_some() {
            break;
        }
    }
    Observed { events, error, out }
}

/// [`drive`] with `poll_event`.
fn drive_owned(role: Role, streaming: bool, wire: &[u8], chunks: &[usize]) -> Observed {
    drive(role, streaming, wire, chunks, |conn, events, out| {
        while let Some(ev) = conn.poll_event()? {
            echo_owned(conn, &ev, out);
            events.push(ev);
        }
        Ok(())
    })
}

/// [`drive`] with `poll_batch`; the handler breaks after every `stop_every`-th event (0: never).
fn drive_batched(role: Role, streaming: bool, wire: &[u8], chunks: &[usize], stop_every: usize) -> Observed {
    drive(role, streaming, wire, chunks, |conn, events, out| loop {
        let mut seen = 0;
        let n = conn.poll_batch(out, |ev, tx| {
            match ev {
                EventRef::Text(t) => tx.send_text(t).unwrap_or(()),
                EventRef::Binary(b) => tx.send_binary(b).unwrap_or(()),
                _ => {}
            }
            events.push(ev.to_event());
            seen += 1;
            if stop_every > 0 && seen % stop_every == 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        assert_eq!(n, seen, "poll_batch counts the events it handled");
        // A break may leave events behind; go on until a call returns without one.
        if stop_every == 0 || n % stop_every != 0 || n == 0 {
            return Ok(());
        }
    })
}

fn split<'a>(wire: &'a [u8], chunks: &[usize]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut at = 0;
    for &c in chunks.iter().cycle().take(wire.len() + 1) {
        if at >= wire.len() {
            break;
        }
        let end = (at + c.max(1)).min(wire.len());
        parts.push(&wire[at..end]);
        at = end;
    }
    parts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn batched_equals_one_at_a_time(
        server in any::<bool>(),
        streaming in proptest::bool::weighted(0.2),
        pieces in proptest::collection::vec(piece(), 0..24),
        chunks in proptest::collection::vec(prop_oneof![1usize..8, 8usize..200, Just(100_000)], 1..6),
        stop_every in prop_oneof![3 => Just(0usize), 1 => 1usize..4],
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let wire = encode(role, &pieces);
        let owned = drive_owned(role, streaming, &wire, &chunks);
        let batched = drive_batched(role, streaming, &wire, &chunks, stop_every);
        prop_assert_eq!(&batched, &owned);
    }
}

/// Well-formed traffic: messages split into 1–8 frames (sometimes a ping between two of them, sometimes text
/// that is not UTF-8), so that whole fragmented messages are often in the buffer at once.
fn messages() -> impl Strategy<Value = Vec<Piece>> {
    let message = (any::<bool>(), payload(), 1usize..9, proptest::option::weighted(0.15, 0usize..8));
    proptest::collection::vec(message, 0..12).prop_map(|msgs| {
        let mut pieces = Vec::new();
        for (text, payload, frames, ping_after) in msgs {
            let per = payload.len().div_ceil(frames).max(1);
            let chunks: Vec<&[u8]> = if payload.is_empty() { vec![&[]] } else { payload.chunks(per).collect() };
            for (i, chunk) in chunks.iter().enumerate() {
                let opcode = if i > 0 {
                    0x0
                } else if text {
                    0x1
                } else {
                    0x2
                };
                let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
                pieces.push(Piece::Frame { b0: fin | opcode, payload: chunk.to_vec(), wrong_mask: false });
                if ping_after == Some(i) && fin == 0 {
                    pieces.push(Piece::Frame { b0: 0x89, payload: b"p".to_vec(), wrong_mask: false });
                }
            }
        }
        pieces
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn batched_equals_one_at_a_time_for_fragmented_messages(
        server in any::<bool>(),
        pieces in messages(),
        chunks in proptest::collection::vec(prop_oneof![1usize..8, 8usize..200, Just(100_000)], 1..6),
        stop_every in prop_oneof![3 => Just(0usize), 1 => 1usize..4],
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let wire = encode(role, &pieces);
        let owned = drive_owned(role, false, &wire, &chunks);
        let batched = drive_batched(role, false, &wire, &chunks, stop_every);
        prop_assert_eq!(&batched, &owned);
    }
}

#[test]
fn a_fragmented_message_already_in_the_buffer_is_gathered_in_place() {
    let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    let mut wire = Vec::new();
    for round in 0..3 {
        for (i, part) in ["héllo ", "wö", "rld ", "", "€"].iter().enumerate() {
            let op = if i == 0 { OP_TEXT } else { OP_CONT };
            wire.extend(frame_to(Role::Server, i == 4, op, part.as_bytes()));
        }
        wire.extend(frame_to(Role::Server, true, OP_BINARY, &[round]));
    }
    conn.feed(&wire).unwrap();
    let mut seen = Vec::new();
    let n = conn.poll_batch(&mut Vec::new(), |ev, _| {
        seen.push(ev.to_event());
        ControlFlow::Continue(())
    });
    assert_eq!(n, Ok(6));
    for round in 0..3u8 {
        assert_eq!(seen[2 * round as usize], Event::Text("héllo wörld €".into()));
        assert_eq!(seen[2 * round as usize + 1], Event::Binary(vec![round].into()));
    }
    assert_eq!(conn.buffered_len(), 0);
}

#[test]
fn a_message_of_many_fragments_is_gathered_whole() {
    let text: String = (0..300).map(|i| char::from(b'a' + (i % 26) as u8)).collect::<String>() + "€";
    let bytes = text.as_bytes();
    for per in [1, 2, 3, 17, 40] {
        let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
        let chunks: Vec<&[u8]> = bytes.chunks(per).collect();
        let mut wire = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let op = if i == 0 { OP_TEXT } else { OP_CONT };
            wire.extend(frame_to(Role::Server, i + 1 == chunks.len(), op, c));
        }
        conn.feed(&wire).unwrap();
        let mut seen = Vec::new();
        let n = conn.poll_batch(&mut Vec::new(), |ev, _| {
            seen.push(ev.to_event());
            ControlFlow::Continue(())
        });
        assert_eq!(n, Ok(1), "{per} bytes per frame");
        assert_eq!(seen, [Event::Text(text.clone().into())], "{per} bytes per frame");
    }
}

#[test]
fn invalid_utf8_across_gathered_fragments_fails_with_the_offset_in_the_message() {
    let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    let mut wire = frame_to(Role::Server, false, OP_TEXT, b"abc\xe2");
    wire.extend(frame_to(Role::Server, false, OP_CONT, &[0x82]));
    wire.extend(frame_to(Role::Server, true, OP_CONT, b"xy"));
    conn.feed(&wire).unwrap();
    let r = conn.poll_batch(&mut Vec::new(), |_, _| panic!("no event before the error"));
    assert_eq!(r, Err(ProtocolError::InvalidUtf8 { valid_up_to: 3 }));
}

#[test]
fn many_small_messages_are_handled_in_one_call() {
    let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    let mut wire = Vec::new();
    for i in 0..500u32 {
        wire.extend(frame_to(Role::Server, true, OP_BINARY, &i.to_be_bytes()));
        wire.extend(frame_to(Role::Server, true, OP_TEXT, format!("msg {i}").as_bytes()));
    }
    conn.feed(&wire).unwrap();
    let mut out = Vec::new();
    let mut texts = 0;
    let n = conn
        .poll_batch(&mut out, |ev, tx| {
            match ev {
                EventRef::Binary(b) => tx.send_binary(b).unwrap(),
                EventRef::Text(t) => {
                    assert_eq!(t, format!("msg {texts}"));
                    texts += 1;
                    tx.send_text(t).unwrap()
                }
                other => panic!("unexpected {other:?}"),
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(n, 1000);
    let frames = parse_frames(&out);
    assert_eq!(frames.len(), 1000);
    assert_eq!(frames[998].payload, 499u32.to_be_bytes());
    assert_eq!(frames[999].payload, b"msg 499");
    assert!(frames.iter().all(|f| f.fin && f.mask.is_none()));
    assert_eq!(conn.buffered_len(), 0);
    assert_eq!(conn.poll_batch(&mut out, |_, _| ControlFlow::Continue(())), Ok(0));
}

#[test]
fn invalid_text_after_valid_messages_fails_with_1007_after_they_are_handled() {
    let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    let mut wire = frame_to(Role::Server, true, OP_TEXT, b"ok");
    wire.extend(frame_to(Role::Server, true, OP_TEXT, &[b'a', 0xff, b'b']));
    wire.extend(frame_to(Role::Server, true, OP_BINARY, b"never"));
    conn.feed(&wire).unwrap();
    let mut seen = Vec::new();
    let r = conn.poll_batch(&mut Vec::new(), |ev, _| {
        seen.push(ev.to_event());
        ControlFlow::Continue(())
    });
    assert_eq!(r, Err(ProtocolError::InvalidUtf8 { valid_up_to: 1 }));
    assert_eq!(r.unwrap_err().close_code().0, 1007);
    assert_eq!(seen, [Event::Text("ok".into())]);
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    assert_eq!(parse_frames(&out)[0].close().0, Some(1007));
    // Sticky.
    assert!(conn.poll_batch(&mut out, |_, _| ControlFlow::Continue(())).is_err());
}
