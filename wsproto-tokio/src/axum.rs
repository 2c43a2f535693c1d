//! An axum 0.8 extractor for WebSocket requests (feature `axum`): HTTP/1.1 upgrades (RFC 6455 §4) and, on a
//! server that enables HTTP/2's extended CONNECT, RFC 8441 requests — route with `any(...)` to take both.
//! Subprotocols and permessage-deflate are negotiated by the core ([`wsproto::handshake::ServerUpgrade`]).
//!
//! ```no_run
//! use axum::{response::Response, routing::any, Router};
//! use wsproto_tokio::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut ws| async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if msg.is_data() && ws.send(msg).await.is_err() { break }
//!         }
//!     })
//! }
//! let app: Router = Router::new().route("/ws", any(ws));
//! ```

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use hyper::upgrade::OnUpgrade;
use wsproto::handshake::{Form, ServerUpgrade};

use crate::config::Config;
use crate::hyper::{Refusal, UpgradedIo};
use crate::socket::WebSocket;

/// The WebSocket a route gets: hyper's upgraded stream (or HTTP/2 CONNECT stream) driven by the adapter.
pub type AxumWebSocket = WebSocket<UpgradedIo>;

/// Extracts a valid WebSocket request; [`on_upgrade`](Self::on_upgrade) answers it and runs the session.
/// Refused requests (a missing key, a wrong version…) are answered by the core's status and headers.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    upgrade: ServerUpgrade,
    on_upgrade: Option<OnUpgrade>,
    config: Config,
    protocols: Vec<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        let config = Config::default();
        let upgrade = crate::hyper::prepare(&parts.method, parts.version, &parts.headers, &parts.extensions, &config)
            .map_err(Rejection)?;
        Ok(WebSocketUpgrade {
            upgrade,
            on_upgrade: parts.extensions.remove::<OnUpgrade>(),
            config,
            protocols: Vec::new(),
        })
    }
}

impl WebSocketUpgrade {
    /// The adapter's settings (limits, deadlines, permessage-deflate in `config.protocol.deflate`). Default
    /// [`Config::default`]: deflate offered and accepted when this crate's `deflate` feature is on.
    pub fn config(mut self, config: Config) -> Self {
        self.upgrade = self.upgrade.with_config(config.protocol.clone());
        self.config = config;
        self
    }

    /// The subprotocols this route speaks, in order of preference: the first one the client offered is
    /// chosen (RFC 6455 §4.2.2). None offered in common: no subprotocol is answered.
    pub fn protocols<I: IntoIterator<Item = P>, P: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The subprotocol that will be chosen.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.upgrade.select_protocol(self.protocols.iter().map(String::as_str))
    }

    /// The subprotocols the client offered.
    pub fn offered_protocols(&self) -> &[String] {
        self.upgrade.protocols()
    }

    /// HTTP/1.1 upgrade or HTTP/2 extended CONNECT.
    pub fn form(&self) -> Form {
        self.upgrade.form()
    }

    /// Answers the request (101, or 200 over HTTP/2) and runs `callback` with the WebSocket on a new task
    /// once the stream is handed over. If the upgrade fails (the client went away) the callback is not run.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(AxumWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let choice = self.selected_protocol().map(str::to_string);
        match crate::hyper::accept(self.upgrade, self.on_upgrade, &self.config, choice) {
            Ok((response, upgrade)) => {
                tokio::spawn(async move {
                    if let Ok(ws) = upgrade.finish().await {
                        callback(ws).await;
                    }
                });
                response.map(|()| Body::empty())
            }
            Err(refusal) => Rejection(refusal).into_response(),
        }
    }
}

/// A request the extractor refused, answered with the core's status and headers.
#[derive(Debug)]
pub struct Rejection(pub Refusal);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.0.response().map(Body::from)
    }
}
