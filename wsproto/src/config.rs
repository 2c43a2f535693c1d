//! Limits and behaviour switches, with safe defaults.

use core::time::Duration;

use crate::budget::Budget;
use crate::deflate::DeflateConfig;
// Re-exported for the modules that name it `config::ConfigError`.
pub(crate) use crate::error::ConfigError;

/// Keepalive (RFC 6455 §5.5.2): a ping after `interval` of silence from the peer; the connection fails if
/// no pong answers it within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keepalive {
    /// How long the peer may stay silent before we ping.
    pub interval: Duration,
    /// How long we wait for the pong.
    pub timeout: Duration,
}

impl Keepalive {
    /// A ping after `interval` of silence, answered within `timeout`.
    pub const fn new(interval: Duration, timeout: Duration) -> Keepalive {
        Keepalive { interval, timeout }
    }
}

/// How received data messages are handed to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReceiveMode {
    /// Whole messages: [`Event::Text`](crate::Event::Text) and [`Event::Binary`](crate::Event::Binary),
    /// reassembled from their fragments. Memory per message is bounded by
    /// [`Config::max_message_size`].
    #[default]
    Whole,
    /// Payload chunks as they arrive: [`Event::Fragment`](crate::Event::Fragment). A message of any size
    /// (up to [`Config::max_message_size`]) passes through in bounded memory. Text is still validated as
    /// UTF-8 across chunks, failing fast, but a chunk may end inside a code point.
    Streaming,
}

/// Limits and switches for one connection and its handshake.
///
/// Every limit is enforced on the peer's input; exceeding one fails the connection with the close code or
/// HTTP status given in its description. Build from [`Config::default()`] and adjust fields; the
/// constructors call [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload accepted in one frame. Default 16 MiB. Larger → close 1009.
    pub max_frame_payload: u64,
    /// Largest message (sum of its fragments). Default 64 MiB. Larger → close 1009, detected from the frame
    /// header that would cross the limit, before its payload arrives.
    pub max_message_size: u64,
    /// Most frames in one message. Default 1,048,576 (Autobahn 9.3/9.4 send 65,536). More → close 1009.
    /// Fragments cost no memory beyond their payload; this bounds CPU spent on tiny-fragment floods.
    pub max_fragments: u64,
    /// Most bytes fed to a connection and not yet turned into events. Default
    /// `max_frame_payload + 64 KiB`. In [`ReceiveMode::Whole`] a frame is kept whole until complete, so this
    /// must be at least the largest frame plus its header. [`Connection::feed`](crate::Connection::feed)
    /// refuses more; drivers read at most [`Connection::recv_capacity`](crate::Connection::recv_capacity).
    /// The earlier fragments of a message being reassembled do not count here (they count against
    /// [`max_message_size`](Self::max_message_size)), so a message may be larger than this.
    pub max_buffered: usize,
    /// Most bytes in an HTTP head (request or response line plus headers). Default 16 KiB. More → HTTP 431
    /// (server) or a handshake error (client).
    pub max_handshake_bytes: usize,
    /// Most header fields in an HTTP head. Default 64. More → HTTP 431.
    pub max_headers: usize,
    /// Most bytes of a rejection's body kept by the client handshake. Default 64 KiB.
    pub max_response_body: usize,
    /// Answer pings with pongs automatically (RFC 6455 §5.5.2). Default `true`. Pings are reported either
    /// way. Each ping gets its pong; past [`MAX_PENDING_PONGS`](crate::MAX_PENDING_PONGS) unsent
    /// pongs, the oldest are dropped (§5.5.3 allows answering only the latest), so a ping flood cannot grow
    /// memory.
    pub auto_pong: bool,
    /// Whole messages or streaming chunks. Default [`ReceiveMode::Whole`].
    pub receive_mode: ReceiveMode,
    /// permessage-deflate (RFC 7692): offered by a client, accepted by a server, with this policy. Default
    /// `None` in every build, whatever Cargo features are on: a connection compresses only when asked to
    /// (`with_deflate(Some(DeflateConfig::default()))`; setting it without the `deflate` feature is a config
    /// error). `wsproto-tokio`'s default config asks, as browsers do. The inflated size counts against
    /// [`max_message_size`](Self::max_message_size).
    pub deflate: Option<DeflateConfig>,
    /// How long the opening handshake may take, from the first
    /// [`handle_timeout`](crate::handshake::ServerHandshake::handle_timeout). Default 10 s. Passed → the
    /// handshake fails ([`Timeout::Handshake`](crate::Timeout::Handshake)); a server answers 408.
    pub handshake_timeout: Option<Duration>,
    /// How long to wait for the peer's close frame after ours, and (client) for the server to close the
    /// transport after the closing handshake (RFC 6455 §7.1.1). Default 5 s.
    pub close_timeout: Duration,
    /// Keepalive pings. Default: a ping after 30 s of silence, answered within 20 s, so that a peer that
    /// vanished (or never reads) is dropped within 50 s instead of holding its connection forever.
    pub keepalive: Option<Keepalive>,
    /// How long a data message may take to arrive, from its first frame. Default 60 s, so that a peer that
    /// starts a message and trickles it cannot hold its partial message (up to `max_message_size`) forever;
    /// at the default 64 MiB limit that still allows 1.1 MB/s. Passed → close 1008
    /// ([`Timeout::Message`](crate::Timeout::Message)).
    pub message_timeout: Option<Duration>,
    /// A memory pool shared with other connections (see [`Budget`]): past
    /// [`budget_floor`](Self::budget_floor), the bytes this connection holds for the peer's traffic (its
    /// receive buffer, the message being reassembled, inflated data) are drawn from it, and a connection that
    /// would grow while it is spent fails with 1013. Default `None` (each connection bounded only by its own
    /// limits).
    pub budget: Option<Budget>,
    /// What a connection may hold without drawing from [`budget`](Self::budget). Default 64 KiB: small
    /// messages never touch the shared pool.
    pub budget_floor: usize,
}

