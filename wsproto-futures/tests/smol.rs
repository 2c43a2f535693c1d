//! wsproto-futures on smol, over TCP on 127.0.0.1: echo (with coalesced replies), keepalive pings answered and
//! unanswered, a peer that never answers our close (the core's close deadline), and handshake deadlines in
//! both roles. Every test is bounded by [`bounded`]; short deadlines keep the suite fast.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, RequestError, ResponseError};
use wsproto::{CloseCode, CloseOutcome, Config, DeflateConfig, Event, Keepalive, ProtocolError, Timeout};
use wsproto_futures::{accept, accept_with, client_handshake, Error, SmolTimer};

/// Runs a test on smol, failing it if it takes over 10 s.
fn bounded<F: Future<Output = ()>>(test: F) {
    smol::block_on(smol::future::or(test, async {
        smol::Timer::after(Duration::from_secs(10)).await;
        panic!("test did not finish within 10 s");
    }))
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

/// A peer that does the opening handshake by hand and then sends nothing at all: it never answers pings or
/// close frames. Returns the stream, positioned after the 101's head.
async fn mute_client(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let hs = ClientHandshake::new(ClientRequest::new(addr, "/"), Config::default(), [7; 32]).unwrap();
    let mut out = Vec::new();
    hs.write_request(&mut out).unwrap();
    s.write_all(&out).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "EOF before the 101's end");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// Reads until EOF; returns what arrived.
async fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    s.read_to_end(&mut all).await.unwrap();
    all
}

#[test]
fn echo_with_subprotocol_and_deflate() {
    bounded(async {
        let (l, addr) = listener().await;
        let config = Config::default().with_deflate(Some(DeflateConfig::default()));
        let server_config = config.clone();
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            let (mut ws, req) = accept_with(stream, server_config, SmolTimer, |req| {
                assert_eq!(req.protocols, ["chat", "echo"]);
                Ok(Accept::default().protocol("echo"))
            })
            .await
            .unwrap();
            assert_eq!(req.request.path(), "/echo");
            assert!(ws.connection().is_deflate_enabled());
            while let Some(event) = ws.recv().await {
                match event.unwrap() {
                    Event::Text(t) => ws.queue(t.as_str()).unwrap(),
                    Event::Binary(b) => ws.queue(b).unwrap(),
                    _ => {}
                }
            }
            ws.close_outcome().cloned()
        });
        let stream = TcpStream::connect(&addr).await.unwrap();
        let request = ClientRequest::new(addr.as_str(), "/echo").protocol("chat").protocol("echo");
        let (mut ws, response, agreed) = client_handshake(stream, request, config, SmolTimer).await.unwrap();
        assert_eq!(response.status, 101);
        assert_eq!(agreed.protocol.as_deref(), Some("echo"));
        assert!(ws.connection().is_deflate_enabled());

        // Several messages queued at once: the server's echoes of one read leave in one write.
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        ws.queue("hello").unwrap();
        ws.queue(vec![0u8, 1, 2, 255]).unwrap();
        ws.queue(big.clone()).unwrap();
        ws.queue("").unwrap();
        ws.flush().await.unwrap();
        let mut got = Vec::new();
        while got.len() < 4 {
            got.push(ws.recv().await.unwrap().unwrap());
        }
        assert_eq!(got[0], Event::Text("hello".into()));
        assert_eq!(got[1], Event::Binary(vec![0u8, 1, 2, 255].into()));
        assert_eq!(got[2], Event::Binary(big.into()));
        assert_eq!(got[3], Event::Text("".into()));

        let outcome = ws.close(CloseCode::NORMAL, "bye").await.unwrap();
        assert!(
            matches!(&outcome, CloseOutcome::Clean { remote, initiated_locally: true } if remote.code == Some(CloseCode::NORMAL)),
            "{outcome:?}"
        );
        assert!(ws.send("late").await.is_err());
        let server_outcome = server.await.unwrap();
        assert!(
            matches!(&server_outcome, CloseOutcome::Clean { remote, initiated_locally: false } if remote.reason == "bye"),
            "{server_outcome:?}"
        );
    })
}

