//! What a connection reports: received messages, control frames, the close.

use bytes::Bytes;
use core::fmt;

use crate::close::CloseFrame;

/// Text or binary: the kind of a data message (RFC 6455 §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Binary data (opcode 0x2).
    Binary,
}

/// Bytes that are valid UTF-8, shared without copying.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes after checking they are UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, core::str::Utf8Error> {
        core::str::from_utf8(&bytes)?;
        Ok(Utf8Bytes(bytes))
    }

    /// Wraps bytes the crate has already validated.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(core::str::from_utf8(&bytes).is_ok());
        Utf8Bytes(bytes)
    }

    /// The text.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor validates (or receives already validated) UTF-8, and the bytes are
        // immutable. This avoids validating every message twice.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl core::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&'static str> for Utf8Bytes {
    fn from(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece of a message in [`ReceiveMode::Streaming`](crate::ReceiveMode::Streaming).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The message's kind.
    pub kind: DataKind,
    /// The payload bytes (unmasked). For text, the message so far is valid UTF-8 except that a code point
    /// may continue in the next chunk.
    pub data: Bytes,
    /// The first chunk of a message.
    pub first: bool,
    /// The last chunk of a message; for text, the whole message has been validated.
    pub last: bool,
}

/// An event from [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole text message ([`ReceiveMode::Whole`](crate::ReceiveMode::Whole)).
    Text(Utf8Bytes),
    /// A whole binary message ([`ReceiveMode::Whole`](crate::ReceiveMode::Whole)).
    Binary(Bytes),
    /// A chunk of a message ([`ReceiveMode::Streaming`](crate::ReceiveMode::Streaming)).
    Fragment(Fragment),
    /// A ping; with [`Config::auto_pong`](crate::Config::auto_pong) the pong is already queued.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame. If we had not sent a close yet, the reply is queued (RFC 6455 §5.5.1). No
    /// further events follow; see [`Connection::wants_transport_closed`](crate::Connection::wants_transport_closed).
    Close(CloseFrame),
}