/// The default for [`Config::max_frame_payload`].
pub const DEFAULT_MAX_FRAME_PAYLOAD: u64 = 16 << 20;

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_payload: DEFAULT_MAX_FRAME_PAYLOAD,
            max_message_size: 64 << 20,
            max_fragments: 1 << 20,
            max_buffered: DEFAULT_MAX_FRAME_PAYLOAD as usize + (64 << 10),
            max_handshake_bytes: 16 << 10,
            max_headers: 64,
            max_response_body: 64 << 10,
            auto_pong: true,
            receive_mode: ReceiveMode::Whole,
            deflate: None,
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Duration::from_secs(5),
            keepalive: Some(Keepalive::new(Duration::from_secs(30), Duration::from_secs(20))),
            message_timeout: Some(Duration::from_secs(60)),
            budget: None,
            budget_floor: 64 << 10,
        }
    }
}

/// Builder methods: `Config::default().with_max_message_size(1 << 20).with_keepalive(…)`. Each sets one
/// field; [`Connection::new`](crate::Connection::new) and the handshakes validate the result.
impl Config {
    /// Sets [`max_frame_payload`](Self::max_frame_payload).
    pub fn with_max_frame_payload(mut self, n: u64) -> Self {
        self.max_frame_payload = n;
        self
    }

    /// Sets [`max_message_size`](Self::max_message_size).
    pub fn with_max_message_size(mut self, n: u64) -> Self {
        self.max_message_size = n;
        self
    }

    /// Sets [`max_fragments`](Self::max_fragments).
    pub fn with_max_fragments(mut self, n: u64) -> Self {
        self.max_fragments = n;
        self
    }

    /// Sets [`max_buffered`](Self::max_buffered).
    pub fn with_max_buffered(mut self, n: usize) -> Self {
        self.max_buffered = n;
        self
    }

    /// Sets [`max_handshake_bytes`](Self::max_handshake_bytes).
    pub fn with_max_handshake_bytes(mut self, n: usize) -> Self {
        self.max_handshake_bytes = n;
        self
    }

    /// Sets [`max_headers`](Self::max_headers).
    pub fn with_max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// Sets [`max_response_body`](Self::max_response_body).
    pub fn with_max_response_body(mut self, n: usize) -> Self {
        self.max_response_body = n;
        self
    }

    /// Sets [`auto_pong`](Self::auto_pong).
    pub fn with_auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Sets [`receive_mode`](Self::receive_mode).
    pub fn with_receive_mode(mut self, mode: ReceiveMode) -> Self {
        self.receive_mode = mode;
        self
    }

    /// Sets [`deflate`](Self::deflate).
    pub fn with_deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn with_handshake_timeout(mut self, t: Option<Duration>) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn with_close_timeout(mut self, t: Duration) -> Self {
        self.close_timeout = t;
        self
    }

    /// Sets [`keepalive`](Self::keepalive).
    pub fn with_keepalive(mut self, k: Option<Keepalive>) -> Self {
        self.keepalive = k;
        self
    }

    /// Sets [`budget`](Self::budget) (clone one [`Budget`] into the configs of the connections that share it).
    pub fn with_budget(mut self, budget: Option<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// Sets [`budget_floor`](Self::budget_floor).
    pub fn with_budget_floor(mut self, n: usize) -> Self {
        self.budget_floor = n;
        self
    }

    /// Sets [`message_timeout`](Self::message_timeout).
    pub fn with_message_timeout(mut self, t: Option<Duration>) -> Self {
        self.message_timeout = t;
        self
    }
}

impl Config {
    /// Checks that the limits are consistent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_payload == 0 || self.max_message_size == 0 {
            return Err(ConfigError::ZeroSize);
        }
        if self.max_frame_payload >= 1 << 63 || self.max_message_size >= 1 << 63 {
            return Err(ConfigError::SizeTooLarge);
        }
        if self.max_fragments == 0 {
            return Err(ConfigError::ZeroFragments);
        }
        if self.max_handshake_bytes < 128 {
            return Err(ConfigError::HandshakeBytesTooSmall);
        }
        if self.max_headers < 8 {
            return Err(ConfigError::TooFewHeaders);
        }
        if let Some(d) = &self.deflate {
            if !cfg!(feature = "deflate") {
                return Err(ConfigError::DeflateFeatureMissing);
            }
            d.validate()?;
        }
        let need = match self.receive_mode {
            ReceiveMode::Whole => self.max_frame_payload.min(self.max_message_size).saturating_add(14),
            ReceiveMode::Streaming => 125 + 14,
        };
        if (self.max_buffered as u64) < need.max(139) {
            return Err(ConfigError::BufferTooSmall);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn inconsistent_limits_are_errors() {
        let mut c = Config { max_buffered: 1000, ..Config::default() };
        assert_eq!(c.validate(), Err(ConfigError::BufferTooSmall));
        c.receive_mode = ReceiveMode::Streaming;
        c.validate().unwrap();
        c.max_fragments = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroFragments));
        let c = Config { max_frame_payload: 1 << 63, ..Config::default() };
        assert_eq!(c.validate(), Err(ConfigError::SizeTooLarge));
        assert_eq!(ConfigError::TooFewHeaders.to_string(), "invalid wsproto config: max_headers must be at least 8");
    }
}
