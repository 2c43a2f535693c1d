//! [`WebSocket`]: the driver loop around a [`wsproto::Connection`] over any `AsyncRead + AsyncWrite`.
//!
//! The loop only moves bytes, events and deadlines: bytes read go to [`Connection::feed`], events come from
//! [`Connection::poll_event`], commands encode into the write buffer, [`Connection::poll_transmit`] adds
//! what the core sends on its own, and the core's deadlines (keepalive, close, message) are one sleep until
//! [`Connection::poll_timeout`], with the time given to [`Connection::handle_timeout`] at every wake-up.
//!
//! Writes are batched ("cork while handling, uncork before waiting"): a message sent while more input is already buffered (or queued with [`WebSocket::queue`]) goes out with the
//! others in one write when the connection would otherwise wait for input; a lone send is written at once.
//! That is what makes small-message echo fast with the plain `recv` + `send` loop.

use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, sleep_until, Sleep};
use wsproto::{
    CloseCode, CloseOutcome, Connection, DataKind, Encoded, EventRef, PreparedMessage, ProtocolError, Responder, Role,
    Timeout,
};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::message::Message;
use crate::outq::OutQueue;
use crate::time::Clock;

/// Bytes read from the socket per call (on the stack, so idle connections hold no read buffer).
const READ_CHUNK: usize = 64 * 1024;
/// A frame with at least this much payload still to come is read directly into the core's buffer.
const DIRECT_READ_MIN: usize = 32 * 1024;
/// Largest read once traffic is large (bulk): several 64 KiB messages per read.
const BULK_READ: usize = 256 * 1024;
/// The most read directly at once.
const DIRECT_READ_MAX: usize = 4 << 20;
/// A write buffer holding more memory than this (or a receive buffer grown by direct reads) is freed after
/// [`TRIM_AFTER`] of quiet.
const TRIM_ABOVE: usize = 64 * 1024;
/// How long a connection keeps large buffers for more traffic after it last waited for input with them.
const TRIM_AFTER: Duration = Duration::from_secs(1);
/// Payloads at least this large are written from their own buffer (vectored I/O) instead of being copied
/// into the write buffer, when the core says they go on the wire unchanged.
const UNBUFFERED_MIN: usize = 16 * 1024;
/// [`WebSocket::send`] leaves a message for the batch written when the connection next waits for input only
/// while less than this waits to be written.
const COALESCE_MAX: usize = 256 * 1024;

/// A shared prepared frame shorter than this is copied into the write buffer (a few bytes cost less to copy
/// than a slice of a vectored write); longer ones are queued as the shared `Bytes`, not copied.
const PREPARED_COPY_BELOW: usize = 256;

/// The part of [`Config`] a connection needs once open (the core keeps its own limits and deadlines).
struct Limits {
    write_high_water: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Messages flow.
    Open,
    /// The core is finished (close exchanged, failed, or EOF): flush, then close the transport per §7.1.1.
    Finishing,
    /// The transport is closed.
    Done,
}

/// A WebSocket connection over `S`, after the handshake.
///
/// Receive with [`recv`](Self::recv) (or as a [`Stream`]), send with [`send`](Self::send) /
/// [`queue`](Self::queue) + [`flush`](Self::flush) (or as a [`Sink`]), close with [`close`](Self::close).
/// [`split`](Self::split) gives a sender and a receiver for different tasks.
pub struct WebSocket<S> {
    /// Boxed: the connection's future (whichever way it is written, which may hold the socket's place more
    /// than once) holds a pointer, not the state.
    s: Box<State<S>>,
}

/// The state of a [`WebSocket`].
struct State<S> {
    io: S,
    conn: Connection,
    /// The settings the driver uses after the handshake (the core keeps its own limits).
    config: Limits,
    out: OutQueue,
    phase: Phase,
    /// The error that ended the connection, reported once.
    pending_error: Option<Error>,
    /// The clock the core is told the time by.
    clock: Clock,
    /// The sleep for the core's deadlines ([`Connection::poll_timeout`]) and the time it is set for.
    timer: Option<(Pin<Box<Sleep>>, wsproto::Instant)>,
    /// The last read was large: read the next one straight into the core's buffer.
    bulk: bool,
    /// Bytes the last read brought (sizes the next bulk read: what the peer really sends, not what it claims).
    last_read: usize,
    /// Reads went straight into the core's buffer (large frames or bulk) since buffers were last trimmed.
    grew: bool,
    /// When to free large buffers that are empty: armed when the connection waits for input after it grew its
    /// receive buffer or holds a write buffer over [`TRIM_ABOVE`], so that busy connections reuse them and
    /// quiet ones give them back.
    trim: Option<Pin<Box<Sleep>>>,
    /// Payloads queued by a [`recv_with`](Self::recv_with) handler, with their place in the write buffer.
    deferred: Vec<(usize, Bytes)>,
    /// Counts and traces the connection's end (once).
    obs: crate::trace::Observer,
}

