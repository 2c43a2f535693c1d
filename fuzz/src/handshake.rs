//! `server_handshake` and `client_handshake`.
//!
//! Input: the [`prelude`](crate::prelude), then either the raw head bytes (flags bit 0 clear) or bytes that
//! `arbitrary` turns into a structured request/response (flags bit 0 set) with long and repeated
//! `Sec-WebSocket-Protocol` / `Sec-WebSocket-Extensions` / `Connection` values, keys, versions, bodies and
//! frames after the head. Flags bit 1: feed EOF at the end; bit 2: streaming mode for the connection that
//! follows. Preset (mod 8): [`HS_PRESETS`].
//!
//! Invariants (for all three chunkings, which must agree):
//! - server: the result is an `Incoming` or a `RequestError` whose status is 400, 414, 426 or 431 (`Eof` only
//!   after EOF); errors are sticky; a head (up to the first CRLFCRLF) over `max_handshake_bytes` is
//!   `HeadTooLarge` or `TargetTooLong`, and `HeadTooLarge` only then; `TargetTooLong` only for such a head or a
//!   request-target over `MAX_TARGET_LEN`; the head ends where httparse says it ends, so the leftover is exactly
//!   the bytes after it; an `Upgrade` is a GET/1.1 with a 16-byte key, one `Host` without spaces or user info,
//!   an origin- or http(s)/ws(s) absolute-form target, and no body (no `Transfer-Encoding`, no `Content-Length`
//!   but a single zero) — whatever the chunking; `accept` writes a 101 that httparse reads back with the right
//!   `Sec-WebSocket-Accept`; the connection it returns reports exactly what the reference model says about the
//!   leftover; `write_response` of an error is a parseable response with its status and `response_headers`
//!   (a 426 has `Upgrade: websocket` and `Connection: upgrade`).
//! - client: the outcome is `Accepted` (a 101 with the right accept key, only offered protocol and
//!   extensions, and no body announced), `Rejected` (not a 101; body within `max_response_body`, and exactly the bytes after the head
//!   for a `Content-Length` or unframed body), or a `ResponseError`; the accepted connection then reports what
//!   the reference model says about the bytes after the head.
//! - memory: live heap while the head is read stays within a fixed multiple of `max_handshake_bytes` plus the
//!   largest chunk (plus the body cap for a client's rejection), measured with the counting allocator.
//!
//! In raw client inputs the RFC 6455 §1.3 accept value `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=` is replaced by the
//! accept value of the handshake's real key, so the RFC's example response is accepted.

use std::borrow::Cow;
use std::str;

use arbitrary::{Arbitrary, Unstructured};
use wsproto::handshake::{
    accept_key, Accept, ClientHandshake, ClientOutcome, ClientRequest, Header, Incoming, RequestError, Response,
    ResponseError, ServerHandshake, MAX_TARGET_LEN,
};
use wsproto::{Config, Connection, ReceiveMode, Role};

use crate::alloc;
use crate::conn::{model, Driver};
use crate::prelude::{largest, split, Prelude};

/// (max_handshake_bytes, max_headers, max_response_body).
pub const HS_PRESETS: [(usize, usize, usize); 8] = [
    (16 << 10, 64, 64 << 10),
    (128, 8, 0),
    (256, 8, 1),
    (1024, 16, 16),
    (4096, 64, 100),
    (16 << 10, 100, 4096),
    (512, 64, 64 << 10),
    (2048, 8, 10),
];

/// Memory allowed while reading a head: `MEM_FACTOR * (max_handshake_bytes + largest chunk) + MEM_CONST`
/// (plus, for a client's rejection, three times the body it may buffer). 8x covers the head buffer's
/// doubling growth (2x), the parsed `Request`/`Response` copy (1x) and per-field overhead; see
/// regressions/README.md for what exceeds it.
pub const MEM_FACTOR: usize = 8;
pub const MEM_CONST: usize = 16 << 10;

pub fn hs_config(flags: u8, preset: u8) -> Config {
    let (hs, headers, body) = HS_PRESETS[preset as usize % HS_PRESETS.len()];
    let mut c = Config::default();
    // No permessage-deflate: the connection that follows is checked against the RFC 6455-only model (and the
    // client passes a `permessage-deflate` answer through as an offered extension); see the deflate targets.
    c.deflate = None;
    c.max_handshake_bytes = hs;
    c.max_headers = headers;
    c.max_response_body = body;
    c.max_frame_payload = 64 << 10;
    c.max_message_size = 256 << 10;
    c.max_fragments = 64;
    c.max_buffered = (64 << 10) + 14;
    if flags & 4 != 0 {
        c.receive_mode = ReceiveMode::Streaming;
        c.max_buffered = 4096;
    }
    c.validate().expect("fuzz presets are valid");
    c
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where the head ends, if it does: after the first empty line, whose line ends may be CRLF or bare LF
/// (`\n\n` or `\n\r\n`), as httparse also accepts them.
fn head_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
        (b'\n', Some(b'\n'), _) => Some(i + 2),
        (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
        _ => None,
    })
}

