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
//! Each connection is split: its receiver publishes to a broadcast channel, and a task per client forwards
//! from the channel to that client's sender. A client that reads slowly only delays itself; one that falls
//! more than [`BACKLOG`] messages behind is closed with 1008 rather than buffered without bound.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{Peer, Site, Stream};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use wsproto_tokio::{CloseCode, CloseFrame, CloseOutcome, Error, Message, WebSocket};

const USAGE: &str =
    "broadcast [WS_ADDR (default 127.0.0.1:1919) [PAGE_ADDR (default 127.0.0.1:1920)]] [--cert CERT.pem --key KEY.pem]";

/// The chat page (the seed's `index.html`, connecting back to the host that served it).
const CHAT: &str = include_str!("common/chat.html");

/// Messages a client may fall behind before it is dropped.
const BACKLOG: usize = 256;

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--cert", "--key"], 2);
    let tls = common::tls_acceptor(&args);
    let ws_listener = common::bind(args.positional_or(0, "127.0.0.1:1919"), tls.clone()).await;
    let page_listener = common::bind(args.positional_or(1, "127.0.0.1:1920"), tls).await;
    let scheme = page_listener.http_scheme();
    common::log(format_args!("open {scheme}://{}/ in several browser windows", page_listener.addr));

    let (hub, _) = broadcast::channel::<Message>(BACKLOG);
    let site = Arc::new(Site {
        pages: &[("/", CHAT)],
        ws_paths: None,
        no_upgrade: (426, "WebSocket upgrade required\n"),
        handler: move |ws, peer| chat(ws, peer, hub.clone()),
    });
    tokio::join!(common::serve(ws_listener, site.clone()), common::serve(page_listener, site));
}

async fn chat(ws: WebSocket<Stream>, peer: Peer, hub: broadcast::Sender<Message>) -> Result<CloseOutcome, Error> {
    let (sender, mut receiver) = ws.split();
    // Subscribe before the greeting: a client that has seen it will see every later message.
    let mut feed = hub.subscribe();
    sender.send("connected to WebSocket server").await?;

    let closed_by_us = Arc::new(AtomicBool::new(false));
    let forward = tokio::spawn({
        let (sender, closed_by_us) = (sender.clone(), closed_by_us.clone());
        async move {
            loop {
                match feed.recv().await {
                    Ok(msg) => {
                        if sender.send(msg).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        common::log(format_args!("{} fell {n} messages behind: closing it", peer.addr));
                        closed_by_us.store(true, Ordering::SeqCst);
                        let _ = sender.close(CloseCode::POLICY_VIOLATION, "too slow").await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });

    let mut outcome = CloseOutcome::Abnormal;
    while let Some(msg) = receiver.recv().await {
        match msg {
            // No receivers is not an error: this client subscribed, so there is at least one.
            Ok(msg) if msg.is_data() => {
                let _ = hub.send(msg);
            }
            Ok(Message::Close(frame)) => {
                let remote = frame.unwrap_or(CloseFrame { code: None, reason: String::new() });
                outcome = CloseOutcome::Clean { remote, initiated_locally: closed_by_us.load(Ordering::SeqCst) };
            }
            Ok(_) => {}
            Err(e) => {
                forward.abort();
                return Err(e);
            }
        }
    }
    forward.abort();
    Ok(outcome)
}
