//! Interop with other libraries that negotiate permessage-deflate by default: python `websockets` and Node `ws`,
//! as clients of our `echo` example and as echo servers for our client (`connect_with`), in both directions.
//!
//! The peers are small programs in `interop/` (python/, node/) running pinned versions that `interop/install.sh`
//! installs into `${WSPROTO_INTEROP_HOME:-$HOME/.cache/wsproto-interop}` (CI runs it). Without them these tests
//! fail with a message saying so, unless `WSPROTO_SKIP_INTEROP=1` is set: then they pass with a `SKIPPED` line on
//! stderr that libtest's capture does not hide. Under `CI=true` they fail regardless.
//!
//! Every run exchanges the same messages ([`corpus`]): short texts (below our compression threshold, non-ASCII,
//! empty), empty and all-byte-values binaries, a 1.25 MiB JSON-like text, 1 MiB of random bytes, a 256 KiB text
//! in 10,007-byte frames (frames end inside code points) and a 96 KiB binary in 8 KiB frames, each with a ping
//! after its first frame (a control frame inside a compressed message), a 64 KiB text sent twice (the second copy
//! compresses against the first through the shared window), and 300 random bytes. Each echo must come back byte
//! for byte, with its kind, and each ping must get its pong.
//!
//! - Their client → our `echo` example: the peer client sends and checks the echoes, and reports the negotiated
//!   `Sec-WebSocket-Extensions`; the test checks that report, and that our server saw a clean 1000 close.
//! - Our client → their echo server: the test sends and checks; `is_deflate_enabled()` and the server's report
//!   must agree with the answered extension.
//! - Node reports its socket's byte counts both ways: a direction that negotiated compression must have saved at
//!   least half of the JSON's bytes; one that did not (or where our window is 8 bits: we then send uncompressed)
//!   must carry at least the payload.
//!
//! Each direction runs with the peer's defaults (a Node server with `perMessageDeflate: true`), with no context
//! takeover and 10-bit windows, with the smallest windows the peer supports, and without compression; our
//! client also asks their default servers for no context takeover, and runs once with `deflate = None`. Set
//! `WSPROTO_TEST_VERBOSE=1` to see the peers' output as it comes, `--nocapture` for a summary line per test.

mod common;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{noise, within, Example, TempDir};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use wsproto::DeflateConfig;
use wsproto_tokio::{connect_with, CloseCode, Config, ConnectOptions, DataKind, MaybeTlsStream, Message, WebSocket};

/// How long a peer client may take for the whole corpus.
const PEER_RUN: Duration = Duration::from_secs(90);

// ------------------------------------------------------------------------------------------------ the peers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// python `websockets` (asyncio API).
    Python,
    /// Node `ws`.
    Node,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Python => "python websockets",
            Peer::Node => "node ws",
        })
    }
}

/// How a peer program configures permessage-deflate (its `--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The library's defaults (a Node server gets `perMessageDeflate: true`, which it lacks by default).
    Default,
    /// Both `no_context_takeover` parameters and 10-bit windows.
    NoContextTakeover,
    /// The smallest windows the library supports: Node 8 bits both ways; python 9 bits for itself and 8 for
    /// us (it cannot compress with 8). We send uncompressed when limited to 8 bits (see `wsproto::deflate`).
    SmallWindows,
    /// No compression.
    Plain,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::NoContextTakeover => "no-context-takeover",
            Mode::SmallWindows => "small-windows",
            Mode::Plain => "plain",
        }
    }
}

/// Where `interop/install.sh` put the peers.
struct Install {
    home: PathBuf,
}

impl Install {
    /// The installed peers, or `None` (with a notice) when they are missing and `WSPROTO_SKIP_INTEROP=1`.
    fn find() -> Option<Install> {
        let home = match std::env::var_os("WSPROTO_INTEROP_HOME") {
            Some(h) => PathBuf::from(h),
            None => {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/wsproto-interop")
            }
        };
        let install = Install { home };
        let missing: Vec<String> = [install.python(), install.home.join("node/node_modules/ws/package.json")]
            .into_iter()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if missing.is_empty() {
            return Some(install);
        }
        if std::env::var("WSPROTO_SKIP_INTEROP").as_deref() == Ok("1") {
            // Fails under CI=true; otherwise a SKIPPED line that libtest does not swallow.
            common::cannot_run(
                "interop test",
                &format!("the peers are not installed ({}) and WSPROTO_SKIP_INTEROP=1", missing.join(", ")),
            );
            return None;
        }
        panic!(
            "the interop peers (python websockets, node ws) are not installed: missing {}. Run `interop/install.sh` \
             (CI does; it installs into $WSPROTO_INTEROP_HOME, default ~/.cache/wsproto-interop), or set \
             WSPROTO_SKIP_INTEROP=1 to skip these tests",
            missing.join(", ")
        );
    }