fn check_mem(base: usize, limit: usize, chunk: usize, body: usize, what: &str) {
    if !alloc::installed() {
        return;
    }
    let used = alloc::peak().saturating_sub(base);
    let bound = MEM_FACTOR * (limit + chunk) + 3 * body + MEM_CONST;
    if std::env::var_os("WSPROTO_FUZZ_MEM").is_some() {
        eprintln!(
            "mem {what}: peak {used} for limit {limit} + chunk {chunk} = {:.2}x",
            used as f64 / (limit + chunk) as f64
        );
    }
    assert!(
        used <= bound,
        "{what}: {used} live heap bytes while reading a head ({:.1}x the limit {limit} + chunk {chunk}; bound {bound})",
        used as f64 / (limit + chunk) as f64
    );
}

// ----------------------------------------------------------------------------------------------------------
// Structured generators.

const TOKENS: &[&str] = &[
    "websocket",
    "WebSocket",
    "upgrade",
    "Upgrade",
    "keep-alive",
    "close",
    "chat",
    "superchat",
    "v1.proto",
    "permessage-deflate",
    "x-webkit-deflate-frame",
    "client_max_window_bits",
    "server_no_context_takeover",
    "13",
    "8",
    "h2c",
    "",
    " ",
    "\t",
    ";",
    "=",
    "\"",
    "\\",
    ",",
    "\u{e9}",
];

/// A `Content-Length` value: small, any, signed, padded, a list, or zero with leading zeros.
fn content_length(k: u8, n: u64) -> String {
    match k % 6 {
        0 => (n % 300).to_string(),
        1 => n.to_string(),
        2 => format!("+{}", n % 300),
        3 => format!(" {} ", n % 300),
        4 => format!("{}, {}", n % 300, n % 7),
        _ => "0".repeat(1 + n as usize % 3),
    }
}

#[derive(Arbitrary, Debug)]
pub enum Elem {
    Token(u8),
    Quoted(String),
    Params(u8, Vec<(u8, u8)>),
    Raw(Vec<u8>),
}

/// A comma-separated list value, optionally repeated many times (long values).
#[derive(Arbitrary, Debug)]
pub struct ListGen {
    elems: Vec<Elem>,
    repeat: u16,
    spaces: bool,
}

impl ListGen {
    fn render(&self, cap: usize) -> Vec<u8> {
        let mut one = Vec::new();
        for (i, e) in self.elems.iter().enumerate() {
            if i > 0 {
                one.extend_from_slice(if self.spaces { b", " } else { b"," });
            }
            match e {
                Elem::Token(t) => one.extend_from_slice(TOKENS[*t as usize % TOKENS.len()].as_bytes()),
                Elem::Quoted(s) => {
                    one.push(b'"');
                    one.extend_from_slice(s.as_bytes());
                    one.push(b'"');
                }
                Elem::Params(t, ps) => {
                    one.extend_from_slice(TOKENS[*t as usize % TOKENS.len()].as_bytes());
                    for (k, v) in ps {
                        one.extend_from_slice(b"; ");
                        one.extend_from_slice(TOKENS[*k as usize % TOKENS.len()].as_bytes());
                        one.push(b'=');
                        one.extend_from_slice(TOKENS[*v as usize % TOKENS.len()].as_bytes());
                    }
                }
                Elem::Raw(b) => one.extend_from_slice(b),
            }
        }
        let mut out = one.clone();
        for _ in 0..(self.repeat % 4000) {
            if out.len() >= cap || one.is_empty() {
                break;
            }
            out.push(b',');
            out.extend_from_slice(&one);
        }
        out.truncate(cap);
        out
    }
}

#[derive(Arbitrary, Debug)]
pub enum KeyGen {
    Rfc,
    Valid([u8; 16]),
    Short([u8; 15]),
    Long([u8; 17]),
    Raw(Vec<u8>),
    Spaced([u8; 16]),
}

fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[derive(Arbitrary, Debug)]
pub enum ReqField {
    Host(Vec<u8>),
    Upgrade(ListGen),
    Connection(ListGen),
    Key(KeyGen),
    Version(u8),
    Protocol(ListGen),
    Extensions(ListGen),
    Origin(String),
    Other(u8, Vec<u8>),
    /// The same field many times.
    Repeat(Box<ReqField>, u8),
    /// Long runs of optional whitespace or obs-fold-looking continuation.
    Folded(ListGen),
    /// A `Content-Length` (forms: small, any, signed, padded, a list, zero).
    ContentLength(u8, u64),
    /// A `Transfer-Encoding`.
    TransferEncoding(ListGen),
}

