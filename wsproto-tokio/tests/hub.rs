//! The broadcast hub over real TCP on 127.0.0.1: every subscriber gets every message in order; a subscriber
//! that never reads is closed (or unsubscribed) per the slow-subscriber policy once its queue would pass its
//! bound, holds no more than that bound meanwhile, and the others keep receiving. Every wait is bounded
//! (`common::within`), every loop is bounded in count; no sleeps.

mod common;

use common::within;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use wsproto_tokio::wsproto::handshake::ClientRequest;
use wsproto_tokio::{accept_with, client_handshake, Accept, Accepted, CloseCode, Config, Message, WebSocket};
use wsproto_tokio::{Hub, HubConfig, SlowPolicy, SubscriberId};

/// Small socket buffers, so that a client that does not read fills them after a few kilobytes.
const SOCKET_BUFFER: u32 = 8 << 10;

fn config() -> Config {
    let mut c = Config::default().no_keepalive();
    c.protocol.deflate = None;
    c
}

async fn listener() -> TcpListener {
    let s = TcpSocket::new_v4().unwrap();
    // Accepted sockets inherit the listener's send buffer size.
    s.set_send_buffer_size(SOCKET_BUFFER).unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    s.listen(64).unwrap()
}

/// Connects a client, accepts it, and subscribes the server side's sender to `hub`; the server side's
/// receiver is drained in a task (so pings and close replies are answered).
async fn subscriber(listener: &TcpListener, hub: &Hub) -> (WebSocket<TcpStream>, SubscriberId) {
    let addr = listener.local_addr().unwrap();
    let client = async {
        let s = TcpSocket::new_v4().unwrap();
        s.set_recv_buffer_size(SOCKET_BUFFER).unwrap();
        let tcp = s.connect(addr).await.unwrap();
        client_handshake(tcp, ClientRequest::new(addr.to_string(), "/"), config()).await.unwrap().0
    };
    let server = async {
        let (tcp, _) = listener.accept().await.unwrap();
        match accept_with(tcp, config(), |_| Ok(Accept::default())).await.unwrap() {
            Accepted::WebSocket(ws, _) => ws,
            _ => panic!("not an upgrade"),
        }
    };
    let (client, server) = within("a connection", async { tokio::join!(client, server) }).await;
    let (tx, mut rx) = server.split();
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    (client, hub.subscribe(tx))
}

/// Message `i`: its number, padded to `len` bytes.
fn numbered(i: usize, len: usize) -> Vec<u8> {
    let mut m = (i as u32).to_be_bytes().to_vec();
    m.resize(len.max(4), (i % 251) as u8);
    m
}

fn number_of(msg: &Message) -> usize {
    match msg {
        Message::Binary(b) => u32::from_be_bytes(b[..4].try_into().unwrap()) as usize,
        other => panic!("expected a published message, got {other:?}"),
    }
}

/// Reads messages in a task, reporting each one's number.
fn reader(
    mut ws: WebSocket<TcpStream>,
    seen: mpsc::UnboundedSender<usize>,
) -> tokio::task::JoinHandle<WebSocket<TcpStream>> {
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_data() && seen.send(number_of(&msg)).is_err() {
                break;
            }
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
        ws
    })
}

#[tokio::test]
async fn every_subscriber_gets_every_message_in_order() {
    let hub = Hub::default();
    let listener = listener().await;
    let mut readers = Vec::new();
    for _ in 0..5 {
        let (ws, _) = subscriber(&listener, &hub).await;
        let (tx, rx) = mpsc::unbounded_channel();
        readers.push((reader(ws, tx), rx));
    }
    const N: usize = 300;
    for i in 0..N {
        let p = hub.publish_binary(&numbered(i, 1 + (i * 37) % 3000));
        assert_eq!(p.delivered, 5, "message {i}: {p:?}");
    }
    for (_, rx) in &mut readers {
        for i in 0..N {
            assert_eq!(within("a message", rx.recv()).await, Some(i), "in order");
        }
    }
}

#[tokio::test]
async fn unsubscribed_connections_get_nothing_more() {
    let hub = Hub::default();
    let listener = listener().await;
    let (a, _) = subscriber(&listener, &hub).await;
    let (b, b_id) = subscriber(&listener, &hub).await;
    let (ta, mut ra) = mpsc::unbounded_channel();
    let (tb, mut rb) = mpsc::unbounded_channel();
    let (_ha, _hb) = (reader(a, ta), reader(b, tb));
    assert_eq!(hub.publish_binary(&numbered(0, 10)).delivered, 2);
    let sender = hub.unsubscribe(b_id).expect("subscribed");
    assert!(!hub.is_subscribed(b_id) && hub.unsubscribe(b_id).is_none());
    assert_eq!(hub.publish_binary(&numbered(1, 10)).delivered, 1);
    // The connection itself is still open: a direct send reaches it, after what the hub sent.
    sender.send(Message::binary(numbered(2, 10))).await.unwrap();
    assert_eq!(within("a", ra.recv()).await, Some(0));
    assert_eq!(within("a", ra.recv()).await, Some(1));
    assert_eq!(within("b", rb.recv()).await, Some(0));
    assert_eq!(within("b", rb.recv()).await, Some(2), "b got nothing published after it left");
}

