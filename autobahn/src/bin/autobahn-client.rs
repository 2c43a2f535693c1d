//! Case-running client for Autobahn's `fuzzingserver` mode: `autobahn-client ws://127.0.0.1:PORT [AGENT]`.
//!
//! Asks `/getCaseCount`, runs `/runCase?case=N&agent=AGENT` for every case (echoing each message with
//! `recv_with`), then
//! opens `/updateReports?agent=AGENT`.

use wsproto_tokio::{connect_with, CloseCode, ConnectOptions, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = std::env::args().nth(2).unwrap_or_else(|| "wsproto".into());
    let count = case_count(&base).await?;
    eprintln!("running {count} cases against {base} as {agent}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = run_case(&url).await {
            eprintln!("case {case}: {e}");
        }
    }
    let (mut ws, _) = connect_with(&format!("{base}/updateReports?agent={agent}"), ConnectOptions::default()).await?;
    let _ = ws.close(CloseCode::NORMAL, "").await;
    eprintln!("reports updated");
    Ok(())
}

async fn case_count(base: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let (mut ws, _) = connect_with(&format!("{base}/getCaseCount"), ConnectOptions::default()).await?;
    while let Some(msg) = ws.recv().await {
        if let Message::Text(t) = msg? {
            let n = t.trim().parse()?;
            let _ = ws.close(CloseCode::NORMAL, "").await;
            return Ok(n);
        }
    }
    Err("no case count received".into())
}

/// Echoes every message of one case with `recv_with` (messages handled borrowed in the receive buffer).
async fn run_case(url: &str) -> Result<(), wsproto_tokio::Error> {
    let (mut ws, _) = connect_with(url, ConnectOptions::default()).await?;
    let mut failure = None;
    while let Some(r) = ws
        .recv_with(|event, tx| {
            if let Some((kind, data)) = event.data() {
                if let Err(e) = tx.send(kind, data) {
                    failure.get_or_insert(e);
                }
            }
        })
        .await
    {
        r?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
    }
    Ok(())
}
