//! The adapter's settings: the core's limits plus buffering and deadlines.

use std::time::Duration;

/// Keepalive: send a ping every `interval` of silence from the peer; fail if no pong within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// How long the peer may stay silent before we ping.
    pub interval: Duration,
    /// How long we wait for the pong.
    pub timeout: Duration,
}

/// Settings for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The protocol core's limits (frame, message, handshake sizes…).
    pub protocol: wsproto::Config,
    /// Sending waits (and the connection stops reading) while more than this many bytes wait to be written.
    /// Default 1 MiB. A peer that never reads cannot make us buffer much more than this.
    pub write_high_water: usize,
    /// How long to wait for the peer's close frame after ours, and (client) for the server to close TCP
    /// after the close exchange (RFC 6455 §7.1.1). Default 5 s.
    pub close_timeout: Duration,
    /// Optional keepalive pings. Default off.
    pub keepalive: Option<Keepalive>,
    /// Set `TCP_NODELAY` on TCP streams the adapter opens. Default true.
    pub nodelay: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // permessage-deflate offered and accepted, as browsers, Node `ws` and python `websockets` do (this
            // crate's `deflate` feature, on by default; the core's own default never compresses).
            protocol: wsproto::Config::default()
                .with_deflate(cfg!(feature = "deflate").then(wsproto::DeflateConfig::default)),
            write_high_water: 1 << 20,
            close_timeout: Duration::from_secs(5),
            keepalive: None,
            nodelay: true,
        }
    }
}

impl Config {
    /// Sets the core's limits.
    pub fn protocol(mut self, p: wsproto::Config) -> Self {
        self.protocol = p;
        self
    }

    /// Enables keepalive pings.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive = Some(Keepalive { interval, timeout });
        self
    }

    /// Sets the opening handshake's deadline ([`wsproto::Config::handshake_timeout`], default 10 s; the
    /// client's also covers connecting and TLS).
    pub fn handshake_timeout(mut self, t: Option<Duration>) -> Self {
        self.protocol.handshake_timeout = t;
        self
    }

    /// Sets the close deadline.
    pub fn close_timeout(mut self, t: Duration) -> Self {
        self.close_timeout = t;
        self
    }

    /// Sets the write high-water mark.
    pub fn write_high_water(mut self, n: usize) -> Self {
        self.write_high_water = n;
        self
    }
}
