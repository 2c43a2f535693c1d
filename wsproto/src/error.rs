//! Errors, by whose fault they are and what goes on the wire.
//!
//! - [`ProtocolError`]: the **peer** broke RFC 6455 or a configured limit. The connection is failed (§7.1.7):
//!   a close frame with [`ProtocolError::close_code`] is queued for [`Connection::poll_transmit`], no further
//!   data is reported, and the same error is returned again by later calls (it is sticky).
//! - [`SendError`]: the **caller** asked for something the protocol forbids now. Nothing is sent and the
//!   connection stays usable.
//! - [`BufferFull`]: the caller fed more than [`Config::max_buffered`](crate::Config::max_buffered).
//! - [`ConfigError`]: the **caller** built an inconsistent [`Config`](crate::Config); nothing was created.
//! - [`RequestError`](crate::handshake::RequestError): the opening handshake failed; it carries the HTTP
//!   status to answer with.
//!
//! [`Connection::poll_transmit`]: crate::Connection::poll_transmit

use core::fmt;

use crate::close::CloseCode;
use crate::frame::FrameError;

/// The peer broke the protocol or a limit; the connection is failed with [`close_code`](Self::close_code).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An invalid frame header (reserved opcode, fragmented or oversized control frame, bad length). 1002.
    Frame(FrameError),
    /// RSV bits set without an extension that defines them (RFC 6455 §5.2). 1002.
    ReservedBits(u8),
    /// A client sent an unmasked frame (RFC 6455 §5.1). 1002.
    UnmaskedFrame,
    /// A server sent a masked frame (RFC 6455 §5.1). 1002.
    MaskedFrame,
    /// A continuation frame with no message to continue (RFC 6455 §5.4). 1002.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (RFC 6455 §5.4). 1002.
    ExpectedContinuation,
    /// A close frame with a one-byte payload (RFC 6455 §5.5.1). 1002.
    CloseTooShort,
    /// A close frame with a code that may not be sent (RFC 6455 §7.4). 1002.
    InvalidCloseCode(u16),
    /// A close frame whose reason is not UTF-8 (RFC 6455 §5.5.1). 1007.
    InvalidCloseReason,
    /// A text message that is not UTF-8, detected at the first invalid byte (RFC 6455 §8.1). 1007.
    InvalidUtf8 {
        /// Offset in the message of the first invalid sequence.
        valid_up_to: u64,
    },
    /// A frame larger than [`Config::max_frame_payload`](crate::Config::max_frame_payload). 1009.
    FrameTooLarge {
        /// The announced payload length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A message larger than [`Config::max_message_size`](crate::Config::max_message_size). 1009.
    MessageTooLarge {
        /// The limit.
        max: u64,
    },
    /// More fragments than [`Config::max_fragments`](crate::Config::max_fragments). 1009.
    TooManyFragments {
        /// The limit.
        max: u64,
    },
    /// RSV1 (compressed) on a continuation or control frame (RFC 7692 §6.1). 1002.
    MisplacedCompressionBit,
    /// A compressed message that is not valid deflate data (RFC 7692 §6.2). 1007.
    InvalidCompressedData,
    /// The transport ended before the closing handshake completed. 1006: nothing is sent.
    UnexpectedEof,
    /// The connection would have grown past [`Config::budget_floor`](crate::Config::budget_floor) while the
    /// [`Budget`](crate::Budget) it shares with other connections was spent. 1013 Try Again Later (RFC 6455
    /// §7.4.1 and its IANA registry).
    BudgetExhausted,
    /// The peer missed a deadline (see [`Connection::handle_timeout`](crate::Connection::handle_timeout)):
    /// 1008 for a message that took too long (the close frame is sent), 1006 otherwise (nothing is sent).
    Timeout(Timeout),
}

/// Which deadline passed (see [`Config`](crate::Config)'s timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timeout {
    /// The opening handshake did not complete in time ([`Config::handshake_timeout`](crate::Config::handshake_timeout)).
    Handshake,
    /// No pong answered a keepalive ping in time ([`Keepalive::timeout`](crate::Keepalive::timeout)).
    Pong,
    /// The peer's close frame did not answer ours in time ([`Config::close_timeout`](crate::Config::close_timeout)).
    Close,
    /// A data message was not complete in time ([`Config::message_timeout`](crate::Config::message_timeout)).
    Message,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Handshake => "opening handshake",
            Timeout::Pong => "pong after a keepalive ping",
            Timeout::Close => "close frame after ours",
            Timeout::Message => "message completion",
        })
    }
}

