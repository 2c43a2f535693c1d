//! Helpers shared by the integration tests: a frame builder and a frame parser written independently of the
//! crate's codec, so the tests check the wire format rather than the codec against itself.
#![allow(dead_code)]

use wsproto::{Config, Connection, Event, ProtocolError, ReceiveMode, Role};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A fixed masking key for frames the tests send to a server.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Encodes a frame with an explicit first byte (FIN, RSV, opcode), any length form, optional mask.
pub fn raw_frame(b0: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(b0, mask, payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    out
}

/// Just the header of a frame announcing `len` payload bytes.
pub fn frame_header(b0: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len <= 125 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
    out
}

/// A frame as a peer in `to` would send it: masked towards a server, unmasked towards a client.
pub fn frame_to(to: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let b0 = if fin { 0x80 } else { 0 } | opcode;
    raw_frame(b0, masking(to), payload)
}

/// The mask a peer of `to` uses.
pub fn masking(to: Role) -> Option<[u8; 4]> {
    match to {
        Role::Server => Some(KEY),
        Role::Client => None,
    }
}

/// A close frame towards `to` with `code` and `reason`.
pub fn close_to(to: Role, code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame_to(to, true, OP_CLOSE, &p)
}

/// A frame parsed from bytes a connection wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

impl Wire {
    /// The close code and reason of a close frame (`None` for an empty payload).
    pub fn close(&self) -> (Option<u16>, String) {
        assert_eq!(self.opcode, OP_CLOSE, "not a close frame: {self:?}");
        if self.payload.is_empty() {
            return (None, String::new());
        }
        assert!(self.payload.len() >= 2, "close payload of one byte");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        (Some(code), String::from_utf8(self.payload[2..].to_vec()).expect("close reason is UTF-8"))
    }
}

/// Parses a whole byte stream into frames; panics on a truncated or malformed stream.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<Wire> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated header");
        let b0 = bytes[0];
        let b1 = bytes[1];
        let mut at = 2;
        let len = match b1 & 0x7f {
            126 => {
                let l = u16::from_be_bytes([bytes[2], bytes[3]]) as u64;
                assert!(l > 125, "non-minimal 16-bit length");
                at = 4;
                l
            }
            127 => {
                let l = u64::from_be_bytes(bytes[2..10].try_into().unwrap());
                assert!(l > 0xffff && l >> 63 == 0, "bad 64-bit length");
                at = 10;
                l
            }
            n => n as u64,
        };
        let mask = if b1 & 0x80 != 0 {
            let k = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            at += 4;
            Some(k)
        } else {
            None
        };
        let len = len as usize;
        assert!(bytes.len() >= at + len, "truncated payload");
        let mut payload = bytes[at..at + len].to_vec();
        if let Some(k) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push(Wire { fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, mask, payload });
        bytes = &bytes[at + len..];
    }
    frames
}

/// Checks that every frame obeys the role's masking rule.
pub fn assert_masking(from: Role, frames: &[Wire]) {
    for f in frames {
        match from {
            Role::Client => assert!(f.mask.is_some(), "client frame not masked: {f:?}"),
            Role::Server => assert!(f.mask.is_none(), "server frame masked: {f:?}"),
        }
    }
}

pub fn conn(role: Role) -> Connection {
    Connection::new(role, Config::default(), [7; 32]).unwrap()
}

pub fn conn_with(role: Role, config: Config) -> Connection {
    Connection::new(role, config, [7; 32]).unwrap()
}

pub fn streaming() -> Config {
    let mut c = Config::default();
    c.receive_mode = ReceiveMode::Streaming;
    c
}

/// Polls events until `Ok(None)`; panics on an error.
pub fn drain(c: &mut Connection) -> Vec<Event> {
    let mut evs = Vec::new();
    loop {
        match c.poll_event() {
            Ok(Some(e)) => evs.push(e),
            Ok(None) => return evs,
            Err(e) => panic!("unexpected protocol error {e:?} after events {evs:?}"),
        }
    }
}

/// Polls events until `Ok(None)` or an error, returning both.
pub fn drain_until_error(c: &mut Connection) -> (Vec<Event>, Option<ProtocolError>) {
    let mut evs = Vec::new();
    loop {
        match c.poll_event() {
            Ok(Some(e)) => evs.push(e),
            Ok(None) => return (evs, None),
            Err(e) => return (evs, Some(e)),
        }
    }
}

/// What `poll_transmit` writes now, parsed.
pub fn transmit(c: &mut Connection) -> Vec<Wire> {
    let mut out = Vec::new();
    let wrote = c.poll_transmit(&mut out);
    assert_eq!(wrote, !out.is_empty());
    let frames = parse_frames(&out);
    assert_masking(c.role(), &frames);
    frames
}
