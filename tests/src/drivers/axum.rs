//! axum 0.8 on hyper 1: the server is an axum `Router` whose route takes `wsproto_tokio::axum::WebSocketUpgrade`,
//! served per connection by hyper-util's auto builder (HTTP/1.1 with upgrades, HTTP/2 with extended CONNECT,
//! as `axum::serve` does, plus hyper's header-read timeout from the server's handshake deadline).
//!
//! - [`AxumH1`]: the client is `wsproto-tokio`'s own over TCP (an HTTP/1.1 upgrade, RFC 6455 §4).
//! - [`AxumH2`]: the client is hyper's HTTP/2 client over h2c (prior knowledge) with
//!   `wsproto_tokio::hyper::connect_h2`: an extended CONNECT (RFC 8441), answered 200.
//!
//! The request head is hyper's to read: a head that never ends is closed by hyper at the deadline without an
//! answer (no 408), which the suite accepts from drivers with [`Driver::ANSWERS_HEAD_TIMEOUT`] false.

use std::time::Instant;

use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsproto::handshake::ClientRequest;
use wsproto::{CloseCode, CloseFrame};
use wsproto_tokio::axum::{AxumWebSocket, WebSocketUpgrade};
use wsproto_tokio::{Message, WebSocket};

use super::tokio::{config, msg};
use crate::{Command, Conversation, Driver, Msg, Opening, Report, Side, Spec, Step, LIMIT, MASKED_FRAME};

/// axum over HTTP/1.1.
pub struct AxumH1;

/// axum over HTTP/2 (h2c), RFC 8441.
pub struct AxumH2;

/// Reads the stream raw until EOF or an error.
async fn read_raw<S: AsyncRead + Unpin>(stream: &mut S, raw: &mut Vec<u8>) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// The suite's server handler on the WebSocket the route got.
async fn handler(mut ws: AxumWebSocket, side: &mut Side) {
    let mut start = Instant::now();
    side.deflate = ws.connection().is_deflate_enabled();
    while let Some(received) = ws.recv().await {
        let Ok(m) = received else { continue };
        let Some(m) = msg(m) else { continue };
        side.events.push(m.clone());
        match m {
            Msg::Text(t) => match Command::parse(&t) {
                Command::Echo => ws.send(Message::text(t)).await.expect("echo"),
                Command::Close(code, reason) => {
                    let frame = CloseFrame { code: Some(CloseCode(code)), reason };
                    start = Instant::now();
                    ws.send(Message::Close(Some(frame))).await.expect("close");
                }
                Command::Mute => {
                    ws.send(t.clone()).await.expect("echo");
                    read_raw(ws.get_mut(), &mut side.raw).await;
                    break;
                }
                Command::Masked => {
                    let io = ws.get_mut();
                    io.write_all(&MASKED_FRAME).await.expect("raw write");
                    io.flush().await.expect("raw flush");
                }
            },
            Msg::Binary(b) => ws.send(Message::binary(b)).await.expect("echo"),
            _ => {}
        }
    }
    side.outcome = ws.close_outcome().cloned();
    side.last_step = start.elapsed();
}

/// The app: one route, `any` (GET upgrades and HTTP/2 CONNECTs), running the handler; the server's side is
/// reported through `report`.
fn app(spec: Spec, report: mpsc::UnboundedSender<Side>) -> Router {
    let route = move |upgrade: WebSocketUpgrade| {
        let spec = spec.clone();
        let report = report.clone();
        async move {
            let upgrade = upgrade.config(config(&spec.config)).protocols(spec.protocols.iter().copied());
            let protocol = upgrade.selected_protocol().map(str::to_string);
            let response: Response = upgrade.on_upgrade(move |ws| async move {
                let mut side = Side { protocol, ..Side::default() };
                handler(ws, &mut side).await;
                let _ = report.send(side);
            });
            response
        }
    };
    Router::new().route("/", any(route))
}

/// Serves one connection with the app; returns the server's side once the connection and the handler ended.
async fn serve(tcp: TcpStream, conversation: &Conversation) -> Side {
    let mut side = Side::default();
    if conversation.opening == Opening::SilentServer {
        let mut tcp = tcp;
        let _ = tcp.read_to_end(&mut side.raw).await;
        return side;
    }
    let (report, mut reported) = mpsc::unbounded_channel();
    let service = TowerToHyperService::new(app(conversation.server.clone(), report));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(conversation.server.config.handshake_timeout);
    builder.http2().enable_connect_protocol();
    let start = Instant::now();
    let _ = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await;
    // The handler runs on its own task and may outlive hyper's connection future (an HTTP/1.1 upgrade ends it):
    // its report, or none when the route never ran (every sender dropped with the app).
    match reported.recv().await {
        Some(side) => side,
        None => {
            // hyper closed the connection before the route took a request (a head timeout).
            side.last_step = start.elapsed();
            side.handshake_error = Some("closed by hyper".into());
            side
        }
    }
}

