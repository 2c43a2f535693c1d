//! One WebSocket conversation suite, run against every driver of the `wsproto` core.
//!
//! A [`Conversation`] is a client script ([`Step`]s) played against one fixed server handler (below), with
//! both ends' settings. A [`Driver`] plays it over its own transport and runtime and returns a [`Report`] of
//! what each end saw; `tests/conversations.rs` asserts the same things of every driver.
//!
//! Drivers here: the core's in-memory pair on a virtual clock ([`drivers::memory`]), blocking std threads over
//! `std::net` ([`drivers::blocking`]), `wsproto-tokio` ([`drivers::tokio`]), `wsproto-futures` on smol
//! ([`drivers::smol`]), and axum on hyper with `wsproto-tokio`'s extractor over HTTP/1.1 and over HTTP/2 h2c,
//! RFC 8441 ([`drivers::axum`]).
//!
//! ## The server handler
//!
//! Every driver's server runs the same handler: it chooses the first offered subprotocol it supports, echoes
//! text and binary messages, and obeys three text commands ([`Command`]): `close CODE REASON` (close with that
//! code), `mute` (echo it, then stop driving the connection: read the transport raw until it ends, answering
//! nothing; the client waits for the echo before sending more, so nothing it sends next reaches the core), and
//! `masked` (write a masked frame, which a client must refuse with 1002).

pub mod drivers;
pub mod machine;

use std::time::Duration;

use wsproto::handshake::{Accept, UpgradeRequest};
use wsproto::{CloseOutcome, Config, DataKind, Event};

/// A message, as the suite compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: its code (`None`: no status) and reason.
    Close(Option<u16>, String),
}

impl Msg {
    /// The message for a core event (`None` for events the suite does not compare: fragments).
    pub fn from_event(event: &Event) -> Option<Msg> {
        Some(match event {
            Event::Text(t) => Msg::Text(t.to_string()),
            Event::Binary(b) => Msg::Binary(b.to_vec()),
            Event::Ping(p) => Msg::Ping(p.to_vec()),
            Event::Pong(p) => Msg::Pong(p.to_vec()),
            Event::Close(c) => Msg::Close(c.code.map(|c| c.0), c.reason.clone()),
            _ => return None,
        })
    }

    /// A text message.
    pub fn text(s: &str) -> Msg {
        Msg::Text(s.to_owned())
    }
}

/// One step of the client's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send a text, binary, ping or pong message.
    Send(Msg),
    /// Send one message as several frames (RFC 6455 §5.4).
    SendFragments(DataKind, Vec<Vec<u8>>),
    /// Write these bytes on the transport as they are, bypassing the client's connection.
    Raw(Vec<u8>),
    /// Receive this many events (pings and pongs count) and record them.
    Recv(usize),
    /// Start the closing handshake, then receive (recording events) until the connection ends.
    Close(u16, String),
    /// Receive (recording events) until the connection ends.
    UntilEnd,
    /// Stop driving the connection: read the transport raw (recorded in [`Side::raw`]) until it ends.
    MuteUntilEof,
}

/// How the connection opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// The client's handshake against the server's.
    Handshake,
    /// The client writes these bytes instead of a request and reads the answer raw until EOF.
    RawRequest(Vec<u8>),
    /// The server accepts the transport and never reads or answers: the client's handshake deadline.
    SilentServer,
}

/// One end's settings.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Client: the subprotocols offered, in order. Server: the ones supported.
    pub protocols: Vec<&'static str>,
    /// The core's settings: limits, deadlines (handshake, close, keepalive), permessage-deflate.
    pub config: Config,
}

impl Default for Spec {
    fn default() -> Self {
        Spec { protocols: Vec::new(), config: Config::default().with_deflate(None) }
    }
}

/// A conversation: both ends' settings, the opening and the client's script.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// The client's settings.
    pub client: Spec,
    /// The server's settings.
    pub server: Spec,
    /// How the connection opens.
    pub opening: Opening,
    /// The client's script, after the opening.
    pub steps: Vec<Step>,
}

