//! Prepared messages through the adapter: a server writes the shared frame bytes themselves (vectored I/O,
//! no copy), over a recording stream and over real TCP to several clients; a client encodes its own masked
//! copy.

mod common;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use common::within;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use wsproto_tokio::{accept_with, connect_with, Accept, Accepted, Config, ConnectOptions, DataKind, Message};
use wsproto_tokio::{PreparedMessage, WebSocket};

/// A stream that never has input and records every write: the bytes, and where each slice came from.
#[derive(Default, Clone)]
struct Recorder {
    out: Arc<Mutex<Vec<u8>>>,
    slices: Arc<Mutex<Vec<(usize, usize)>>>,
}

impl AsyncRead for Recorder {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.slices.lock().unwrap().push((buf.as_ptr() as usize, buf.len()));
        self.out.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(self: Pin<&mut Self>, _: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let mut n = 0;
        for b in bufs {
            self.slices.lock().unwrap().push((b.as_ptr() as usize, b.len()));
            self.out.lock().unwrap().extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn server_over(rec: &Recorder) -> WebSocket<Recorder> {
    let protocol = wsproto::Config::default().with_deflate(None);
    let conn = wsproto::Connection::new(wsproto::Role::Server, protocol, [7; 32]).unwrap();
    WebSocket::from_connection(rec.clone(), conn, Config::default().no_keepalive())
}

#[tokio::test]
async fn a_server_writes_the_shared_frame_itself() {
    let msg = PreparedMessage::new(DataKind::Binary, vec![5u8; 64 << 10]);
    let frame = msg.frame().clone();
    let recs: Vec<Recorder> = (0..3).map(|_| Recorder::default()).collect();
    for (i, rec) in recs.iter().enumerate() {
        let mut ws = server_over(rec);
        if i == 1 {
            ws.queue(Message::text("first")).await.unwrap();
            ws.queue_prepared(&msg).await.unwrap();
            ws.flush().await.unwrap();
        } else {
            ws.send_prepared(&msg).await.unwrap();
        }
        // The payload left from the prepared frame's own memory: one slice is the whole shared frame.
        let slices = rec.slices.lock().unwrap().clone();
        assert!(
            slices.contains(&(frame.as_ptr() as usize, frame.len())),
            "the shared frame was written in place (connection {i}): {slices:?}"
        );
        let out = rec.out.lock().unwrap().clone();
        assert_eq!(&out[out.len() - frame.len()..], &frame[..], "the frame is last, whole, in order");
        if i == 1 {
            assert_eq!(&out[..7], b"\x81\x05first", "the queued message first");
        }
    }
}

#[tokio::test]
async fn a_small_prepared_frame_is_copied_into_the_batch() {
    let msg = PreparedMessage::new(DataKind::Text, "tick");
    let rec = Recorder::default();
    let mut ws = server_over(&rec);
    ws.send_prepared(&msg).await.unwrap();
    assert_eq!(&rec.out.lock().unwrap()[..], &msg.frame()[..]);
}

/// A server that sends `msgs` to each of `n` clients with `send_prepared` (half of them through split
/// senders), and clients that check every message.
async fn fan_out(n: usize, deflate: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let msgs: Vec<PreparedMessage> = vec![
        PreparedMessage::new(DataKind::Text, "hello, everyone"),
        PreparedMessage::new(DataKind::Binary, (0..100_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()),
        PreparedMessage::new(DataKind::Text, "ab".repeat(20_000)),
    ];
    let server_config = move || {
        let d = deflate.then(|| {
            let mut d = wsproto::DeflateConfig::default();
            d.server_no_context_takeover = true;
            d
        });
        Config::default().protocol(wsproto::Config::default().with_deflate(d))
    };
    let server = tokio::spawn({
        let msgs = msgs.clone();
        async move {
            let mut tasks = Vec::new();
            for i in 0..n {
                let (tcp, _) = listener.accept().await.unwrap();
                let Accepted::WebSocket(mut ws, _) =
                    accept_with(tcp, server_config(), |_| Ok(Accept::default())).await.unwrap()
                else {
                    panic!("not an upgrade")
                };
                let msgs = msgs.clone();
                tasks.push(tokio::spawn(async move {
                    if i % 2 == 0 {
                        for m in &msgs {
                            ws.send_prepared(m).await.unwrap();
                        }
                        while ws.recv().await.is_some() {}
                    } else {
                        let (tx, mut rx) = ws.split();
                        for m in &msgs {
                            tx.send_prepared(m).await.unwrap();
                        }
                        while rx.recv().await.is_some() {}
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    });
    let mut clients = Vec::new();
    for _ in 0..n {
        // The adapter's default offers permessage-deflate.
        let mut config = Config::default();
        if !deflate {
            config.protocol.deflate = None;
        }
        let opts = ConnectOptions { config, ..Default::default() };
        let (ws, resp) = within("connect", connect_with(&format!("ws://{addr}/"), opts)).await.unwrap();
        let ext = resp.header("sec-websocket-extensions").is_some();
        assert_eq!(ext, deflate, "permessage-deflate negotiated as asked");
        clients.push(ws);
    }
    for (c, ws) in clients.iter_mut().enumerate() {
        for (i, m) in msgs.iter().enumerate() {
            let got = within("a message", ws.recv()).await.unwrap().unwrap();
            let want = match m.kind() {
                DataKind::Text => Message::text(std::str::from_utf8(m.payload()).unwrap()),
                DataKind::Binary => Message::binary(m.payload().to_vec()),
            };
            assert!(got == want, "client {c} message {i}");
        }
        // The client's own prepared sends are masked copies; the server reads them as messages.
        let back = PreparedMessage::new(DataKind::Text, "from a client");
        ws.send_prepared(&back).await.unwrap();
        within("close", ws.close(wsproto_tokio::CloseCode::NORMAL, "")).await.unwrap();
    }
    within("the server", server).await.unwrap();
}

#[tokio::test]
async fn clients_over_tcp_receive_every_prepared_message_intact() {
    fan_out(6, false).await;
}

#[tokio::test]
async fn clients_over_tcp_receive_prepared_messages_compressed_once() {
    fan_out(4, true).await;
}
