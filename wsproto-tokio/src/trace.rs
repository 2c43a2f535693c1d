//! What the adapter reports about a connection's life: the [`Stats`] counters (when the [`Config`] carries
//! them) and, with the `tracing` feature, a span per connection and an event per opening, refusal, failure
//! and end. The kinds are the core's (see [`stats`](crate::stats)); nothing here decides anything.
//!
//! Events (target `wsproto_tokio`, each with a `kind` field):
//!
//! | `kind` | level | when | fields |
//! |---|---|---|---|
//! | `opened` | DEBUG | handshake done | `deflate`, `subprotocol` |
//! | `refused` | INFO | a server refused an upgrade | `status` (400, 408, 414, 426, 431, or a hook's), `reason` |
//! | `protocol_error` | INFO | we failed the connection: the peer broke RFC 6455 | `code` (1002, 1007), `error` |
//! | `limit` | INFO | a frame, message or fragment limit was crossed | `code` (1009), `error` |
//! | `budget` | INFO | the shared memory budget refused a connection | `code` (1013), `error` |
//! | `timeout` | INFO | a deadline passed (handshake, pong, close, message) | `timeout`, `code` |
//! | `closed` | DEBUG | the connection ended | `code`, `who` (local, peer, failed, transport), `duration_ms` |
//!
//! The span (`websocket`, DEBUG) carries `role`, and `peer` when the adapter opened the TCP connection; a
//! server's span is a child of the current one, so instrument the connection's task with its peer address.
//! Without the feature none of this is compiled; with it, a filtered-out event costs its callsite's interest
//! check and allocates nothing (fields are formatted only for a subscriber that wants them).

#[cfg(feature = "tracing")]
use wsproto::{CloseOutcome, ProtocolError};
use wsproto::{Connection, Role, Timeout};

use crate::config::Config;
use crate::stats::Stats;

/// One connection's reporter, kept in its state.
pub(crate) struct Observer {
    stats: Option<Stats>,
    /// Reported its end (once).
    ended: bool,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "tracing")]
    started: tokio::time::Instant,
}

impl Observer {
    /// A connection has opened (its handshake is done).
    pub(crate) fn new(config: &Config, role: Role) -> Observer {
        if let Some(s) = &config.stats {
            s.opened();
        }
        #[cfg(not(feature = "tracing"))]
        let _ = role;
        Observer {
            stats: config.stats.clone(),
            ended: false,
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                target: "wsproto_tokio",
                "websocket",
                role = if role == Role::Server { "server" } else { "client" },
                peer = tracing::field::Empty,
            ),
            #[cfg(feature = "tracing")]
            started: tokio::time::Instant::now(),
        }
    }

    /// The `opened` event.
    #[allow(unused_variables)]
    pub(crate) fn opened(&self, deflate: bool, subprotocol: Option<&str>) {
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "wsproto_tokio", parent: &self.span, kind = "opened", deflate, subprotocol,
            "WebSocket opened");
    }

    /// Records the peer's address on the span.
    #[allow(unused_variables)]
    pub(crate) fn peer(&self, addr: std::net::SocketAddr) {
        #[cfg(feature = "tracing")]
        self.span.record("peer", tracing::field::display(addr));
    }

    /// The connection has ended (or is dropped: `conn` not finished): counts and reports it, once.
    pub(crate) fn ended(&mut self, conn: &Connection) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let outcome = conn.close_outcome();
        if let Some(s) = &self.stats {
            s.ended(outcome);
        }
        #[cfg(feature = "tracing")]
        self.trace_end(outcome);
    }

    #[cfg(feature = "tracing")]
    fn trace_end(&self, outcome: Option<&CloseOutcome>) {
        use tracing::{debug, info};
        let span = &self.span;
        if let Some(CloseOutcome::Failed(e)) = outcome {
            let code = e.close_code().0;
            match e {
                ProtocolError::UnexpectedEof => {}
                ProtocolError::Timeout(t) => {
                    info!(target: "wsproto_tokio", parent: span, kind = "timeout", timeout = timeout_name(*t), code,
                        "WebSocket deadline passed: {e}")
                }
                ProtocolError::BudgetExhausted => {
                    info!(target: "wsproto_tokio", parent: span, kind = "budget", code, error = %e,
                        "WebSocket refused by the memory budget")
                }
                ProtocolError::FrameTooLarge { .. }
                | ProtocolError::MessageTooLarge { .. }
                | ProtocolError::TooManyFragments { .. } => {
                    info!(target: "wsproto_tokio", parent: span, kind = "limit", code, error = %e,
                        "WebSocket limit hit")
                }
                _ => info!(target: "wsproto_tokio", parent: span, kind = "protocol_error", code, error = %e,
                    "WebSocket protocol error"),
            }
        }
        let (who, code) = crate::stats::closer(outcome);
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        debug!(target: "wsproto_tokio", parent: span, kind = "closed", code = code.0, who = who.as_str(), duration_ms,
            "WebSocket closed");
    }
}

#[cfg(feature = "tracing")]
fn timeout_name(t: Timeout) -> &'static str {
    match t {
        Timeout::Handshake => "handshake",
        Timeout::Pong => "pong",
        Timeout::Close => "close",
        _ => "message",
    }
}

/// A server refused an upgrade with `status` (the library's answer to a bad request, or a hook's rejection).
#[allow(unused_variables)]
pub(crate) fn refused(config: &Config, status: u16, reason: &dyn std::fmt::Display) {
    if let Some(s) = &config.stats {
        s.refused(status);
    }
    #[cfg(feature = "tracing")]
    tracing::info!(target: "wsproto_tokio", kind = "refused", status, reason = %reason, "WebSocket upgrade refused");
}

/// A server refused a malformed or late request with its status (a timeout is also a handshake timeout; a
/// peer that left before its head was complete was refused nothing).
pub(crate) fn refused_request(config: &Config, e: &wsproto::handshake::RequestError) {
    use wsproto::handshake::RequestError;
    match e {
        RequestError::Eof => {}
        RequestError::Timeout => {
            handshake_timeout(config);
            refused(config, e.status(), e);
        }
        e => refused(config, e.status(), e),
    }
}

/// A handshake (server or client) missed its deadline.
pub(crate) fn handshake_timeout(config: &Config) {
    if let Some(s) = &config.stats {
        s.timed_out(Timeout::Handshake);
    }
    #[cfg(feature = "tracing")]
    tracing::info!(target: "wsproto_tokio", kind = "timeout", timeout = "handshake", "WebSocket handshake timed out");
}
