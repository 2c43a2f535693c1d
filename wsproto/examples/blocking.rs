//! `wsproto` without any async runtime: a blocking echo server and client over `std::net::TcpStream`, one
//! thread each, on 127.0.0.1 (an ephemeral port). The client handshakes, sends text and binary messages and a
//! ping, checks the echoes, and closes with 1000; both ends print what happens. Only `std` and `wsproto`.
//!
//! ```text
//! cargo run -p wsproto --example blocking
//! ```
//!
//! Every socket read has a timeout, so a bug makes the example fail instead of hanging.

use std::collections::hash_map::RandomState;
use std::error::Error;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wsproto::handshake::{write_response, Accept, ClientHandshake, ClientOutcome, ClientRequest, Incoming};
use wsproto::handshake::{ServerHandshake, UpgradeRequest};
use wsproto::{CloseCode, CloseOutcome, Config, Connection, Event};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const TIMEOUT: Duration = Duration::from_secs(5);

/// 32 seed bytes for the client's `Sec-WebSocket-Key` and masking keys.
///
/// This uses only `std`: `RandomState` is seeded from the OS once per thread and perturbed per instance,
/// mixed here with the clock. That is good enough for an example, but RFC 6455 §10.3 asks for masking keys an
/// attacker cannot predict: **real code should take the seed from the OS's random source**, e.g.
/// `getrandom::fill(&mut seed)` with the `getrandom` crate.
fn seed() -> [u8; 32] {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    seed
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

fn main() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("[server] listening on {addr}");

    let server = thread::spawn(move || -> Result<()> {
        let (stream, peer) = listener.accept()?;
        println!("[server] connection from {peer}");
        serve(stream)
    });
    let client = thread::spawn(move || run_client(addr));

    let client_result = client.join().expect("client thread panicked");
    let server_result = server.join().expect("server thread panicked");
    client_result?;
    server_result?;
    println!("done: echoes verified, closed cleanly with 1000");
    Ok(())
}

// ----- server -----

fn serve(mut stream: TcpStream) -> Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut buf = vec![0u8; 64 * 1024];

    // The opening handshake: read until the request head is complete.
    let mut handshake = ServerHandshake::new(Config::default())?;
    let request: UpgradeRequest = loop {
        match handshake.poll_request() {
            Ok(Some(Incoming::Upgrade(req))) => break req,
            Ok(Some(Incoming::Http(req))) => {
                println!("[server] plain HTTP request for {}: 404", req.target);
                let mut out = Vec::new();
                write_response(404, &[], b"not a WebSocket endpoint\n", &mut out);
                stream.write_all(&out)?;
                return Ok(());
            }
            Ok(None) => {}
            Err(e) => {
                println!("[server] bad request: {e} ({})", e.status());
                let mut out = Vec::new();
                e.write_response(&mut out);
                stream.write_all(&out)?;
                return Err(e.into());
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            handshake.feed_eof();
        } else {
            handshake.feed(&buf[..n]);
        }
    };
    println!(
        "[server] upgrade request for {} (protocols offered: {:?}, origin: {:?})",
        request.request.target,
        request.protocols,
        request.origin()
    );
    let accept = if request.protocols.iter().any(|p| p == "echo") {
        Accept::default().protocol("echo")
    } else {
        Accept::default()
    };
    let mut out = Vec::new();
    let mut conn = handshake.accept(&request, accept, &mut out)?;
    stream.write_all(&out)?;
    out.clear();

    // The drive loop: events (echo data), automatic output, transport close, input.
    loop {
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Text(text))) => {
                    println!("[server] text ({} bytes), echoing", text.len());
                    conn.send_text(&text, &mut out)?;
                }
                Ok(Some(Event::Binary(data))) => {
                    println!("[server] binary ({} bytes), echoing", data.len());
                    conn.send_binary(&data, &mut out)?;
                }
                Ok(Some(Event::Ping(p))) => println!("[server] ping {:?} (pong queued)", String::from_utf8_lossy(&p)),
                Ok(Some(Event::Close(frame))) => println!("[server] peer closed: {frame}; replying"),
                Ok(Some(other)) => println!("[server] {other:?}"),
                Ok(None) => break,
                Err(e) => {
                    println!("[server] connection failed: {e}");
                    break;
                }
            }
        }
        conn.poll_transmit(&mut out);
        stream.write_all(&out)?;
        out.clear();
        if conn.wants_transport_closed() {
            // RFC 6455 §7.1.1: the server closes the TCP connection first.
            stream.shutdown(Shutdown::Both)?;
            break;
        }
        let room = conn.recv_capacity().min(buf.len());
        let n = stream.read(&mut buf[..room])?;
        if n == 0 {
            conn.feed_eof();
        } else {
            conn.feed(&buf[..n])?;
        }
    }
    println!("[server] finished: {:?}", conn.close_outcome());
    match conn.close_outcome() {
        Some(CloseOutcome::Clean { remote, initiated_locally: false }) if remote.code == Some(CloseCode::NORMAL) => {
            Ok(())
        }
        other => Err(format!("server: unexpected outcome {other:?}").into()),
    }
}

