//! Every way a peer can fail a connection, with its close code, checked as the returned `ProtocolError` (sticky)
//! and as the close frame on the wire; and caller errors, which leave the connection usable.

mod common;

use common::*;
use wsproto::FrameError;
use wsproto::{
    Bytes, CloseCode, CloseOutcome, Config, Connection, DataKind, Event, Fragment, ProtocolError, Role, SendError,
};

/// Checks everything a failure must do: the error (sticky), the close frame with its code, the outcome, no
/// further events even when valid frames follow, nothing more to send.
fn check_failed(c: &mut Connection, err: &ProtocolError, code: u16) {
    assert_eq!(err.close_code(), CloseCode(code), "{err:?}");
    assert!(err.sends_close());
    // Sticky.
    assert_eq!(c.poll_event().as_ref(), Err(err));
    assert_eq!(c.poll_event().as_ref(), Err(err));
    // The close frame on the wire.
    let out = transmit(c);
    assert_eq!(out.len(), 1, "{out:?}");
    let (wire_code, reason) = out[0].close();
    assert_eq!(wire_code, Some(code));
    assert!(reason.len() <= 123);
    assert!(out[0].fin);
    // Sent once.
    assert!(transmit(c).is_empty());
    assert_eq!(c.close_outcome(), Some(&CloseOutcome::Failed(err.clone())));
    assert_eq!(c.close_outcome().unwrap().code(), CloseCode(code));
    assert!(c.is_finished());
    assert!(c.is_closing());
    assert!(c.wants_transport_closed());
    assert_eq!(c.buffered_len(), 0);
    // Valid frames afterwards produce nothing.
    let role = c.role();
    c.feed(&frame_to(role, true, OP_TEXT, b"valid")).unwrap();
    c.feed(&frame_to(role, true, OP_PING, b"ping")).unwrap();
    c.feed(&close_to(role, 1000, b"")).unwrap();
    assert_eq!(c.poll_event().as_ref(), Err(err));
    assert!(transmit(c).is_empty());
    // Sending is refused.
    let mut out = Vec::new();
    assert_eq!(c.send_text("x", &mut out), Err(SendError::Failed));
    assert_eq!(c.send_ping(b"", &mut out), Err(SendError::Failed));
    assert_eq!(c.close(CloseCode::NORMAL, "", &mut out), Err(SendError::Failed));
    assert!(out.is_empty());
}

/// Feeds `bytes` to a fresh connection in `role` and expects a failure with `code` (events before it allowed).
fn fails_with(role: Role, config: Config, bytes: &[u8], code: u16) -> (Vec<Event>, ProtocolError) {
    let mut c = conn_with(role, config);
    c.feed(bytes).unwrap();
    let (evs, err) = drain_until_error(&mut c);
    let err = err.unwrap_or_else(|| panic!("no error for {bytes:02x?}; events {evs:?}"));
    check_failed(&mut c, &err, code);
    (evs, err)
}

fn fails(role: Role, bytes: &[u8], code: u16) -> ProtocolError {
    let (evs, err) = fails_with(role, Config::default(), bytes, code);
    assert!(evs.is_empty(), "{evs:?}");
    err
}

#[test]
fn rsv_bits_without_extension() {
    for rsv in 1..8u8 {
        for role in [Role::Server, Role::Client] {
            let f = raw_frame(0x81 | rsv << 4, masking(role), b"hi");
            assert_eq!(fails(role, &f, 1002), ProtocolError::ReservedBits(rsv));
        }
    }
    // On a control frame too.
    let f = raw_frame(0x89 | 0x40, Some(KEY), b"");
    assert_eq!(fails(Role::Server, &f, 1002), ProtocolError::ReservedBits(4));
}

#[test]
fn reserved_opcodes() {
    for op in (3..=7u8).chain(0xb..=0xf) {
        for role in [Role::Server, Role::Client] {
            let f = raw_frame(0x80 | op, masking(role), b"");
            assert_eq!(fails(role, &f, 1002), ProtocolError::Frame(FrameError::ReservedOpcode(op)));
        }
        // Reported from the first two bytes: nothing else needed.
        let mut c = conn(Role::Server);
        c.feed(&[0x80 | op, 0x80]).unwrap();
        let err = c.poll_event().unwrap_err();
        check_failed(&mut c, &err, 1002);
    }
}

