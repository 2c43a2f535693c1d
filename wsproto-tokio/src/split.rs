//! Split halves: a driver task owns the socket; [`WsSender`] and [`WsReceiver`] are handles to it.
//!
//! No lock guards the socket: only the driver touches it. The driver writes queued messages and the core's
//! automatic replies (pongs, close replies) whether or not anyone reads, and stops reading from the socket
//! while the receiver's queue is full, so a slow reader pushes back on the peer through TCP.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;
use wsproto::{CloseCode, CloseFrame};

use crate::error::Error;
use crate::message::Message;
use crate::socket::WebSocket;

/// Messages received but not yet taken by the [`WsReceiver`].
const RECV_QUEUE: usize = 16;
/// Send commands waiting for the driver.
const SEND_QUEUE: usize = 16;

type Command = (Message, oneshot::Sender<Result<(), Error>>);

/// The sending half. Cloneable; messages from clones interleave whole.
#[derive(Clone, Debug)]
pub struct WsSender {
    tx: mpsc::Sender<Command>,
}

/// The receiving half.
#[derive(Debug)]
pub struct WsReceiver {
    rx: mpsc::Receiver<Result<Message, Error>>,
}

pub(crate) fn split<S>(ws: WebSocket<S>) -> (WsSender, WsReceiver)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (cmd_tx, cmd_rx) = mpsc::channel(SEND_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(RECV_QUEUE);
    tokio::spawn(Driver {
        ws,
        commands: cmd_rx,
        commands_open: true,
        events: PollSender::new(ev_tx),
        receiver_open: true,
        recv_done: false,
    });
    (WsSender { tx: cmd_tx }, WsReceiver { rx: ev_rx })
}

impl WsSender {
    /// Sends a message; returns once it is queued in the connection's write buffer (waiting while that is
    /// over the high-water mark). Caller errors (send after close…) come back here.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        let (ack_tx, ack_rx) = oneshot::channel();
        self.tx.send((msg.into(), ack_tx)).await.map_err(|_| Error::ConnectionClosed)?;
        ack_rx.await.map_err(|_| Error::ConnectionClosed)?
    }

    /// Starts the closing handshake; the [`WsReceiver`] sees the peer's close and then the end.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.send(Message::Close(Some(CloseFrame { code: Some(code), reason: reason.to_owned() }))).await
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
    ws: WebSocket<S>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    events: PollSender<Result<Message, Error>>,
    receiver_open: bool,
    recv_done: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let mut progress = false;
            // Commands, while the write buffer has room.
            let was_full = !this.ws.below_high_water();
            while this.commands_open && this.ws.below_high_water() {
                match this.commands.poll_recv(cx) {
                    Poll::Ready(Some((msg, ack))) => {
                        let _ = ack.send(this.ws.queue_from_split(msg));
                        progress = true;
                    }
                    Poll::Ready(None) => this.commands_open = false,
                    Poll::Pending => break,
                }
            }
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
                if room {
                    match this.ws.poll_recv(cx) {
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
                } else if let Err(e) = this.ws.poll_write_pending(cx) {
                    // The receiver is full: still write pongs, close replies and queued messages.
                    if this.events.send_item(Err(e)).is_err() {
                        this.receiver_open = false;
                    }
                    this.recv_done = true;
                }
            }
            if this.recv_done && (!this.commands_open || this.ws.is_done()) {
                // Fail queued and future sends promptly.
                this.commands.close();
                while let Poll::Ready(Some((_, ack))) = this.commands.poll_recv(cx) {
                    let _ = ack.send(Err(Error::ConnectionClosed));
                }
                if !this.commands_open || this.ws.is_done() {
                    return Poll::Ready(());
                }
            }
            if !progress {
                // Writing may have made room since the commands were skipped; only polling them registers
                // their waker, so take them now rather than wait for a wake that would not come.
                if was_full && this.commands_open && this.ws.below_high_water() {
                    continue;
                }
                return Poll::Pending;
            }
        }
    }
}
