//! Serving WebSockets from a hyper 1 server (feature `hyper`), over HTTP/1.1 upgrades (RFC 6455 §4) and
//! HTTP/2 extended CONNECT (RFC 8441; serve HTTP/2 with `enable_connect_protocol()`).
//!
//! The protocol decisions (checks, subprotocol, permessage-deflate, the answer) are the core's
//! [`ServerUpgrade`]; this module only moves the request's parts in and the response and stream out.
//!
//! ```no_run
//! use http_body_util::Full;
//! # use bytes::Bytes;
//! async fn route(mut req: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
//!     match wsproto_tokio::hyper::upgrade(&mut req, &wsproto_tokio::Config::default(), &["chat"]) {
//!         Ok((response, upgrade)) => {
//!             tokio::spawn(async move {
//!                 let Ok(mut ws) = upgrade.finish().await else { return };
//!                 while let Some(Ok(msg)) = ws.recv().await {
//!                     if msg.is_data() && ws.send(msg).await.is_err() { break }
//!                 }
//!             });
//!             response.map(|()| Full::default())
//!         }
//!         Err(refusal) => refusal.response().map(|body| Full::new(body.into())),
//!     }
//! }
//! ```

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use wsproto::handshake::{Accept, BuildError, ClientUpgrade, Form, Negotiated, RequestError, ServerUpgrade};
use wsproto::Connection;

use crate::config::Config;
use crate::error::Error;
use crate::socket::WebSocket;

/// The stream a hyper upgrade (or an HTTP/2 CONNECT stream) gives.
pub type UpgradedIo = TokioIo<hyper::upgrade::Upgraded>;

/// A request that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Not a valid WebSocket request: the core's reason and the form it came in (which decides the answer's
    /// headers).
    Request {
        /// Why.
        error: RequestError,
        /// HTTP/1.1 or HTTP/2.
        form: Form,
    },
    /// The server's own configuration is invalid ([`wsproto::Config::validate`]): answered with 500.
    Config(BuildError),
    /// hyper offers no upgrade for this request (no `hyper::upgrade::OnUpgrade` in its extensions: not served
    /// by a hyper connection, e.g. a `Router::oneshot` test): answered with 500.
    NotUpgradable,
}

impl Refusal {
    /// The answer: for a bad request, the status (400, 426…) and headers from [`RequestError::http_response`];
    /// 500 for a bad configuration. A text body.
    pub fn response(&self) -> http::Response<String> {
        match self {
            Refusal::Request { error, form } => error.http_response(*form),
            Refusal::Config(e) => server_error(format!("{e}")),
            Refusal::NotUpgradable => server_error("this connection cannot be upgraded".into()),
        }
    }
}

fn server_error(body: String) -> http::Response<String> {
    let mut r = http::Response::new(body);
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// An accepted upgrade whose response is on its way: [`finish`](Self::finish) waits for the stream.
#[derive(Debug)]
pub struct Upgrade {
    on_upgrade: OnUpgrade,
    connection: Connection,
    config: Config,
    form: Form,
    protocol: Option<String>,
}

impl Upgrade {
    /// HTTP/1.1 upgrade or HTTP/2 CONNECT.
    pub fn form(&self) -> Form {
        self.form
    }

    /// The subprotocol chosen.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether permessage-deflate was negotiated.
    pub fn deflate(&self) -> bool {
        self.connection.is_deflate_enabled()
    }

    /// Waits until hyper hands over the stream (after the response was sent), and wraps it.
    pub async fn finish(self) -> Result<WebSocket<UpgradedIo>, Error> {
        let upgraded = self.on_upgrade.await.map_err(|e| Error::Io(std::io::Error::other(e)))?;
        Ok(WebSocket::from_connection(TokioIo::new(upgraded), self.connection, self.config))
    }
}

/// Checks a WebSocket request (an HTTP/1.1 upgrade, or an HTTP/2 CONNECT with `:protocol = websocket`) and
/// accepts it, choosing the first of `protocols` the client offered: the response to send (101 or 200, with
/// `Sec-WebSocket-Accept`, subprotocol and `Sec-WebSocket-Extensions` as negotiated with `config`) and the
/// [`Upgrade`] to finish once it is sent. A request that is not a valid WebSocket request is refused.
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    config: &Config,
    protocols: &[&str],
) -> Result<(http::Response<()>, Upgrade), Refusal> {
    let up = prepare(req.method(), req.version(), req.headers(), req.extensions(), config)?;
    let choice = up.select_protocol(protocols.iter().copied()).map(str::to_string);
    accept(up, req.extensions_mut().remove::<OnUpgrade>(), config, choice)
}