/// The client's script on an open WebSocket.
async fn play<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>, conversation: &Conversation, side: &mut Side) {
    side.deflate = ws.connection().is_deflate_enabled();
    for step in &conversation.steps {
        let start = Instant::now();
        match step {
            Step::Send(m) => {
                let m = match m.clone() {
                    Msg::Text(t) => Message::text(t),
                    Msg::Binary(b) => Message::binary(b),
                    Msg::Ping(p) => Message::Ping(p.into()),
                    Msg::Pong(p) => Message::Pong(p.into()),
                    Msg::Close(..) => unreachable!("use Step::Close"),
                };
                ws.send(m).await.expect("send");
            }
            Step::SendFragments(kind, parts) => {
                for (i, part) in parts.iter().enumerate() {
                    ws.send_fragment(*kind, Bytes::from(part.clone()), i + 1 == parts.len()).await.expect("fragment");
                }
            }
            Step::Raw(bytes) => {
                let io = ws.get_mut();
                io.write_all(bytes).await.expect("raw write");
                io.flush().await.expect("raw flush");
            }
            Step::Recv(n) => {
                let mut got = 0;
                while got < *n {
                    match ws.recv().await {
                        Some(Ok(m)) => {
                            if let Some(m) = msg(m) {
                                side.events.push(m);
                                got += 1;
                            }
                        }
                        _ => break,
                    }
                }
            }
            Step::Close(..) | Step::UntilEnd => {
                if let Step::Close(code, reason) = step {
                    let frame = CloseFrame { code: Some(CloseCode(*code)), reason: reason.clone() };
                    let _ = ws.send(Message::Close(Some(frame))).await;
                }
                while let Some(received) = ws.recv().await {
                    if let Some(m) = received.ok().and_then(msg) {
                        side.events.push(m);
                    }
                }
            }
            Step::MuteUntilEof => read_raw(ws.get_mut(), &mut side.raw).await,
        }
        side.last_step = start.elapsed();
    }
    side.outcome = ws.close_outcome().cloned();
}

/// The client: a raw opening, or the handshake in `h2`'s form, then the script.
async fn client(addr: &str, conversation: &Conversation, h2: bool) -> Side {
    let mut side = Side::default();
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    if let Opening::RawRequest(bytes) = &conversation.opening {
        let start = Instant::now();
        tcp.write_all(bytes).await.expect("write");
        let _ = tcp.read_to_end(&mut side.raw).await;
        side.last_step = start.elapsed();
        return side;
    }
    let cfg = config(&conversation.client.config);
    let protocols = &conversation.client.protocols;
    let start = Instant::now();
    if !h2 {
        let mut request = ClientRequest::new(addr, "/");
        request.protocols = protocols.iter().map(|p| p.to_string()).collect();
        match wsproto_tokio::client_handshake(tcp, request, cfg).await {
            Ok((ws, _, agreed)) => {
                side.protocol = agreed.protocol;
                play(ws, conversation, &mut side).await;
            }
            Err(e) => {
                side.handshake_error = Some(format!("{e:?}"));
                side.last_step = start.elapsed();
            }
        }
        return side;
    }
    // HTTP/2 with prior knowledge: hyper's client connection, then the CONNECT. The HTTP/2 handshake itself
    // counts against the handshake deadline.
    let open = async {
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| wsproto_tokio::Error::Io(std::io::Error::other(e)))?;
        tokio::spawn(connection);
        let uri: http::Uri = format!("http://{addr}/").parse().expect("uri");
        wsproto_tokio::hyper::connect_h2::<Empty<Bytes>>(&mut sender, uri, &cfg, protocols).await
    };
    let opened = match conversation.client.config.handshake_timeout {
        Some(t) => tokio::time::timeout(t, open)
            .await
            .unwrap_or(Err(wsproto_tokio::Error::Timeout(wsproto_tokio::TimeoutKind::Handshake))),
        None => open.await,
    };
    match opened {
        Ok((ws, agreed)) => {
            side.protocol = agreed.protocol;
            play(ws, conversation, &mut side).await;
        }
        Err(e) => {
            side.handshake_error = Some(format!("{e:?}"));
            side.last_step = start.elapsed();
        }
    }
    side
}

fn run(conversation: &Conversation, h2: bool) -> Report {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("bound").to_string();
            let conv = conversation.clone();
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.expect("accept");
                serve(stream, &conv).await
            });
            let client = client(&addr, conversation, h2).await;
            Report { client, server: server.await.expect("server task") }
        })
        .await
        .expect("conversation within the limit")
    })
}

impl Driver for AxumH1 {
    const NAME: &'static str = "axum-http1";
    const ANSWERS_HEAD_TIMEOUT: bool = false;

    fn run(conversation: &Conversation) -> Report {
        run(conversation, false)
    }
}

impl Driver for AxumH2 {
    const NAME: &'static str = "axum-h2c";
    const ANSWERS_HEAD_TIMEOUT: bool = false;
    const REQUEST_START: &'static [u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn run(conversation: &Conversation) -> Report {
        run(conversation, true)
    }
}
