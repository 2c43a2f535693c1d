//! Time as the caller gives it: the core reads no clock.
//!
//! Drivers keep an origin on their own monotonic clock (`std::time::Instant`, `tokio::time::Instant`, a
//! virtual clock in tests) and pass the time elapsed since it as an [`Instant`]. Deadlines come back the same
//! way, from `poll_timeout`.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the driver's monotonic clock: the time elapsed since an origin the driver chose (any fixed
/// point before the first call).
///
/// ```
/// use std::time::Duration;
/// use wsproto::Instant;
///
/// let origin = std::time::Instant::now();            // the driver's choice
/// let now = Instant::from_origin(origin.elapsed());   // what it passes to `handle_timeout`
/// let deadline = now + Duration::from_secs(5);       // what `poll_timeout` may return
/// let wake_at = origin + deadline.since_origin();     // back on the driver's clock
/// # let _ = wake_at;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    /// The origin itself.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `elapsed` after the driver's origin.
    pub const fn from_origin(elapsed: Duration) -> Instant {
        Instant(elapsed)
    }

    /// The time from the driver's origin to this instant.
    pub const fn since_origin(self) -> Duration {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the largest representable instant (a deadline that never comes).
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let a = Instant::from_origin(Duration::from_secs(3));
        let b = a + Duration::from_millis(500);
        assert_eq!(b - a, Duration::from_millis(500));
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(b.since_origin(), Duration::from_millis(3500));
        assert_eq!(Instant::from_origin(Duration::MAX) + Duration::from_secs(1), Instant::from_origin(Duration::MAX));
        assert!(Instant::ZERO < a);
    }
}
