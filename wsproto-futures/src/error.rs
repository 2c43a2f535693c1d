//! The driver's error: I/O, or one of the core's typed errors.

use std::fmt;
use std::io;

use wsproto::handshake::{BuildError, RequestError, Response, ResponseError};
use wsproto::{ConfigError, ProtocolError, SendError};

/// Everything that can go wrong in the driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The connection failed: the peer broke the protocol, a deadline of the core passed
    /// ([`ProtocolError::Timeout`]), or the transport ended without a close ([`ProtocolError::UnexpectedEof`]).
    /// The close frame the core chose, if any, was sent.
    Protocol(ProtocolError),
    /// The caller asked for something the protocol forbids now (nothing was sent; the connection is usable).
    Send(SendError),
    /// Server handshake: the request was refused with [`RequestError::status`] (the response was sent);
    /// [`RequestError::Timeout`] is the handshake deadline (408).
    Request(RequestError),
    /// Server handshake: the application refused the upgrade, or a plain HTTP request arrived (426); the
    /// response with this status was sent.
    Refused(u16),
    /// Client handshake: the response was invalid, or did not arrive in time ([`ResponseError::Timeout`]).
    Response(ResponseError),
    /// Client handshake: the server answered with another status (a 401, a redirect…).
    Rejected(Box<Response>),
    /// A handshake head could not be built (bad header, unoffered subprotocol).
    Build(BuildError),
    /// The core's configuration is invalid.
    Config(ConfigError),
    /// The connection is closed: nothing more can be sent.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "{e}"),
            Error::Send(e) => write!(f, "{e}"),
            Error::Request(e) => write!(f, "handshake refused with {}: {e}", e.status()),
            Error::Refused(status) => write!(f, "upgrade refused with {status}"),
            Error::Response(e) => write!(f, "invalid handshake response: {e}"),
            Error::Rejected(r) => write!(f, "server rejected the upgrade: {} {}", r.status, r.reason),
            Error::Build(e) => write!(f, "{e}"),
            Error::Config(e) => write!(f, "{e}"),
            Error::Closed => f.write_str("connection closed"),
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

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
