//! `ws://` and `wss://` URIs (RFC 6455 §3).

#[allow(unused_imports)]
use crate::prelude::*;

use core::fmt;

/// A parsed WebSocket URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// `wss://`.
    pub secure: bool,
    /// The host, without brackets for IPv6 literals.
    pub host: String,
    /// The port (default 80 for `ws`, 443 for `wss`).
    pub port: u16,
    /// The resource name: path and query, at least `/` (RFC 6455 §3).
    pub resource: String,
}

/// An invalid WebSocket URI (RFC 6455 §3): the caller's input, refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// The scheme is neither `ws://` nor `wss://`.
    BadScheme,
    /// A `#fragment`: fragment identifiers MUST NOT be used in WebSocket URIs (RFC 6455 §3).
    Fragment,
    /// `user@host`: user info is not supported.
    UserInfo,
    /// A `[` without its `]`.
    UnterminatedIpv6,
    /// Something other than `:port` after `[IPv6]`.
    JunkAfterIpv6,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
    /// No host.
    EmptyHost,
    /// A space or control character in the resource name.
    InvalidPath,
    /// The host is not a valid TLS server name (DNS name or IP address) for a `wss://` connection: reported
    /// by TLS drivers such as `wsproto-tokio`, not by [`Uri::parse`].
    InvalidTlsServerName,
}

impl UriError {
    fn reason(&self) -> &'static str {
        match self {
            UriError::BadScheme => "scheme must be ws:// or wss://",
            UriError::Fragment => "fragments are not allowed",
            UriError::UserInfo => "user info is not supported",
            UriError::UnterminatedIpv6 => "unterminated IPv6 literal",
            UriError::JunkAfterIpv6 => "junk after IPv6 literal",
            UriError::InvalidPort => "invalid port",
            UriError::EmptyHost => "empty host",
            UriError::InvalidPath => "invalid character in path",
            UriError::InvalidTlsServerName => "invalid TLS server name",
        }
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid WebSocket URI: {}", self.reason())
    }
}

impl core::error::Error for UriError {}

impl Uri {
    /// Parses `ws://host[:port][/path][?query]` or `wss://…`. Fragments are not allowed (RFC 6455 §3).
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let (secure, rest) = if let Some(r) = strip_prefix_ci(s, "ws://") {
            (false, r)
        } else if let Some(r) = strip_prefix_ci(s, "wss://") {
            (true, r)
        } else {
            return Err(UriError::BadScheme);
        };
        if s.contains('#') {
            return Err(UriError::Fragment);
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UriError::UserInfo);
        }
        let resource = match resource {
            "" => "/".to_string(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_string(),
        };
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or(UriError::UnterminatedIpv6)?;
            let host = &v6[..end];
            let port = match &v6[end + 1..] {
                "" => default_port,
                p => parse_port(p.strip_prefix(':').ok_or(UriError::JunkAfterIpv6)?)?,
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(UriError::EmptyHost);
        }
        if !resource.bytes().all(|b| b > 0x20 && b != 0x7f) {
            return Err(UriError::InvalidPath);
        }
        Ok(Uri { secure, host, port, resource })
    }

    /// The `Host` header value: the host, with the port when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.secure { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

fn parse_port(p: &str) -> Result<u16, UriError> {
    p.parse().map_err(|_| UriError::InvalidPort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let u = Uri::parse("ws://example.com/chat?x=1").unwrap();
        assert_eq!((u.secure, u.host.as_str(), u.port, u.resource.as_str()), (false, "example.com", 80, "/chat?x=1"));
        assert_eq!(u.host_header(), "example.com");
        let u = Uri::parse("wss://127.0.0.1:9443").unwrap();
        assert_eq!((u.secure, u.port, u.resource.as_str()), (true, 9443, "/"));
        assert_eq!(u.host_header(), "127.0.0.1:9443");
        let u = Uri::parse("ws://[::1]:8080?q").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.resource.as_str()), ("::1", 8080, "/?q"));
        assert_eq!(u.host_header(), "[::1]:8080");
    }

    #[test]
    fn rejects_bad_uris() {
        for (bad, e) in [
            ("http://x/", UriError::BadScheme),
            ("ws://", UriError::EmptyHost),
            ("ws://x:99999/", UriError::InvalidPort),
            ("ws://x/#frag", UriError::Fragment),
            ("ws://u@x/", UriError::UserInfo),
            ("ws://[::1/", UriError::UnterminatedIpv6),
            ("ws://[::1]x/", UriError::JunkAfterIpv6),
            ("ws://x/a b", UriError::InvalidPath),
        ] {
            assert_eq!(Uri::parse(bad), Err(e), "{bad}");
        }
        assert_eq!(UriError::InvalidPort.to_string(), "invalid WebSocket URI: invalid port");
    }
}
