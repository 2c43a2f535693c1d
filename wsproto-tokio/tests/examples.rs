//! One test per example program (`examples/*.rs`): each is started on an ephemeral port (port 0; the test reads
//! the bound address from its `listening on …` line), driven with this crate's client, and killed at the end.
//! Every wait is bounded by `common::WAIT`. Set `WSPROTO_TEST_VERBOSE=1` to see the examples' output.

mod common;

use common::{http_get, within, Example};
use wsproto_tokio::{connect, connect_with, tls, CloseCode, Config, ConnectOptions, Error, Message};

type Ws = wsproto_tokio::WebSocket<wsproto_tokio::MaybeTlsStream>;

async fn connect_ok(url: &str) -> Ws {
    within("the WebSocket handshake", connect(url)).await.unwrap_or_else(|e| panic!("connect {url}: {e}")).0
}

/// Connects without offering permessage-deflate: compressing megabytes of noise in an unoptimized build takes
/// seconds, and the backpressure test needs its bytes on the wire uncompressed.
async fn connect_uncompressed(url: &str) -> Ws {
    let mut protocol = wsproto::Config::default();
    protocol.deflate = None;
    let opts = ConnectOptions { config: Config::default().protocol(protocol), ..ConnectOptions::default() };
    within("the WebSocket handshake", connect_with(url, opts)).await.unwrap_or_else(|e| panic!("connect {url}: {e}")).0
}

/// The next message other than pings and pongs.
async fn next(ws: &mut Ws) -> Message {
    within("a message", async {
        loop {
            match ws.recv().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(m)) => return m,
                Some(Err(e)) => panic!("receive failed: {e}"),
                None => panic!("the connection ended"),
            }
        }
    })
    .await
}

async fn expect_text(ws: &mut Ws, want: &str) {
    assert_eq!(next(ws).await, Message::text(want));
}

/// The server closes with `code`; the connection then ends cleanly.
async fn expect_server_close(ws: &mut Ws, code: CloseCode) {
    match next(ws).await {
        Message::Close(Some(f)) => assert_eq!(f.code, Some(code), "close frame {f}"),
        other => panic!("expected a close with {code}, got {other:?}"),
    }
    within("the end of the connection", async { while ws.recv().await.is_some() {} }).await;
    let outcome = ws.close_outcome().expect("ended").clone();
    assert_eq!(outcome.code(), code);
}

async fn client_close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let outcome = within("the closing handshake", ws.close(code, reason)).await.unwrap();
    assert_eq!(outcome.code(), code, "the server echoes our close code");
}

// ---------------------------------------------------------------------------------------------------- hello

#[tokio::test]
async fn hello_page_and_good_bye() {
    let mut server = Example::start("hello", &["127.0.0.1:0"]);
    let addr = server.listening().await;

    // GET / serves the page whose script opens ws://<host>/websocket and sends Hello?.
    let page = http_get(addr, "/").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.head.to_ascii_lowercase().contains("content-type: text/html"), "{}", page.head);
    assert!(page.body.contains("window.location.host + \"/websocket\""), "{}", page.body);
    assert!(page.body.contains("socket.send(\"Hello?\")"), "{}", page.body);
    server.stderr_line("GET / 200").await;
    assert_eq!(http_get(addr, "/nothing-here").await.status, 404);

    // Hello? → Good-bye!, then the server closes (1000).
    let mut ws = connect_ok(&format!("ws://{addr}/websocket")).await;
    ws.send("Hello?").await.unwrap();
    expect_text(&mut ws, "Good-bye!").await;
    expect_server_close(&mut ws, CloseCode::NORMAL).await;
    server.stderr_line("GET /websocket 101").await;
    let closed = server.stderr_line("GET /websocket WebSocket closed").await;
    assert!(closed.contains("1000 (normal), closed by the server"), "{closed}");

    // Anything else → a close, no reply.
    let mut ws = connect_ok(&format!("ws://{addr}/websocket")).await;
    ws.send("Hi there").await.unwrap();
    expect_server_close(&mut ws, CloseCode::NORMAL).await;

    // Upgrades elsewhere are refused.
    match within("a refused handshake", connect(&format!("ws://{addr}/elsewhere"))).await {
        Err(Error::Rejected(r)) => assert_eq!(r.status, 404),
        other => panic!("expected a 404 rejection, got {:?}", other.map(|_| ())),
    }
}

// ---------------------------------------------------------------------------------------------------- subscriptions

