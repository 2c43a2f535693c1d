//! [`Stats`]: counters of every refusal and every way a connection ends, shared by the connections whose
//! [`Config`](crate::Config) carries them (one per listener, or any group you choose).
//!
//! The kinds are the core's: a handshake refusal is a [`RequestError`](wsproto::handshake::RequestError)'s HTTP
//! status (or a hook's [`Reject`](crate::Reject) status), an end is the core's
//! [`CloseOutcome`] and its close code (RFC 6455 §7.4.1), a failure is its
//! [`ProtocolError`] (budget refusals are [`ProtocolError::BudgetExhausted`], 1013), a deadline is a
//! [`Timeout`]. This module only counts them: it decides nothing.
//!
//! ```
//! let stats = wsproto_tokio::Stats::new();
//! let config = wsproto_tokio::Config::default().stats(stats.clone());
//! // … accept_with(tcp, config.clone(), hook) for each connection …
//! let now = stats.snapshot();
//! assert_eq!(now.refusals(400), 0);
//! assert_eq!(now.closes(wsproto_tokio::CloseCode::PROTOCOL_ERROR), 0);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wsproto::{CloseCode, CloseOutcome, ProtocolError, Timeout};

/// HTTP statuses counted one by one: 400 to 599 (the rest share one counter).
const STATUS_FIRST: u16 = 400;
const STATUS_COUNT: usize = 200;
/// Close codes counted one by one: 1000 to 1015, the RFC 6455 §7.4.1 registry (the rest — 3000–4999 —
/// share one counter).
const CODE_FIRST: u16 = 1000;
const CODE_COUNT: usize = 16;

/// Counters shared by a group of connections: cheap to clone (an [`Arc`]), updated with relaxed atomic adds
/// (a few per connection, none per message), read with [`snapshot`](Self::snapshot).
#[derive(Clone, Default)]
pub struct Stats(Arc<Counters>);

/// Which side ended a connection (the `who` of the `closed` trace event).
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closer {
    /// We sent the first close frame and the peer answered.
    Local,
    /// The peer sent the first close frame.
    Peer,
    /// We failed the connection (RFC 6455 §7.1.7): a protocol error, a limit, the budget, a deadline.
    Failed,
    /// The transport ended without a closing handshake, or the application dropped the connection.
    Transport,
}

#[cfg(feature = "tracing")]
impl Closer {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Closer::Local => "local",
            Closer::Peer => "peer",
            Closer::Failed => "failed",
            Closer::Transport => "transport",
        }
    }
}

#[derive(Default)]
struct Counters {
    opened: AtomicU64,
    closed: AtomicU64,
    refusals: Table<STATUS_COUNT>,
    closes: Table<CODE_COUNT>,
    failures: Table<CODE_COUNT>,
    budget_refusals: AtomicU64,
    timeouts: [AtomicU64; 4],
    dropped: AtomicU64,
}

/// Counters by key, plus one for keys outside the table.
struct Table<const N: usize> {
    by_key: [AtomicU64; N],
    other: AtomicU64,
}

impl<const N: usize> Default for Table<N> {
    fn default() -> Self {
        Table { by_key: std::array::from_fn(|_| AtomicU64::new(0)), other: AtomicU64::new(0) }
    }
}

impl<const N: usize> Table<N> {
    fn add(&self, key: u16, first: u16) {
        let slot = key.checked_sub(first).map(usize::from).and_then(|i| self.by_key.get(i));
        slot.unwrap_or(&self.other).fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self) -> ([u64; N], u64) {
        (std::array::from_fn(|i| self.by_key[i].load(Ordering::Relaxed)), self.other.load(Ordering::Relaxed))
    }
}

fn timeout_index(t: Timeout) -> usize {
    match t {
        Timeout::Handshake => 0,
        Timeout::Pong => 1,
        Timeout::Close => 2,
        _ => 3, // Timeout::Message (the enum is non-exhaustive: a newer kind lands here)
    }
}

