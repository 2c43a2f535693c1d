//! [`WebSocket`]: the drive loop around a [`wsproto::Connection`] over a futures-io stream.
//!
//! At each wake-up the loop tells the core the time, feeds what was read, hands out events, writes what the
//! core queued (replies to every event of a read go out in one write), closes the transport when the core
//! says so, and otherwise waits for input or the core's next deadline.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use wsproto::{CloseCode, CloseOutcome, Connection, DataKind, Event, Instant, State};

use crate::{Clock, Error, Timer};

/// Bytes read per call.
const READ_CHUNK: usize = 64 * 1024;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (received pings are answered by the core).
    Ping(Bytes),
    /// An unsolicited pong.
    Pong(Bytes),
    /// A close frame with this code and reason: starts the closing handshake. Receive on to see the peer's
    /// close ([`WebSocket::close`] does both).
    Close(CloseCode, String),
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::Text(s.to_owned())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s)
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}

/// A WebSocket connection over the stream `S`, sleeping with the timer `T`.
///
/// Receive with [`recv`](Self::recv) until it returns `None` (that is what sends the close replies and closes
/// the transport); send with [`send`](Self::send), or [`queue`](Self::queue) several messages and
/// [`flush`](Self::flush); close with [`close`](Self::close).
pub struct WebSocket<S, T: Timer> {
    io: S,
    conn: Connection,
    timer: T,
    clock: Clock,
    /// Encoded frames not yet written; `written` of them are.
    out: Vec<u8>,
    written: usize,
    /// The sleep for the core's deadline it was made for.
    sleep: Option<(Instant, Pin<Box<T::Sleep>>)>,
    buf: Box<[u8]>,
    /// The transport is closed (or given up on).
    closed: bool,
    /// The error that ended the connection was returned (or an I/O error was).
    reported: bool,
}

