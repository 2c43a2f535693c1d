//! The opening handshake (RFC 6455 §4), both roles, as state machines fed bytes in any chunking.
//!
//! - Server: [`ServerHandshake`] reads a request head and reports an [`Incoming::Upgrade`] (the application
//!   inspects path, headers, subprotocols, origin, then [`accept`](ServerHandshake::accept)s or writes a
//!   rejection with [`write_response`]) or an [`Incoming::Http`] plain request (serve a page on the same port).
//! - Client: [`ClientHandshake`] writes the request and validates the response, returning a [`Connection`]
//!   or the rejection ([`Response`] with status, headers and body).
//! - Another HTTP stack already parsed the request (hyper, axum, HTTP/2 per RFC 8441)? Use [`ServerUpgrade`]
//!   and [`ClientUpgrade`]: one call gives the answer and a ready [`Connection`] (lower level:
//!   [`validate_request`], [`accept_key`]).
//!
//! Bytes that arrive after a head (frames pipelined behind it) are handed to the [`Connection`], never lost.
//!
//! [`Connection`]: crate::Connection

#[allow(unused_imports)]
use crate::prelude::*;

mod client;
mod embed;
mod headers;
mod http;
mod server;
mod target;
mod uri;

pub use crate::http_fields::{extension_name, split_list};
pub use client::{
    validate_response, ClientHandshake, ClientOutcome, ClientRequest, Negotiated, Response, ResponseError,
};
#[cfg(feature = "http")]
pub use embed::headers_from;
pub use embed::{wants_upgrade, Accepted, ClientUpgrade, Form, ServerUpgrade};
pub use headers::{accept_key, Header, GUID, MAX_LIST_ELEMENTS};
pub use http::MalformedHead;
pub use server::{
    is_upgrade_request, validate_request, Accept, Incoming, Request, RequestError, ServerHandshake, UpgradeInfo,
    UpgradeRequest,
};
pub use target::MAX_TARGET_LEN;
pub use uri::{Uri, UriError};

use core::fmt;

use crate::error::ConfigError;

/// The caller asked to build an invalid head (a header with CR/LF, an unoffered subprotocol…) or gave an
/// invalid [`Config`](crate::Config): the caller's mistake. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A header name that is not an RFC 9110 token (§5.1), or a value with control characters such as CR or
    /// LF (§5.5): written as is, it could inject header fields.
    InvalidHeader {
        /// The header name.
        name: String,
        /// The header value.
        value: String,
    },
    /// A request-target that is empty or has spaces or control characters (RFC 9112 §3.2).
    InvalidResource(String),
    /// [`Accept::protocol`](crate::handshake::Accept::protocol) names a subprotocol the client did not offer
    /// (RFC 6455 §4.2.2: the server selects one of the client's values).
    UnofferedProtocol(String),
    /// The configuration is inconsistent.
    Config(ConfigError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot build handshake: ")?;
        match self {
            BuildError::InvalidHeader { name, value } => write!(f, "invalid header {name:?}: {value:?}"),
            BuildError::InvalidResource(r) => write!(f, "invalid resource {r:?}"),
            BuildError::UnofferedProtocol(p) => write!(f, "subprotocol {p:?} was not offered"),
            BuildError::Config(e) => f.write_str(e.reason()),
        }
    }
}

impl core::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::Config(e)
    }
}