const NAMES: &[&str] = &[
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "X-Custom",
    "Content-Length",
    "Transfer-Encoding",
    "sec-websocket-key",
    "HOST",
    "",
    "Bad Name",
    "Cookie",
];

impl ReqField {
    fn render(&self, out: &mut Vec<u8>, nl: &[u8], cap: usize) {
        let mut line = |name: &str, value: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(nl);
        };
        match self {
            ReqField::Host(h) => line("Host", if h.is_empty() { b"server.example.com" } else { h }),
            ReqField::Upgrade(l) => line("Upgrade", &l.render(cap)),
            ReqField::Connection(l) => line("Connection", &l.render(cap)),
            ReqField::Key(k) => {
                let v = match k {
                    KeyGen::Rfc => "dGhlIHNhbXBsZSBub25jZQ==".to_string(),
                    KeyGen::Valid(b) => b64(b),
                    KeyGen::Short(b) => b64(b),
                    KeyGen::Long(b) => b64(b),
                    KeyGen::Raw(b) => String::from_utf8_lossy(b).into_owned(),
                    KeyGen::Spaced(b) => format!("  {}\t", b64(b)),
                };
                line("Sec-WebSocket-Key", v.as_bytes());
            }
            ReqField::Version(v) => {
                let s = match v % 4 {
                    0 => "13".to_string(),
                    1 => " 13 ".to_string(),
                    2 => "8".to_string(),
                    _ => v.to_string(),
                };
                line("Sec-WebSocket-Version", s.as_bytes());
            }
            ReqField::Protocol(l) => line("Sec-WebSocket-Protocol", &l.render(cap)),
            ReqField::Extensions(l) => line("Sec-WebSocket-Extensions", &l.render(cap)),
            ReqField::Origin(o) => line("Origin", o.as_bytes()),
            ReqField::Other(n, v) => line(NAMES[*n as usize % NAMES.len()], v),
            ReqField::Repeat(f, n) => {
                for _ in 0..*n {
                    let before = out.len();
                    if before >= cap {
                        break;
                    }
                    f.render(out, nl, cap);
                    if out.len() == before {
                        break; // nested repeats of nothing: stop (else exponential time)
                    }
                }
            }
            ReqField::Folded(l) => {
                let mut v = b"  \t ".to_vec();
                v.extend_from_slice(&l.render(cap));
                v.extend_from_slice(b" \t");
                line("Sec-WebSocket-Protocol", &v);
            }
            ReqField::ContentLength(k, n) => line("content-length", content_length(*k, *n).as_bytes()),
            ReqField::TransferEncoding(l) => line("Transfer-Encoding", &l.render(cap)),
        }
    }
}

/// A structured request.
#[derive(Arbitrary, Debug)]
pub struct ReqGen {
    method: u8,
    path: u8,
    version: u8,
    /// Start with the RFC's valid headers, then the generated ones.
    base: bool,
    fields: Vec<ReqField>,
    lf_only: bool,
    tail: Vec<u8>,
}

impl ReqGen {
    pub fn render(&self, limit: usize) -> Vec<u8> {
        let cap = 2 * limit + 256;
        let nl: &[u8] = if self.lf_only { b"\n" } else { b"\r\n" };
        let method = ["GET", "get", "POST", "HEAD", "GE T", "CONNECT"][self.method as usize % 6];
        let long = format!("/{}", "l".repeat(MAX_TARGET_LEN));
        let path = [
            "/chat",
            "/",
            "*",
            "/a?b=c",
            "http://x/y",
            "",
            "/%ff",
            "HTTP://server.example.com:80/chat?x=1",
            "wss://[::1]",
            "http://u@x/y",
            "ftp://x/y",
            "/a#b",
            "x:80",
            &long,
        ];
        let path = path[self.path as usize % path.len()];
        let version = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 ", "http/1.1"][self.version as usize % 5];
        let mut out = format!("{method} {path} {version}").into_bytes();
        out.extend_from_slice(nl);
        if self.base {
            for f in [
                "Host: server.example.com",
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
            ] {
                out.extend_from_slice(f.as_bytes());
                out.extend_from_slice(nl);
            }
        }
        for f in &self.fields {
            if out.len() >= cap {
                break;
            }
            f.render(&mut out, nl, cap);
        }
        out.extend_from_slice(nl);
        out.extend_from_slice(&self.tail);
        out
    }
}

// ----------------------------------------------------------------------------------------------------------
// Server.

/// A server handshake's result, comparable across chunkings.
#[derive(Debug, PartialEq)]
pub struct ServerRun {
    pub result: Result<Option<Incoming>, RequestError>,
    pub leftover: Vec<u8>,
    /// For an upgrade: the 101 written by `accept`, and what the connection then reported.
    pub response: Vec<u8>,
    pub events: Vec<crate::conn::Ev>,
    pub conn_error: Option<wsproto::ProtocolError>,
}

