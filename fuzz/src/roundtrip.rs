//! `roundtrip`: an arbitrary script of messages encoded by one `Connection` and decoded by the other.
//!
//! The script (from `arbitrary`) picks the direction (client→server or server→client), the receiver's mode
//! (whole or streaming), how the wire is chunked, and a list of operations: text (including multi-byte
//! characters, fragments split anywhere, even inside a code point) and binary messages of various sizes and
//! fragment sizes, pings and pongs (also between the fragments of a message), caller mistakes that must be
//! refused without effect, and an optional close.
//!
//! Invariants: every call succeeds or fails exactly as documented; the sender's bytes are valid frames
//! (masked iff the sender is a client); the receiver (checked by [`Driver`]) reports exactly the messages,
//! pings, pongs and close that were sent, in order, and no error; the receiver's automatic replies, fed back
//! to the sender, are pongs echoing sent pings and the close reply echoing the code; both outcomes are clean.

use arbitrary::{Arbitrary, Unstructured};
use wsproto::{CloseCode, CloseOutcome, Config, Connection, DataKind, ReceiveMode, Role, SendError};

use crate::conn::{parse_frames, Driver, Ev};

#[derive(Arbitrary, Debug)]
pub enum Op {
    Text { chars: u16, alphabet: u8, seed: u8, frag: u8, ping_between: bool, empty_last: bool },
    Binary { len: u16, seed: u8, frag: u8, ping_between: bool, empty_last: bool },
    Ping(u8, u8),
    Pong(u8, u8),
    Misuse(u8),
}

#[derive(Arbitrary, Debug)]
pub struct Script {
    server_sends: bool,
    streaming: bool,
    tight: bool,
    chunks: Vec<u16>,
    ops: Vec<Op>,
    /// None: no close; Some(None): close without code; Some(Some((code, reason))).
    close: Option<Option<(u8, u8)>>,
}

const ALPHABET: &[&str] = &["a", "é", "€", "𝄞", "\u{0}", "\u{7f}", "\u{ffff}", "z", "\u{10ffff}", "ß"];
const CODES: &[u16] = &[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 3999, 4000, 4999];
const MAX_TOTAL: usize = 128 << 10;

fn lcg(seed: u8) -> impl FnMut() -> u32 {
    let mut s = seed as u32 ^ 0x9e37_79b9;
    move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        s >> 8
    }
}

fn pieces(data: &[u8], frag: usize, empty_last: bool) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = data.chunks(frag.max(1)).collect();
    if v.is_empty() || empty_last {
        v.push(&[]);
    }
    v
}

