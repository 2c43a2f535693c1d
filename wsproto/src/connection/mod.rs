//! The connection state machine after the opening handshake (RFC 6455 §5–§7), for either role.
//!
//! # Drive contract
//!
//! A [`Connection`] never performs I/O and never reads a clock. Its driver repeats, each time it wakes up:
//!
//! 1. **Time**: [`handle_timeout(now)`](Connection::handle_timeout) with the current time. The first call
//!    starts the timers (keepalive, close, message deadlines); a driver that never calls it gets none.
//! 2. **Input**: [`feed`](Connection::feed) the bytes read from the transport (at most
//!    [`recv_capacity`](Connection::recv_capacity)), or [`feed_eof`](Connection::feed_eof) when it ends.
//! 3. **Events**: [`poll_event`](Connection::poll_event) until it returns `Ok(None)` (need more bytes) or an
//!    error (the connection failed; the error repeats on later calls). Or, borrowed and batched,
//!    [`poll_batch`](Connection::poll_batch) with a handler that replies through a [`Responder`].
//! 4. **Commands**: [`send_text`](Connection::send_text), [`send_binary`](Connection::send_binary),
//!    [`send`](Connection::send), [`send_fragment`](Connection::send_fragment),
//!    [`send_ping`](Connection::send_ping), [`close`](Connection::close) encode frames into a caller-owned
//!    `Vec<u8>`.
//! 5. **Output**: [`poll_transmit`](Connection::poll_transmit) appends what the connection sends on its own
//!    (pongs, keepalive pings, the close reply, the close frame that fails a connection). Write the buffer to
//!    the transport.
//! 6. **Transport close**: once [`wants_transport_closed`](Connection::wants_transport_closed) is true and the
//!    output is flushed, close the transport.
//! 7. **Sleep** until input arrives or [`poll_timeout`](Connection::poll_timeout) passes.
//!
//! Commands flush pending automatic frames into the same buffer first, so frames always leave in a valid
//! order.
//!
//! # Layout
//!
//! [`state`] holds the close lifecycle, `recv` the receive loop (`recv_buf` its buffer), `send` the
//! commands, `timers` the deadlines, and `batch` the borrowed, batched form of the receive loop.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::collections::VecDeque;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, ConfigError};
use crate::deflate::{Codec, DeflateParams};
use crate::error::{BufferFull, ProtocolError};
use crate::event::DataKind;

mod batch;
mod prepared;
mod recv;
mod recv_buf;
mod send;
pub mod state;
mod timers;

pub use batch::Responder;
pub use prepared::PreparedMessage;
pub use send::Encoded;
pub use state::State;

use recv::{InFrame, InMessage};
use recv_buf::RecvBuf;
use state::{Effect, Input, Lifecycle};
use timers::Timers;

/// Whether to compress a message when permessage-deflate was negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compress {
    /// Compress when the message reaches the configured threshold.
    #[default]
    Auto,
    /// Compress whatever the size.
    Always,
    /// Send uncompressed.
    Never,
}

/// Most pongs queued for [`Connection::poll_transmit`]; older ones are dropped past this (each ≤ 125 bytes).
pub const MAX_PENDING_PONGS: usize = 32;

/// Which end of the connection this is. It decides masking (RFC 6455 §5.1) and who closes TCP (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends masked frames; expects unmasked ones.
    Client,
    /// Sends unmasked frames; expects masked ones.
    Server,
}

/// How the connection ended, once it has (a summary of the final [`State`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseOutcome {
    /// Close frames were exchanged. `remote` is the peer's close frame.
    Clean {
        /// The peer's close frame.
        remote: CloseFrame,
        /// Whether we sent our close first.
        initiated_locally: bool,
    },
    /// We failed the connection: the peer broke the protocol or a limit, or missed a deadline.
    Failed(ProtocolError),
    /// The transport ended before a close frame arrived (1006).
    Abnormal,
}

impl CloseOutcome {
    /// The code that describes the outcome: the peer's code (1005 if none), the code we failed with, or 1006.
    pub fn code(&self) -> CloseCode {
        match self {
            CloseOutcome::Clean { remote, .. } => remote.code_or_no_status(),
            CloseOutcome::Failed(e) => e.close_code(),
            CloseOutcome::Abnormal => CloseCode::ABNORMAL,
        }
    }
}

/// A close frame queued for [`Connection::poll_transmit`].
#[derive(Debug)]
struct QueuedClose {
    code: Option<CloseCode>,
    reason: &'static str,
}

/// One side of a WebSocket connection after the handshake: a pure state machine (see the module docs for the
/// drive contract).
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    /// The masking-key generator: a client's only (boxed, so a server connection does not carry its ~300 bytes).
    rng: Option<Box<StdRng>>,
    recv: RecvBuf,
    /// The frame being received.
    frame: Option<InFrame>,
    /// The data message being received.
    message: Option<InMessage>,
    /// Payloads of unanswered pings, oldest first, at most [`MAX_PENDING_PONGS`].
    pending_pongs: VecDeque<Bytes>,
    /// A keepalive ping is due.
    pending_ping: bool,
    pending_close: Option<QueuedClose>,
    /// Any of the three above is set (the one check every command makes).
    has_pending: bool,
    life: Lifecycle,
    timers: Timers,
    /// Kind of the fragmented message being sent, if any.
    sending: Option<DataKind>,
    /// The fragmented message being sent is compressed.
    sending_compressed: bool,
    /// permessage-deflate, when negotiated.
    deflate: Option<Codec>,
    /// Bytes drawn from [`Config::budget`] (what the connection holds past [`Config::budget_floor`]).
    charged: usize,
}