fn run_server(cfg: &Config, chunks: &[&[u8]], eof: bool) -> ServerRun {
    let chunk = largest(chunks);
    let base = alloc::start();
    let mut hs = ServerHandshake::new(cfg.clone()).expect("valid config");
    let mut result = Ok(None);
    let mut fed = 0;
    for c in chunks {
        hs.feed(c);
        fed += 1;
        result = hs.poll_request();
        check_mem(base, cfg.max_handshake_bytes, chunk, 0, "server handshake");
        if !matches!(result, Ok(None)) {
            break;
        }
    }
    if matches!(result, Ok(None)) && eof {
        hs.feed_eof();
        result = hs.poll_request();
    }
    match &result {
        Err(e) => {
            hs.feed(b"GET / HTTP/1.1\r\n\r\n");
            assert_eq!(hs.poll_request().as_ref(), Err(e), "request error not sticky");
        }
        Ok(Some(_)) => {
            assert_eq!(hs.poll_request(), Ok(None), "second poll after the request");
            for c in &chunks[fed..] {
                hs.feed(c);
            }
        }
        Ok(None) => {}
    }
    let leftover = hs.leftover().to_vec();
    let mut run = ServerRun { result, leftover, response: Vec::new(), events: Vec::new(), conn_error: None };
    match &run.result {
        Ok(Some(Incoming::Upgrade(req))) => {
            // An unoffered subprotocol is refused.
            let bogus = "not-offered\u{1}";
            assert!(!req.protocols.iter().any(|p| p == bogus));
            let choice = req.protocols.first().cloned();
            let accept = match &choice {
                Some(p) => Accept::default().protocol(p.clone()),
                None => Accept::default(),
            };
            let mut out = Vec::new();
            let conn = match hs.accept(req, accept, &mut out) {
                Ok(c) => c,
                Err(e) => {
                    // Only a protocol that cannot be written back as a header value may be refused.
                    let p = choice.expect("accept without a subprotocol failed");
                    assert!(
                        p.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f),
                        "accept refused offered subprotocol {p:?}: {e}"
                    );
                    return run;
                }
            };
            check_101(&out, &req.key, choice.as_deref());
            run.response = out;
            let mut d = Driver::new(Role::Server, cfg.clone());
            d.slack = run.leftover.len();
            drive_existing(&mut d, conn, &[], eof);
            run.events = d.events;
            run.conn_error = d.error;
        }
        Ok(Some(Incoming::Http(_))) => {
            let left = run.leftover.clone();
            assert_eq!(&hs.into_leftover()[..], &left[..], "into_leftover vs leftover");
        }
        _ => {}
    }
    run
}

/// Drains a connection handed over by a handshake, feeds it the rest, checks its end state.
fn drive_existing(d: &mut Driver, mut conn: Connection, rest: &[&[u8]], eof: bool) {
    d.drain(&mut conn);
    for c in rest {
        d.feed(&mut conn, c);
    }
    if eof {
        d.feed_eof(&mut conn);
    }
    d.check_end(&mut conn);
}

fn check_101(out: &[u8], key: &str, protocol: Option<&str>) {
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut slots);
    let n = match resp.parse(out) {
        Ok(httparse::Status::Complete(n)) => n,
        r => panic!("accept wrote an unparseable response: {r:?}"),
    };
    assert_eq!(n, out.len(), "bytes after the 101 head");
    assert_eq!(resp.code, Some(101));
    let get = |name: &str| -> Vec<&[u8]> {
        resp.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value).collect()
    };
    assert_eq!(get("upgrade"), vec![&b"websocket"[..]]);
    assert_eq!(get("connection").len(), 1);
    assert!(get("connection")[0].eq_ignore_ascii_case(b"upgrade"));
    assert_eq!(get("sec-websocket-accept"), vec![accept_key(key.as_bytes()).as_bytes()]);
    match protocol {
        Some(p) => assert_eq!(get("sec-websocket-protocol"), vec![p.as_bytes()]),
        None => assert!(get("sec-websocket-protocol").is_empty()),
    }
}

fn check_error_response(e: &RequestError) {
    let mut out = Vec::new();
    e.write_response(&mut out);
    if *e == RequestError::Eof {
        assert!(out.is_empty(), "a response written for EOF");
        return;
    }
    let mut slots = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut slots);
    let n = match resp.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        r => panic!("error response does not parse: {r:?}"),
    };
    assert_eq!(resp.code, Some(e.status()));
    let cl = resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")).expect("content-length");
    assert_eq!(str::from_utf8(cl.value).unwrap().parse::<usize>().unwrap(), out.len() - n);
    let has = |name: &str, token: &str| {
        resp.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case(name)
                && wsproto::handshake::split_list(h.value).iter().any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    assert!(has("connection", "close"), "an error answer without Connection: close");
    if *e == RequestError::UnsupportedVersion {
        assert!(resp.headers.iter().any(|h| h.name.eq_ignore_ascii_case("sec-websocket-version") && h.value == b"13"));
    }
    if e.status() == 426 {
        assert!(
            has("upgrade", "websocket") && has("connection", "upgrade"),
            "a 426 without Upgrade (RFC 9110 §15.5.22)"
        );
    }
    for (name, value) in e.response_headers() {
        assert!(has(name, value), "{name}: {value} missing from the answer to {e:?}");
    }
}

