//! `hyper`: a WebSocket echo route in a plain hyper 1 service (no axum), with `wsproto_tokio::hyper::upgrade`.
//!
//! HTTP/1.1 with upgrades; the subprotocol `echo` and permessage-deflate are negotiated by the core. (For
//! HTTP/2, serve with `hyper::server::conn::http2` and `enable_connect_protocol()`: the same route takes RFC
//! 8441 CONNECTs.)
//!
//! ```text
//! cargo run -p wsproto-tokio --features hyper --example hyper [ADDR]
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use wsproto_tokio::Config;

// The route: check and answer the request, run the session once hyper hands the stream over.
async fn route(mut req: http::Request<hyper::body::Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (response, upgrade) = match wsproto_tokio::hyper::upgrade(&mut req, &Config::default(), &["echo"]) {
        Ok(accepted) => accepted,
        Err(refusal) => return Ok(refusal.response().map(|body| Full::new(body.into()))),
    };
    tokio::spawn(async move {
        let Ok(mut ws) = upgrade.finish().await else { return };
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_data() && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    Ok(response.map(|()| Full::default()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let conn = http1::Builder::new().serve_connection(TokioIo::new(tcp), service_fn(route)).with_upgrades();
        tokio::spawn(conn);
    }
}
