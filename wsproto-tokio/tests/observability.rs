//! Every refusal and every way a connection ends is visible to the application (issue 14 item 5): over real
//! TCP on 127.0.0.1, a raw client provokes each kind against a server whose `Config` carries a `Stats`, and the
//! counter for that kind moves (and no other failure counter does). With the `tracing` feature, a collecting
//! subscriber sees the matching events (`cargo test -p wsproto-tokio --features tracing --test observability`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsproto_tokio::wsproto::{self, Budget, Timeout};
use wsproto_tokio::{accept_with, Accept, Accepted, CloseCode, Config, Reject, Stats, StatsSnapshot};

/// A server counting into `stats`: it echoes; `/forbidden` is rejected with 403; on `/close` the server
/// closes first (1000). Each connection's end is signalled on the channel once its `WebSocket` is dropped.
struct Server {
    addr: SocketAddr,
    stats: Stats,
    ended: mpsc::UnboundedReceiver<()>,
}

impl Server {
    async fn start(config: Config) -> Server {
        let stats = Stats::new();
        let config = config.stats(stats.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, ended) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (config, tx) = (config.clone(), tx.clone());
                tokio::spawn(async move {
                    let hook = |req: &wsproto_tokio::UpgradeRequest| match req.request.path() {
                        "/forbidden" => Err(Reject::new(403, "no")),
                        _ => Ok(Accept::default()),
                    };
                    if let Ok(Accepted::WebSocket(mut ws, req)) = accept_with(tcp, config, hook).await {
                        if req.request.path() == "/close" {
                            let _ = ws.close(CloseCode::NORMAL, "server first").await;
                        }
                        while let Some(Ok(msg)) = ws.recv().await {
                            if msg.is_data() && ws.send(msg).await.is_err() {
                                break;
                            }
                        }
                    }
                    let _ = tx.send(());
                });
            }
        });
        Server { addr, stats, ended }
    }

    /// Waits until `n` more connections have ended, then reads the counters.
    async fn after(&mut self, n: usize) -> StatsSnapshot {
        for _ in 0..n {
            within("a connection's end", self.ended.recv()).await.unwrap();
        }
        self.stats.snapshot()
    }
}

/// Sends `head` and returns the status of the answer.
async fn request(addr: SocketAddr, head: &str) -> (TcpStream, u16) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let status = read_status(&mut tcp).await;
    (tcp, status)
}

async fn read_status(tcp: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if within("the response head", tcp.read(&mut byte)).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn upgrade_head(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// An upgraded raw connection.
async fn upgraded(addr: SocketAddr, path: &str) -> TcpStream {
    let (tcp, status) = request(addr, &upgrade_head(path, "")).await;
    assert_eq!(status, 101);
    tcp
}

/// A client frame (masked with a zero key unless `masked` is false).
fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n < 65536 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        f.extend_from_slice(&[0; 4]);
    }
    f.extend_from_slice(payload);
    f
}

/// Every failure counter other than `except` is zero.
fn no_other_failures(s: &StatsSnapshot, except: &[u16]) {
    for code in 1000..=1015u16 {
        if !except.contains(&code) {
            assert_eq!(s.failures(CloseCode(code)), 0, "failures({code}) in {s:?}");
        }
    }
}

#[tokio::test]
async fn handshake_refusals_are_counted_by_status() {
    let config = Config::default().protocol(
        wsproto::Config::default()
            .with_max_handshake_bytes(4096)
            .with_handshake_timeout(Some(Duration::from_millis(300))),
    );
    let mut server = Server::start(config).await;
    let addr = server.addr;
    let cases: [(String, u16); 5] = [
        (upgrade_head("/", "").replace("Sec-WebSocket-Key", "X-Not-The-Key"), 400),
        (upgrade_head("/", &format!("X-Big: {}\r\n", "a".repeat(8000))), 431),
        (upgrade_head(&format!("/{}", "p".repeat(9000)), ""), 414),
        (upgrade_head("/", "").replace("Version: 13", "Version: 8"), 426),
        (upgrade_head("/forbidden", ""), 403),
    ];
    for (head, want) in &cases {
        let (_tcp, status) = request(addr, head).await;
        assert_eq!(status, *want);
    }
    // Nothing sent: the handshake deadline answers 408.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_status(&mut silent).await, 408);

    let s = server.after(cases.len() + 1).await;
    for status in [400, 431, 414, 426, 403, 408] {
        assert_eq!(s.refusals(status), 1, "refusals({status}) in {s:?}");
    }
    assert_eq!(s.refusals_total(), 6);
    assert_eq!(s.refusals_by_status().count(), 6);
    assert_eq!(s.timeouts(Timeout::Handshake), 1);
    assert_eq!((s.opened(), s.closed()), (0, 0));
}