/// The `roundtrip` target.
pub fn roundtrip(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(script) = Script::arbitrary(&mut u) else { return };
    let (tx_role, rx_role) =
        if script.server_sends { (Role::Server, Role::Client) } else { (Role::Client, Role::Server) };
    let mut cfg = Config::default();
    cfg.deflate = None; // uncompressed frames only; roundtrip_deflate covers permessage-deflate
    cfg.max_frame_payload = 64 << 10;
    cfg.max_message_size = 256 << 10;
    cfg.receive_mode = if script.streaming { ReceiveMode::Streaming } else { ReceiveMode::Whole };
    cfg.max_buffered = match (script.streaming, script.tight) {
        (true, true) => 139,
        (false, true) => (64 << 10) + 14,
        _ => 1 << 20,
    };
    let mut tx = Connection::new(tx_role, cfg.clone(), [9; 32]).expect("valid config");
    let mut wire = Vec::new();
    let mut expect: Vec<Ev> = Vec::new();
    let mut pings: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;

    for op in &script.ops {
        if total > MAX_TOTAL {
            break;
        }
        match op {
            Op::Text { chars, alphabet, seed, frag, ping_between, empty_last } => {
                let mut r = lcg(*seed);
                let n = (*chars % 2048) as usize;
                let span = (*alphabet as usize % ALPHABET.len()) + 1;
                let text: String = (0..n).map(|_| ALPHABET[r() as usize % span]).collect();
                total += text.len();
                send(
                    &mut tx,
                    DataKind::Text,
                    text.as_bytes(),
                    *frag,
                    *ping_between,
                    *empty_last,
                    &mut wire,
                    &mut expect,
                    &mut pings,
                );
            }
            Op::Binary { len, seed, frag, ping_between, empty_last } => {
                let mut r = lcg(*seed);
                let bytes: Vec<u8> = (0..(*len % 8192)).map(|_| r() as u8).collect();
                total += bytes.len();
                send(
                    &mut tx,
                    DataKind::Binary,
                    &bytes,
                    *frag,
                    *ping_between,
                    *empty_last,
                    &mut wire,
                    &mut expect,
                    &mut pings,
                );
            }
            Op::Ping(n, b) => {
                let p = vec![*b; *n as usize % 126];
                tx.send_ping(&p, &mut wire).expect("send_ping");
                pings.push(p.clone());
                expect.push(Ev::Ping(p));
            }
            Op::Pong(n, b) => {
                let p = vec![*b; *n as usize % 126];
                tx.send_pong(&p, &mut wire).expect("send_pong");
                expect.push(Ev::Pong(p));
            }
            Op::Misuse(k) => misuse(&mut tx, *k),
        }
    }
    let close = match script.close {
        None => None,
        Some(None) => {
            tx.close_without_code(&mut wire).expect("close_without_code");
            Some((None, String::new()))
        }
        Some(Some((c, rlen))) => {
            let code = CODES[c as usize % CODES.len()];
            let reason: String = "bye-é-".chars().cycle().take(rlen as usize % 80).collect();
            let reason = &reason[..reason.len().min(123)];
            tx.close(CloseCode(code), reason, &mut wire).expect("close");
            Some((Some(code), reason.to_string()))
        }
    };
    if let Some((code, reason)) = &close {
        expect.push(Ev::Close(*code, reason.clone()));
        assert!(tx.is_closing());
        let mut out = Vec::new();
        assert_eq!(tx.send_text("late", &mut out), Err(SendError::Closing));
        assert_eq!(tx.send_ping(b"", &mut out), Err(SendError::Closing));
        assert_eq!(tx.close(CloseCode::NORMAL, "", &mut out), Err(SendError::Closing));
        assert!(out.is_empty(), "a refused call wrote bytes");
    }
    assert!(!tx.has_pending_transmit(), "sender has automatic frames without receiving anything");

    // The wire is valid frames from the sender's role.
    let frames = parse_frames(tx_role, &wire);
    if let Some(last) = frames.last() {
        if close.is_some() {
            assert_eq!(last.0.opcode, wsproto::internal::frame::OpCode::Close, "close is not the last frame");
        }
    }

    // Receive, in the script's chunking.
    let mut rx = Connection::new(rx_role, cfg.clone(), [3; 32]).expect("valid config");
    let mut d = Driver::new(rx_role, cfg.clone());
    let sizes: Vec<usize> = script.chunks.iter().map(|&s| s as usize % 4096 + 1).collect();
    let mut at = 0;
    let mut i = 0;
    while at < wire.len() {
        let n = if sizes.is_empty() { wire.len() } else { sizes[i % sizes.len()] };
        let end = (at + n).min(wire.len());
        d.feed(&mut rx, &wire[at..end]);
        at = end;
        i += 1;
    }
    d.drain(&mut rx);
    assert_eq!(d.error, None, "the receiver failed on what the sender produced");
    assert_eq!(d.partial, None, "unfinished message at the receiver");
    assert_eq!(d.events, expect, "received events differ from what was sent");
    d.check_end(&mut rx);

    // The receiver's automatic replies go back to the sender.
    let mut back = Driver::new(tx_role, cfg.clone());
    back.feed(&mut tx, &d.transmit);
    let replies = &back.events;
    let mut sent_pings = pings.iter();
    for e in replies {
        match e {
            Ev::Pong(p) => assert!(sent_pings.any(|q| q == p), "pong {p:?} echoes no sent ping"),
            Ev::Close(code, reason) => {
                let (want, _) = close.as_ref().expect("close reply without a close");
                assert_eq!(code, want, "close reply does not echo the code");
                assert!(reason.is_empty());
            }
            other => panic!("unexpected reply event {other:?}"),
        }
    }
    assert_eq!(back.error, None, "the sender failed on the receiver's replies");
    match &close {
        Some((code, reason)) => {
            assert!(matches!(replies.last(), Some(Ev::Close(..))), "no close reply");
            match rx.close_outcome() {
                Some(CloseOutcome::Clean { remote, initiated_locally: false }) => {
                    assert_eq!((remote.code.map(|c| c.0), &remote.reason), (*code, reason));
                }
                other => panic!("receiver outcome {other:?}"),
            }
            match tx.close_outcome() {
                Some(CloseOutcome::Clean { remote, initiated_locally: true }) => {
                    assert_eq!(remote.code.map(|c| c.0), *code)
                }
                other => panic!("sender outcome {other:?}"),
            }
            assert!(tx.is_finished() && rx.is_finished());
            assert_eq!(tx.wants_transport_closed(), tx_role == Role::Server);
            assert_eq!(rx.wants_transport_closed(), rx_role == Role::Server);
        }
        None => {
            if let Some(last) = pings.last() {
                assert_eq!(replies.last(), Some(&Ev::Pong(last.clone())), "latest ping not answered");
            }
            assert!(!tx.is_finished() && !rx.is_finished());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn send(
    tx: &mut Connection,
    kind: DataKind,
    data: &[u8],
    frag: u8,
    ping_between: bool,
    empty_last: bool,
    wire: &mut Vec<u8>,
    expect: &mut Vec<Ev>,
    pings: &mut Vec<Vec<u8>>,
) {
    if frag == 0 {
        match kind {
            DataKind::Text => tx.send_text(std::str::from_utf8(data).expect("text"), wire).expect("send_text"),
            DataKind::Binary => tx.send_binary(data, wire).expect("send_binary"),
        }
        expect.push(Ev::Msg(kind, data.to_vec()));
        return;
    }
    // Fragment sizes: small ones exercise many frames, large ones the extended lengths.
    let size = if frag < 128 { frag as usize } else { (frag as usize - 127) * 509 };
    let ps = pieces(data, size, empty_last);
    let n = ps.len();
    for (i, p) in ps.into_iter().enumerate() {
        tx.send_fragment(kind, p, i + 1 == n, wire).expect("send_fragment");
        if i == 0 && ping_between && n > 1 {
            let ping = format!("between {}", data.len()).into_bytes();
            tx.send_ping(&ping, wire).expect("ping between fragments");
            pings.push(ping.clone());
            expect.push(Ev::Ping(ping));
        }
        if i == 0 && n > 1 {
            // A whole message or another kind's fragment while this one is unfinished is refused.
            let mut out = Vec::new();
            assert_eq!(tx.send_binary(b"no", &mut out), Err(SendError::FragmentInProgress));
            let other = if kind == DataKind::Text { DataKind::Binary } else { DataKind::Text };
            assert_eq!(tx.send_fragment(other, b"no", true, &mut out), Err(SendError::FragmentInProgress));
            assert!(out.is_empty(), "a refused call wrote bytes");
        }
    }
    expect.push(Ev::Msg(kind, data.to_vec()));
}

/// A caller mistake: refused with the documented error, nothing written, the connection still usable.
fn misuse(tx: &mut Connection, k: u8) {
    let mut out = Vec::new();
    match k % 5 {
        0 => assert_eq!(tx.send_ping(&[0; 126], &mut out), Err(SendError::ControlTooLong(126))),
        1 => assert_eq!(tx.send_pong(&[0; 200], &mut out), Err(SendError::ControlTooLong(200))),
        2 => assert_eq!(tx.close(CloseCode(1005), "", &mut out), Err(SendError::UnsendableCloseCode(1005))),
        3 => {
            assert_eq!(tx.close(CloseCode::NORMAL, &"x".repeat(124), &mut out), Err(SendError::CloseReasonTooLong(124)))
        }
        _ => assert_eq!(
            tx.close(CloseCode(999 + (k as u16 % 2) * 4001), "", &mut out),
            Err(SendError::UnsendableCloseCode(999 + (k as u16 % 2) * 4001))
        ),
    }
    assert!(out.is_empty(), "a refused call wrote bytes");
    assert!(!tx.is_closing(), "a refused close started closing");
}
