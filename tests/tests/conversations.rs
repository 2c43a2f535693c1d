//! The conversation suite: every conversation on every driver (see the crate docs for the server handler).
//!
//! Drivers: the core's in-memory pair (virtual clock), blocking std threads over `std::net`, `wsproto-tokio`,
//! `wsproto-futures` on smol, axum (wsproto-tokio's extractor on hyper) over HTTP/1.1 and over HTTP/2 h2c
//! (RFC 8441 extended CONNECT, our client through hyper's http2 client).
//!
//! Deadlines are short (300 ms) so the suite stays fast; every conversation is bounded (`LIMIT`), and no test
//! sleeps: the waits are the deadlines under test.

use std::time::Duration;

use wsproto::{
    CloseCode, CloseFrame, CloseOutcome, Config, DataKind, DeflateConfig, Keepalive, ProtocolError, Timeout,
};
use wsproto_conversations::drivers::axum::{AxumH1, AxumH2};
use wsproto_conversations::drivers::{blocking::Blocking, memory::Memory, smol::Smol, tokio::Tokio};
use wsproto_conversations::{Conversation, Driver, Msg, Opening, Report, Step};

/// The short deadline the timeout conversations use.
const DEADLINE: Duration = Duration::from_millis(300);

fn run<D: Driver>(c: &Conversation) -> Report {
    let report = D::run(c);
    eprintln!("[{}] {report:#?}", D::NAME);
    report
}

fn clean(outcome: &Option<CloseOutcome>, code: u16, reason: &str, local: bool) -> bool {
    matches!(outcome, Some(CloseOutcome::Clean { remote: CloseFrame { code: Some(c), reason: r }, initiated_locally })
        if c.0 == code && r == reason && *initiated_locally == local)
}

fn echo_then_close(messages: Vec<Msg>) -> Conversation {
    let n = messages.len();
    let mut steps: Vec<Step> = messages.into_iter().map(Step::Send).collect();
    steps.push(Step::Recv(n));
    steps.push(Step::Close(1000, String::new()));
    Conversation::new(steps)
}

/// The echoes arrived in order, then the server's close reply; both ends closed cleanly.
fn assert_echoed<D: Driver>(r: &Report, sent: &[Msg]) {
    let n = sent.len();
    assert_eq!(r.client.events.len(), n + 1, "[{}] client events", D::NAME);
    assert!(r.client.events[..n] == *sent, "[{}] echoes differ", D::NAME);
    assert_eq!(r.client.events[n], Msg::Close(Some(1000), String::new()), "[{}]", D::NAME);
    assert!(r.server.events[..n] == *sent, "[{}] the server received other messages", D::NAME);
    assert!(clean(&r.client.outcome, 1000, "", true), "[{}] client: {:?}", D::NAME, r.client.outcome);
    assert!(clean(&r.server.outcome, 1000, "", false), "[{}] server: {:?}", D::NAME, r.server.outcome);
}

// ----- handshake -----

fn subprotocol_negotiated<D: Driver>() {
    let mut c = echo_then_close(vec![Msg::text("hi")]);
    c.client.protocols = vec!["chat", "echo"];
    c.server.protocols = vec!["superchat", "echo"];
    let r = run::<D>(&c);
    assert_eq!(r.client.protocol.as_deref(), Some("echo"), "[{}]", D::NAME);
    assert_eq!(r.server.protocol.as_deref(), Some("echo"), "[{}]", D::NAME);
    assert_echoed::<D>(&r, &[Msg::text("hi")]);
}

fn no_common_subprotocol<D: Driver>() {
    let mut c = echo_then_close(vec![Msg::text("hi")]);
    c.client.protocols = vec!["chat"];
    c.server.protocols = vec!["echo"];
    let r = run::<D>(&c);
    assert_eq!(r.client.protocol, None, "[{}]", D::NAME);
    assert_eq!(r.server.protocol, None, "[{}]", D::NAME);
    assert_echoed::<D>(&r, &[Msg::text("hi")]);
}

/// permessage-deflate (RFC 7692) negotiated when both ends enable it; compressible messages echo intact.
fn deflate_negotiated<D: Driver>() {
    let text = "compress me ".repeat(2000);
    let binary: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
    let sent = vec![Msg::Text(text), Msg::Binary(binary), Msg::text("short")];
    let mut c = echo_then_close(sent.clone());
    c.client.config = Config::default().with_deflate(Some(DeflateConfig::default()));
    c.server.config = Config::default().with_deflate(Some(DeflateConfig::default()));
    let r = run::<D>(&c);
    assert!(r.client.deflate && r.server.deflate, "[{}] deflate not negotiated", D::NAME);
    assert_echoed::<D>(&r, &sent);
}

