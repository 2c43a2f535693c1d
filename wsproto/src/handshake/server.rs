//! The server side of the opening handshake (RFC 6455 §4.2).

#[allow(unused_imports)]
use crate::prelude::*;

use bytes::Bytes;
use core::fmt;

use super::headers::{self, Header};
use super::http::{HeadBuffer, MalformedHead};
use super::target::{self, MAX_TARGET_LEN};
use super::{write_head, BuildError, HandshakeClock, UPGRADE_REQUIRED};
use crate::config::Config;
use crate::connection::{Connection, Role};
use crate::error::ConfigError;
use crate::time::Instant;

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`).
    pub method: String,
    /// The request-target as received (RFC 9112 §3.2): origin form `/chat?room=1`, or absolute form
    /// `http://example.com/chat?room=1`. Route by [`path`](Self::path), which is the same for both.
    pub target: String,
    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Header fields in order, names as received.
    pub headers: Vec<Header>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        headers::values(&self.headers, name).next()
    }

    /// The first value of header `name` as a string, if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The path of the request-target, without the query: `/chat` for both `/chat?room=1` and
    /// `http://example.com/chat?room=1` (RFC 9112 §3.2.2: a server MUST accept the absolute form), `/` for
    /// `http://example.com`. Other forms (`*`, `host:port`) are returned whole, up to any `?`. Not
    /// percent-decoded.
    pub fn path(&self) -> &str {
        target::split(&self.target).path
    }

    /// The query of the request-target: what follows the first `?` (up to any `#`), if there is a `?`. Not
    /// percent-decoded.
    pub fn query(&self) -> Option<&str> {
        target::split(&self.target).query
    }

    /// The authority of an absolute-form request-target (`example.com:8080` in
    /// `GET http://example.com:8080/chat`); `None` for the origin form.
    pub fn authority(&self) -> Option<&str> {
        target::split(&self.target).authority
    }
}

/// A valid WebSocket upgrade request (RFC 6455 §4.2.1), for the application to accept or reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request head.
    pub request: Request,
    /// The `Sec-WebSocket-Key`.
    pub key: String,
    /// The subprotocols offered in `Sec-WebSocket-Protocol`, in order of preference.
    pub protocols: Vec<String>,
    /// The extension offers in `Sec-WebSocket-Extensions`, each with its parameters
    /// (`permessage-deflate; client_max_window_bits`).
    pub extensions: Vec<String>,
}

impl UpgradeRequest {
    /// The `Origin` header (sent by browsers; check it to refuse cross-site pages).
    pub fn origin(&self) -> Option<&str> {
        self.request.header_str("origin")
    }

    /// The host the request is for: the authority of an absolute-form target, which takes the place of
    /// `Host` (RFC 9112 §3.2.2), else the `Host` header (valid and present exactly once in an upgrade).
    pub fn host(&self) -> &str {
        match self.request.authority() {
            Some(a) => a,
            None => self.request.header_str("host").map(str::trim).unwrap_or(""),
        }
    }
}

/// What arrived: a WebSocket upgrade, or a plain HTTP request (serve a page, then close or keep going).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A valid upgrade request.
    Upgrade(UpgradeRequest),
    /// An HTTP request that does not ask for a WebSocket (no `Upgrade: websocket`).
    Http(Request),
}

