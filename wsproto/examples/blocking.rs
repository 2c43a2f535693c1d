//! `wsproto` without any async runtime: a blocking echo server and client over `std::net::TcpStream`, one
//! thread each, on 127.0.0.1 (an ephemeral port). The client handshakes, sends text and binary messages and a
//! ping, checks the echoes, and closes with 1000; both ends print what happens. Only `std` and `wsproto`.
//!
//! ```text
//! cargo run -p wsproto --example blocking
//! ```
//!
//! Time comes from the core: the driver keeps a clock (an origin and the time since it), tells the handshake and
//! the connection the time at every wake-up (`handle_timeout`), and waits on the socket no longer than their
//! next deadline (`poll_timeout`): the handshake timeout, keepalive pings, the close handshake's deadline. A
//! read with no deadline still gives up after a while, so a bug makes the example fail instead of hanging.

use std::collections::hash_map::RandomState;
use std::error::Error;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wsproto::handshake::{write_response, Accept, ClientHandshake, ClientOutcome, ClientRequest, Incoming};
use wsproto::handshake::{ServerHandshake, UpgradeRequest};
use wsproto::{CloseCode, CloseOutcome, Config, Connection, Event, Instant, Keepalive};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The longest wait for input when no deadline is set.
const IDLE: Duration = Duration::from_secs(5);

/// The driver's clock. The core reads none: it is told the time since an origin chosen here.
struct Clock(std::time::Instant);

impl Clock {
    fn start() -> Clock {
        Clock(std::time::Instant::now())
    }

    fn now(&self) -> Instant {
        Instant::from_origin(self.0.elapsed())
    }

    /// Reads once into `buf`, waiting until `deadline` at most: `Some(n)` bytes (0 at EOF), or `None` when the
    /// deadline came first (then tell the core the time). Without a deadline, waiting over [`IDLE`] is an error.
    fn read(&self, stream: &mut TcpStream, buf: &mut [u8], deadline: Option<Instant>) -> Result<Option<usize>> {
        let wait = deadline.map_or(IDLE, |d| d - self.now()).max(Duration::from_millis(1));
        stream.set_read_timeout(Some(wait))?;
        match stream.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => match deadline {
                Some(_) => Ok(None),
                None => Err("no input for too long".into()),
            },
            Err(e) => Err(e.into()),
        }
    }
}

/// The connection's settings: keepalive pings after 20 s of silence, answered within 10 s; the other deadlines
/// (10 s handshake, 5 s close) are the defaults.
fn config() -> Config {
    Config::default().with_keepalive(Some(Keepalive::new(Duration::from_secs(20), Duration::from_secs(10))))
}

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
    let clock = Clock::start();
    let mut buf = vec![0u8; 64 * 1024];

    // The opening handshake: read until the request head is complete (or its deadline passes: 408).
    let mut handshake = ServerHandshake::new(config())?;
    handshake.handle_timeout(clock.now());
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
            Ok(Some(other)) => {
                // A kind of request this server does not know: refuse it.
                println!("[server] unsupported request: {other:?}");
                let mut out = Vec::new();
                write_response(400, &[], b"unsupported request\n", &mut out);
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
        let got = clock.read(&mut stream, &mut buf, handshake.poll_timeout())?;
        handshake.handle_timeout(clock.now());
        match got {
            Some(0) => handshake.feed_eof(),
            Some(n) => handshake.feed(&buf[..n]),
            None => {}
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

    // The drive loop: events (echo data), automatic output, transport close, then wait for input or the next
    // deadline, and tell the connection the time before feeding what arrived.
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
        read_into(&clock, &mut stream, &mut conn, &mut buf)?;
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

/// Waits for input or the connection's next deadline, tells it the time, and feeds what arrived; returns
/// false at EOF.
fn read_into(clock: &Clock, stream: &mut TcpStream, conn: &mut Connection, buf: &mut [u8]) -> Result<bool> {
    let room = conn.recv_capacity().min(buf.len());
    let got = clock.read(stream, &mut buf[..room], conn.poll_timeout())?;
    conn.handle_timeout(clock.now());
    match got {
        Some(0) => {
            conn.feed_eof();
            Ok(false)
        }
        Some(n) => {
            conn.feed(&buf[..n])?;
            Ok(true)
        }
        None => Ok(true),
    }
}

fn run_client(addr: SocketAddr) -> Result<()> {
    let clock = Clock::start();
    let mut stream = TcpStream::connect(addr)?;
    let mut buf = vec![0u8; 64 * 1024];

    // The opening handshake.
    let request = ClientRequest::new(addr.to_string(), "/echo").protocol("echo").header("Origin", "http://localhost");
    let mut handshake = ClientHandshake::new(request, config(), seed())?;
    handshake.handle_timeout(clock.now());
    let mut out = Vec::new();
    handshake.write_request(&mut out)?;
    stream.write_all(&out)?;
    out.clear();
    let mut conn = loop {
        let got = clock.read(&mut stream, &mut buf, handshake.poll_timeout())?;
        handshake.handle_timeout(clock.now());
        match got {
            Some(0) => handshake.feed_eof(),
            Some(n) => handshake.feed(&buf[..n]),
            None => {}
        }
        match handshake.poll_response()? {
            Some(ClientOutcome::Accepted { connection, negotiated, response }) => {
                println!("[client] {} {}, subprotocol {:?}", response.status, response.reason, negotiated.protocol);
                if negotiated.protocol.as_deref() != Some("echo") {
                    return Err("server did not choose the echo subprotocol".into());
                }
                break connection;
            }
            Some(ClientOutcome::Rejected(response)) => {
                return Err(format!("rejected with {}: {:?}", response.status, response.body).into());
            }
            Some(other) => return Err(format!("unexpected handshake outcome: {other:?}").into()),
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
            if !read_into(&clock, &mut stream, &mut conn, &mut buf)? {
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
        read_into(&clock, &mut stream, &mut conn, &mut buf)?;
        while let Some(ev) = conn.poll_event()? {
            match ev {
                Event::Pong(p) => pong = Some(p),
                other => return Err(format!("unexpected {other:?}").into()),
            }
        }
    }
    assert_eq!(pong.as_deref(), Some(&b"are you there?"[..]));
    println!("[client] pong received");

    // The closing handshake: send ours, read until theirs, then wait for the server to close TCP (RFC 6455
    // §7.1.1), no longer than the close timeout: `wants_transport_closed` turns true at EOF or at that deadline.
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
        read_into(&clock, &mut stream, &mut conn, &mut buf)?;
    }
    println!("[client] finished: {:?}", conn.close_outcome());
    match conn.close_outcome() {
        Some(CloseOutcome::Clean { remote, initiated_locally: true }) if remote.code == Some(CloseCode::NORMAL) => {
            Ok(())
        }
        other => Err(format!("client: unexpected outcome {other:?}").into()),
    }
}