fn deflate_declined<D: Driver>() {
    let mut c = echo_then_close(vec![Msg::text("plain")]);
    c.client.config = Config::default().with_deflate(Some(DeflateConfig::default()));
    let r = run::<D>(&c);
    assert!(!r.client.deflate && !r.server.deflate, "[{}] deflate without the server's consent", D::NAME);
    assert_echoed::<D>(&r, &[Msg::text("plain")]);
}

// ----- echo -----

fn text_echo<D: Driver>() {
    let sent = vec![Msg::text("Hello"), Msg::text("wsproto ✓ ünïcödé 🦀"), Msg::text("")];
    assert_echoed::<D>(&run::<D>(&echo_then_close(sent.clone())), &sent);
}

fn binary_echo<D: Driver>() {
    let sent = vec![Msg::Binary(vec![0, 1, 2, 253, 254, 255]), Msg::Binary(Vec::new()), Msg::Binary(vec![0x88; 200])];
    assert_echoed::<D>(&run::<D>(&echo_then_close(sent.clone())), &sent);
}

fn large_echo<D: Driver>() {
    let binary: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let text: String = "0123456789abcdef".repeat(1 << 16); // 1 MiB
    let sent = vec![Msg::Binary(binary), Msg::Text(text)];
    assert_echoed::<D>(&run::<D>(&echo_then_close(sent.clone())), &sent);
}

/// A message in several frames (RFC 6455 §5.4), a code point split across two of them: it arrives whole.
fn fragmented_echo<D: Driver>() {
    let text_parts = vec![b"frag".to_vec(), b"men".to_vec(), b"ted \xe2\x9c".to_vec(), b"\x93".to_vec()];
    let binary_parts = vec![vec![1, 2], Vec::new(), vec![3]];
    let c = Conversation::new(vec![
        Step::SendFragments(DataKind::Text, text_parts),
        Step::SendFragments(DataKind::Binary, binary_parts),
        Step::Recv(2),
        Step::Close(1000, String::new()),
    ]);
    let r = run::<D>(&c);
    assert_echoed::<D>(&r, &[Msg::text("fragmented ✓"), Msg::Binary(vec![1, 2, 3])]);
}

// ----- ping/pong -----

fn ping_pong<D: Driver>() {
    let c = Conversation::new(vec![
        Step::Send(Msg::Ping(b"are you there?".to_vec())),
        Step::Recv(1),
        Step::Close(1000, String::new()),
    ]);
    let r = run::<D>(&c);
    assert_eq!(r.client.events[0], Msg::Pong(b"are you there?".to_vec()), "[{}]", D::NAME);
    assert_eq!(r.server.events[0], Msg::Ping(b"are you there?".to_vec()), "[{}]", D::NAME);
    assert!(clean(&r.client.outcome, 1000, "", true), "[{}] {:?}", D::NAME, r.client.outcome);
}

/// The server's keepalive ping (the core's timer) reaches the client, whose core answers it.
fn keepalive_answered<D: Driver>() {
    let mut c = Conversation::new(vec![Step::Recv(1), Step::Close(1000, String::new())]);
    c.server.config = c.server.config.with_keepalive(Some(Keepalive::new(Duration::from_millis(100), DEADLINE)));
    let r = run::<D>(&c);
    assert!(matches!(r.client.events[0], Msg::Ping(_)), "[{}] {:?}", D::NAME, r.client.events);
    assert!(matches!(r.server.events[0], Msg::Pong(_)), "[{}] {:?}", D::NAME, r.server.events);
    assert!(clean(&r.server.outcome, 1000, "", false), "[{}] {:?}", D::NAME, r.server.outcome);
}

/// The client never answers the server's keepalive ping: the pong deadline fails the connection (1006, no
/// close frame: the peer is unresponsive).
fn keepalive_unanswered<D: Driver>() {
    let (interval, timeout) = (Duration::from_millis(100), DEADLINE);
    let mut c = Conversation::new(vec![Step::MuteUntilEof]);
    c.server.config = c.server.config.with_keepalive(Some(Keepalive::new(interval, timeout)));
    let r = run::<D>(&c);
    assert_eq!(r.client.raw.first(), Some(&0x89), "[{}] a ping, then EOF: {:?}", D::NAME, r.client.raw);
    assert_deadline::<D>(&r.server.outcome, Timeout::Pong);
    let waited = r.server.last_step;
    assert!(waited >= interval + timeout && waited < 10 * DEADLINE, "[{}] gave up after {waited:?}", D::NAME);
}

// ----- close codes -----

