//! Reading an HTTP/1.1 head in bounded time and space, whatever the chunking.

use bytes::BytesMut;
use core::fmt;

use super::headers::MAX_LIST_ELEMENTS;

/// Bytes of a connection before and after the end of its HTTP head.
///
/// The end (the first empty line: `\r\n\r\n`, or with bare LF line ends as httparse also accepts them, `\n\n`
/// or `\n\r\n`) is searched only in new bytes, so feeding a head one byte at a time costs linear time
/// (the quadratic re-scan behind CVE-2023-43669 cannot happen), and a head over the limit is refused as soon as
/// the limit is crossed.
#[derive(Debug, Default)]
pub(crate) struct HeadBuffer {
    pub(crate) buf: BytesMut,
    scanned: usize,
    /// Bytes the scanner has looked at, over all calls (the linear-time tests read it).
    #[cfg(test)]
    pub(crate) examined: u64,
}

pub(crate) struct HeadTooLarge;

impl HeadBuffer {
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The length of the head including its final blank line, once complete.
    pub(crate) fn head_len(&mut self, max: usize) -> Result<Option<usize>, HeadTooLarge> {
        let from = self.scanned.saturating_sub(2);
        let window = &self.buf[from..];
        let found = window.iter().enumerate().find_map(|(i, &b)| match (b, window.get(i + 1), window.get(i + 2)) {
            (b'\n', Some(b'\n'), _) => Some(i + 2),
            (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        });
        #[cfg(test)]
        {
            // Positions visited: up to the one that completed the blank line, or the whole window.
            self.examined += found.unwrap_or(window.len()) as u64;
        }
        if let Some(pos) = found {
            let end = from + pos;
            if end > max {
                return Err(HeadTooLarge);
            }
            return Ok(Some(end));
        }
        self.scanned = self.buf.len();
        if self.buf.len() >= max {
            return Err(HeadTooLarge);
        }
        Ok(None)
    }
}

/// Why an HTTP/1.1 head is malformed: the **peer's** fault (a server answers 400, a client fails the
/// handshake). The syntax errors are those of RFC 9112 §2–§5 as the head parser finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedHead {
    /// A byte not allowed in a token: the method, or a reason phrase (RFC 9112 §3.1, §4).
    InvalidToken,
    /// A byte not allowed in a header field name (RFC 9110 §5.1).
    InvalidHeaderName,
    /// A byte not allowed in a header field value (RFC 9110 §5.5).
    InvalidHeaderValue,
    /// A malformed line ending (RFC 9112 §2.2).
    InvalidNewLine,
    /// A status code that is not three digits (RFC 9112 §4).
    InvalidStatus,
    /// An HTTP version other than `HTTP/1.0` or `HTTP/1.1` (RFC 9112 §2.3).
    InvalidVersion,
    /// The head parser and the blank-line scanner disagree on where the head ends: refused, or bytes could
    /// be smuggled past one of them.
    AmbiguousEnd,
    /// The head ends before its request or status line is complete.
    Incomplete,
    /// A list header (`Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`) with more than
    /// [`MAX_LIST_ELEMENTS`] elements.
    TooManyListElements,
    /// A response checked by [`validate_response`](super::validate_response) whose status is not 101
    /// (RFC 6455 §4.1, client step 1).
    UnexpectedStatus(u16),
}

impl MalformedHead {
    /// The reason for a parser error; `None` for too many header fields (reported as its own error).
    pub(crate) fn from_parse(e: httparse::Error) -> Option<MalformedHead> {
        Some(match e {
            httparse::Error::HeaderName => MalformedHead::InvalidHeaderName,
            httparse::Error::HeaderValue => MalformedHead::InvalidHeaderValue,
            httparse::Error::NewLine => MalformedHead::InvalidNewLine,
            httparse::Error::Status => MalformedHead::InvalidStatus,
            httparse::Error::Token => MalformedHead::InvalidToken,
            httparse::Error::Version => MalformedHead::InvalidVersion,
            httparse::Error::TooManyHeaders => return None,
        })
    }
}

impl fmt::Display for MalformedHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedHead::InvalidToken => f.write_str("invalid token"),
            MalformedHead::InvalidHeaderName => f.write_str("invalid header name"),
            MalformedHead::InvalidHeaderValue => f.write_str("invalid header value"),
            MalformedHead::InvalidNewLine => f.write_str("invalid new line"),
            MalformedHead::InvalidStatus => f.write_str("invalid response status"),
            MalformedHead::InvalidVersion => f.write_str("invalid HTTP version"),
            MalformedHead::AmbiguousEnd => f.write_str("ambiguous end of head"),
            MalformedHead::Incomplete => f.write_str("incomplete head"),
            MalformedHead::TooManyListElements => write!(f, "more than {MAX_LIST_ELEMENTS} list elements"),
            MalformedHead::UnexpectedStatus(status) => write!(f, "status {status}, expected 101"),
        }
    }
}

impl core::error::Error for MalformedHead {}
