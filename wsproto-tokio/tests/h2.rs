//! WebSockets over HTTP/2 (RFC 8441) with the axum extractor: one `any` route serves HTTP/1.1 upgrades and
//! HTTP/2 extended CONNECTs (`axum::serve` announces `SETTINGS_ENABLE_CONNECT_PROTOCOL`, §3). Our client
//! (`wsproto_tokio::hyper::connect_h2` on hyper's http2 client) over h2c and over h2 with TLS; headless
//! Chromium over https with HTTP/2, where the server checks that the WebSocket arrived as an HTTP/2 CONNECT.
//!
//! The Chromium test follows `browser.rs`: a missing Chromium fails, unless `WSPROTO_SKIP_BROWSER=1` (then
//! `SKIPPED` on stderr); under `CI=true` it fails.
#![cfg(feature = "axum")]

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use bytes::Bytes;
use common::within;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use wsproto::handshake::Form;
use wsproto_tokio::axum::WebSocketUpgrade;
use wsproto_tokio::{Config, Message};

const PAGE: &str = include_str!("../examples/axum.html");

/// The app: the page, and the example's echo route, reporting each WebSocket's form and HTTP version.
fn app(forms: mpsc::UnboundedSender<(Form, http::Version)>) -> Router {
    let ws = move |version: http::Version, upgrade: WebSocketUpgrade| {
        let _ = forms.send((upgrade.form(), version));
        async move {
            let response: Response = upgrade.protocols(["echo"]).on_upgrade(|mut ws| async move {
                while let Some(Ok(msg)) = ws.recv().await {
                    if msg.is_data() && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            response
        }
    };
    Router::new().route("/", get(|| async { Html(PAGE) })).route("/ws", any(ws))
}

/// A TLS listener for `axum::serve`, offering h2 and http/1.1 by ALPN (handshake failures are skipped).
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(Ok(tls)) = tokio::time::timeout(common::WAIT, self.acceptor.accept(tcp)).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

struct Served {
    addr: SocketAddr,
    forms: mpsc::UnboundedReceiver<(Form, http::Version)>,
    /// The certificate (TLS only).
    cert_pem: Option<String>,
}

async fn serve(tls: bool) -> Served {
    let (tx, forms) = mpsc::unbounded_channel();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    if !tls {
        tokio::spawn(async move { axum::serve(tcp, app(tx)).await });
        return Served { addr, forms, cert_pem: None };
    }
    let cert = common::self_signed();
    let key = std::fs::read(&cert.key).unwrap();
    let config = wsproto_tokio::tls::server_config_from_pem(cert.cert_pem.as_bytes(), &key).unwrap();
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move { axum::serve(TlsListener { tcp, acceptor }, app(tx)).await });
    Served { addr, forms, cert_pem: Some(cert.cert_pem) }
}

/// Our client over an HTTP/2 connection on `io`: CONNECT, then compressed echoes.
async fn exchange_over_h2<S>(io: S, addr: SocketAddr, scheme: &str, served: &mut Served)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        within("the HTTP/2 handshake", hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)))
            .await
            .unwrap();
    tokio::spawn(connection);
    let uri: http::Uri = format!("{scheme}://{addr}/ws").parse().unwrap();
    let (mut ws, agreed) = within(
        "the extended CONNECT",
        wsproto_tokio::hyper::connect_h2::<Empty<Bytes>>(&mut sender, uri, &Config::default(), &["echo"]),
    )
    .await
    .unwrap();
    assert_eq!(agreed.protocol.as_deref(), Some("echo"));
    assert_eq!(agreed.extensions, ["permessage-deflate"]);
    assert!(ws.connection().is_deflate_enabled());
    let text = "compress me ".repeat(1000);
    for _ in 0..10 {
        ws.send(text.as_str()).await.unwrap();
        assert_eq!(within("an echo", ws.recv()).await.unwrap().unwrap(), Message::text(text.as_str()));
    }
    let outcome = within("the close", ws.close(wsproto_tokio::CloseCode::NORMAL, "")).await.unwrap();
    assert!(matches!(outcome, wsproto_tokio::CloseOutcome::Clean { .. }), "{outcome:?}");
    let (form, version) = served.forms.recv().await.unwrap();
    assert_eq!((form, version), (Form::Http2, http::Version::HTTP_2), "the route saw an RFC 8441 CONNECT");
    // A second WebSocket on the same HTTP/2 connection: its own stream.
    let uri: http::Uri = format!("{scheme}://{addr}/ws").parse().unwrap();
    let (mut ws2, _) =
        wsproto_tokio::hyper::connect_h2::<Empty<Bytes>>(&mut sender, uri, &Config::default(), &[]).await.unwrap();
    ws2.send("again").await.unwrap();
    assert_eq!(within("an echo", ws2.recv()).await.unwrap().unwrap(), Message::text("again"));
}

#[tokio::test]
async fn our_client_over_h2c() {
    let mut served = serve(false).await;
    let tcp = TcpStream::connect(served.addr).await.unwrap();
    let addr = served.addr;
    exchange_over_h2(tcp, addr, "http", &mut served).await;
}

#[tokio::test]
async fn our_client_over_h2_with_tls() {
    let mut served = serve(true).await;
    let pem = served.cert_pem.clone().unwrap();
    let config = wsproto_tokio::tls::client_config_trusting_pem(pem.as_bytes()).unwrap();
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(served.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = within("TLS", tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp)).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "ALPN chose HTTP/2");
    let addr = served.addr;
    exchange_over_h2(tls, addr, "https", &mut served).await;
}

/// The same route still takes HTTP/1.1 upgrades.
#[tokio::test]
async fn the_same_route_takes_http1_upgrades() {
    let mut served = serve(false).await;
    let opts = wsproto_tokio::ConnectOptions { protocols: vec!["echo".into()], ..Default::default() };
    let (mut ws, response) =
        within("the upgrade", wsproto_tokio::connect_with(&format!("ws://{}/ws", served.addr), opts)).await.unwrap();
    assert_eq!(response.status, 101);
    ws.send("hi").await.unwrap();
    assert_eq!(within("an echo", ws.recv()).await.unwrap().unwrap(), Message::text("hi"));
    assert_eq!(served.forms.recv().await.unwrap(), (Form::Http1, http::Version::HTTP_11));
}

#[tokio::test]
async fn chromium_over_https_uses_http2_connect() {
    let Some(chromium) = browser::chromium() else { return };
    let mut served = serve(true).await;
    let mut browser = browser::Browser::launch_with(chromium, &["--ignore-certificate-errors"]).await;
    let page = browser.open(&format!("https://localhost:{}/", served.addr.port())).await;
    browser
        .wait_for(&page, &["extensions: permessage-deflate", "protocol: echo", "echoed: 5 of ", "closed: 1000"])
        .await;
    let (form, version) = served.forms.recv().await.unwrap();
    assert_eq!(
        (form, version),
        (Form::Http2, http::Version::HTTP_2),
        "Chromium opened its WebSocket as an HTTP/2 extended CONNECT"
    );
}
