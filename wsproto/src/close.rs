//! Close codes and close frame payloads, RFC 6455 §5.5.1 and §7.4.

#[allow(unused_imports)]
use crate::prelude::*;

use core::fmt;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// The named constants are the codes the RFC and the IANA registry define. 3000–3999 are registered by
/// libraries and frameworks, 4000–4999 are for private use; both may be sent and received freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutting down, browser leaving the page).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary to a text-only endpoint).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reserved: never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame. Reserved: never sent on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in a text message).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) the server did not negotiate an extension the client requires.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed. Reserved: never sent on the wire.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a close frame on the wire (RFC 6455 §7.4.1, §7.4.2 and the IANA
    /// registry): 1000–1003, 1007–1014, and 3000–4999.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(v: u16) -> Self {
        CloseCode(v)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1000 => "normal",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status",
            1006 => "abnormal closure",
            1007 => "invalid payload",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake",
            _ => return write!(f, "{}", self.0),
        };
        write!(f, "{} ({})", self.0, name)
    }
}

/// The content of a close frame: a code and a reason, or nothing (RFC 6455 §5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code, or `None` when the frame had no payload (reported as 1005 by [`code_or_no_status`]).
    ///
    /// [`code_or_no_status`]: CloseFrame::code_or_no_status
    pub code: Option<CloseCode>,
    /// The UTF-8 reason; empty when none was given.
    pub reason: String,
}

impl CloseFrame {
    /// The code, or 1005 (no status) when the frame was empty.
    pub fn code_or_no_status(&self) -> CloseCode {
        self.code.unwrap_or(CloseCode::NO_STATUS)
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code_or_no_status())?;
        if !self.reason.is_empty() {
            write!(f, " {:?}", self.reason)?;
        }
        Ok(())
    }
}

/// Why a received close payload is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosePayloadError {
    /// One byte: a code needs two (→ 1002).
    OneByte,
    /// A code that may not appear on the wire (→ 1002).
    BadCode(u16),
    /// The reason is not UTF-8 (→ 1007).
    BadReason,
}

/// Parses a received close payload (already unmasked), RFC 6455 §5.5.1.
pub(crate) fn parse_close_payload(payload: &[u8]) -> Result<CloseFrame, ClosePayloadError> {
    match payload.len() {
        0 => Ok(CloseFrame { code: None, reason: String::new() }),
        1 => Err(ClosePayloadError::OneByte),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode(code).is_sendable() {
                return Err(ClosePayloadError::BadCode(code));
            }
            let reason = core::str::from_utf8(&payload[2..]).map_err(|_| ClosePayloadError::BadReason)?;
            Ok(CloseFrame { code: Some(CloseCode(code)), reason: reason.to_owned() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_ranges() {
        for c in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!CloseCode(c).is_sendable(), "{c}");
        }
        for c in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
            assert!(CloseCode(c).is_sendable(), "{c}");
        }
    }

    #[test]
    fn parse_payloads() {
        assert_eq!(parse_close_payload(&[]).unwrap().code, None);
        assert_eq!(parse_close_payload(&[3]), Err(ClosePayloadError::OneByte));
        assert_eq!(parse_close_payload(&[0x03, 0xed]), Err(ClosePayloadError::BadCode(1005)));
        let f = parse_close_payload(b"\x03\xe8bye").unwrap();
        assert_eq!(f.code, Some(CloseCode::NORMAL));
        assert_eq!(f.reason, "bye");
        assert_eq!(parse_close_payload(b"\x03\xe8\xff"), Err(ClosePayloadError::BadReason));
    }
}
