//! A client and a server wired together in memory exchange arbitrary scripts of messages, with the byte streams
//! cut at arbitrary points; each side must receive exactly what the other sent.

mod common;

use common::*;
use proptest::prelude::*;
use wsproto::{Bytes, CloseCode, CloseFrame, CloseOutcome, Config, Connection, DataKind, Event, ReceiveMode, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

/// One step of a script: who sends what, how it is fragmented, and whether the wires are pumped afterwards.
#[derive(Debug, Clone)]
struct Step {
    from_client: bool,
    msg: Msg,
    /// Cut points (taken modulo the length) for sending with `send_fragment`; `None` sends one frame.
    fragments: Option<Vec<usize>>,
    pump: bool,
}

fn text() -> impl Strategy<Value = String> {
    let chars = |r: std::ops::Range<usize>| proptest::collection::vec(any::<char>(), r);
    prop_oneof![6 => chars(0..40), 3 => chars(0..1500), 1 => chars(15000..18000)].prop_map(|c| c.into_iter().collect())
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    let bytes = |r: std::ops::Range<usize>| proptest::collection::vec(any::<u8>(), r);
    prop_oneof![6 => bytes(0..100), 3 => bytes(0..3000), 1 => bytes(65000..70000)]
}

fn step() -> impl Strategy<Value = Step> {
    let msg = prop_oneof![
        4 => text().prop_map(Msg::Text),
        4 => binary().prop_map(Msg::Binary),
        2 => proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Msg::Ping),
    ];
    let fragments = proptest::option::weighted(0.4, proptest::collection::vec(any::<usize>(), 0..5));
    (any::<bool>(), msg, fragments, proptest::bool::weighted(0.3))
        .prop_map(|(from_client, msg, fragments, pump)| Step { from_client, msg, fragments, pump })
}

fn script() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 0..10)
}

fn chunking() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![1..8usize, 1..200usize, 1..20000usize], 1..8)
}

/// Encodes `step` with `conn`'s commands into `out`.
fn send(conn: &mut Connection, step: &Step, out: &mut Vec<u8>) {
    let (kind, data) = match &step.msg {
        Msg::Ping(p) => return conn.send_ping(p, out).unwrap(),
        Msg::Text(t) => (DataKind::Text, t.as_bytes()),
        Msg::Binary(b) => (DataKind::Binary, b.as_slice()),
    };
    match &step.fragments {
        None => match kind {
            DataKind::Text => conn.send_text(core::str::from_utf8(data).unwrap(), out).unwrap(),
            DataKind::Binary => conn.send_binary(data, out).unwrap(),
        },
        Some(cuts) => {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut at = 0;
            for c in cuts {
                // Cuts may split a code point: fragments of a text message need not be UTF-8 on their own.
                conn.send_fragment(kind, &data[at..c], false, out).unwrap();
                at = c;
            }
            conn.send_fragment(kind, &data[at..], true, out).unwrap();
        }
    }
}

/// What one side received, normalised across receive modes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Received {
    messages: Vec<Msg>,
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    close: Option<CloseFrame>,
    /// A streaming message being assembled.
    partial: Option<(DataKind, Vec<u8>)>,
}

