//! The suite's two ends as sans-IO machines over the core: the client's script and the server handler.
//! The in-memory pair and the blocking driver move their bytes and time; the async drivers play the same
//! script with their own `WebSocket` types instead.

use std::collections::VecDeque;
use wsproto::handshake::{write_response, ClientHandshake, ClientOutcome, ClientRequest, Incoming, ServerHandshake};
use wsproto::{CloseCode, Connection, Instant};

use crate::{choose, Command, Conversation, Msg, Opening, Side, Spec, Step, MASKED_FRAME, SEED};

/// One end, as a driver moves it: time in, bytes in, bytes out, the transport close, the next deadline.
pub trait Machine {
    /// The time, at every wake-up (before input).
    fn handle_timeout(&mut self, now: Instant);
    /// How many bytes `feed` takes now.
    fn recv_capacity(&self) -> usize;
    /// Bytes from the transport.
    fn feed(&mut self, data: &[u8]);
    /// The transport ended.
    fn feed_eof(&mut self);
    /// Does what is due: events, script steps, output.
    fn poll(&mut self);
    /// Bytes to write.
    fn take_output(&mut self) -> Vec<u8>;
    /// Close the transport (after writing the output).
    fn wants_transport_closed(&self) -> bool;
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// What this end saw (final once the transport is closed).
    fn report(&self) -> &Side;
}

/// Bytes read raw per call when muted.
const RAW_CHUNK: usize = 64 * 1024;

enum ServerState {
    Handshake(ServerHandshake),
    Open(Connection),
    /// Reading raw until EOF (the `mute` command, or a silent server).
    Mute(Option<Connection>),
    Done(Option<Connection>),
}

/// The server handler (see the crate docs) over the core.
pub struct ServerMachine {
    spec: Spec,
    state: ServerState,
    /// The latest time given, and when the handshake or the close command started (`last_step`).
    now: Option<Instant>,
    start: Instant,
    out: Vec<u8>,
    report: Side,
}

impl ServerMachine {
    /// A server for `conversation` (silent if its opening says so).
    pub fn new(conversation: &Conversation) -> ServerMachine {
        let spec = conversation.server.clone();
        let state = match conversation.opening {
            Opening::SilentServer => ServerState::Mute(None),
            _ => ServerState::Handshake(ServerHandshake::new(spec.config.clone()).expect("valid config")),
        };
        ServerMachine { spec, state, now: None, start: Instant::ZERO, out: Vec::new(), report: Side::default() }
    }

    fn end(&mut self) {
        let conn = match std::mem::replace(&mut self.state, ServerState::Done(None)) {
            ServerState::Open(c) => Some(c),
            ServerState::Mute(c) | ServerState::Done(c) => c,
            ServerState::Handshake(_) => None,
        };
        self.report.outcome = conn.as_ref().and_then(|c| c.close_outcome().cloned());
        self.report.last_step = self.now.unwrap_or(self.start) - self.start;
        self.state = ServerState::Done(conn);
    }
}

impl Machine for ServerMachine {
    fn handle_timeout(&mut self, now: Instant) {
        if self.now.is_none() {
            self.start = now;
        }
        self.now = Some(self.now.map_or(now, |before| before.max(now)));
        match &mut self.state {
            ServerState::Handshake(hs) => hs.handle_timeout(now),
            ServerState::Open(c) => c.handle_timeout(now),
            _ => {}
        }
    }

