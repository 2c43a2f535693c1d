//! Messages as the user sends and receives them.

use bytes::Bytes;
use wsproto::{CloseFrame, Event, Fragment, Utf8Bytes};

/// A WebSocket message or control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping. Received pings are answered automatically (unless the core's `auto_pong` is off).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: received, the peer's; sent, starts the closing handshake (`None`: no status code).
    Close(Option<CloseFrame>),
    /// A chunk of a message: received in [`ReceiveMode::Streaming`](wsproto::ReceiveMode::Streaming), or sent
    /// to stream a large message frame by frame.
    Fragment(Fragment),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<String>) -> Message {
        Message::Text(Utf8Bytes::from(s.into()))
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Message {
        Message::Binary(b.into())
    }

    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// Whether this is a text or binary message.
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }

    /// The payload bytes (the reason for a close).
    pub fn into_data(self) -> Bytes {
        match self {
            Message::Text(t) => t.into_bytes(),
            Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b,
            Message::Close(c) => c.map(|c| Bytes::from(c.reason)).unwrap_or_default(),
            Message::Fragment(f) => f.data,
        }
    }

    pub(crate) fn from_event(ev: Event) -> Message {
        match ev {
            Event::Text(t) => Message::Text(t),
            Event::Binary(b) => Message::Binary(b),
            Event::Fragment(f) => Message::Fragment(f),
            Event::Ping(p) => Message::Ping(p),
            Event::Pong(p) => Message::Pong(p),
            Event::Close(c) => Message::Close(c.code.map(|_| c)),
            other => unreachable!("wsproto added an event this adapter does not know: {other:?}"),
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::text(s)
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Message::Binary(v.into())
    }
}
