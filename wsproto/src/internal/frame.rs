//! The frame header codec, RFC 6455 §5.2, as pure functions.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```

#[allow(unused_imports)]
use crate::prelude::*;

use core::fmt;

/// The longest possible header: 2 + 8 (64-bit length) + 4 (masking key).
pub const MAX_HEADER_LEN: usize = 14;

/// Frame opcodes (RFC 6455 §5.2, §11.8). Reserved opcodes are rejected by [`FrameHeader::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: the first frame of a text message.
    Text = 0x1,
    /// 0x2: the first frame of a binary message.
    Binary = 0x2,
    /// 0x8: close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// Decodes the 4-bit opcode; `None` for the reserved values 0x3–0x7 and 0xB–0xF.
    #[inline(always)]
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    #[inline(always)]
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Close, ping and pong (RFC 6455 §5.5).
    #[inline(always)]
    pub fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

impl From<crate::event::DataKind> for OpCode {
    /// The opcode that starts a message of this kind (RFC 6455 §5.6).
    #[inline]
    fn from(kind: crate::event::DataKind) -> OpCode {
        match kind {
            crate::event::DataKind::Text => OpCode::Text,
            crate::event::DataKind::Binary => OpCode::Binary,
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the last frame of a message.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the low three bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// Why a frame header is invalid whatever the connection's state. Each fails the connection with 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A reserved opcode (0x3–0x7, 0xB–0xF).
    ReservedOpcode(u8),
    /// A control frame with FIN clear (RFC 6455 §5.5: control frames are never fragmented).
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload (RFC 6455 §5.5).
    ControlTooLong(u64),
    /// A 64-bit length with the most significant bit set (RFC 6455 §5.2).
    LengthOverflow,
    /// A length not in its shortest form. Accepted by default; only reported by [`FrameHeader::parse_strict`].
    NonMinimalLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            FrameError::FragmentedControl => f.write_str("fragmented control frame"),
            FrameError::ControlTooLong(n) => write!(f, "control frame payload of {n} bytes (max 125)"),
            FrameError::LengthOverflow => f.write_str("64-bit payload length with the top bit set"),
            FrameError::NonMinimalLength => f.write_str("payload length not in its shortest encoding"),
        }
    }
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a header (call again with more bytes: any split point
    /// works), `Ok(Some((header, header_len)))` when complete, or the error that makes it invalid.
    ///
    /// This is the only header parser: both receive paths of a connection call it (inlined).
    #[inline(always)]
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let &[b0, b1, ..] = buf else { return Ok(None) };
        let fin = b0 & 0x80 != 0;
        let op = b0 & 0x0f;
        let opcode = OpCode::from_u8(op).ok_or(FrameError::ReservedOpcode(op))?;
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            if !fin {
                return Err(FrameError::FragmentedControl);
            }
            if len7 > 125 {
                // The real length is in the extended field, but anything over 125 is invalid already.
                return Err(FrameError::ControlTooLong(len7 as u64));
            }
        }
        let (payload_len, at) = match len7 {
            0..=125 => (len7 as u64, 2),
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (u16::from_be_bytes([a, b]) as u64, 4),
                _ => return Ok(None),
            },
            _ => {
                let Some(bytes) = buf.get(2..10) else { return Ok(None) };
                let v = u64::from_be_bytes(bytes.try_into().expect("8 bytes"));
                if v >> 63 != 0 {
                    return Err(FrameError::LengthOverflow);
                }
                (v, 10)
            }
        };
        let rsv = (b0 >> 4) & 0x7;
        let (mask, len) = if b1 & 0x80 == 0 {
            (None, at)
        } else {
            match buf.get(at..at + 4) {
                Some(&[k0, k1, k2, k3]) => (Some([k0, k1, k2, k3]), at + 4),
                _ => return Ok(None),
            }
        };
        Ok(Some((FrameHeader { fin, rsv, opcode, mask, payload_len }, len)))
    }

    /// Like [`parse`](Self::parse), and also rejects lengths not in their shortest form.
    pub fn parse_strict(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let parsed = Self::parse(buf)?;
        if let Some((h, _)) = &parsed {
            let len7 = buf[1] & 0x7f;
            let minimal = match len7 {
                126 => h.payload_len > 125,
                127 => h.payload_len > 0xffff,
                _ => true,
            };
            if !minimal {
                return Err(FrameError::NonMinimalLength);
            }
        }
        Ok(parsed)
    }

    /// The encoded length of this header.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// The first byte: FIN, RSV1–3 and the opcode (RFC 6455 §5.2).
    #[inline(always)]
    fn first_byte(&self) -> u8 {
        (self.fin as u8) << 7 | (self.rsv & 0x7) << 4 | self.opcode.as_u8()
    }

    /// Encodes this header (shortest length form) into `out`, returning the number of bytes written.
    ///
    /// `out` must hold at least [`encoded_len`](Self::encoded_len) bytes ([`MAX_HEADER_LEN`] always does).
    /// Lengths with the top bit set cannot be encoded; they are clamped by the callers in this crate, which
    /// never produce them.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = self.first_byte();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&(n & (u64::MAX >> 1)).to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }

    /// Appends the encoded header to `out`: the two bytes of an unmasked header with a 7-bit length inline
    /// (a server's small frame, the common case), anything else through [`encode`](Self::encode).
    #[inline(always)]
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if self.mask.is_none() && self.payload_len <= 125 {
            out.extend_from_slice(&[self.first_byte(), self.payload_len as u8]);
        } else {
            self.write_encoded(out);
        }
    }

    fn write_encoded(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        // Constant-length copies for the common lengths compile to a few stores instead of a `memcpy` call.
        match self.encode(&mut buf) {
            6 => out.extend_from_slice(&buf[..6]),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> (FrameHeader, usize) {
        // Every strict prefix is "need more", then the whole header parses.
        for cut in 0..bytes.len() {
            let r = FrameHeader::parse(&bytes[..cut]);
            if let Ok(Some((_, n))) = r {
                assert!(n <= cut);
                return FrameHeader::parse(bytes).unwrap().unwrap();
            }
            assert_eq!(r, Ok(None), "prefix of {cut} bytes");
        }
        FrameHeader::parse(bytes).unwrap().unwrap()
    }

    #[test]
    fn rfc_5_7_unmasked_hello() {
        let frame = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (h, n) = parse_all(&frame);
        assert_eq!(n, 2);
        assert_eq!(h, FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 });
    }

    #[test]
    fn rfc_5_7_masked_hello() {
        let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let (h, n) = parse_all(&frame[..6]);
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut payload = frame[6..].to_vec();
        crate::mask::apply_mask(&mut payload, h.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn rfc_5_7_fragmented_and_ping() {
        let (h, _) = parse_all(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert!(!h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        let (h, _) = parse_all(&[0x80, 0x02, 0x6c, 0x6f]);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Continuation);
        let (h, _) = parse_all(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, _) = parse_all(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        assert_eq!(h.opcode, OpCode::Pong);
    }

    #[test]
    fn rfc_5_7_long_lengths() {
        let (h, n) = parse_all(&[0x82, 0x7e, 0x01, 0x00]);
        assert_eq!((h.payload_len, n), (256, 4));
        let (h, n) = parse_all(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn encode_matches_rfc_vectors() {
        let cases: [(FrameHeader, &[u8]); 4] = [
            (FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 }, &[0x81, 0x05]),
            (
                FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Text,
                    mask: Some([0x37, 0xfa, 0x21, 0x3d]),
                    payload_len: 5,
                },
                &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d],
            ),
            (
                FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 256 },
                &[0x82, 0x7e, 0x01, 0x00],
            ),
            (
                FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: None, payload_len: 65536 },
                &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
            ),
        ];
        for (h, bytes) in cases {
            let mut out = Vec::new();
            h.write_to(&mut out);
            assert_eq!(out, bytes);
            assert_eq!(h.encoded_len(), bytes.len());
        }
    }

    #[test]
    fn rejects_invalid_headers() {
        assert_eq!(FrameHeader::parse(&[0x83, 0x00]), Err(FrameError::ReservedOpcode(3)));
        assert_eq!(FrameHeader::parse(&[0x8b, 0x00]), Err(FrameError::ReservedOpcode(0xb)));
        assert_eq!(FrameHeader::parse(&[0x09, 0x00]), Err(FrameError::FragmentedControl));
        assert_eq!(FrameHeader::parse(&[0x89, 0x7e]), Err(FrameError::ControlTooLong(126)));
        assert_eq!(FrameHeader::parse(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(FrameError::LengthOverflow));
        assert_eq!(FrameHeader::parse_strict(&[0x82, 0x7e, 0x00, 0x05]), Err(FrameError::NonMinimalLength));
    }

    #[test]
    fn round_trip_all_length_forms() {
        for len in [0u64, 1, 125, 126, 65535, 65536, 1 << 40, (1 << 63) - 1] {
            for mask in [None, Some([9, 8, 7, 6])] {
                for (fin, rsv) in [(true, 0), (false, 5)] {
                    let h = FrameHeader { fin, rsv, opcode: OpCode::Binary, mask, payload_len: len };
                    let mut buf = [0u8; MAX_HEADER_LEN];
                    let n = h.encode(&mut buf);
                    assert_eq!(FrameHeader::parse_strict(&buf[..n]), Ok(Some((h, n))));
                }
            }
        }
    }
}
