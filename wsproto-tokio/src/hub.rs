//! [`Hub`]: publish a message to many connections — chat rooms, market data, dashboards, game state — framed
//! once and written to every subscriber from the same shared bytes, with a bound on what a slow subscriber
//! may hold.
//!
//! ```no_run
//! # async fn run(ws: wsproto_tokio::WebSocket<tokio::net::TcpStream>) {
//! use wsproto_tokio::{Hub, HubConfig};
//!
//! let hub = Hub::new(HubConfig::default());
//! let (sender, _receiver) = ws.split();
//! let id = hub.subscribe(sender);
//! hub.publish_text("tick 42"); // framed once; every subscriber's queue holds the same bytes
//! hub.unsubscribe(id);
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use wsproto::{CloseCode, CloseFrame, DataKind, PreparedMessage};

use crate::error::Error;
use crate::message::Message;
use crate::split::WsSender;

/// What happens to a subscriber whose queue would pass its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowPolicy {
    /// Close its connection with this code (RFC 6455 §7.4.1: 1008 policy violation, or 1013 try again
    /// later), after what it already has queued; it is unsubscribed.
    Close(CloseCode),
    /// Unsubscribe it only: it gets no more messages, and its connection is left to its owner.
    Unsubscribe,
}

/// Settings for a [`Hub`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubConfig {
    /// The most bytes one subscriber may have waiting to be written (what publishing adds to a connection's
    /// write queue, and anything else queued there). Default 1 MiB. A message that would take a subscriber
    /// past it is not queued: [`on_slow`](Self::on_slow) applies instead. Messages larger than this reach
    /// nobody, so set it above the largest message.
    pub max_queued_bytes: usize,
    /// The most published messages one subscriber may have waiting to be written. Default 1024.
    pub max_queued_messages: usize,
    /// What happens to a subscriber past either bound. Default: closed with 1008 (policy violation).
    pub on_slow: SlowPolicy,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            max_queued_bytes: 1 << 20,
            max_queued_messages: 1024,
            on_slow: SlowPolicy::Close(CloseCode::POLICY_VIOLATION),
        }
    }
}

impl HubConfig {
    /// Sets the bound in bytes per subscriber.
    pub fn max_queued_bytes(mut self, n: usize) -> Self {
        self.max_queued_bytes = n;
        self
    }

    /// Sets the bound in messages per subscriber.
    pub fn max_queued_messages(mut self, n: usize) -> Self {
        self.max_queued_messages = n;
        self
    }

    /// Sets what happens to a subscriber past its bound.
    pub fn on_slow(mut self, policy: SlowPolicy) -> Self {
        self.on_slow = policy;
        self
    }
}

/// A subscriber of a [`Hub`], for [`Hub::unsubscribe`] and the accessors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberId(u64);

/// What a [`Hub::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Published {
    /// Subscribers whose queue took the message.
    pub delivered: usize,
    /// Subscribers past their bound, closed or unsubscribed per [`HubConfig::on_slow`].
    pub slow: usize,
    /// Subscribers whose connection had closed (they are unsubscribed).
    pub gone: usize,
}

/// A broadcast hub: [`subscribe`](Self::subscribe) the sending halves of connections, and
/// [`publish`](Self::publish) messages to all of them. Cheap to clone (clones are the same hub).
///
/// A message is framed once ([`PreparedMessage`]) and every server connection queues the same shared bytes
/// (with permessage-deflate without context takeover, compressed once per parameter set; see
/// [`WebSocket::send_prepared`](crate::WebSocket::send_prepared)); the connections' driver tasks write them.
///
/// Publishing never waits for a subscriber: it queues the message on every connection at once. A subscriber
/// that does not read as fast as messages come stops being written to by TCP, and its queue grows, up to
/// [`HubConfig::max_queued_bytes`] and [`HubConfig::max_queued_messages`]; the message that would take it past
/// either is not queued, and the subscriber is closed or unsubscribed ([`HubConfig::on_slow`]). So its memory
/// stays bounded, and the others are not slowed. Every subscriber that stays gets every message published
/// while it is subscribed, in the order of the `publish` calls (publishes are serialized).
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    config: HubConfig,
    next_id: u64,
    subs: Vec<Sub>,
}