#[tokio::test]
async fn subscriptions_protocol() {
    let mut server = Example::start("subscriptions", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    let mut ws = connect_ok(&format!("ws://{addr}/subscriptions")).await;
    expect_text(&mut ws, "Greetings!").await;
    ws.send("foo").await.unwrap();
    expect_text(&mut ws, "bar").await;
    ws.send("bar").await.unwrap();
    expect_text(&mut ws, "foo").await;
    ws.send("hello").await.unwrap();
    for _ in 0..10 {
        expect_text(&mut ws, "hello").await;
    }
    // Exactly ten: the next reply is the answer to the next message.
    ws.send("foo").await.unwrap();
    expect_text(&mut ws, "bar").await;
    ws.send("end").await.unwrap();
    expect_server_close(&mut ws, CloseCode::NORMAL).await;
    let closed = server.stderr_line("WebSocket closed").await;
    assert!(closed.contains("1000 (normal), closed by the server"), "{closed}");

    // The endpoint is /subscriptions only.
    match within("a refused handshake", connect(&format!("ws://{addr}/"))).await {
        Err(Error::Rejected(r)) => assert_eq!(r.status, 404),
        other => panic!("expected a 404 rejection, got {:?}", other.map(|_| ())),
    }
}

// ---------------------------------------------------------------------------------------------------- echo

fn big_text(len: usize) -> String {
    // Multi-byte UTF-8 throughout, so a wrong split or copy would show.
    "héllo wörld ✓ "
        .chars()
        .cycle()
        .scan(0, |n, c| {
            (*n < len).then(|| {
                *n += c.len_utf8();
                c
            })
        })
        .collect()
}

fn big_binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
}

async fn echo_round_trips(ws: &mut Ws) {
    for msg in [
        Message::text("Hello WebSocket!"),
        Message::text(""),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::binary(Vec::new()),
        Message::text(big_text(3 << 20)),
        Message::binary(big_binary(5 << 20)),
    ] {
        ws.send(msg.clone()).await.unwrap();
        let back = next(ws).await;
        assert!(back == msg, "echo differs for a {}-byte message", msg.clone().into_data().len());
    }
}

#[tokio::test]
async fn echo_text_and_binary_up_to_mebibytes() {
    let mut server = Example::start("echo", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    let mut ws = connect_ok(&format!("ws://{addr}/any/path")).await;
    echo_round_trips(&mut ws).await;
    client_close(&mut ws, CloseCode::NORMAL, "done").await;
    let closed = server.stderr_line("WebSocket closed").await;
    assert!(closed.contains("1000 (normal) \"done\", closed by the client"), "{closed}");
    // The intro's page is served at /.
    let page = http_get(addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("s.send(\"Hello WebSocket!\")"), "{}", page.body);
}

#[tokio::test]
async fn echo_over_wss_with_a_self_signed_certificate() {
    let cert = common::self_signed();
    let mut server = Example::start(
        "echo",
        &["127.0.0.1:0", "--cert", cert.cert.to_str().unwrap(), "--key", cert.key.to_str().unwrap()],
    );
    let line = server.stderr_line("listening on ").await;
    assert!(line.contains("listening on wss://127.0.0.1:"), "{line}");
    let port = line.rsplit(':').next().unwrap().trim();

    let trusting = tls::client_config_trusting_pem(cert.cert_pem.as_bytes()).unwrap();
    let opts = ConnectOptions { tls: Some(trusting), ..ConnectOptions::default() };
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("wss://{host}:{port}/");
        let (mut ws, _) = within("a wss:// handshake", connect_with(&url, opts.clone())).await.unwrap();
        echo_round_trips(&mut ws).await;
        client_close(&mut ws, CloseCode::NORMAL, "").await;
    }

    // Without trusting the certificate, the TLS handshake fails.
    let untrusted = within("a refused TLS handshake", connect(&format!("wss://localhost:{port}/"))).await;
    assert!(matches!(untrusted, Err(Error::Io(_))), "{:?}", untrusted.map(|_| ()));

    // echo-client --ca talks to it too.
    let url = format!("wss://localhost:{port}/");
    let mut client = Example::start("echo-client", &[&url, "--ca", cert.cert.to_str().unwrap()]);
    let (status, out) = client.wait().await;
    assert!(status.success(), "echo-client failed: {out:?}\n{}", client.log());
    assert_eq!(out, EXPECTED_ECHO_CLIENT);
}

// ---------------------------------------------------------------------------------------------------- echo-client

