//! Accepting connections: the upgrade hook, rejections, and plain HTTP on the same listener.

use std::future::Future;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use wsproto::handshake::{
    write_response, Accept, Incoming, Request, ServerHandshake, UpgradeRequest, UPGRADE_REQUIRED,
};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::handshake::read_head_bytes;
use crate::socket::WebSocket;
use crate::time::Clock;

/// An HTTP answer refusing an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The status (e.g. 403 for a bad origin, 401, 404).
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Reject {
    /// A rejection with `status` and a short text body.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Reject { status, headers: Vec::new(), body: body.into() }
    }
}

/// What arrived on a server connection.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per connection, moved once
pub enum Accepted<S> {
    /// An upgrade the hook accepted: the WebSocket and the request it came with.
    WebSocket(WebSocket<S>, Box<UpgradeRequest>),
    /// A plain HTTP request (no `Upgrade: websocket`): answer it with [`HttpRequest::respond`].
    Http(HttpRequest<S>),
    /// The hook rejected the upgrade; the rejection was sent and the stream closed.
    Rejected(Box<UpgradeRequest>, u16),
}

/// A plain HTTP request that arrived on the WebSocket listener (e.g. the page that opens the WebSocket).
#[derive(Debug)]
pub struct HttpRequest<S> {
    /// The request head.
    pub request: Request,
    stream: S,
}

impl<S: AsyncWrite + Unpin> HttpRequest<S> {
    /// Sends a complete response (with `Connection: close`) and shuts the stream down.
    pub async fn respond(mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::new();
        write_response(status, headers, body, &mut out);
        self.stream.write_all(&out).await?;
        self.stream.shutdown().await
    }

    /// The stream, to answer in another way.
    pub fn into_stream(self) -> S {
        self.stream
    }
}

/// Accepts a WebSocket on `stream` with default settings, accepting any upgrade without a subprotocol. A plain
/// HTTP request is answered with 426 and reported as an error.
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match accept_with(stream, Config::default(), |_| Ok(Accept::default())).await? {
        Accepted::WebSocket(ws, _) => Ok(ws),
        Accepted::Http(http) => {
            // RFC 9110 §15.5.22: `Upgrade: websocket` and `Connection: Upgrade`.
            crate::trace::refused(&Config::default(), 426, &"a plain HTTP request");
            let _ = http.respond(426, &UPGRADE_REQUIRED, b"WebSocket upgrade required\n").await;
            Err(Error::Request(wsproto::handshake::RequestError::MissingConnectionUpgrade))
        }
        Accepted::Rejected(_, _) => unreachable!("the hook accepts everything"),
    }
}

/// Reads the request head (bounded by the handshake limits and timeout), then: for an upgrade, calls `hook`
/// to accept (choosing a subprotocol, adding headers) or reject; for a plain request, hands it back to be
/// answered. A malformed request is answered with its status (400, 414, 426, 431) and returned as
/// [`Error::Request`].
pub async fn accept_with<S, F>(stream: S, config: Config, hook: F) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    // Boxed: the handshake's state (its 4 KiB read buffer, the parser, the request) lives in its own allocation,
    // freed when the handshake ends. Unboxed it sat inside the future of whoever awaits this — typically the
    // connection's task — and so cost every open connection several KB.
    Box::pin(accept_inner(stream, config, hook)).await
}

/// Runs `fut` within `t` (the connect path's transport set-up: TCP and TLS).
pub(crate) async fn with_timeout<T>(
    t: Option<std::time::Duration>,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match t {
        Some(t) => tokio::time::timeout(t, fut).await.unwrap_or(Err(Error::Timeout(TimeoutKind::Handshake))),
        None => fut.await,
    }
}

async fn accept_inner<S, F>(mut stream: S, config: Config, hook: F) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<Accept, Reject>,
{
    let clock = Clock::start();
    let mut hs = ServerHandshake::new(config.protocol.clone())?;
    hs.handle_timeout(clock.now());
    let incoming = loop {
        match hs.poll_request() {
            Ok(Some(incoming)) => break incoming,
            Ok(None) => {}
            Err(e) => {
                // The refusal (400, 408, 414, 426, 431), then the close.
                crate::trace::refused_request(&config, &e);
                let mut out = Vec::new();
                e.write_response(&mut out);
                let _ = stream.write_all(&out).await;
                let _ = stream.shutdown().await;
                return Err(match e {
                    wsproto::handshake::RequestError::Timeout => Error::Timeout(TimeoutKind::Handshake),
                    e => Error::Request(e),
                });
            }
        }
        read_head_bytes(&mut stream, &mut hs, &clock).await?;
    };
    match incoming {
        Incoming::Http(request) => Ok(Accepted::Http(HttpRequest { request, stream })),
        Incoming::Upgrade(req) => match hook(&req) {
            Ok(accept) => {
                let accept_protocol = accept.protocol.clone();
                let mut out = Vec::new();
                let conn = hs.accept(&req, accept, &mut out)?;
                stream.write_all(&out).await?;
                stream.flush().await?;
                let ws = WebSocket::with_clock(stream, conn, config, clock);
                ws.note_opened(accept_protocol.as_deref());
                Ok(Accepted::WebSocket(ws, Box::new(req)))
            }
            Err(reject) => {
                crate::trace::refused(&config, reject.status, &"rejected by the accept hook");
                let mut out = Vec::new();
                let headers: Vec<(&str, &str)> = reject.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                write_response(reject.status, &headers, &reject.body, &mut out);
                stream.write_all(&out).await?;
                let _ = stream.shutdown().await;
                Ok(Accepted::Rejected(Box::new(req), reject.status))
            }
        },
        other => {
            // A kind of request this adapter does not know (a newer core): refuse it and close.
            let mut out = Vec::new();
            write_response(400, &[], b"unsupported request\n", &mut out);
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
            Err(Error::Io(std::io::Error::other(format!("unsupported request: {other:?}"))))
        }
    }
}

impl From<wsproto::ConfigError> for Error {
    fn from(e: wsproto::ConfigError) -> Self {
        Error::Build(wsproto::handshake::BuildError::Config(e))
    }
}
