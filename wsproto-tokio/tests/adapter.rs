//! The adapter's behaviour at the edges, over in-memory pipes (`tokio::io::duplex`) and, where timing matters,
//! tokio's paused clock (deadlines pass in virtual time; a hang shows up as a timeout, never as a stuck test).
//!
//! - split halves used from two tasks;
//! - a peer that never reads: sends wait, and the write buffer stays near the high-water mark;
//! - a peer that vanishes without a close: an error and a 1006 outcome, no hang;
//! - keepalive: answered pings keep the connection; unanswered ones end it;
//! - the close handshake timeout, and the client's wait for the server's TCP close (RFC 6455 §7.1.1);
//! - pongs still go out from a split connection whose receiver is not read;
//! - write coalescing, counted in write calls (no timing): pipelined messages echoed with `recv` + `send`, or
//!   through split halves with `forward`, leave in a few writes; a lone send is written before `send` returns;
//!   a reply held for the batch is written before the connection waits for input; sends from many tasks share
//!   the driver's writes.

mod common;

use std::future::Future;
use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{timeout, Instant};
use wsproto::handshake::{ClientRequest, Incoming, ServerHandshake};
use wsproto::ProtocolError;
use wsproto_tokio::{accept_with, client_handshake, Accept, Accepted, CloseCode, Config, Error, Message, WebSocket};

type Ws = WebSocket<DuplexStream>;

/// The bound on every wait (virtual time in the paused tests).
const WAIT: Duration = Duration::from_secs(30);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    timeout(WAIT, fut).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Whether `fut` is still pending after `d` (it is dropped either way).
async fn pending_for<T>(d: Duration, fut: impl Future<Output = T>) -> bool {
    timeout(d, fut).await.is_err()
}

/// A connected client and server over a pipe holding `pipe` bytes each way.
async fn pair(client: Config, server: Config, pipe: usize) -> (Ws, Ws) {
    let (c, s) = duplex(pipe);
    let accept = async {
        match accept_with(s, server, |_| Ok(Accept::default())).await.unwrap() {
            Accepted::WebSocket(ws, _) => ws,
            _ => unreachable!("an upgrade"),
        }
    };
    let connect = async { client_handshake(c, ClientRequest::new("localhost", "/"), client).await.unwrap().0 };
    let (client, server) = within("the handshake", async { tokio::join!(connect, accept) }).await;
    (client, server)
}

/// Echoes data messages until the connection ends.
async fn echo(mut ws: Ws) {
    while let Some(Ok(m)) = ws.recv().await {
        if m.is_data() && ws.send(m).await.is_err() {
            break;
        }
    }
}

/// The next message other than pings and pongs.
async fn next_data(ws: &mut Ws) -> Option<Result<Message, Error>> {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => return other,
        }
    }
}