#[test]
fn control_frame_without_fin() {
    for op in [OP_CLOSE, OP_PING, OP_PONG] {
        let f = raw_frame(op, Some(KEY), b"");
        assert_eq!(fails(Role::Server, &f, 1002), ProtocolError::Frame(FrameError::FragmentedControl));
    }
}

#[test]
fn control_frame_over_125_bytes() {
    for op in [OP_CLOSE, OP_PING, OP_PONG] {
        let f = raw_frame(0x80 | op, Some(KEY), &[b'a'; 126]);
        let err = fails(Role::Server, &f, 1002);
        assert!(matches!(err, ProtocolError::Frame(FrameError::ControlTooLong(_))), "{err:?}");
        // From the header alone.
        let mut c = conn(Role::Client);
        c.feed(&[0x80 | op, 126]).unwrap();
        let err = c.poll_event().unwrap_err();
        check_failed(&mut c, &err, 1002);
    }
    // 125 is fine.
    let mut c = conn(Role::Server);
    c.feed(&raw_frame(0x89, Some(KEY), &[b'a'; 125])).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Ping(vec![b'a'; 125].into())]);
}

#[test]
fn length_with_top_bit_set() {
    let mut f = vec![0x82, 0xff];
    f.extend_from_slice(&(1u64 << 63).to_be_bytes());
    f.extend_from_slice(&KEY);
    assert_eq!(fails(Role::Server, &f, 1002), ProtocolError::Frame(FrameError::LengthOverflow));
    let mut f = vec![0x82, 0x7f];
    f.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(fails(Role::Client, &f, 1002), ProtocolError::Frame(FrameError::LengthOverflow));
}

#[test]
fn masking_violations() {
    // Unmasked frame to a server, masked frame to a client (RFC 6455 §5.1), for data and control frames.
    for op in [OP_TEXT, OP_BINARY, OP_PING, OP_CLOSE] {
        assert_eq!(fails(Role::Server, &raw_frame(0x80 | op, None, b""), 1002), ProtocolError::UnmaskedFrame);
        assert_eq!(fails(Role::Client, &raw_frame(0x80 | op, Some(KEY), b""), 1002), ProtocolError::MaskedFrame);
    }
}

#[test]
fn continuation_with_nothing_to_continue() {
    for role in [Role::Server, Role::Client] {
        let f = frame_to(role, true, OP_CONT, b"x");
        assert_eq!(fails(role, &f, 1002), ProtocolError::UnexpectedContinuation);
        let f = frame_to(role, false, OP_CONT, b"x");
        assert_eq!(fails(role, &f, 1002), ProtocolError::UnexpectedContinuation);
    }
    // After a complete message, too.
    let mut bytes = frame_to(Role::Server, true, OP_TEXT, b"done");
    bytes.extend(frame_to(Role::Server, true, OP_CONT, b"more"));
    let (evs, err) = fails_with(Role::Server, Config::default(), &bytes, 1002);
    assert_eq!(evs, vec![Event::Text("done".into())]);
    assert_eq!(err, ProtocolError::UnexpectedContinuation);
}

#[test]
fn new_data_frame_inside_fragmented_message() {
    for first in [OP_TEXT, OP_BINARY] {
        for second in [OP_TEXT, OP_BINARY] {
            let mut bytes = frame_to(Role::Server, false, first, b"a");
            bytes.extend(frame_to(Role::Server, true, OP_PING, b"")); // control frames are fine in between
            bytes.extend(frame_to(Role::Server, true, second, b"b"));
            let (evs, err) = fails_with(Role::Server, Config::default(), &bytes, 1002);
            assert_eq!(evs, vec![Event::Ping(Bytes::new())]);
            assert_eq!(err, ProtocolError::ExpectedContinuation);
        }
    }
    // The pending pong is dropped: only the close goes out (checked by check_failed's single frame).
}

#[test]
fn close_payload_of_one_byte() {
    let f = frame_to(Role::Server, true, OP_CLOSE, &[0x03]);
    assert_eq!(fails(Role::Server, &f, 1002), ProtocolError::CloseTooShort);
}

#[test]
fn invalid_close_codes_are_1002() {
    for code in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        for role in [Role::Server, Role::Client] {
            assert_eq!(fails(role, &close_to(role, code, b""), 1002), ProtocolError::InvalidCloseCode(code));
        }
    }
}