impl Connection {
    /// A connection in `role`, ready for frames.
    ///
    /// `seed` feeds the masking-key generator (ChaCha12): use 32 bytes from the OS's random source. A client
    /// masks every frame with a fresh key from it (RFC 6455 §5.3: keys must be unpredictable); fixing the seed
    /// makes a whole conversation reproducible in tests. A server never masks and ignores it.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Role};
    /// let conn = Connection::new(Role::Server, Config::default(), [0; 32]).unwrap();
    /// assert!(!conn.is_closing());
    /// ```
    pub fn new(role: Role, config: Config, seed: [u8; 32]) -> Result<Connection, ConfigError> {
        config.validate()?;
        Ok(Connection {
            role,
            rng: (role == Role::Client).then(|| Box::new(StdRng::from_seed(seed))),
            recv: RecvBuf::default(),
            frame: None,
            message: None,
            pending_pongs: VecDeque::new(),
            pending_ping: false,
            pending_close: None,
            has_pending: false,
            life: Lifecycle::new(),
            timers: Timers::default(),
            sending: None,
            sending_compressed: false,
            deflate: None,
            charged: 0,
            config,
        })
    }

    /// Turns on permessage-deflate with the negotiated parameters (done by the handshakes).
    pub(crate) fn set_deflate(&mut self, params: DeflateParams) {
        #[cfg(feature = "deflate")]
        {
            let config = self.config.deflate.clone().unwrap_or_default();
            self.deflate = Some(Codec::new(params, &config, self.role == Role::Server));
        }
        #[cfg(not(feature = "deflate"))]
        let _ = params; // never negotiated: Config::validate refuses deflate without the feature
    }