    fn recv_capacity(&self) -> usize {
        match &self.state {
            ServerState::Handshake(_) => RAW_CHUNK,
            ServerState::Open(c) if !c.is_finished() => c.recv_capacity(),
            _ => RAW_CHUNK,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        match &mut self.state {
            ServerState::Handshake(hs) => hs.feed(data),
            ServerState::Open(c) => c.feed(data).expect("fed at most recv_capacity"),
            ServerState::Mute(_) => self.report.raw.extend_from_slice(data),
            ServerState::Done(_) => {}
        }
    }

    fn feed_eof(&mut self) {
        match &mut self.state {
            ServerState::Handshake(hs) => hs.feed_eof(),
            ServerState::Open(c) => c.feed_eof(),
            ServerState::Mute(_) => self.end(),
            ServerState::Done(_) => {}
        }
    }

    fn poll(&mut self) {
        if let ServerState::Handshake(hs) = &mut self.state {
            match hs.poll_request() {
                Ok(None) => return,
                Ok(Some(Incoming::Upgrade(req))) => {
                    let accept = choose(&self.spec, &req);
                    let ServerState::Handshake(hs) = std::mem::replace(&mut self.state, ServerState::Done(None)) else {
                        unreachable!()
                    };
                    let conn = hs.accept(&req, accept, &mut self.out).expect("valid accept");
                    self.report.protocol =
                        req.protocols.iter().find(|p| self.spec.protocols.contains(&p.as_str())).cloned();
                    self.report.deflate = conn.is_deflate_enabled();
                    self.state = ServerState::Open(conn);
                }
                Ok(Some(_)) => {
                    // A plain HTTP request (or anything else that is no upgrade).
                    write_response(426, &wsproto::handshake::UPGRADE_REQUIRED, b"", &mut self.out);
                    self.report.refused_with = Some(426);
                    self.end();
                    return;
                }
                Err(e) => {
                    e.write_response(&mut self.out);
                    self.report.handshake_error = Some(e.status().to_string());
                    self.end();
                    return;
                }
            }
        }
        let ServerState::Open(conn) = &mut self.state else { return };
        let mut mute = false;
        while let Ok(Some(event)) = conn.poll_event() {
            let Some(msg) = Msg::from_event(&event) else { continue };
            self.report.events.push(msg.clone());
            match msg {
                Msg::Text(t) => match Command::parse(&t) {
                    Command::Echo => conn.send_text(&t, &mut self.out).expect("open"),
                    Command::Close(code, reason) => {
                        self.start = self.now.unwrap_or(self.start);
                        conn.close(CloseCode(code), &reason, &mut self.out).expect("open");
                    }
                    Command::Mute => {
                        conn.send_text(&t, &mut self.out).expect("open");
                        mute = true;
                        break;
                    }
                    Command::Masked => self.out.extend_from_slice(&MASKED_FRAME),
                },
                Msg::Binary(b) => conn.send_binary(&b, &mut self.out).expect("open"),
                _ => {}
            }
        }
        conn.poll_transmit(&mut self.out);
        if mute {
            let ServerState::Open(c) = std::mem::replace(&mut self.state, ServerState::Done(None)) else {
                unreachable!()
            };
            self.state = ServerState::Mute(Some(c));
        } else if conn.wants_transport_closed() {
            self.end();
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn wants_transport_closed(&self) -> bool {
        matches!(self.state, ServerState::Done(_))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            ServerState::Handshake(hs) => hs.poll_timeout(),
            ServerState::Open(c) => c.poll_timeout(),
            _ => None,
        }
    }

    fn report(&self) -> &Side {
        &self.report
    }
}

enum ClientState {
    Handshake(ClientHandshake),
    Open(Connection),
    Raw(Option<Connection>),
    Done(Option<Connection>),
}

/// The client's script over the core.
pub struct ClientMachine {
    state: ClientState,
    steps: VecDeque<Step>,
    /// The current step is a close whose frame was sent.
    close_sent: bool,
    received: usize,
    now: Instant,
    step_start: Instant,
    out: Vec<u8>,
    report: Side,
}

impl ClientMachine {
    /// A client for `conversation`, connecting to `host`.
    pub fn new(conversation: &Conversation, host: &str) -> ClientMachine {
        let mut out = Vec::new();
        let state = match &conversation.opening {
            Opening::RawRequest(bytes) => {
                out.extend_from_slice(bytes);
                ClientState::Raw(None)
            }
            _ => {
                let mut request = ClientRequest::new(host, "/");
                request.protocols = conversation.client.protocols.iter().map(|p| p.to_string()).collect();
                let hs = ClientHandshake::new(request, conversation.client.config.clone(), SEED).expect("valid");
                hs.write_request(&mut out).expect("valid request");
                ClientState::Handshake(hs)
            }
        };
        ClientMachine {
            state,
            steps: conversation.steps.iter().cloned().collect(),
            close_sent: false,
            received: 0,
            now: Instant::ZERO,
            step_start: Instant::ZERO,
            out,
            report: Side::default(),
        }
    }

    fn next_step(&mut self) {
        self.steps.pop_front();
        self.close_sent = false;
        self.received = 0;
        self.step_start = self.now;
    }

    fn end(&mut self) {
        let conn = match std::mem::replace(&mut self.state, ClientState::Done(None)) {
            ClientState::Open(c) => Some(c),
            ClientState::Raw(c) | ClientState::Done(c) => c,
            ClientState::Handshake(_) => None,
        };
        self.report.outcome = conn.as_ref().and_then(|c| c.close_outcome().cloned());
        self.report.last_step = self.now - self.step_start;
        self.state = ClientState::Done(conn);
    }

    /// Runs the script on an open connection as far as it goes without input.
    fn play(conn: &mut Connection, m: &mut ClientMachineParts<'_>) -> Play {
        loop {
            let Some(step) = m.steps.front().cloned() else { return Play::End };
            match step {
                Step::Send(msg) => {
                    let out = &mut *m.out;
                    match msg {
                        Msg::Text(t) => conn.send_text(&t, out),
                        Msg::Binary(b) => conn.send_binary(&b, out),
                        Msg::Ping(p) => conn.send_ping(&p, out),
                        Msg::Pong(p) => conn.send_pong(&p, out),
                        Msg::Close(..) => unreachable!("use Step::Close"),
                    }
                    .expect("open");
                }
                Step::SendFragments(kind, parts) => {
                    for (i, part) in parts.iter().enumerate() {
                        conn.send_fragment(kind, part, i + 1 == parts.len(), m.out).expect("open");
                    }
                }
                Step::Raw(bytes) => m.out.extend_from_slice(&bytes),
                Step::MuteUntilEof => return Play::Mute,
                Step::Recv(n) => {
                    while *m.received < n {
                        match conn.poll_event() {
                            Ok(Some(ev)) => {
                                if let Some(msg) = Msg::from_event(&ev) {
                                    m.events.push(msg);
                                    *m.received += 1;
                                }
                            }
                            Ok(None) if !conn.is_finished() => return Play::Wait,
                            _ => return Play::Ended,
                        }
                    }
                }
                Step::Close(code, ref reason) if !*m.close_sent => {
                    // Ignored when the connection is no longer open: the script then waits for its end.
                    let _ = conn.close(CloseCode(code), reason, m.out);
                    *m.close_sent = true;
                    continue;
                }
                Step::Close(..) | Step::UntilEnd => loop {
                    match conn.poll_event() {
                        Ok(Some(ev)) => m.events.extend(Msg::from_event(&ev)),
                        Ok(None) if !conn.is_finished() => return Play::Wait,
                        _ => return Play::Ended,
                    }
                },
            }
            m.advance();
        }
    }
}

/// What [`ClientMachine::play`] stopped at.
enum Play {
    /// Waiting for input.
    Wait,
    /// The connection is finished (the close exchanged, or failed).
    Ended,
    /// The script reached [`Step::MuteUntilEof`].
    Mute,
    /// The script is over.
    End,
}

/// The machine's fields [`ClientMachine::play`] uses beside the connection.
struct ClientMachineParts<'a> {
    steps: &'a mut VecDeque<Step>,
    close_sent: &'a mut bool,
    received: &'a mut usize,
    now: Instant,
    step_start: &'a mut Instant,
    out: &'a mut Vec<u8>,
    events: &'a mut Vec<Msg>,
}

impl ClientMachineParts<'_> {
    fn advance(&mut self) {
        self.steps.pop_front();
        *self.close_sent = false;
        *self.received = 0;
        *self.step_start = self.now;
    }
}