impl Conversation {
    /// A conversation with default settings (deflate off), a normal handshake and these steps.
    pub fn new(steps: Vec<Step>) -> Conversation {
        Conversation { client: Spec::default(), server: Spec::default(), opening: Opening::Handshake, steps }
    }
}

/// What one end saw.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// The negotiated subprotocol.
    pub protocol: Option<String>,
    /// Whether permessage-deflate was negotiated.
    pub deflate: bool,
    /// The events received, in order.
    pub events: Vec<Msg>,
    /// How the connection ended (the core's outcome).
    pub outcome: Option<CloseOutcome>,
    /// The handshake failed: for the server, the status it answered (400, 408…); for the client, a
    /// description.
    pub handshake_error: Option<String>,
    /// The server's refusal status.
    pub refused_with: Option<u16>,
    /// Bytes read raw ([`Step::MuteUntilEof`], [`Opening::RawRequest`], the `mute` command).
    pub raw: Vec<u8>,
    /// How long the end waited for the deadline under test, on the driver's clock (virtual for the in-memory
    /// pair), measured from before the action that arms it, so never less than the deadline. Client: its last
    /// step, or its handshake when that failed. Server: from the start of its handshake, or from its close
    /// command, to its end.
    pub last_step: Duration,
}

/// Both ends' reports.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The client's.
    pub client: Side,
    /// The server's.
    pub server: Side,
}

/// A driver: plays a conversation over its transport and runtime.
pub trait Driver {
    /// Its name, for messages.
    const NAME: &'static str;

    /// Whether the driver takes the connection's deadlines (close, keepalive) from the core, which reports
    /// their passing as `CloseOutcome::Failed(ProtocolError::Timeout(…))`. A driver with timers of its own
    /// reports `CloseOutcome::Abnormal`; both mean 1006.
    const CORE_DEADLINES: bool = true;

    /// Whether the driver's server answers a request head that does not arrive in time with 408 (the core's
    /// handshake reads the head). A server whose HTTP stack reads the head (hyper under axum) closes the
    /// connection at its own header-read deadline without an answer.
    const ANSWERS_HEAD_TIMEOUT: bool = true;

    /// The first bytes a client's opening sends: an HTTP/1.1 request line, or HTTP/2's connection preface
    /// (RFC 9113 §3.4).
    const REQUEST_START: &'static [u8] = b"GET / HTTP/1.1\r\n";

    /// Plays `conversation` to its end (bounded: a driver gives up after [`LIMIT`]).
    fn run(conversation: &Conversation) -> Report;
}

/// The longest any conversation may take on a real clock.
pub const LIMIT: Duration = Duration::from_secs(10);

/// What the server handler does with a text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Echo it.
    Echo,
    /// Close with this code and reason.
    Close(u16, String),
    /// Echo it, then stop driving the connection; read raw until EOF.
    Mute,
    /// Write a masked text frame (a protocol error from a server, RFC 6455 §5.1).
    Masked,
}

impl Command {
    /// The command a text message carries.
    pub fn parse(text: &str) -> Command {
        if let Some(rest) = text.strip_prefix("close ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            return Command::Close(code.parse().expect("close CODE REASON"), reason.to_owned());
        }
        match text {
            "mute" => Command::Mute,
            "masked" => Command::Masked,
            _ => Command::Echo,
        }
    }
}

/// The masked text frame `hi` the `masked` command writes.
pub const MASKED_FRAME: [u8; 8] = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];

/// The server handler's answer to an upgrade: the first offered subprotocol it supports.
pub fn choose(spec: &Spec, req: &UpgradeRequest) -> Accept {
    match req.protocols.iter().find(|p| spec.protocols.contains(&p.as_str())) {
        Some(p) => Accept::default().protocol(p.clone()),
        None => Accept::default(),
    }
}

/// The client's 32 seed bytes (fixed: conversations replay).
pub const SEED: [u8; 32] = [42; 32];
