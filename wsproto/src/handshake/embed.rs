//! Embedding: the handshake from a request or response another HTTP stack (hyper, axum, an HTTP/2 server…)
//! already parsed, in one call per side, so that the answer and the [`Connection`] cannot get out of step.
//!
//! - Server: [`ServerUpgrade::http1`] (RFC 6455 §4.2.1) or [`ServerUpgrade::http2`] (RFC 8441 §4–5, an
//!   extended CONNECT) checks the request; [`ServerUpgrade::accept`] returns the status, the response headers
//!   (`Sec-WebSocket-Accept`, the chosen subprotocol, the negotiated `Sec-WebSocket-Extensions`) and a ready
//!   [`Connection`], with permessage-deflate on exactly when the answer says so.
//! - Client: [`ClientUpgrade`] gives the request headers to send and turns the response's status and headers
//!   into a ready [`Connection`] ([`ClientUpgrade::finish`]).
//!
//! With the cargo feature `http`, the same from and to the `http` 1.x types (`HeaderMap`, `http::Response`).

#[allow(unused_imports)]
use crate::prelude::*;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::client::negotiated;
use super::headers::{self, Header};
use super::server::{is_upgrade_request, validate_request};
use super::{Accept, BuildError, Negotiated, RequestError, ResponseError, UPGRADE_REQUIRED};
use crate::config::Config;
use crate::connection::{Connection, Role};
use crate::handshake::MalformedHead;

/// Which HTTP carries the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Form {
    /// An HTTP/1.1 `GET` with `Upgrade: websocket`, answered by 101 with `Sec-WebSocket-Accept` (RFC 6455 §4).
    Http1,
    /// An HTTP/2 extended CONNECT with `:protocol = websocket`, answered by 200, with no key and no accept
    /// (RFC 8441 §4–5). The stream is the WebSocket's byte stream.
    Http2,
}

impl RequestError {
    /// The header fields a refusal carries in `form`. Over HTTP/2 a 426 carries only `Sec-WebSocket-Version:
    /// 13`: `Upgrade` and `Connection` are connection-specific fields an HTTP/2 message must not contain
    /// (RFC 9113 §8.2.2).
    pub fn response_headers_for(&self, form: Form) -> &'static [(&'static str, &'static str)] {
        match form {
            Form::Http1 => self.response_headers(),
            Form::Http2 => match self {
                RequestError::UnsupportedVersion => &[("Sec-WebSocket-Version", super::SUPPORTED_VERSION)],
                _ => &[],
            },
        }
    }
}

/// A valid upgrade request from another HTTP stack, waiting to be accepted (or dropped, and refused with a
/// status of the application's choosing).
#[derive(Debug, Clone)]
pub struct ServerUpgrade {
    config: Config,
    form: Form,
    /// `Sec-WebSocket-Key` (HTTP/1.1 only).
    key: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<String>,
}

