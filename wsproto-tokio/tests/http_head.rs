//! The HTTP head of the opening handshake over real TCP (issue 14 item 1): each rule checked against the `echo`
//! and `hello` examples (or `wsproto_tokio::accept`, or our client against a raw server) on 127.0.0.1, with
//! requests written by hand so they can break the rules a well-behaved client keeps.
//!
//! - an upgrade request with a body (`Content-Length` ≠ 0, any `Transfer-Encoding`, both, a repeated length)
//!   gets 400 and the connection closes; its body is never read as frames (RFC 9112 §6.1, §6.3);
//! - `Host` must appear once with a valid authority (RFC 9112 §3.2);
//! - every 426 carries `Upgrade: websocket` and `Connection: Upgrade` (RFC 9110 §15.5.22), and
//!   `Sec-WebSocket-Version: 13` for a wrong version (RFC 6455 §4.4);
//! - an absolute-form target is routed by its path (RFC 9112 §3.2.2);
//! - an overlong target gets 414 (RFC 9112 §3), oversized headers 431;
//! - the client refuses a 101 that announces a body (RFC 9112 §6.3 item 1).
//!
//! Every wait is bounded by [`WAIT`]; there are no sleeps.

mod common;

use std::net::SocketAddr;

use common::{within, Example};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsproto_tokio::wsproto::handshake::{accept_key, RequestError, ResponseError};
use wsproto_tokio::Error;

/// The RFC's example key (§1.3).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An upgrade request for `target`: the standard lines, `Host` replaced by `host` (left out when `None`), and
/// `extra` lines; no extensions, so frames cross the wire as they are.
fn upgrade(target: &str, host: Option<&str>, extra: &[&str]) -> Vec<u8> {
    let mut lines = vec![format!("GET {target} HTTP/1.1")];
    if let Some(h) = host {
        lines.push(format!("Host: {h}"));
    }
    lines.extend(
        [
            "Upgrade: websocket",
            "Connection: Upgrade",
            &format!("Sec-WebSocket-Key: {KEY}"),
            "Sec-WebSocket-Version: 13",
        ]
        .map(String::from),
    );
    lines.extend(extra.iter().map(|s| s.to_string()));
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}

/// A masked client text frame.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    assert!(payload.len() < 126);
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// An HTTP response head as received.
#[derive(Debug)]
struct Head {
    status: u16,
    /// (lowercased name, value).
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }

    /// The lowercased tokens of every `name` field.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// Reads a response head from `tcp`; returns it and the bytes read after it.
async fn read_head(tcp: &mut TcpStream) -> (Head, Vec<u8>) {
    within("a response head", async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let n = tcp.read(&mut chunk).await.expect("reading the response");
            assert!(n > 0, "the connection ended before a response head: {:?}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        };
        let text = std::str::from_utf8(&buf[..end]).expect("a UTF-8 head");
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').expect("a header line");
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        (Head { status, headers }, buf[end + 4..].to_vec())
    })
    .await
}

