//! Field-value grammar shared by the opening handshake and extension negotiation: comma-separated lists
//! (RFC 9110 §5.6.1, with quoted strings, §5.6.4) and extension elements (RFC 6455 §9.1). Below both
//! `handshake` and `deflate`; it imports nothing from the crate.

#[allow(unused_imports)]
use crate::prelude::*;

/// Splits a comma-separated header value into trimmed, non-empty elements (RFC 9110 §5.6.1), respecting
/// quoted strings so that a comma inside quotes does not split.
pub fn split_list(value: &[u8]) -> Vec<&[u8]> {
    elements(value).collect()
}

/// The elements of a list header value, as [`split_list`] finds them, without allocating.
pub(crate) fn elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    ListIter { rest: value }
}

/// The elements of a list header, found lazily (no allocation).
struct ListIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while !self.rest.is_empty() {
            let mut in_quotes = false;
            let mut escaped = false;
            let mut end = self.rest.len();
            for (i, &b) in self.rest.iter().enumerate() {
                if in_quotes {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_quotes = false;
                    }
                } else if b == b'"' {
                    in_quotes = true;
                } else if b == b',' {
                    end = i;
                    break;
                }
            }
            let element = self.rest[..end].trim_ascii();
            self.rest = if end < self.rest.len() { &self.rest[end + 1..] } else { &[] };
            if !element.is_empty() {
                return Some(element);
            }
        }
        None
    }
}

/// The token an extension element starts with (`permessage-deflate; x=1` → `permessage-deflate`).
pub fn extension_name(offer: &str) -> &str {
    offer.split(';').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_extension_names() {
        assert_eq!(split_list(b" keep-alive ,Upgrade,, "), vec![&b"keep-alive"[..], b"Upgrade"]);
        assert_eq!(split_list(br#"a; x="1,2", b"#), vec![&br#"a; x="1,2""#[..], b"b"]);
        assert_eq!(split_list(br#"a; x="\"," , b"#), vec![&br#"a; x="\",""#[..], b"b"]);
        assert_eq!(extension_name(" permessage-deflate ; client_max_window_bits"), "permessage-deflate");
    }
}