#[test]
fn keepalive_ping_is_answered_by_a_receiving_peer() {
    bounded(async {
        let (l, addr) = listener().await;
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            let config = Config::default()
                .with_keepalive(Some(Keepalive::new(Duration::from_millis(100), Duration::from_millis(500))));
            let start = Instant::now(); // before the core's timers start, so never late
            let mut ws = accept(stream, config, SmolTimer).await.unwrap();
            // Two keepalive rounds: the core pings after 100 ms of silence, the client's core answers.
            let mut pongs = 0;
            while pongs < 2 {
                match ws.recv().await.unwrap().unwrap() {
                    Event::Pong(_) => pongs += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            let waited = start.elapsed();
            assert!(waited >= Duration::from_millis(200), "pongs after {waited:?}");
            ws.close(CloseCode::NORMAL, "").await.unwrap()
        });
        let stream = TcpStream::connect(&addr).await.unwrap();
        let (mut ws, _, _) =
            client_handshake(stream, ClientRequest::new(addr.as_str(), "/"), Config::default(), SmolTimer)
                .await
                .unwrap();
        let mut pings = 0;
        while let Some(event) = ws.recv().await {
            match event.unwrap() {
                Event::Ping(_) => pings += 1,
                Event::Close(frame) => assert_eq!(frame.code, Some(CloseCode::NORMAL)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(pings, 2);
        assert!(matches!(server.await, CloseOutcome::Clean { initiated_locally: true, .. }));
    })
}

#[test]
fn keepalive_fails_a_peer_that_never_answers() {
    bounded(async {
        let (l, addr) = listener().await;
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            let config = Config::default()
                .with_keepalive(Some(Keepalive::new(Duration::from_millis(100), Duration::from_millis(200))));
            let start = Instant::now(); // before the core's timers start, so never late
            let mut ws = accept(stream, config, SmolTimer).await.unwrap();
            let err = match ws.recv().await.expect("an error comes before the end") {
                Ok(event) => panic!("unexpected {event:?}"),
                Err(e) => e,
            };
            assert!(matches!(err, Error::Protocol(ProtocolError::Timeout(Timeout::Pong))), "{err:?}");
            assert!(ws.recv().await.is_none());
            start.elapsed()
        });
        let mut mute = mute_client(&addr).await;
        let bytes = read_to_eof(&mut mute).await;
        // The ping (FIN + opcode 9, unmasked), then nothing: a pong timeout sends no close frame (1006).
        assert_eq!(bytes[0], 0x89, "{bytes:?}");
        let elapsed = server.await;
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    })
}

#[test]
fn close_deadline_when_the_peer_never_answers() {
    bounded(async {
        let (l, addr) = listener().await;
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            let config = Config::default().with_close_timeout(Duration::from_millis(300));
            let start = Instant::now(); // before the core's timers start, so never late
            let mut ws = accept(stream, config, SmolTimer).await.unwrap();
            let outcome = ws.close(CloseCode(4001), "going").await.unwrap();
            (outcome, start.elapsed())
        });
        let mut mute = mute_client(&addr).await;
        let bytes = read_to_eof(&mut mute).await;
        // Our close frame (FIN + opcode 8, 4001 + reason), then the transport closed at the deadline.
        assert_eq!(&bytes[..4], &[0x88, 7, 0x0f, 0xa1]);
        assert_eq!(&bytes[4..], b"going");
        let (outcome, elapsed) = server.await;
        assert_eq!(outcome, CloseOutcome::Failed(ProtocolError::Timeout(Timeout::Close)));
        assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    })
}

