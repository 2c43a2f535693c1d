//! Split halves: a driver task owns the socket; [`WsSender`] and [`WsReceiver`] are handles to it.
//!
//! Only the driver touches the socket. The connection's state sits behind a mutex shared with the senders: a
//! send encodes its message straight into the write buffer (a caller error comes back from that very send, and
//! no channel or acknowledgement is allocated per message) and wakes the driver. The driver writes whatever the
//! senders queued — from any number of tasks, in one (vectored) write — when it is about to wait, and the core's
//! automatic replies (pongs, close replies) with it, whether or not anyone reads. It stops reading from the
//! socket while the receiver's queue is full, so a slow reader pushes back on the peer through TCP.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use wsproto::{CloseCode, CloseFrame, PreparedMessage};

use crate::error::Error;
use crate::message::Message;
use crate::socket::WebSocket;

/// Messages received but not yet taken by the [`WsReceiver`].
const RECV_QUEUE: usize = 64;

/// The sending half: a [`Sink<Message>`], and [`send`](Self::send) for use through a shared reference.
/// Cloneable; messages from clones interleave whole, and all of them leave in the driver's next write.
pub struct WsSender {
    conn: Arc<dyn SendSide>,
    /// Where [`Sink::poll_flush`] waits until: the write count that covers everything queued before it began.
    flush_to: Option<u64>,
}

/// The receiving half.
#[derive(Debug)]
pub struct WsReceiver {
    rx: mpsc::Receiver<Result<Message, Error>>,
}

/// What a sender does to the shared connection (object-safe, so that [`WsSender`] names no stream type).
trait SendSide: Send + Sync {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
    fn start_send(&self, msg: Message) -> Result<(), Error>;
    /// Returns the write count once the message is written.
    fn start_send_prepared(&self, msg: &PreparedMessage) -> Result<u64, Error>;
    /// Bytes written so far and bytes waiting; `None` once the connection is closed.
    fn write_state(&self) -> Option<(u64, usize)>;
    /// The write count (bytes ever written plus bytes waiting) once everything queued so far is written.
    fn flush_target(&self) -> u64;
    fn poll_flushed(&self, cx: &mut Context<'_>, target: u64) -> Poll<Result<(), Error>>;
    fn is_closing(&self) -> bool;
    fn add_sender(&self);
    fn drop_sender(&self);
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
}

struct Inner<S> {
    /// `None` once the driver has finished (the transport is closed and dropped).
    ws: Option<WebSocket<S>>,
    /// The driver task, woken when a sender queues something or goes away.
    driver: Option<Waker>,
    /// Senders waiting for room in the write buffer or for a flush.
    waiters: Vec<Waker>,
    senders: usize,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        // A panic while holding the lock leaves no half-updated state that matters more than the connection.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S> Inner<S> {
    fn wake_driver(&self) {
        if let Some(w) = &self.driver {
            w.wake_by_ref();
        }
    }