/// An accepted upgrade: send `status` with `headers`, then speak WebSocket over the upgraded stream (HTTP/1.1)
/// or the CONNECT stream (HTTP/2) with `connection`.
#[derive(Debug)]
pub struct Accepted {
    /// 101 (HTTP/1.1) or 200 (HTTP/2, RFC 8441 §5).
    pub status: u16,
    /// The response header fields, in order (no framing fields: the HTTP stack adds what it needs).
    pub headers: Vec<(String, String)>,
    /// The connection, with permessage-deflate on exactly when `headers` answer it.
    pub connection: Connection,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` answered, if any.
    pub extensions: Option<String>,
}

impl ServerUpgrade {
    /// Checks an HTTP/1.x request's method, version and header fields (RFC 6455 §4.2.1; see
    /// [`validate_request`] for the exact rules). `http11` is whether the request is HTTP/1.1 or later.
    pub fn http1(
        config: Config,
        method: &str,
        http11: bool,
        headers: &[Header],
    ) -> Result<ServerUpgrade, RequestError> {
        let info = validate_request(method, http11, headers)?;
        Ok(ServerUpgrade {
            config,
            form: Form::Http1,
            key: Some(info.key),
            protocols: info.protocols,
            extensions: info.extensions,
        })
    }

    /// Checks an HTTP/2 extended CONNECT (RFC 8441 §4): method `CONNECT`, the `:protocol` pseudo-header
    /// `websocket` (given as `protocol`), and `Sec-WebSocket-Version: 13` (§5). `Sec-WebSocket-Key`,
    /// `Upgrade` and `Connection` play no part (§5: "the Sec-WebSocket-Key and Sec-WebSocket-Accept header
    /// fields are not used"). Subprotocols and extensions are offered as in HTTP/1.1.
    pub fn http2(
        config: Config,
        method: &str,
        protocol: Option<&str>,
        headers: &[Header],
    ) -> Result<ServerUpgrade, RequestError> {
        if method != "CONNECT" {
            return Err(RequestError::NotConnect);
        }
        if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
            return Err(RequestError::NotWebSocketProtocol);
        }
        let version_ok =
            matches!(headers::single(headers, "sec-websocket-version"), Ok(Some(v)) if v.trim_ascii() == b"13");
        if !version_ok {
            return Err(RequestError::UnsupportedVersion);
        }
        let too_many = |_| RequestError::Malformed(MalformedHead::TooManyListElements);
        Ok(ServerUpgrade {
            config,
            form: Form::Http2,
            key: None,
            protocols: headers::list(headers, "sec-websocket-protocol").map_err(too_many)?,
            extensions: headers::list(headers, "sec-websocket-extensions").map_err(too_many)?,
        })
    }

    /// Replaces the configuration the connection will have (and whose [`Config::deflate`] decides
    /// permessage-deflate), e.g. when the HTTP stack parsed the request before the route chose its settings.
    pub fn with_config(mut self, config: Config) -> ServerUpgrade {
        self.config = config;
        self
    }

    /// The form of the request.
    pub fn form(&self) -> Form {
        self.form
    }

    /// The subprotocols offered, in the client's order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extension offers, each with its parameters.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The first of `supported` the client offered: a server-side preference order (RFC 6455 §4.2.2 leaves
    /// the choice to the server).
    pub fn select_protocol<'a>(&self, supported: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        supported.into_iter().find(|s| self.protocols.iter().any(|o| o == s))
    }

    /// Accepts: the answer (RFC 6455 §4.2.2, or RFC 8441 §5 over HTTP/2) and the connection. permessage-deflate
    /// (RFC 7692 §5) is answered for the first acceptable offer when [`Config::deflate`] is set, and turned on
    /// in the connection at the same time. Fails if `accept` names a subprotocol that was not offered, has an
    /// invalid extra header, or the configuration is invalid.
    pub fn accept(self, accept: Accept) -> Result<Accepted, BuildError> {
        if let Some(p) = &accept.protocol {
            if !self.protocols.iter().any(|o| o == p) {
                return Err(BuildError::UnofferedProtocol(p.clone()));
            }
        }
        for (n, v) in &accept.headers {
            if !headers::valid_name(n) || !headers::valid_value(v) {
                return Err(BuildError::InvalidHeader { name: n.clone(), value: v.clone() });
            }
        }
        let mut connection = Connection::new(Role::Server, self.config.clone(), [0; 32])?;
        let mut out: Vec<(String, String)> = Vec::with_capacity(4 + accept.headers.len());
        let status = match (&self.form, &self.key) {
            (Form::Http1, Some(key)) => {
                out.push((UPGRADE_REQUIRED[0].0.into(), UPGRADE_REQUIRED[0].1.into()));
                out.push((UPGRADE_REQUIRED[1].0.into(), UPGRADE_REQUIRED[1].1.into()));
                out.push(("Sec-WebSocket-Accept".into(), super::accept_key(key.as_bytes())));
                101
            }
            _ => 200,
        };
        if let Some(p) = &accept.protocol {
            out.push(("Sec-WebSocket-Protocol".into(), p.clone()));
        }
        let deflate = self.config.deflate.as_ref().and_then(|d| d.negotiate(&self.extensions));
        let extensions = deflate.map(|p| p.response_header());
        if let (Some(p), Some(h)) = (deflate, &extensions) {
            connection.set_deflate(p);
            out.push(("Sec-WebSocket-Extensions".into(), h.clone()));
        }
        out.extend(accept.headers);
        Ok(Accepted { status, headers: out, connection, protocol: accept.protocol, extensions })
    }
}

/// The client's side of an embedded handshake: the header fields to put in the request (which the HTTP stack
/// sends), then [`finish`](Self::finish) with the response.
#[derive(Debug, Clone)]
pub struct ClientUpgrade {
    config: Config,
    form: Form,
    key: Option<String>,
    conn_seed: [u8; 32],
    protocols: Vec<String>,
    extensions: Vec<String>,
}

impl ClientUpgrade {
    /// An offer of `protocols` (in order of preference) and, when [`Config::deflate`] is set,
    /// permessage-deflate. `seed` (32 bytes from the OS's random source) makes the key and the masking keys.
    pub fn new<P: Into<String>>(
        config: Config,
        form: Form,
        protocols: impl IntoIterator<Item = P>,
        seed: [u8; 32],
    ) -> Result<ClientUpgrade, BuildError> {
        config.validate()?;
        let mut rng = StdRng::from_seed(seed);
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let mut conn_seed = [0u8; 32];
        rng.fill_bytes(&mut conn_seed);
        use base64::Engine as _;
        let key = (form == Form::Http1).then(|| base64::engine::general_purpose::STANDARD.encode(nonce));
        let protocols: Vec<String> = protocols.into_iter().map(Into::into).collect();
        for p in &protocols {
            if p.is_empty() || !headers::valid_name(p) {
                return Err(BuildError::InvalidHeader { name: "Sec-WebSocket-Protocol".into(), value: p.clone() });
            }
        }
        let extensions = config.deflate.as_ref().map(|d| d.offer()).into_iter().collect();
        Ok(ClientUpgrade { config, form, key, conn_seed, protocols, extensions })
    }

    /// The `Sec-WebSocket-Key` (HTTP/1.1 only).
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The header fields to send besides `Host` (or `:authority`) and the request-target: for HTTP/1.1
    /// `Upgrade`, `Connection`, `Sec-WebSocket-Key` (RFC 6455 §4.1); for both forms `Sec-WebSocket-Version:
    /// 13` and the offers. Over HTTP/2 the request is a CONNECT with `:protocol = websocket` (RFC 8441 §4),
    /// which the HTTP stack writes.
    pub fn request_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        if let Some(key) = &self.key {
            out.push(("Upgrade", "websocket".to_string()));
            out.push(("Connection", "Upgrade".to_string()));
            out.push(("Sec-WebSocket-Key", key.clone()));
        }
        out.push(("Sec-WebSocket-Version", super::SUPPORTED_VERSION.to_string()));
        if !self.protocols.is_empty() {
            out.push(("Sec-WebSocket-Protocol", self.protocols.join(", ")));
        }
        if !self.extensions.is_empty() {
            out.push(("Sec-WebSocket-Extensions", self.extensions.join(", ")));
        }
        out
    }

    /// Checks the response (HTTP/1.1: RFC 6455 §4.1 client steps 1–6, see
    /// [`validate_response`](super::validate_response); HTTP/2: a 2xx, RFC 8441 §5, with the same subprotocol
    /// and extension checks) and returns the connection, with permessage-deflate on exactly when the server
    /// answered it, and what was agreed.
    pub fn finish(self, status: u16, headers: &[Header]) -> Result<(Connection, Negotiated), ResponseError> {
        let negotiated = match (&self.form, &self.key) {
            (Form::Http1, Some(key)) => {
                super::validate_response(status, headers, key, &self.protocols, &self.extensions)?
            }
            _ => {
                if !(200..300).contains(&status) {
                    return Err(ResponseError::Malformed(MalformedHead::UnexpectedStatus(status)));
                }
                negotiated(headers, &self.protocols, &self.extensions)?
            }
        };
        let mut connection =
            Connection::new(Role::Client, self.config.clone(), self.conn_seed).expect("config validated in new");
        if let Some(d) = &self.config.deflate {
            if let Some(p) =
                crate::deflate::from_response(d, &negotiated.extensions).map_err(ResponseError::BadExtension)?
            {
                connection.set_deflate(p);
            }
        }
        Ok((connection, negotiated))
    }
}