struct Sub {
    id: SubscriberId,
    sender: WsSender,
    /// The write counts at which the published messages still queued are written, oldest first.
    ends: VecDeque<u64>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Hub").field("config", &inner.config).field("subscribers", &inner.subs.len()).finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl Hub {
    /// A hub with no subscribers.
    pub fn new(config: HubConfig) -> Hub {
        Hub { inner: Arc::new(Mutex::new(Inner { config, next_id: 0, subs: Vec::new() })) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the subscriber list consistent: a panic elsewhere does not spoil it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection's sending half; it gets every message published from now on. (Keep the receiving
    /// half reading: a connection whose receiver is full stops reading, and then pongs and close replies
    /// wait.)
    pub fn subscribe(&self, sender: WsSender) -> SubscriberId {
        let mut inner = self.lock();
        let id = SubscriberId(inner.next_id);
        inner.next_id += 1;
        inner.subs.push(Sub { id, sender, ends: VecDeque::new() });
        id
    }

    /// Queues `first` (a greeting, the current state…) for this connection alone, then subscribes it, with no
    /// publish in between: it gets `first` before any published message, as a Node `ws` server's greeting in
    /// its `connection` handler comes before any broadcast. Fails, subscribing nothing, if `first` cannot be
    /// sent.
    pub fn subscribe_after(&self, sender: WsSender, first: impl Into<Message>) -> Result<SubscriberId, Error> {
        let mut inner = self.lock();
        sender.queue_now(first.into())?;
        let id = SubscriberId(inner.next_id);
        inner.next_id += 1;
        inner.subs.push(Sub { id, sender, ends: VecDeque::new() });
        Ok(id)
    }

    /// Removes a subscriber; its sender comes back (`None` if it was not subscribed: never, or already
    /// unsubscribed, closed as slow, or gone).
    pub fn unsubscribe(&self, id: SubscriberId) -> Option<WsSender> {
        let mut inner = self.lock();
        let i = inner.subs.iter().position(|s| s.id == id)?;
        Some(inner.subs.swap_remove(i).sender)
    }

    /// Whether `id` is subscribed.
    pub fn is_subscribed(&self, id: SubscriberId) -> bool {
        self.lock().subs.iter().any(|s| s.id == id)
    }

    /// How many are subscribed.
    pub fn len(&self) -> usize {
        self.lock().subs.len()
    }

    /// Whether nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes waiting to be written to subscriber `id` (at most [`HubConfig::max_queued_bytes`] plus a close
    /// frame); `None` if it is not subscribed.
    pub fn queued_bytes(&self, id: SubscriberId) -> Option<usize> {
        let inner = self.lock();
        inner.subs.iter().find(|s| s.id == id).map(|s| s.sender.write_pending())
    }

    /// Publishes a text message.
    pub fn publish_text(&self, text: &str) -> Published {
        self.publish(&PreparedMessage::new(DataKind::Text, text))
    }

    /// Publishes a binary message.
    pub fn publish_binary(&self, data: &[u8]) -> Published {
        self.publish(&PreparedMessage::new(DataKind::Binary, data))
    }

    /// Publishes a data message (other kinds of message are not published: `None`).
    pub fn publish_message(&self, msg: &Message) -> Option<Published> {
        match msg {
            Message::Text(t) => Some(self.publish_text(t)),
            Message::Binary(b) => Some(self.publish_binary(b)),
            _ => None,
        }
    }

    /// Queues `msg` for every subscriber, without waiting for any (see [`Hub`] for the bounds).
    pub fn publish(&self, msg: &PreparedMessage) -> Published {
        let mut inner = self.lock();
        let Inner { config, subs, .. } = &mut *inner;
        let mut done = Published::default();
        let len = msg.frame().len();
        subs.retain_mut(|sub| {
            let Some((written, pending)) = sub.sender.write_state() else {
                done.gone += 1;
                return false;
            };
            while sub.ends.front().is_some_and(|&end| end <= written) {
                sub.ends.pop_front();
            }
            if pending + len > config.max_queued_bytes || sub.ends.len() >= config.max_queued_messages {
                done.slow += 1;
                if let SlowPolicy::Close(code) = config.on_slow {
                    let frame = CloseFrame { code: Some(code), reason: "too slow".to_owned() };
                    let _ = sub.sender.queue_now(Message::Close(Some(frame)));
                }
                return false;
            }
            match sub.sender.queue_prepared_to(msg) {
                Ok(end) => {
                    sub.ends.push_back(end);
                    done.delivered += 1;
                    true
                }
                Err(_) => {
                    done.gone += 1;
                    false
                }
            }
        });
        done
    }
}