/// The core's view of a request (a `ServerUpgrade` with `config`'s protocol settings); over HTTP/2 the
/// `:protocol` pseudo-header is hyper's `ext::Protocol` extension.
pub(crate) fn prepare(
    method: &http::Method,
    version: http::Version,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
    config: &Config,
) -> Result<ServerUpgrade, Refusal> {
    let protocol = extensions.get::<hyper::ext::Protocol>().map(|p| p.as_str());
    let form = if version >= http::Version::HTTP_2 { Form::Http2 } else { Form::Http1 };
    ServerUpgrade::from_http(config.protocol.clone(), method, version, protocol, headers)
        .map_err(|error| Refusal::Request { error, form })
}

/// Accepts with the subprotocol `choice`: the response and the pending upgrade.
pub(crate) fn accept(
    up: ServerUpgrade,
    on_upgrade: Option<OnUpgrade>,
    config: &Config,
    choice: Option<String>,
) -> Result<(http::Response<()>, Upgrade), Refusal> {
    let form = up.form();
    let on_upgrade = on_upgrade.ok_or(Refusal::NotUpgradable)?;
    let mut accept = Accept::default();
    if let Some(p) = choice {
        accept = accept.protocol(p);
    }
    // The choice is one of the offers: an error here is an invalid configuration.
    let accepted = up.accept(accept).map_err(Refusal::Config)?;
    let response = accepted.http_response();
    let upgrade = Upgrade {
        on_upgrade,
        connection: accepted.connection,
        config: config.clone(),
        form,
        protocol: accepted.protocol,
    };
    Ok((response, upgrade))
}

/// Our client over an HTTP/2 connection (h2c or h2 over TLS) that hyper's http2 client already opened: an
/// extended CONNECT to `uri` with `:protocol = websocket` (RFC 8441 §4), offering `protocols` and, when
/// `config` enables it, permessage-deflate; the core checks the 2xx answer (§5). The server must have
/// announced `SETTINGS_ENABLE_CONNECT_PROTOCOL` (§3), or hyper refuses to send the request. Bounded by
/// [`wsproto::Config::handshake_timeout`].
pub async fn connect_h2<B>(
    sender: &mut hyper::client::conn::http2::SendRequest<B>,
    uri: http::Uri,
    config: &Config,
    protocols: &[&str],
) -> Result<(WebSocket<UpgradedIo>, Negotiated), Error>
where
    B: hyper::body::Body + Default + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let up = ClientUpgrade::new(config.protocol.clone(), Form::Http2, protocols.iter().copied(), rand::random())?;
    let mut req = http::Request::new(B::default());
    *req.method_mut() = http::Method::CONNECT;
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_2;
    *req.headers_mut() = up.header_map();
    req.extensions_mut().insert(hyper::ext::Protocol::from_static("websocket"));
    let other = |e: hyper::Error| Error::Io(std::io::Error::other(e));
    let exchange = async {
        let response = sender.send_request(req).await.map_err(other)?;
        let (connection, negotiated) =
            up.finish_http(response.status(), response.headers()).map_err(Error::Response)?;
        let upgraded = hyper::upgrade::on(response).await.map_err(other)?;
        Ok((WebSocket::from_connection(TokioIo::new(upgraded), connection, config.clone()), negotiated))
    };
    crate::server::with_timeout(config.protocol.handshake_timeout, exchange).await
}