/// Whether a request is an HTTP/1.1 WebSocket upgrade at all, for routing before [`ServerUpgrade::http1`].
pub fn wants_upgrade(headers: &[Header]) -> bool {
    is_upgrade_request(headers)
}

#[cfg(feature = "http")]
mod http_interop {
    use super::*;

    /// The header fields of an `http::HeaderMap` as the core's [`Header`]s (names lower-case, as `http`
    /// keeps them).
    pub fn headers_from(map: &http::HeaderMap) -> Vec<Header> {
        map.iter().map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec())).collect()
    }

    fn header_map<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (n, v) in fields {
            // Names and values were checked by the core (tokens; no control characters).
            if let (Ok(n), Ok(v)) = (http::HeaderName::try_from(n), http::HeaderValue::try_from(v)) {
                map.append(n, v);
            }
        }
        map
    }

    impl ServerUpgrade {
        /// [`http1`](Self::http1) or [`http2`](Self::http2), by the request's version: an HTTP/2 (or later)
        /// request is an extended CONNECT whose `:protocol` the HTTP stack gives as `protocol` (hyper:
        /// `hyper::ext::Protocol` in the request's extensions).
        pub fn from_http(
            config: Config,
            method: &http::Method,
            version: http::Version,
            protocol: Option<&str>,
            headers: &http::HeaderMap,
        ) -> Result<ServerUpgrade, RequestError> {
            let fields = headers_from(headers);
            if version >= http::Version::HTTP_2 {
                ServerUpgrade::http2(config, method.as_str(), protocol, &fields)
            } else {
                ServerUpgrade::http1(config, method.as_str(), version == http::Version::HTTP_11, &fields)
            }
        }
    }

    impl Accepted {
        /// The answer as an `http::Response<()>`: status and header fields.
        pub fn http_response(&self) -> http::Response<()> {
            let mut r = http::Response::new(());
            *r.status_mut() = http::StatusCode::from_u16(self.status).expect("101 or 200");
            *r.headers_mut() = header_map(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            r
        }
    }

    impl RequestError {
        /// The refusal as an `http::Response` with a short text body: [`status`](Self::status) and
        /// [`response_headers_for`](Self::response_headers_for) `form`.
        pub fn http_response(&self, form: Form) -> http::Response<String> {
            let mut r = http::Response::new(self.to_string());
            *r.status_mut() = http::StatusCode::from_u16(self.status()).expect("4xx");
            *r.headers_mut() = header_map(self.response_headers_for(form).iter().copied());
            r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
            r
        }
    }

    impl ClientUpgrade {
        /// [`request_headers`](Self::request_headers) as an `http::HeaderMap`.
        pub fn header_map(&self) -> http::HeaderMap {
            let fields = self.request_headers();
            header_map(fields.iter().map(|(n, v)| (*n, v.as_str())))
        }

        /// [`finish`](Self::finish) with a response's status and header fields.
        pub fn finish_http(
            self,
            status: http::StatusCode,
            headers: &http::HeaderMap,
        ) -> Result<(Connection, Negotiated), ResponseError> {
            self.finish(status.as_u16(), &headers_from(headers))
        }
    }
}

#[cfg(feature = "http")]
pub use http_interop::headers_from;