#[test]
fn valid_close_codes_are_accepted_and_echoed() {
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
        for role in [Role::Server, Role::Client] {
            let mut c = conn(role);
            c.feed(&close_to(role, code, "ok ✓".as_bytes())).unwrap();
            let evs = drain(&mut c);
            assert_eq!(
                evs,
                vec![Event::Close(wsproto::CloseFrame { code: Some(CloseCode(code)), reason: "ok ✓".into() })]
            );
            let out = transmit(&mut c);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].close().0, Some(code));
            assert!(matches!(c.close_outcome(), Some(CloseOutcome::Clean { .. })));
        }
    }
}

#[test]
fn invalid_utf8_close_reason_is_1007() {
    for reason in [&[0xff][..], &[b'o', b'k', 0xc3], &[0xed, 0xa0, 0x80]] {
        let f = close_to(Role::Server, 1000, reason);
        assert_eq!(fails(Role::Server, &f, 1007), ProtocolError::InvalidCloseReason);
    }
}

#[test]
fn invalid_utf8_text_is_1007() {
    for bad in [&b"\xff"[..], b"abc\xc0\xafdef", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xe2\x82"] {
        for role in [Role::Server, Role::Client] {
            let f = frame_to(role, true, OP_TEXT, bad);
            let err = fails(role, &f, 1007);
            assert!(matches!(err, ProtocolError::InvalidUtf8 { .. }), "{err:?}");
        }
    }
    // Binary is not checked.
    let mut c = conn(Role::Server);
    c.feed(&frame_to(Role::Server, true, OP_BINARY, b"\xff")).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Binary(Bytes::from_static(b"\xff"))]);
}

/// A 16 MiB text frame whose first few KB contain invalid UTF-8: the error comes before the rest is fed.
fn fail_fast_16mib(role: Role, config: Config) {
    const LEN: u64 = 16 << 20;
    let mut c = conn_with(role, config);
    let mask = masking(role);
    c.feed(&frame_header(0x81, mask, LEN)).unwrap();
    assert_eq!(c.poll_event(), Ok(None));
    // 6000 valid bytes (multi-byte code points included), then an invalid byte, in 1 KiB pieces.
    let mut payload: Vec<u8> = "héllo wörld €𝄞 ".repeat(300).into_bytes();
    payload.truncate(6000);
    while core::str::from_utf8(&payload).is_err() {
        payload.pop();
    }
    let valid = payload.len() as u64;
    payload.extend_from_slice(b"\xff and more");
    if let Some(k) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    let mut fed = 0;
    let mut error = None;
    let mut events = Vec::new();
    for piece in payload.chunks(1024) {
        c.feed(piece).unwrap();
        fed += piece.len();
        let (evs, err) = drain_until_error(&mut c);
        events.extend(evs);
        if let Some(e) = err {
            error = Some(e);
            break;
        }
    }
    let err = error.expect("invalid UTF-8 not reported before the frame was complete");
    assert_eq!(err, ProtocolError::InvalidUtf8 { valid_up_to: valid });
    assert!((fed as u64) < valid + 1024 + 1, "fed {fed}");
    assert!((fed as u64) < LEN);
    // In streaming mode the valid prefix may have been delivered; never with last set.
    for e in &events {
        let Event::Fragment(f) = e else { panic!("{e:?}") };
        assert!(!f.last);
    }
    check_failed(&mut c, &err, 1007);
}

#[test]
fn invalid_utf8_fails_fast_in_a_16mib_frame() {
    fail_fast_16mib(Role::Server, Config::default());
    fail_fast_16mib(Role::Client, Config::default());
    fail_fast_16mib(Role::Server, streaming());
    fail_fast_16mib(Role::Client, streaming());
}

#[test]
fn invalid_utf8_in_the_middle_of_a_code_point_fails_before_the_frame_ends() {
    // "€" is e2 82 ac; e2 followed by 0x28 is invalid at the second byte.
    let mut c = conn(Role::Client);
    c.feed(&frame_header(0x81, None, 100)).unwrap();
    c.feed(b"abc\xe2").unwrap();
    assert_eq!(c.poll_event(), Ok(None));
    c.feed(b"\x28").unwrap();
    let err = c.poll_event().unwrap_err();
    assert_eq!(err, ProtocolError::InvalidUtf8 { valid_up_to: 3 });
    check_failed(&mut c, &err, 1007);

    // A code point above U+10FFFF is rejected at its second byte.
    let mut c = conn(Role::Client);
    c.feed(&frame_header(0x81, None, 100)).unwrap();
    c.feed(b"\xf4").unwrap();
    assert_eq!(c.poll_event(), Ok(None));
    c.feed(b"\x90").unwrap();
    let err = c.poll_event().unwrap_err();
    check_failed(&mut c, &err, 1007);
}

