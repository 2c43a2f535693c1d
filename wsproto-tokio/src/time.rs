//! The clock the adapter gives the core: tokio's (so a paused test clock drives the core too), measured from
//! an origin taken when a handshake starts and kept by its connection, so both run on one clock. (Each tokio
//! runtime has its own clock when paused: one origin for the whole process would not do.)

use std::time::Duration;

use wsproto::Instant;

/// An origin on tokio's clock: the core is told the time since it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(tokio::time::Instant);

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock(tokio::time::Instant::now())
    }

    /// Now, for the core.
    pub(crate) fn now(self) -> Instant {
        Instant::from_origin(tokio::time::Instant::now().saturating_duration_since(self.0))
    }

    /// A core deadline on tokio's clock (one too far off to represent is about a century away).
    pub(crate) fn at(self, deadline: Instant) -> tokio::time::Instant {
        let far = Duration::from_secs(100 * 365 * 86_400);
        self.0.checked_add(deadline.since_origin().min(far)).unwrap_or_else(|| self.0 + far / 2)
    }
}
