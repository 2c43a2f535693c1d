//! `wsproto-futures` on smol over `smol::net::TcpStream` on 127.0.0.1, with [`SmolTimer`]: the driver's
//! `accept_with`, `client_handshake` and `WebSocket`. Every deadline is the core's.

use std::time::Instant;

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use wsproto::handshake::ClientRequest;
use wsproto::{CloseCode, Event};
use wsproto_futures::{Error, Message, SmolTimer, WebSocket};

use crate::{choose, Command, Conversation, Driver, Msg, Opening, Report, Side, Step, LIMIT, MASKED_FRAME};

/// `wsproto-futures` on smol.
pub struct Smol;

type Ws = WebSocket<TcpStream, SmolTimer>;

/// Reads the stream under the WebSocket raw until EOF (the WebSocket is no longer driven).
async fn read_raw(ws: &mut Ws, raw: &mut Vec<u8>) {
    let _ = ws.get_mut().read_to_end(raw).await;
}

async fn serve(mut stream: TcpStream, conversation: &Conversation) -> Side {
    let mut side = Side::default();
    if conversation.opening == Opening::SilentServer {
        let _ = stream.read_to_end(&mut side.raw).await;
        return side;
    }
    let spec = &conversation.server;
    let mut start = Instant::now();
    let mut ws =
        match wsproto_futures::accept_with(stream, spec.config.clone(), SmolTimer, |req| Ok(choose(spec, req))).await {
            Ok((ws, req)) => {
                side.protocol = req.protocols.iter().find(|p| spec.protocols.contains(&p.as_str())).cloned();
                ws
            }
            Err(Error::Refused(status)) => {
                side.refused_with = Some(status);
                return side;
            }
            Err(Error::Request(e)) => {
                side.handshake_error = Some(e.status().to_string());
                side.last_step = start.elapsed();
                return side;
            }
            Err(e) => panic!("accept: {e}"),
        };
    side.deflate = ws.connection().is_deflate_enabled();
    while let Some(received) = ws.recv().await {
        let Some(m) = received.ok().as_ref().and_then(Msg::from_event) else { continue };
        side.events.push(m.clone());
        match m {
            Msg::Text(t) => match Command::parse(&t) {
                Command::Echo => ws.send(t).await.expect("echo"),
                Command::Close(code, reason) => {
                    start = Instant::now();
                    ws.send(Message::Close(CloseCode(code), reason)).await.expect("close");
                }
                Command::Mute => {
                    ws.send(t.clone()).await.expect("echo");
                    read_raw(&mut ws, &mut side.raw).await;
                    break;
                }
                Command::Masked => ws.get_mut().write_all(&MASKED_FRAME).await.expect("raw write"),
            },
            Msg::Binary(b) => ws.send(b).await.expect("echo"),
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
    let config = conversation.client.config.clone();
    let start = Instant::now();
    let mut ws = match wsproto_futures::client_handshake(stream, request, config, SmolTimer).await {
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
    let record = |side: &mut Side, event: Option<Result<Event, Error>>| -> bool {
        match event {
            Some(Ok(ev)) => {
                side.events.extend(Msg::from_event(&ev));
                true
            }
            Some(Err(_)) => true,
            None => false,
        }
    };
    for step in &conversation.steps {
        let start = Instant::now();
        match step {
            Step::Send(m) => {
                let m = match m.clone() {
                    Msg::Text(t) => Message::Text(t),
                    Msg::Binary(b) => Message::Binary(b.into()),
                    Msg::Ping(p) => Message::Ping(p.into()),
                    Msg::Pong(p) => Message::Pong(p.into()),
                    Msg::Close(..) => unreachable!("use Step::Close"),
                };
                ws.send(m).await.expect("send");
            }
            Step::SendFragments(kind, parts) => {
                for (i, part) in parts.iter().enumerate() {
                    ws.queue_fragment(*kind, part, i + 1 == parts.len()).expect("fragment");
                }
                ws.flush().await.expect("flush");
            }
            Step::Raw(bytes) => ws.get_mut().write_all(bytes).await.expect("raw write"),
            Step::Recv(n) => {
                let target = side.events.len() + n;
                while side.events.len() < target {
                    let event = ws.recv().await;
                    if event.as_ref().is_none_or(Result::is_err) || !record(&mut side, event) {
                        break;
                    }
                }
            }
            Step::Close(..) | Step::UntilEnd => {
                if let Step::Close(code, reason) = step {
                    let _ = ws.send(Message::Close(CloseCode(*code), reason.clone())).await;
                }
                while record(&mut side, ws.recv().await) {}
            }
            Step::MuteUntilEof => read_raw(&mut ws, &mut side.raw).await,
        }
        side.last_step = start.elapsed();
    }
    side.outcome = ws.close_outcome().cloned();
    side
}

impl Driver for Smol {
    const NAME: &'static str = "smol";

    fn run(conversation: &Conversation) -> Report {
        smol::block_on(smol::future::or(
            async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = listener.local_addr().expect("bound").to_string();
                let conv = conversation.clone();
                let server = smol::spawn(async move {
                    let (stream, _) = listener.accept().await.expect("accept");
                    serve(stream, &conv).await
                });
                let client = client(&addr, conversation).await;
                Report { client, server: server.await }
            },
            async {
                smol::Timer::after(LIMIT).await;
                panic!("conversation over {LIMIT:?}")
            },
        ))
    }
}