#[test]
fn server_handshake_deadline_answers_408() {
    bounded(async {
        let (l, addr) = listener().await;
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            let config = Config::default().with_handshake_timeout(Some(Duration::from_millis(200)));
            let start = Instant::now();
            let err = accept(stream, config, SmolTimer).await.unwrap_err();
            (err, start.elapsed())
        });
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finished
        let answer = read_to_eof(&mut s).await;
        assert!(answer.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
        let (err, elapsed) = server.await;
        assert!(matches!(err, Error::Request(RequestError::Timeout)), "{err:?}");
        assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    })
}

#[test]
fn client_handshake_deadline() {
    bounded(async {
        let (l, addr) = listener().await;
        // A server that accepts the TCP connection and never answers.
        let silent = smol::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            read_to_eof(&mut s).await
        });
        let stream = TcpStream::connect(&addr).await.unwrap();
        let config = Config::default().with_handshake_timeout(Some(Duration::from_millis(200)));
        let start = Instant::now();
        let err =
            client_handshake(stream, ClientRequest::new(addr.as_str(), "/"), config, SmolTimer).await.unwrap_err();
        assert!(matches!(err, Error::Response(ResponseError::Timeout)), "{err:?}");
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(3), "{elapsed:?}");
        // The request went out, and the stream is dropped with the error.
        let request = silent.await;
        assert!(request.starts_with(b"GET / HTTP/1.1\r\n"));
    })
}

#[test]
fn plain_http_gets_426() {
    bounded(async {
        let (l, addr) = listener().await;
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            accept(stream, Config::default(), SmolTimer).await.unwrap_err()
        });
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let answer = String::from_utf8(read_to_eof(&mut s).await).unwrap();
        assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
        assert!(answer.contains("Upgrade: websocket"), "{answer}");
        assert!(matches!(server.await, Error::Refused(426)));
    })
}

/// A stream that counts its writes.
struct Counting(TcpStream, Arc<AtomicUsize>);

impl smol::io::AsyncRead for Counting {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl smol::io::AsyncWrite for Counting {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[test]
fn replies_to_one_read_leave_in_one_write() {
    bounded(async {
        let (l, addr) = listener().await;
        let writes = Arc::new(AtomicUsize::new(0));
        let counter = writes.clone();
        let server = smol::spawn(async move {
            let (stream, _) = l.accept().await.unwrap();
            let mut ws = accept(Counting(stream, counter.clone()), Config::default(), SmolTimer).await.unwrap();
            let after_handshake = counter.load(Ordering::SeqCst);
            let mut echoed = 0;
            while echoed < 10 {
                if let Event::Text(t) = ws.recv().await.unwrap().unwrap() {
                    ws.queue(t.as_str()).unwrap();
                    echoed += 1;
                }
            }
            // The ten echoes are queued; they leave when the server next waits for input.
            assert_eq!(counter.load(Ordering::SeqCst), after_handshake);
            let end = ws.recv().await.unwrap().unwrap();
            assert!(matches!(end, Event::Close(_)), "{end:?}");
            assert!(ws.recv().await.is_none());
            counter.load(Ordering::SeqCst) - after_handshake
        });
        let mut s = mute_client(&addr).await;
        // Ten masked text frames "m0".."m9" (mask 0: the payload goes as is) in one write.
        let mut frames = Vec::new();
        for i in 0..10u8 {
            frames.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'm', b'0' + i]);
        }
        s.write_all(&frames).await.unwrap();
        let mut echoes = vec![0u8; 40];
        s.read_exact(&mut echoes).await.unwrap();
        for (i, echo) in echoes.chunks(4).enumerate() {
            assert_eq!(echo, [0x81, 2, b'm', b'0' + i as u8]);
        }
        s.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.unwrap(); // close 1000
        let rest = read_to_eof(&mut s).await;
        assert_eq!(rest, [0x88, 2, 0x03, 0xe8]);
        // One write for the ten echoes, one for the close reply.
        assert_eq!(server.await, 2);
    })
}
