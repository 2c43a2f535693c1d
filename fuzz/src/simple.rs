//! The pure-function targets: `frame_header`, `utf8`, `mask`.

use std::str;

use arbitrary::{Arbitrary, Unstructured};
use wsproto::internal::frame::{FrameError, FrameHeader, OpCode, MAX_HEADER_LEN};
use wsproto::internal::mask::apply_mask;
use wsproto::internal::utf8::{Utf8Error, Utf8Validator};

/// `frame_header`: `FrameHeader::parse` on arbitrary bytes, then an arbitrary header through `encode`.
///
/// - `Ok(Some((h, n)))`: the fields match the raw bits; `n` is the header's real length (2 + extended length +
///   mask); every prefix shorter than `n` is `Ok(None)`; bytes after `n` do not matter; `encode` (shortest form)
///   parses back to `h`, also with `parse_strict`; `parse_strict` of the input accepts iff its length was in
///   shortest form, else `NonMinimalLength`.
/// - `Err(e)`: `e` matches the raw bits; every prefix is `Ok(None)` or the same error; `parse_strict` agrees.
/// - `Ok(None)`: every prefix is `Ok(None)` too, and the input is shorter than the header it starts.
/// - Any header built by `arbitrary` with a length below 2^63 encodes to `encoded_len` bytes and parses back
///   (or, for an invalid control frame, to the error its bits deserve).
pub fn frame_header(data: &[u8]) {
    let r = FrameHeader::parse(data);
    let prefixes = data.len().min(MAX_HEADER_LEN + 1);
    match r {
        Ok(None) => {
            for cut in 0..prefixes {
                assert_eq!(FrameHeader::parse(&data[..cut]), Ok(None), "prefix {cut} of an incomplete header");
            }
            if data.len() >= 2 {
                assert!(data.len() < needed_len(data[1]), "complete header reported as incomplete");
            }
        }
        Ok(Some((h, n))) => {
            let (b0, b1) = (data[0], data[1]);
            assert_eq!(n, needed_len(b1), "header length");
            assert!(n <= data.len());
            assert_eq!(h.fin, b0 & 0x80 != 0, "FIN");
            assert_eq!(h.rsv, (b0 >> 4) & 7, "RSV");
            assert_eq!(h.opcode.as_u8(), b0 & 0x0f, "opcode");
            assert_eq!(OpCode::from_u8(b0 & 0x0f), Some(h.opcode));
            assert_eq!(h.mask.is_some(), b1 & 0x80 != 0, "MASK bit");
            if let Some(k) = h.mask {
                assert_eq!(&k[..], &data[n - 4..n], "masking key");
            }
            let len7 = b1 & 0x7f;
            let want_len = match len7 {
                126 => u16::from_be_bytes([data[2], data[3]]) as u64,
                127 => u64::from_be_bytes(data[2..10].try_into().unwrap()),
                l => l as u64,
            };
            assert_eq!(h.payload_len, want_len, "payload length");
            assert!(h.payload_len < 1 << 63, "length with the top bit set accepted");
            if h.opcode.is_control() {
                assert!(h.fin && h.payload_len <= 125, "invalid control frame accepted: {h:?}");
            }
            for cut in 0..n {
                assert_eq!(FrameHeader::parse(&data[..cut]), Ok(None), "prefix {cut} of a {n}-byte header");
            }
            assert_eq!(FrameHeader::parse(&data[..n]), Ok(Some((h, n))), "trailing bytes changed the header");
            let mut buf = [0u8; MAX_HEADER_LEN];
            let m = h.encode(&mut buf);
            assert_eq!(m, h.encoded_len(), "encode vs encoded_len");
            assert!(m <= n, "shortest form longer than the input's");
            assert_eq!(FrameHeader::parse(&buf[..m]), Ok(Some((h, m))), "re-encoded header parses differently");
            assert_eq!(FrameHeader::parse_strict(&buf[..m]), Ok(Some((h, m))), "encode is not shortest form");
            let mut v = Vec::new();
            h.write_to(&mut v);
            assert_eq!(&v[..], &buf[..m], "write_to vs encode");
            let minimal = match len7 {
                126 => want_len > 125,
                127 => want_len > 0xffff,
                _ => true,
            };
            assert_eq!(minimal, m == n);
            let strict = FrameHeader::parse_strict(data);
            if minimal {
                assert_eq!(strict, Ok(Some((h, n))));
            } else {
                assert_eq!(strict, Err(FrameError::NonMinimalLength));
            }
        }
        Err(e) => {
            let (b0, b1) = (data[0], data[1]);
            let op = b0 & 0x0f;
            let control = op & 0x8 != 0;
            match e {
                FrameError::ReservedOpcode(x) => {
                    assert_eq!(x, op);
                    assert!(OpCode::from_u8(op).is_none(), "valid opcode {op:#x} reported reserved");
                }
                FrameError::FragmentedControl => assert!(control && b0 & 0x80 == 0, "{e:?} for {b0:#04x}"),
                FrameError::ControlTooLong(n) => {
                    assert!(control && b0 & 0x80 != 0 && n > 125 && n == (b1 & 0x7f) as u64, "{e:?}")
                }
                FrameError::LengthOverflow => assert!(b1 & 0x7f == 127 && data[2] & 0x80 != 0, "{e:?}"),
                FrameError::NonMinimalLength => panic!("parse (not strict) reported NonMinimalLength"),
                other => panic!("unknown frame error {other:?}"),
            }
            for cut in 0..prefixes {
                match FrameHeader::parse(&data[..cut]) {
                    Ok(None) => {}
                    Err(e2) => assert_eq!(e2, e, "prefix {cut} fails differently"),
                    Ok(Some(x)) => panic!("prefix {cut} parses as {x:?} but the whole input fails with {e:?}"),
                }
            }
            assert_eq!(FrameHeader::parse_strict(data), Err(e), "parse_strict vs parse");
        }
    }

    // An arbitrary header through encode → parse.
    let mut u = Unstructured::new(data);
    let Ok(g) = HeaderGen::arbitrary(&mut u) else { return };
    let opcode = [OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong]
        [g.opcode as usize % 6];
    let payload_len = match g.len_class % 4 {
        0 => g.len % 126,
        1 => 126 + g.len % (0x1_0000 - 126),
        2 => g.len & (u64::MAX >> 1),
        _ => [0, 125, 126, 127, 0xffff, 0x1_0000, (1 << 63) - 1][g.len as usize % 7],
    };
    let h = FrameHeader { fin: g.fin, rsv: g.rsv & 7, opcode, mask: g.mask, payload_len };
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    assert_eq!(n, h.encoded_len());
    let parsed = FrameHeader::parse_strict(&buf[..n]);
    if opcode.is_control() && !h.fin {
        assert_eq!(parsed, Err(FrameError::FragmentedControl));
    } else if opcode.is_control() && payload_len > 125 {
        assert_eq!(parsed, Err(FrameError::ControlTooLong((buf[1] & 0x7f) as u64)));
    } else {
        assert_eq!(parsed, Ok(Some((h, n))), "encode/parse round trip");
    }
}