#[test]
fn invalid_utf8_split_across_fragments() {
    for mode in [Config::default(), streaming()] {
        // A valid code point split across fragments is fine.
        let mut c = conn_with(Role::Server, mode.clone());
        c.feed(&frame_to(Role::Server, false, OP_TEXT, b"a\xe2")).unwrap();
        c.feed(&frame_to(Role::Server, false, OP_CONT, b"\x82")).unwrap();
        c.feed(&frame_to(Role::Server, true, OP_CONT, b"\xacz")).unwrap();
        let text: Vec<u8> = drain(&mut c)
            .into_iter()
            .flat_map(|e| match e {
                Event::Text(t) => t.as_bytes().to_vec(),
                Event::Fragment(f) => f.data.to_vec(),
                e => panic!("{e:?}"),
            })
            .collect();
        assert_eq!(text, "a€z".as_bytes());

        // Invalid continuation in the next fragment: reported on that fragment, before the message ends.
        let mut c = conn_with(Role::Server, mode.clone());
        c.feed(&frame_to(Role::Server, false, OP_TEXT, b"ab\xe2\x82")).unwrap();
        let (_, err) = drain_until_error(&mut c);
        assert_eq!(err, None);
        c.feed(&frame_to(Role::Server, false, OP_CONT, b"\x41rest")).unwrap();
        let (_, err) = drain_until_error(&mut c);
        let err = err.unwrap();
        assert_eq!(err, ProtocolError::InvalidUtf8 { valid_up_to: 2 });
        check_failed(&mut c, &err, 1007);

        // A message that ends inside a code point.
        let mut bytes = frame_to(Role::Server, false, OP_TEXT, b"ok\xf0\x9f");
        bytes.extend(frame_to(Role::Server, true, OP_CONT, b"\x98"));
        let (evs, err) = fails_with(Role::Server, mode.clone(), &bytes, 1007);
        assert!(evs.iter().all(|e| matches!(e, Event::Fragment(Fragment { last: false, .. }))), "{evs:?}");
        assert_eq!(err, ProtocolError::InvalidUtf8 { valid_up_to: 2 });
    }
}

#[test]
fn frame_over_max_frame_payload_from_the_header_alone() {
    let mut config = Config::default();
    config.max_frame_payload = 1000;
    config.max_buffered = 2000;
    for role in [Role::Server, Role::Client] {
        let mut c = conn_with(role, config.clone());
        c.feed(&frame_header(0x82, masking(role), 1001)).unwrap();
        let err = c.poll_event().unwrap_err();
        assert_eq!(err, ProtocolError::FrameTooLarge { len: 1001, max: 1000 });
        check_failed(&mut c, &err, 1009);
        // 1000 is fine.
        let mut c = conn_with(role, config.clone());
        c.feed(&frame_to(role, true, OP_BINARY, &[0; 1000])).unwrap();
        assert_eq!(drain(&mut c), vec![Event::Binary(vec![0; 1000].into())]);
    }
    // Default limit (16 MiB): one byte more, header only.
    let mut c = conn(Role::Server);
    c.feed(&frame_header(0x81, Some(KEY), (16 << 20) + 1)).unwrap();
    let err = c.poll_event().unwrap_err();
    assert!(matches!(err, ProtocolError::FrameTooLarge { .. }));
    check_failed(&mut c, &err, 1009);
    // On a continuation frame too.
    let mut c = conn_with(Role::Server, config);
    c.feed(&frame_to(Role::Server, false, OP_BINARY, &[1; 10])).unwrap();
    c.feed(&frame_header(0x80, Some(KEY), 1001)).unwrap();
    let (_, err) = drain_until_error(&mut c);
    let err = err.unwrap();
    assert_eq!(err, ProtocolError::FrameTooLarge { len: 1001, max: 1000 });
    check_failed(&mut c, &err, 1009);
}