/// Writes a start line and header fields, checking names and values (no header injection).
pub(crate) fn write_head(start: &str, fields: &[(&str, &str)], out: &mut Vec<u8>) -> Result<(), BuildError> {
    for (n, v) in fields {
        if !headers::valid_name(n) || !headers::valid_value(v) {
            return Err(BuildError::InvalidHeader { name: n.to_string(), value: v.to_string() });
        }
    }
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in fields {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Either handshake as a driver's head-reading loop sees it: bytes and end of stream in, the time in, the
/// deadline out ([`Config::handshake_timeout`](crate::Config::handshake_timeout)). Implemented by
/// [`ServerHandshake`] and [`ClientHandshake`] (their inherent methods of the same names), so one loop serves
/// both roles.
pub trait HeadInput {
    /// Bytes read from the transport.
    fn feed(&mut self, data: &[u8]);
    /// The transport ended.
    fn feed_eof(&mut self);
    /// Tells the handshake the time.
    fn handle_timeout(&mut self, now: crate::Instant);
    /// When the handshake times out, while it waits for its head.
    fn poll_timeout(&self) -> Option<crate::Instant>;
}

macro_rules! head_input {
    ($t:ty) => {
        impl HeadInput for $t {
            fn feed(&mut self, data: &[u8]) {
                <$t>::feed(self, data)
            }
            fn feed_eof(&mut self) {
                <$t>::feed_eof(self)
            }
            fn handle_timeout(&mut self, now: crate::Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn poll_timeout(&self) -> Option<crate::Instant> {
                <$t>::poll_timeout(self)
            }
        }
    };
}

head_input!(ServerHandshake);
head_input!(ClientHandshake);

/// The header fields every 426 Upgrade Required answer carries: the protocol to upgrade to, and `Upgrade` named
/// in `Connection` (RFC 9110 §15.5.22, §7.8). [`RequestError::response_headers`] adds them for a wrong version;
/// add them to a 426 of your own (a plain GET on a WebSocket path).
pub const UPGRADE_REQUIRED: [(&str, &str); 2] = [("Upgrade", "websocket"), ("Connection", "Upgrade")];

/// A handshake's deadline, on the caller's clock: armed by the first `handle_timeout`.
#[derive(Debug, Default)]
pub(crate) struct HandshakeClock {
    pub(crate) now: Option<crate::Instant>,
    pub(crate) deadline: Option<crate::Instant>,
}

impl HandshakeClock {
    /// Records `now` (time never goes back); whether the deadline has passed.
    pub(crate) fn expired(&mut self, now: crate::Instant, timeout: Option<core::time::Duration>) -> bool {
        let now = self.now.map_or(now, |before| before.max(now));
        if self.now.is_none() {
            self.deadline = timeout.map(|t| now + t);
        }
        self.now = Some(now);
        self.deadline.is_some_and(|d| now >= d)
    }
}

/// The only `Sec-WebSocket-Version` spoken (RFC 6455 §4.1).
pub(crate) const SUPPORTED_VERSION: &str = "13";

/// The reason phrase for common statuses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a complete HTTP/1.1 response with a body and `Connection: close`: a rejection of an upgrade, or a
/// page served on the WebSocket port. Invalid extra headers (CR/LF in a value, a bad name) are skipped, and so
/// are `Content-Length` and `Transfer-Encoding` (the body's length is written here). A `Connection` header given
/// in `headers` (e.g. `Upgrade` in a 426, [`UPGRADE_REQUIRED`]) is kept, as one field with `close` added.
pub fn write_response(status: u16, headers: &[(&str, &str)], body: &[u8], out: &mut Vec<u8>) {
    let start = format!("HTTP/1.1 {status} {}", reason_phrase(status));
    let len = body.len().to_string();
    let framing = |n: &str| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding");
    let valid = |n: &str, v: &str| headers::valid_name(n) && headers::valid_value(v) && !framing(n);
    let mut connection: Vec<&str> = headers
        .iter()
        .filter(|(n, v)| n.eq_ignore_ascii_case("connection") && valid(n, v))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !connection.iter().any(|t| t.eq_ignore_ascii_case("close")) {
        connection.push("close");
    }
    let connection = connection.join(", ");
    let mut fields: Vec<(&str, &str)> =
        headers.iter().copied().filter(|(n, v)| valid(n, v) && !n.eq_ignore_ascii_case("connection")).collect();
    fields.push(("Content-Length", &len));
    fields.push(("Connection", &connection));
    write_head(&start, &fields, out).expect("fields were filtered");
    out.extend_from_slice(body);
}
