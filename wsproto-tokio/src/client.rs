//! Connecting: `ws://` over TCP, `wss://` over rustls or native-tls (Cargo features), or a handshake over any
//! stream.

use std::io;
use std::pin::Pin;
#[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
#[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
use tokio_rustls::rustls;
use wsproto::handshake::{ClientHandshake, ClientOutcome, ClientRequest, Negotiated, Response, ResponseError, Uri};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::handshake::read_head_bytes;
use crate::server::with_timeout;
use crate::socket::WebSocket;
use crate::time::Clock;

/// A TCP stream, or a TLS stream over TCP (`wss://`), with one variant per TLS backend built.
#[derive(Debug)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // one per connection; boxing would add an indirection to every read
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://` over rustls (features `rustls`, `rustls-platform-verifier`).
    #[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
    Tls(tokio_rustls::client::TlsStream<TcpStream>),
    /// `wss://` over native-tls (feature `native-tls`).
    #[cfg(feature = "native-tls")]
    NativeTls(tokio_native_tls::TlsStream<TcpStream>),
}

/// Applies `$e` to the stream inside whichever variant `$s` is.
macro_rules! each_stream {
    ($s:expr, $v:ident => $e:expr) => {
        match $s {
            MaybeTlsStream::Plain($v) => $e,
            #[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
            MaybeTlsStream::Tls($v) => $e,
            #[cfg(feature = "native-tls")]
            MaybeTlsStream::NativeTls($v) => $e,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        each_stream!(self, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

/// Options for [`connect_with`].
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Limits and deadlines.
    pub config: Config,
    /// Subprotocols to offer.
    pub protocols: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The rustls client config for `wss://` (default: [`tls::default_client_config`](crate::tls::default_client_config)).
    /// Pass your own to trust a self-signed certificate.
    #[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// A native-tls connector for `wss://`. When set, `wss://` goes over native-tls even if rustls is built
    /// too; when native-tls is the only backend, `None` means [`tls::native_connector`](crate::tls::native_connector).
    #[cfg(feature = "native-tls")]
    pub native_tls: Option<tokio_native_tls::native_tls::TlsConnector>,
}

/// Connects to a `ws://` or `wss://` URL with default options.
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    connect_with(url, ConnectOptions::default()).await
}

/// Connects to a `ws://` or `wss://` URL: TCP, TLS for `wss://`, then the handshake, all within the handshake
/// timeout.
pub async fn connect_with(url: &str, opts: ConnectOptions) -> Result<(WebSocket<MaybeTlsStream>, Response), Error> {
    let uri = Uri::parse(url)?;
    let timeout = opts.config.protocol.handshake_timeout;
    let config = opts.config.clone();
    // Boxed, like `accept_with`: the handshake's state is freed when it ends instead of staying, twice over,
    // inside the future of whoever awaits this for the connection's whole life.
    with_timeout(
        timeout,
        Box::pin(async move {
            let tcp = TcpStream::connect((uri.host.as_str(), uri.port)).await?;
            if opts.config.nodelay {
                tcp.set_nodelay(true)?;
            }
            let peer = tcp.peer_addr().ok();
            let stream =
                if uri.secure { tls_connect(&opts, &uri.host, tcp).await? } else { MaybeTlsStream::Plain(tcp) };
            let mut request = ClientRequest::from_uri(&uri);
            request.protocols = opts.protocols.clone();
            request.headers = opts.headers.clone();
            let (ws, response, _) = handshake(stream, request, opts.config.clone()).await?;
            if let Some(addr) = peer {
                ws.note_peer(addr);
            }
            Ok((ws, response))
        }),
    )
    .await
    .inspect_err(|e| note_timeout(&config, e))
}

/// Counts a client handshake that missed its deadline.
fn note_timeout(config: &Config, e: &Error) {
    if let Error::Timeout(TimeoutKind::Handshake) = e {
        crate::trace::handshake_timeout(config);
    }
}

/// The TLS handshake for `wss://` with the backend [`ConnectOptions`] chooses (see its fields).
#[allow(unused_variables, clippy::needless_return)] // which lines exist depends on the TLS features
async fn tls_connect(opts: &ConnectOptions, host: &str, tcp: TcpStream) -> Result<MaybeTlsStream, Error> {
    #[cfg(feature = "native-tls")]
    if let Some(connector) = &opts.native_tls {
        let connector = tokio_native_tls::TlsConnector::from(connector.clone());
        return Ok(MaybeTlsStream::NativeTls(connector.connect(host, tcp).await.map_err(io::Error::other)?));
    }
    #[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
    {
        let tls = match &opts.tls {
            Some(tls) => tls.clone(),
            None => crate::tls::default_client_config()?,
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|_| Error::Uri(wsproto::handshake::UriError::InvalidTlsServerName))?;
        return Ok(MaybeTlsStream::Tls(tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await?));
    }
    #[cfg(all(feature = "native-tls", not(any(feature = "rustls", feature = "rustls-platform-verifier"))))]
    {
        let connector = tokio_native_tls::TlsConnector::from(crate::tls::native_connector()?);
        return Ok(MaybeTlsStream::NativeTls(connector.connect(host, tcp).await.map_err(io::Error::other)?));
    }
    #[cfg(not(any(feature = "native-tls", feature = "rustls", feature = "rustls-platform-verifier")))]
    Err(Error::TlsUnavailable)
}

/// Runs the client handshake over an established stream (no timeout: wrap it if you need one).
pub async fn client_handshake<S>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response, Negotiated), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stats = config.clone();
    handshake(stream, request, config).await.inspect_err(|e| note_timeout(&stats, e))
}

async fn handshake<S>(
    mut stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response, Negotiated), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let clock = Clock::start();
    let mut hs = ClientHandshake::new(request, config.protocol.clone(), rand::random())?;
    hs.handle_timeout(clock.now());
    let mut out = Vec::new();
    hs.write_request(&mut out)?;
    stream.write_all(&out).await?;
    stream.flush().await?;
    loop {
        match hs.poll_response() {
            Ok(Some(ClientOutcome::Accepted { connection, negotiated, response })) => {
                let ws = WebSocket::with_clock(stream, connection, config, clock);
                ws.note_opened(negotiated.protocol.as_deref());
                return Ok((ws, response, negotiated));
            }
            Ok(Some(ClientOutcome::Rejected(response))) => return Err(Error::Rejected(Box::new(response))),
            Ok(Some(other)) => {
                return Err(Error::Io(std::io::Error::other(format!("unexpected handshake outcome: {other:?}"))))
            }
            Ok(None) => {}
            Err(ResponseError::Timeout) => return Err(Error::Timeout(TimeoutKind::Handshake)),
            Err(e) => return Err(Error::Response(e)),
        }
        read_head_bytes(&mut stream, &mut hs, &clock).await?;
    }
}
