//! Bytes on the wire, made by hand: payloads, pre-masked messages, the client's handshake request.

use wsproto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use wsproto::mask::apply_mask;

/// What the payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Binary: every byte value.
    Binary,
    /// Text, ASCII only.
    Text,
    /// Text mixing 1- to 4-byte code points.
    TextMixed,
}

impl Kind {
    /// From a command-line name: `binary`, `text`, `text-mixed`.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "binary" => Kind::Binary,
            "text" => Kind::Text,
            "text-mixed" => Kind::TextMixed,
            _ => return None,
        })
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
            Kind::TextMixed => "text-mixed",
        }
    }

    /// Whether the messages are text.
    pub fn is_text(self) -> bool {
        self != Kind::Binary
    }
}

/// `len` payload bytes of `kind` (text is valid UTF-8, padded with spaces to the exact length).
pub fn payload(len: usize, kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Binary => (0..len).map(|i| (i.wrapping_mul(31) + 7) as u8).collect(),
        Kind::Text => (0..len).map(|i| b'a' + (i % 26) as u8).collect(),
        Kind::TextMixed => {
            let pattern = "héllo wörld κόσμε こんにちは 🎉 ✓ ";
            let mut s = String::with_capacity(len + 8);
            'outer: loop {
                for ch in pattern.chars() {
                    if s.len() + ch.len_utf8() > len {
                        break 'outer;
                    }
                    s.push(ch);
                }
            }
            while s.len() < len {
                s.push(' ');
            }
            s.into_bytes()
        }
    }
}

/// One message as a client sends it: `frames` masked frames (the first with the data opcode, the rest
/// continuations, FIN on the last) carrying `payload` split as evenly as possible.
pub fn client_message(payload: &[u8], kind: Kind, frames: usize) -> Vec<u8> {
    let frames = frames.max(1);
    let mut out = Vec::with_capacity(payload.len() + frames * MAX_HEADER_LEN);
    let base = payload.len() / frames;
    let extra = payload.len() % frames;
    let mut at = 0;
    for i in 0..frames {
        let n = base + usize::from(i < extra);
        let opcode = match (i, kind.is_text()) {
            (0, true) => OpCode::Text,
            (0, false) => OpCode::Binary,
            _ => OpCode::Continuation,
        };
        let key = [0x5a ^ i as u8, 0xc3, 0x3c ^ (i >> 8) as u8, 0x96];
        let h = FrameHeader { fin: i + 1 == frames, rsv: 0, opcode, mask: Some(key), payload_len: n as u64 };
        h.write_to(&mut out);
        let start = out.len();
        out.extend_from_slice(&payload[at..at + n]);
        apply_mask(&mut out[start..], key, 0);
        at += n;
    }
    out
}

/// The sample `Sec-WebSocket-Key` of RFC 6455 §1.3 (the generator needs no randomness).
pub const CLIENT_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The client's opening handshake request.
pub fn handshake_request(host: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Checks a complete response head: status 101 and the right `Sec-WebSocket-Accept`.
pub fn check_handshake_response(head: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("handshake refused: {status:?}"));
    }
    let want = wsproto::handshake::accept_key(CLIENT_KEY.as_bytes());
    let ok = lines.any(|l| {
        l.split_once(':').is_some_and(|(n, v)| n.eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == want)
    });
    if ok {
        Ok(())
    } else {
        Err("missing or wrong Sec-WebSocket-Accept".into())
    }
}

/// End of an HTTP head (`\r\n\r\n`) in `buf`: the head's length.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The server's `101` response to a request head, or `None` if it carries no `Sec-WebSocket-Key`.
/// A bare-bones handshake for the peers that have none without an HTTP stack (fastwebsockets) and the raw
/// echo server; it checks nothing else.
pub fn handshake_response(request_head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(request_head).ok()?;
    let key = text.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim())
    })?;
    let accept = wsproto::handshake::accept_key(key.as_bytes());
    Some(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsproto::{Config, Connection, Event, Role};

    #[test]
    fn messages_decode_with_the_core() {
        for kind in [Kind::Binary, Kind::Text, Kind::TextMixed] {
            for (len, frames) in [(16, 1), (16, 8), (1000, 8), (70_000, 3), (0, 1), (5, 8)] {
                let p = payload(len, kind);
                assert_eq!(p.len(), len);
                let wire = client_message(&p, kind, frames);
                let mut conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
                conn.feed(&wire).unwrap();
                let got = match conn.poll_event().unwrap().unwrap() {
                    Event::Binary(b) => b.to_vec(),
                    Event::Text(t) => t.as_bytes().to_vec(),
                    e => panic!("{e:?}"),
                };
                assert_eq!(got, p, "{kind:?} {len} {frames}");
            }
        }
    }

    #[test]
    fn handshake_round_trip() {
        let req = handshake_request("localhost");
        let resp = handshake_response(&req).unwrap();
        check_handshake_response(&resp).unwrap();
        assert_eq!(head_end(&resp), Some(resp.len()));
    }
}