impl Machine for ClientMachine {
    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        match &mut self.state {
            ClientState::Handshake(hs) => hs.handle_timeout(now),
            ClientState::Open(c) => c.handle_timeout(now),
            _ => {}
        }
    }

    fn recv_capacity(&self) -> usize {
        match &self.state {
            ClientState::Open(c) if !c.is_finished() => c.recv_capacity(),
            _ => RAW_CHUNK,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        match &mut self.state {
            ClientState::Handshake(hs) => hs.feed(data),
            ClientState::Open(c) => c.feed(data).expect("fed at most recv_capacity"),
            ClientState::Raw(_) => self.report.raw.extend_from_slice(data),
            ClientState::Done(_) => {}
        }
    }

    fn feed_eof(&mut self) {
        match &mut self.state {
            ClientState::Handshake(hs) => hs.feed_eof(),
            ClientState::Open(c) => c.feed_eof(),
            ClientState::Raw(_) => self.end(),
            ClientState::Done(_) => {}
        }
    }

    fn poll(&mut self) {
        if let ClientState::Handshake(hs) = &mut self.state {
            match hs.poll_response() {
                Ok(None) => return,
                Ok(Some(ClientOutcome::Accepted { mut connection, negotiated, .. })) => {
                    connection.handle_timeout(self.now);
                    self.report.protocol = negotiated.protocol;
                    self.report.deflate = connection.is_deflate_enabled();
                    self.state = ClientState::Open(connection);
                    self.step_start = self.now;
                }
                Ok(Some(ClientOutcome::Rejected(r))) => {
                    self.report.handshake_error = Some(format!("rejected with {}", r.status));
                    self.end();
                    return;
                }
                Ok(Some(other)) => {
                    self.report.handshake_error = Some(format!("unexpected outcome {other:?}"));
                    self.end();
                    return;
                }
                Err(e) => {
                    self.report.handshake_error = Some(format!("{e:?}"));
                    self.end();
                    return;
                }
            }
        }
        let ClientState::Open(conn) = &mut self.state else { return };
        let mut parts = ClientMachineParts {
            steps: &mut self.steps,
            close_sent: &mut self.close_sent,
            received: &mut self.received,
            now: self.now,
            step_start: &mut self.step_start,
            out: &mut self.out,
            events: &mut self.report.events,
        };
        let play = ClientMachine::play(conn, &mut parts);
        conn.poll_transmit(&mut self.out);
        match play {
            Play::Wait => {}
            Play::Mute => {
                self.next_step();
                let ClientState::Open(c) = std::mem::replace(&mut self.state, ClientState::Done(None)) else {
                    unreachable!()
                };
                self.state = ClientState::Raw(Some(c));
            }
            Play::Ended | Play::End => {
                let conn = match &self.state {
                    ClientState::Open(c) => c,
                    _ => unreachable!(),
                };
                if conn.wants_transport_closed() || matches!(play, Play::End) {
                    self.end();
                }
            }
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn wants_transport_closed(&self) -> bool {
        matches!(self.state, ClientState::Done(_))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            ClientState::Handshake(hs) => hs.poll_timeout(),
            ClientState::Open(c) => c.poll_timeout(),
            _ => None,
        }
    }

    fn report(&self) -> &Side {
        &self.report
    }
}