impl<S, T: Timer> std::fmt::Debug for WebSocket<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.conn.role())
            .field("state", self.conn.state())
            .field("write_pending", &(self.out.len() - self.written))
            .field("closed", &self.closed)
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, T: Timer> WebSocket<S, T> {
    /// Drives `conn` (from the core's handshake, or made by hand) over `io`, whose handshake is done. The
    /// core's timers start now.
    pub fn from_connection(io: S, conn: Connection, timer: T) -> Self {
        Self::with_clock(io, conn, timer, Clock::start())
    }

    pub(crate) fn with_clock(io: S, mut conn: Connection, timer: T, clock: Clock) -> Self {
        conn.handle_timeout(clock.now());
        WebSocket {
            io,
            conn,
            timer,
            clock,
            out: Vec::new(),
            written: 0,
            sleep: None,
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            closed: false,
            reported: false,
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The stream, mutably (writing to it directly bypasses the protocol).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The protocol state machine, for inspection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<&CloseOutcome> {
        self.conn.close_outcome()
    }

    /// The next event: messages, pings (already answered), pongs, the peer's close. Returns an error once if
    /// the connection failed (after its close frame was sent and the transport closed), and `None` once the
    /// transport is closed.
    pub async fn recv(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Queues a message and writes everything queued.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.queue(msg)?;
        self.flush().await
    }

    /// Queues a message without writing: it leaves with the next [`flush`](Self::flush) or
    /// [`send`](Self::send), or when [`recv`](Self::recv) has handed out every buffered event and is about to
    /// wait for input. A whole batch of replies thus goes out in one write.
    pub fn queue(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.tick();
        let out = &mut self.out;
        match msg.into() {
            Message::Text(t) => self.conn.send_text(&t, out)?,
            Message::Binary(b) => self.conn.send_binary(&b, out)?,
            Message::Ping(p) => self.conn.send_ping(&p, out)?,
            Message::Pong(p) => self.conn.send_pong(&p, out)?,
            Message::Close(code, reason) => self.conn.close(code, &reason, out)?,
        }
        Ok(())
    }

    /// Queues one frame of a fragmented message (see [`Connection::send_fragment`]).
    pub fn queue_fragment(&mut self, kind: DataKind, data: &[u8], last: bool) -> Result<(), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        self.tick();
        Ok(self.conn.send_fragment(kind, data, last, &mut self.out)?)
    }

    /// Writes everything queued (and what the core queued on its own). While the peer does not read, the
    /// core's deadlines still run: one that fails the connection ends the wait with its error.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Starts the closing handshake with `code` and `reason` (unless one is under way), then receives
    /// (discarding messages) until the transport is closed: the peer's close arrived, or the core's close
    /// deadline passed ([`wsproto::Config::close_timeout`]). Returns how the connection ended.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseOutcome, Error> {
        if !self.closed && *self.conn.state() == State::Open {
            self.tick();
            self.conn.close(code, reason, &mut self.out)?;
        }
        while let Some(r) = self.recv().await {
            match r {
                Ok(_) | Err(Error::Protocol(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.conn.close_outcome().cloned().unwrap_or(CloseOutcome::Abnormal))
    }

    /// The poll form of [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Error>>> {
        loop {
            if self.closed {
                return Poll::Ready(self.take_failure().map(Err));
            }
            // Events: everything buffered is handed out before anything is written or read.
            if let Ok(Some(event)) = self.conn.poll_event() {
                return Poll::Ready(Some(Ok(event)));
            }
            // Output: replies to the whole batch, the core's own frames, in one write.
            self.conn.poll_transmit(&mut self.out);
            match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(self.abandon(e)))),
                Poll::Pending => {
                    // The peer is not reading: only a deadline can move things on.
                    ready!(self.poll_deadline(cx));
                    self.close_if_failed();
                    continue;
                }
            }
            // The transport close, when the core asks for it (RFC 6455 §7.1.1).
            if self.conn.wants_transport_closed() {
                let _ = ready!(Pin::new(&mut self.io).poll_close(cx));
                self.closed = true;
                continue;
            }
            // Input, or the next deadline.
            match self.poll_read(cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(self.abandon(e)))),
                Poll::Pending => ready!(self.poll_deadline(cx)),
            }
        }
    }

    /// The poll form of [`flush`](Self::flush).
    pub fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.closed {
                return Poll::Ready(Err(Error::Closed));
            }
            self.conn.poll_transmit(&mut self.out);
            match self.poll_write_out(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.abandon(e))),
                Poll::Pending => {
                    ready!(self.poll_deadline(cx));
                    if self.close_if_failed() {
                        return Poll::Ready(Err(self.take_failure().map_or(Error::Closed, |e| e)));
                    }
                }
            }
        }
    }

    /// Tells the core the time (before a command, so that the deadlines it arms count from now).
    fn tick(&mut self) {
        self.conn.handle_timeout(self.clock.now());
    }

    /// Writes `out` until it is empty (then flushes the stream) or the stream would block.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        if !self.out.is_empty() {
            self.out.clear();
            self.written = 0;
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// One read: the time, then the bytes (or the end of the stream) to the core.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let room = if self.conn.is_finished() { READ_CHUNK } else { self.conn.recv_capacity().min(READ_CHUNK) };
        if room == 0 {
            // Cannot happen: events are drained before reading.
            return Poll::Ready(Err(io::Error::other("wsproto receive buffer full")));
        }
        let n = ready!(Pin::new(&mut self.io).poll_read(cx, &mut self.buf[..room]))?;
        self.tick();
        if n == 0 {
            self.conn.feed_eof();
        } else {
            self.conn.feed(&self.buf[..n]).map_err(io::Error::other)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Sleeps until the core's next deadline; `Ready` once it passed and the core was told the time.
    /// `Pending` (forever, as far as time goes) when the core has no deadline.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some((deadline, at)) = self.conn.poll_timeout().and_then(|d| Some((d, self.clock.at(d)?))) else {
            self.sleep = None;
            return Poll::Pending;
        };
        if self.sleep.as_ref().is_none_or(|(d, _)| *d != deadline) {
            self.sleep = Some((deadline, Box::pin(self.timer.sleep_until(at))));
        }
        let (_, sleep) = self.sleep.as_mut().expect("set above");
        ready!(sleep.as_mut().poll(cx));
        self.sleep = None;
        self.tick();
        Poll::Ready(())
    }

    /// After a deadline while writing was blocked: a connection the core failed is given up on (its close
    /// frame cannot be written to a peer that does not read). Returns whether it was.
    fn close_if_failed(&mut self) -> bool {
        if matches!(self.conn.state(), State::Failed(_)) && self.conn.wants_transport_closed() {
            self.closed = true;
            return true;
        }
        false
    }

    /// The failure that ended the connection, once.
    fn take_failure(&mut self) -> Option<Error> {
        if self.reported {
            return None;
        }
        self.reported = true;
        match self.conn.state() {
            State::Failed(e) => Some(Error::Protocol(e.clone())),
            _ => None,
        }
    }

    /// The transport failed: the core is told it ended, and the I/O error is the one reported.
    fn abandon(&mut self, e: io::Error) -> Error {
        self.conn.feed_eof();
        while let Ok(Some(_)) = self.conn.poll_event() {}
        self.closed = true;
        self.reported = true;
        Error::Io(e)
    }
}