impl Stats {
    /// Counters at zero.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// The counters now (each read on its own: a snapshot taken while connections come and go may be off by
    /// the few events in flight).
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &*self.0;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            opened: load(&c.opened),
            closed: load(&c.closed),
            refusals: c.refusals.load(),
            closes: c.closes.load(),
            failures: c.failures.load(),
            budget_refusals: load(&c.budget_refusals),
            timeouts: std::array::from_fn(|i| load(&c.timeouts[i])),
            dropped: load(&c.dropped),
        }
    }

    pub(crate) fn opened(&self) {
        self.0.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A handshake refused with `status` (the library's answer to a bad request, or a hook's [`Reject`]).
    ///
    /// [`Reject`]: crate::Reject
    pub(crate) fn refused(&self, status: u16) {
        self.0.refusals.add(status, STATUS_FIRST);
    }

    pub(crate) fn timed_out(&self, t: Timeout) {
        self.0.timeouts[timeout_index(t)].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended with `outcome` (`None`: the application dropped it while open).
    pub(crate) fn ended(&self, outcome: Option<&CloseOutcome>) {
        let c = &*self.0;
        c.closed.fetch_add(1, Ordering::Relaxed);
        let Some(outcome) = outcome else {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            c.closes.add(CloseCode::ABNORMAL.0, CODE_FIRST);
            return;
        };
        c.closes.add(outcome.code().0, CODE_FIRST);
        if let CloseOutcome::Failed(e) = outcome {
            match e {
                ProtocolError::UnexpectedEof => {}
                ProtocolError::Timeout(t) => self.timed_out(*t),
                ProtocolError::BudgetExhausted => {
                    c.budget_refusals.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            if *e != ProtocolError::UnexpectedEof {
                c.failures.add(e.close_code().0, CODE_FIRST);
            }
        }
    }
}

/// Who ended a connection with `outcome`, and with which code.
#[cfg(feature = "tracing")]
pub(crate) fn closer(outcome: Option<&CloseOutcome>) -> (Closer, CloseCode) {
    match outcome {
        Some(CloseOutcome::Clean { remote, initiated_locally }) => {
            (if *initiated_locally { Closer::Local } else { Closer::Peer }, remote.code_or_no_status())
        }
        Some(CloseOutcome::Failed(ProtocolError::UnexpectedEof)) => (Closer::Transport, CloseCode::ABNORMAL),
        Some(CloseOutcome::Failed(e)) => (Closer::Failed, e.close_code()),
        Some(_) | None => (Closer::Transport, CloseCode::ABNORMAL),
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// Two handles are equal when they share their counters.
impl PartialEq for Stats {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Stats {}

/// The counters of a [`Stats`] at one moment.
#[derive(Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    opened: u64,
    closed: u64,
    refusals: ([u64; STATUS_COUNT], u64),
    closes: ([u64; CODE_COUNT], u64),
    failures: ([u64; CODE_COUNT], u64),
    budget_refusals: u64,
    timeouts: [u64; 4],
    dropped: u64,
}

fn get<const N: usize>(t: &([u64; N], u64), key: u16, first: u16) -> u64 {
    key.checked_sub(first).map(usize::from).and_then(|i| t.0.get(i)).copied().unwrap_or(0)
}

fn nonzero<const N: usize>(t: &([u64; N], u64), first: u16) -> impl Iterator<Item = (u16, u64)> + '_ {
    t.0.iter().enumerate().filter(|(_, n)| **n > 0).map(move |(i, n)| (first + i as u16, *n))
}

impl StatsSnapshot {
    /// Connections opened (handshake done, server or client).
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Connections ended, whichever way (each once: [`closes`](Self::closes) summed over all codes).
    pub fn closed(&self) -> u64 {
        self.closed
    }

    /// Connections open now ([`opened`](Self::opened) − [`closed`](Self::closed)).
    pub fn open(&self) -> u64 {
        self.opened.saturating_sub(self.closed)
    }

    /// Upgrade requests refused with HTTP `status` (400 bad request, 408 handshake timeout, 414 target too long,
    /// 426 wrong version or no upgrade, 431 head too large; and whatever a hook's `Reject` answered: 401, 403,
    /// 404…). Statuses outside 400–599 are only in [`refusals_total`](Self::refusals_total).
    pub fn refusals(&self, status: u16) -> u64 {
        get(&self.refusals, status, STATUS_FIRST)
    }

    /// Upgrade requests refused, whatever the status.
    pub fn refusals_total(&self) -> u64 {
        self.refusals.0.iter().sum::<u64>() + self.refusals.1
    }

    /// The statuses refused at least once, with their counts, in status order.
    pub fn refusals_by_status(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        nonzero(&self.refusals, STATUS_FIRST)
    }

    /// Connections that ended with `code` (RFC 6455 §7.4.1): the peer's code after a closing handshake
    /// (1005 if it gave none), the code we failed the connection with, or 1006 when the transport ended
    /// without one (or the application dropped the connection). Codes 1000–1015; the rest (3000–4999) are in
    /// [`closes_other`](Self::closes_other).
    pub fn closes(&self, code: CloseCode) -> u64 {
        get(&self.closes, code.0, CODE_FIRST)
    }

    /// Connections that ended with a code outside 1000–1015 (the registered and private ranges, 3000–4999).
    pub fn closes_other(&self) -> u64 {
        self.closes.1
    }

    /// The codes 1000–1015 seen at least once, with their counts.
    pub fn closes_by_code(&self) -> impl Iterator<Item = (CloseCode, u64)> + '_ {
        nonzero(&self.closes, CODE_FIRST).map(|(c, n)| (CloseCode(c), n))
    }

    /// Connections **we** failed with `code` (RFC 6455 §7.1.7) because the peer broke the protocol (1002,
    /// 1007), a limit (1009), the message deadline (1008), the memory budget (1013), or a deadline that sends
    /// nothing (1006: pong, close). A transport that merely ended is not a failure.
    pub fn failures(&self, code: CloseCode) -> u64 {
        get(&self.failures, code.0, CODE_FIRST)
    }

    /// Connections failed with 1013 Try Again Later because the shared memory budget was spent
    /// ([`ProtocolError::BudgetExhausted`]).
    pub fn budget_refusals(&self) -> u64 {
        self.budget_refusals
    }

    /// Deadlines missed, by kind: the opening handshake (server: answered with 408; client: connect and
    /// handshake), a keepalive pong, the peer's close frame, a message's completion.
    pub fn timeouts(&self, kind: Timeout) -> u64 {
        self.timeouts[timeout_index(kind)]
    }

    /// Connections the application dropped while they were open (also counted as closes with 1006).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl fmt::Debug for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("opened", &self.opened)
            .field("closed", &self.closed)
            .field("refusals", &nonzero(&self.refusals, STATUS_FIRST).collect::<Vec<_>>())
            .field("closes", &nonzero(&self.closes, CODE_FIRST).collect::<Vec<_>>())
            .field("closes_other", &self.closes.1)
            .field("failures", &nonzero(&self.failures, CODE_FIRST).collect::<Vec<_>>())
            .field("budget_refusals", &self.budget_refusals)
            .field("timeouts", &self.timeouts)
            .field("dropped", &self.dropped)
            .finish()
    }
}
