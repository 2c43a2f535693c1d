//! An echo server and a client on smol, with `wsproto-futures`, on 127.0.0.1 (an ephemeral port): the client
//! sends two messages, checks the echoes and closes with 1000.
//!
//! ```text
//! cargo run -p wsproto-futures --features smol --example smol-echo
//! ```
//!
//! The server is the whole embedding: accept with the core's handshake, then receive and queue echoes (a batch
//! of echoes leaves in one write); every deadline (handshake, close, keepalive) is the core's.

use smol::net::{TcpListener, TcpStream};
use wsproto::handshake::ClientRequest;
use wsproto::{CloseCode, Config, Event};
use wsproto_futures::{accept, client_handshake, Error, SmolTimer};

async fn serve(stream: TcpStream) -> Result<(), Error> {
    let mut ws = accept(stream, Config::default(), SmolTimer).await?;
    while let Some(event) = ws.recv().await {
        match event? {
            Event::Text(t) => ws.queue(t.as_str())?,
            Event::Binary(b) => ws.queue(b)?,
            _ => {}
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let server = smol::spawn(async move {
            let (stream, _) = listener.accept().await?;
            serve(stream).await
        });

        let stream = TcpStream::connect(&addr).await?;
        let (mut ws, _, _) =
            client_handshake(stream, ClientRequest::new(addr, "/"), Config::default(), SmolTimer).await?;
        ws.send("Hello").await?;
        ws.send(vec![1u8, 2, 3]).await?;
        for _ in 0..2 {
            println!("echo: {:?}", ws.recv().await.ok_or("closed early")??);
        }
        let outcome = ws.close(CloseCode::NORMAL, "bye").await?;
        println!("closed: {outcome:?}");
        server.await?;
        Ok(())
    })
}
