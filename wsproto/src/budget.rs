//! A memory budget shared by a group of connections: the bytes they hold for the peer's traffic (receive
//! buffers, messages being reassembled, inflated data) come out of one pool, as HTTP/2's connection-level
//! flow-control window or Linux's `tcp_mem` bound many streams or sockets together.
//!
//! Each connection may hold a small floor ([`Config::budget_floor`](crate::Config::budget_floor)) without
//! asking; past it, it draws from the budget, and gives back what it frees. A connection that would grow while
//! the budget is spent fails with close 1013 Try Again Later ([`ProtocolError::BudgetExhausted`]), and the
//! others keep working. The group is whatever shares the [`Budget`]: clone it into the [`Config`] of every
//! connection from one listener, or of any group you choose.
//!
//! [`Config`]: crate::Config
//! [`ProtocolError::BudgetExhausted`]: crate::ProtocolError::BudgetExhausted

use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A pool of bytes shared by connections (cheap to clone: clones share the pool).
#[derive(Clone)]
pub struct Budget(Arc<Pool>);

struct Pool {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A pool of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget(Arc::new(Pool { limit, used: AtomicUsize::new(0) }))
    }

    /// The pool's size.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// Bytes drawn from the pool now, by all the connections sharing it.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Draws `n` bytes if the pool has them.
    pub(crate) fn try_take(&self, n: usize) -> bool {
        let pool = &self.0;
        pool.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|&total| total <= pool.limit)
            })
            .is_ok()
    }

    /// Gives `n` bytes back.
    pub(crate) fn give(&self, n: usize) {
        self.0.used.fetch_sub(n, Ordering::Relaxed);
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget").field("limit", &self.limit()).field("used", &self.used()).finish()
    }
}

/// Budgets are equal when they are the same pool.
impl PartialEq for Budget {
    fn eq(&self, other: &Budget) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Budget {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_pool() {
        let a = Budget::new(100);
        let b = a.clone();
        assert!(a.try_take(60));
        assert_eq!(b.used(), 60);
        assert!(!b.try_take(41), "past the limit");
        assert!(b.try_take(40));
        a.give(100);
        assert_eq!(b.used(), 0);
        assert_eq!(a, b);
        assert_ne!(a, Budget::new(100));
    }
}