    /// Whether permessage-deflate is in use.
    pub fn is_deflate_enabled(&self) -> bool {
        self.deflate.is_some()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- input -----

    /// How many more bytes [`feed`](Self::feed) accepts now. Zero means: poll events first.
    ///
    /// [`Config::max_buffered`] less the bytes buffered, not counting the earlier fragments of a message being
    /// reassembled (bounded by [`Config::max_message_size`] instead).
    pub fn recv_capacity(&self) -> usize {
        self.config.max_buffered.saturating_sub(self.recv.counted_len())
    }

    /// Gives the connection bytes read from the transport. Bytes after the peer's close frame, after a failure
    /// or after [`feed_eof`](Self::feed_eof) are discarded.
    ///
    /// Fails, taking nothing, when `data` is longer than [`recv_capacity`](Self::recv_capacity).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        if !self.life.accepts_input() {
            return Ok(());
        }
        if data.len() > self.recv_capacity() {
            return Err(BufferFull { capacity: self.recv_capacity() });
        }
        if !data.is_empty() {
            self.timers.note_activity(&self.config);
        }
        self.recv.extend(data);
        if let Err(e) = self.account() {
            // Reported by the next poll_event, like any failure.
            self.fail(e);
        }
        Ok(())
    }

    /// Bytes received right after the handshake, taken without the capacity check (they were bounded by it).
    pub(crate) fn feed_leftover(&mut self, data: &[u8]) {
        self.recv.extend(data);
    }

    /// The transport ended (read returned 0). Sending stops at once; if the closing handshake was not done,
    /// the next [`poll_event`](Self::poll_event) reports [`ProtocolError::UnexpectedEof`] (1006) once the
    /// events buffered before it are drained.
    pub fn feed_eof(&mut self) {
        self.life.set_eof();
    }

    // ----- state -----

    /// Where the connection is in its life (RFC 6455 §7).
    pub fn state(&self) -> &State {
        self.life.state()
    }

    /// No more events will come: the peer's close arrived or the connection failed (a transport that ended
    /// early fails it once the events buffered before the end are drained).
    pub fn is_finished(&self) -> bool {
        self.life.is_finished()
    }

    /// Our close frame was sent or queued (first, in reply to the peer's, or failing the connection): no more
    /// data may be sent (RFC 6455 §5.5.1).
    pub fn is_closing(&self) -> bool {
        self.life.is_closing()
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<&CloseOutcome> {
        self.life.outcome()
    }

    /// Whether the driver should close the transport after flushing [`poll_transmit`](Self::poll_transmit)
    /// (RFC 6455 §7.1.1): a server once the closing handshake is done, either role once the connection has
    /// failed or the transport ended. A client whose closing handshake is done waits for the server to close
    /// the TCP connection; once [`Config::close_timeout`] has passed (see
    /// [`handle_timeout`](Self::handle_timeout)) this turns true and it closes it itself.
    pub fn wants_transport_closed(&self) -> bool {
        self.life.wants_transport_closed(self.role)
    }

    /// The one place the close lifecycle moves: applies `input` and queues what the transition sends.
    fn transition(&mut self, input: Input) {
        match self.life.apply(input) {
            Effect::None => {}
            Effect::ReplyClose(code) => {
                // RFC 6455 §5.5.1: reply with a close frame, echoing the status code.
                self.pending_pongs.clear();
                self.pending_ping = false;
                self.pending_close = Some(QueuedClose { code, reason: "" });
            }
            Effect::FailClose(code, reason) => {
                self.pending_close = Some(QueuedClose { code: Some(code), reason });
            }
        }
        if self.life.is_finished() {
            self.release_budget();
            if self.life.failure().is_some() {
                self.pending_pongs.clear();
                self.pending_ping = false;
            }
            self.has_pending = self.pending_close.is_some() || !self.pending_pongs.is_empty() || self.pending_ping;
            self.recv.clear();
            self.frame = None;
            self.message = None;
        }
        self.timers.on_state(self.life.state(), &self.config);
    }

    /// Fails the connection (RFC 6455 §7.1.7) with `e`, and returns it.
    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        self.transition(Input::Fail(e.clone()));
        e
    }

    // ----- driver support -----

    /// Room to read into directly, without an intermediate copy: up to `want` bytes (capped by
    /// [`recv_capacity`](Self::recv_capacity)) of writable space at the end of the receive buffer. Bytes
    /// appended through it (e.g. by tokio-util's `poll_read_buf`, or `BufMut::put_slice`) count as fed.
    ///
    /// The room is reserved at once: size `want` by what a single read can bring (what the peer has sent so
    /// far, or a socket buffer's worth), not by [`awaiting_payload`](Self::awaiting_payload), which a peer
    /// controls with one header. Returns `None` when nothing should be read: the buffer is full, or the
    /// connection takes no more input, so that a zero-length buffer is never mistaken for end of stream.
    pub fn read_buf(&mut self, want: usize) -> Option<bytes::buf::Limit<&mut bytes::BytesMut>> {
        let n = want.min(self.recv_capacity());
        if n == 0 || !self.life.accepts_input() {
            return None;
        }
        self.timers.note_activity(&self.config);
        self.recv.reserve(n);
        if let Err(e) = self.account() {
            self.fail(e);
            return None;
        }
        Some(self.recv.spare(n))
    }

    /// Payload bytes of the frame in progress that have not arrived yet (0 between frames): a hint for drivers
    /// to read a large frame straight into [`read_buf`](Self::read_buf) instead of through a small buffer.
    pub fn awaiting_payload(&self) -> u64 {
        match &self.frame {
            Some(f) => f.remaining.saturating_sub(self.recv.unparsed().len() as u64),
            None => 0,
        }
    }

    /// Frees the receive buffer's memory if it holds no bytes (e.g. after a burst of large messages), so that
    /// an idle connection costs little. The next read allocates again.
    pub fn release_recv_buffer(&mut self) {
        self.recv.release_if_empty();
    }

    /// Bytes of memory the receive buffer holds (its capacity), in use or not.
    pub fn recv_buffer_capacity(&self) -> usize {
        self.recv.capacity()
    }

    /// Bytes held in the receive buffer, including the message being reassembled, for memory accounting.
    pub fn buffered_len(&self) -> usize {
        self.recv.len()
    }
}

/// Memory accounting against [`Config::budget`].
impl Connection {
    /// Squares the connection's draw on its budget with the memory it holds for the peer's traffic now (the
    /// receive buffer, inflated data, and its permessage-deflate codecs while it holds them). Growing past the floor while the budget is spent is an error
    /// (the caller fails the connection with it). Costs one check when no budget is set.
    #[inline]
    fn account(&mut self) -> Result<(), ProtocolError> {
        if self.config.budget.is_none() {
            return Ok(());
        }
        self.account_budget()
    }

    #[inline(never)]
    fn account_budget(&mut self) -> Result<(), ProtocolError> {
        let held = self.recv.capacity()
            + self.message.as_ref().map_or(0, |m| m.held_bytes())
            + self.deflate.as_ref().map_or(0, |c| c.memory());
        let want = held.saturating_sub(self.config.budget_floor);
        let Some(budget) = &self.config.budget else { return Ok(()) };
        if want > self.charged {
            if !budget.try_take(want - self.charged) {
                return Err(ProtocolError::BudgetExhausted);
            }
        } else {
            budget.give(self.charged - want);
        }
        self.charged = want;
        Ok(())
    }

    /// Gives back everything drawn from the budget (the connection has ended and dropped its buffers).
    fn release_budget(&mut self) {
        if let Some(budget) = &self.config.budget {
            budget.give(core::mem::take(&mut self.charged));
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.release_budget();
    }
}

/// The RSV1 bit in [`FrameHeader::rsv`](crate::frame::FrameHeader::rsv): a compressed message (RFC 7692 §6).
const RSV1: u8 = 0b100;