#[test]
fn message_over_max_message_size_across_fragments() {
    let mut config = Config::default();
    config.max_frame_payload = 1000;
    config.max_message_size = 1000;
    config.max_buffered = 2000;
    for mode in [wsproto::ReceiveMode::Whole, wsproto::ReceiveMode::Streaming] {
        let mut config = config.clone();
        config.receive_mode = mode;
        // 400 + 400 + 200 = 1000 is fine.
        let mut c = conn_with(Role::Server, config.clone());
        c.feed(&frame_to(Role::Server, false, OP_BINARY, &[1; 400])).unwrap();
        c.feed(&frame_to(Role::Server, false, OP_CONT, &[2; 400])).unwrap();
        c.feed(&frame_to(Role::Server, true, OP_CONT, &[3; 200])).unwrap();
        let total: usize = drain(&mut c)
            .iter()
            .map(|e| match e {
                Event::Binary(b) => b.len(),
                Event::Fragment(f) => f.data.len(),
                e => panic!("{e:?}"),
            })
            .sum();
        assert_eq!(total, 1000);

        // 400 + 400 + 201: the third header crosses the limit, before its payload arrives.
        let mut c = conn_with(Role::Server, config.clone());
        c.feed(&frame_to(Role::Server, false, OP_BINARY, &[1; 400])).unwrap();
        c.feed(&frame_to(Role::Server, false, OP_CONT, &[2; 400])).unwrap();
        c.feed(&frame_header(0x80, Some(KEY), 201)).unwrap();
        let (evs, err) = drain_until_error(&mut c);
        assert!(evs.iter().all(|e| matches!(e, Event::Fragment(_))), "{evs:?}");
        let err = err.expect("message over max_message_size not detected");
        assert_eq!(err, ProtocolError::MessageTooLarge { max: 1000 });
        check_failed(&mut c, &err, 1009);

        // Many small fragments add up too.
        let mut c = conn_with(Role::Server, config.clone());
        c.feed(&frame_to(Role::Server, false, OP_TEXT, &[b'a'; 100])).unwrap();
        let mut err = None;
        for _ in 0..20 {
            c.feed(&frame_to(Role::Server, false, OP_CONT, &[b'a'; 100])).unwrap();
            if let (_, Some(e)) = drain_until_error(&mut c) {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("message over max_message_size not detected");
        assert_eq!(err, ProtocolError::MessageTooLarge { max: 1000 });
        check_failed(&mut c, &err, 1009);
    }
}

#[test]
fn max_fragments_exceeded() {
    let mut config = Config::default();
    config.max_fragments = 4;
    for mode in [wsproto::ReceiveMode::Whole, wsproto::ReceiveMode::Streaming] {
        let mut config = config.clone();
        config.receive_mode = mode;
        // Exactly 4 fragments is fine.
        let mut c = conn_with(Role::Client, config.clone());
        c.feed(&frame_to(Role::Client, false, OP_TEXT, b"a")).unwrap();
        c.feed(&frame_to(Role::Client, false, OP_CONT, b"b")).unwrap();
        c.feed(&frame_to(Role::Client, false, OP_CONT, b"c")).unwrap();
        c.feed(&frame_to(Role::Client, true, OP_CONT, b"d")).unwrap();
        let evs = drain(&mut c);
        assert!(!evs.is_empty());
        // A second message starts counting afresh.
        c.feed(&frame_to(Role::Client, false, OP_TEXT, b"a")).unwrap();
        c.feed(&frame_to(Role::Client, false, OP_CONT, b"b")).unwrap();
        c.feed(&frame_to(Role::Client, false, OP_CONT, b"c")).unwrap();
        c.feed(&frame_to(Role::Client, true, OP_CONT, b"d")).unwrap();
        assert!(!drain(&mut c).is_empty());

        // The fifth is refused.
        let mut bytes = frame_to(Role::Client, false, OP_BINARY, b"1");
        for _ in 0..4 {
            bytes.extend(frame_to(Role::Client, false, OP_CONT, b"2"));
        }
        let (evs, err) = fails_with(Role::Client, config.clone(), &bytes, 1009);
        assert!(evs.iter().all(|e| matches!(e, Event::Fragment(_))), "{evs:?}");
        assert_eq!(err, ProtocolError::TooManyFragments { max: 4 });
    }
}

#[test]
fn header_announcing_2_pow_62_bytes() {
    for mode in [Config::default(), streaming()] {
        let mut c = conn_with(Role::Server, mode);
        c.feed(&frame_header(0x82, Some(KEY), 1 << 62)).unwrap();
        assert!(c.buffered_len() <= 14);
        c.feed(&[0u8; 1000]).unwrap();
        let err = c.poll_event().unwrap_err();
        assert_eq!(err, ProtocolError::FrameTooLarge { len: 1 << 62, max: 16 << 20 });
        assert_eq!(c.buffered_len(), 0);
        check_failed(&mut c, &err, 1009);
        // More data is discarded, not buffered.
        c.feed(&[0u8; 4096]).unwrap();
        assert_eq!(c.buffered_len(), 0);
    }
}

#[test]
fn close_after_a_failure_is_not_sent_twice() {
    // We initiated a close; the peer then breaks the protocol: no second close frame.
    let mut c = conn(Role::Server);
    let mut out = Vec::new();
    c.close(CloseCode::NORMAL, "bye", &mut out).unwrap();
    c.feed(&raw_frame(0x83, Some(KEY), b"")).unwrap();
    let err = c.poll_event().unwrap_err();
    assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    assert!(transmit(&mut c).is_empty());
    assert_eq!(c.close_outcome(), Some(&CloseOutcome::Failed(err)));
}

// ----- caller errors -----

#[test]
fn send_after_close_is_closing() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role);
        let mut out = Vec::new();
        c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        out.clear();
        assert_eq!(c.send_text("x", &mut out), Err(SendError::Closing));
        assert_eq!(c.send_binary(b"x", &mut out), Err(SendError::Closing));
        assert_eq!(c.send_fragment(DataKind::Text, b"x", true, &mut out), Err(SendError::Closing));
        assert_eq!(c.send_ping(b"x", &mut out), Err(SendError::Closing));
        assert_eq!(c.send_pong(b"x", &mut out), Err(SendError::Closing));
        assert_eq!(c.close(CloseCode::NORMAL, "", &mut out), Err(SendError::Closing));
        assert_eq!(c.close_without_code(&mut out), Err(SendError::Closing));
        assert!(out.is_empty());
        // Still receiving.
        c.feed(&frame_to(role, true, OP_TEXT, b"late")).unwrap();
        assert_eq!(drain(&mut c), vec![Event::Text("late".into())]);
    }
}

