//! `console-client`: the ZIO HTTP "advanced" WebSocket client.
//!
//! Opens one long-lived connection (default `ws://localhost:8080/subscriptions`, the `subscriptions`
//! example) and, concurrently, sends every line read from stdin and prints every message that arrives
//! (`received: …` on stdout). At the end of input it closes the connection normally (1000) and exits; when
//! the server closes, it says so and exits. Status lines go to stderr.
//!
//! ```text
//! cargo run -p wsproto-tokio --example subscriptions    # in one terminal
//! cargo run -p wsproto-tokio --example console-client [URL] [--ca CERT.pem]
//! ```

mod common;

use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use wsproto_tokio::{CloseCode, Message};

const USAGE: &str = "console-client [URL (default ws://localhost:8080/subscriptions)] [--ca CERT.pem]";

#[tokio::main]
async fn main() {
    let args = common::parse_args(USAGE, &["--ca"], 1);
    let url = args.positional_or(0, "ws://localhost:8080/subscriptions");
    let ws = match wsproto_tokio::connect_with(url, common::connect_options(&args)).await {
        Ok((ws, _response)) => ws,
        Err(e) => {
            eprintln!("cannot connect to {url}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("connected to {url}");
    let (sender, mut receiver) = ws.split();

    // Stdin is read on a plain thread: a blocked console read must not keep the program from exiting when the
    // server closes. Lines go through a queue to the sending task.
    let (lines_tx, mut lines) = mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let we_closed = Arc::new(AtomicBool::new(false));
    let closed = we_closed.clone();
    tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            if let Err(e) = sender.send(line).await {
                eprintln!("cannot send: {e}");
                return;
            }
        }
        eprintln!("end of input: closing the connection");
        closed.store(true, Ordering::SeqCst);
        let _ = sender.close(CloseCode::NORMAL, "").await;
    });

    let mut status = 0;
    while let Some(msg) = receiver.recv().await {
        match msg {
            Ok(Message::Text(t)) => println!("received: {t}"),
            Ok(Message::Binary(b)) => println!("received: <{} bytes>", b.len()),
            Ok(Message::Close(frame)) => {
                let code = frame.as_ref().map(|f| f.to_string()).unwrap_or_else(|| "1005 (no status)".into());
                if we_closed.load(Ordering::SeqCst) {
                    eprintln!("connection closed: {code}");
                } else {
                    eprintln!("the server closed the connection: {code}");
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("connection failed: {e}");
                status = 1;
            }
        }
    }
    std::process::exit(status);
}
