//! Bytes on the wire, made by hand: payloads, pre-masked messages, the client's handshake request.

use wsproto::internal::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use wsproto::internal::mask::apply_mask;

/// What the payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Binary: every byte value.
    Binary,
    /// Text, ASCII only.
    Text,
    /// Text mixing 1- to 4-byte code points.
    TextMixed,
    /// JSON-like text (an array of objects with ids, names, tags, text): the permessage-deflate corpus.
    Json,
}

impl Kind {
    /// From a command-line name: `binary`, `text`, `text-mixed`.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "binary" => Kind::Binary,
            "text" => Kind::Text,
            "text-mixed" => Kind::TextMixed,
            "json" => Kind::Json,
            _ => return None,
        })
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
            Kind::TextMixed => "text-mixed",
            Kind::Json => "json",
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
        Kind::Json => json_corpus(len),
    }
}

/// A deterministic JSON-like text of exactly `len` bytes: an array of records with ids, names, tags, scores
/// and short sentences drawn from small vocabularies with a simple LCG (repetitive like real API responses,
/// not trivially so), closed with `]` and padded with spaces before it to the exact length.
fn json_corpus(len: usize) -> Vec<u8> {
    const FIRST: [&str; 12] =
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"];
    const LAST: [&str; 8] = ["smith", "jones", "garcia", "miller", "davis", "lopez", "wilson", "moore"];
    const TAGS: [&str; 10] =
        ["admin", "beta", "mobile", "eu-west", "us-east", "premium", "trial", "staff", "api", "web"];
    const WORDS: [&str; 16] = [
        "the", "order", "was", "shipped", "to", "customer", "after", "payment", "cleared", "and", "stock", "updated",
        "invoice", "sent", "pending", "review",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = |n: usize| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let mut out = String::with_capacity(len + 512);
    out.push('[');
    let mut id = 100_000;
    while out.len() < len {
        if out.len() > 1 {
            out.push(',');
        }
        let (f, l) = (FIRST[rnd(FIRST.len())], LAST[rnd(LAST.len())]);
        let tags: Vec<String> = (0..1 + rnd(3)).map(|_| format!("\"{}\"", TAGS[rnd(TAGS.len())])).collect();
        let text: Vec<&str> = (0..4 + rnd(8)).map(|_| WORDS[rnd(WORDS.len())]).collect();
        out.push_str(&format!(
            "{{\"id\":{id},\"name\":\"{f} {l}\",\"email\":\"{f}.{l}@example.com\",\"active\":{},\
             \"score\":{}.{:02},\"tags\":[{}],\"text\":\"{}\"}}",
            rnd(2) == 0,
            rnd(1000),
            rnd(100),
            tags.join(","),
            text.join(" ")
        ));
        id += 1 + rnd(7);
    }
    // Cut to `len - 1` at a char boundary (all ASCII) and close the array; tiny sizes are just spaces.
    let mut b = out.into_bytes();
    if len == 0 {
        return Vec::new();
    }
    b.truncate(len - 1);
    b.push(b']');
    if len == 1 {
        b[0] = b' ';
    }
    b
}

/// The compressed payload of one message for permessage-deflate with no client context takeover: raw deflate
/// of `payload` with a `window_bits` window (9–15; zlib cannot do 8), sync-flushed, the trailing `00 00 ff ff`
/// removed (RFC 7692 §7.2.1). Independent of any earlier message, so it can be sent again verbatim.
pub fn deflate_payload(payload: &[u8], window_bits: u8, level: u32) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new_with_window_bits(Compression::new(level), false, window_bits.clamp(9, 15));
    let mut out = Vec::with_capacity(payload.len() + 64);
    let mut input = payload;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync).expect("deflate");
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.ends_with(&[0, 0, 0xff, 0xff]) && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - 4);
    out
}

/// One compressed message as a client sends it: a single masked frame with RSV1 set carrying `compressed`.
pub fn client_compressed_message(compressed: &[u8], kind: Kind) -> Vec<u8> {
    let opcode = if kind.is_text() { OpCode::Text } else { OpCode::Binary };
    let key = [0x5a, 0xc3, 0x3c, 0x96];
    let h = FrameHeader { fin: true, rsv: 0x4, opcode, mask: Some(key), payload_len: compressed.len() as u64 };
    let mut out = Vec::with_capacity(compressed.len() + MAX_HEADER_LEN);
    h.write_to(&mut out);
    let start = out.len();
    out.extend_from_slice(compressed);
    apply_mask(&mut out[start..], key, 0);
    out
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
    handshake_request_with(host, None)
}

/// The client's opening handshake request, offering `extensions` (a `Sec-WebSocket-Extensions` value) if given.
pub fn handshake_request_with(host: &str, extensions: Option<&str>) -> Vec<u8> {
    let ext = extensions.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
    .into_bytes()
}

/// The `Sec-WebSocket-Extensions` values of a response head, joined with `, `, if any.
pub fn response_extensions(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let vals: Vec<&str> = text
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, v)| v.trim())
        .collect();
    (!vals.is_empty()).then(|| vals.join(", "))
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
        for kind in [Kind::Binary, Kind::Text, Kind::TextMixed, Kind::Json] {
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
    fn json_corpus_is_exact_and_inflates_back() {
        for len in [0, 1, 2, 16, 1024, 16384, 70_000] {
            let p = payload(len, Kind::Json);
            assert_eq!(p.len(), len);
            assert!(std::str::from_utf8(&p).is_ok());
            for bits in [9, 15] {
                let mut z = deflate_payload(&p, bits, 6);
                z.extend_from_slice(&[0, 0, 0xff, 0xff]);
                let mut d = flate2::Decompress::new(false);
                let mut out = Vec::with_capacity(len + 64);
                d.decompress_vec(&z, &mut out, flate2::FlushDecompress::Sync).unwrap();
                assert_eq!(out, p, "{len} {bits}");
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