    fn python(&self) -> PathBuf {
        self.home.join("venv/bin/python")
    }

    /// Starts a peer program: `echo_client`/`echo-client` (`client`) or the echo server, with `--mode` and `args`.
    fn start(&self, peer: Peer, client: bool, mode: Mode, args: &[&str]) -> PeerProcess {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
        let (program, script) = match (peer, client) {
            (Peer::Python, true) => (self.python(), dir.join("python/echo_client.py")),
            (Peer::Python, false) => (self.python(), dir.join("python/echo_server.py")),
            (Peer::Node, true) => (PathBuf::from("node"), dir.join("node/echo-client.js")),
            (Peer::Node, false) => (PathBuf::from("node"), dir.join("node/echo-server.js")),
        };
        let what = format!("{peer} {} ({})", if client { "client" } else { "server" }, mode.arg());
        let mut child = Command::new(&program)
            .arg(&script)
            .args(["--mode", mode.arg()])
            .args(args)
            .env("WSPROTO_INTEROP_HOME", &self.home)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({} {}): {e}", program.display(), script.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = forward_lines(&what, child.stdout.take().unwrap(), output.clone(), true);
        let _ = forward_lines(&what, child.stderr.take().unwrap(), output.clone(), false);
        PeerProcess { what, child, stdout, output }
    }
}

/// A running peer program. Killed when dropped.
struct PeerProcess {
    what: String,
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    /// Everything it printed so far, stdout and stderr (stderr lines prefixed), for failure messages.
    output: Arc<Mutex<Vec<String>>>,
}

fn forward_lines(
    what: &str,
    r: impl AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<Vec<String>>>,
    is_stdout: bool,
) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let what = what.to_owned();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if std::env::var_os("WSPROTO_TEST_VERBOSE").is_some() {
                eprintln!("[{what}] {line}");
            }
            output.lock().unwrap().push(if is_stdout { line.clone() } else { format!("stderr: {line}") });
            if is_stdout {
                let _ = tx.send(line);
            }
        }
    });
    rx
}

impl PeerProcess {
    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits for the next stdout line starting with `prefix` (skipping others) and returns the rest of it.
    async fn line_starting(&mut self, prefix: &str) -> String {
        let found = tokio::time::timeout(common::WAIT, async {
            while let Some(line) = self.stdout.recv().await {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Some(rest.trim().to_owned());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(rest)) => rest,
            Ok(None) => panic!("{} ended its output before printing {prefix:?}:\n{}", self.what, self.output()),
            Err(_) => panic!("timed out waiting for {} to print {prefix:?}; it printed:\n{}", self.what, self.output()),
        }
    }

    /// Waits (up to [`PEER_RUN`]) for it to exit; returns the status and all its stdout lines not yet read.
    async fn finish(&mut self) -> (ExitStatus, Vec<String>) {
        let status = match tokio::time::timeout(PEER_RUN, self.child.wait()).await {
            Ok(s) => s.unwrap(),
            Err(_) => {
                panic!("timed out after {PEER_RUN:?} waiting for {} to exit; it printed:\n{}", self.what, self.output())
            }
        };
        let mut lines = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(common::WAIT, self.stdout.recv()).await {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Bounded: the process was just sent SIGKILL.
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

// ----------------------------------------------------------------------------------------------- the corpus

/// One message of the corpus.
struct Msg {
    name: &'static str,
    kind: DataKind,
    data: Bytes,
    /// Sent in frames of this many bytes.
    fragment: Option<usize>,
}

impl Msg {
    fn text(name: &'static str, s: impl Into<String>) -> Msg {
        Msg { name, kind: DataKind::Text, data: Bytes::from(s.into()), fragment: None }
    }

    fn binary(name: &'static str, b: impl Into<Bytes>) -> Msg {
        Msg { name, kind: DataKind::Binary, data: b.into(), fragment: None }
    }

    fn in_frames_of(mut self, n: usize) -> Msg {
        self.fragment = Some(n);
        self
    }
}

/// A JSON array of records, at least `len` bytes, with some non-ASCII text, like an API response: it compresses
/// about 6:1 at zlib's default level.
fn json_like(len: usize, seed: u64) -> String {
    const NAMES: [&str; 8] = ["Zoë", "Åsa", "José", "Łukasz", "Søren", "Ngọc", "名前", "Дмитрий"];
    const TAGS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "ε-release", "β-test"];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut s = String::from("[");
    let mut id = 0u64;
    while s.len() < len {
        let r = next();
        if id > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"id":{id},"user":"{}-{}","email":"user{}@example.com","active":{},"score":{}.{:02},"tags":["{}","{}"],"token":"{:016x}"}}"#,
            NAMES[(r % 8) as usize],
            r % 1000,
            r % 100_000,
            r % 3 == 0,
            r % 500,
            (r >> 8) % 100,
            TAGS[((r >> 16) % 6) as usize],
            TAGS[((r >> 24) % 6) as usize],
            (next() >> 8) & 0xffff_ffff,
        ));
        id += 1;
    }
    s.push(']');
    s
}

