//! Blocking std threads over `std::net::TcpStream` on 127.0.0.1, one thread per end, as in
//! `wsproto/examples/blocking.rs`: the time goes to the core at every wake-up, and each read waits no longer
//! than the core's next deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use wsproto::Instant;

use crate::machine::{ClientMachine, Machine, ServerMachine};
use crate::{Conversation, Driver, Report, Side, LIMIT};

/// Blocking threads over `std::net`.
pub struct Blocking;

/// The longest single wait for input when the core has no deadline.
const IDLE: Duration = Duration::from_secs(2);

/// The blocking drive loop for one end: output, transport close, then a read bounded by the next deadline.
fn drive(end: &mut dyn Machine, mut stream: TcpStream) {
    let origin = std::time::Instant::now();
    let now = || Instant::from_origin(origin.elapsed());
    let mut buf = vec![0u8; 64 * 1024];
    end.handle_timeout(now());
    while origin.elapsed() < LIMIT {
        end.poll();
        let out = end.take_output();
        if !out.is_empty() {
            // The peer may have closed already; what it does not read is lost, as on any transport.
            let _ = stream.write_all(&out);
        }
        if end.wants_transport_closed() {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        let wait = end.poll_timeout().map_or(IDLE, |d| d - now()).clamp(Duration::from_millis(1), IDLE);
        stream.set_read_timeout(Some(wait)).expect("nonzero timeout");
        let room = end.recv_capacity().min(buf.len());
        let read = stream.read(&mut buf[..room]);
        end.handle_timeout(now());
        match read {
            Ok(0) => end.feed_eof(),
            Ok(n) => end.feed(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => end.feed_eof(), // reset by the peer: the transport ended
        }
    }
}

impl Driver for Blocking {
    const NAME: &'static str = "blocking";

    fn run(conversation: &Conversation) -> Report {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("bound").to_string();
        let mut server = ServerMachine::new(conversation);
        let server = thread::spawn(move || -> Side {
            let (stream, _) = listener.accept().expect("accept");
            drive(&mut server, stream);
            server.report().clone()
        });
        let mut client = ClientMachine::new(conversation, &addr);
        let stream = TcpStream::connect(&addr).expect("connect");
        drive(&mut client, stream);
        Report { client: client.report().clone(), server: server.join().expect("server thread") }
    }
}
