//! The request-target (RFC 9112 §3.2) and the `Host` authority (RFC 9110 §7.2, RFC 3986 §3.2): every byte of
//! both comes from the peer.

/// Longest request-target accepted, in bytes: 8 KiB. A longer one is refused with 414 URI Too Long (RFC 9112 §3,
/// RFC 9110 §15.5.15). RFC 9112 §3 recommends supporting request lines of at least 8000 octets; this limit
/// keeps that (method and version add a few bytes), whatever `Config::max_handshake_bytes` allows.
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// The parts of a request-target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    /// Absolute form (`http://host/path?q`, RFC 9112 §3.2.2): the scheme.
    pub(crate) scheme: Option<&'a str>,
    /// Absolute form: the authority (RFC 3986 §3.2).
    pub(crate) authority: Option<&'a str>,
    /// The path: before `?` (and `#`); `/` for an absolute form with an empty path (RFC 9112 §3.2.1).
    pub(crate) path: &'a str,
    /// After the first `?`, up to any `#`.
    pub(crate) query: Option<&'a str>,
}

/// Splits a request-target. Origin form (`/p?q`), absolute form (`scheme://authority/p?q`); anything else
/// (asterisk form `*`, authority form `host:port`) is returned whole as its path.
pub(crate) fn split(target: &str) -> Target<'_> {
    let (scheme, authority, rest) = match absolute(target) {
        Some((scheme, after)) => {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            (Some(scheme), Some(&after[..end]), &after[end..])
        }
        None => (None, None, target),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let path = if path.is_empty() && scheme.is_some() { "/" } else { path };
    Target { scheme, authority, path, query }
}

/// `scheme "://"` at the start (RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`): the scheme and
/// what follows the `//`.
fn absolute(target: &str) -> Option<(&str, &str)> {
    let colon = target.find(':')?;
    let scheme = &target[..colon];
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
        return None;
    }
    Some((scheme, target[colon + 1..].strip_prefix("//")?))
}

/// Whether a request-target may carry a WebSocket upgrade: origin form, or absolute form with an `http`,
/// `https`, `ws` or `wss` scheme and a valid authority without user info (RFC 9112 §3.2.1, §3.2.2; RFC 9110
/// §4.2.4: user info is an error), and no fragment (RFC 9112 §3.2 has none; RFC 6455 §3 forbids it).
pub(crate) fn valid_upgrade_target(target: &str) -> bool {
    if target.contains('#') {
        return false;
    }
    if target.starts_with('/') {
        return true;
    }
    let t = split(target);
    let scheme_ok = t.scheme.is_some_and(|s| ["http", "https", "ws", "wss"].iter().any(|w| s.eq_ignore_ascii_case(w)));
    scheme_ok && t.authority.is_some_and(|a| valid_authority(a.as_bytes()))
}

/// Whether `value` is a valid `Host` (RFC 9110 §7.2: `uri-host [ ":" port ]`, RFC 3986 §3.2.2): a reg-name
/// (unreserved, pct-encoded and sub-delims characters, which covers IPv4 addresses), or an IP-literal
/// (`[` IPv6 or IPvFuture `]`); a port of at most 65535. No spaces, no user info (`@`), not empty.
pub(crate) fn valid_authority(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(close) = value.iter().position(|&b| b == b']') else { return false };
        let rest = &value[close + 1..];
        let port = match rest {
            [] => None,
            [b':', port @ ..] => Some(port),
            _ => return false,
        };
        if !valid_ip_literal(&value[1..close]) {
            return false;
        }
        (None, port)
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(i) => (Some(&value[..i]), Some(&value[i + 1..])),
            None => (Some(value), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() || !valid_reg_name(host) {
            return false;
        }
    }
    match port {
        None | Some([]) => true,
        Some(p) => {
            p.len() <= 5
                && p.iter().all(u8::is_ascii_digit)
                && p.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 65535
        }
    }
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )` (RFC 3986 §3.2.2).
fn valid_reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if b == b'%' {
            if !(host.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && host.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !(unreserved(b) || sub_delim(b)) {
            return false;
        }
        i += 1;
    }
    true
}

/// The inside of `[…]`: an IPv6 address, or `v` 1*HEXDIG `.` 1*( unreserved / sub-delims / `:` ) (RFC 3986
/// §3.2.2).
fn valid_ip_literal(inner: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inner {
        let Some(dot) = rest.iter().position(|&b| b == b'.') else { return false };
        let (hex, tail) = (&rest[..dot], &rest[dot + 1..]);
        return !hex.is_empty()
            && hex.iter().all(u8::is_ascii_hexdigit)
            && !tail.is_empty()
            && tail.iter().all(|&b| unreserved(b) || sub_delim(b) || b == b':');
    }
    core::str::from_utf8(inner).ok().and_then(|s| s.parse::<core::net::Ipv6Addr>().ok()).is_some()
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        for ok in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:9001",
            "[::1]",
            "[::1]:443",
            "[2001:db8::7]",
            "[v1.fe80::a+en1]",
            "xn--bcher-kva.example",
            "a%41b",
            "host:",
            "h:65535",
        ] {
            assert!(valid_authority(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "exa mple.com",
            "example.com ",
            "user@example.com",
            "user:pw@example.com",
            "example.com:80:80",
            "example.com:http",
            "h:65536",
            "h:000000",
            ":80",
            "[::1",
            "[::1]x",
            "[not ipv6]",
            "[::g]",
            "[v.x]",
            "[v1.]",
            "a%4",
            "a%zz",
            "h/x",
            "h?x",
            "h\tx",
            "é.example",
        ] {
            assert!(!valid_authority(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        let t = split("/chat?room=1");
        assert_eq!((t.scheme, t.authority, t.path, t.query), (None, None, "/chat", Some("room=1")));
        let t = split("http://example.com:80/chat?room=1&x=?");
        assert_eq!(
            (t.scheme, t.authority, t.path, t.query),
            (Some("http"), Some("example.com:80"), "/chat", Some("room=1&x=?"))
        );
        let t = split("HTTPS://h");
        assert_eq!((t.authority, t.path, t.query), (Some("h"), "/", None));
        let t = split("ws://h?q");
        assert_eq!((t.authority, t.path, t.query), (Some("h"), "/", Some("q")));
        assert_eq!(split("*").path, "*");
        assert_eq!(split("example.com:443").authority, None);
        for ok in ["/", "/a?b", "//x", "http://h/x", "WSS://[::1]:9/", "https://h?x"] {
            assert!(valid_upgrade_target(ok), "{ok}");
        }
        for bad in ["*", "h:80", "ftp://h/x", "http://u@h/", "http:///x", "http://h h/", "/a#frag", "http:/h/x", "x"] {
            assert!(!valid_upgrade_target(bad), "{bad}");
        }
    }
}