impl ProtocolError {
    /// The close code this error puts on the wire (1006 for [`UnexpectedEof`](Self::UnexpectedEof), which
    /// sends nothing).
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidUtf8 { .. }
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge { .. }
            | ProtocolError::MessageTooLarge { .. }
            | ProtocolError::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::UnexpectedEof => CloseCode::ABNORMAL,
            ProtocolError::Timeout(Timeout::Message) => CloseCode::POLICY_VIOLATION,
            ProtocolError::BudgetExhausted => CloseCode::TRY_AGAIN_LATER,
            ProtocolError::Timeout(_) => CloseCode::ABNORMAL,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// Whether failing the connection sends a close frame (everything but a vanished transport and an
    /// unresponsive peer).
    pub fn sends_close(&self) -> bool {
        self.close_code() != CloseCode::ABNORMAL
    }

    /// A short reason for the close frame (well under the 123-byte limit).
    pub(crate) fn wire_reason(&self) -> &'static str {
        match self {
            ProtocolError::Frame(FrameError::ReservedOpcode(_)) => "reserved opcode",
            ProtocolError::Frame(FrameError::FragmentedControl) => "fragmented control frame",
            ProtocolError::Frame(FrameError::ControlTooLong(_)) => "control frame too long",
            ProtocolError::Frame(_) => "invalid frame length",
            ProtocolError::ReservedBits(_) => "reserved bits set",
            ProtocolError::UnmaskedFrame => "unmasked frame",
            ProtocolError::MaskedFrame => "masked frame",
            ProtocolError::UnexpectedContinuation => "unexpected continuation frame",
            ProtocolError::ExpectedContinuation => "expected continuation frame",
            ProtocolError::CloseTooShort => "close payload of one byte",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::InvalidCloseReason => "close reason not UTF-8",
            ProtocolError::InvalidUtf8 { .. } => "invalid UTF-8 in text message",
            ProtocolError::FrameTooLarge { .. } => "frame too large",
            ProtocolError::MessageTooLarge { .. } => "message too large",
            ProtocolError::TooManyFragments { .. } => "too many fragments",
            ProtocolError::MisplacedCompressionBit => "RSV1 on a continuation or control frame",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
            ProtocolError::Timeout(Timeout::Message) => "message timeout",
            ProtocolError::BudgetExhausted => "server memory budget exhausted",
            ProtocolError::UnexpectedEof | ProtocolError::Timeout(_) => "",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => write!(f, "peer sent an invalid frame: {e}")?,
            ProtocolError::ReservedBits(b) => write!(f, "peer set reserved bits {b:#05b} without an extension")?,
            ProtocolError::InvalidCloseCode(c) => write!(f, "peer sent close code {c}, which is not allowed")?,
            ProtocolError::InvalidUtf8 { valid_up_to } => {
                write!(f, "peer sent invalid UTF-8 in a text message after {valid_up_to} bytes")?
            }
            ProtocolError::FrameTooLarge { len, max } => write!(f, "peer sent a {len}-byte frame (limit {max})")?,
            ProtocolError::MessageTooLarge { max } => write!(f, "peer sent a message over {max} bytes")?,
            ProtocolError::TooManyFragments { max } => write!(f, "peer sent a message in over {max} fragments")?,
            ProtocolError::UnexpectedEof => f.write_str("transport closed before the closing handshake")?,
            ProtocolError::Timeout(t) => write!(f, "peer missed a deadline: {t}")?,
            other => write!(f, "peer protocol error: {}", other.wire_reason())?,
        }
        write!(f, " (close {})", self.close_code())
    }
}

impl core::error::Error for ProtocolError {}