/// A request the server must refuse: the peer's fault, with the HTTP status to answer
/// ([`status`](RequestError::status) and [`response_headers`](RequestError::response_headers) for another HTTP
/// stack; [`write_response`](RequestError::write_response) writes the whole answer). After any of these the
/// connection is closed: the answer carries `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The head is larger than [`Config::max_handshake_bytes`]. 431 (RFC 6585 §5).
    HeadTooLarge,
    /// The request-target is longer than [`MAX_TARGET_LEN`], or alone fills
    /// [`Config::max_handshake_bytes`]. 414 URI Too Long (RFC 9112 §3, RFC 9110 §15.5.15).
    TargetTooLong,
    /// More header fields than [`Config::max_headers`]. 431.
    TooManyHeaders,
    /// Not a valid HTTP/1.x request head. 400.
    Malformed(MalformedHead),
    /// An upgrade with a method other than GET (RFC 6455 §4.1). 400.
    NotGet,
    /// An upgrade over HTTP/1.0. 400.
    NotHttp11,
    /// No (or several) `Host` header. 400 (RFC 9112 §3.2).
    MissingHost,
    /// A `Host` whose value is not a valid authority (`host [":" port]` with RFC 3986 §3.2.2 host characters:
    /// no spaces, no user info). 400 (RFC 9112 §3.2, RFC 9110 §7.2).
    BadHost,
    /// An upgrade whose request-target is neither origin form (`/path?query`) nor absolute form with an
    /// `http`, `https`, `ws` or `wss` scheme and a valid authority (RFC 9112 §3.2.1, §3.2.2; RFC 9110 §4.2.4
    /// for user info), or has a fragment. 400.
    BadTarget,
    /// An upgrade that announces a body: a non-zero `Content-Length` or any `Transfer-Encoding`. The body's
    /// bytes would otherwise be read as WebSocket frames, where an HTTP intermediary sees a body: a request
    /// smuggling ingredient. 400 (RFC 9112 §6.3; RFC 9110 §9.3.1: content in a GET has no semantics).
    BodyNotAllowed,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1, §6.3 item 3: a smuggling attempt). 400.
    ContentLengthWithTransferEncoding,
    /// `Content-Length` repeated, a list, or not `1*DIGIT` (RFC 9110 §8.6; RFC 9112 §6.3 item 5). 400.
    BadContentLength,
    /// `Upgrade` lacks the `websocket` token (RFC 6455 §4.2.1 item 3). 400. Only from
    /// [`validate_request`]: [`ServerHandshake`] reports such a request as [`Incoming::Http`].
    MissingUpgrade,
    /// `Connection` lacks the `upgrade` token. 400.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` missing, repeated, or not 16 bytes of base64. 400.
    BadKey,
    /// `Sec-WebSocket-Version` is not 13. 426 with `Upgrade: websocket`, `Connection: Upgrade` (RFC 9110
    /// §15.5.22) and `Sec-WebSocket-Version: 13` (RFC 6455 §4.4).
    UnsupportedVersion,
    /// An HTTP/2 WebSocket request whose method is not CONNECT (RFC 8441 §4). 400.
    NotConnect,
    /// An HTTP/2 CONNECT whose `:protocol` pseudo-header is missing or not `websocket` (RFC 8441 §4). 400.
    NotWebSocketProtocol,
    /// The transport ended before the head was complete. Nothing can be answered.
    Eof,
    /// The head did not arrive within [`Config::handshake_timeout`] (see
    /// [`ServerHandshake::handle_timeout`]). 408 Request Timeout (RFC 9110 §15.5.9).
    Timeout,
}

impl RequestError {
    /// The status to answer with: 400, 408, 414, 426 or 431.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Timeout => 408,
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::TargetTooLong => 414,
            RequestError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// The header fields the answer must carry besides its framing (`Content-Length`) and `Connection: close`.
    /// A 426 carries `Upgrade: websocket` and `Connection: Upgrade` (RFC 9110 §15.5.22) and, for a wrong
    /// version, `Sec-WebSocket-Version: 13` (RFC 6455 §4.4); the other answers carry nothing more. For another
    /// HTTP stack: answer [`status`](Self::status) with these headers, then close the connection.
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        const VERSION: &[(&str, &str)] =
            &[UPGRADE_REQUIRED[0], UPGRADE_REQUIRED[1], ("Sec-WebSocket-Version", super::SUPPORTED_VERSION)];
        match self {
            RequestError::UnsupportedVersion => VERSION,
            _ => &[],
        }
    }

    /// Writes the HTTP response refusing the request: [`status`](Self::status),
    /// [`response_headers`](Self::response_headers), `Connection: close` and a short text body; nothing for
    /// [`Eof`](Self::Eof).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        if *self == RequestError::Eof {
            return;
        }
        let body = self.to_string();
        super::write_response(self.status(), self.response_headers(), body.as_bytes(), out);
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::HeadTooLarge => f.write_str("request header fields too large"),
            RequestError::TargetTooLong => f.write_str("request-target too long"),
            RequestError::TooManyHeaders => f.write_str("too many request header fields"),
            RequestError::Malformed(e) => write!(f, "malformed HTTP request: {e}"),
            RequestError::NotGet => f.write_str("a WebSocket upgrade must use GET"),
            RequestError::NotHttp11 => f.write_str("a WebSocket upgrade needs HTTP/1.1"),
            RequestError::MissingHost => f.write_str("missing or repeated Host header"),
            RequestError::BadHost => f.write_str("Host is not a valid authority"),
            RequestError::BadTarget => {
                f.write_str("request-target is neither origin form nor http(s)/ws(s) absolute form")
            }
            RequestError::BodyNotAllowed => f.write_str("a WebSocket upgrade must not have a body"),
            RequestError::ContentLengthWithTransferEncoding => {
                f.write_str("Content-Length together with Transfer-Encoding")
            }
            RequestError::BadContentLength => f.write_str("repeated or invalid Content-Length"),
            RequestError::MissingUpgrade => f.write_str("Upgrade header lacks the websocket token"),
            RequestError::MissingConnectionUpgrade => f.write_str("Connection header lacks the upgrade token"),
            RequestError::BadKey => f.write_str("missing or invalid Sec-WebSocket-Key"),
            RequestError::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version (only 13)"),
            RequestError::NotConnect => f.write_str("an HTTP/2 WebSocket must use extended CONNECT"),
            RequestError::NotWebSocketProtocol => f.write_str("the CONNECT's :protocol is not websocket"),
            RequestError::Eof => f.write_str("connection closed before the request head was complete"),
            RequestError::Timeout => f.write_str("the request head did not arrive in time"),
        }
    }
}

