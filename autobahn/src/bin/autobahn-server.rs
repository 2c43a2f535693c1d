//! Echo server for Autobahn's `fuzzingclient` mode: `autobahn-server 127.0.0.1:PORT`.
//!
//! Echoes every text and binary message unchanged with `recv_with`: each message is handled borrowed in the
//! receive buffer (the core's in-place path for whole and gathered fragmented messages, the general path for
//! the rest) and its echo queued, written in one batch when the connection would wait for input.

use tokio::net::TcpListener;
use wsproto_tokio::{accept_with, Accept, Accepted, Config};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("autobahn-server listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            let ws = match accept_with(tcp, Config::default(), |_| Ok(Accept::default())).await {
                Ok(Accepted::WebSocket(ws, _)) => ws,
                Ok(_) => return,
                Err(e) => {
                    eprintln!("handshake: {e}");
                    return;
                }
            };
            echo(ws).await;
        });
    }
}

async fn echo<S>(mut ws: wsproto_tokio::WebSocket<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut failed = false;
    while let Some(Ok(_)) = ws
        .recv_with(|event, tx| {
            if let Some((kind, data)) = event.data() {
                failed |= tx.send(kind, data).is_err();
            }
        })
        .await
    {
        if failed {
            break;
        }
    }
}
