//! The axum extractor (feature `axum`) over HTTP/1.1: the example's route (`examples/axum.rs`, the same ≤ 10
//! lines) negotiates permessage-deflate and a subprotocol, and compressed messages flow with our client,
//! python `websockets` and headless Chromium. "Compressed" is checked on the wire: the server's listener counts
//! the bytes it reads, which must be well under the messages' plain size.
//!
//! The python and Chromium tests follow `interop.rs` and `browser.rs`: a missing peer fails, unless
//! `WSPROTO_SKIP_INTEROP=1` / `WSPROTO_SKIP_BROWSER=1` (then `SKIPPED` on stderr); under `CI=true` it fails.
#![cfg(feature = "axum")]

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use common::within;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use wsproto_tokio::axum::WebSocketUpgrade;
use wsproto_tokio::{connect_with, ConnectOptions, Message};

/// The example's route, verbatim.
async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.protocols(["echo"]).on_upgrade(|mut ws| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_data() && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

const PAGE: &str = include_str!("../examples/axum.html");

/// A TCP stream counting the bytes the server reads.
struct Counted {
    tcp: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        self.read.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

struct CountingListener {
    tcp: TcpListener,
    read: Arc<AtomicU64>,
}

impl axum::serve::Listener for CountingListener {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Counted, SocketAddr) {
        loop {
            if let Ok((tcp, addr)) = self.tcp.accept().await {
                return (Counted { tcp, read: self.read.clone() }, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Serves the example's app on 127.0.0.1; returns its address and the count of bytes it read.
async fn serve() -> (SocketAddr, Arc<AtomicU64>) {
    let app = Router::new().route("/", get(|| async { Html(PAGE) })).route("/ws", any(ws));
    let read = Arc::new(AtomicU64::new(0));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = CountingListener { tcp, read: read.clone() };
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, read)
}

/// A JSON array like an API response (compresses well): `n` records.
fn json(n: usize) -> String {
    let records: Vec<String> =
        (0..n).map(|i| format!("{{\"id\":{i},\"user\":\"user{i}\",\"text\":\"lorem ipsum\"}}")).collect();
    format!("[{}]", records.join(","))
}

#[tokio::test]
async fn our_client_negotiates_deflate_and_subprotocol() {
    let (addr, read) = serve().await;
    let opts = ConnectOptions { protocols: vec!["other".into(), "echo".into()], ..ConnectOptions::default() };
    let (mut ws, response) = within("the handshake", connect_with(&format!("ws://{addr}/ws"), opts)).await.unwrap();
    assert_eq!(response.status, 101);
    assert_eq!(response.header("sec-websocket-protocol"), Some(&b"echo"[..]));
    assert_eq!(response.header("sec-websocket-extensions"), Some(&b"permessage-deflate"[..]));
    assert!(ws.connection().is_deflate_enabled());
    let msg = json(200);
    for _ in 0..20 {
        ws.send(msg.as_str()).await.unwrap();
        let echo = within("an echo", ws.recv()).await.unwrap().unwrap();
        assert_eq!(echo, Message::text(msg.as_str()));
    }
    let plain = 20 * msg.len() as u64;
    let wire = read.load(Ordering::Relaxed);
    eprintln!("server read {wire} bytes for {plain} bytes of messages");
    assert!(wire * 5 < plain, "the server read {wire} bytes for {plain} bytes of messages: not compressed");
}

/// A refusal is the core's: a wrong version gets 426 with `Sec-WebSocket-Version: 13`; no key gets 400.
#[tokio::test]
async fn refusals_carry_the_cores_status_and_headers() {
    let (addr, _) = serve().await;
    for (version, key, expect) in [("8", true, "426"), ("13", false, "400")] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let key = if key { "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" } else { "" };
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}\
             Sec-WebSocket-Version: {version}\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut buf = vec![0; 4096];
        let n = within("the refusal", tcp.read(&mut buf)).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/1.1 {expect}")), "{head}");
        if expect == "426" {
            assert!(head.contains("sec-websocket-version: 13\r\n"), "{head}");
            assert!(head.contains("upgrade: websocket\r\n"), "{head}");
        }
    }
}

/// The python interpreter of the interop install, or `None` (with a notice) as `interop.rs` decides.
fn python() -> Option<PathBuf> {
    let home = match std::env::var_os("WSPROTO_INTEROP_HOME") {
        Some(h) => PathBuf::from(h),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/wsproto-interop")
        }
    };
    let python = home.join("venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("WSPROTO_SKIP_INTEROP").as_deref() == Ok("1") {
        common::cannot_run("axum interop test", &format!("{} missing and WSPROTO_SKIP_INTEROP=1", python.display()));
        return None;
    }
    panic!(
        "python websockets is not installed ({} missing): run `interop/install.sh`, or set WSPROTO_SKIP_INTEROP=1",
        python.display()
    );
}

const PYTHON_CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect

async def main(url, msg):
    async with connect(url, subprotocols=["echo"], open_timeout=20) as ws:
        print("extensions:", ws.response.headers.get("Sec-WebSocket-Extensions"))
        print("protocol:", ws.subprotocol)
        for i in range(20):
            await ws.send(msg)
            echo = await asyncio.wait_for(ws.recv(), 20)
            if echo != msg:
                print("MISMATCH", i)
                sys.exit(1)
        print("echoed: 20")

asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

#[tokio::test]
async fn python_websockets_exchanges_compressed_messages() {
    let Some(python) = python() else { return };
    let (addr, read) = serve().await;
    let msg = json(200);
    let out = within(
        "the python client",
        tokio::process::Command::new(python)
            .args(["-c", PYTHON_CLIENT, &format!("ws://{addr}/ws"), &msg])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("extensions: permessage-deflate"), "{stdout}");
    assert!(stdout.contains("protocol: echo"), "{stdout}");
    assert!(stdout.contains("echoed: 20"), "{stdout}");
    let plain = 20 * msg.len() as u64;
    let wire = read.load(Ordering::Relaxed);
    eprintln!("server read {wire} bytes for {plain} bytes of messages");
    assert!(wire * 5 < plain, "the server read {wire} bytes for {plain} bytes of messages: not compressed");
}

#[tokio::test]
async fn chromium_exchanges_compressed_messages() {
    let Some(chromium) = browser::chromium() else { return };
    let (addr, read) = serve().await;
    let mut browser = browser::Browser::launch(chromium).await;
    let page = browser.open(&format!("http://{addr}/")).await;
    let dom = browser
        .wait_for(&page, &["extensions: permessage-deflate", "protocol: echo", "echoed: 5 of ", "closed: 1000"])
        .await;
    // The page sends its JSON five times; its length is in the DOM.
    let len: u64 = dom.split("echoed: 5 of ").nth(1).and_then(|s| s.split(' ').next()).unwrap().parse().unwrap();
    let plain = 5 * len;
    let wire = read.load(Ordering::Relaxed);
    eprintln!("server read {wire} bytes for {plain} bytes of messages");
    // The page load's own request heads are in the count too (a few KB at most).
    assert!(wire * 3 < plain, "the server read {wire} bytes for {plain} bytes of messages: not compressed");
}

/// The `hyper` example (a plain hyper 1 service with `wsproto_tokio::hyper::upgrade`): deflate and the
/// subprotocol negotiated, echoes, and the core's refusal for a bad request.
#[tokio::test]
async fn hyper_example_negotiates_and_echoes() {
    let mut server = common::Example::start("hyper", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    let opts = ConnectOptions { protocols: vec!["echo".into()], ..ConnectOptions::default() };
    let (mut ws, response) = within("the handshake", connect_with(&format!("ws://{addr}/"), opts)).await.unwrap();
    assert_eq!(response.header("sec-websocket-protocol"), Some(&b"echo"[..]));
    assert!(ws.connection().is_deflate_enabled());
    let msg = json(100);
    ws.send(msg.as_str()).await.unwrap();
    assert_eq!(within("an echo", ws.recv()).await.unwrap().unwrap(), Message::text(msg.as_str()));
    let plain = common::http_get(addr, "/").await;
    assert_eq!(plain.status, 400, "a GET without Upgrade is refused by the core: {plain:?}");
}
