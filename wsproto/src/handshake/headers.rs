//! HTTP header helpers shared by both roles: token lists, the accept key, header-injection checks.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

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

/// Splits a comma-separated header value into trimmed, non-empty elements (RFC 9110 §5.6.1), respecting
/// quoted strings so that a comma inside quotes does not split.
pub fn split_list(value: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b',' => {
                push_trimmed(&mut out, &value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_trimmed(&mut out, &value[start..]);
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a [u8]>, s: &'a [u8]) {
    let s = s.trim_ascii();
    if !s.is_empty() {
        out.push(s);
    }
}

/// All values of header `name` (case-insensitive), in order.
pub(crate) fn values<'a, 'n>(headers: &'a [Header], name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// Whether some comma-separated element of some `name` header equals `token` (case-insensitive).
pub(crate) fn has_token(headers: &[Header], name: &str, token: &str) -> bool {
    values(headers, name).any(|v| split_list(v).iter().any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
}

/// The elements of every `name` header, as strings (non-UTF-8 elements are kept lossily).
pub(crate) fn list(headers: &[Header], name: &str) -> Vec<String> {
    values(headers, name).flat_map(split_list).map(|t| String::from_utf8_lossy(t).into_owned()).collect()
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

/// The token an extension element starts with (`permessage-deflate; x=1` → `permessage-deflate`).
pub fn extension_name(offer: &str) -> &str {
    offer.split(';').next().unwrap_or("").trim()
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
        assert_eq!(split_list(b" keep-alive ,Upgrade,, "), vec![&b"keep-alive"[..], b"Upgrade"]);
        assert_eq!(split_list(br#"a; x="1,2", b"#), vec![&br#"a; x="1,2""#[..], b"b"]);
        assert_eq!(split_list(br#"a; x="\"," , b"#), vec![&br#"a; x="\",""#[..], b"b"]);
        let h = vec![("connection".to_string(), b"keep-alive, UPGRADE".to_vec())];
        assert!(has_token(&h, "Connection", "upgrade"));
        assert!(!has_token(&h, "Connection", "close"));
    }

    #[test]
    fn header_checks() {
        assert!(valid_name("X-Custom"));
        assert!(!valid_name("Bad Name"));
        assert!(!valid_value("a\r\nInjected: 1"));
        assert_eq!(extension_name(" permessage-deflate ; client_max_window_bits"), "permessage-deflate");
    }
}