/// Publishes in lockstep with the readers that read (each message is published once all of them have it),
/// until the stuck subscriber is dropped. Returns how many messages it was given.
async fn publish_until_dropped(
    hub: &Hub,
    stuck: SubscriberId,
    readers: &mut [mpsc::UnboundedReceiver<usize>],
    len: usize,
    bound: usize,
) -> usize {
    const MAX: usize = 5000;
    for i in 0..MAX {
        let queued = hub.queued_bytes(stuck).expect("still subscribed");
        assert!(queued <= bound, "the stuck subscriber holds {queued} bytes, over its bound {bound}");
        let p = hub.publish_binary(&numbered(i, len));
        for rx in readers.iter_mut() {
            assert_eq!(within("a fast reader", rx.recv()).await, Some(i), "the others get every message in order");
        }
        if p.slow == 1 {
            assert_eq!(p.delivered, readers.len());
            assert!(!hub.is_subscribed(stuck));
            return i;
        }
        assert_eq!(p.delivered, readers.len() + 1, "{p:?}");
    }
    panic!("the stuck subscriber was never dropped in {MAX} messages");
}

#[tokio::test]
async fn a_subscriber_that_never_reads_is_closed_with_1013_and_the_others_keep_receiving() {
    const BOUND: usize = 64 << 10;
    const LEN: usize = 4 << 10;
    let hub =
        Hub::new(HubConfig::default().max_queued_bytes(BOUND).on_slow(SlowPolicy::Close(CloseCode::TRY_AGAIN_LATER)));
    let listener = listener().await;
    let (mut stuck, stuck_id) = subscriber(&listener, &hub).await;
    let mut rxs = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (ws, _) = subscriber(&listener, &hub).await;
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(reader(ws, tx));
        rxs.push(rx);
    }
    let given = publish_until_dropped(&hub, stuck_id, &mut rxs, LEN, BOUND).await;
    assert!(given >= BOUND / LEN - 1, "dropped after {given} messages, before its bound");
    // The others keep receiving, in order.
    for i in given + 1..given + 51 {
        assert_eq!(hub.publish_binary(&numbered(i, LEN)).delivered, 3);
        for rx in &mut rxs {
            assert_eq!(within("a fast reader", rx.recv()).await, Some(i));
        }
    }
    // The stuck client, reading at last, finds every message it was given, in order, then the close: 1013.
    for i in 0..given {
        let msg = within("a queued message", stuck.recv()).await.unwrap().unwrap();
        assert_eq!(number_of(&msg), i);
    }
    match within("the close", stuck.recv()).await {
        Some(Ok(Message::Close(Some(f)))) => assert_eq!(f.code, Some(CloseCode::TRY_AGAIN_LATER), "{f}"),
        other => panic!("expected a close with 1013, got {other:?}"),
    }
    within("the end", async { while stuck.recv().await.is_some() {} }).await;
    assert_eq!(stuck.close_outcome().unwrap().code(), CloseCode::TRY_AGAIN_LATER);
}

#[tokio::test]
async fn a_subscriber_past_its_message_bound_is_unsubscribed_and_left_open() {
    const MESSAGES: usize = 16;
    let hub = Hub::new(HubConfig::default().max_queued_messages(MESSAGES).on_slow(SlowPolicy::Unsubscribe));
    let listener = listener().await;
    let (mut stuck, stuck_id) = subscriber(&listener, &hub).await;
    let (ws, _) = subscriber(&listener, &hub).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let _task = reader(ws, tx);
    let mut rxs = [rx];
    let given = publish_until_dropped(&hub, stuck_id, &mut rxs, 1 << 10, usize::MAX).await;
    assert!(given >= MESSAGES, "dropped after {given} messages, before its bound");
    for i in 0..given {
        let msg = within("a queued message", stuck.recv()).await.unwrap().unwrap();
        assert_eq!(number_of(&msg), i);
    }
    // Not closed: the connection is its owner's; the client closes it normally.
    let outcome = within("the closing handshake", stuck.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(outcome.code(), CloseCode::NORMAL);
}