/// The length of the request-target in the request line of `bytes` (after any empty lines).
fn target_len(bytes: &[u8]) -> usize {
    let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(bytes.len());
    let line = &bytes[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let Some(sp) = line.iter().position(|&b| b == b' ') else { return 0 };
    let after = &line[sp + 1..];
    after.iter().position(|&b| b == b' ' || b == b'\r').unwrap_or(after.len())
}

/// What an accepted upgrade's head must be, beyond RFC 6455: no body, one valid-looking Host, a routable target.
fn check_upgrade_head(u: &wsproto::handshake::UpgradeRequest) {
    let h: &[Header] = &u.request.headers;
    let all = |name: &str| {
        h.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim_ascii()).collect::<Vec<_>>()
    };
    assert!(all("transfer-encoding").is_empty(), "an upgrade with Transfer-Encoding");
    let cl = all("content-length");
    assert!(cl.len() <= 1, "an upgrade with {} Content-Length fields", cl.len());
    if let Some(v) = cl.first() {
        assert!(!v.is_empty() && v.iter().all(|&b| b == b'0'), "an upgrade with a body: Content-Length {v:?}");
    }
    let host = all("host");
    assert_eq!(host.len(), 1, "an upgrade with {} Host fields", host.len());
    assert!(
        !host[0].is_empty() && !host[0].iter().any(|&b| b <= b' ' || b == b'@' || b == b'/' || b >= 0x7f),
        "an upgrade with Host {:?}",
        String::from_utf8_lossy(host[0])
    );
    let t = &u.request.target;
    let scheme = t.split("://").next().unwrap_or("").to_ascii_lowercase();
    assert!(
        t.starts_with('/') || (t.contains("://") && ["http", "https", "ws", "wss"].contains(&scheme.as_str())),
        "an upgrade for target {t:?}"
    );
    assert!(!t.contains('#'), "an upgrade for a target with a fragment: {t:?}");
    assert!(u.request.path().starts_with('/'), "path {:?} of {t:?}", u.request.path());
    assert!(t.len() <= MAX_TARGET_LEN);
}

/// The `server_handshake` target.
pub fn server_handshake(input: &[u8]) {
    let Some(p) = Prelude::parse(input) else { return };
    let cfg = hs_config(p.flags, p.preset);
    let eof = p.flags & 2 != 0;
    let bytes: Cow<[u8]> = if p.flags & 1 != 0 {
        let mut u = Unstructured::new(p.data);
        let Ok(g) = ReqGen::arbitrary(&mut u) else { return };
        Cow::Owned(g.render(cfg.max_handshake_bytes))
    } else {
        Cow::Borrowed(p.data)
    };
    let chunkings: [Vec<&[u8]>; 3] = [vec![&bytes[..]], split(&bytes, &p.sizes), bytes.chunks(1).collect()];
    let runs: Vec<ServerRun> = chunkings.iter().map(|c| run_server(&cfg, c, eof)).collect();
    for (i, r) in runs.iter().enumerate().skip(1) {
        assert_eq!(r, &runs[0], "chunking {i}: the server handshake depends on the chunking");
    }
    let r = &runs[0];
    let max = cfg.max_handshake_bytes;
    let end = head_end(&bytes);
    match (&r.result, end) {
        (Err(e), _) => {
            assert!(matches!(e.status(), 400 | 414 | 426 | 431), "status {} for {e:?}", e.status());
            check_error_response(e);
            let too_large = match end {
                Some(end) => end > max,
                None => bytes.len() >= max,
            };
            let size = matches!(e, RequestError::HeadTooLarge | RequestError::TargetTooLong);
            if too_large {
                assert!(size, "{e:?} for a head ending at {end:?} (limit {max})");
            }
            if *e == RequestError::HeadTooLarge {
                assert!(too_large, "HeadTooLarge for a head ending at {end:?} (limit {max})");
            }
            if *e == RequestError::TargetTooLong {
                assert!(too_large || target_len(&bytes) > MAX_TARGET_LEN, "TargetTooLong for a short target");
            }
            if *e == RequestError::Eof {
                assert!(eof && end.is_none(), "Eof error without EOF or with a complete head");
            }
        }
        (Ok(None), end) => assert!(end.is_none() && bytes.len() < max && !eof, "no result for a complete head"),
        (Ok(Some(inc)), end) => {
            let end = end.expect("a request without a complete head");
            assert!(end <= max, "head of {end} bytes over the limit {max} accepted");
            assert_eq!(r.leftover, &bytes[end..], "leftover is not the bytes after the head");
            // The head ends where an HTTP parser says it does: nothing between is silently dropped.
            let mut slots = vec![httparse::EMPTY_HEADER; cfg.max_headers];
            let mut req = httparse::Request::new(&mut slots);
            match req.parse(&bytes) {
                Ok(httparse::Status::Complete(n)) => assert_eq!(
                    n,
                    end,
                    "httparse ends the head at byte {n}, wsproto at {end}: {} bytes vanish between them",
                    end.saturating_sub(n)
                ),
                other => panic!("wsproto accepted a head httparse rejects: {other:?}"),
            }
            match inc {
                Incoming::Upgrade(u) => {
                    check_upgrade_head(u);
                    assert!(u.request.method.eq_ignore_ascii_case("GET"), "upgrade with {}", u.request.method);
                    assert_eq!(u.request.version, 1, "upgrade over HTTP/1.{}", u.request.version);
                    assert!(u.key.len() == 24 && u.key.ends_with("=="), "key {:?} is not 16 bytes of base64", u.key);
                    for l in u.protocols.iter().chain(&u.extensions) {
                        assert!(!l.is_empty() && l.trim() == l, "list element {l:?}");
                    }
                    let want = model(Role::Server, &cfg, &r.leftover, eof);
                    assert_eq!(r.events, want.events, "events of the accepted connection");
                    assert_eq!(r.conn_error, want.error, "error of the accepted connection");
                }
                Incoming::Http(req) => {
                    let upgrade = req.headers.iter().any(|(n, v)| {
                        n.eq_ignore_ascii_case("upgrade")
                            && wsproto::handshake::split_list(v).iter().any(|t| t.eq_ignore_ascii_case(b"websocket"))
                    });
                    assert!(!upgrade, "an Upgrade: websocket request reported as plain HTTP");
                }
                other => panic!("unknown kind of request {other:?}"),
            }
        }
    }
    // Last (so the checks above still run while it fails): after an error, the leftover accessors work.
    if r.result.is_err() {
        let mut hs = ServerHandshake::new(cfg.clone()).expect("valid config");
        hs.feed(&bytes);
        if eof {
            hs.feed_eof();
        }
        assert!(hs.poll_request().is_err());
        assert!(hs.leftover().is_empty(), "leftover after a request error");
        assert!(hs.into_leftover().is_empty(), "into_leftover after a request error");
    }
}