/// The messages every test exchanges, in order.
fn corpus() -> Vec<Msg> {
    let json_64k = json_like(64 << 10, 2);
    let fragmented = json_like(256 << 10, 3);
    // The point of 10,007-byte text frames: some end inside a multi-byte code point.
    assert!((1..fragmented.len() / 10_007).any(|k| !fragmented.is_char_boundary(k * 10_007)));
    let mut mixed = noise(48 << 10, 11);
    mixed.extend((0..48 << 10).map(|i| (i % 251) as u8));
    vec![
        Msg::text("short text", "hello"),
        Msg::text("short non-ASCII text", "héllo wörld — ✓ 🦀"),
        Msg::text("empty text", ""),
        Msg::binary("empty binary", Bytes::new()),
        Msg::binary("all byte values", (0..=255u8).collect::<Vec<u8>>()),
        Msg::text("1.25 MiB JSON", json_like(1_310_720, 1)),
        Msg::binary("1 MiB random", noise(1 << 20, 7)),
        Msg::text("64 KiB JSON", json_64k.clone()),
        Msg::text("256 KiB JSON in 10007-byte frames", fragmented).in_frames_of(10_007),
        Msg::binary("96 KiB binary in 8 KiB frames", mixed).in_frames_of(8 << 10),
        Msg::text("the same 64 KiB JSON again", json_64k),
        Msg::binary("300 random bytes", noise(300, 9)),
    ]
}

/// Bytes of the corpus that compress well (the JSON texts).
fn compressible_bytes(corpus: &[Msg]) -> usize {
    corpus.iter().filter(|m| m.kind == DataKind::Text).map(|m| m.data.len()).sum()
}

/// Writes the corpus as files plus a message script for the peer clients; returns the script's path.
fn write_script(dir: &TempDir, corpus: &[Msg]) -> String {
    let mut script = String::from("# wsproto interop corpus: KIND PATH [FRAGMENT]\n");
    for (i, m) in corpus.iter().enumerate() {
        let (kind, ext) = match m.kind {
            DataKind::Text => ("text", "txt"),
            DataKind::Binary => ("binary", "bin"),
        };
        let path = dir.path().join(format!("{:02}.{ext}", i + 1));
        std::fs::write(&path, &m.data).unwrap();
        let fragment = m.fragment.map(|n| format!(" {n}")).unwrap_or_default();
        script.push_str(&format!("# {}\n{kind} {}{fragment}\n", m.name, path.display()));
    }
    let path = dir.path().join("script");
    std::fs::write(&path, script).unwrap();
    path.display().to_string()
}

// -------------------------------------------------------------------------------- their client → our echo

/// Checks the bytes a Node peer's socket read (what we sent) and wrote (what it sent) for a corpus of `payload`
/// bytes each way: a compressed direction must have saved at least half of the JSON's bytes; an uncompressed
/// one carries at least the payload. Returns a note for the log.
fn check_wire(
    who: &str,
    read: usize,
    written: usize,
    corpus: &[Msg],
    we_compress: bool,
    they_compress: bool,
) -> String {
    let payload: usize = corpus.iter().map(|m| m.data.len()).sum();
    let saved = compressible_bytes(corpus) / 2;
    for (what, bytes, compressed) in [("we sent", read, we_compress), ("it sent", written, they_compress)] {
        if compressed {
            assert!(
                bytes < payload - saved,
                "{who}: {what} {bytes} bytes for {payload} bytes of payload: not compressed"
            );
        } else {
            assert!(bytes >= payload, "{who}: {what} {bytes} bytes for {payload} bytes of payload, uncompressed");
        }
    }
    format!("; on the wire: we sent {read} B, it sent {written} B, for {payload} B of payload")
}