impl<S> Drop for State<S> {
    fn drop(&mut self) {
        self.obs.ended(&self.conn); // a no-op if the end was reported; else it was dropped while open
    }
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.s.conn.role())
            .field("phase", &self.s.phase)
            .field("write_pending", &self.s.out.pending())
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a stream whose handshake is done, driving `conn` (from the core's handshake).
    ///
    /// The connection's deadlines (its [`wsproto::Config`]: keepalive, close and message timeouts) run from
    /// now on the adapter's clock.
    pub fn from_connection(io: S, conn: Connection, config: Config) -> Self {
        let ws = Self::with_clock(io, conn, config, Clock::start());
        ws.note_opened(None);
        ws
    }

    /// Reports the opening (the `tracing` event; [`Stats`](crate::Stats) counted it already).
    pub(crate) fn note_opened(&self, subprotocol: Option<&str>) {
        self.s.obs.opened(self.s.conn.is_deflate_enabled(), subprotocol);
    }

    /// Records the peer's address on the connection's span.
    pub(crate) fn note_peer(&self, addr: std::net::SocketAddr) {
        self.s.obs.peer(addr);
    }

    /// Wraps a stream another HTTP stack upgraded (hyper's `Upgraded` through `hyper_util::rt::TokioIo`, an
    /// HTTP/2 CONNECT stream, any `AsyncRead + AsyncWrite`), driving the connection the core's embedding API
    /// made: [`wsproto::handshake::Accepted::connection`] on a server, the connection from
    /// [`wsproto::handshake::ClientUpgrade::finish`] on a client, with permessage-deflate as negotiated. The
    /// adapter's own settings are the defaults ([`from_connection`](Self::from_connection) takes them).
    pub fn from_upgraded(io: S, negotiated: Connection) -> Self {
        Self::from_connection(io, negotiated, Config::default())
    }

    /// [`from_connection`](Self::from_connection) for a connection whose handshake ran on `clock`.
    pub(crate) fn with_clock(io: S, mut conn: Connection, config: Config, clock: Clock) -> Self {
        conn.handle_timeout(clock.now());
        let obs = crate::trace::Observer::new(&config, conn.role());
        let s = Box::new(State {
            io,
            conn,
            clock,
            config: Limits { write_high_water: config.write_high_water },
            out: OutQueue::default(),
            phase: Phase::Open,
            pending_error: None,
            timer: None,
            bulk: false,
            last_read: 0,
            grew: false,
            trim: None,
            deferred: Vec::new(),
            obs,
        });
        WebSocket { s }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.s.io
    }

    /// The underlying stream, mutably: to read or write bytes past the protocol (tests that play a hostile
    /// peer). Bytes written here bypass the connection and can corrupt the stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.s.io
    }

    /// The protocol state machine (for inspection).
    pub fn connection(&self) -> &Connection {
        &self.s.conn
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<&CloseOutcome> {
        self.s.conn.close_outcome()
    }

    /// Bytes waiting to be written.
    pub fn write_pending(&self) -> usize {
        self.s.out.pending()
    }

    /// The next message; `None` once the connection is closed (after the peer's close was returned as
    /// [`Message::Close`], or after an error was returned).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends a message: it is encoded at once (a caller error comes back here and leaves the connection
    /// usable), and written before `send` returns, unless more input is already buffered: then it joins the
    /// replies to that input and leaves with them in one write, when [`recv`](Self::recv) next has to wait
    /// for input (or at [`flush`](Self::flush) or [`close`](Self::close), or once a large batch has
    /// gathered). So `while let Some(m) = ws.recv().await { ws.send(m?).await? }` writes once per batch of
    /// pipelined messages, while a lone message is written at once.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        if self.write_pending() > self.s.config.write_high_water {
            poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        }
        self.encode(msg)?;
        if self.s.conn.buffered_len() > 0 && self.write_pending() < COALESCE_MAX && !self.s.conn.is_finished() {
            // More input waits: this message leaves with the replies to it, before the connection waits.
            return Ok(());
        }
        poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Queues a message without flushing (it goes out with the next flush, or when the connection would wait
    /// for input). Waits while the write buffer is over the high-water mark.
    pub async fn queue(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        self.encode(msg.into())
    }

    /// Sends a [`PreparedMessage`] (framed once, for many connections), as [`send`](Self::send) sends a
    /// message: it waits while the write buffer is over the high-water mark, and the message leaves at once
    /// or with the batch of replies to buffered input.
    ///
    /// A server queues the prepared frame itself — the shared `Bytes`, by reference count — and writes it with
    /// vectored I/O after whatever was queued before: the payload is not copied (frames under 256 bytes are,
    /// being cheaper to copy than to write as a slice of their own). With permessage-deflate without context
    /// takeover, the frame compressed once per parameter set is shared the same way; a server that keeps its
    /// compression context compresses its own copy. A client masks every frame with a key of its own
    /// (RFC 6455 §5.3), so it encodes the message as [`send`](Self::send) does. See
    /// [`Connection::send_prepared`].
    pub async fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        if self.write_pending() > self.s.config.write_high_water {
            poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        }
        self.encode_prepared(msg)?;
        if self.s.conn.buffered_len() > 0 && self.write_pending() < COALESCE_MAX && !self.s.conn.is_finished() {
            return Ok(());
        }
        poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Queues a [`PreparedMessage`] without flushing, as [`queue`](Self::queue) does (see
    /// [`send_prepared`](Self::send_prepared) for what is shared).
    pub async fn queue_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_ready_to_send(cx)).await?;
        self.encode_prepared(msg)
    }

    /// Queues a prepared message's frame: shared, or (a client, or a compressor with context) encoded.
    pub(crate) fn encode_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        if self.s.phase != Phase::Open {
            return Err(Error::ConnectionClosed);
        }
        let frame = self.s.conn.send_prepared(msg, self.s.out.buf()).map_err(Error::Send)?;
        if let Some(frame) = frame {
            if frame.len() < PREPARED_COPY_BELOW {
                self.s.out.buf().extend_from_slice(&frame);
            } else {
                self.s.out.push_payload(frame);
            }
        }
        Ok(())
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_flush_all(cx)).await
    }

    /// Closes: sends a close frame with `code` and `reason`, then reads (discarding messages) until the peer's
    /// close arrives or the close timeout passes, and closes the transport. Returns how it ended.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseOutcome, Error> {
        if !self.s.conn.is_closing() && self.s.phase == Phase::Open {
            self.start_close(code, reason)?;
        }
        self.finish().await
    }

    /// Encodes our close frame, the core's close deadline counting from now (the time it last had may be a
    /// while ago: commands come between wake-ups).
    fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), wsproto::SendError> {
        self.s.conn.handle_timeout(self.s.clock.now());
        self.s.conn.close(code, reason, self.s.out.buf())
    }

    /// Waits for the end of the closing handshake (discarding messages) and the transport close.
    async fn finish(&mut self) -> Result<CloseOutcome, Error> {
        loop {
            match self.recv().await {
                Some(Ok(_)) => {}
                Some(Err(Error::Protocol(_))) | None => break,
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(self.s.conn.close_outcome().cloned().unwrap_or(CloseOutcome::Abnormal))
    }

    /// Encodes a message into the write buffer (a caller error leaves the connection usable).
    fn encode(&mut self, msg: Message) -> Result<(), Error> {
        if self.s.phase != Phase::Open {
            return Err(Error::ConnectionClosed);
        }
        if matches!(msg, Message::Close(_)) {
            // The close deadline counts from now.
            self.s.conn.handle_timeout(self.s.clock.now());
        }
        let out = self.s.out.buf();
        let r = match &msg {
            Message::Binary(b) if b.len() >= UNBUFFERED_MIN => self
                .s
                .conn
                .send_zero_copy(DataKind::Binary, b, out)
                .map(|e| (e == Encoded::HeaderOnly).then(|| b.clone())),
            Message::Text(t) if t.len() >= UNBUFFERED_MIN => self
                .s
                .conn
                .send_zero_copy(DataKind::Text, t.as_bytes(), out)
                .map(|e| (e == Encoded::HeaderOnly).then(|| t.clone().into_bytes())),
            Message::Text(t) => self.s.conn.send_text(t, out).map(|()| None),
            Message::Binary(b) => self.s.conn.send_binary(b, out).map(|()| None),
            Message::Ping(p) => self.s.conn.send_ping(p, out).map(|()| None),
            Message::Pong(p) => self.s.conn.send_pong(p, out).map(|()| None),
            Message::Fragment(f) => self.s.conn.send_fragment(f.kind, &f.data, f.last, out).map(|()| None),
            Message::Close(Some(c)) => self.s.conn.close(c.code_or_no_status(), &c.reason, out).map(|()| None),
            Message::Close(None) => self.s.conn.close_without_code(out).map(|()| None),
        };
        let r = r.map(|payload| {
            if let Some(p) = payload {
                self.s.out.push_payload(p);
            }
        });
        r.map_err(Error::Send)
    }

    /// Sends one frame of a fragmented message (streaming a large message).
    pub async fn send_fragment(&mut self, kind: DataKind, data: Bytes, last: bool) -> Result<(), Error> {
        let f = wsproto::Fragment { kind, data, first: false, last };
        self.send(Message::Fragment(f)).await
    }

    /// Ready to queue another message: the write buffer is under the high-water mark (writing to get there).
    pub fn poll_ready_to_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.s.phase != Phase::Open {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        while self.write_pending() > self.s.config.write_high_water {
            ready!(self.poll_write_some(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes all queued bytes (including the core's automatic frames).
    pub fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.s.conn.poll_transmit(self.s.out.buf());
        while self.write_pending() > 0 {
            ready!(self.poll_write_some(cx))?;
        }
        ready!(Pin::new(&mut self.s.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// One write of queued bytes. `Ready(Ok)` means progress was made or nothing was pending.
    fn poll_write_some(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.s.out.poll_write(&mut self.s.io, cx))?;
        Poll::Ready(Ok(()))
    }

    /// Writes until everything is out or the socket would block (then the waker is registered).
    fn poll_write_until_blocked(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        while self.write_pending() > 0 {
            match self.poll_write_some(cx) {
                Poll::Ready(r) => r?,
                Poll::Pending => return Ok(()),
            }
        }
        Ok(())
    }

    /// Reads once into the core. `Ready(Ok(0))` is EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // The rest of a large frame is read straight into the core's buffer (no copy; the memory is needed for
        // the frame anyway). Everything else goes through a stack buffer, so that an idle connection keeps
        // no read buffer.
        // While reads come in large pieces (bulk transfer), every read goes straight into the core's buffer too.
        let awaiting = self.s.conn.awaiting_payload();
        let want = if awaiting >= DIRECT_READ_MIN as u64 {
            // Room is reserved for what the peer has sent so far (at least a chunk), not for what its header
            // announced: the reservation doubles as data really arrives. Sized by the announcement alone, a
            // 14-byte header reserved 4 MiB, and a few hundred such peers exhausted a server's address space.
            let sent = self.s.conn.buffered_len().max(READ_CHUNK);
            usize::try_from(awaiting).unwrap_or(usize::MAX).min(DIRECT_READ_MAX).min(sent)
        } else if self.s.bulk || self.s.grew {
            // The buffer grew for large traffic and is kept until a quiet second passes (`trim`): read into it
            // directly rather than through the stack and a copy, and in large pieces, so that several large
            // messages can arrive (and their replies leave) per system call: up to four times the last read, so
            // the room held for a peer stays within a small multiple of what it actually sent.
            (4 * self.s.last_read).clamp(READ_CHUNK, BULK_READ)
        } else {
            0
        };
        // A wake-up: the core learns the time before it gets the bytes (its deadlines count from it).
        self.s.conn.handle_timeout(self.s.clock.now());
        if want > 0 {
            if let Some(mut buf) = self.s.conn.read_buf(want) {
                self.s.grew = true;
                let n = ready!(tokio_util::io::poll_read_buf(Pin::new(&mut self.s.io), cx, &mut buf))?;
                if n == 0 {
                    self.s.conn.feed_eof();
                }
                self.note_read(n);
                return Poll::Ready(Ok(n));
            }
        }
        let mut storage = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let room = if self.s.conn.is_finished() { READ_CHUNK } else { self.s.conn.recv_capacity().min(READ_CHUNK) };
        if room == 0 {
            // Cannot happen while events are drained before reading; never mistake it for end of stream.
            return Poll::Ready(Err(io::Error::other("wsproto receive buffer full")));
        }
        let mut rb = ReadBuf::uninit(&mut storage[..room]);
        ready!(Pin::new(&mut self.s.io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            self.s.conn.feed_eof();
        } else {
            self.s.conn.feed(rb.filled()).expect("read at most recv_capacity bytes");
        }
        self.note_read(n);
        Poll::Ready(Ok(n))
    }

    /// Tracks whether reads are large (bulk transfer).
    fn note_read(&mut self, n: usize) {
        self.s.bulk = n >= DIRECT_READ_MIN;
        self.s.last_read = n;
    }

    /// Spare room in the receive buffer plus the write buffer's capacity: memory the connection holds for
    /// traffic to come. (Part of a receive buffer's allocation may be accounted to messages handed out.)
    pub fn buffer_capacity(&self) -> usize {
        self.s.conn.recv_buffer_capacity() + self.s.out.capacity()
    }

    /// Drives the closing phases: `Ready(true)` while messages flow, `Ready(false)` once the transport is closed
    /// (the error that ended the connection, if any, is in `pending_error`, to be reported once).
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        loop {
            match self.s.phase {
                Phase::Open => return Poll::Ready(true),
                Phase::Done => return Poll::Ready(false),
                Phase::Finishing => ready!(self.poll_finishing(cx)),
            }
        }
    }

    /// The receive loop (see the module docs).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            if !ready!(self.poll_open(cx)) {
                return Poll::Ready(self.s.pending_error.take().map(Err));
            }
            match self.s.conn.poll_event() {
                Ok(Some(ev)) => return Poll::Ready(Some(Ok(Message::from_event(ev)))),
                Ok(None) => {}
                Err(e) => self.s.pending_error = error_of(e),
            }
            if let Err(e) = ready!(self.poll_io(cx)) {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }

    /// Waits for input, then hands every event it holds to `handler`, **borrowed** from the receive buffer
    /// (no allocation, copy or reference count per message), with a [`Responder`] whose replies go into the
    /// write buffer. They are written, batched, when the connection next waits for input (or by
    /// [`flush`](Self::flush)), as with [`queue`](Self::queue). Returns how many events were handled; `None`
    /// once the connection is closed, as [`recv`](Self::recv) does (the two can be mixed).
    ///
    /// This is the fast way to serve many small messages: an echo server is
    ///
    /// ```no_run
    /// # async fn run(mut ws: wsproto_tokio::WebSocket<tokio::net::TcpStream>) {
    /// use wsproto_tokio::wsproto::EventRef;
    /// while let Some(Ok(_)) = ws
    ///     .recv_with(|event, tx| {
    ///         let _ = match event {
    ///             EventRef::Text(t) => tx.send_text(t),
    ///             EventRef::Binary(b) => tx.send_binary(b),
    ///             _ => Ok(()),
    ///         };
    ///     })
    ///     .await
    /// {}
    /// # }
    /// ```
    ///
    /// A handler's replies are not bounded by the write high-water mark while it runs; the batch stops after
    /// the event that crosses it, and the next call writes before reading more.
    pub async fn recv_with<F>(&mut self, mut handler: F) -> Option<Result<usize, Error>>
    where
        F: FnMut(EventRef<'_>, &mut Replies<'_, '_>),
    {
        poll_fn(|cx| self.poll_recv_with(cx, &mut handler)).await
    }

    /// The poll form of [`recv_with`](Self::recv_with).
    pub fn poll_recv_with<F>(&mut self, cx: &mut Context<'_>, handler: &mut F) -> Poll<Option<Result<usize, Error>>>
    where
        F: FnMut(EventRef<'_>, &mut Replies<'_, '_>),
    {
        loop {
            if !ready!(self.poll_open(cx)) {
                return Poll::Ready(self.s.pending_error.take().map(Err));
            }
            let high_water = self.s.config.write_high_water;
            let deferred = &mut self.s.deferred;
            let handled = self.s.conn.poll_batch(self.s.out.buf(), |event, tx| {
                handler(event, &mut Replies { tx, deferred });
                if tx.buffered() > high_water {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            for (at, payload) in self.s.deferred.drain(..) {
                self.s.out.push_payload_at(at, payload);
            }
            match handled {
                Ok(0) => {}
                Ok(n) => return Poll::Ready(Some(Ok(n))),
                Err(e) => self.s.pending_error = error_of(e),
            }
            if let Err(e) = ready!(self.poll_io(cx)) {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }

    /// Progress when no event is ready: notes the end of the connection, flushes what is queued (one write for
    /// a whole batch of replies), applies backpressure, and reads. `Ready(Ok)`: poll for events again.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.s.conn.is_finished() {
            self.s.phase = Phase::Finishing;
            self.s.obs.ended(&self.s.conn);
            return Poll::Ready(Ok(()));
        }
        self.s.conn.poll_transmit(self.s.out.buf());
        if let Err(e) = self.poll_write_until_blocked(cx) {
            return Poll::Ready(Err(self.fail_io(e)));
        }
        if self.write_pending() > self.s.config.write_high_water {
            // Backpressure: the peer does not read; stop reading until it does (the waker is set).
            return self.poll_timers(cx);
        }
        match self.poll_fill(cx) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail_io(Error::Io(e)))),
            Poll::Pending => {
                if self.s.trim.is_none() && (self.s.grew || self.s.out.capacity() > TRIM_ABOVE) {
                    self.s.trim = Some(Box::pin(sleep(TRIM_AFTER)));
                }
                self.poll_timers(cx)
            }
        }
    }

    fn fail_io(&mut self, e: Error) -> Error {
        self.s.phase = Phase::Done;
        self.abandon();
        self.s.obs.ended(&self.s.conn);
        e
    }

    /// The transport is given up on: tell the core, and let it record the outcome (1006 unless it already
    /// ended) by draining its events.
    fn abandon(&mut self) {
        self.s.conn.feed_eof();
        while let Ok(Some(_)) = self.s.conn.poll_event() {}
    }

    /// Checks the deadlines; `Pending` if none passed (their wakers are registered).
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(t) = &mut self.s.trim {
            if t.as_mut().poll(cx).is_ready() {
                // Quiet for a while: give large buffers back (empty ones only; a busy connection that
                // happens to be caught here just grows them again).
                self.s.trim = None;
                self.s.grew = false;
                self.s.conn.release_recv_buffer();
                self.s.out.release();
            }
        }
        let fired = self.poll_core_deadline(cx).is_ready();
        if fired || self.s.conn.has_pending_transmit() || self.s.conn.is_finished() {
            // A ping to send, or a failure to report (from this deadline, or from the time given with the last
            // read): go round the loop again.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Sleeps until the core's next deadline; when it passes, tells the core the time (`Ready`).
    ///
    /// One sleep is allocated per connection and reset, never replaced. It is reset only when the deadline
    /// comes earlier than the one it waits for: a deadline that moved later (keepalive, with every read) is
    /// met by waking at the earlier time, finding nothing due, and sleeping again — so busy connections touch
    /// the timer only about once per keepalive interval.
    fn poll_core_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.s.conn.poll_timeout() else {
            return Poll::Pending;
        };
        let clock = self.s.clock;
        let (sleep, at) = self.s.timer.get_or_insert_with(|| (Box::pin(sleep_until(clock.at(deadline))), deadline));
        if deadline < *at {
            sleep.as_mut().reset(clock.at(deadline));
            *at = deadline;
        }
        ready!(sleep.as_mut().poll(cx));
        // Spent: the next deadline (any) resets it.
        *at = wsproto::Instant::from_origin(Duration::MAX);
        self.s.conn.handle_timeout(clock.now());
        Poll::Ready(())
    }

    /// Flushes the last frames and closes the transport as RFC 6455 §7.1.1 says: the server (or either side
    /// after a failure) closes at once; a client waits for the server's FIN, up to the close timeout.
    fn poll_finishing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.s.conn.poll_transmit(self.s.out.buf());
        while self.write_pending() > 0 {
            match self.poll_write_some(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    self.s.phase = Phase::Done;
                    return Poll::Ready(());
                }
                Poll::Pending => return self.poll_close_deadline_or_pending(cx),
            }
        }
        if !self.s.conn.wants_transport_closed() {
            // Client after a clean close: wait for the server to close TCP (the core's deadline bounds it).
            loop {
                match self.poll_fill(cx) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => break,
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Pending => return self.poll_close_deadline_or_pending(cx),
                }
            }
        }
        let _ = ready!(Pin::new(&mut self.s.io).poll_shutdown(cx));
        self.s.phase = Phase::Done;
        Poll::Ready(())
    }

    /// While finishing, the core's deadline (the close timeout) bounds the wait: once it passes, the
    /// transport is given up on.
    fn poll_close_deadline_or_pending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.s.conn.poll_timeout().is_none() {
                // The deadline passed (here, or with the time given at the last read).
                self.s.phase = Phase::Done;
                return Poll::Ready(());
            }
            ready!(self.poll_core_deadline(cx));
        }
    }

    pub(crate) fn queue_from_split(&mut self, msg: Message) -> Result<(), Error> {
        self.encode(msg)
    }

    pub(crate) fn below_high_water(&self) -> bool {
        self.write_pending() <= self.s.config.write_high_water
    }

    pub(crate) fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        self.s.conn.poll_transmit(self.s.out.buf());
        self.poll_write_until_blocked(cx)
    }

    pub(crate) fn is_open(&self) -> bool {
        self.s.phase == Phase::Open
    }

    /// Bytes written since the connection opened.
    pub(crate) fn write_count(&self) -> u64 {
        self.s.out.written()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.s.phase == Phase::Done
    }

    /// Whether the connection failed because the peer broke the protocol.
    pub fn protocol_error(&self) -> Option<&ProtocolError> {
        match self.s.conn.state() {
            wsproto::State::Failed(e) if *e != ProtocolError::UnexpectedEof => Some(e),
            _ => None,
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.s.conn.role()
    }

    /// The close timeout in force ([`wsproto::Config::close_timeout`]).
    pub fn close_timeout(&self) -> Duration {
        self.s.conn.config().close_timeout
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_to_send(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.get_mut().encode(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_all(cx)
    }

    /// Sends a close frame (1000) if none was sent, and flushes. Read on to see the peer's close.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if this.s.phase == Phase::Open && !this.s.conn.is_closing() {
            this.start_close(CloseCode::NORMAL, "")?;
        }
        this.poll_flush_all(cx)
    }
}

/// The error the adapter reports for the one that failed the connection: a missed pong is a keepalive timeout;
/// a close frame never answered ends the connection without an error (its outcome says 1006), as a peer that
/// closes the transport does.
fn error_of(e: ProtocolError) -> Option<Error> {
    match e {
        ProtocolError::Timeout(Timeout::Pong) => Some(Error::Timeout(TimeoutKind::Keepalive)),
        ProtocolError::Timeout(Timeout::Close) => None,
        e => Some(Error::Protocol(e)),
    }
}

/// The replies a [`WebSocket::recv_with`] handler can send. They are queued in the write buffer, after any
/// frame the connection queued on its own, and written with the batch.
///
/// A payload of at least 16 KiB that lies within the current event's payload (an echo, or part of one) is
/// not copied when the connection holds that message in a buffer of its own: only its frame header is encoded
/// and the payload is written from the received buffer (vectored I/O), as [`WebSocket::queue`] does for a
/// large [`Message`].
pub struct Replies<'a, 'b> {
    tx: &'a mut Responder<'b>,
    deferred: &'a mut Vec<(usize, Bytes)>,
}

impl std::fmt::Debug for Replies<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replies").field("buffered", &self.tx.buffered()).finish()
    }
}

impl Replies<'_, '_> {
    /// Queues a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send(DataKind::Text, text.as_bytes())
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.send(DataKind::Binary, data)
    }

    /// Queues a data message of `kind`.
    pub fn send(&mut self, kind: DataKind, data: &[u8]) -> Result<(), Error> {
        if data.len() >= UNBUFFERED_MIN {
            if let Some(payload) = self.tx.send_zero_copy(kind, data)? {
                self.deferred.push((self.tx.buffered(), payload));
            }
            return Ok(());
        }
        Ok(self.tx.send(kind, data, wsproto::Compress::Auto)?)
    }

    /// Queues one frame of a fragmented message (see [`wsproto::Connection::send_fragment`]).
    pub fn send_fragment(&mut self, kind: DataKind, data: &[u8], last: bool) -> Result<(), Error> {
        Ok(self.tx.send_fragment(kind, data, last)?)
    }

    /// Queues a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        Ok(self.tx.send_ping(payload)?)
    }

    /// Queues an unsolicited pong.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        Ok(self.tx.send_pong(payload)?)
    }

    /// Starts the closing handshake; events keep coming until the peer's close arrives (then
    /// [`WebSocket::recv_with`] returns `None`).
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        Ok(self.tx.close(code, reason)?)
    }

    /// Bytes in the write buffer's encoded part.
    pub fn buffered(&self) -> usize {
        self.tx.buffered()
    }
}
