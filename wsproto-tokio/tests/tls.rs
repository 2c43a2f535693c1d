//! `wss://` over loopback with each TLS backend this build has (Cargo features `rustls`,
//! `rustls-platform-verifier`, `native-tls`), against a self-signed certificate made by rcgen; and, in a build
//! without any, the typed refusal of a `wss://` URL. `./run-tests` runs this file once per feature set.

mod common;

#[allow(unused_imports)]
use common::{self_signed, within};
#[allow(unused_imports)]
use wsproto_tokio::{connect_with, CloseCode, ConnectOptions, Error, Message};

/// Serves one echo connection on a loopback listener, through `handshake` (the TLS accept), and returns its
/// port.
#[allow(dead_code)]
async fn serve_one<S, F, Fut>(handshake: F) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<S>> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(tls) = handshake(tcp).await else { return };
        let mut ws = wsproto_tokio::accept(tls).await.unwrap();
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_data() {
                ws.send(msg).await.unwrap();
            }
        }
    });
    port
}

/// Connects to `wss://localhost:{port}/` with `opts`, echoes one message and closes normally.
#[allow(dead_code)]
async fn echo_once(port: u16, opts: ConnectOptions) {
    let url = format!("wss://localhost:{port}/");
    let (mut ws, _) = within("a wss:// handshake", connect_with(&url, opts)).await.expect("wss:// connects");
    ws.send(Message::text("over TLS")).await.unwrap();
    let echoed = within("the echo", ws.recv()).await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("over TLS"));
    let outcome = within("the close", ws.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(outcome.code(), CloseCode::NORMAL);
}

#[cfg(any(feature = "rustls", feature = "rustls-platform-verifier"))]
async fn rustls_server(cert: &common::SelfSigned) -> u16 {
    let config =
        wsproto_tokio::tls::server_config_from_pem(cert.cert_pem.as_bytes(), &std::fs::read(&cert.key).unwrap())
            .unwrap();
    let acceptor = wsproto_tokio::tls::acceptor(config);
    serve_one(move |tcp| async move { acceptor.accept(tcp).await }).await
}

#[cfg(feature = "rustls")]
#[tokio::test]
async fn rustls_trusting_a_self_signed_certificate() {
    let cert = self_signed();
    let port = rustls_server(&cert).await;
    let trusting = wsproto_tokio::tls::client_config_trusting_pem(cert.cert_pem.as_bytes()).unwrap();
    echo_once(port, ConnectOptions { tls: Some(trusting), ..ConnectOptions::default() }).await;

    // The default config (webpki roots) does not trust it: the TLS handshake fails, as an I/O error.
    let port = rustls_server(&cert).await;
    let url = format!("wss://localhost:{port}/");
    let plain = within("a refused handshake", connect_with(&url, ConnectOptions::default())).await;
    assert!(matches!(plain, Err(Error::Io(_))));
}

#[cfg(feature = "rustls-platform-verifier")]
#[tokio::test]
async fn rustls_platform_verifier_with_an_extra_root() {
    let cert = self_signed();
    let port = rustls_server(&cert).await;
    let config = wsproto_tokio::tls::platform_client_config_trusting_pem(cert.cert_pem.as_bytes()).unwrap();
    echo_once(port, ConnectOptions { tls: Some(config), ..ConnectOptions::default() }).await;

    // The platform's roots alone do not trust a certificate made a moment ago.
    let port = rustls_server(&cert).await;
    let config = wsproto_tokio::tls::platform_client_config();
    if let Ok(config) = config {
        let opts = ConnectOptions { tls: Some(config), ..ConnectOptions::default() };
        let r = within("a refused handshake", connect_with(&format!("wss://localhost:{port}/"), opts)).await;
        assert!(matches!(r, Err(Error::Io(_))));
    }
}

#[cfg(feature = "native-tls")]
#[tokio::test]
async fn native_tls_trusting_a_self_signed_certificate() {
    let cert = self_signed();
    let key = std::fs::read(&cert.key).unwrap();
    let acceptor = wsproto_tokio::tls::native_acceptor_from_pem(cert.cert_pem.as_bytes(), &key).unwrap();
    let port = serve_one({
        let acceptor = acceptor.clone();
        move |tcp| async move { acceptor.accept(tcp).await.map_err(std::io::Error::other) }
    })
    .await;
    let connector = wsproto_tokio::tls::native_connector_trusting_pem(cert.cert_pem.as_bytes()).unwrap();
    let opts = ConnectOptions { native_tls: Some(connector), ..ConnectOptions::default() };
    echo_once(port, opts).await;

    // The platform's roots alone do not trust it.
    let port = serve_one(move |tcp| async move { acceptor.accept(tcp).await.map_err(std::io::Error::other) }).await;
    let opts =
        ConnectOptions { native_tls: Some(wsproto_tokio::tls::native_connector().unwrap()), ..Default::default() };
    let r = within("a refused handshake", connect_with(&format!("wss://localhost:{port}/"), opts)).await;
    assert!(matches!(r, Err(Error::Io(_))));
}

#[cfg(not(any(feature = "rustls", feature = "rustls-platform-verifier", feature = "native-tls")))]
#[tokio::test]
async fn wss_without_a_tls_backend_is_a_typed_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = within("the refusal", connect_with(&format!("wss://127.0.0.1:{port}/"), ConnectOptions::default())).await;
    assert!(matches!(r, Err(Error::TlsUnavailable)), "{:?}", r.map(|_| ()));
}
