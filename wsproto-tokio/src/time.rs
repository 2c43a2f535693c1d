//! The clock the adapter gives the core: tokio's (so tokio's paused test clock drives the core too).

use wsproto::Instant;

/// An origin on tokio's clock; the core is told the time since it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(tokio::time::Instant);

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock(tokio::time::Instant::now())
    }

    /// Now, for the core.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_origin(self.0.elapsed())
    }

    /// A core deadline on tokio's clock.
    pub(crate) fn at(&self, deadline: Instant) -> tokio::time::Instant {
        self.0 + deadline.since_origin()
    }
}