/// The connection still sends after a caller error.
fn still_sends(c: &mut Connection) {
    let mut out = Vec::new();
    c.send_text("fine", &mut out).unwrap();
    let f = parse_frames(&out);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].opcode, f[0].payload.as_slice()), (OP_TEXT, &b"fine"[..]));
}

#[test]
fn caller_errors_leave_the_connection_usable() {
    for role in [Role::Server, Role::Client] {
        let mut c = conn(role);
        let mut out = Vec::new();

        assert_eq!(c.send_ping(&[0; 126], &mut out), Err(SendError::ControlTooLong(126)));
        assert_eq!(c.send_pong(&[0; 200], &mut out), Err(SendError::ControlTooLong(200)));
        assert!(out.is_empty());
        still_sends(&mut c);
        c.send_ping(&[0; 125], &mut out).unwrap();
        assert_eq!(parse_frames(&out)[0].payload.len(), 125);
        out.clear();

        for code in [1005u16, 1006, 999, 0, 1004, 1015, 2999, 5000] {
            assert_eq!(c.close(CloseCode(code), "", &mut out), Err(SendError::UnsendableCloseCode(code)));
        }
        assert!(out.is_empty());
        assert!(!c.is_closing());
        still_sends(&mut c);

        let long = "x".repeat(124);
        assert_eq!(c.close(CloseCode::NORMAL, &long, &mut out), Err(SendError::CloseReasonTooLong(124)));
        let long_utf8 = "é".repeat(62); // 124 bytes
        assert_eq!(c.close(CloseCode::NORMAL, &long_utf8, &mut out), Err(SendError::CloseReasonTooLong(124)));
        assert!(out.is_empty());
        assert!(!c.is_closing());
        still_sends(&mut c);

        c.send_fragment(DataKind::Text, b"part", false, &mut out).unwrap();
        assert_eq!(c.send_text("whole", &mut out), Err(SendError::FragmentInProgress));
        assert_eq!(c.send_binary(b"whole", &mut out), Err(SendError::FragmentInProgress));
        assert_eq!(c.send_fragment(DataKind::Binary, b"other", true, &mut out), Err(SendError::FragmentInProgress));
        c.send_ping(b"between", &mut out).unwrap();
        c.send_fragment(DataKind::Text, b"end", true, &mut out).unwrap();
        let f: Vec<_> = parse_frames(&out).into_iter().map(|f| (f.fin, f.opcode, f.payload)).collect();
        assert_eq!(
            f,
            vec![
                (false, OP_TEXT, b"part".to_vec()),
                (true, OP_PING, b"between".to_vec()),
                (true, OP_CONT, b"end".to_vec())
            ]
        );
        out.clear();
        still_sends(&mut c);

        // A 123-byte reason closes.
        c.close(CloseCode::NORMAL, &"r".repeat(123), &mut out).unwrap();
        let f = parse_frames(&out);
        assert_eq!(f[0].payload.len(), 125);
        assert_eq!(f[0].close(), (Some(1000), "r".repeat(123)));
    }
}