impl core::error::Error for RequestError {}

/// Checks the WebSocket headers of a request already parsed by another HTTP stack (hyper, axum…), RFC 6455
/// §4.2.1. Returns the upgrade's key, offered subprotocols and extensions; compute the answer's
/// `Sec-WebSocket-Accept` with [`accept_key`](super::accept_key).
///
/// `http11` is whether the request is HTTP/1.1 (or later). Besides RFC 6455, the head must be one a WebSocket
/// can follow: exactly one `Host` with a valid authority (RFC 9112 §3.2), and no body (no `Transfer-Encoding`,
/// no `Content-Length` other than a single `0`; RFC 9112 §6.1, §6.3). The request-target is not checked here:
/// [`ServerHandshake`] does that (origin or absolute form).
pub fn validate_request(method: &str, http11: bool, headers: &[Header]) -> Result<UpgradeInfo, RequestError> {
    // Methods are case-sensitive (RFC 9110 §9.1).
    if method != "GET" {
        return Err(RequestError::NotGet);
    }
    if !http11 {
        return Err(RequestError::NotHttp11);
    }
    check_no_body(headers)?;
    match headers::single(headers, "host") {
        Ok(Some(h)) if target::valid_authority(h.trim_ascii()) => {}
        Ok(Some(_)) => return Err(RequestError::BadHost),
        _ => return Err(RequestError::MissingHost),
    }
    if !is_upgrade_request(headers) {
        return Err(RequestError::MissingUpgrade);
    }
    if !headers::has_token(headers, "connection", "upgrade") {
        return Err(RequestError::MissingConnectionUpgrade);
    }
    let version_ok =
        matches!(headers::single(headers, "sec-websocket-version"), Ok(Some(v)) if v.trim_ascii() == b"13");
    if !version_ok {
        return Err(RequestError::UnsupportedVersion);
    }
    let key = match headers::single(headers, "sec-websocket-key") {
        Ok(Some(k)) => k.trim_ascii(),
        _ => return Err(RequestError::BadKey),
    };
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(raw) if raw.len() == 16 => {}
        _ => return Err(RequestError::BadKey),
    }
    let too_many = |_| RequestError::Malformed(MalformedHead::TooManyListElements);
    Ok(UpgradeInfo {
        key: String::from_utf8_lossy(key).into_owned(),
        protocols: headers::list(headers, "sec-websocket-protocol").map_err(too_many)?,
        extensions: headers::list(headers, "sec-websocket-extensions").map_err(too_many)?,
    })
}

/// An upgrade has no body (RFC 9112 §6): any `Transfer-Encoding`, or a `Content-Length` other than a single
/// `1*DIGIT` of zeros, is refused.
fn check_no_body(headers: &[Header]) -> Result<(), RequestError> {
    let te = headers::values(headers, "transfer-encoding").next().is_some();
    let mut cl = headers::values(headers, "content-length");
    let first = cl.next();
    match (te, first) {
        (true, Some(_)) => return Err(RequestError::ContentLengthWithTransferEncoding),
        (true, None) => return Err(RequestError::BodyNotAllowed),
        (false, None) => return Ok(()),
        (false, Some(v)) => {
            let v = v.trim_ascii();
            if cl.next().is_some() || v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                return Err(RequestError::BadContentLength);
            }
            if v.iter().any(|&d| d != b'0') {
                return Err(RequestError::BodyNotAllowed);
            }
        }
    }
    Ok(())
}