/// Reads until the server closes the connection (EOF, or a reset after it closed with our bytes unread).
async fn read_to_close(tcp: &mut TcpStream, mut got: Vec<u8>) -> Vec<u8> {
    within("the server to close the connection", async {
        let mut chunk = [0u8; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
}

/// Sends `request` on a fresh connection and expects a refusal: returns the head once the server has closed
/// the connection, after checking that exactly the announced body came before the close (no frame, no 101).
async fn refused(addr: SocketAddr, request: &[u8]) -> Head {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert_ne!(head.status, 101, "upgraded: {}", String::from_utf8_lossy(request));
    let after = read_to_close(&mut tcp, rest).await;
    let len: usize = head.get("content-length").expect("a Content-Length").parse().unwrap();
    assert_eq!(after.len(), len, "bytes after the refusal's body (a frame echoed?): {after:?}");
    assert!(head.tokens("connection").contains(&"close".to_string()), "no Connection: close: {head:?}");
    head
}

/// Sends `request` and expects a 101; returns the connection.
async fn upgraded(addr: SocketAddr, request: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    assert_eq!(head.status, 101, "{head:?} for {}", String::from_utf8_lossy(request));
    assert_eq!(head.get("sec-websocket-accept"), Some(accept_key(KEY.as_bytes()).as_str()));
    (tcp, rest)
}

/// Reads one unmasked server frame with a short payload: (first byte, payload).
async fn server_frame(tcp: &mut TcpStream, mut got: Vec<u8>) -> (u8, Vec<u8>) {
    within("a frame from the server", async {
        let mut chunk = [0u8; 4096];
        loop {
            if got.len() >= 2 && got.len() >= 2 + (got[1] & 0x7f) as usize {
                let len = (got[1] & 0x7f) as usize;
                assert!(len < 126);
                return (got[0], got[2..2 + len].to_vec());
            }
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection ended before a frame");
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

async fn example(name: &'static str) -> (Example, SocketAddr) {
    let mut server = Example::start(name, &["127.0.0.1:0"]);
    let addr = server.listening().await;
    (server, addr)
}

/// Issue 14: the body of an upgrade request was read as frames (a masked frame sent as the "body" was
/// echoed). Now any body, both framings, or a repeated length is a 400 and a closed connection.
#[tokio::test]
async fn upgrade_with_a_body_gets_400_and_is_never_read_as_frames() {
    let (_server, addr) = example("echo").await;
    let host = addr.to_string();
    let frame = text_frame(b"smuggled");
    let cl = format!("Content-Length: {}", frame.len());
    let mut chunked = format!("{:x}\r\n", frame.len()).into_bytes();
    chunked.extend_from_slice(&frame);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    for (extra, body) in [
        (vec![cl.as_str()], &frame[..]),
        (vec!["Transfer-Encoding: chunked"], &chunked[..]),
        (vec!["Transfer-Encoding: chunked", cl.as_str()], &frame[..]),
        (vec!["Content-Length: 0", "Transfer-Encoding: chunked"], &chunked[..]),
        (vec!["Content-Length: 0", "Content-Length: 0"], &frame[..]),
        (vec!["Content-Length: 0, 8"], &frame[..]),
    ] {
        let mut request = upgrade("/", Some(&host), &extra);
        request.extend_from_slice(body);
        let head = refused(addr, &request).await;
        assert_eq!(head.status, 400, "{extra:?}");
    }
    // The control: with `Content-Length: 0` the same bytes are frames, and the frame is echoed.
    let mut request = upgrade("/", Some(&host), &["Content-Length: 0"]);
    request.extend_from_slice(&frame);
    let (mut tcp, rest) = upgraded(addr, &request).await;
    assert_eq!(server_frame(&mut tcp, rest).await, (0x81, b"smuggled".to_vec()));
}

/// RFC 9112 §3.2: a missing, repeated or invalid Host is 400.
#[tokio::test]
async fn host_must_appear_once_with_a_valid_authority() {
    let (_server, addr) = example("echo").await;
    let host = addr.to_string();
    let dup = format!("Host: {host}");
    for (what, request) in [
        ("a space", upgrade("/", Some("exa mple.com"), &[])),
        ("user info", upgrade("/", Some(&format!("user@{host}")), &[])),
        ("a bad port", upgrade("/", Some("127.0.0.1:99999"), &[])),
        ("empty", upgrade("/", Some(""), &[])),
        ("missing", upgrade("/", None, &[])),
        ("repeated", upgrade("/", Some(&host), &[&dup])),
    ] {
        let head = refused(addr, &request).await;
        assert_eq!(head.status, 400, "Host {what}");
    }
    upgraded(addr, &upgrade("/", Some("[::1]:8080"), &[])).await;
}

/// RFC 9110 §15.5.22: every 426 names the protocol (`Upgrade: websocket`, `Connection: Upgrade`); RFC 6455
/// §4.4: a wrong version also gets `Sec-WebSocket-Version: 13`.
#[tokio::test]
async fn every_426_carries_upgrade_websocket() {
    let check = |head: &Head, what: &str| {
        assert_eq!(head.status, 426, "{what}");
        assert_eq!(head.get("upgrade"), Some("websocket"), "{what}: {head:?}");
        assert_eq!(head.count("connection"), 1, "{what}: {head:?}");
        assert_eq!(head.tokens("connection"), vec!["upgrade", "close"], "{what}");
    };
    // The library's wrong-version answer.
    let (_echo, addr) = example("echo").await;
    let mut request = upgrade("/", Some(&addr.to_string()), &[]);
    let at = request.windows(4).position(|w| w == b": 13").unwrap();
    request[at + 2..at + 4].copy_from_slice(b"08");
    let head = refused(addr, &request).await;
    check(&head, "wrong version");
    assert_eq!(head.get("sec-websocket-version"), Some("13"));

    // The examples' answer to a plain GET on a WebSocket path.
    let (_hello, addr) = example("hello").await;
    let head = refused(addr, format!("GET /websocket HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await;
    check(&head, "plain GET on hello's /websocket");
    assert_eq!(head.get("sec-websocket-version"), None);

    // `wsproto_tokio::accept`'s answer to a plain GET.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsproto_tokio::accept(tcp).await.map(|_| ())
    });
    let head = refused(addr, format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await;
    check(&head, "plain GET to wsproto_tokio::accept");
    assert!(within("accept to end", server).await.unwrap().is_err());
}

/// RFC 9112 §3.2.2: a server MUST accept the absolute form. `GET http://host/websocket` was a 404 where
/// `GET /websocket` was a 101; both are routed by the path now.
#[tokio::test]
async fn absolute_form_targets_are_routed_by_path() {
    let (_server, addr) = example("hello").await;
    let host = addr.to_string();
    for target in ["/websocket", &format!("http://{host}/websocket"), &format!("ws://{host}/websocket?x=1")] {
        let (mut tcp, rest) = upgraded(addr, &upgrade(target, Some(&host), &[])).await;
        tcp.write_all(&text_frame(b"Hello?")).await.unwrap();
        assert_eq!(server_frame(&mut tcp, rest).await, (0x81, b"Good-bye!".to_vec()), "{target}");
    }
    // Not a WebSocket path in either form: 404.
    for target in ["/elsewhere", &format!("http://{host}/elsewhere")] {
        let head = refused(addr, &upgrade(target, Some(&host), &[])).await;
        assert_eq!(head.status, 404, "{target}");
    }
    // The page, asked for in absolute form.
    let head = refused(addr, format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).await;
    assert_eq!(head.status, 200);
    // Forms that cannot carry an upgrade: 400.
    for target in ["*", &host, &format!("ftp://{host}/websocket"), &format!("http://u@{host}/websocket")] {
        let head = refused(addr, &upgrade(target, Some(&host), &[])).await;
        assert_eq!(head.status, 400, "{target}");
    }
}

/// RFC 9112 §3: an overlong request-target is 414 URI Too Long, whether the head is complete or the target
/// alone runs past the head limit; oversized headers stay 431.
#[tokio::test]
async fn overlong_target_gets_414_and_oversized_headers_431() {
    let (_server, addr) = example("echo").await;
    let host = addr.to_string();
    let over = format!("/{}", "a".repeat(wsproto_tokio::wsproto::handshake::MAX_TARGET_LEN));
    let head = refused(addr, &upgrade(&over, Some(&host), &[])).await;
    assert_eq!(head.status, 414, "a complete head with a target one byte over the limit");
    // Exactly `max_handshake_bytes` (16 KiB by default) and no end of head: the server reads all of it before
    // answering, so it closes with nothing unread (no reset racing the answer).
    let limit = 16 << 10;
    let endless = [b"GET /".to_vec(), vec![b'b'; limit - 5]].concat();
    let head = refused(addr, &endless).await;
    assert_eq!(head.status, 414, "a target that runs past the head limit");
    let mut big = upgrade("/", Some(&host), &[]);
    big.truncate(big.len() - 2);
    big.extend_from_slice(b"X-Big: ");
    big.resize(limit, b'c');
    let head = refused(addr, &big).await;
    assert_eq!(head.status, 431, "a header that runs past the head limit");
    let at_limit = format!("/{}", "a".repeat(wsproto_tokio::wsproto::handshake::MAX_TARGET_LEN - 1));
    upgraded(addr, &upgrade(&at_limit, Some(&host), &[])).await;
}

/// RFC 9112 §6.3 item 1: a 1xx has no body. Our client refuses a 101 that announces one, with a typed error.
#[tokio::test]
async fn client_refuses_a_101_announcing_a_body() {
    for extra in ["Content-Length: 5", "Transfer-Encoding: chunked", "Content-Length: 0\r\nContent-Length: 0"] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tcp.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                request.extend_from_slice(&chunk[..n]);
            }
            let text = String::from_utf8(request).unwrap();
            let key = text
                .lines()
                .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-key")))
                .map(|(_, v)| v.trim().to_string())
                .expect("a key");
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n{extra}\r\n\r\nhello",
                accept_key(key.as_bytes())
            );
            tcp.write_all(response.as_bytes()).await.unwrap();
            // Until the client hangs up.
            let _ = tcp.read(&mut chunk).await;
        });
        let r = within("the client handshake", wsproto_tokio::connect(&format!("ws://{addr}/"))).await;
        match r {
            Err(Error::Response(ResponseError::UnexpectedBody)) => {}
            other => panic!("{extra:?}: {:?}", other.map(|(_, resp)| resp)),
        }
        within("the raw server to end", server).await.unwrap();
    }
}

/// The typed error a refused request comes back as from `accept`: status and headers for the answer.
#[tokio::test]
async fn accept_returns_the_typed_refusal() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsproto_tokio::accept(tcp).await.map(|_| ())
    });
    let mut request = upgrade("/", Some(&addr.to_string()), &["Transfer-Encoding: chunked"]);
    request.extend_from_slice(b"0\r\n\r\n");
    let head = refused(addr, &request).await;
    assert_eq!(head.status, 400);
    match within("accept to end", server).await.unwrap() {
        Err(Error::Request(e)) => {
            assert_eq!(e, RequestError::BodyNotAllowed);
            assert_eq!(e.status(), 400);
        }
        other => panic!("{other:?}"),
    }
}