    fn wait(&mut self, cx: &mut Context<'_>) {
        if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiters.push(cx.waker().clone());
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> SendSide for Shared<S> {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut inner = self.lock();
        let Some(ws) = &inner.ws else { return Poll::Ready(Err(Error::ConnectionClosed)) };
        if !ws.is_open() {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        if ws.below_high_water() {
            return Poll::Ready(Ok(()));
        }
        // The driver wakes waiters when its writes make progress (it always has a write or a wake-up pending
        // while bytes wait).
        inner.wait(cx);
        Poll::Pending
    }

    fn start_send(&self, msg: Message) -> Result<(), Error> {
        let mut inner = self.lock();
        let ws = inner.ws.as_mut().ok_or(Error::ConnectionClosed)?;
        ws.queue_from_split(msg)?;
        inner.wake_driver();
        Ok(())
    }

    fn start_send_prepared(&self, msg: &PreparedMessage) -> Result<u64, Error> {
        let mut inner = self.lock();
        let ws = inner.ws.as_mut().ok_or(Error::ConnectionClosed)?;
        ws.encode_prepared(msg)?;
        let end = ws.write_count() + ws.write_pending() as u64;
        inner.wake_driver();
        Ok(end)
    }

    fn write_state(&self) -> Option<(u64, usize)> {
        let inner = self.lock();
        inner.ws.as_ref().filter(|ws| ws.is_open()).map(|ws| (ws.write_count(), ws.write_pending()))
    }

    fn flush_target(&self) -> u64 {
        self.lock().ws.as_ref().map_or(0, |ws| ws.write_count() + ws.write_pending() as u64)
    }

    fn poll_flushed(&self, cx: &mut Context<'_>, target: u64) -> Poll<Result<(), Error>> {
        let mut inner = self.lock();
        let Some(ws) = &inner.ws else { return Poll::Ready(Err(Error::ConnectionClosed)) };
        if ws.write_count() >= target {
            return Poll::Ready(Ok(()));
        }
        if ws.is_done() {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        // The driver wakes waiters when its writes make progress (it always has a write or a wake-up pending
        // while bytes wait).
        inner.wait(cx);
        Poll::Pending
    }

    fn is_closing(&self) -> bool {
        self.lock().ws.as_ref().is_none_or(|ws| ws.connection().is_closing())
    }

    fn add_sender(&self) {
        self.lock().senders += 1;
    }

    fn drop_sender(&self) {
        let mut inner = self.lock();
        inner.senders -= 1;
        if inner.senders == 0 {
            inner.wake_driver();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> WebSocket<S> {
    /// Splits into a sender and a receiver for different tasks. A driver task (spawned on the current tokio
    /// runtime) owns the socket: it answers pings and close frames and writes queued messages even while
    /// nobody reads, and stops reading when the receiver's queue is full (backpressure).
    pub fn split(self) -> (WsSender, WsReceiver) {
        split(self)
    }
}

pub(crate) fn split<S>(ws: WebSocket<S>) -> (WsSender, WsReceiver)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ev_tx, ev_rx) = mpsc::channel(RECV_QUEUE);
    let shared =
        Arc::new(Shared { inner: Mutex::new(Inner { ws: Some(ws), driver: None, waiters: Vec::new(), senders: 1 }) });
    tokio::spawn(Driver {
        shared: shared.clone(),
        events: PollSender::new(ev_tx),
        receiver_open: true,
        recv_done: false,
        write_error: None,
        woken_at: 0,
    });
    (WsSender { conn: shared, flush_to: None }, WsReceiver { rx: ev_rx })
}

impl WsSender {
    /// Sends a message: waits while the write buffer is over the high-water mark, then encodes the message into
    /// it (a caller error — sending after close… — comes back here, and nothing was queued) and returns. The
    /// driver task writes it at once, together with everything else queued by then (from any clone).
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        poll_fn(|cx| self.conn.poll_ready(cx)).await?;
        self.conn.start_send(msg.into())
    }

    /// Sends a [`PreparedMessage`] (framed once, for many connections): waits while the write buffer is over
    /// the high-water mark, then queues the shared frame (no payload copy on a server; see
    /// [`WebSocket::send_prepared`]) for the driver's next (vectored) write.
    pub async fn send_prepared(&self, msg: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.conn.poll_ready(cx)).await?;
        self.conn.start_send_prepared(msg).map(drop)
    }

    /// Queues a [`PreparedMessage`] at once, whatever the write buffer holds (no waiting: the caller bounds
    /// the queue, as [`Hub`](crate::Hub) does with [`write_pending`](Self::write_pending)).
    pub fn queue_prepared(&self, msg: &PreparedMessage) -> Result<(), Error> {
        self.conn.start_send_prepared(msg).map(drop)
    }

    /// [`queue_prepared`](Self::queue_prepared), returning the write count at which the message is written.
    pub(crate) fn queue_prepared_to(&self, msg: &PreparedMessage) -> Result<u64, Error> {
        self.conn.start_send_prepared(msg)
    }

    /// Queues a message at once, whatever the write buffer holds (no waiting).
    pub(crate) fn queue_now(&self, msg: Message) -> Result<(), Error> {
        self.conn.start_send(msg)
    }

    /// Bytes waiting to be written (0 once the connection is closed).
    pub fn write_pending(&self) -> usize {
        self.conn.write_state().map_or(0, |(_, pending)| pending)
    }

    /// Bytes written so far and bytes waiting; `None` once the connection is closed.
    pub(crate) fn write_state(&self) -> Option<(u64, usize)> {
        self.conn.write_state()
    }

    /// Waits until everything queued before the call (by any clone) is written.
    pub async fn flush(&self) -> Result<(), Error> {
        let target = self.conn.flush_target();
        poll_fn(|cx| self.conn.poll_flushed(cx, target)).await
    }

    /// Starts the closing handshake; the [`WsReceiver`] sees the peer's close and then the end.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.send(Message::Close(Some(CloseFrame { code: Some(code), reason: reason.to_owned() }))).await
    }
}

impl Clone for WsSender {
    fn clone(&self) -> Self {
        self.conn.add_sender();
        WsSender { conn: self.conn.clone(), flush_to: None }
    }
}

impl Drop for WsSender {
    fn drop(&mut self) {
        self.conn.drop_sender();
    }
}

impl fmt::Debug for WsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsSender").finish_non_exhaustive()
    }
}

