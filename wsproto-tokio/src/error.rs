//! The adapter's error: I/O, or one of the core's typed errors.

use core::fmt;
use std::io;

use wsproto::handshake::{BuildError, RequestError, Response, ResponseError, UriError};
use wsproto::{ProtocolError, SendError};

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The opening handshake took too long.
    Handshake,
    /// The peer did not answer a keepalive ping in time.
    Keepalive,
}

/// Everything that can go wrong in the adapter.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The peer broke the protocol; the close frame with [`ProtocolError::close_code`] was sent. For
    /// [`ProtocolError::UnexpectedEof`] the transport ended without a close (1006).
    Protocol(ProtocolError),
    /// The caller asked for something the protocol forbids now (nothing was sent; the connection is usable).
    Send(SendError),
    /// Server handshake: the request was refused with [`RequestError::status`] (the response was sent).
    Request(RequestError),
    /// Client handshake: the 101 response was invalid.
    Response(ResponseError),
    /// Client handshake: the server answered with another status (a 401, a redirect…).
    Rejected(Box<Response>),
    /// A handshake head could not be built (bad header, unoffered subprotocol).
    Build(BuildError),
    /// A `ws://` / `wss://` URL was invalid.
    Uri(UriError),
    /// A deadline passed.
    Timeout(TimeoutKind),
    /// The connection is closed: nothing more can be sent or received.
    ConnectionClosed,
    /// A `wss://` URL, but this build has no TLS backend (Cargo features `rustls`, `rustls-platform-verifier`,
    /// `native-tls`).
    TlsUnavailable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "{e}"),
            Error::Send(e) => write!(f, "{e}"),
            Error::Request(e) => write!(f, "handshake refused with {}: {e}", e.status()),
            Error::Response(e) => write!(f, "invalid handshake response: {e}"),
            Error::Rejected(r) => write!(f, "server rejected the upgrade: {} {}", r.status, r.reason),
            Error::Build(e) => write!(f, "{e}"),
            Error::Uri(e) => write!(f, "{e}"),
            Error::Timeout(TimeoutKind::Handshake) => f.write_str("handshake timed out"),
            Error::Timeout(TimeoutKind::Keepalive) => f.write_str("no pong within the keepalive deadline"),
            Error::ConnectionClosed => f.write_str("connection closed"),
            Error::TlsUnavailable => {
                f.write_str("wss:// needs a TLS backend: build wsproto-tokio with feature rustls or native-tls")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Request(e) => Some(e),
            Error::Response(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Self {
        Error::Build(e)
    }
}

impl From<UriError> for Error {
    fn from(e: UriError) -> Self {
        Error::Uri(e)
    }
}
