//! Fan-out server for `bench/fanout.py`: `fanout-server --mode tcp|percon|hub [--addr A] [--hub-bytes N]`
//! prints `listening ADDR`, then relays every message of its publisher to all its subscribers, on one thread.
//!
//! - `tcp`: the TCP fan-out ceiling. No WebSocket: a subscriber connects and sends `S`; the publisher sends
//!   `P`, then `[u32 length][server frame]` records (the frame built, and compressed if asked, by the
//!   publisher); the server writes the same frame bytes (`Bytes` clones) to every subscriber, a task each,
//!   batching with vectored writes.
//! - `percon`: wsproto-tokio per-connection sends, the way a server did it before prepared messages: a tokio
//!   broadcast channel, and a task per subscriber that `send`s each message on its `WebSocket` (so each
//!   connection frames, and with permessage-deflate compresses, the message itself).
//! - `hub`: wsproto-tokio's [`Hub`]: each message is published once (framed once; compressed once per
//!   parameter set when the subscribers negotiated `server_no_context_takeover`), the same bytes queued on
//!   every subscriber.
//!
//! In the WebSocket modes the publisher connects to `/pub`, any other path subscribes; permessage-deflate is
//! negotiated with whoever offers it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use wsproto_bench::util::{die, raise_nofile, Args};
use wsproto_tokio::{accept_with, Accept, Accepted, Config, Hub, HubConfig, Message, PreparedMessage, WebSocket};

fn main() {
    let a = Args::parse(&[]);
    raise_nofile();
    let mode: String = a.req("mode");
    let addr: String = a.get("addr", "127.0.0.1:0".to_string());
    let hub_bytes: usize = a.get("hub-bytes", 64 << 20);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| die(&format!("bind {addr}: {e}")));
        println!("listening {}", listener.local_addr().unwrap());
        match mode.as_str() {
            "tcp" => tcp(listener).await,
            "percon" | "hub" => ws(listener, mode == "hub", hub_bytes).await,
            _ => die("--mode is tcp, percon or hub"),
        }
    });
}

// ------------------------------------------------------------------------------------------- TCP ceiling

async fn tcp(listener: TcpListener) {
    let subs: Rc<RefCell<Vec<mpsc::UnboundedSender<Bytes>>>> = Rc::default();
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        let subs = subs.clone();
        tokio::task::spawn_local(async move {
            let mut role = [0u8];
            if tcp.read_exact(&mut role).await.is_err() {
                return;
            }
            if role[0] == b'S' {
                let (tx, rx) = mpsc::unbounded_channel();
                subs.borrow_mut().push(tx);
                tcp_writer(tcp, rx).await;
            } else {
                tcp_publisher(tcp, subs).await;
            }
        });
    }
}

/// Writes every frame it is given, as many as are queued in one vectored write.
async fn tcp_writer(mut tcp: TcpStream, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    let mut queue: VecDeque<Bytes> = VecDeque::new();
    while let Some(b) = rx.recv().await {
        queue.push_back(b);
        while let Ok(b) = rx.try_recv() {
            queue.push_back(b);
        }
        while !queue.is_empty() {
            let slices: Vec<IoSlice<'_>> = queue.iter().take(64).map(|b| IoSlice::new(b)).collect();
            let Ok(mut n) = tcp.write_vectored(&slices).await else { return };
            if n == 0 {
                return;
            }
            while n > 0 {
                let front = queue.front_mut().unwrap();
                if n >= front.len() {
                    n -= front.len();
                    queue.pop_front();
                } else {
                    let _ = front.split_to(n);
                    n = 0;
                }
            }
        }
    }
}

async fn tcp_publisher(mut tcp: TcpStream, subs: Rc<RefCell<Vec<mpsc::UnboundedSender<Bytes>>>>) {
    loop {
        let mut len = [0u8; 4];
        if tcp.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        if tcp.read_exact(&mut frame).await.is_err() {
            return;
        }
        let frame = Bytes::from(frame);
        subs.borrow_mut().retain(|s| s.send(frame.clone()).is_ok());
    }
}

// ------------------------------------------------------------------------------------------- WebSocket

async fn ws(listener: TcpListener, use_hub: bool, hub_bytes: usize) {
    let hub = Hub::new(HubConfig::default().max_queued_bytes(hub_bytes).max_queued_messages(1 << 20));
    let (feed, _) = broadcast::channel::<Bytes>(1 << 14);
    let mut config = Config::default().no_keepalive();
    if let Some(d) = config.protocol.deflate.as_mut() {
        // Accept the subscribers' offers as made (they offer server_no_context_takeover).
        d.server_no_context_takeover = true;
    }
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (hub, feed, config) = (hub.clone(), feed.clone(), config.clone());
        tokio::task::spawn_local(async move {
            let mut publisher = false;
            let accepted = accept_with(tcp, config, |req| {
                publisher = req.request.path() == "/pub";
                Ok(Accept::default())
            })
            .await;
            let Ok(Accepted::WebSocket(ws, _)) = accepted else { return };
            if publisher {
                publish(ws, use_hub.then_some(&hub), &feed).await;
            } else if use_hub {
                let (tx, mut rx) = ws.split();
                hub.subscribe(tx);
                while rx.recv().await.is_some() {}
            } else {
                per_connection(ws, feed.subscribe()).await;
            }
        });
    }
}

async fn publish(mut ws: WebSocket<TcpStream>, hub: Option<&Hub>, feed: &broadcast::Sender<Bytes>) {
    while let Some(Ok(msg)) = ws.recv().await {
        if let Message::Binary(b) = msg {
            match hub {
                Some(hub) => {
                    hub.publish(&PreparedMessage::new(wsproto_tokio::DataKind::Binary, &b));
                }
                None => {
                    let _ = feed.send(b);
                }
            }
        }
    }
}

async fn per_connection(mut ws: WebSocket<TcpStream>, mut feed: broadcast::Receiver<Bytes>) {
    loop {
        tokio::select! {
            m = feed.recv() => match m {
                Ok(b) => if ws.send(Message::Binary(b)).await.is_err() { return },
                Err(_) => return,
            },
            r = ws.recv() => if !matches!(r, Some(Ok(_))) { return },
        }
    }
}