/// `start_send` encodes the message at once (errors come back from it); `poll_flush` waits until the driver
/// has written everything queued before it; `poll_close` starts the closing handshake (1000) unless a close was
/// sent, and flushes. So `stream.forward(sender)` works, writing batches.
impl Sink<Message> for WsSender {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.conn.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.conn.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let target = *this.flush_to.get_or_insert_with(|| this.conn.flush_target());
        let r = std::task::ready!(this.conn.poll_flushed(cx, target));
        this.flush_to = None;
        Poll::Ready(r)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.flush_to.is_none() && !self.conn.is_closing() {
            std::task::ready!(self.conn.poll_ready(cx))?;
            self.conn.start_send(Message::Close(Some(CloseFrame {
                code: Some(CloseCode::NORMAL),
                reason: String::new(),
            })))?;
        }
        self.poll_flush(cx)
    }
}

impl WsReceiver {
    /// The next message; `None` when the connection is closed.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.rx.recv().await
    }
}

impl Stream for WsReceiver {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

struct Driver<S> {
    shared: Arc<Shared<S>>,
    events: PollSender<Result<Message, Error>>,
    receiver_open: bool,
    recv_done: bool,
    /// A write failed while the receiver's queue was full: reported when it has room.
    write_error: Option<Error>,
    /// The write count when waiting senders were last woken.
    woken_at: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let shared = this.shared.clone();
        let mut inner = shared.lock();
        if !inner.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            inner.driver = Some(cx.waker().clone());
        }
        let inner = &mut *inner;
        let Some(ws) = inner.ws.as_mut() else { return Poll::Ready(()) };
        loop {
            let mut progress = false;
            let mut full = false;
            // Events, while the receiver has room (or is gone: then keep reading to answer control frames).
            if !this.recv_done {
                let room = if this.receiver_open {
                    match this.events.poll_reserve(cx) {
                        Poll::Ready(Ok(())) => true,
                        Poll::Ready(Err(_)) => {
                            this.receiver_open = false;
                            true
                        }
                        Poll::Pending => false,
                    }
                } else {
                    true
                };
                full = !room;
                if !room {
                } else if let Some(e) = this.write_error.take() {
                    if this.receiver_open {
                        let _ = this.events.send_item(Err(e));
                    }
                    this.recv_done = true;
                    this.events.close();
                    progress = true;
                } else {
                    match ws.poll_recv(cx) {
                        Poll::Ready(Some(item)) => {
                            if this.receiver_open && this.events.send_item(item).is_err() {
                                this.receiver_open = false;
                            }
                            progress = true;
                        }
                        Poll::Ready(None) => {
                            this.recv_done = true;
                            this.events.close();
                            progress = true;
                        }
                        Poll::Pending => {}
                    }
                }
            }
            if progress {
                continue;
            }
            // About to wait: everything queued is written now (`poll_recv` wrote it already if it went on to
            // read). Not held for the replies the receiver may queue: it may be waiting for something else.
            {
                if let Err(e) = ws.poll_write_pending(cx) {
                    if this.write_error.is_none() && !this.recv_done {
                        this.write_error = Some(e);
                        // Report it when the receiver has room (its waker is registered).
                    }
                }
            }
            if this.write_error.is_some() && !full && !this.recv_done {
                continue;
            }
            let finished = this.recv_done && (inner.senders == 0 || ws.is_done());
            // Senders wait for room or for their bytes to be written: both come only with writes, or the end.
            if finished || ws.write_count() != this.woken_at || !ws.is_open() {
                this.woken_at = ws.write_count();
                for w in inner.waiters.drain(..) {
                    w.wake();
                }
            }
            if finished {
                inner.ws = None;
            }
            return if finished { Poll::Ready(()) } else { Poll::Pending };
        }
    }
}