/// The fragmented messages of the corpus (each gets a ping after its first frame).
fn fragmented(corpus: &[Msg]) -> usize {
    corpus.iter().filter(|m| m.fragment.is_some()).count()
}

/// The window bits an answered `permessage-deflate` element sets: (server's, client's), 15 when absent.
fn window_bits(answered: &str) -> (u8, u8) {
    let param = |name: &str| {
        answered
            .split(';')
            .filter_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
            .find_map(|v| v.trim().trim_matches('"').parse().ok())
            .unwrap_or(15)
    };
    (param("server_max_window_bits"), param("client_max_window_bits"))
}

/// What the negotiated `Sec-WebSocket-Extensions` must look like when `peer` configured `mode` (as a client
/// or as a server).
fn check_extensions(who: &str, peer: Peer, peer_is_client: bool, mode: Mode, answered: &str) {
    match mode {
        Mode::SmallWindows => {
            assert!(answered.starts_with("permessage-deflate"), "{who}: no deflate: {answered:?}");
            let want = match (peer, peer_is_client) {
                (Peer::Node, _) => (8, 8),
                (Peer::Python, true) => (8, 9),
                (Peer::Python, false) => (9, 8),
            };
            assert_eq!(window_bits(answered), want, "{who}: window bits (server, client) in {answered:?}");
        }
        Mode::Default => assert!(answered.starts_with("permessage-deflate"), "{who}: no deflate: {answered:?}"),
        Mode::NoContextTakeover => {
            for want in [
                "permessage-deflate",
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits=10",
            ] {
                assert!(answered.contains(want), "{who}: {want} not in {answered:?}");
            }
        }
        Mode::Plain => assert_eq!(answered, "", "{who}: an extension without compression configured"),
    }
}

async fn their_client_to_our_echo(peer: Peer, mode: Mode) {
    let Some(install) = Install::find() else { return };
    let t0 = Instant::now();
    let corpus = corpus();
    let dir = TempDir::new("interop");
    let script = write_script(&dir, &corpus);
    let mut echo = Example::start("echo", &["127.0.0.1:0"]);
    let addr = echo.listening().await;
    let mut client = install.start(peer, true, mode, &[&format!("ws://{addr}/"), &script]);
    let (status, lines) = client.finish().await;
    let context =
        || format!("{} printed:\n{}\n\nour echo server logged:\n{}", client.what, client.output(), echo.log());
    assert!(status.success(), "{} failed ({status}); {}", client.what, context());

    let field = |prefix: &str| lines.iter().find_map(|l| l.strip_prefix(prefix)).map(str::trim);
    let answered = field("extensions:").unwrap_or_else(|| panic!("no extensions line; {}", context()));
    check_extensions(&client.what, peer, true, mode, answered);
    let oks = lines.iter().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(oks, corpus.len(), "echoes confirmed; {}", context());
    // Our reply to their close carries the code but no reason.
    assert_eq!(lines.last().map(|l| l.trim()), Some("closed 1000"), "{}", context());
    let pongs = field("pongs:").unwrap_or_else(|| panic!("no pongs line; {}", context()));
    assert_eq!(pongs, fragmented(&corpus).to_string(), "pongs to the pings between fragments; {}", context());

    // Node reports the bytes its socket read and wrote. We compress unless our window is 8 bits.
    let mut wire_note = String::new();
    if let Some(wire) = field("wire:") {
        let n: Vec<usize> = wire.split(' ').filter_map(|w| w.parse().ok()).collect();
        let [read, written, _payload] = n[..] else { panic!("bad wire line {wire:?}") };
        let deflate = mode != Mode::Plain;
        wire_note = check_wire(&client.what, read, written, &corpus, deflate && window_bits(answered).0 > 8, deflate);
    }
    let closed = echo.stderr_line("WebSocket closed").await;
    assert!(closed.contains("1000 (normal) \"done\", closed by the client"), "{closed}");
    eprintln!(
        "{} → our echo: {} messages echoed, extensions {answered:?}{wire_note}, in {:.2?}",
        client.what,
        corpus.len(),
        t0.elapsed()
    );
}

#[tokio::test]
async fn python_client_to_our_echo() {
    their_client_to_our_echo(Peer::Python, Mode::Default).await;
}