fn client_closes_with_4001<D: Driver>() {
    let c = Conversation::new(vec![Step::Close(4001, "client bye".into())]);
    let r = run::<D>(&c);
    // RFC 6455 §5.5.1: the reply echoes the status code.
    assert_eq!(r.client.events, [Msg::Close(Some(4001), String::new())], "[{}]", D::NAME);
    assert_eq!(r.server.events, [Msg::Close(Some(4001), "client bye".into())], "[{}]", D::NAME);
    assert!(clean(&r.client.outcome, 4001, "", true), "[{}] {:?}", D::NAME, r.client.outcome);
    assert!(clean(&r.server.outcome, 4001, "client bye", false), "[{}] {:?}", D::NAME, r.server.outcome);
}

fn server_closes_with_4001<D: Driver>() {
    let c = Conversation::new(vec![Step::Send(Msg::text("close 4001 server bye")), Step::UntilEnd]);
    let r = run::<D>(&c);
    assert_eq!(r.client.events, [Msg::Close(Some(4001), "server bye".into())], "[{}]", D::NAME);
    assert!(clean(&r.client.outcome, 4001, "server bye", false), "[{}] {:?}", D::NAME, r.client.outcome);
    assert!(clean(&r.server.outcome, 4001, "", true), "[{}] {:?}", D::NAME, r.server.outcome);
}

// ----- protocol errors -----

/// The close frame's status code in raw bytes from a server (unmasked).
fn raw_close_code(raw: &[u8]) -> Option<u16> {
    (raw.len() >= 4 && raw[0] == 0x88).then(|| u16::from_be_bytes([raw[2], raw[3]]))
}

fn failed_with(outcome: &Option<CloseOutcome>, code: CloseCode) -> bool {
    matches!(outcome, Some(CloseOutcome::Failed(e)) if e.close_code() == code)
}

/// RFC 6455 §5.1: a client frame must be masked; the server fails the connection with 1002.
fn unmasked_client_frame_is_1002<D: Driver>() {
    let c = Conversation::new(vec![Step::Raw(vec![0x81, 0x02, b'h', b'i']), Step::MuteUntilEof]);
    let r = run::<D>(&c);
    assert_eq!(raw_close_code(&r.client.raw), Some(1002), "[{}] {:?}", D::NAME, r.client.raw);
    assert!(
        matches!(r.server.outcome, Some(CloseOutcome::Failed(ProtocolError::UnmaskedFrame))),
        "[{}] {:?}",
        D::NAME,
        r.server.outcome
    );
}

/// RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007.
fn invalid_utf8_is_1007<D: Driver>() {
    let c = Conversation::new(vec![Step::Raw(vec![0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]), Step::MuteUntilEof]);
    let r = run::<D>(&c);
    assert_eq!(raw_close_code(&r.client.raw), Some(1007), "[{}] {:?}", D::NAME, r.client.raw);
    assert!(failed_with(&r.server.outcome, CloseCode::INVALID_PAYLOAD), "[{}] {:?}", D::NAME, r.server.outcome);
}

/// RFC 6455 §5.1: a server frame must not be masked; the client fails the connection with 1002.
fn masked_server_frame_is_1002<D: Driver>() {
    let c = Conversation::new(vec![Step::Send(Msg::text("masked")), Step::UntilEnd]);
    let r = run::<D>(&c);
    assert!(
        matches!(r.client.outcome, Some(CloseOutcome::Failed(ProtocolError::MaskedFrame))),
        "[{}] {:?}",
        D::NAME,
        r.client.outcome
    );
    assert!(matches!(r.server.events.last(), Some(Msg::Close(Some(1002), _))), "[{}] {:?}", D::NAME, r.server.events);
}

// ----- timeouts -----

fn within_deadline(elapsed: Duration) -> bool {
    elapsed >= DEADLINE && elapsed < DEADLINE * 10
}

/// A deadline passed: 1006, and on drivers that take their deadlines from the core, the core's timeout.
fn assert_deadline<D: Driver>(outcome: &Option<CloseOutcome>, which: Timeout) {
    let outcome = outcome.as_ref().expect("the connection ended");
    assert_eq!(outcome.code(), CloseCode::ABNORMAL, "[{}] {outcome:?}", D::NAME);
    if D::CORE_DEADLINES {
        assert_eq!(*outcome, CloseOutcome::Failed(ProtocolError::Timeout(which)), "[{}]", D::NAME);
    }
}

