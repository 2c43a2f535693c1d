//! A real browser against the examples: headless Chromium loads the `hello` and `broadcast` pages from the
//! example servers, and the test checks what the pages received (they write it into their DOM).
//!
//! The test drives Chromium over the DevTools protocol — with this crate's own WebSocket client — and polls the
//! page's DOM in real time until the expected lines appear. (`--dump-dom --virtual-time-budget` is not used: the
//! budget runs out as soon as the page is idle, often before a WebSocket message arrives, which made the
//! assertions race the network.) The protocol also lets the test accept, and check, the alert box the `hello`
//! page opens.
//!
//! Needs `/usr/bin/chromium` (Debian: `apt-get install -y chromium`; CI installs it) or a path in `CHROMIUM`.
//! Without it the tests fail, unless `WSPROTO_SKIP_BROWSER=1` is set: then they are skipped with a `SKIPPED` line
//! on stderr that libtest's capture does not hide. Under `CI=true` they fail regardless.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::{chromium, Browser};
use common::{within, Example};
use wsproto_tokio::{connect, CloseCode, Message};

#[tokio::test]
async fn hello_page_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let mut server = Example::start("hello", &["127.0.0.1:0"]);
    let addr = server.listening().await;
    let mut browser = Browser::launch(chromium).await;
    let page = browser.open(&format!("http://{addr}/")).await;
    browser
        .wait_for(&page, &["<div>sent: Hello?</div>", "<div>received: Good-bye!</div>", "<div>closed: 1000</div>"])
        .await;
    // The seed's alert box showed the reply.
    assert_eq!(browser.alerts, ["Good-bye!"]);
    server.stderr_line("GET / 200").await;
    server.stderr_line("GET /websocket 101").await;
    let closed = server.stderr_line("GET /websocket WebSocket closed").await;
    assert!(closed.contains("1000 (normal), closed by the server"), "{closed}");
}

#[tokio::test]
async fn broadcast_page_in_chromium_chats_with_another_client() {
    let Some(chromium) = chromium() else { return };
    let mut server = Example::start("broadcast", &["127.0.0.1:0", "127.0.0.1:0"]);
    let ws_addr = server.listening().await;
    let page_addr = server.listening().await;
    let mut browser = Browser::launch(chromium).await;

    // Another chat client, on the WebSocket port.
    let (mut other, _) = within("connect", connect(&format!("ws://{ws_addr}/"))).await.unwrap();
    assert_eq!(other.recv().await.unwrap().unwrap(), Message::text("connected to WebSocket server"));

    // Window 1 loads the page from the page port and sends a message once connected: every client gets it.
    let first = browser.open(&format!("http://{page_addr}/?autosend=hi%20from%20window%201")).await;
    let heard = within("the browser's message", other.recv()).await.unwrap().unwrap();
    assert_eq!(heard, Message::text("hi from window 1"));
    browser.wait_for(&first, &["<div>connected to WebSocket server</div>", "<div>hi from window 1</div>"]).await;

    // The other client answers; window 2 (from the WebSocket port: the page works from both) joins and writes.
    other.send("hello from rust").await.unwrap();
    let second = browser.open(&format!("http://{ws_addr}/?autosend=hi%20from%20window%202")).await;
    let dom = browser
        .wait_for(
            &first,
            &[
                "<div>hello from rust</div>",
                "<div>hi from window 2</div>",
                "<div id=\"status\">The WebSocket is open.</div>",
            ],
        )
        .await;
    assert!(dom.contains("<div id=\"error-message\"></div>"), "{dom}");
    // Window 2 joined after the earlier messages: it has the greeting and its own.
    let dom =
        browser.wait_for(&second, &["<div>connected to WebSocket server</div>", "<div>hi from window 2</div>"]).await;
    assert!(!dom.contains("hello from rust"), "{dom}");
    // The other client got its own message back, then window 2's.
    for want in ["hello from rust", "hi from window 2"] {
        assert_eq!(within("a chat message", other.recv()).await.unwrap().unwrap(), Message::text(want));
    }

    let _ = within("close", other.close(CloseCode::NORMAL, "")).await;
    server.stderr_line("GET /?autosend=hi%20from%20window%201 200").await;
}