// ----------------------------------------------------------------------------------------------------------
// Client.

#[derive(Arbitrary, Debug)]
pub enum AcceptGen {
    Correct,
    Rfc,
    Padded,
    Wrong([u8; 20]),
    Lower,
    Empty,
}

#[derive(Arbitrary, Debug)]
pub enum RespField {
    Upgrade(ListGen),
    Connection(ListGen),
    Accept(AcceptGen),
    Protocol(ListGen),
    Extensions(ListGen),
    ContentLength(u8, u64),
    TransferEncoding(ListGen),
    Other(u8, Vec<u8>),
    Repeat(Box<RespField>, u8),
}

#[derive(Arbitrary, Debug)]
pub struct ChunkGen {
    data: Vec<u8>,
    size: Option<u64>,
    ext: Option<u8>,
    upper: bool,
}

#[derive(Arbitrary, Debug)]
pub enum BodyGen {
    Raw(Vec<u8>),
    Chunked(Vec<ChunkGen>, bool),
    /// Frames a server might send right after its 101 (unmasked, well-formed or not).
    Frames(Vec<(u8, Vec<u8>)>),
}

#[derive(Arbitrary, Debug)]
pub struct RespGen {
    status: u16,
    status_class: u8,
    base: bool,
    fields: Vec<RespField>,
    lf_only: bool,
    body: BodyGen,
}

impl RespField {
    fn render(&self, out: &mut Vec<u8>, nl: &[u8], accept: &str, cap: usize) {
        let mut line = |name: &str, value: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(nl);
        };
        match self {
            RespField::Upgrade(l) => line("Upgrade", &l.render(cap)),
            RespField::Connection(l) => line("Connection", &l.render(cap)),
            RespField::Accept(a) => {
                let v = match a {
                    AcceptGen::Correct => accept.to_string(),
                    AcceptGen::Rfc => "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string(),
                    AcceptGen::Padded => format!(" \t{accept}  "),
                    AcceptGen::Wrong(b) => b64(b),
                    AcceptGen::Lower => accept.to_ascii_lowercase(),
                    AcceptGen::Empty => String::new(),
                };
                line("Sec-WebSocket-Accept", v.as_bytes());
            }
            RespField::Protocol(l) => line("Sec-WebSocket-Protocol", &l.render(cap)),
            RespField::Extensions(l) => line("Sec-WebSocket-Extensions", &l.render(cap)),
            RespField::ContentLength(k, n) => line("Content-Length", content_length(*k, *n).as_bytes()),
            RespField::TransferEncoding(l) => line("Transfer-Encoding", &l.render(cap)),
            RespField::Other(n, v) => line(NAMES[*n as usize % NAMES.len()], v),
            RespField::Repeat(f, n) => {
                for _ in 0..*n {
                    let before = out.len();
                    if before >= cap {
                        break;
                    }
                    f.render(out, nl, accept, cap);
                    if out.len() == before {
                        break; // nested repeats of nothing: stop (else exponential time)
                    }
                }
            }
        }
    }
}

