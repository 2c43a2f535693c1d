//! `wsproto-tokio` over tokio's `TcpStream` on 127.0.0.1: the adapter's `accept_with` and `client_handshake`,
//! and its `WebSocket`, on a current-thread runtime.

use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsproto::handshake::ClientRequest;
use wsproto::{CloseCode, CloseFrame};
use wsproto_tokio::{Accepted, Error, Message, WebSocket};

use crate::{choose, Command, Conversation, Driver, Msg, Opening, Report, Side, Step, LIMIT, MASKED_FRAME};

/// `wsproto-tokio`.
pub struct Tokio;

/// The adapter's settings for the core's. (The adapter is moving its close and keepalive deadlines into the
/// core's; until then they are copied here.)
pub(crate) fn config(core: &wsproto::Config) -> wsproto_tokio::Config {
    let mut c = wsproto_tokio::Config::default().protocol(core.clone()).close_timeout(core.close_timeout);
    if let Some(k) = core.keepalive {
        c = c.keepalive(k.interval, k.timeout);
    }
    c
}

pub(crate) fn msg(m: Message) -> Option<Msg> {
    Some(match m {
        Message::Text(t) => Msg::Text(t.to_string()),
        Message::Binary(b) => Msg::Binary(b.to_vec()),
        Message::Ping(p) => Msg::Ping(p.to_vec()),
        Message::Pong(p) => Msg::Pong(p.to_vec()),
        Message::Close(c) => c.map_or(Msg::Close(None, String::new()), |c| Msg::Close(c.code.map(|c| c.0), c.reason)),
        Message::Fragment(_) => return None,
    })
}

/// Reads the stream under the WebSocket raw until EOF (the WebSocket is no longer driven).
async fn read_raw(stream: &TcpStream, raw: &mut Vec<u8>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Writes raw bytes on the stream under the WebSocket.
async fn write_raw(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.expect("writable");
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("raw write: {e}"),
        }
    }
}

async fn serve(mut stream: TcpStream, conversation: &Conversation) -> Side {
    let mut side = Side::default();
    if conversation.opening == Opening::SilentServer {
        let _ = stream.read_to_end(&mut side.raw).await;
        return side;
    }
    let spec = &conversation.server;
    let mut start = Instant::now();
    let mut ws = match wsproto_tokio::accept_with(stream, config(&spec.config), |req| Ok(choose(spec, req))).await {
        Ok(Accepted::WebSocket(ws, req)) => {
            side.protocol = req.protocols.iter().find(|p| spec.protocols.contains(&p.as_str())).cloned();
            ws
        }
        Ok(Accepted::Http(http)) => {
            let _ = http.respond(426, &wsproto::handshake::UPGRADE_REQUIRED, b"").await;
            side.refused_with = Some(426);
            return side;
        }
        Ok(Accepted::Rejected(_, status)) => {
            side.refused_with = Some(status);
            return side;
        }
        Err(Error::Request(e)) => {
            side.handshake_error = Some(e.status().to_string());
            side.last_step = start.elapsed();
            return side;
        }
        Err(Error::Timeout(wsproto_tokio::TimeoutKind::Handshake)) => {
            side.handshake_error = Some("408".into());
            side.last_step = start.elapsed();
            return side;
        }
        Err(e) => panic!("accept: {e}"),
    };
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
                    read_raw(ws.get_ref(), &mut side.raw).await;
                    break;
                }
                Command::Masked => write_raw(ws.get_ref(), &MASKED_FRAME).await,
            },
            Msg::Binary(b) => ws.send(Message::binary(b)).await.expect("echo"),
            _ => {}
        }
    }
    side.outcome = ws.close_outcome().cloned();
    side.last_step = start.elapsed();
    side
}

async fn client(addr: &str, conversation: &Conversation) -> Side {
    let mut side = Side::default();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    if let Opening::RawRequest(bytes) = &conversation.opening {
        let start = Instant::now();
        stream.write_all(bytes).await.expect("write");
        let _ = stream.read_to_end(&mut side.raw).await;
        side.last_step = start.elapsed();
        return side;
    }
    let mut request = ClientRequest::new(addr, "/");
    request.protocols = conversation.client.protocols.iter().map(|p| p.to_string()).collect();
    let start = Instant::now();
    let mut ws: WebSocket<TcpStream> =
        match wsproto_tokio::client_handshake(stream, request, config(&conversation.client.config)).await {
            Ok((ws, _, agreed)) => {
                side.protocol = agreed.protocol;
                ws
            }
            Err(e) => {
                side.handshake_error = Some(format!("{e:?}"));
                side.last_step = start.elapsed();
                return side;
            }
        };
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
            Step::Raw(bytes) => write_raw(ws.get_ref(), bytes).await,
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
            Step::MuteUntilEof => read_raw(ws.get_ref(), &mut side.raw).await,
        }
        side.last_step = start.elapsed();
    }
    side.outcome = ws.close_outcome().cloned();
    side
}

impl Driver for Tokio {
    const NAME: &'static str = "tokio";

    fn run(conversation: &Conversation) -> Report {
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
                let client = client(&addr, conversation).await;
                Report { client, server: server.await.expect("server task") }
            })
            .await
            .expect("conversation within the limit")
        })
    }
}