#[tokio::test]
async fn python_client_to_our_echo_no_context_takeover() {
    their_client_to_our_echo(Peer::Python, Mode::NoContextTakeover).await;
}

#[tokio::test]
async fn python_client_to_our_echo_small_windows() {
    their_client_to_our_echo(Peer::Python, Mode::SmallWindows).await;
}

#[tokio::test]
async fn python_client_to_our_echo_without_compression() {
    their_client_to_our_echo(Peer::Python, Mode::Plain).await;
}

#[tokio::test]
async fn node_client_to_our_echo() {
    their_client_to_our_echo(Peer::Node, Mode::Default).await;
}

#[tokio::test]
async fn node_client_to_our_echo_no_context_takeover() {
    their_client_to_our_echo(Peer::Node, Mode::NoContextTakeover).await;
}

#[tokio::test]
async fn node_client_to_our_echo_small_windows() {
    their_client_to_our_echo(Peer::Node, Mode::SmallWindows).await;
}

#[tokio::test]
async fn node_client_to_our_echo_without_compression() {
    their_client_to_our_echo(Peer::Node, Mode::Plain).await;
}

// -------------------------------------------------------------------------------- our client → their echo

/// Our client's permessage-deflate policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    /// `Config::default()`: offers `permessage-deflate; client_max_window_bits`.
    Default,
    /// Asks for no context takeover both ways and 10-bit windows.
    NoContextTakeover,
    /// `deflate = None`: offers nothing.
    Off,
}

impl Ours {
    fn options(self) -> ConnectOptions {
        let mut protocol = Config::default().protocol;
        match self {
            Ours::Default => {}
            Ours::NoContextTakeover => {
                let mut d = DeflateConfig::default();
                d.server_no_context_takeover = true;
                d.client_no_context_takeover = true;
                d.server_max_window_bits = Some(10);
                d.client_max_window_bits = Some(10);
                protocol.deflate = Some(d);
            }
            Ours::Off => protocol.deflate = None,
        }
        ConnectOptions { config: Config::default().protocol(protocol), ..ConnectOptions::default() }
    }
}

type Ws = WebSocket<MaybeTlsStream>;

/// The next text or binary message, counting pongs to our mid-fragment pings on the way.
async fn next_data(ws: &mut Ws, what: &str, pongs: &mut usize) -> Message {
    within(what, async {
        loop {
            match ws.recv().await {
                Some(Ok(m)) if m.is_data() => return m,
                Some(Ok(Message::Pong(p))) if p == "mid-fragment" => *pongs += 1,
                Some(Ok(Message::Close(c))) => panic!("{what}: the server closed: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{what}: receive failed: {e}"),
                None => panic!("{what}: the connection ended"),
            }
        }
    })
    .await
}

