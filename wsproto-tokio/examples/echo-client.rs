//! `echo-client`: the browser WebSocket intro's `index.js`, as a program.
//!
//! Connects, sends `Hello WebSocket!`, one second after start sends `Hello World!`, and closes after two
//! seconds, printing what happens:
//!
//! ```text
//! connected
//! client -> server: Hello WebSocket!
//! client <- server: Hello WebSocket!
//! client -> server: Hello World!
//! client <- server: Hello World!
//! disconnected
//! ```
//!
//! ```text
//! cargo run -p wsproto-tokio --example echo-client [URL (default ws://localhost:8080/)] [--ca CERT.pem]
//! cargo run -p wsproto-tokio --example echo-client wss://echo.websocket.org
//! ```
//! `--ca` trusts that PEM certificate for `wss://` (e.g. the self-signed one `echo --cert` serves); without it,
//! the web's root certificates are trusted.

mod common;

use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use wsproto_tokio::{CloseCode, CloseFrame, Message};

const USAGE: &str = "echo-client [URL (default ws://localhost:8080/)] [--ca CERT.pem]";

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--ca"], 1);
    let url = args.positional_or(0, "ws://localhost:8080/");
    let opts = common::connect_options(&args);
    let start = Instant::now();
    let second_message = sleep_until(start + Duration::from_secs(1));
    let close = sleep_until(start + Duration::from_secs(2));
    tokio::pin!(second_message, close);

    let mut ws = match wsproto_tokio::connect_with(url, opts).await {
        Ok((ws, _response)) => ws,
        Err(e) => {
            println!("error: cannot connect to {url}: {e}");
            println!("disconnected");
            std::process::exit(1);
        }
    };
    println!("connected");
    let (mut sent_second, mut closing) = (false, false);
    let mut failed = false;
    match ws.send("Hello WebSocket!").await {
        Ok(()) => println!("client -> server: Hello WebSocket!"),
        Err(e) => {
            println!("error: {e}");
            failed = true;
        }
    }
    while !failed {
        tokio::select! {
            msg = ws.recv() => match msg {
                Some(Ok(Message::Text(t))) => println!("client <- server: {t}"),
                Some(Ok(Message::Binary(b))) => println!("client <- server: <{} bytes>", b.len()),
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    println!("error: {e}");
                    failed = true;
                }
            },
            _ = &mut second_message, if !sent_second => {
                sent_second = true;
                match ws.send("Hello World!").await {
                    Ok(()) => println!("client -> server: Hello World!"),
                    Err(e) => {
                        println!("error: {e}");
                        failed = true;
                    }
                }
            }
            _ = &mut close, if !closing => {
                closing = true;
                // Start the closing handshake and read on: replies still in flight are printed.
                let frame = CloseFrame { code: Some(CloseCode::NORMAL), reason: String::new() };
                if let Err(e) = ws.send(Message::Close(Some(frame))).await {
                    println!("error: {e}");
                    failed = true;
                }
            }
        }
    }
    // Wait for the end of the closing handshake and for the server to close TCP.
    while ws.recv().await.is_some() {}
    println!("disconnected");
    if failed {
        std::process::exit(1);
    }
}