/// The caller asked for something the protocol forbids now. Nothing was sent; the connection is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A close frame was already sent or queued (RFC 6455 §5.5.1: no data after close).
    Closing,
    /// The connection has failed or the transport ended.
    Failed,
    /// A control frame payload over 125 bytes (RFC 6455 §5.5).
    ControlTooLong(usize),
    /// A close code that may not be sent (RFC 6455 §7.4).
    UnsendableCloseCode(u16),
    /// A close reason over 123 bytes (the frame would exceed 125).
    CloseReasonTooLong(usize),
    /// A whole message while a fragmented one is being sent, or a fragment of another kind.
    FragmentInProgress,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closing => f.write_str("cannot send: the close frame was already sent"),
            SendError::Failed => f.write_str("cannot send: the connection has failed"),
            SendError::ControlTooLong(n) => write!(f, "control frame payload of {n} bytes (max 125)"),
            SendError::UnsendableCloseCode(c) => write!(f, "close code {c} may not be sent"),
            SendError::CloseReasonTooLong(n) => write!(f, "close reason of {n} bytes (max 123)"),
            SendError::FragmentInProgress => f.write_str("a fragmented message of another kind is being sent"),
        }
    }
}

impl core::error::Error for SendError {}

/// [`Connection::feed`](crate::Connection::feed) was given more than
/// [`Connection::recv_capacity`](crate::Connection::recv_capacity) bytes; none were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferFull {
    /// How many bytes would have been accepted.
    pub capacity: usize,
}

impl fmt::Display for BufferFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "receive buffer full: drain events first (room for {} bytes)", self.capacity)
    }
}

impl core::error::Error for BufferFull {}

/// An inconsistent [`Config`] (or [`DeflateConfig`]): the **caller's** mistake, reported before any connection
/// exists. One variant per rule of [`Config::validate`].
///
/// [`Config`]: crate::Config
/// [`Config::validate`]: crate::Config::validate
/// [`DeflateConfig`]: crate::DeflateConfig
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`max_frame_payload`](crate::Config::max_frame_payload) or
    /// [`max_message_size`](crate::Config::max_message_size) is zero.
    ZeroSize,
    /// [`max_frame_payload`](crate::Config::max_frame_payload) or
    /// [`max_message_size`](crate::Config::max_message_size) is 2^63 or more: no frame length can reach it
    /// (RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0).
    SizeTooLarge,
    /// [`max_fragments`](crate::Config::max_fragments) is zero.
    ZeroFragments,
    /// [`max_handshake_bytes`](crate::Config::max_handshake_bytes) is below 128.
    HandshakeBytesTooSmall,
    /// [`max_headers`](crate::Config::max_headers) is below 8.
    TooFewHeaders,
    /// [`Config::deflate`](crate::Config::deflate) is set but the `deflate` cargo feature is off.
    DeflateFeatureMissing,
    /// A [`DeflateConfig`](crate::DeflateConfig) window size outside 8–15 bits (RFC 7692 §7.1.2.1, §7.1.2.2).
    DeflateWindowBits,
    /// [`DeflateConfig::level`](crate::DeflateConfig::level) above 9.
    DeflateLevel,
    /// [`max_buffered`](crate::Config::max_buffered) cannot hold the largest frame plus its 14-byte header
    /// ([`ReceiveMode::Whole`](crate::ReceiveMode::Whole)), or is below 139 bytes (a largest control frame with
    /// its header).
    BufferTooSmall,
}

impl ConfigError {
    /// The rule broken, without the "invalid wsproto config" prefix.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ConfigError::ZeroSize => "max_frame_payload and max_message_size must be positive",
            ConfigError::SizeTooLarge => "sizes must be below 2^63 (the largest frame length)",
            ConfigError::ZeroFragments => "max_fragments must be positive",
            ConfigError::HandshakeBytesTooSmall => "max_handshake_bytes must be at least 128",
            ConfigError::TooFewHeaders => "max_headers must be at least 8",
            ConfigError::DeflateFeatureMissing => "permessage-deflate needs the `deflate` cargo feature",
            ConfigError::DeflateWindowBits => "deflate window bits must be 8-15",
            ConfigError::DeflateLevel => "deflate level must be 0-9",
            ConfigError::BufferTooSmall => {
                "max_buffered must hold the largest frame plus its header (receive_mode Whole), or 139 bytes"
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid wsproto config: {}", self.reason())
    }
}

impl core::error::Error for ConfigError {}
