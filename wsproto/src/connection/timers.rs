//! Deadlines, on the caller's clock: keepalive ping after silence and the pong that must answer it, the
//! close handshake's deadline (RFC 6455 §7.1.1: how long to wait for the peer's close frame, and for a server
//! to close the transport), and the time a started message may take to complete.
//!
//! The driver passes the time to [`Connection::handle_timeout`] each time it wakes up (the first call starts
//! the timers) and sleeps until [`Connection::poll_timeout`]. Deadlines that commands arm (`close`) or that
//! input arms (a message starting, bytes that end a silence) count from the last time given, which is exact
//! when the driver gives the time at every wake-up, and early (never late) when it gives it less often.

use super::state::State;
use super::Connection;
use crate::config::Config;
use crate::error::{ProtocolError, Timeout};
use crate::time::Instant;

#[derive(Debug, Default)]
pub(super) struct Timers {
    /// The latest time the driver gave; `None` until the first [`Connection::handle_timeout`] (no timers run
    /// until then).
    now: Option<Instant>,
    /// When to send a keepalive ping if the peer stays silent.
    keepalive: Option<Instant>,
    /// When the keepalive ping's pong is due.
    pong: Option<Instant>,
    /// When the closing handshake must be done (the peer's close frame after ours), and, once the connection
    /// has ended, when the transport must be closed: a client stops waiting for the server's close (§7.1.1),
    /// and any driver stops flushing to a peer that does not read.
    close: Option<Instant>,
    /// When the data message being received must be complete.
    message: Option<Instant>,
}

impl Timers {
    /// Bytes arrived (in this wake-up, at the time last given): the peer's silence starts again.
    #[inline]
    pub(super) fn note_activity(&mut self, config: &Config) {
        if self.keepalive.is_some() {
            if let (Some(now), Some(k)) = (self.now, config.keepalive) {
                self.keepalive = Some(now + k.interval);
            }
        }
    }

    pub(super) fn message_started(&mut self, config: &Config) {
        if let (Some(now), Some(t)) = (self.now, config.message_timeout) {
            self.message = Some(now + t);
        }
    }

    pub(super) fn message_ended(&mut self) {
        self.message = None;
    }

    pub(super) fn pong_received(&mut self, config: &Config) {
        if self.pong.take().is_some() {
            self.keepalive = self.now.zip(config.keepalive).map(|(now, k)| now + k.interval);
        }
    }

    /// The state changed: arm or drop the deadlines that go with it.
    pub(super) fn on_state(&mut self, state: &State, config: &Config) {
        match state {
            State::Open => {}
            State::CloseSent => {
                self.keepalive = None;
                self.pong = None;
                self.arm_close(config);
            }
            State::Closed { .. } | State::Failed(_) => {
                // The end: what is left is closing the transport. A client waits for the server to close it
                // first (§7.1.1); either role gives up flushing its last frames to a peer that stopped reading.
                // Both within the close timeout (counted from our close frame, if that came first).
                self.keepalive = None;
                self.pong = None;
                self.message = None;
                self.arm_close(config);
            }
        }
    }

    fn arm_close(&mut self, config: &Config) {
        if self.close.is_none() {
            self.close = self.now.map(|now| now + config.close_timeout);
        }
    }

    fn earliest(&self) -> Option<Instant> {
        [self.keepalive, self.pong, self.close, self.message].into_iter().flatten().min()
    }
}

/// A deadline that passed.
enum Expired {
    Message,
    Pong,
    Close,
    Keepalive,
}

impl Connection {
    /// Tells the connection the time (on the caller's monotonic clock; see [`Instant`]). Call it each time the
    /// driver wakes up, and when [`poll_timeout`](Self::poll_timeout) passes. It fires what is due:
    ///
    /// - a keepalive ping after [`Keepalive::interval`](crate::Keepalive) of silence (queued for
    ///   [`poll_transmit`](Self::poll_transmit)), and failure with [`Timeout::Pong`] (1006, nothing sent) if no
    ///   pong arrives within [`Keepalive::timeout`](crate::Keepalive);
    /// - after our close frame, failure with [`Timeout::Close`] (1006) if the peer's close does not arrive
    ///   within [`Config::close_timeout`]; once the connection has ended, the same timeout bounds closing the
    ///   transport: a client whose closing handshake is done stops waiting for the server to close it
    ///   ([`wants_transport_closed`](Self::wants_transport_closed) turns true), and a driver still flushing
    ///   the last frames to a peer that does not read gives up when [`poll_timeout`](Self::poll_timeout)
    ///   passes;
    /// - failure with [`Timeout::Message`] (close 1008) if a data message is not complete within
    ///   [`Config::message_timeout`] of its first frame.
    ///
    /// The first call starts the timers; without it the connection has none. Time never goes back: an
    /// earlier `now` than a previous one counts as the previous one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsproto::{Config, Connection, Instant, Keepalive, Role};
    ///
    /// let config = Config::default().with_keepalive(Some(Keepalive::new(Duration::from_secs(30), Duration::from_secs(10))));
    /// let mut conn = Connection::new(Role::Server, config, [0; 32]).unwrap();
    /// let start = Instant::ZERO;
    /// conn.handle_timeout(start);
    /// assert_eq!(conn.poll_timeout(), Some(start + Duration::from_secs(30)));
    /// conn.handle_timeout(start + Duration::from_secs(30)); // 30 s of silence: a ping is due
    /// let mut out = Vec::new();
    /// assert!(conn.poll_transmit(&mut out));
    /// assert_eq!(out[0], 0x89); // FIN + ping
    /// ```
    pub fn handle_timeout(&mut self, now: Instant) {
        let first = self.timers.now.is_none();
        let now = self.timers.now.map_or(now, |before| before.max(now));
        self.timers.now = Some(now);
        if first {
            self.start_timers(now);
        }
        while let Some(expired) = self.expired(now) {
            match expired {
                Expired::Message => {
                    self.timers.message = None;
                    self.fail(ProtocolError::Timeout(Timeout::Message));
                }
                Expired::Pong => {
                    self.fail(ProtocolError::Timeout(Timeout::Pong));
                }
                Expired::Close => {
                    self.timers.close = None;
                    match self.life.state() {
                        State::CloseSent => {
                            self.fail(ProtocolError::Timeout(Timeout::Close));
                        }
                        _ => self.life.expire_linger(),
                    }
                }
                Expired::Keepalive => {
                    self.timers.keepalive = None;
                    if let Some(k) = self.config.keepalive {
                        self.pending_ping = true;
                        self.has_pending = true;
                        self.timers.pong = Some(now + k.timeout);
                    }
                }
            }
        }
    }

    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) when it passes. `None` when no timer
    /// runs (none configured, the connection ended, or `handle_timeout` was never called).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    fn start_timers(&mut self, now: Instant) {
        if let (State::Open, Some(k)) = (self.life.state(), self.config.keepalive) {
            self.timers.keepalive = Some(now + k.interval);
        }
        if self.message.is_some() {
            self.timers.message_started(&self.config);
        }
        self.timers.on_state(self.life.state(), &self.config);
    }

    fn expired(&self, now: Instant) -> Option<Expired> {
        let due = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        if due(self.timers.message) {
            Some(Expired::Message)
        } else if due(self.timers.pong) {
            Some(Expired::Pong)
        } else if due(self.timers.close) {
            Some(Expired::Close)
        } else if due(self.timers.keepalive) {
            Some(Expired::Keepalive)
        } else {
            None
        }
    }
}
