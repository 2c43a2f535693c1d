//! The client side of the opening handshake (RFC 6455 §4.1).

#[allow(unused_imports)]
use crate::prelude::*;

use base64::Engine as _;
use bytes::Bytes;
use core::fmt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::headers::{self, Header};
use super::http::{HeadBuffer, MalformedHead};
use super::{write_head, BuildError, Uri};
use crate::config::Config;
use crate::connection::{Connection, Role};
use crate::deflate::DeflateParamError;
use crate::http_fields::extension_name;
use crate::time::Instant;

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    /// The `Host` header value (`example.com`, `127.0.0.1:9001`).
    pub host: String,
    /// The request target: path and query.
    pub resource: String,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// Extension offers (full elements with parameters). Any extension the server answers with must be one
    /// of these.
    pub extensions: Vec<String>,
    /// Extra headers (`Origin`, `Authorization`, cookies…).
    pub headers: Vec<(String, String)>,
}

impl ClientRequest {
    /// A request for `resource` on `host`.
    pub fn new(host: impl Into<String>, resource: impl Into<String>) -> Self {
        ClientRequest {
            host: host.into(),
            resource: resource.into(),
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A request for a parsed `ws://` or `wss://` URI.
    pub fn from_uri(uri: &Uri) -> Self {
        Self::new(uri.host_header(), uri.resource.clone())
    }

    /// Offers a subprotocol.
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocols.push(p.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// An HTTP response head and body, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header fields in order.
    pub headers: Vec<Header>,
    /// The body (empty for a 101). For a rejection, up to [`Config::max_response_body`] bytes, with chunked
    /// transfer coding removed.
    pub body: Bytes,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        headers::values(&self.headers, name).next()
    }
}

/// The server's answer was not a valid WebSocket acceptance. The connection cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// The head is larger than [`Config::max_handshake_bytes`] or has too many fields.
    HeadTooLarge,
    /// Not a valid HTTP/1.x response head, or not a 101 (to [`validate_response`]).
    Malformed(MalformedHead),
    /// A 101 without `Upgrade: websocket`.
    MissingUpgrade,
    /// A 101 without the `upgrade` token in `Connection`.
    MissingConnectionUpgrade,
    /// A 101 that announces a body: a `Content-Length` other than one `0`, or any `Transfer-Encoding`. A 1xx
    /// response has no body (RFC 9112 §6.3 item 1; RFC 9110 §8.6 and RFC 9112 §6.1: a server MUST NOT send
    /// either field in a 1xx), so an intermediary and the client would disagree on where the frames begin.
    UnexpectedBody,
    /// `Sec-WebSocket-Accept` missing or wrong for our key.
    BadAccept,
    /// A subprotocol we did not offer (or several).
    UnofferedProtocol(String),
    /// An extension we did not offer.
    UnofferedExtension(String),
    /// An extension answer with invalid or unrequested parameters (RFC 7692 §7.1).
    BadExtension(DeflateParamError),
    /// The transport ended before the response was complete.
    Eof,
    /// The response did not arrive within [`Config::handshake_timeout`] (see
    /// [`ClientHandshake::handle_timeout`]).
    Timeout,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::HeadTooLarge => f.write_str("response head too large"),
            ResponseError::Malformed(e) => write!(f, "malformed HTTP response: {e}"),
            ResponseError::MissingUpgrade => f.write_str("101 response without Upgrade: websocket"),
            ResponseError::MissingConnectionUpgrade => f.write_str("101 response without Connection: upgrade"),
            ResponseError::UnexpectedBody => f.write_str("101 response announcing a body"),
            ResponseError::BadAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            ResponseError::UnofferedProtocol(p) => write!(f, "server chose subprotocol {p:?}, which was not offered"),
            ResponseError::UnofferedExtension(e) => write!(f, "server chose extension {e:?}, which was not offered"),
            ResponseError::BadExtension(e) => write!(f, "invalid extension answer: {e}"),
            ResponseError::Eof => f.write_str("connection closed before the response was complete"),
            ResponseError::Timeout => f.write_str("the response did not arrive in time"),
        }
    }
}

impl core::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ResponseError::BadExtension(e) => Some(e),
            _ => None,
        }
    }
}

/// What a valid 101 agreed to (RFC 6455 §4.1, client steps 5–6): the subprotocol and extensions the server
/// selected from the client's offer. (The server's side of the same choice is [`Accept`](super::Accept).)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
    /// The extensions the server accepted (elements with parameters).
    pub extensions: Vec<String>,
}

