//! What a connection reports: received messages, control frames, the close.

#[allow(unused_imports)]
use crate::prelude::*;

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

/// An event borrowed from the connection: what [`Connection::poll_batch`](crate::Connection::poll_batch)
/// hands its handler. Data borrow the receive buffer, so no allocation, copy or reference count is spent
/// per message; copy what must outlive the handler call ([`to_event`](Self::to_event)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventRef<'a> {
    /// A whole text message.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A chunk of a message ([`ReceiveMode::Streaming`](crate::ReceiveMode::Streaming)).
    Fragment {
        /// The message's kind.
        kind: DataKind,
        /// The chunk (see [`Fragment::data`]).
        data: &'a [u8],
        /// The first chunk of a message.
        first: bool,
        /// The last chunk of a message.
        last: bool,
    },
    /// A ping; with [`Config::auto_pong`](crate::Config::auto_pong) the pong is already queued.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame (see [`Event::Close`]).
    Close(&'a CloseFrame),
}

impl<'a> EventRef<'a> {
    /// The kind and payload of a data message or chunk; `None` for control frames.
    pub fn data(&self) -> Option<(DataKind, &'a [u8])> {
        match *self {
            EventRef::Text(t) => Some((DataKind::Text, t.as_bytes())),
            EventRef::Binary(b) => Some((DataKind::Binary, b)),
            EventRef::Fragment { kind, data, .. } => Some((kind, data)),
            _ => None,
        }
    }

    /// An owned copy.
    pub fn to_event(&self) -> Event {
        match *self {
            EventRef::Text(t) => Event::Text(Utf8Bytes(Bytes::copy_from_slice(t.as_bytes()))),
            EventRef::Binary(b) => Event::Binary(Bytes::copy_from_slice(b)),
            EventRef::Fragment { kind, data, first, last } => {
                Event::Fragment(Fragment { kind, data: Bytes::copy_from_slice(data), first, last })
            }
            EventRef::Ping(p) => Event::Ping(Bytes::copy_from_slice(p)),
            EventRef::Pong(p) => Event::Pong(Bytes::copy_from_slice(p)),
            EventRef::Close(c) => Event::Close(c.clone()),
        }
    }
}

impl Event {
    /// The payload of a data message or chunk.
    pub(crate) fn shared_payload(&self) -> Option<&Bytes> {
        match self {
            Event::Text(t) => Some(&t.0),
            Event::Binary(b) => Some(b),
            Event::Fragment(f) => Some(&f.data),
            _ => None,
        }
    }

    /// A borrowed view of this event.
    pub fn as_event_ref(&self) -> EventRef<'_> {
        match self {
            Event::Text(t) => EventRef::Text(t.as_str()),
            Event::Binary(b) => EventRef::Binary(b),
            Event::Fragment(f) => EventRef::Fragment { kind: f.kind, data: &f.data, first: f.first, last: f.last },
            Event::Ping(p) => EventRef::Ping(p),
            Event::Pong(p) => EventRef::Pong(p),
            Event::Close(c) => EventRef::Close(c),
        }
    }
}