#[tokio::test]
async fn ends_are_counted_by_close_code() {
    let mut server = Server::start(Config::default()).await;
    let addr = server.addr;

    // 1000 from the client, 1001 from the client, 4000 (an application code).
    for (code, reason) in [(1000u16, "bye"), (1001, "away"), (4000, "app")] {
        let mut ws = upgraded(addr, "/").await;
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        ws.write_all(&frame(true, 0x8, &payload, true)).await.unwrap();
        server.after(1).await;
    }
    // 1002: an unmasked client frame. 1007: invalid UTF-8. 1006: the transport ends without a close.
    let mut ws = upgraded(addr, "/").await;
    ws.write_all(&frame(true, 0x1, b"unmasked", false)).await.unwrap();
    server.after(1).await;
    let mut ws = upgraded(addr, "/").await;
    ws.write_all(&frame(true, 0x1, &[0xff, 0xfe], true)).await.unwrap();
    server.after(1).await;
    let ws = upgraded(addr, "/").await;
    drop(ws);
    let s = server.after(1).await;

    assert_eq!((s.opened(), s.closed(), s.open()), (6, 6, 0));
    for (code, n) in [(1000, 1), (1001, 1), (1002, 1), (1007, 1), (1006, 1)] {
        assert_eq!(s.closes(CloseCode(code)), n, "closes({code}) in {s:?}");
    }
    assert_eq!(s.closes_other(), 1);
    assert_eq!(s.failures(CloseCode::PROTOCOL_ERROR), 1);
    assert_eq!(s.failures(CloseCode::INVALID_PAYLOAD), 1);
    no_other_failures(&s, &[1002, 1007]);
    assert_eq!(s.refusals_total(), 0);
}

#[tokio::test]
async fn limits_budget_and_deadlines_are_counted_by_kind() {
    let protocol = wsproto::Config::default()
        .with_max_frame_payload(64 * 1024)
        .with_budget(Some(Budget::new(8 * 1024)))
        .with_budget_floor(4 * 1024)
        .with_message_timeout(Some(Duration::from_millis(300)))
        .with_close_timeout(Duration::from_millis(300));
    let config = Config::default().protocol(protocol).keepalive(Duration::from_millis(300), Duration::from_millis(300));
    let mut server = Server::start(config).await;
    let addr = server.addr;

    // 1009: a frame over the limit, from its header alone (no payload follows: the budget is not involved).
    let mut ws = upgraded(addr, "/").await;
    let mut header = frame(true, 0x2, &[], true);
    header.splice(1..2, [0x80 | 127].into_iter().chain((100u64 * 1024).to_be_bytes()));
    ws.write_all(&header).await.unwrap();
    server.after(1).await;
    // 1013: a message past the floor while the 8 KiB budget cannot hold it.
    let mut ws = upgraded(addr, "/").await;
    let _ = ws.write_all(&frame(true, 0x2, &vec![7; 40 * 1024], true)).await;
    server.after(1).await;
    // 1008: a message started and never finished (keepalive pings are answered by nobody either, but the
    // message deadline, as long as the keepalive's, comes first: the ping is sent only after 300 ms of silence).
    let mut ws = upgraded(addr, "/").await;
    ws.write_all(&frame(false, 0x1, b"par", true)).await.unwrap();
    server.after(1).await;
    // Pong: a silent peer never answers the keepalive ping.
    let _silent = upgraded(addr, "/").await;
    server.after(1).await;
    // Close: the server closes first and the peer never answers.
    let _mute = upgraded(addr, "/close").await;
    let s = server.after(1).await;

    assert_eq!(s.failures(CloseCode::MESSAGE_TOO_BIG), 1, "{s:?}");
    assert_eq!(s.failures(CloseCode::TRY_AGAIN_LATER), 1, "{s:?}");
    assert_eq!(s.budget_refusals(), 1);
    assert_eq!(s.failures(CloseCode::POLICY_VIOLATION), 1, "{s:?}");
    assert_eq!(s.timeouts(Timeout::Message), 1);
    assert_eq!(s.timeouts(Timeout::Pong), 1, "{s:?}");
    assert_eq!(s.timeouts(Timeout::Close), 1, "{s:?}");
    assert_eq!(s.failures(CloseCode::ABNORMAL), 2, "pong and close deadlines: {s:?}");
    no_other_failures(&s, &[1009, 1013, 1008, 1006]);
    assert_eq!((s.opened(), s.closed()), (5, 5));
}