// ----- client -----

/// Reads once and feeds the connection; returns false at EOF.
fn read_into(stream: &mut TcpStream, conn: &mut Connection, buf: &mut [u8]) -> Result<bool> {
    let room = conn.recv_capacity().min(buf.len());
    let n = stream.read(&mut buf[..room])?;
    if n == 0 {
        conn.feed_eof();
        return Ok(false);
    }
    conn.feed(&buf[..n])?;
    Ok(true)
}

fn run_client(addr: SocketAddr) -> Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut buf = vec![0u8; 64 * 1024];

    // The opening handshake.
    let request = ClientRequest::new(addr.to_string(), "/echo").protocol("echo").header("Origin", "http://localhost");
    let mut handshake = ClientHandshake::new(request, Config::default(), seed())?;
    let mut out = Vec::new();
    handshake.write_request(&mut out)?;
    stream.write_all(&out)?;
    out.clear();
    let mut conn = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            handshake.feed_eof();
        } else {
            handshake.feed(&buf[..n]);
        }
        match handshake.poll_response()? {
            Some(ClientOutcome::Accepted { connection, accepted, response }) => {
                println!("[client] {} {}, subprotocol {:?}", response.status, response.reason, accepted.protocol);
                if accepted.protocol.as_deref() != Some("echo") {
                    return Err("server did not choose the echo subprotocol".into());
                }
                break connection;
            }
            Some(ClientOutcome::Rejected(response)) => {
                return Err(format!("rejected with {}: {:?}", response.status, response.body).into());
            }
            None => {}
        }
    };

    // Send each message and wait for its echo.
    let messages = vec![
        Msg::Text("Hello".into()),
        Msg::Text("wsproto ✓ works without a runtime".into()),
        Msg::Binary(vec![0, 1, 2, 253, 254, 255]),
        Msg::Binary((0..100_000u32).map(|i| (i % 251) as u8).collect()),
        Msg::Text(String::new()),
    ];
    let mut echoes = Vec::new();
    for msg in &messages {
        match msg {
            Msg::Text(t) => conn.send_text(t, &mut out)?,
            Msg::Binary(b) => conn.send_binary(b, &mut out)?,
        }
        stream.write_all(&out)?;
        out.clear();
        let before = echoes.len();
        while echoes.len() == before {
            if !read_into(&mut stream, &mut conn, &mut buf)? {
                return Err("server closed the connection early".into());
            }
            while let Some(ev) = conn.poll_event()? {
                match ev {
                    Event::Text(t) => echoes.push(Msg::Text(t.to_string())),
                    Event::Binary(b) => echoes.push(Msg::Binary(b.to_vec())),
                    other => return Err(format!("unexpected {other:?}").into()),
                }
            }
        }
        let last = echoes.last().expect("pushed above");
        match last {
            Msg::Text(t) => println!("[client] echo: text {t:?}"),
            Msg::Binary(b) => println!("[client] echo: binary of {} bytes", b.len()),
        }
    }
    assert_eq!(echoes, messages, "echoes differ from what was sent");

    // A ping, answered automatically by the server.
    conn.send_ping(b"are you there?", &mut out)?;
    stream.write_all(&out)?;
    out.clear();
    let mut pong = None;
    while pong.is_none() {
        read_into(&mut stream, &mut conn, &mut buf)?;
        while let Some(ev) = conn.poll_event()? {
            match ev {
                Event::Pong(p) => pong = Some(p),
                other => return Err(format!("unexpected {other:?}").into()),
            }
        }
    }
    assert_eq!(pong.as_deref(), Some(&b"are you there?"[..]));
    println!("[client] pong received");

    // The closing handshake: send ours, read until theirs, then wait for the server to close TCP.
    conn.close(CloseCode::NORMAL, "bye", &mut out)?;
    stream.write_all(&out)?;
    out.clear();
    println!("[client] sent close 1000");
    loop {
        while let Some(ev) = conn.poll_event()? {
            match ev {
                Event::Close(frame) => println!("[client] server replied: close {frame}"),
                other => println!("[client] {other:?} while closing"),
            }
        }
        conn.poll_transmit(&mut out);
        stream.write_all(&out)?;
        out.clear();
        if conn.wants_transport_closed() {
            break;
        }
        read_into(&mut stream, &mut conn, &mut buf)?;
    }
    println!("[client] finished: {:?}", conn.close_outcome());
    match conn.close_outcome() {
        Some(CloseOutcome::Clean { remote, initiated_locally: true }) if remote.code == Some(CloseCode::NORMAL) => {
            Ok(())
        }
        other => Err(format!("client: unexpected outcome {other:?}").into()),
    }
}