/// The WebSocket parts of a valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeInfo {
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// Offered subprotocols.
    pub protocols: Vec<String>,
    /// Offered extensions with their parameters.
    pub extensions: Vec<String>,
}

/// Whether a request asks for a WebSocket at all (`Upgrade: websocket`). A request that does not is plain
/// HTTP, not a bad upgrade.
pub fn is_upgrade_request(headers: &[Header]) -> bool {
    headers::has_token(headers, "upgrade", "websocket")
}

/// How to answer an upgrade: the subprotocol chosen and extra response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    /// The subprotocol, which must be one the client offered.
    pub protocol: Option<String>,
    /// Extra headers (e.g. `Set-Cookie`).
    pub headers: Vec<(String, String)>,
}

impl Accept {
    /// Chooses a subprotocol.
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocol = Some(p.into());
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The server's handshake: reads one request head, then becomes a [`Connection`] (or hands the leftover bytes
/// back after a plain HTTP request).
#[derive(Debug)]
pub struct ServerHandshake {
    config: Config,
    head: HeadBuffer,
    eof: bool,
    /// Length of the head once parsed (the bytes after it are the leftover).
    consumed: Option<usize>,
    failed: Option<RequestError>,
    clock: HandshakeClock,
}

impl ServerHandshake {
    /// A handshake waiting for a request.
    pub fn new(config: Config) -> Result<ServerHandshake, ConfigError> {
        config.validate()?;
        Ok(ServerHandshake {
            config,
            head: HeadBuffer::default(),
            eof: false,
            consumed: None,
            failed: None,
            clock: HandshakeClock::default(),
        })
    }

