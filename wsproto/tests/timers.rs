//! The core's deadlines on a virtual clock (no sockets, no sleeping): keepalive ping and pong, the close
//! handshake's deadline, a client's wait for the server's transport close (RFC 6455 §7.1.1), and the message
//! deadline. `Pair` drives a client and a server the way a driver does: time first, then bytes, then output.

mod common;

use std::time::Duration;

use common::*;
use wsproto::{
    CloseCode, CloseOutcome, Config, Connection, Event, Instant, Keepalive, ProtocolError, Role, State, Timeout,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn at(s: u64) -> Instant {
    Instant::ZERO + secs(s)
}

fn keepalive() -> Config {
    Config::default().with_keepalive(Some(Keepalive::new(secs(30), secs(10))))
}

/// A client and a server joined by an in-memory wire, on one virtual clock.
struct Pair {
    client: Connection,
    server: Connection,
    now: Instant,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

impl Pair {
    fn new(client: Config, server: Config) -> Pair {
        let mut p = Pair {
            client: Connection::new(Role::Client, client, [1; 32]).unwrap(),
            server: Connection::new(Role::Server, server, [2; 32]).unwrap(),
            now: Instant::ZERO,
            client_events: Vec::new(),
            server_events: Vec::new(),
        };
        p.client.handle_timeout(p.now);
        p.server.handle_timeout(p.now);
        p
    }

    /// Moves the clock to the earlier of `until` and the next deadline of either side, fires it, and lets the
    /// two exchange what they have until both are quiet. Returns whether the clock reached `until`.
    fn step_until(&mut self, until: Instant) -> bool {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
        let to = next.map_or(until, |t| t.min(until));
        self.now = self.now.max(to);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.exchange();
        self.now >= until
    }

    fn run_until(&mut self, until: Instant) {
        for _ in 0..10_000 {
            if self.step_until(until) {
                return;
            }
        }
        panic!("too many deadlines before {until:?}");
    }

    /// Output of each side fed to the other, events drained, until nothing moves.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            let mut out = Vec::new();
            self.client.poll_transmit(&mut out);
            if !out.is_empty() {
                moved = true;
                self.server.feed(&out).unwrap();
            }
            let mut out = Vec::new();
            self.server.poll_transmit(&mut out);
            if !out.is_empty() {
                moved = true;
                self.client.feed(&out).unwrap();
            }
            while let Ok(Some(e)) = self.client.poll_event() {
                self.client_events.push(e);
                moved = true;
            }
            while let Ok(Some(e)) = self.server.poll_event() {
                self.server_events.push(e);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }
}

#[test]
fn the_defaults_drop_a_silent_or_trickling_peer() {
    // A silent peer: pinged after 30 s, dropped 20 s later.
    let mut server = conn_with(Role::Server, Config::default());
    server.handle_timeout(at(0));
    server.handle_timeout(at(30));
    assert_eq!(transmit(&mut server)[0].opcode, OP_PING);
    server.handle_timeout(at(50));
    assert_eq!(server.poll_event(), Err(ProtocolError::Timeout(Timeout::Pong)));
    // A trickling one: a message not done 60 s after its first frame fails with 1008, whatever else arrives.
    let mut server = conn_with(Role::Server, Config::default());
    server.handle_timeout(at(0));
    server.feed(&frame_to(Role::Server, false, OP_TEXT, b"a")).unwrap();
    assert_eq!(drain(&mut server), []);
    for t in 1..60 {
        server.handle_timeout(at(t));
        server.feed(&frame_to(Role::Server, true, OP_PONG, b"")).unwrap(); // answers every ping in time
        drain(&mut server);
    }
    server.handle_timeout(at(60));
    assert_eq!(server.poll_event(), Err(ProtocolError::Timeout(Timeout::Message)));
}

#[test]
fn no_timers_until_the_driver_gives_the_time() {
    let mut conn = conn_with(Role::Server, keepalive());
    assert_eq!(conn.poll_timeout(), None);
    let mut out = Vec::new();
    conn.close(CloseCode::NORMAL, "", &mut out).unwrap();
    assert_eq!(conn.poll_timeout(), None, "nothing runs without a clock");
    conn.handle_timeout(at(100));
    assert_eq!(conn.poll_timeout(), Some(at(105)), "the close deadline starts with the clock");
}

#[test]
fn keepalive_pings_after_silence_and_the_pong_keeps_the_connection() {
    let mut p = Pair::new(Config::default().with_keepalive(None), keepalive());
    assert_eq!(p.server.poll_timeout(), Some(at(30)));
    p.run_until(at(29));
    assert!(p.client_events.is_empty(), "no ping before 30 s of silence");
    p.run_until(at(30));
    assert_eq!(p.client_events, [Event::Ping(b"keepalive"[..].into())]);
    assert_eq!(p.server_events, [Event::Pong(b"keepalive"[..].into())], "the client's auto-pong came back");
    assert_eq!(p.server.poll_timeout(), Some(at(60)), "next ping 30 s after the pong");
    // Ten minutes of an idle, healthy peer: a ping every 30 s, all answered.
    p.run_until(at(630));
    assert_eq!(p.client_events.len(), 21);
    assert_eq!(p.server.state(), &State::Open);
}

#[test]
fn traffic_postpones_the_keepalive_ping() {
    let mut server = conn_with(Role::Server, keepalive());
    server.handle_timeout(at(0));
    // The driver wakes up at 20 s with bytes: time first, then the bytes.
    server.handle_timeout(at(20));
    server.feed(&frame_to(Role::Server, true, OP_TEXT, b"hi")).unwrap();
    assert_eq!(drain(&mut server), [Event::Text("hi".into())]);
    assert_eq!(server.poll_timeout(), Some(at(50)), "silence counts from the last wake-up that brought bytes");
    server.handle_timeout(at(49));
    assert!(!server.has_pending_transmit());
    server.handle_timeout(at(50));
    assert!(server.has_pending_transmit(), "the ping is due");
}

#[test]
fn a_missing_pong_fails_the_connection_without_a_close_frame() {
    let mut server = conn_with(Role::Server, keepalive());
    server.handle_timeout(at(0));
    server.handle_timeout(at(30));
    let ping = transmit(&mut server);
    assert_eq!(ping.len(), 1);
    assert_eq!(ping[0].opcode, OP_PING);
    assert_eq!(server.poll_timeout(), Some(at(40)));
    server.handle_timeout(at(40));
    assert_eq!(server.poll_event(), Err(ProtocolError::Timeout(Timeout::Pong)));
    assert_eq!(server.poll_event(), Err(ProtocolError::Timeout(Timeout::Pong)), "sticky");
    assert!(transmit(&mut server).is_empty(), "an unresponsive peer gets no close frame");
    assert!(server.wants_transport_closed());
    assert_eq!(server.close_outcome().map(|o| o.code()), Some(CloseCode::ABNORMAL));
    assert_eq!(server.poll_timeout(), Some(at(45)), "the close timeout bounds closing the transport");
    server.handle_timeout(at(45));
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn the_peers_close_must_answer_ours_in_time() {
    let mut client = conn_with(Role::Client, Config::default().with_close_timeout(secs(3)));
    client.handle_timeout(at(10));
    let mut out = Vec::new();
    client.close(CloseCode::NORMAL, "bye", &mut out).unwrap();
    assert_eq!(client.poll_timeout(), Some(at(13)));
    client.handle_timeout(at(12));
    assert_eq!(client.state(), &State::CloseSent);
    client.handle_timeout(at(13));
    assert_eq!(client.state(), &State::Failed(ProtocolError::Timeout(Timeout::Close)));
    assert!(client.wants_transport_closed());
    assert!(transmit(&mut client).is_empty());
}

#[test]
fn a_client_stops_waiting_for_the_servers_transport_close() {
    // RFC 6455 §7.1.1: after the closing handshake the server closes TCP; the client waits, within reason.
    let mut p = Pair::new(Config::default(), Config::default());
    let mut out = Vec::new();
    p.client.close(CloseCode::NORMAL, "", &mut out).unwrap();
    p.server.feed(&out).unwrap();
    p.exchange();
    assert!(matches!(p.client.close_outcome(), Some(CloseOutcome::Clean { initiated_locally: true, .. })));
    assert!(p.server.wants_transport_closed(), "the server closes at once");
    assert_eq!(p.server.poll_timeout(), Some(at(5)), "and stops flushing to a peer that does not read by then");
    assert!(!p.client.wants_transport_closed(), "the client waits for the server's FIN");
    assert_eq!(p.client.poll_timeout(), Some(at(5)));
    p.run_until(at(5));
    assert!(p.client.wants_transport_closed());
    assert!(matches!(p.client.close_outcome(), Some(CloseOutcome::Clean { .. })), "still a clean close");
}

#[test]
fn a_message_must_complete_in_time() {
    let config = Config::default().with_message_timeout(Some(secs(2))).with_keepalive(None);
    let mut server = conn_with(Role::Server, config);
    server.handle_timeout(at(0));
    // A message that completes in time: the deadline goes with it.
    server.feed(&frame_to(Role::Server, false, OP_TEXT, b"he")).unwrap();
    assert_eq!(drain(&mut server), []);
    assert_eq!(server.poll_timeout(), Some(at(2)));
    server.feed(&frame_to(Role::Server, true, OP_CONT, b"llo")).unwrap();
    assert_eq!(drain(&mut server), [Event::Text("hello".into())]);
    assert_eq!(server.poll_timeout(), None);
    // One that trickles: failed with 1008 at its deadline, counted from its first frame.
    server.handle_timeout(at(5));
    server.feed(&frame_to(Role::Server, false, OP_BINARY, b"a")).unwrap();
    assert_eq!(drain(&mut server), []);
    server.handle_timeout(at(6));
    server.feed(&frame_to(Role::Server, false, OP_CONT, b"b")).unwrap();
    assert_eq!(drain(&mut server), []);
    assert_eq!(server.poll_timeout(), Some(at(7)));
    server.handle_timeout(at(7));
    assert_eq!(server.poll_event(), Err(ProtocolError::Timeout(Timeout::Message)));
    let close = transmit(&mut server);
    assert_eq!(close.len(), 1);
    assert_eq!(close[0].close(), (Some(1008), "message timeout".into()));
}

#[test]
fn a_message_deadline_covers_a_frame_whose_payload_trickles() {
    let config = Config::default().with_message_timeout(Some(secs(2)));
    let mut client = conn_with(Role::Client, config);
    client.handle_timeout(at(0));
    let frame = frame_to(Role::Client, true, OP_BINARY, &[7; 1000]);
    client.feed(&frame[..100]).unwrap();
    assert_eq!(drain(&mut client), []);
    client.handle_timeout(at(1));
    client.feed(&frame[100..200]).unwrap();
    assert_eq!(drain(&mut client), []);
    client.handle_timeout(at(2));
    assert_eq!(client.poll_event(), Err(ProtocolError::Timeout(Timeout::Message)));
}

#[test]
fn time_never_goes_back() {
    let mut server = conn_with(Role::Server, keepalive());
    server.handle_timeout(at(10));
    server.handle_timeout(at(3));
    assert_eq!(server.poll_timeout(), Some(at(40)));
}

mod handshake {
    use super::*;
    use wsproto::handshake::{
        Accept, ClientHandshake, ClientOutcome, ClientRequest, Incoming, RequestError, ResponseError, ServerHandshake,
    };

    #[test]
    fn a_request_head_that_does_not_arrive_in_time_gets_408() {
        let mut hs = ServerHandshake::new(Config::default().with_handshake_timeout(Some(secs(10)))).unwrap();
        assert_eq!(hs.poll_timeout(), None);
        hs.handle_timeout(at(100));
        assert_eq!(hs.poll_timeout(), Some(at(110)));
        hs.feed(b"GET / HTTP/1.1\r\nHost: a\r\n"); // a trickling head
        assert_eq!(hs.poll_request(), Ok(None));
        hs.handle_timeout(at(109));
        assert_eq!(hs.poll_request(), Ok(None));
        hs.handle_timeout(at(110));
        let err = hs.poll_request().unwrap_err();
        assert_eq!(err, RequestError::Timeout);
        assert_eq!(err.status(), 408);
        let mut out = Vec::new();
        err.write_response(&mut out);
        assert!(out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(hs.poll_timeout(), None);
    }

    #[test]
    fn a_response_that_does_not_arrive_in_time_fails_the_client() {
        let config = Config::default().with_handshake_timeout(Some(secs(3)));
        let mut hs = ClientHandshake::new(ClientRequest::new("a", "/"), config, [3; 32]).unwrap();
        hs.handle_timeout(at(0));
        hs.feed(b"HTTP/1.1 101 Switching Protocols\r\n");
        assert!(matches!(hs.poll_response(), Ok(None)));
        hs.handle_timeout(at(3));
        assert!(matches!(hs.poll_response(), Err(ResponseError::Timeout)));
    }

    #[test]
    fn the_connections_timers_go_on_from_the_handshakes_clock() {
        let config = keepalive();
        let mut client = ClientHandshake::new(ClientRequest::new("a", "/"), config.clone(), [3; 32]).unwrap();
        let mut server = ServerHandshake::new(config).unwrap();
        client.handle_timeout(at(1));
        server.handle_timeout(at(1));
        let mut req = Vec::new();
        client.write_request(&mut req).unwrap();
        server.feed(&req);
        server.handle_timeout(at(2));
        let Some(Incoming::Upgrade(up)) = server.poll_request().unwrap() else { panic!("an upgrade") };
        let mut resp = Vec::new();
        let conn = server.accept(&up, Accept::default(), &mut resp).unwrap();
        assert_eq!(conn.poll_timeout(), Some(at(32)), "keepalive from the handshake's last time");
        client.feed(&resp);
        client.handle_timeout(at(4));
        let Some(ClientOutcome::Accepted { connection, .. }) = client.poll_response().unwrap() else {
            panic!("accepted")
        };
        assert_eq!(connection.poll_timeout(), Some(at(34)));
    }
}