/// Checks a response parsed by another HTTP stack (RFC 6455 §4.1, client steps 1–6), and that the 101 announces
/// no body ([`ResponseError::UnexpectedBody`]).
pub fn validate_response(
    status: u16,
    headers: &[Header],
    key: &str,
    offered_protocols: &[String],
    offered_extensions: &[String],
) -> Result<Negotiated, ResponseError> {
    if status != 101 {
        return Err(ResponseError::Malformed(MalformedHead::UnexpectedStatus(status)));
    }
    let zero = |v: &[u8]| {
        let v = v.trim_ascii();
        !v.is_empty() && v.iter().all(|&d| d == b'0')
    };
    let zero_length = match headers::single(headers, "content-length") {
        Ok(None) => true,
        Ok(Some(v)) => zero(v),
        Err(()) => false, // repeated: ambiguous framing
    };
    if headers::values(headers, "transfer-encoding").next().is_some() || !zero_length {
        return Err(ResponseError::UnexpectedBody);
    }
    if !headers::has_token(headers, "upgrade", "websocket") {
        return Err(ResponseError::MissingUpgrade);
    }
    if !headers::has_token(headers, "connection", "upgrade") {
        return Err(ResponseError::MissingConnectionUpgrade);
    }
    let expected = super::accept_key(key.as_bytes());
    match headers::single(headers, "sec-websocket-accept") {
        Ok(Some(v)) if v.trim_ascii() == expected.as_bytes() => {}
        _ => return Err(ResponseError::BadAccept),
    }
    negotiated(headers, offered_protocols, offered_extensions)
}

/// The subprotocol and extensions a server's answer selected, checked against the offer (RFC 6455 §4.1 client
/// steps 5–6; the same in an RFC 8441 §5 answer).
pub(super) fn negotiated(
    headers: &[Header],
    offered_protocols: &[String],
    offered_extensions: &[String],
) -> Result<Negotiated, ResponseError> {
    let too_many = |_| ResponseError::Malformed(MalformedHead::TooManyListElements);
    let protocols = headers::list(headers, "sec-websocket-protocol").map_err(too_many)?;
    let protocol = match protocols.as_slice() {
        [] => None,
        [p] if offered_protocols.iter().any(|o| o == p) => Some(p.clone()),
        _ => return Err(ResponseError::UnofferedProtocol(protocols.join(", "))),
    };
    let extensions = headers::list(headers, "sec-websocket-extensions").map_err(too_many)?;
    for e in &extensions {
        let name = extension_name(e);
        if !offered_extensions.iter().any(|o| extension_name(o).eq_ignore_ascii_case(name)) {
            return Err(ResponseError::UnofferedExtension(e.clone()));
        }
    }
    Ok(Negotiated { protocol, extensions })
}

/// The result of a client handshake.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // produced once per connection; boxing would only add an allocation
#[non_exhaustive]
pub enum ClientOutcome {
    /// The server accepted: the connection (holding any frames that followed the response), what was agreed,
    /// and the response head.
    Accepted {
        /// The connection, ready to use.
        connection: Connection,
        /// Negotiated subprotocol and extensions.
        negotiated: Negotiated,
        /// The 101 response.
        response: Response,
    },
    /// The server answered with another status (a 401, a redirect…): the response with its body.
    Rejected(Response),
}

/// The client's handshake: writes the request, then reads and validates the response.
#[derive(Debug)]
pub struct ClientHandshake {
    config: Config,
    request: ClientRequest,
    key: String,
    conn_seed: [u8; 32],
    head: HeadBuffer,
    /// A non-101 head waiting for its body: (response, body start, chunked decoder).
    pending: Option<(Response, usize, Dechunker)>,
    eof: bool,
    done: bool,
    /// The error that ended the handshake, returned again by later polls.
    failed: Option<ResponseError>,
    clock: super::HandshakeClock,
}

impl ClientHandshake {
    /// Starts a handshake. `seed` (32 bytes from the OS's random source) makes the `Sec-WebSocket-Key` and the
    /// connection's masking keys; a fixed seed makes the conversation reproducible.
    pub fn new(request: ClientRequest, config: Config, seed: [u8; 32]) -> Result<ClientHandshake, BuildError> {
        config.validate()?;
        let mut rng = StdRng::from_seed(seed);
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let mut conn_seed = [0u8; 32];
        rng.fill_bytes(&mut conn_seed);
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let hs = ClientHandshake {
            config,
            request,
            key,
            conn_seed,
            head: HeadBuffer::default(),
            pending: None,
            eof: false,
            done: false,
            failed: None,
            clock: super::HandshakeClock::default(),
        };
        hs.write_request(&mut Vec::new())?;
        Ok(hs)
    }

