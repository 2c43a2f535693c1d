//! `broadcast`: the Node `ws` chat server and its page.
//!
//! WebSockets on `127.0.0.1:1919`, the chat page on `127.0.0.1:1920`. Each listener serves both the page (at
//! `/`) and WebSockets (any path), and the page connects back to the host that served it, so browsing either
//! port works. A new client is sent `connected to WebSocket server`; every message is sent to all open
//! clients, the sender included. Open the page in several browser windows and they chat.
//!
//! ```text
//! cargo run -p wsproto-tokio --example broadcast [WS_ADDR [PAGE_ADDR]] [--cert PEM --key PEM]
//! ```
//! then browse <http://localhost:1920> in several windows (`?autosend=TEXT` sends TEXT once connected).
//!
//! Each connection is split: its sending half is subscribed to a [`Hub`], and every message its receiving half
//! gets is published to the hub, which frames it once and queues the same bytes for every client. A client
//! that reads slowly only delays itself; one that falls more than [`BACKLOG`] messages (or [`BACKLOG_BYTES`])
//! behind is closed with 1008 rather than buffered without bound.

mod common;

use std::sync::Arc;

use common::{Peer, Site, Stream};
use wsproto_tokio::{CloseCode, CloseFrame, CloseOutcome, Error, Hub, HubConfig, Message, SlowPolicy, WebSocket};

const USAGE: &str =
    "broadcast [WS_ADDR (default 127.0.0.1:1919) [PAGE_ADDR (default 127.0.0.1:1920)]] [--cert CERT.pem --key KEY.pem]";

/// The chat page (the seed's `index.html`, connecting back to the host that served it).
const CHAT: &str = include_str!("common/chat.html");

/// Messages a client may fall behind before it is dropped.
const BACKLOG: usize = 256;
/// Bytes a client may fall behind before it is dropped.
const BACKLOG_BYTES: usize = 64 << 20;

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--cert", "--key"], 2);
    let tls = common::tls_acceptor(&args);
    let ws_listener = common::bind(args.positional_or(0, "127.0.0.1:1919"), tls.clone()).await;
    let page_listener = common::bind(args.positional_or(1, "127.0.0.1:1920"), tls).await;
    let scheme = page_listener.http_scheme();
    common::log(format_args!("open {scheme}://{}/ in several browser windows", page_listener.addr));

    let hub = Hub::new(
        HubConfig::default()
            .max_queued_messages(BACKLOG)
            .max_queued_bytes(BACKLOG_BYTES)
            .on_slow(SlowPolicy::Close(CloseCode::POLICY_VIOLATION)),
    );
    let site = Arc::new(Site {
        pages: &[("/", CHAT)],
        ws_paths: None,
        no_upgrade: (426, "WebSocket upgrade required\n"),
        handler: move |ws, peer| chat(ws, peer, hub.clone()),
    });
    tokio::join!(common::serve(ws_listener, site.clone()), common::serve(page_listener, site));
}

async fn chat(ws: WebSocket<Stream>, _peer: Peer, hub: Hub) -> Result<CloseOutcome, Error> {
    let (sender, mut receiver) = ws.split();
    // The greeting first, then every message published from now on.
    let id = hub.subscribe_after(sender, "connected to WebSocket server")?;

    let mut outcome = CloseOutcome::Abnormal;
    while let Some(msg) = receiver.recv().await {
        match msg {
            Ok(msg) if msg.is_data() => {
                // Framed once; queued for every client without waiting for any.
                if let Some(p) = hub.publish_message(&msg).filter(|p| p.slow > 0) {
                    common::log(format_args!("{} client(s) fell too far behind: closed with 1008", p.slow));
                }
            }
            Ok(Message::Close(frame)) => {
                let remote = frame.unwrap_or(CloseFrame { code: None, reason: String::new() });
                // Our close came first if the hub closed this client as too slow (and unsubscribed it).
                let initiated_locally = !hub.is_subscribed(id) && remote.code == Some(CloseCode::POLICY_VIOLATION);
                outcome = CloseOutcome::Clean { remote, initiated_locally };
            }
            Ok(_) => {}
            Err(e) => {
                hub.unsubscribe(id);
                return Err(e);
            }
        }
    }
    hub.unsubscribe(id);
    Ok(outcome)
}