    /// Tells the handshake the time (see [`Connection::handle_timeout`]): the first call starts
    /// [`Config::handshake_timeout`]; once it passes before the head is complete, [`poll_request`](Self::poll_request)
    /// fails with [`RequestError::Timeout`] (408). The connection [`accept`](Self::accept) returns goes on
    /// from the last time given.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.clock.expired(now, self.config.handshake_timeout) && self.consumed.is_none() && self.failed.is_none() {
            self.fail(RequestError::Timeout);
        }
    }

    /// When the handshake times out, while it waits for the head.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.consumed.is_some() || self.failed.is_some() {
            return None;
        }
        self.clock.deadline
    }

    fn fail(&mut self, e: RequestError) {
        self.failed = Some(e);
        self.head.buf.clear();
        self.consumed = None;
    }

    /// Bytes read from the transport.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.head.extend(data);
        }
    }

    /// The transport ended.
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// The request once its head is complete; `Ok(None)` while more bytes are needed. Errors are sticky.
    pub fn poll_request(&mut self) -> Result<Option<Incoming>, RequestError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.consumed.is_some() {
            return Ok(None);
        }
        let r = self.parse();
        if let Err(e) = &r {
            self.fail(e.clone());
        }
        r
    }

    fn parse(&mut self) -> Result<Option<Incoming>, RequestError> {
        let max = self.config.max_handshake_bytes;
        let len = match self.head.head_len(max) {
            Err(_) if target_overflows(&self.head.buf[..self.head.buf.len().min(max)]) => {
                return Err(RequestError::TargetTooLong)
            }
            Err(_) => return Err(RequestError::HeadTooLarge),
            Ok(None) if self.eof => return Err(RequestError::Eof),
            Ok(None) => return Ok(None),
            Ok(Some(len)) => len,
        };
        let mut slots = vec![httparse::EMPTY_HEADER; self.config.max_headers];
        let mut req = httparse::Request::new(&mut slots);
        match req.parse(&self.head.buf[..len]) {
            Ok(httparse::Status::Complete(n)) if n == len => {}
            // Both parsers must agree where the head ends, or bytes could be smuggled past one of them.
            Ok(httparse::Status::Complete(_)) => return Err(RequestError::Malformed(MalformedHead::AmbiguousEnd)),
            Ok(httparse::Status::Partial) => return Err(RequestError::Malformed(MalformedHead::Incomplete)),
            Err(e) => {
                return Err(MalformedHead::from_parse(e).map_or(RequestError::TooManyHeaders, RequestError::Malformed))
            }
        }
        if req.path.unwrap_or("").len() > MAX_TARGET_LEN {
            return Err(RequestError::TargetTooLong);
        }
        let request = Request {
            method: req.method.unwrap_or("").to_owned(),
            target: req.path.unwrap_or("").to_owned(),
            version: req.version.unwrap_or(1),
            headers: req.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
        };
        if !is_upgrade_request(&request.headers) {
            self.consumed = Some(len);
            return Ok(Some(Incoming::Http(request)));
        }
        let info = validate_request(&request.method, request.version >= 1, &request.headers)?;
        if !target::valid_upgrade_target(&request.target) {
            return Err(RequestError::BadTarget);
        }
        self.consumed = Some(len);
        Ok(Some(Incoming::Upgrade(UpgradeRequest {
            request,
            key: info.key,
            protocols: info.protocols,
            extensions: info.extensions,
        })))
    }

    /// Bytes received after the request head (a pipelined request, or frames sent before the response). After
    /// an upgrade these can only be frames: an upgrade that announces a body is refused
    /// ([`RequestError::BodyNotAllowed`]).
    pub fn leftover(&self) -> &[u8] {
        match self.consumed {
            Some(n) => &self.head.buf[n..],
            None => &[],
        }
    }

    /// Accepts `req`: writes the 101 response into `out` (RFC 6455 §4.2.2) and returns the connection, which
    /// already holds the bytes that followed the request.
    pub fn accept(self, req: &UpgradeRequest, accept: Accept, out: &mut Vec<u8>) -> Result<Connection, BuildError> {
        if let Some(p) = &accept.protocol {
            if !req.protocols.iter().any(|o| o == p) {
                return Err(BuildError::UnofferedProtocol(p.clone()));
            }
        }
        let mut fields: Vec<(&str, &str)> = Vec::with_capacity(4 + accept.headers.len());
        let key = super::accept_key(req.key.as_bytes());
        fields.push(("Upgrade", "websocket"));
        fields.push(("Connection", "Upgrade"));
        fields.push(("Sec-WebSocket-Accept", &key));
        if let Some(p) = &accept.protocol {
            fields.push(("Sec-WebSocket-Protocol", p));
        }
        // permessage-deflate (RFC 7692 §5): answer the first acceptable offer with exactly one element.
        let deflate = self.config.deflate.as_ref().and_then(|d| d.negotiate(&req.extensions));
        let deflate_header = deflate.map(|p| p.response_header());
        if let Some(h) = &deflate_header {
            fields.push(("Sec-WebSocket-Extensions", h));
        }
        fields.extend(accept.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let mut head = Vec::new();
        write_head("HTTP/1.1 101 Switching Protocols", &fields, &mut head)?;
        let mut conn = Connection::new(Role::Server, self.config.clone(), [0; 32])?;
        if let Some(p) = deflate {
            conn.set_deflate(p);
        }
        conn.feed_leftover(self.leftover());
        if let Some(now) = self.clock.now {
            conn.handle_timeout(now);
        }
        out.extend_from_slice(&head);
        Ok(conn)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the bytes after the head, e.g. to keep serving HTTP after a plain request.
    pub fn into_leftover(self) -> Bytes {
        match self.consumed {
            Some(n) => self.head.buf.freeze().slice(n..),
            None => Bytes::new(),
        }
    }
}

/// Whether a head over the limit is an overlong request-target (414) rather than too many header bytes (431):
/// `head` is the first `max_handshake_bytes` bytes received. True when the request line's target is longer
/// than [`MAX_TARGET_LEN`] or still unterminated at the end of `head`. Runs once, when the limit is crossed.
fn target_overflows(head: &[u8]) -> bool {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(head.len());
    let line = &head[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let Some(sp) = line.iter().position(|&b| b == b' ') else { return false };
    let after = &line[sp + 1..];
    match after.iter().position(|&b| b == b' ' || b == b'\r') {
        Some(end) => end > MAX_TARGET_LEN,
        // Unterminated: the target runs to the end of what the limit allows, unless the line itself ended.
        None => after.len() > MAX_TARGET_LEN || start + sp + 1 + after.len() == head.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{ClientHandshake, ClientOutcome, ClientRequest};

    /// Each poll of the scanner looks at the bytes fed since the last one plus the two before them (a blank line
    /// split across feeds), so a head fed a byte at a time costs at most this many examined bytes per byte.
    const SCAN_WORK_PER_BYTE: u64 = 3;

    /// A head of exactly `n` bytes: `lines`, a padding header, and the blank line.
    fn padded(lines: &[&str], n: usize) -> Vec<u8> {
        let mut head = lines.join("\r\n").into_bytes();
        head.extend_from_slice(b"\r\nX-Pad: ");
        let pad = n - head.len() - 4;
        head.resize(head.len() + pad, b'p');
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(head.len(), n);
        head
    }

    fn config() -> Config {
        Config { max_handshake_bytes: 32 << 10, ..Config::default() }
    }

    /// The README's claim (issue 16): the handshake scanner never re-scans old bytes, so a head trickled a byte at
    /// a time costs linear time. The work per byte is the same for 1 KiB and 16 KiB heads, and at most
    /// [`SCAN_WORK_PER_BYTE`]; a scanner that re-scanned its buffer would do about n/2 per byte (8,192 at 16 KiB).
    #[test]
    fn scanner_work_per_byte_is_flat_from_1_to_16_kib() {
        let request = [
            "GET /chat HTTP/1.1",
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ];
        let mut server_per_byte = Vec::new();
        let mut client_per_byte = Vec::new();
        for kib in [1usize, 2, 4, 8, 16] {
            let n = kib << 10;
            let head = padded(&request, n);
            let mut hs = ServerHandshake::new(config()).unwrap();
            for (i, b) in head.iter().enumerate() {
                hs.feed(core::slice::from_ref(b));
                let r = hs.poll_request().unwrap();
                assert_eq!(r.is_some(), i + 1 == n, "byte {i} of {n}");
            }
            let work = hs.head.examined;
            assert!(work <= SCAN_WORK_PER_BYTE * n as u64, "server: {work} bytes examined for a {n}-byte head");
            server_per_byte.push(work as f64 / n as f64);

            let mut client = ClientHandshake::new(ClientRequest::new("h", "/"), config(), [1; 32]).unwrap();
            let accept = format!("Sec-WebSocket-Accept: {}", crate::handshake::accept_key(client.key().as_bytes()));
            let head =
                padded(&["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", &accept], n);
            for (i, b) in head.iter().enumerate() {
                client.feed(core::slice::from_ref(b));
                let r = client.poll_response().unwrap();
                assert_eq!(r.is_some(), i + 1 == n, "byte {i} of {n}");
                if let Some(o) = r {
                    assert!(matches!(o, ClientOutcome::Accepted { .. }));
                }
            }
            let work = client.scan_work();
            assert!(work <= SCAN_WORK_PER_BYTE * n as u64, "client: {work} bytes examined for a {n}-byte head");
            client_per_byte.push(work as f64 / n as f64);
        }
        for per_byte in [&server_per_byte, &client_per_byte] {
            let (lo, hi) = per_byte.iter().fold((f64::MAX, 0f64), |(lo, hi), &w| (lo.min(w), hi.max(w)));
            assert!(hi - lo < 0.01, "work per byte not flat from 1 to 16 KiB: {per_byte:?}");
        }
    }

    /// The 414 / 431 split when the limit is crossed mid-request-line.
    #[test]
    fn target_overflow_detection() {
        let long = "a".repeat(MAX_TARGET_LEN + 1);
        assert!(target_overflows(format!("GET /{long}").as_bytes()), "target over the limit, unterminated");
        assert!(target_overflows(b"GET /aaaa"), "unterminated at the end of what the limit allows");
        assert!(target_overflows(b"\r\nGET /aaaa"), "after an ignored empty line");
        assert!(target_overflows(format!("GET /{long} HTTP/1.1\r\nX: y").as_bytes()));
        assert!(!target_overflows(b"GET /a HTTP/1.1\r\nX-Big: aaaa"), "a header crossed the limit: 431");
        assert!(!target_overflows(b"GET /a HTTP/1."), "the version crossed the limit");
        assert!(!target_overflows(b"GETGETGETGET"), "no target at all");
    }
}