    /// Bytes the head scanner has examined so far (tests of its linear time).
    #[cfg(test)]
    pub(crate) fn scan_work(&self) -> u64 {
        self.head.examined
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Appends the GET request (RFC 6455 §4.1) to `out`.
    pub fn write_request(&self, out: &mut Vec<u8>) -> Result<(), BuildError> {
        let r = &self.request;
        if r.resource.is_empty() || !r.resource.bytes().all(|b| b > 0x20 && b != 0x7f) {
            return Err(BuildError::InvalidResource(r.resource.clone()));
        }
        let protocols = r.protocols.join(", ");
        let extensions = self.offered_extensions().join(", ");
        let mut fields: Vec<(&str, &str)> = vec![
            ("Host", &r.host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", &self.key),
            ("Sec-WebSocket-Version", "13"),
        ];
        if !r.protocols.is_empty() {
            fields.push(("Sec-WebSocket-Protocol", &protocols));
        }
        if !extensions.is_empty() {
            fields.push(("Sec-WebSocket-Extensions", &extensions));
        }
        fields.extend(r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        write_head(&format!("GET {} HTTP/1.1", r.resource), &fields, out)
    }

    /// The extension elements offered: the request's, plus permessage-deflate when configured and not
    /// already there.
    fn offered_extensions(&self) -> Vec<String> {
        let mut offered = self.request.extensions.clone();
        if let Some(d) = &self.config.deflate {
            let name = crate::deflate::EXTENSION_NAME;
            if !offered.iter().any(|e| extension_name(e).eq_ignore_ascii_case(name)) {
                offered.push(d.offer());
            }
        }
        offered
    }

    /// Tells the handshake the time (see [`Connection::handle_timeout`]): the first call starts
    /// [`Config::handshake_timeout`]; once it passes before the response is complete,
    /// [`poll_response`](Self::poll_response) fails with [`ResponseError::Timeout`]. The connection it returns
    /// goes on from the last time given.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.clock.expired(now, self.config.handshake_timeout) && !self.done {
            self.done = true;
            self.failed = Some(ResponseError::Timeout);
        }
    }

    /// When the handshake times out, while it waits for the response.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        self.clock.deadline
    }

    /// Bytes read from the transport.
    pub fn feed(&mut self, data: &[u8]) {
        if !self.done {
            self.head.extend(data);
        }
    }

    /// The transport ended (a rejection's body without `Content-Length` ends here).
    pub fn feed_eof(&mut self) {
        self.eof = true;
    }

    /// The outcome once the response (and, for a rejection, its body) is complete; `Ok(None)` while more bytes
    /// are needed. Errors are sticky.
    pub fn poll_response(&mut self) -> Result<Option<ClientOutcome>, ResponseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.done {
            return Ok(None);
        }
        let r = self.parse();
        if !matches!(r, Ok(None)) {
            self.done = true;
        }
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn parse(&mut self) -> Result<Option<ClientOutcome>, ResponseError> {
        if self.pending.is_some() {
            return Ok(self.body().map(ClientOutcome::Rejected));
        }
        let len = match self.head.head_len(self.config.max_handshake_bytes) {
            Err(_) => return Err(ResponseError::HeadTooLarge),
            Ok(None) if self.eof => return Err(ResponseError::Eof),
            Ok(None) => return Ok(None),
            Ok(Some(len)) => len,
        };
        let mut slots = vec![httparse::EMPTY_HEADER; self.config.max_headers];
        let mut resp = httparse::Response::new(&mut slots);
        match resp.parse(&self.head.buf[..len]) {
            Ok(httparse::Status::Complete(n)) if n == len => {}
            Ok(httparse::Status::Complete(_)) => return Err(ResponseError::Malformed(MalformedHead::AmbiguousEnd)),
            Ok(httparse::Status::Partial) => return Err(ResponseError::Malformed(MalformedHead::Incomplete)),
            Err(e) => {
                return Err(MalformedHead::from_parse(e).map_or(ResponseError::HeadTooLarge, ResponseError::Malformed))
            }
        }
        let response = Response {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or("").to_owned(),
            headers: resp.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
            body: Bytes::new(),
        };
        if response.status != 101 {
            self.pending = Some((response, len, Dechunker::default()));
            return Ok(self.body().map(ClientOutcome::Rejected));
        }
        let negotiated = validate_response(
            response.status,
            &response.headers,
            &self.key,
            &self.request.protocols,
            &self.offered_extensions(),
        )?;
        let mut connection =
            Connection::new(Role::Client, self.config.clone(), self.conn_seed).expect("config validated in new");
        if let Some(d) = &self.config.deflate {
            if let Some(p) =
                crate::deflate::from_response(d, &negotiated.extensions).map_err(ResponseError::BadExtension)?
            {
                connection.set_deflate(p);
            }
        }
        connection.feed_leftover(&self.head.buf[len..]);
        if let Some(now) = self.clock.now {
            connection.handle_timeout(now);
        }
        Ok(Some(ClientOutcome::Accepted { connection, negotiated, response }))
    }

