//! The server side of the opening handshake (RFC 6455 §4.2).

use bytes::Bytes;
use core::fmt;

use super::headers::{self, Header};
use super::http::HeadBuffer;
use super::{write_head, BuildError};
use crate::config::{Config, ConfigError};
use crate::connection::{Connection, Role};

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`).
    pub method: String,
    /// The request target: path and query (`/chat?room=1`).
    pub path: String,
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

    /// The path without the query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
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

    /// The `Host` header.
    pub fn host(&self) -> &str {
        self.request.header_str("host").unwrap_or("")
    }
}

/// What arrived: a WebSocket upgrade, or a plain HTTP request (serve a page, then close or keep going).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A valid upgrade request.
    Upgrade(UpgradeRequest),
    /// An HTTP request that does not ask for a WebSocket (no `Upgrade: websocket`).
    Http(Request),
}

/// A request the server must refuse: the peer's fault, with the HTTP status to answer
/// ([`write_response`](RequestError::write_response) writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The head is larger than [`Config::max_handshake_bytes`]. 431.
    HeadTooLarge,
    /// More header fields than [`Config::max_headers`]. 431.
    TooManyHeaders,
    /// Not a valid HTTP/1.x request head. 400.
    Malformed(String),
    /// An upgrade with a method other than GET (RFC 6455 §4.1). 400.
    NotGet,
    /// An upgrade over HTTP/1.0. 400.
    NotHttp11,
    /// No (or several) `Host` header. 400.
    MissingHost,
    /// `Upgrade` lacks the `websocket` token (RFC 6455 §4.2.1 item 3). 400. Only from
    /// [`validate_request`]: [`ServerHandshake`] reports such a request as [`Incoming::Http`].
    MissingUpgrade,
    /// `Connection` lacks the `upgrade` token. 400.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` missing, repeated, or not 16 bytes of base64. 400.
    BadKey,
    /// `Sec-WebSocket-Version` is not 13. 426 with `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
    /// The transport ended before the head was complete. Nothing can be answered.
    Eof,
}

impl RequestError {
    /// The status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::UnsupportedVersion => 426,
            _ => 400,
        }
    }

    /// Writes the HTTP response refusing the request (with `Connection: close`); nothing for
    /// [`Eof`](Self::Eof).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        if *self == RequestError::Eof {
            return;
        }
        let body = self.to_string();
        let extra: &[(&str, &str)] = match self {
            RequestError::UnsupportedVersion => &[("Sec-WebSocket-Version", "13")],
            _ => &[],
        };
        super::write_response(self.status(), extra, body.as_bytes(), out);
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::HeadTooLarge => f.write_str("request header fields too large"),
            RequestError::TooManyHeaders => f.write_str("too many request header fields"),
            RequestError::Malformed(e) => write!(f, "malformed HTTP request: {e}"),
            RequestError::NotGet => f.write_str("a WebSocket upgrade must use GET"),
            RequestError::NotHttp11 => f.write_str("a WebSocket upgrade needs HTTP/1.1"),
            RequestError::MissingHost => f.write_str("missing or repeated Host header"),
            RequestError::MissingUpgrade => f.write_str("Upgrade header lacks the websocket token"),
            RequestError::MissingConnectionUpgrade => f.write_str("Connection header lacks the upgrade token"),
            RequestError::BadKey => f.write_str("missing or invalid Sec-WebSocket-Key"),
            RequestError::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version (only 13)"),
            RequestError::Eof => f.write_str("connection closed before the request head was complete"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Checks the WebSocket headers of a request already parsed by another HTTP stack (hyper, axum…), RFC 6455
/// §4.2.1. Returns the upgrade's key, offered subprotocols and extensions; compute the answer's
/// `Sec-WebSocket-Accept` with [`accept_key`](super::accept_key).
///
/// `http11` is whether the request is HTTP/1.1 (or later).
pub fn validate_request(method: &str, http11: bool, headers: &[Header]) -> Result<UpgradeInfo, RequestError> {
    // Methods are case-sensitive (RFC 9110 §9.1).
    if method != "GET" {
        return Err(RequestError::NotGet);
    }
    if !http11 {
        return Err(RequestError::NotHttp11);
    }
    match headers::single(headers, "host") {
        Ok(Some(_)) => {}
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
    let too_many = |_| RequestError::Malformed(format!("more than {} list elements", headers::MAX_LIST_ELEMENTS));
    Ok(UpgradeInfo {
        key: String::from_utf8_lossy(key).into_owned(),
        protocols: headers::list(headers, "sec-websocket-protocol").map_err(too_many)?,
        extensions: headers::list(headers, "sec-websocket-extensions").map_err(too_many)?,
    })
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
}

impl ServerHandshake {
    /// A handshake waiting for a request.
    pub fn new(config: Config) -> Result<ServerHandshake, ConfigError> {
        config.validate()?;
        Ok(ServerHandshake { config, head: HeadBuffer::default(), eof: false, consumed: None, failed: None })
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
            self.failed = Some(e.clone());
            self.head.buf.clear();
            self.consumed = None;
        }
        r
    }

    fn parse(&mut self) -> Result<Option<Incoming>, RequestError> {
        let len = match self.head.head_len(self.config.max_handshake_bytes) {
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
            Ok(httparse::Status::Complete(_)) => return Err(RequestError::Malformed("ambiguous end of head".into())),
            Ok(httparse::Status::Partial) => return Err(RequestError::Malformed("incomplete head".into())),
            Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
            Err(e) => return Err(RequestError::Malformed(e.to_string())),
        }
        let request = Request {
            method: req.method.unwrap_or("").to_owned(),
            path: req.path.unwrap_or("").to_owned(),
            version: req.version.unwrap_or(1),
            headers: req.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect(),
        };
        self.consumed = Some(len);
        if !is_upgrade_request(&request.headers) {
            return Ok(Some(Incoming::Http(request)));
        }
        let info = validate_request(&request.method, request.version >= 1, &request.headers)?;
        Ok(Some(Incoming::Upgrade(UpgradeRequest {
            request,
            key: info.key,
            protocols: info.protocols,
            extensions: info.extensions,
        })))
    }

    /// Bytes received after the request head (a pipelined request, or frames sent before the response).
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
                return Err(BuildError(format!("subprotocol {p:?} was not offered")));
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
        let mut conn =
            Connection::new(Role::Server, self.config.clone(), [0; 32]).map_err(|e| BuildError(e.0.into()))?;
        if let Some(p) = deflate {
            conn.set_deflate(p);
        }
        conn.feed_leftover(self.leftover());
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