impl RespGen {
    pub fn render(&self, accept: &str, limit: usize) -> Vec<u8> {
        let cap = 2 * limit + 256;
        let nl: &[u8] = if self.lf_only { b"\n" } else { b"\r\n" };
        let status = match self.status_class % 6 {
            0 | 1 => 101,
            2 => 400,
            3 => [200, 204, 304, 100, 301, 401][self.status as usize % 6],
            4 => self.status % 1000,
            _ => self.status,
        };
        let mut out = format!("HTTP/1.1 {status} Whatever").into_bytes();
        out.extend_from_slice(nl);
        if self.base {
            for f in [
                "Upgrade: websocket".to_string(),
                "Connection: Upgrade".into(),
                format!("Sec-WebSocket-Accept: {accept}"),
            ] {
                out.extend_from_slice(f.as_bytes());
                out.extend_from_slice(nl);
            }
        }
        for f in &self.fields {
            if out.len() >= cap {
                break;
            }
            f.render(&mut out, nl, accept, cap);
        }
        out.extend_from_slice(nl);
        match &self.body {
            BodyGen::Raw(b) => out.extend_from_slice(b),
            BodyGen::Chunked(chunks, terminated) => {
                for c in chunks {
                    let size = c.size.unwrap_or(c.data.len() as u64);
                    let mut line = if c.upper { format!("{size:X}") } else { format!("{size:x}") };
                    if let Some(e) = c.ext {
                        line.push_str(&format!(";ext={e}"));
                    }
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&c.data);
                    out.extend_from_slice(b"\r\n");
                }
                if *terminated {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
            }
            BodyGen::Frames(frames) => {
                for (b0, payload) in frames {
                    let p = &payload[..payload.len().min(300)];
                    out.push(*b0);
                    if p.len() < 126 {
                        out.push(p.len() as u8);
                    } else {
                        out.push(126);
                        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
                    }
                    out.extend_from_slice(p);
                }
            }
        }
        out
    }
}

#[derive(Debug, PartialEq)]
pub enum ClientResult {
    Pending,
    Error(ResponseError),
    Rejected(Response),
    Accepted {
        accepted: wsproto::handshake::Negotiated,
        response: Response,
        events: Vec<crate::conn::Ev>,
        error: Option<wsproto::ProtocolError>,
    },
}

pub const CLIENT_SEED: [u8; 32] = [0x42; 32];

pub fn client_request() -> ClientRequest {
    let mut r = ClientRequest::new("server.example.com", "/chat").protocol("chat").protocol("superchat");
    r.extensions = vec!["permessage-deflate; client_max_window_bits".into()];
    r
}

/// How long a chunked rejection body may grow before wsproto gives up waiting (see client.rs).
fn body_allowance(cap: usize) -> usize {
    cap.saturating_mul(2).max(cap + 4096)
}

fn run_client(cfg: &Config, chunks: &[&[u8]], eof: bool) -> ClientResult {
    let chunk = largest(chunks);
    let base = alloc::start();
    let mut hs = ClientHandshake::new(client_request(), cfg.clone(), CLIENT_SEED).expect("valid request");
    let mut result = Ok(None);
    let mut fed = 0;
    for c in chunks {
        hs.feed(c);
        fed += 1;
        result = hs.poll_response();
        check_mem(base, cfg.max_handshake_bytes, chunk, body_allowance(cfg.max_response_body), "client handshake");
        if !matches!(result, Ok(None)) {
            break;
        }
    }
    if matches!(result, Ok(None)) && eof {
        hs.feed_eof();
        result = hs.poll_response();
    }
    match &result {
        Err(e) => {
            hs.feed(b"HTTP/1.1 101 x\r\n\r\n");
            assert_eq!(hs.poll_response().err().as_ref(), Some(e), "response error not sticky");
        }
        Ok(Some(_)) => {
            hs.feed(b"HTTP/1.1 101 x\r\n\r\n");
            assert!(matches!(hs.poll_response(), Ok(None)), "poll_response after the outcome");
        }
        Ok(None) => {}
    }
    match result {
        Ok(None) => ClientResult::Pending,
        Err(e) => ClientResult::Error(e),
        Ok(Some(ClientOutcome::Rejected(r))) => ClientResult::Rejected(r),
        Ok(Some(ClientOutcome::Accepted { connection, negotiated: accepted, response })) => {
            assert_eq!(connection.role(), Role::Client);
            let mut d = Driver::new(Role::Client, cfg.clone());
            d.slack = chunk;
            drive_existing(&mut d, connection, &chunks[fed..], eof);
            ClientResult::Accepted { accepted, response, events: d.events, error: d.error }
        }
        Ok(Some(other)) => panic!("unknown handshake outcome {other:?}"),
    }
}

