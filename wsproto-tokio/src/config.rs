//! The adapter's settings: the core's limits and deadlines, plus buffering.

use std::time::Duration;

pub use wsproto::Keepalive;

use crate::stats::Stats;

/// Settings for one connection.
///
/// The protocol's limits and deadlines (handshake, close, keepalive, message) are the core's
/// ([`wsproto::Config`], in [`protocol`](Self::protocol)); the builder methods here set the common ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The protocol core's limits and deadlines (frame, message, handshake sizes; handshake, close,
    /// keepalive and message timeouts; the memory budget).
    pub protocol: wsproto::Config,
    /// Sending waits (and the connection stops reading) while more than this many bytes wait to be written.
    /// Default 1 MiB. A peer that never reads cannot make us buffer much more than this.
    pub write_high_water: usize,
    /// Set `TCP_NODELAY` on TCP streams the adapter opens. Default true.
    pub nodelay: bool,
    /// Counters this connection adds to (refusals, ends by close code, failures, budget refusals, timeouts),
    /// shared with every connection given the same [`Stats`]. Default none.
    pub stats: Option<Stats>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // permessage-deflate offered and accepted, as browsers, Node `ws` and python `websockets` do (this
            // crate's `deflate` feature, on by default; the core's own default never compresses).
            protocol: wsproto::Config::default()
                .with_deflate(cfg!(feature = "deflate").then(wsproto::DeflateConfig::default)),
            write_high_water: 1 << 20,
            nodelay: true,
            stats: None,
        }
    }
}

impl Config {
    /// Sets the core's limits and deadlines.
    pub fn protocol(mut self, p: wsproto::Config) -> Self {
        self.protocol = p;
        self
    }

    /// Keepalive pings ([`wsproto::Config::keepalive`]; default a ping after 30 s of silence, answered
    /// within 20 s).
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.protocol.keepalive = Some(Keepalive::new(interval, timeout));
        self
    }

    /// No keepalive pings.
    pub fn no_keepalive(mut self) -> Self {
        self.protocol.keepalive = None;
        self
    }

    /// Sets the opening handshake's deadline ([`wsproto::Config::handshake_timeout`], default 10 s; the
    /// client's also covers connecting and TLS).
    pub fn handshake_timeout(mut self, t: Option<Duration>) -> Self {
        self.protocol.handshake_timeout = t;
        self
    }

    /// Sets the close deadline ([`wsproto::Config::close_timeout`], default 5 s).
    pub fn close_timeout(mut self, t: Duration) -> Self {
        self.protocol.close_timeout = t;
        self
    }

    /// Counts this connection's refusal, failure or end in `stats` (clone one [`Stats`] into the config of
    /// every connection of a listener, or of any group).
    pub fn stats(mut self, stats: Stats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Sets the write high-water mark.
    pub fn write_high_water(mut self, n: usize) -> Self {
        self.write_high_water = n;
        self
    }
}