    /// The rejection with its body, once the body is complete (or capped, or ended by EOF).
    fn body(&mut self) -> Option<Response> {
        let (resp, start, dechunker) = self.pending.as_mut().expect("caller checked");
        let raw = &self.head.buf[*start..];
        let cap = self.config.max_response_body;
        // Stop waiting once this much raw body arrived, whatever the framing says.
        let raw_limit = cap.saturating_mul(2).max(cap + 4096);
        let chunked = headers::has_token(&resp.headers, "transfer-encoding", "chunked");
        let length = headers::values(&resp.headers, "content-length")
            .next()
            .map(|v| v.trim_ascii())
            .filter(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit))
            .and_then(|v| core::str::from_utf8(v).ok()?.parse::<usize>().ok());
        let no_body = matches!(resp.status, 100..=199 | 204 | 304);
        let body: Bytes = if no_body {
            Bytes::new()
        } else if chunked {
            let finished = dechunker.advance(raw, cap);
            if !finished && !self.eof && raw.len() < raw_limit && dechunker.body.len() < cap {
                return None;
            }
            core::mem::take(&mut dechunker.body).into()
        } else if let Some(n) = length {
            let want = n.min(cap);
            if raw.len() < want && !self.eof {
                return None;
            }
            Bytes::copy_from_slice(&raw[..want.min(raw.len())])
        } else {
            if raw.len() < cap && !self.eof {
                return None;
            }
            Bytes::copy_from_slice(&raw[..cap.min(raw.len())])
        };
        let (mut resp, _, _) = self.pending.take().expect("checked");
        resp.body = body;
        Some(resp)
    }
}

/// An incremental decoder of a chunked body (RFC 9112 §7.1): each call looks only at bytes that arrived since
/// the last one, so a body trickled in tiny reads costs linear time.
#[derive(Debug, Default)]
struct Dechunker {
    /// Offset of the next undecoded byte in the raw body.
    at: usize,
    state: ChunkState,
    body: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data, this many bytes to go.
    Data(usize),
    /// The line end after chunk data.
    DataEnd,
    /// The last chunk arrived (trailers are ignored).
    Done,
    /// Not chunked encoding: decoding stopped.
    Invalid,
}

/// Longest chunk-size line accepted (size, extensions).
const MAX_CHUNK_LINE: usize = 1024;

impl Dechunker {
    /// Decodes the newly arrived part of `raw`, keeping at most `cap` body bytes. True once finished.
    fn advance(&mut self, raw: &[u8], cap: usize) -> bool {
        loop {
            match self.state {
                ChunkState::Size => {
                    let rest = &raw[self.at..];
                    let Some(nl) = rest.iter().take(MAX_CHUNK_LINE).position(|&b| b == b'\n') else {
                        if rest.len() >= MAX_CHUNK_LINE {
                            self.state = ChunkState::Invalid;
                            continue;
                        }
                        return false;
                    };
                    let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
                    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]).trim_ascii();
                    let size = core::str::from_utf8(digits)
                        .ok()
                        .filter(|d| !d.is_empty() && d.len() <= 16 && d.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|d| usize::from_str_radix(d, 16).ok());
                    self.at += nl + 1;
                    self.state = match size {
                        Some(0) => ChunkState::Done,
                        Some(n) => ChunkState::Data(n),
                        None => ChunkState::Invalid,
                    };
                }
                ChunkState::Data(n) => {
                    let avail = raw.len() - self.at;
                    if avail == 0 {
                        return false;
                    }
                    let take = n.min(avail);
                    let keep = take.min(cap.saturating_sub(self.body.len()));
                    self.body.extend_from_slice(&raw[self.at..self.at + keep]);
                    self.at += take;
                    self.state = if take == n { ChunkState::DataEnd } else { ChunkState::Data(n - take) };
                }
                ChunkState::DataEnd => match raw.get(self.at..self.at + 2) {
                    Some(b"\r\n") => {
                        self.at += 2;
                        self.state = ChunkState::Size;
                    }
                    _ if raw.get(self.at) == Some(&b'\n') => {
                        self.at += 1;
                        self.state = ChunkState::Size;
                    }
                    None if raw.len() - self.at < 2 && raw.get(self.at).is_none_or(|&b| b == b'\r') => return false,
                    _ => self.state = ChunkState::Invalid,
                },
                ChunkState::Done | ChunkState::Invalid => return true,
            }
        }
    }
}