/// The server closes; the client never answers: the server's close deadline ends it (1006).
fn server_close_deadline<D: Driver>() {
    let mut c = Conversation::new(vec![Step::Send(Msg::text("close 4001 bye")), Step::MuteUntilEof]);
    c.server.config = c.server.config.with_close_timeout(DEADLINE);
    let r = run::<D>(&c);
    assert_eq!(r.client.raw, [0x88, 5, 0x0f, 0xa1, b'b', b'y', b'e'], "[{}] the close frame, then EOF", D::NAME);
    assert_deadline::<D>(&r.server.outcome, Timeout::Close);
    assert!(within_deadline(r.server.last_step), "[{}] gave up after {:?}", D::NAME, r.server.last_step);
}

/// The client closes; the server never answers: the client's close deadline ends it (1006).
fn client_close_deadline<D: Driver>() {
    let mut c = Conversation::new(vec![Step::Send(Msg::text("mute")), Step::Recv(1), Step::Close(1000, "bye".into())]);
    c.client.config = c.client.config.with_close_timeout(DEADLINE);
    let r = run::<D>(&c);
    assert_deadline::<D>(&r.client.outcome, Timeout::Close);
    assert!(within_deadline(r.client.last_step), "[{}] gave up after {:?}", D::NAME, r.client.last_step);
    assert_eq!(r.client.events, [Msg::text("mute")], "[{}]", D::NAME);
    // The client's close frame (masked: 0x80 | 3 + 4 mask bytes) reached the server, which never answered.
    assert_eq!(r.server.raw[..2], [0x88, 0x85], "[{}] {:?}", D::NAME, r.server.raw);
}

/// A request head that never ends: the server answers 408 at its handshake deadline.
fn server_handshake_deadline<D: Driver>() {
    let mut c = Conversation::new(Vec::new());
    c.opening = Opening::RawRequest(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec());
    c.server.config = c.server.config.with_handshake_timeout(Some(DEADLINE));
    let r = run::<D>(&c);
    if D::ANSWERS_HEAD_TIMEOUT {
        let raw = String::from_utf8_lossy(&r.client.raw);
        assert!(r.client.raw.starts_with(b"HTTP/1.1 408"), "[{}] {raw}", D::NAME);
        assert_eq!(r.server.handshake_error.as_deref(), Some("408"), "[{}]", D::NAME);
    } else {
        // The HTTP stack reads the head and closes at its deadline without an answer; the route never ran.
        assert!(r.client.raw.is_empty(), "[{}] {}", D::NAME, String::from_utf8_lossy(&r.client.raw));
        assert!(r.server.handshake_error.is_some() && r.server.events.is_empty(), "[{}] {:?}", D::NAME, r.server);
        assert!(within_deadline(r.client.last_step), "[{}] closed after {:?}", D::NAME, r.client.last_step);
    }
    assert!(within_deadline(r.server.last_step), "[{}] answered after {:?}", D::NAME, r.server.last_step);
}

/// A server that never answers: the client's handshake deadline.
fn client_handshake_deadline<D: Driver>() {
    let mut c = Conversation::new(Vec::new());
    c.opening = Opening::SilentServer;
    c.client.config = c.client.config.with_handshake_timeout(Some(DEADLINE));
    let r = run::<D>(&c);
    let error = r.client.handshake_error.as_deref().unwrap_or_default();
    assert!(error.contains("Timeout"), "[{}] {error:?}", D::NAME);
    assert!(within_deadline(r.client.last_step), "[{}] gave up after {:?}", D::NAME, r.client.last_step);
    assert!(r.server.raw.starts_with(D::REQUEST_START), "[{}] the request was sent", D::NAME);
}

/// The suite on one driver: a module of tests named after the conversations.
macro_rules! on_driver {
    ($module:ident, $driver:ty, [$($name:ident),* $(,)?]) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    super::$name::<$driver>()
                }
            )*
        }
    };
}

/// Every conversation, on one driver.
macro_rules! suite {
    ($module:ident, $driver:ty) => {
        on_driver!(
            $module,
            $driver,
            [
                subprotocol_negotiated,
                no_common_subprotocol,
                deflate_negotiated,
                deflate_declined,
                text_echo,
                binary_echo,
                large_echo,
                fragmented_echo,
                ping_pong,
                keepalive_answered,
                keepalive_unanswered,
                client_closes_with_4001,
                server_closes_with_4001,
                unmasked_client_frame_is_1002,
                invalid_utf8_is_1007,
                masked_server_frame_is_1002,
                server_close_deadline,
                client_close_deadline,
                server_handshake_deadline,
                client_handshake_deadline,
            ]
        );
    };
}

suite!(memory, super::Memory);
suite!(blocking, super::Blocking);
suite!(tokio, super::Tokio);
suite!(smol, super::Smol);
suite!(axum_http1, super::AxumH1);
suite!(axum_h2c, super::AxumH2);