#[tokio::test]
async fn split_halves_from_two_tasks() {
    let (client, server) = pair(Config::default(), Config::default(), 64 << 10).await;
    let server = tokio::spawn(echo(server));
    let (sender, mut receiver) = client.split();
    const N: usize = 500;
    let message = |i: usize| {
        if i.is_multiple_of(2) {
            Message::text(format!("message {i}"))
        } else {
            Message::binary(vec![i as u8; i * 37])
        }
    };
    // Two clones of the sender in two tasks, the receiver in a third.
    let (a, b) = (sender.clone(), sender.clone());
    let send_even = tokio::spawn(async move {
        for i in (0..N).step_by(2) {
            a.send(message(i)).await.unwrap();
        }
    });
    let send_odd = tokio::spawn(async move {
        for i in (1..N).step_by(2) {
            b.send(message(i)).await.unwrap();
        }
    });
    let receive = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < N {
            match receiver.recv().await {
                Some(Ok(m)) if m.is_data() => got.push(m),
                Some(Ok(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (got, receiver)
    });
    within("the senders", async {
        send_even.await.unwrap();
        send_odd.await.unwrap();
    })
    .await;
    let (got, mut receiver) = within("the receiver", receive).await.unwrap();
    // Every message came back whole; each task's messages in its order.
    let mut want: Vec<Message> = (0..N).map(message).collect();
    for parity in [0, 1] {
        let of = |ms: &[Message]| -> Vec<Message> {
            ms.iter().filter(|m| matches!(m, Message::Text(_)) == (parity == 0)).cloned().collect()
        };
        assert_eq!(of(&got), of(&want));
    }
    want.sort_by_key(|m| m.clone().into_data());
    let mut got_sorted = got;
    got_sorted.sort_by_key(|m| m.clone().into_data());
    assert_eq!(got_sorted, want);

    // Closing from the sender: the receiver sees the server's close, then the end.
    sender.close(CloseCode::NORMAL, "done").await.unwrap();
    match within("the close", receiver.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, Some(CloseCode::NORMAL)),
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert!(within("the end", receiver.recv()).await.is_none());
    assert!(matches!(sender.send("late").await, Err(Error::ConnectionClosed)));
    within("the server", server).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_makes_sends_wait() {
    const HIGH_WATER: usize = 256 << 10;
    const PIPE: usize = 64 << 10;
    let chunk = common::noise(64 << 10, 7);
    let frame = chunk.len() + 64; // a frame header is at most 14 bytes; deflate's stored blocks add a few
    let (mut client, mut server) = pair(Config::default().write_high_water(HIGH_WATER), Config::default(), PIPE).await;

    // The server is never polled: nothing it receives is read. Queue messages until queueing waits.
    let mut queued = 0;
    loop {
        let fed = timeout(Duration::from_secs(1), client.queue(Message::binary(chunk.clone()))).await;
        let pending = client.write_pending();
        assert!(pending <= HIGH_WATER + frame, "the write buffer grew to {pending} bytes");
        match fed {
            Ok(r) => r.unwrap(),
            Err(_) => break, // waiting: backpressure
        }
        queued += 1;
        assert!(queued < 100, "queueing never waited");
    }
    let pending = client.write_pending();
    assert!(pending > HIGH_WATER, "it waits only above the high-water mark ({pending} bytes pending)");
    // At most the pipe, the high-water mark and one frame were accepted.
    assert!(queued * chunk.len() <= PIPE + HIGH_WATER + frame, "{queued} messages accepted");
    // send (queue and flush) waits too, and so does the Sink.
    assert!(pending_for(Duration::from_secs(5), client.send("one more")).await);
    assert_eq!(client.write_pending(), pending, "a waiting send queued nothing");

    // Once the peer reads, everything arrives and the waiting send completes.
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < queued {
            match next_data(&mut server).await {
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(b.len(), 64 << 10);
                    n += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(next_data(&mut server).await.unwrap().unwrap(), Message::text("after"));
        server
    });
    within("the send after the peer reads", client.send("after")).await.unwrap();
    assert_eq!(client.write_pending(), 0);
    within("the reader", reader).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_split_sender_waits_when_the_peer_never_reads() {
    const HIGH_WATER: usize = 128 << 10;
    const PIPE: usize = 64 << 10;
    let chunk = common::noise(32 << 10, 1);
    // No keepalive: by default a peer that reads nothing for 50 s is dropped (its pong never comes).
    let config = Config::default().write_high_water(HIGH_WATER).no_keepalive();
    let (client, mut server) = pair(config, Config::default(), PIPE).await;
    let (sender, _receiver) = client.split();
    let mut sent = 0;
    while !pending_for(Duration::from_secs(1), sender.send(Message::binary(chunk.clone()))).await {
        sent += 1;
        assert!(sent < 100, "sending never waited");
    }
    // (The message whose send timed out may still be queued: sends are acknowledged once queued.)
    // A send returns once its message is in the write buffer, which the driver fills only up to the mark.
    assert!(sent * chunk.len() <= PIPE + HIGH_WATER + chunk.len() + 64, "{sent} messages accepted");
    // Still waiting later: the pipe is full and nobody reads.
    assert!(pending_for(Duration::from_secs(60), sender.send("more")).await);

    // Once the peer reads, the waiting sends go through (the driver takes commands again as the buffer drains).
    let reader = tokio::spawn(async move {
        loop {
            match next_data(&mut server).await {
                // "more" too: a send that was given up on may already have reached the driver's queue.
                Some(Ok(Message::Binary(_))) => {}
                Some(Ok(Message::Text(t))) if t.as_str() == "more" => {}
                Some(Ok(Message::Text(t))) if t.as_str() == "last" => return,
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    for _ in 0..20 {
        within("a send once the peer reads", sender.send(Message::binary(chunk.clone()))).await.unwrap();
    }
    within("the last send", sender.send("last")).await.unwrap();
    within("the reader", reader).await.unwrap();
}

/// One task sends one message after another (as a broadcast forwarder does) to a peer that stops reading for a
/// while: its sends wait, then all complete once the peer reads again.
#[tokio::test(start_paused = true)]
async fn a_split_sender_resumes_when_a_stalled_peer_reads_again() {
    // A pipe larger than the high-water mark (like a TCP socket's buffers): once the peer reads, the driver's
    // whole write buffer goes out in one write, and nothing but the driver itself can notice it has room again.
    const HIGH_WATER: usize = 64 << 10;
    const N: usize = 80;
    let chunk = common::noise(32 << 10, 3);
    let (client, mut server) = pair(Config::default().write_high_water(HIGH_WATER), Config::default(), 1 << 20).await;
    let (sender, _receiver) = client.split();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sending = tokio::spawn({
        let (done, chunk) = (done.clone(), chunk.clone());
        async move {
            for _ in 0..N {
                sender.send(Message::binary(chunk.clone())).await.unwrap();
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stalled_at = done.load(std::sync::atomic::Ordering::SeqCst);
    assert!(stalled_at < N, "the peer does not read, yet all {N} sends completed");
    for i in 0..N {
        match within(&format!("message {i}"), next_data(&mut server)).await {
            Some(Ok(Message::Binary(b))) => assert_eq!(b.len(), chunk.len()),
            other => panic!("unexpected {other:?}"),
        }
    }
    within("the sending task", sending).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_vanishes_without_a_close_is_an_error_and_1006() {
    // Receiving.
    let (mut client, server) = pair(Config::default(), Config::default(), 64 << 10).await;
    drop(server);
    match within("the error", client.recv()).await {
        Some(Err(Error::Protocol(ProtocolError::UnexpectedEof))) => {}
        other => panic!("expected an unexpected EOF, got {other:?}"),
    }
    assert!(within("the end", client.recv()).await.is_none());
    assert_eq!(client.close_outcome().map(|o| o.code()), Some(CloseCode::ABNORMAL));
    assert!(matches!(client.send("x").await, Err(Error::ConnectionClosed)));

    // Sending, then closing.
    let (mut client, server) = pair(Config::default(), Config::default(), 64 << 10).await;
    drop(server);
    let sent = within("a send to nobody", client.send("anyone?")).await;
    assert!(matches!(sent, Err(Error::Io(_))), "{sent:?}");
    let closed = within("close", client.close(CloseCode::NORMAL, "")).await;
    let code = match &closed {
        Ok(outcome) => outcome.code(),
        Err(_) => client.close_outcome().map(|o| o.code()).expect("an outcome"),
    };
    assert_eq!(code, CloseCode::ABNORMAL, "{closed:?}");

    // Split: the receiver sees the error and the end; sends fail.
    let (client, server) = pair(Config::default(), Config::default(), 64 << 10).await;
    let (sender, mut receiver) = client.split();
    drop(server);
    assert!(matches!(within("the error", receiver.recv()).await, Some(Err(_))));
    assert!(within("the end", receiver.recv()).await.is_none());
    assert!(within("a failed send", sender.send("x")).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn keepalive_pings_and_times_out() {
    let keepalive = Config::default().keepalive(Duration::from_secs(10), Duration::from_secs(3));

    // An answering peer: pings go out after 10 s of silence, pongs come back, the connection stays.
    let (mut client, server) = pair(keepalive.clone(), Config::default(), 64 << 10).await;
    let server = tokio::spawn(echo(server));
    let start = Instant::now();
    let mut pongs = Vec::new();
    while pongs.len() < 3 {
        match within("a keepalive pong", client.recv()).await {
            Some(Ok(Message::Pong(_))) => pongs.push(start.elapsed()),
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    for (i, at) in pongs.iter().enumerate() {
        let want = Duration::from_secs(10 * (i as u64 + 1));
        assert!(*at >= want && *at < want + Duration::from_secs(1), "pong {i} at {at:?}");
    }
    client.send("still open").await.unwrap();
    assert_eq!(next_data(&mut client).await.unwrap().unwrap(), Message::text("still open"));
    within("close", client.close(CloseCode::NORMAL, "")).await.unwrap();
    within("the server", server).await.unwrap();

    // A silent peer (never polled, so it never answers): the ping goes unanswered and the connection ends.
    let (mut client, _server) = pair(keepalive, Config::default(), 64 << 10).await;
    let start = Instant::now();
    match within("the keepalive timeout", client.recv()).await {
        Some(Err(Error::Timeout(wsproto_tokio::TimeoutKind::Keepalive))) => {}
        other => panic!("expected a keepalive timeout, got {other:?}"),
    }
    let at = start.elapsed();
    assert!(at >= Duration::from_secs(13) && at < Duration::from_secs(14), "timed out at {at:?}");
    assert!(client.recv().await.is_none());
    assert_eq!(client.close_outcome().map(|o| o.code()), Some(CloseCode::ABNORMAL));
}

#[tokio::test(start_paused = true)]
async fn keepalive_on_a_split_connection() {
    let keepalive = Config::default().keepalive(Duration::from_secs(10), Duration::from_secs(3));
    let (client, _silent) = pair(keepalive, Config::default(), 64 << 10).await;
    let (_sender, mut receiver) = client.split();
    let start = Instant::now();
    match within("the keepalive timeout", receiver.recv()).await {
        Some(Err(Error::Timeout(wsproto_tokio::TimeoutKind::Keepalive))) => {}
        other => panic!("expected a keepalive timeout, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(14), "{:?}", start.elapsed());
    assert!(within("the end", receiver.recv()).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn close_times_out_when_the_peer_never_answers() {
    let config = Config::default().close_timeout(Duration::from_secs(4));
    let (mut client, _server) = pair(config, Config::default(), 64 << 10).await;
    let start = Instant::now();
    // The server is never polled: our close frame is never answered.
    let closed = within("the close timeout", client.close(CloseCode::NORMAL, "bye")).await;
    let at = start.elapsed();
    assert!(at >= Duration::from_secs(4) && at < Duration::from_secs(5), "gave up after {at:?}");
    let code = match &closed {
        Ok(outcome) => outcome.code(),
        Err(_) => client.close_outcome().map(|o| o.code()).expect("an outcome"),
    };
    assert_eq!(code, CloseCode::ABNORMAL, "no close frame came back: {closed:?}");
    assert!(client.recv().await.is_none());

    // The same for the server side.
    let config = Config::default().close_timeout(Duration::from_secs(2));
    let (_client, mut server) = pair(Config::default(), config, 64 << 10).await;
    let start = Instant::now();
    let _ = within("the close timeout", server.close(CloseCode::GOING_AWAY, "")).await;
    let at = start.elapsed();
    assert!(at >= Duration::from_secs(2) && at < Duration::from_secs(3), "gave up after {at:?}");
}

/// A server driven by hand over the raw pipe: it answers the client's close but never closes TCP.
#[tokio::test(start_paused = true)]
async fn a_client_waits_for_the_servers_tcp_close_at_most_the_close_timeout() {
    let (c, mut raw) = duplex(64 << 10);
    let config = Config::default().close_timeout(Duration::from_secs(3));
    let raw_server = async {
        let mut hs = ServerHandshake::new(wsproto::Config::default()).unwrap();
        let mut buf = vec![0u8; 4096];
        let req = loop {
            if let Some(Incoming::Upgrade(req)) = hs.poll_request().unwrap() {
                break req;
            }
            let n = raw.read(&mut buf).await.unwrap();
            hs.feed(&buf[..n]);
        };
        let mut out = Vec::new();
        let conn = hs.accept(&req, Accept::default(), &mut out).unwrap();
        raw.write_all(&out).await.unwrap();
        conn
    };
    let connect = async { client_handshake(c, ClientRequest::new("localhost", "/"), config).await.unwrap().0 };
    let (mut client, mut conn) = within("the handshake", async { tokio::join!(connect, raw_server) }).await;

    let peer = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = raw.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client must not close TCP first");
            conn.feed(&buf[..n]).unwrap();
            if let Ok(Some(wsproto::Event::Close(_))) = conn.poll_event() {
                let mut out = Vec::new();
                conn.poll_transmit(&mut out); // the close reply
                raw.write_all(&out).await.unwrap();
                break;
            }
        }
        // Keep the pipe open well past the client's close timeout.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(raw);
    });
    let start = Instant::now();
    let outcome = within("close", client.close(CloseCode::NORMAL, "")).await.unwrap();
    let at = start.elapsed();
    assert_eq!(outcome.code(), CloseCode::NORMAL, "the close handshake itself completed");
    assert!(at >= Duration::from_secs(3) && at < Duration::from_secs(4), "closed after {at:?}");
    peer.abort();
}

#[tokio::test(start_paused = true)]
async fn pongs_go_out_while_the_split_receiver_is_not_read() {
    let (client, mut server) = pair(Config::default(), Config::default(), 64 << 10).await;
    let (sender, _receiver) = client.split(); // never read
    for i in 0..10u8 {
        server.send(Message::Ping(vec![i; 4].into())).await.unwrap();
        match within("a pong", server.recv()).await {
            Some(Ok(Message::Pong(p))) => assert_eq!(&p[..], &[i; 4]),
            other => panic!("expected pong {i}, got {other:?}"),
        }
    }
    // With the receiver's queue full (the driver stops reading then), sends still go out.
    for i in 0..40 {
        server.send(format!("unread {i}")).await.unwrap();
    }
    within("a send", sender.send("still sending")).await.unwrap();
    assert_eq!(within("the message", next_data(&mut server)).await.unwrap().unwrap(), Message::text("still sending"));
}

/// An echo server on `recv_with`: every data message replied to from the borrowed payload.
async fn echo_borrowed(mut ws: Ws) -> Option<CloseCode> {
    use wsproto_tokio::EventRef;
    let mut close = None;
    while let Some(Ok(_)) = ws
        .recv_with(|event, tx| {
            let _ = match event {
                EventRef::Text(t) => tx.send_text(t),
                EventRef::Binary(b) => tx.send_binary(b),
                EventRef::Close(c) => {
                    close = Some(c.code_or_no_status());
                    Ok(())
                }
                _ => Ok(()),
            };
        })
        .await
    {}
    close
}

#[tokio::test]
async fn recv_with_echoes_pipelined_messages_in_order_and_closes_cleanly() {
    let (mut client, server) = pair(Config::default(), Config::default(), 64 * 1024).await;
    let server = tokio::spawn(echo_borrowed(server));
    // Small messages (the in-place path), larger ones and a fragmented one (the general path), and pings.
    let mut sent = Vec::new();
    for i in 0..2000u32 {
        let m = match i % 5 {
            0 => Message::Text(format!("text {i}").into()),
            1 => Message::Binary(vec![i as u8; (i as usize * 37) % 300].into()),
            2 => Message::Binary(vec![(i % 251) as u8; 70_000].into()),
            3 => Message::Ping(i.to_be_bytes().to_vec().into()),
            _ => Message::Binary(i.to_be_bytes().to_vec().into()),
        };
        if m.is_data() {
            sent.push(m.clone());
        }
        client.queue(m).await.unwrap();
    }
    client.send_fragment(wsproto::DataKind::Text, "frag".into(), false).await.unwrap();
    client.send_fragment(wsproto::DataKind::Text, "mented".into(), true).await.unwrap();
    sent.push(Message::Text("fragmented".into()));
    for want in &sent {
        let got = within("an echo", next_data(&mut client)).await.unwrap().unwrap();
        assert_eq!(&got, want);
    }
    let outcome = within("the close", client.close(CloseCode::NORMAL, "bye")).await.unwrap();
    assert_eq!(outcome.code(), CloseCode::NORMAL);
    assert_eq!(within("the server", server).await.unwrap(), Some(CloseCode::NORMAL));
}

#[tokio::test]
async fn recv_with_reports_a_protocol_error_after_the_messages_before_it() {
    let (c, s) = duplex(64 * 1024);
    let accept = async {
        match accept_with(s, Config::default(), |_| Ok(Accept::default())).await.unwrap() {
            Accepted::WebSocket(ws, _) => ws,
            _ => unreachable!("an upgrade"),
        }
    };
    let raw = async {
        let mut c = c;
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await.unwrap();
        // Two good masked text frames and an invalid one, in one write.
        let mut frames = Vec::new();
        for payload in [&b"one"[..], b"two", &[0xc0, 0x80]] {
            frames.extend([0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0]);
            frames.extend_from_slice(payload);
        }
        c.write_all(&frames).await.unwrap();
        c
    };
    let (mut ws, mut c) = within("the handshake", async { tokio::join!(accept, raw) }).await;
    let mut seen = Vec::new();
    let mut results = Vec::new();
    while let Some(r) = within("events", ws.recv_with(|ev, _| seen.push(ev.to_event()))).await {
        results.push(r.map_err(|e| e.to_string()));
    }
    assert_eq!(seen, [wsproto::Event::Text("one".into()), wsproto::Event::Text("two".into())]);
    assert!(results.last().unwrap().as_ref().is_err_and(|e| e.contains("UTF-8")), "{results:?}");
    assert_eq!(ws.protocol_error().map(|e| e.close_code().0), Some(1007));
    // The 1007 close frame went out after the handshake response.
    let mut rest = Vec::new();
    within("the server's close", c.read_to_end(&mut rest)).await.unwrap();
    let head_end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let close = &rest[head_end..];
    assert_eq!((close[0], &close[2..4]), (0x88, &[0x03, 0xef][..]), "a close frame with 1007");
}

#[tokio::test]
async fn large_buffers_are_kept_while_busy_and_freed_after_a_quiet_second() {
    // Busy phase on the real clock (a few milliseconds), quiet phase on the paused clock.
    let (mut client, mut server) = pair(Config::default(), Config::default(), 256 * 1024).await;
    // Incompressible (permessage-deflate is on by default), so that a whole MiB crosses the pipe.
    let mut x = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let big = Message::Binary(noise.into());
    for _ in 0..3 {
        let client_side = async {
            client.send(big.clone()).await.unwrap();
            client.recv().await.unwrap().unwrap()
        };
        let server_side = async {
            let m = server.recv().await.unwrap().unwrap();
            server.send(m).await.unwrap();
        };
        let (echo, ()) = within("the echo", async { tokio::join!(client_side, server_side) }).await;
        assert_eq!(echo, big);
    }
    // Both ends keep their buffers for more traffic: the server its receive buffer (the allocation the next
    // message reuses), the client the write buffer that held its masked copy.
    assert!(server.connection().recv_buffer_capacity() > 0);
    assert!(client.buffer_capacity() >= 1 << 20, "client holds {}", client.buffer_capacity());
    // A quiet second later (both wait for input), they are given back.
    tokio::time::pause();
    assert!(pending_for(Duration::from_millis(1500), server.recv()).await);
    assert!(pending_for(Duration::from_millis(1500), client.recv()).await);
    assert_eq!(server.buffer_capacity(), 0);
    assert_eq!(client.buffer_capacity(), 0);
    // And the connection still works.
    client.send(Message::Text("after".into())).await.unwrap();
    assert_eq!(within("a message", server.recv()).await.unwrap().unwrap(), Message::Text("after".into()));
}

/// A stream that counts the write calls that wrote bytes (`poll_write` and `poll_write_vectored`): how many
/// system calls a socket would have seen.
struct Counted {
    io: DuplexStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Counted {
    fn writes(&self) -> usize {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self, r: &std::task::Poll<std::io::Result<usize>>) {
        if matches!(r, std::task::Poll::Ready(Ok(n)) if *n > 0) {
            self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.io).poll_write(cx, buf);
        self.count(&r);
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.count(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A client and a server whose writes are counted (from after the handshake).
async fn counted_pair() -> (Ws, WebSocket<Counted>) {
    let (c, s) = duplex(1 << 20);
    let s = Counted { io: s, writes: Default::default() };
    let accept = async {
        match accept_with(s, Config::default(), |_| Ok(Accept::default())).await.unwrap() {
            Accepted::WebSocket(ws, _) => ws,
            _ => unreachable!("an upgrade"),
        }
    };
    let connect =
        async { client_handshake(c, ClientRequest::new("localhost", "/"), Config::default()).await.unwrap().0 };
    let (client, server) = within("the handshake", async { tokio::join!(connect, accept) }).await;
    server.get_ref().writes.store(0, std::sync::atomic::Ordering::SeqCst);
    (client, server)
}

/// `n` binary messages of 16 bytes, queued and written by the client in one write.
async fn pipeline(client: &mut Ws, n: usize) -> Vec<Message> {
    let msgs: Vec<Message> = (0..n).map(|i| Message::binary(vec![i as u8; 16])).collect();
    for m in &msgs {
        client.queue(m.clone()).await.unwrap();
    }
    client.flush().await.unwrap();
    msgs
}

async fn expect_echoes(client: &mut Ws, want: &[Message]) {
    for (i, m) in want.iter().enumerate() {
        assert_eq!(&within("an echo", next_data(client)).await.unwrap().unwrap(), m, "echo {i}");
    }
}

#[tokio::test]
async fn pipelined_messages_echoed_with_recv_and_send_leave_in_a_few_writes() {
    const N: usize = 200;
    let (mut client, mut server) = counted_pair().await;
    let msgs = pipeline(&mut client, N).await;
    for _ in 0..N {
        let m = within("a message", server.recv()).await.unwrap().unwrap();
        server.send(m).await.unwrap();
    }
    // All N arrived in one read: the replies went out together, the last send writing the batch.
    assert_eq!(server.write_pending(), 0, "everything written once the input was handled");
    let writes = server.get_ref().writes();
    assert!(writes <= 2, "{N} echoes took {writes} writes");
    expect_echoes(&mut client, &msgs).await;
}

#[tokio::test]
async fn a_lone_send_is_written_before_send_returns() {
    let (mut client, mut server) = counted_pair().await;
    for i in 0..3 {
        server.send(format!("lone {i}")).await.unwrap();
        assert_eq!(server.get_ref().writes(), i + 1, "one write per lone send, done when send returns");
        assert_eq!(server.write_pending(), 0);
        assert_eq!(
            within("the message", next_data(&mut client)).await.unwrap().unwrap(),
            Message::text(format!("lone {i}"))
        );
    }
}

#[tokio::test]
async fn a_reply_held_for_the_batch_is_written_before_the_connection_waits() {
    let (mut client, mut server) = counted_pair().await;
    let msgs = pipeline(&mut client, 2).await;
    let m = server.recv().await.unwrap().unwrap();
    server.send(m).await.unwrap();
    // More input is buffered (the second message): the reply waits for the batch.
    assert_eq!(server.get_ref().writes(), 0);
    assert!(server.write_pending() > 0);
    // The second message is handled without a reply; the next recv has nothing buffered and must wait for
    // input: before it waits, the held reply is written.
    assert_eq!(server.recv().await.unwrap().unwrap(), msgs[1]);
    std::future::poll_fn(|cx| {
        assert!(server.poll_recv(cx).is_pending(), "no more input");
        std::task::Poll::Ready(())
    })
    .await;
    assert_eq!(server.get_ref().writes(), 1);
    assert_eq!(server.write_pending(), 0);
    expect_echoes(&mut client, &msgs[..1]).await;
    // flush() writes at once too.
    let msgs = pipeline(&mut client, 2).await;
    let m = server.recv().await.unwrap().unwrap();
    server.send(m).await.unwrap();
    assert_eq!(server.get_ref().writes(), 1);
    server.flush().await.unwrap();
    assert_eq!(server.get_ref().writes(), 2);
    expect_echoes(&mut client, &msgs[..1]).await;
}

#[tokio::test]
async fn split_halves_echo_with_forward_in_a_few_writes() {
    use futures_util::StreamExt;
    const N: usize = 200;
    let (mut client, server) = counted_pair().await;
    let writes = server.get_ref().writes.clone();
    let (tx, rx) = server.split();
    // The receiver's data messages forwarded into the sender (a Sink<Message>).
    let echo = tokio::spawn(rx.filter(|m| std::future::ready(m.as_ref().map_or(true, |m| m.is_data()))).forward(tx));
    let msgs = pipeline(&mut client, N).await;
    expect_echoes(&mut client, &msgs).await;
    let writes = writes.load(std::sync::atomic::Ordering::SeqCst);
    assert!(writes <= N / 10, "{N} echoes took {writes} writes");
    // The client's close reaches the server, whose reply ends the forward (the receiver's stream ends).
    let outcome = within("the close", client.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(outcome.code(), CloseCode::NORMAL);
    let _ = within("the forward", echo).await.unwrap();
}

#[tokio::test]
async fn split_sends_from_many_tasks_share_writes() {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let (mut client, server) = counted_pair().await;
    let writes = server.get_ref().writes.clone();
    let (tx, _rx) = server.split();
    // All tasks queue before the driver runs (one thread): their messages leave in one write.
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    tx.send(format!("{t}:{i}")).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    tx.flush().await.unwrap();
    let mut got = 0;
    while got < TASKS * EACH {
        within("a message", next_data(&mut client)).await.unwrap().unwrap();
        got += 1;
    }
    let writes = writes.load(std::sync::atomic::Ordering::SeqCst);
    assert!(writes <= 2, "{} messages from {TASKS} tasks took {writes} writes", TASKS * EACH);
}

#[tokio::test]
async fn a_split_reply_is_written_while_the_receiver_awaits_something_else() {
    let (mut client, server) = counted_pair().await;
    let (tx, mut rx) = server.split();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    // The receiver answers the first of many buffered messages, then waits for something unrelated: its reply
    // must not wait for it to come back for the rest.
    let receiver = tokio::spawn(async move {
        let m = rx.recv().await.unwrap().unwrap();
        tx.send(m).await.unwrap();
        release_rx.await.unwrap();
        (tx, rx)
    });
    let msgs = pipeline(&mut client, 50).await;
    expect_echoes(&mut client, &msgs[..1]).await;
    release_tx.send(()).unwrap();
    within("the receiver", receiver).await.unwrap();
}
