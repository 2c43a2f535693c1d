//! Tests that kill the mutants `cargo mutants` found surviving in `frame.rs`, `close.rs` and `utf8.rs` (issue 16):
//! each test names the mutated code it pins down. They use the public API only, so they hold across rewrites of
//! the internals.

use wsproto::internal::frame::FrameHeader;
use wsproto::internal::utf8::Utf8Validator;
use wsproto::CloseCode;
use wsproto::FrameError;

/// An unmasked binary frame header with the length `len` encoded in the `form` bytes given (7-bit, 16-bit or
/// 64-bit), whatever the shortest form would be.
fn header(form: u8, len: u64) -> Vec<u8> {
    let mut h = vec![0x82];
    match form {
        7 => h.push(len as u8),
        16 => {
            h.push(126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        64 => {
            h.push(127);
            h.extend_from_slice(&len.to_be_bytes());
        }
        _ => unreachable!(),
    }
    h
}

fn strict_len(buf: &[u8]) -> Result<u64, FrameError> {
    match FrameHeader::parse_strict(buf)? {
        Some((h, n)) => {
            assert_eq!(n, buf.len(), "the whole header is consumed");
            Ok(h.payload_len)
        }
        None => panic!("a complete header parsed as incomplete: {buf:02x?}"),
    }
}

// `FrameHeader::parse_strict`: `126 => h.payload_len > 125`, `127 => h.payload_len > 0xffff`, `_ => true`, and
// `if !minimal`. The boundaries on both sides of each rule.

#[test]
fn parse_strict_accepts_every_length_in_its_shortest_form() {
    for len in [0, 1, 125] {
        assert_eq!(strict_len(&header(7, len)), Ok(len), "7-bit {len}");
    }
    for len in [126, 127, 0xfffe, 0xffff] {
        assert_eq!(strict_len(&header(16, len)), Ok(len), "16-bit {len}");
    }
    for len in [0x1_0000, 0x1_0001, 1 << 40, (1 << 63) - 1] {
        assert_eq!(strict_len(&header(64, len)), Ok(len), "64-bit {len}");
    }
}

#[test]
fn parse_strict_refuses_a_16_bit_length_that_fits_in_7_bits() {
    for len in [0, 1, 124, 125] {
        assert_eq!(strict_len(&header(16, len)), Err(FrameError::NonMinimalLength), "16-bit {len}");
    }
}

#[test]
fn parse_strict_refuses_a_64_bit_length_that_fits_in_16_bits() {
    for len in [0, 125, 126, 0xfffe, 0xffff] {
        assert_eq!(strict_len(&header(64, len)), Err(FrameError::NonMinimalLength), "64-bit {len}");
    }
}

#[test]
fn parse_accepts_what_parse_strict_refuses() {
    // The lenient parser (the one `Connection` uses) takes non-minimal lengths: only `parse_strict` refuses them.
    for (form, len) in [(16, 5), (64, 5), (64, 0xffff)] {
        let buf = header(form, len);
        let (h, n) = FrameHeader::parse(&buf).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (len, buf.len()));
        assert_eq!(FrameHeader::parse_strict(&buf), Err(FrameError::NonMinimalLength));
    }
}

#[test]
fn parse_strict_waits_for_the_rest_of_a_header() {
    let buf = header(64, 0x1_0000);
    for n in 0..buf.len() {
        assert_eq!(FrameHeader::parse_strict(&buf[..n]), Ok(None), "{n} bytes");
    }
}

// `impl From<CloseCode> for u16`: the code itself, not a constant.

#[test]
fn close_code_converts_to_its_number() {
    for (code, n) in [
        (CloseCode::NORMAL, 1000u16),
        (CloseCode::GOING_AWAY, 1001),
        (CloseCode::PROTOCOL_ERROR, 1002),
        (CloseCode::INVALID_PAYLOAD, 1007),
        (CloseCode::MESSAGE_TOO_BIG, 1009),
        (CloseCode::TLS_HANDSHAKE, 1015),
        (CloseCode(0), 0),
        (CloseCode(1), 1),
        (CloseCode(4999), 4999),
        (CloseCode(u16::MAX), u16::MAX),
    ] {
        assert_eq!(u16::from(code), n);
        let back: u16 = CloseCode::from(n).into();
        assert_eq!(back, n, "u16 -> CloseCode -> u16");
    }
}

// `Utf8Validator::is_partial` (`self.partial_len != 0`) and `Utf8Validator::reset`.

#[test]
fn is_partial_is_true_exactly_while_a_code_point_is_incomplete() {
    let mut v = Utf8Validator::new();
    assert!(!v.is_partial(), "a new validator");
    v.feed(b"abc").unwrap();
    assert!(!v.is_partial(), "after ASCII");
    // "€" is e2 82 ac; "𝄞" is f0 9d 84 9e.
    v.feed(&[0xe2]).unwrap();
    assert!(v.is_partial(), "after 1 of 3 bytes");
    v.feed(&[0x82]).unwrap();
    assert!(v.is_partial(), "after 2 of 3 bytes");
    v.feed(&[0xac]).unwrap();
    assert!(!v.is_partial(), "after the whole code point");
    v.feed(&[b'x', 0xf0, 0x9d]).unwrap();
    assert!(v.is_partial(), "a code point cut inside a chunk");
    v.feed(&[0x84, 0x9e, b'y']).unwrap();
    assert!(!v.is_partial(), "completed, followed by ASCII");
    assert_eq!(v.finish(), Ok(()));
}

#[test]
fn reset_starts_a_new_stream() {
    let mut v = Utf8Validator::new();
    v.feed(b"ab").unwrap();
    v.feed(&[0xe2, 0x82]).unwrap();
    assert!(v.is_partial());
    v.reset();
    assert!(!v.is_partial(), "the pending code point is dropped");
    assert_eq!(v.finish(), Ok(()), "a reset stream has nothing pending");
    // The carried e2 82 is gone: a lone continuation byte now starts the stream, which is invalid, at offset 0
    // (the 2 bytes before the reset do not count either).
    let err = v.clone().feed(&[0xac]).unwrap_err();
    assert_eq!(err.valid_up_to, 0);
    // Offsets count from the reset.
    v.feed(b"xyz").unwrap();
    assert_eq!(v.feed(&[0xff]).unwrap_err().valid_up_to, 3);
}

// `impl Display for CloseCode` (every named arm, and the bare number for the rest) and `impl Display for
// CloseFrame` (the reason only when there is one). These strings reach logs and error messages.

#[test]
fn close_codes_display_with_their_names() {
    for (code, shown) in [
        (CloseCode::NORMAL, "1000 (normal)"),
        (CloseCode::GOING_AWAY, "1001 (going away)"),
        (CloseCode::PROTOCOL_ERROR, "1002 (protocol error)"),
        (CloseCode::UNSUPPORTED_DATA, "1003 (unsupported data)"),
        (CloseCode::NO_STATUS, "1005 (no status)"),
        (CloseCode::ABNORMAL, "1006 (abnormal closure)"),
        (CloseCode::INVALID_PAYLOAD, "1007 (invalid payload)"),
        (CloseCode::POLICY_VIOLATION, "1008 (policy violation)"),
        (CloseCode::MESSAGE_TOO_BIG, "1009 (message too big)"),
        (CloseCode::MANDATORY_EXTENSION, "1010 (mandatory extension)"),
        (CloseCode::INTERNAL_ERROR, "1011 (internal error)"),
        (CloseCode::SERVICE_RESTART, "1012 (service restart)"),
        (CloseCode::TRY_AGAIN_LATER, "1013 (try again later)"),
        (CloseCode::BAD_GATEWAY, "1014 (bad gateway)"),
        (CloseCode::TLS_HANDSHAKE, "1015 (TLS handshake)"),
        (CloseCode(1004), "1004"),
        (CloseCode(3000), "3000"),
        (CloseCode(4999), "4999"),
    ] {
        assert_eq!(code.to_string(), shown);
    }
}

#[test]
fn close_frames_display_code_and_reason() {
    use wsproto::CloseFrame;
    let frame = |code: Option<CloseCode>, reason: &str| CloseFrame { code, reason: reason.to_owned() };
    assert_eq!(frame(Some(CloseCode::NORMAL), "").to_string(), "1000 (normal)");
    assert_eq!(frame(Some(CloseCode::GOING_AWAY), "bye").to_string(), "1001 (going away) \"bye\"");
    assert_eq!(frame(None, "").to_string(), "1005 (no status)");
    assert_eq!(frame(Some(CloseCode(4000)), "a \"quoted\" reason").to_string(), "4000 \"a \\\"quoted\\\" reason\"");
}