#[tokio::test]
async fn a_connection_dropped_while_open_is_counted() {
    let stats = Stats::new();
    let (client, server) = tokio::io::duplex(64 * 1024);
    let config = Config::default().stats(stats.clone());
    let accept = accept_with(server, config, |_| Ok(Accept::default()));
    let mut client = client;
    client.write_all(upgrade_head("/", "").as_bytes()).await.unwrap();
    let Accepted::WebSocket(ws, _) = within("the upgrade", accept).await.unwrap() else { panic!("an upgrade") };
    assert_eq!(stats.snapshot().open(), 1);
    drop(ws);
    let s = stats.snapshot();
    assert_eq!((s.opened(), s.closed(), s.dropped(), s.closes(CloseCode::ABNORMAL)), (1, 1, 1, 1));

    // An end is counted when it happens, not when the WebSocket is dropped.
    let (client, server) = tokio::io::duplex(64 * 1024);
    let accept = accept_with(server, Config::default().stats(stats.clone()), |_| Ok(Accept::default()));
    let mut client = client;
    client.write_all(upgrade_head("/", "").as_bytes()).await.unwrap();
    client.write_all(&frame(true, 0x8, &1000u16.to_be_bytes(), true)).await.unwrap();
    let Accepted::WebSocket(mut ws, _) = within("the upgrade", accept).await.unwrap() else { panic!("an upgrade") };
    while within("the close", ws.recv()).await.is_some() {}
    let s = stats.snapshot();
    assert_eq!((s.opened(), s.closed(), s.closes(CloseCode::NORMAL), s.dropped()), (2, 2, 1, 1), "{s:?}");
    drop(ws);
    assert_eq!(stats.snapshot().closed(), 2, "counted once");
    // Clones share the counters.
    assert_eq!(stats.clone(), stats);
    assert_ne!(Stats::new(), stats);
}

#[cfg(feature = "tracing")]
mod traced {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    use super::*;

    type Events = Arc<Mutex<Vec<HashMap<String, String>>>>;

    /// Collects every event's fields (and the name of its parent span, as `span`).
    struct Collect(Events);

    struct Fields<'a>(&'a mut HashMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_string(), format!("{value:?}").trim_matches('"').to_string());
        }
    }

    impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Collect {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            if let Some(span) = ctx.event_span(event) {
                fields.insert("span".into(), span.name().into());
            }
            self.0.lock().unwrap().push(fields);
        }
    }

    fn find<'a>(
        events: &'a [HashMap<String, String>],
        kind: &str,
        key: &str,
        value: &str,
    ) -> &'a HashMap<String, String> {
        events
            .iter()
            .find(|e| e.get("kind").map(String::as_str) == Some(kind) && e.get(key).map(String::as_str) == Some(value))
            .unwrap_or_else(|| panic!("no {kind} event with {key}={value} in {events:#?}"))
    }

    /// On the test's own thread (the current-thread runtime runs the server's tasks here too).
    #[tokio::test]
    async fn events_for_a_refusal_a_protocol_error_a_budget_refusal_and_a_normal_close() {
        let events = Events::default();
        let subscriber = tracing_subscriber::registry().with(Collect(events.clone()));
        let _guard = tracing::subscriber::set_default(subscriber);

        let protocol = wsproto::Config::default().with_budget(Some(Budget::new(8 * 1024))).with_budget_floor(4 * 1024);
        let mut server = Server::start(Config::default().protocol(protocol)).await;
        let addr = server.addr;
        // 400: no key.
        let (_tcp, status) = request(addr, &upgrade_head("/", "").replace("Sec-WebSocket-Key", "X-Not-The-Key")).await;
        assert_eq!(status, 400);
        server.after(1).await;
        // 1002: unmasked.
        let mut ws = upgraded(addr, "/").await;
        ws.write_all(&frame(true, 0x1, b"unmasked", false)).await.unwrap();
        server.after(1).await;
        // 1013: the budget.
        let mut ws = upgraded(addr, "/").await;
        let _ = ws.write_all(&frame(true, 0x2, &vec![7; 40 * 1024], true)).await;
        server.after(1).await;
        // 1000: a normal close from the client.
        let mut ws = upgraded(addr, "/").await;
        ws.write_all(&frame(true, 0x8, &1000u16.to_be_bytes(), true)).await.unwrap();
        server.after(1).await;

        let events = events.lock().unwrap().clone();
        let refused = find(&events, "refused", "status", "400");
        assert!(refused["reason"].contains("Sec-WebSocket-Key"), "{refused:?}");
        let error = find(&events, "protocol_error", "code", "1002");
        assert_eq!(error["span"], "websocket");
        find(&events, "closed", "code", "1002");
        assert_eq!(find(&events, "closed", "code", "1002")["who"], "failed");
        find(&events, "budget", "code", "1013");
        let normal = find(&events, "closed", "code", "1000");
        assert_eq!(normal["who"], "peer");
        assert!(normal["duration_ms"].parse::<u64>().is_ok(), "{normal:?}");
        let opened: Vec<_> = events.iter().filter(|e| e.get("kind").map(String::as_str) == Some("opened")).collect();
        assert_eq!(opened.len(), 3, "{events:#?}");
        assert_eq!(opened[0]["deflate"], "false");
    }
}
