//! HTTP header helpers shared by both roles: header lookup, the accept key, header-injection checks. The list
//! grammar itself is in [`crate::http_fields`].

#[allow(unused_imports)]
use crate::prelude::*;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::http_fields::elements;

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (RFC 6455 §1.3, §4.2.2).
///
/// ```
/// assert_eq!(wsproto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID);
    STANDARD.encode(h.finalize())
}

/// A header field: name as received (compare case-insensitively) and raw value bytes.
pub type Header = (String, Vec<u8>);

/// Most elements kept from one list header (subprotocols, extension offers). A head with more is refused: the
/// limit keeps the memory of a parsed handshake proportional to the head limit, not to its element count.
pub const MAX_LIST_ELEMENTS: usize = 64;

/// All values of header `name` (case-insensitive), in order.
pub(crate) fn values<'a, 'n>(headers: &'a [Header], name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// Whether some comma-separated element of some `name` header equals `token` (case-insensitive).
pub(crate) fn has_token(headers: &[Header], name: &str, token: &str) -> bool {
    values(headers, name).any(|v| elements(v).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
}

/// More than [`MAX_LIST_ELEMENTS`] elements in a list header.
pub(crate) struct TooManyElements;

/// The elements of every `name` header, as strings (non-UTF-8 elements are kept lossily), at most
/// [`MAX_LIST_ELEMENTS`].
pub(crate) fn list(headers: &[Header], name: &str) -> Result<Vec<String>, TooManyElements> {
    let mut out = Vec::new();
    for t in values(headers, name).flat_map(elements) {
        if out.len() == MAX_LIST_ELEMENTS {
            return Err(TooManyElements);
        }
        out.push(String::from_utf8_lossy(t).into_owned());
    }
    Ok(out)
}

/// The single value of `name`; `Err(())` if it appears more than once.
pub(crate) fn single<'a>(headers: &'a [Header], name: &str) -> Result<Option<&'a [u8]>, ()> {
    let mut it = values(headers, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// A header name is an RFC 9110 token.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value has no control characters (so no CR/LF injection).
pub(crate) fn valid_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_1_3_accept_key() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn token_lists() {
        let h = vec![("connection".to_string(), b"keep-alive, UPGRADE".to_vec())];
        assert!(has_token(&h, "Connection", "upgrade"));
        assert!(!has_token(&h, "Connection", "close"));
    }

    #[test]
    fn header_checks() {
        assert!(valid_name("X-Custom"));
        assert!(!valid_name("Bad Name"));
        assert!(!valid_value("a\r\nInjected: 1"));
    }
}