/// The `client_handshake` target.
pub fn client_handshake(input: &[u8]) {
    let Some(p) = Prelude::parse(input) else { return };
    let cfg = hs_config(p.flags, p.preset);
    let eof = p.flags & 2 != 0;
    let key = ClientHandshake::new(client_request(), cfg.clone(), CLIENT_SEED).expect("valid").key().to_string();
    let accept = accept_key(key.as_bytes());
    let bytes: Vec<u8> = if p.flags & 1 != 0 {
        let mut u = Unstructured::new(p.data);
        let Ok(g) = RespGen::arbitrary(&mut u) else { return };
        g.render(&accept, cfg.max_handshake_bytes)
    } else {
        let mut b = p.data.to_vec();
        let rfc = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        while let Some(at) = find(&b, rfc) {
            b[at..at + rfc.len()].copy_from_slice(accept.as_bytes());
        }
        b
    };
    let chunkings: [Vec<&[u8]>; 3] = [vec![&bytes[..]], split(&bytes, &p.sizes), bytes.chunks(1).collect()];
    let runs: Vec<ClientResult> = chunkings.iter().map(|c| run_client(&cfg, c, eof)).collect();
    for (i, r) in runs.iter().enumerate().skip(1) {
        assert_eq!(r, &runs[0], "chunking {i}: the client handshake depends on the chunking");
    }
    let max = cfg.max_handshake_bytes;
    let end = head_end(&bytes);
    match &runs[0] {
        ClientResult::Pending => assert!(!eof, "no outcome after EOF"),
        ClientResult::Error(e) => {
            let too_large = match end {
                Some(end) => end > max,
                None => bytes.len() >= max,
            };
            if too_large {
                assert_eq!(*e, ResponseError::HeadTooLarge, "head over the limit");
            }
            if *e == ResponseError::Eof {
                assert!(eof && end.is_none(), "Eof error without EOF or with a complete head");
            }
        }
        ClientResult::Rejected(r) => {
            let end = end.expect("a response without a complete head");
            assert!(end <= max);
            assert_ne!(r.status, 101, "a 101 reported as a rejection");
            assert!(r.body.len() <= cfg.max_response_body, "body over max_response_body");
            let raw = &bytes[end..];
            let has = |name: &str| r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            if matches!(r.status, 100..=199 | 204 | 304) {
                assert!(r.body.is_empty(), "body for a {}", r.status);
            } else if !has("transfer-encoding") && !has("content-length") {
                let want = raw.len().min(cfg.max_response_body);
                assert_eq!(&r.body[..], &raw[..want], "unframed body");
            }
        }
        ClientResult::Accepted { accepted, response, events, error } => {
            let end = end.expect("accepted without a complete head");
            assert!(end <= max);
            assert_eq!(response.status, 101);
            let fields = |name: &str| {
                response
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim_ascii())
                    .collect::<Vec<_>>()
            };
            assert!(fields("transfer-encoding").is_empty(), "accepted a 101 with Transfer-Encoding");
            let cl = fields("content-length");
            assert!(
                cl.is_empty() || (cl.len() == 1 && !cl[0].is_empty() && cl[0].iter().all(|&b| b == b'0')),
                "accepted a 101 announcing a body: Content-Length {cl:?}"
            );
            let req = client_request();
            if let Some(p) = &accepted.protocol {
                assert!(req.protocols.contains(p), "unoffered protocol {p:?} accepted");
            }
            for e in &accepted.extensions {
                assert!(e.to_ascii_lowercase().starts_with("permessage-deflate"), "unoffered extension {e:?}");
            }
            let got = response
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept"))
                .map(|(_, v)| v.trim_ascii())
                .collect::<Vec<_>>();
            assert_eq!(got, vec![accept.as_bytes()], "accepted with a wrong Sec-WebSocket-Accept");
            let mut slots = vec![httparse::EMPTY_HEADER; cfg.max_headers];
            let mut resp = httparse::Response::new(&mut slots);
            match resp.parse(&bytes) {
                Ok(httparse::Status::Complete(n)) => assert_eq!(
                    n,
                    end,
                    "httparse ends the head at byte {n}, wsproto at {end}: {} bytes vanish between them",
                    end.saturating_sub(n)
                ),
                other => panic!("wsproto accepted a head httparse rejects: {other:?}"),
            }
            let want = model(Role::Client, &cfg, &bytes[end..], eof);
            assert_eq!(events, &want.events, "events of the accepted connection");
            assert_eq!(error, &want.error, "error of the accepted connection");
        }
    }
}