impl Received {
    fn push(&mut self, ev: Event) {
        assert!(self.close.is_none(), "event after close: {ev:?}");
        match ev {
            Event::Text(t) => self.messages.push(Msg::Text(t.to_string())),
            Event::Binary(b) => self.messages.push(Msg::Binary(b.to_vec())),
            Event::Ping(p) => self.pings.push(p.to_vec()),
            Event::Pong(p) => self.pongs.push(p.to_vec()),
            Event::Close(f) => self.close = Some(f),
            Event::Fragment(f) => {
                assert_eq!(f.first, self.partial.is_none(), "first flag");
                let (kind, buf) = self.partial.get_or_insert((f.kind, Vec::new()));
                assert_eq!(*kind, f.kind);
                buf.extend_from_slice(&f.data);
                if f.last {
                    let (kind, buf) = self.partial.take().unwrap();
                    self.messages.push(match kind {
                        DataKind::Text => Msg::Text(String::from_utf8(buf).expect("validated text")),
                        DataKind::Binary => Msg::Binary(buf),
                    });
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Both ends and the bytes in flight between them.
struct Pair {
    client: Connection,
    server: Connection,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    at_client: Received,
    at_server: Received,
    chunks: Vec<usize>,
    next_chunk: usize,
}

impl Pair {
    fn new(config: Config, chunks: Vec<usize>) -> Pair {
        Pair {
            client: Connection::new(Role::Client, config.clone(), [11; 32]).unwrap(),
            server: Connection::new(Role::Server, config, [0; 32]).unwrap(),
            to_server: Vec::new(),
            to_client: Vec::new(),
            at_client: Received::default(),
            at_server: Received::default(),
            chunks,
            next_chunk: 0,
        }
    }

    fn chunk(&mut self) -> usize {
        let c = self.chunks[self.next_chunk % self.chunks.len()];
        self.next_chunk += 1;
        c
    }

    /// Delivers everything in flight, in pieces, until both directions are quiet.
    fn pump(&mut self) {
        while !self.to_server.is_empty() || !self.to_client.is_empty() {
            for to_server in [true, false] {
                let pending = if to_server { &mut self.to_server } else { &mut self.to_client };
                let wire = std::mem::take(pending);
                let mut at = 0;
                while at < wire.len() {
                    let n = self.chunk().min(wire.len() - at);
                    let (conn, got, back) = if to_server {
                        (&mut self.server, &mut self.at_server, &mut self.to_client)
                    } else {
                        (&mut self.client, &mut self.at_client, &mut self.to_server)
                    };
                    // The drive contract: never more than recv_capacity, which draining events restores.
                    let n = n.min(conn.recv_capacity());
                    assert!(n > 0, "no receive capacity after draining events");
                    conn.feed(&wire[at..at + n]).unwrap();
                    at += n;
                    for ev in drain(conn) {
                        got.push(ev);
                    }
                    // Automatic frames (pongs, the close reply) go back on the other wire.
                    conn.poll_transmit(back);
                }
            }
        }
    }

    fn run(&mut self, script: &[Step]) {
        for step in script {
            if step.from_client {
                send(&mut self.client, step, &mut self.to_server);
            } else {
                send(&mut self.server, step, &mut self.to_client);
            }
            if step.pump {
                self.pump();
            }
        }
        self.pump();
    }

    /// Closes cleanly from one side and checks both outcomes.
    fn close(&mut self, client_first: bool) {
        let (code, reason) = (CloseCode(4000 + client_first as u16), "script done");
        if client_first {
            self.client.close(code, reason, &mut self.to_server).unwrap();
        } else {
            self.server.close(code, reason, &mut self.to_client).unwrap();
        }
        self.pump();
        let sent = CloseFrame { code: Some(code), reason: reason.into() };
        let echoed = CloseFrame { code: Some(code), reason: String::new() };
        let (initiator, responder, at_initiator, at_responder) = if client_first {
            (&self.client, &self.server, &self.at_client, &self.at_server)
        } else {
            (&self.server, &self.client, &self.at_server, &self.at_client)
        };
        assert_eq!(at_responder.close.as_ref(), Some(&sent));
        assert_eq!(at_initiator.close.as_ref(), Some(&echoed));
        assert_eq!(
            initiator.close_outcome(),
            Some(&CloseOutcome::Clean { remote: echoed.clone(), initiated_locally: true })
        );
        assert_eq!(responder.close_outcome(), Some(&CloseOutcome::Clean { remote: sent, initiated_locally: false }));
        assert!(self.server.wants_transport_closed());
        assert!(!self.client.wants_transport_closed());
        // The server closes TCP; the client sees EOF.
        self.client.feed_eof();
        assert!(self.client.wants_transport_closed());
        assert_eq!(self.client.poll_event(), Ok(None));
        assert!(matches!(self.client.close_outcome(), Some(CloseOutcome::Clean { .. })));
    }
}

/// Checks each side received exactly what the other sent.
fn check(script: &[Step], pair: &Pair) {
    for (from_client, got) in [(true, &pair.at_server), (false, &pair.at_client)] {
        let sent: Vec<&Msg> = script.iter().filter(|s| s.from_client == from_client).map(|s| &s.msg).collect();
        let data: Vec<Msg> = sent.iter().filter(|m| !matches!(m, Msg::Ping(_))).map(|m| (*m).clone()).collect();
        let pings: Vec<Vec<u8>> =
            sent.iter().filter_map(|m| if let Msg::Ping(p) = m { Some(p.clone()) } else { None }).collect();
        assert_eq!(got.messages, data);
        assert!(got.partial.is_none());
        assert_eq!(got.pings, pings);
        // The sender's pongs: one per ping, in order (scripts stay far below MAX_PENDING_PONGS).
        let answers = if from_client { &pair.at_client.pongs } else { &pair.at_server.pongs };
        assert_eq!(answers, &pings);
    }
}

fn config(mode: ReceiveMode) -> Config {
    let mut c = Config::default();
    c.receive_mode = mode;
    if mode == ReceiveMode::Streaming {
        // Small buffers: streaming must work in bounded memory whatever the message size.
        c.max_buffered = 4096;
    }
    c
}

/// Feeds a chunked pair, respecting recv_capacity (which streaming configs keep small).
fn exchange(mode: ReceiveMode, script: &[Step], chunks: Vec<usize>, client_closes: bool) {
    let chunks = match mode {
        ReceiveMode::Streaming => chunks.into_iter().map(|c| c.min(4096)).collect(),
        _ => chunks,
    };
    let mut pair = Pair::new(config(mode), chunks);
    pair.run(script);
    check(script, &pair);
    pair.close(client_closes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn whole_messages_arrive_intact(script in script(), chunks in chunking(), client_closes in any::<bool>()) {
        exchange(ReceiveMode::Whole, &script, chunks, client_closes);
    }

    #[test]
    fn streamed_fragments_concatenate_to_the_messages(
        script in script(), chunks in chunking(), client_closes in any::<bool>()
    ) {
        exchange(ReceiveMode::Streaming, &script, chunks, client_closes);
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once(script in script(), splits in chunking()) {
        // Everything the script says, sent by the client, as one byte stream.
        let mut client = Connection::new(Role::Client, Config::default(), [5; 32]).unwrap();
        let mut wire = Vec::new();
        for step in &script {
            send(&mut client, step, &mut wire);
        }
        client.close(CloseCode::NORMAL, "end", &mut wire).unwrap();

        let run = |pieces: &mut dyn Iterator<Item = &[u8]>| {
            let mut server = conn(Role::Server);
            let mut events = Vec::new();
            let mut out = Vec::new();
            for piece in pieces {
                server.feed(piece).unwrap();
                events.extend(drain(&mut server));
                server.poll_transmit(&mut out);
            }
            (events, server.close_outcome().cloned())
        };
        let all = run(&mut std::iter::once(wire.as_slice()));
        let one = run(&mut wire.chunks(1));
        prop_assert_eq!(&all, &one);
        let mut at = 0;
        let mut i = 0;
        let mut arbitrary = std::iter::from_fn(|| {
            if at >= wire.len() {
                return None;
            }
            let n = splits[i % splits.len()].min(wire.len() - at);
            i += 1;
            at += n;
            Some(&wire[at - n..at])
        });
        let split = run(&mut arbitrary);
        prop_assert_eq!(&all, &split);
        // And it is what was sent.
        let expected: Vec<Event> = script
            .iter()
            .map(|s| match &s.msg {
                Msg::Text(t) => Event::Text(t.clone().into()),
                Msg::Binary(b) => Event::Binary(Bytes::from(b.clone())),
                Msg::Ping(p) => Event::Ping(Bytes::from(p.clone())),
            })
            .chain(std::iter::once(Event::Close(CloseFrame { code: Some(CloseCode::NORMAL), reason: "end".into() })))
            .collect();
        prop_assert_eq!(all.0, expected);
    }
}

#[test]
fn long_conversation_with_everything_interleaved() {
    // A deterministic script: every kind, fragmented and not, pings between fragments, both directions.
    let big_text: String = "κόσμε 𝄞 ".repeat(6000);
    let big_binary: Vec<u8> = (0..69_999u32).map(|i| (i % 253) as u8).collect();
    let script = vec![
        Step { from_client: true, msg: Msg::Text(big_text.clone()), fragments: Some(vec![1, 2, 3, 5000]), pump: false },
        Step { from_client: false, msg: Msg::Binary(big_binary.clone()), fragments: None, pump: false },
        Step { from_client: true, msg: Msg::Ping(b"p1".to_vec()), fragments: None, pump: true },
        Step { from_client: false, msg: Msg::Text(String::new()), fragments: Some(vec![0, 0]), pump: false },
        Step { from_client: true, msg: Msg::Binary(big_binary), fragments: Some(vec![65536, 65535]), pump: true },
        Step { from_client: false, msg: Msg::Ping(vec![]), fragments: None, pump: false },
        Step { from_client: false, msg: Msg::Text(big_text), fragments: None, pump: false },
    ];
    for mode in [ReceiveMode::Whole, ReceiveMode::Streaming] {
        for chunks in [vec![1], vec![3, 1000, 7], vec![1 << 20]] {
            exchange(mode, &script, chunks.clone(), true);
            exchange(mode, &script, chunks, false);
        }
    }
}