async fn our_client_to_their_echo(peer: Peer, mode: Mode, ours: Ours) {
    let Some(install) = Install::find() else { return };
    let t0 = Instant::now();
    let corpus = corpus();
    let mut server = install.start(peer, false, mode, &["0"]);
    let url = server.line_starting("listening on ").await;
    let (mut ws, response) = within("the WebSocket handshake", connect_with(&url, ours.options()))
        .await
        .unwrap_or_else(|e| panic!("connect to {} at {url}: {e}\nit printed:\n{}", server.what, server.output()));
    let answered = response.header("sec-websocket-extensions").map(|v| String::from_utf8_lossy(v).into_owned());
    let answered = answered.unwrap_or_default();
    let offered = server.line_starting("offered:").await;
    assert_eq!(server.line_starting("extensions:").await, answered, "what the server says it answered");

    let deflate = ours != Ours::Off && mode != Mode::Plain;
    let who = format!("our client ({ours:?}) → {}", server.what);
    assert_eq!(ws.connection().is_deflate_enabled(), deflate, "{who}: offered {offered:?}, answered {answered:?}");
    match (ours, mode) {
        (Ours::Off, _) => assert_eq!(offered, "", "{who}: we offered an extension with deflate off"),
        (_, Mode::Plain) => assert_eq!(answered, "", "{who}: an extension without compression configured"),
        (Ours::NoContextTakeover, _) => {
            check_extensions(&who, peer, false, Mode::NoContextTakeover, &answered);
            assert!(offered.contains("server_max_window_bits=10"), "{who}: offered {offered:?}");
        }
        (Ours::Default, mode) => check_extensions(&who, peer, false, mode, &answered),
    }

    let mut pongs = 0;
    for (i, m) in corpus.iter().enumerate() {
        let what = format!("{who}: echo of message {} ({})", i + 1, m.name);
        within(&what, async {
            match (m.fragment, m.kind) {
                (Some(n), kind) => {
                    let mut chunks = m.data.chunks(n).peekable();
                    let mut first = true;
                    while let Some(chunk) = chunks.next() {
                        ws.send_fragment(kind, m.data.slice_ref(chunk), chunks.peek().is_none()).await?;
                        if std::mem::take(&mut first) {
                            // A control frame in the middle of a (compressed) fragmented message.
                            ws.send(Message::Ping(Bytes::from_static(b"mid-fragment"))).await?;
                        }
                    }
                    Ok(())
                }
                (None, DataKind::Text) => ws.send(Message::text(std::str::from_utf8(&m.data).unwrap())).await,
                (None, DataKind::Binary) => ws.send(Message::Binary(m.data.clone())).await,
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{what}: send failed: {e}\nthe server printed:\n{}", server.output()));
        let got = next_data(&mut ws, &what, &mut pongs).await;
        let got_kind = if matches!(got, Message::Text(_)) { DataKind::Text } else { DataKind::Binary };
        let got = got.into_data();
        if got_kind != m.kind || got != m.data {
            let at = got.iter().zip(m.data.iter()).position(|(a, b)| a != b).unwrap_or(got.len().min(m.data.len()));
            panic!(
                "{what}: sent {:?} {} bytes, received {got_kind:?} {} bytes, first difference at byte {at}",
                m.kind,
                m.data.len(),
                got.len()
            );
        }
    }

    assert_eq!(pongs, fragmented(&corpus), "{who}: pongs to the pings between fragments");

    let outcome = within("the closing handshake", ws.close(CloseCode::NORMAL, "done")).await.unwrap();
    assert_eq!(outcome.code(), CloseCode::NORMAL, "{who}: {outcome:?}");
    // Node reports the bytes its socket read and wrote. We compress unless our window is 8 bits.
    let mut wire_note = String::new();
    if peer == Peer::Node {
        let wire = server.line_starting("wire:").await;
        let n: Vec<usize> = wire.split(' ').filter_map(|w| w.parse().ok()).collect();
        let [read, written] = n[..] else { panic!("bad wire line {wire:?}") };
        wire_note = check_wire(&who, read, written, &corpus, deflate && window_bits(&answered).1 > 8, deflate);
    }
    let closed = server.line_starting("closed:").await;
    assert_eq!(closed, format!("1000 done, {} messages echoed", corpus.len()), "{who}");
    eprintln!(
        "{who}: {} messages echoed, offered {offered:?}, answered {answered:?}{wire_note}, in {:.2?}",
        corpus.len(),
        t0.elapsed()
    );
}

#[tokio::test]
async fn our_client_to_python_echo() {
    our_client_to_their_echo(Peer::Python, Mode::Default, Ours::Default).await;
}

#[tokio::test]
async fn our_client_to_python_echo_without_compression() {
    our_client_to_their_echo(Peer::Python, Mode::Default, Ours::Off).await;
}

#[tokio::test]
async fn our_client_to_python_echo_server_no_context_takeover() {
    our_client_to_their_echo(Peer::Python, Mode::NoContextTakeover, Ours::Default).await;
}

#[tokio::test]
async fn our_client_to_python_echo_small_windows() {
    our_client_to_their_echo(Peer::Python, Mode::SmallWindows, Ours::Default).await;
}

#[tokio::test]
async fn our_client_asks_python_echo_for_no_context_takeover() {
    our_client_to_their_echo(Peer::Python, Mode::Default, Ours::NoContextTakeover).await;
}

#[tokio::test]
async fn our_client_to_node_echo() {
    our_client_to_their_echo(Peer::Node, Mode::Default, Ours::Default).await;
}

#[tokio::test]
async fn our_client_to_node_echo_without_compression() {
    our_client_to_their_echo(Peer::Node, Mode::Default, Ours::Off).await;
}

#[tokio::test]
async fn our_client_to_node_echo_server_no_context_takeover() {
    our_client_to_their_echo(Peer::Node, Mode::NoContextTakeover, Ours::Default).await;
}

#[tokio::test]
async fn our_client_to_node_echo_small_windows() {
    our_client_to_their_echo(Peer::Node, Mode::SmallWindows, Ours::Default).await;
}

#[tokio::test]
async fn our_client_asks_node_echo_for_no_context_takeover() {
    our_client_to_their_echo(Peer::Node, Mode::Default, Ours::NoContextTakeover).await;
}