const EXPECTED_ECHO_CLIENT: [&str; 6] = [
    "connected",
    "client -> server: Hello WebSocket!",
    "client <- server: Hello WebSocket!",
    "client -> server: Hello World!",
    "client <- server: Hello World!",
    "disconnected",
];

#[tokio::test]
async fn echo_client_against_our_echo_server() {
    let mut server = Example::start("echo", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    let started = std::time::Instant::now();
    let mut client = Example::start("echo-client", &[&format!("ws://{addr}/")]);
    let (status, out) = client.wait().await;
    assert!(status.success(), "echo-client failed: {out:?}\n{}", client.log());
    assert_eq!(out, EXPECTED_ECHO_CLIENT);
    // It sends the second message after 1 s and closes after 2 s.
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    let closed = server.stderr_line("WebSocket closed").await;
    assert!(closed.contains("1000 (normal), closed by the client"), "{closed}");

    // No server: it says so and fails.
    drop(server);
    let mut client = Example::start("echo-client", &[&format!("ws://{addr}/")]);
    let (status, out) = client.wait().await;
    assert!(!status.success());
    assert!(out.first().is_some_and(|l| l.starts_with("error: cannot connect")), "{out:?}");
    assert_eq!(out.last().map(String::as_str), Some("disconnected"));
}

// ---------------------------------------------------------------------------------------------------- console-client

#[tokio::test]
async fn console_client_with_subscriptions() {
    let mut server = Example::start("subscriptions", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    let url = format!("ws://{addr}/subscriptions");

    // Lines from stdin go out; what arrives is printed; end of input closes normally.
    let mut client = Example::start("console-client", &[&url]);
    assert_eq!(client.stdout_line().await, "received: Greetings!");
    client.write_line("foo").await;
    assert_eq!(client.stdout_line().await, "received: bar");
    client.write_line("bar").await;
    assert_eq!(client.stdout_line().await, "received: foo");
    client.write_line("again").await;
    for _ in 0..10 {
        assert_eq!(client.stdout_line().await, "received: again");
    }
    client.close_stdin();
    let (status, rest) = client.wait().await;
    assert!(status.success(), "console-client failed\n{}", client.log());
    assert!(rest.is_empty(), "{rest:?}");
    assert!(client.log().contains("connection closed: 1000 (normal)"), "{}", client.log());
    let closed = server.stderr_line("WebSocket closed").await;
    assert!(closed.contains("1000 (normal), closed by the client"), "{closed}");

    // `end`: the server closes; the client says so and exits though stdin is still open.
    let mut client = Example::start("console-client", &[&url]);
    assert_eq!(client.stdout_line().await, "received: Greetings!");
    client.write_line("end").await;
    let (status, _) = client.wait().await;
    assert!(status.success(), "console-client failed\n{}", client.log());
    assert!(client.log().contains("the server closed the connection: 1000 (normal)"), "{}", client.log());
}

// ---------------------------------------------------------------------------------------------------- broadcast

#[tokio::test]
async fn broadcast_reaches_every_client_including_the_sender() {
    let mut server = Example::start("broadcast", &["127.0.0.1:0", "127.0.0.1:0"]);
    let ws_addr = server.listening().await;
    let page_addr = server.listening().await;
    assert_ne!(ws_addr, page_addr);

    // The page is served on both ports, and both ports take WebSockets.
    for addr in [ws_addr, page_addr] {
        let page = http_get(addr, "/").await;
        assert_eq!(page.status, 200);
        for id in ["id=\"status\"", "id=\"error-message\"", "id=\"form\"", "id=\"received-area\""] {
            assert!(page.body.contains(id), "page lacks {id}");
        }
        assert!(page.body.contains("location.host"), "the page connects back to its host");
    }

    let mut clients = Vec::new();
    for addr in [ws_addr, page_addr, ws_addr] {
        let mut ws = connect_uncompressed(&format!("ws://{addr}/")).await;
        expect_text(&mut ws, "connected to WebSocket server").await;
        clients.push(ws);
    }
    clients[1].send("hi from 1").await.unwrap();
    for ws in &mut clients {
        expect_text(ws, "hi from 1").await;
    }
    clients[0].send(vec![1u8, 2, 3]).await.unwrap();
    for ws in &mut clients {
        assert_eq!(next(ws).await, Message::binary(vec![1u8, 2, 3]));
    }

    // A client that never reads does not hold the others up. 8 MiB of incompressible data is more than the
    // loopback socket buffers and the server's write buffer (1 MiB high-water mark) hold for it, so its
    // forwarding task waits, while the others get every message. It stays under the 256-message backlog.
    let mut stuck = connect_uncompressed(&format!("ws://{ws_addr}/")).await;
    const CHUNKS: usize = 32;
    let chunks: Vec<Vec<u8>> = (0..CHUNKS).map(|i| common::noise(256 << 10, i as u64 + 1)).collect();
    // Every other client reads in its own task. (They must read: the server stops reading from a connection
    // whose replies it cannot write, so a client that only sends would be held up by its own echoes.)
    let (tx, mut rx) = clients.pop().unwrap().split();
    let mut readers = Vec::new();
    for mut ws in clients.drain(..) {
        let chunks = chunks.clone();
        readers.push(tokio::spawn(async move {
            for (i, c) in chunks.iter().enumerate() {
                assert!(matches!(next(&mut ws).await, Message::Binary(b) if b[..] == c[..]), "chunk {i}");
            }
            ws
        }));
    }
    let own = tokio::spawn({
        let chunks = chunks.clone();
        async move {
            for (i, c) in chunks.iter().enumerate() {
                match within("a chunk", rx.recv()).await {
                    Some(Ok(Message::Binary(b))) => assert!(b[..] == c[..], "chunk {i} (sender)"),
                    other => panic!("expected chunk {i}, got {other:?}"),
                }
            }
            rx
        }
    });
    for c in &chunks {
        within("a send", tx.send(c.clone())).await.unwrap();
    }
    for r in readers {
        clients.push(within("a reader", r).await.unwrap());
    }
    let mut rx = within("the sender's reader", own).await.unwrap();
    tx.close(CloseCode::GOING_AWAY, "").await.unwrap();
    assert!(matches!(within("the close", rx.recv()).await, Some(Ok(Message::Close(_)))));
    assert!(within("the end", rx.recv()).await.is_none());

    for ws in &mut clients {
        client_close(ws, CloseCode::GOING_AWAY, "").await;
    }
    server.stderr_line("1001 (going away), closed by the client").await;
    // The stuck client still gets everything once it reads.
    expect_text(&mut stuck, "connected to WebSocket server").await;
    for (i, c) in chunks.iter().enumerate() {
        assert!(matches!(next(&mut stuck).await, Message::Binary(b) if b[..] == c[..]), "chunk {i} (stuck client)");
    }
}

// ---------------------------------------------------------------------------------------------------- bun-style

#[tokio::test]
async fn bun_style_stop_and_close_logging() {
    let mut server = Example::start("bun-style", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    server.stderr_line(&format!("WebSocket server is listening on port {}", addr.port())).await;

    // Any message → Hello from server!; stop → the server closes (1000).
    let mut ws = connect_ok(&format!("ws://{addr}/")).await;
    server.stderr_line("WebSocket is open.").await;
    ws.send("hello").await.unwrap();
    expect_text(&mut ws, "Hello from server!").await;
    server.stderr_line("received \"hello\"").await;
    ws.send("stop").await.unwrap();
    expect_server_close(&mut ws, CloseCode::NORMAL).await;
    server.stderr_line("received \"stop\"").await;
    server.stderr_line("WebSocket closed with code 1000").await;

    // The client closes with a code and a reason: both are logged.
    let mut ws = connect_ok(&format!("ws://{addr}/")).await;
    server.stderr_line("WebSocket is open.").await;
    client_close(&mut ws, CloseCode::NORMAL, "bye now").await;
    server.stderr_line("WebSocket closed with code 1000").await;
    server.stderr_line("WebSocket closed with message \"bye now\"").await;

    // A close frame without a status: 1005.
    let mut ws = connect_ok(&format!("ws://{addr}/")).await;
    server.stderr_line("WebSocket is open.").await;
    ws.send(Message::Close(None)).await.unwrap();
    match next(&mut ws).await {
        Message::Close(f) => assert_eq!(f.map(|f| f.code_or_no_status()).unwrap_or(CloseCode::NO_STATUS).0, 1005),
        other => panic!("expected the close reply, got {other:?}"),
    }
    server.stderr_line("WebSocket closed with code 1005").await;

    // A plain request gets the chat page at /, Bun's 500 elsewhere.
    assert_eq!(http_get(addr, "/").await.status, 200);
    let other = http_get(addr, "/greet").await;
    assert_eq!((other.status, other.body.as_str()), (500, "WebSockets upgrade failed"));
}