/// The header length announced by the second byte.
fn needed_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

#[derive(Arbitrary, Debug)]
struct HeaderGen {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len_class: u8,
    len: u64,
}

/// `utf8`: `Utf8Validator` against `std::str::from_utf8`, over the input's chunking and byte by byte.
///
/// Input: `n:u8`, then `n % 17` chunk sizes (one byte each), then the text. Invariants: after each chunk the
/// validator fails exactly when the stream so far can no longer be UTF-8 (fail fast, never late, never
/// early), with std's `valid_up_to`; `is_partial` is true exactly when the stream so far ends inside a code
/// point; `finish` gives std's verdict on the whole stream.
pub fn utf8(input: &[u8]) {
    let [n, rest @ ..] = input else { return };
    let n = (*n % 17) as usize;
    if rest.len() < n {
        return;
    }
    let data = &rest[n..];
    let sizes: Vec<usize> = rest[..n].iter().map(|&b| b as usize).collect();
    let chunks = crate::prelude::split(data, &sizes);

    // The input's chunking, with the prefix verdict checked after every chunk.
    let mut v = Utf8Validator::new();
    let mut at = 0;
    let mut failed = false;
    for c in &chunks {
        let r = v.feed(c);
        at += c.len();
        match str::from_utf8(&data[..at]) {
            Err(e) if e.error_len().is_some() => {
                assert_eq!(r, Err(Utf8Error { valid_up_to: e.valid_up_to() as u64 }), "after {at} bytes");
                failed = true;
                break;
            }
            Err(e) => {
                assert_eq!(r, Ok(()), "valid prefix of {at} bytes rejected");
                assert!(v.is_partial(), "prefix ends inside a code point but is_partial is false");
                assert_eq!(v.finish(), Err(Utf8Error { valid_up_to: e.valid_up_to() as u64 }));
            }
            Ok(_) => {
                assert_eq!(r, Ok(()), "valid prefix of {at} bytes rejected");
                assert!(!v.is_partial(), "complete prefix but is_partial");
                assert_eq!(v.finish(), Ok(()));
            }
        }
    }
    let whole = str::from_utf8(data);
    if !failed {
        match &whole {
            Ok(_) => assert_eq!(v.finish(), Ok(())),
            Err(e) => {
                assert!(e.error_len().is_none());
                assert_eq!(v.finish(), Err(Utf8Error { valid_up_to: e.valid_up_to() as u64 }));
            }
        }
    }

    // Byte by byte: the error comes at the first byte that makes the prefix definitely invalid.
    let mut v = Utf8Validator::new();
    let mut fail_at = None;
    for (i, b) in data.iter().enumerate() {
        if let Err(e) = v.feed(&[*b]) {
            fail_at = Some((i, e));
            break;
        }
    }
    match (&whole, fail_at) {
        (Ok(_), None) => assert_eq!(v.finish(), Ok(())),
        (Err(e), None) => {
            assert!(e.error_len().is_none(), "invalid byte not reported byte by byte");
            assert_eq!(v.finish(), Err(Utf8Error { valid_up_to: e.valid_up_to() as u64 }));
        }
        (Err(e), Some((i, got))) => {
            assert_eq!(got, Utf8Error { valid_up_to: e.valid_up_to() as u64 });
            let first_bad = (e.valid_up_to()..data.len().min(e.valid_up_to() + 4))
                .find(|&k| matches!(str::from_utf8(&data[..=k]), Err(e) if e.error_len().is_some()))
                .expect("std finds the error within 4 bytes");
            assert_eq!(i, first_bad, "byte by byte, the error came late or early");
        }
        (Ok(_), Some((i, e))) => panic!("valid UTF-8 rejected at byte {i}: {e:?}"),
    }

    // The validator resets.
    v.reset();
    assert!(!v.is_partial());
    assert_eq!(v.feed("é".as_bytes()), Ok(()));
    assert_eq!(v.finish(), Ok(()));
}