#[test]
fn feed_beyond_recv_capacity_is_buffer_full_taking_nothing() {
    let mut config = Config::default();
    config.max_frame_payload = 1000;
    config.max_message_size = 1000;
    config.max_buffered = 2000;
    let mut c = conn_with(Role::Server, config);
    assert_eq!(c.recv_capacity(), 2000);
    assert_eq!(c.feed(&[0; 2001]), Err(wsproto::BufferFull { capacity: 2000 }));
    assert_eq!(c.buffered_len(), 0);
    assert_eq!(c.recv_capacity(), 2000);
    // A partial frame takes room; the rest must fit.
    let frame = frame_to(Role::Server, true, OP_BINARY, &[9; 1000]);
    c.feed(&frame[..500]).unwrap();
    assert_eq!(c.recv_capacity(), 1500);
    let mut two = frame[500..].to_vec();
    two.extend(frame_to(Role::Server, true, OP_BINARY, &[8; 1000]));
    assert_eq!(c.feed(&two), Err(wsproto::BufferFull { capacity: 1500 }));
    assert_eq!(c.buffered_len(), 500);
    // Nothing was taken: feeding the rest in order still works.
    c.feed(&frame[500..]).unwrap();
    assert_eq!(drain(&mut c), vec![Event::Binary(vec![9; 1000].into())]);
    assert_eq!(c.recv_capacity(), 2000);
}

#[test]
fn eof_before_close_is_abnormal_and_sends_nothing() {
    for role in [Role::Server, Role::Client] {
        // Mid-frame.
        let mut c = conn(role);
        let f = frame_to(role, true, OP_TEXT, b"complete");
        c.feed(&f).unwrap();
        c.feed(&frame_to(role, true, OP_TEXT, b"partial")[..4]).unwrap();
        c.feed_eof();
        // Complete events first, then the error.
        assert_eq!(c.poll_event(), Ok(Some(Event::Text("complete".into()))));
        let err = c.poll_event().unwrap_err();
        assert_eq!(err, ProtocolError::UnexpectedEof);
        assert_eq!(err.close_code(), CloseCode::ABNORMAL);
        assert!(!err.sends_close());
        assert_eq!(c.poll_event(), Err(ProtocolError::UnexpectedEof));
        assert!(transmit(&mut c).is_empty());
        assert_eq!(c.close_outcome(), Some(&CloseOutcome::Abnormal));
        assert_eq!(c.close_outcome().unwrap().code(), CloseCode::ABNORMAL);
        assert!(c.wants_transport_closed());
        let mut out = Vec::new();
        assert_eq!(c.send_text("x", &mut out), Err(SendError::Failed));
        assert!(out.is_empty());

        // Between frames, with a pong pending: the pong is not sent either.
        let mut c = conn(role);
        c.feed(&frame_to(role, true, OP_PING, b"p")).unwrap();
        c.feed_eof();
        assert_eq!(c.poll_event(), Ok(Some(Event::Ping(Bytes::from_static(b"p")))));
        assert_eq!(c.poll_event(), Err(ProtocolError::UnexpectedEof));
        assert!(transmit(&mut c).is_empty());
        assert_eq!(c.close_outcome(), Some(&CloseOutcome::Abnormal));

        // After our close, before theirs.
        let mut c = conn(role);
        c.close(CloseCode::NORMAL, "", &mut out).unwrap();
        c.feed_eof();
        assert_eq!(c.poll_event(), Err(ProtocolError::UnexpectedEof));
        assert!(transmit(&mut c).is_empty());
        assert_eq!(c.close_outcome(), Some(&CloseOutcome::Abnormal));
    }
}