#[derive(Arbitrary, Debug)]
struct MaskInput<'a> {
    key: [u8; 4],
    offset: usize,
    pieces: Vec<u8>,
    buf: &'a [u8],
}

fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[offset.wrapping_add(i) % 4];
    }
}

/// `mask`: `apply_mask` against a byte-at-a-time XOR, at an arbitrary offset and length, whole and in
/// arbitrary pieces (each piece at its own offset); masking twice restores the input.
pub fn mask(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(inp) = MaskInput::arbitrary(&mut u) else { return };
    let mut want = inp.buf.to_vec();
    naive(&mut want, inp.key, inp.offset);
    let mut got = inp.buf.to_vec();
    apply_mask(&mut got, inp.key, inp.offset);
    assert_eq!(got, want, "apply_mask vs naive, len {} offset {}", inp.buf.len(), inp.offset);
    apply_mask(&mut got, inp.key, inp.offset);
    assert_eq!(got, inp.buf, "masking twice is not the identity");
    let sizes: Vec<usize> = inp.pieces.iter().map(|&b| b as usize).collect();
    let mut pieces = inp.buf.to_vec();
    let mut at = 0;
    for s in sizes.into_iter().chain([usize::MAX]) {
        let end = at + s.min(pieces.len() - at);
        apply_mask(&mut pieces[at..end], inp.key, inp.offset.wrapping_add(at));
        at = end;
    }
    assert_eq!(pieces, want, "masking in pieces vs at once");
    extend_masked(data);
}

/// `extend_masked` against a copy and a byte-at-a-time XOR: the input's first 4 bytes are the key, the next
/// one the length of what `out` already holds (the appended bytes start at any alignment), the rest the payload.
/// The bytes already in `out` are unchanged and exactly `payload.len()` are appended.
fn extend_masked(data: &[u8]) {
    let Some((&key, rest)) = data.split_first_chunk::<4>() else { return };
    let Some((&prefix_len, payload)) = rest.split_first() else { return };
    let prefix: Vec<u8> = (0..prefix_len).collect();
    let mut want = prefix.clone();
    want.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let mut out = prefix;
    wsproto::internal::mask::extend_masked(&mut out, payload, key);
    assert_eq!(out, want, "extend_masked vs naive, len {} prefix {prefix_len}", payload.len());
}
