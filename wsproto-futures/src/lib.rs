//! # wsproto-futures: a runtime-neutral driver for the `wsproto` core
//!
//! Drives a [`wsproto::Connection`] over any [`futures_io::AsyncRead`] + [`futures_io::AsyncWrite`] stream
//! (smol, async-std, or anything with a futures-io adapter), with a timer the caller supplies through the
//! small [`Timer`] trait (in the spirit of quinn's `Runtime`). With the `smol` feature, `SmolTimer` is
//! one (async-io's reactor).
//!
//! The driver has **no protocol logic and no timers of its own**: it follows the core's drive contract
//! (time, then input, then events, commands, output, then the transport close the core asks for) and sleeps
//! until the core's [`poll_timeout`](wsproto::Connection::poll_timeout). So the handshake deadline (408),
//! keepalive pings and their pong deadline, the close deadline and the message deadline are the core's
//! ([`wsproto::Config`]), and behave exactly as under any other driver.
//!
//! ```no_run
//! # #[cfg(feature = "smol")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wsproto::{Config, Event};
//! use wsproto_futures::{accept, SmolTimer};
//!
//! smol::block_on(async {
//!     let listener = smol::net::TcpListener::bind("127.0.0.1:9001").await?;
//!     let (stream, _) = listener.accept().await?;
//!     let mut ws = accept(stream, Config::default(), SmolTimer).await?;
//!     while let Some(event) = ws.recv().await {
//!         match event? {
//!             Event::Text(t) => ws.queue(t.as_str())?, // replies queued while input is buffered leave in one write
//!             Event::Binary(b) => ws.queue(b)?,
//!             _ => {}
//!         }
//!     }
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "smol"))]
//! # fn main() {}
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod handshake;
mod socket;

use std::future::Future;

pub use error::Error;
pub use handshake::{accept, accept_with, client_handshake};
pub use socket::{Message, WebSocket};
pub use wsproto;

/// The caller's timer: the one thing a driver needs from a runtime besides the stream.
///
/// The driver asks for one sleep per deadline the core reports, on [`std::time::Instant`]'s clock.
pub trait Timer {
    /// A future that completes at (or after) its deadline.
    type Sleep: Future<Output = ()>;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: std::time::Instant) -> Self::Sleep;
}

/// The [`Timer`] of smol and async-std (async-io's reactor): `async_io::Timer::at`.
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolTimer;

#[cfg(feature = "smol")]
impl Timer for SmolTimer {
    type Sleep = SmolSleep;

    fn sleep_until(&self, deadline: std::time::Instant) -> SmolSleep {
        SmolSleep(async_io::Timer::at(deadline))
    }
}

/// [`SmolTimer`]'s sleep.
#[cfg(feature = "smol")]
#[derive(Debug)]
pub struct SmolSleep(async_io::Timer);

#[cfg(feature = "smol")]
impl Future for SmolSleep {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// The driver's clock: the core is told the time elapsed since an origin taken here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(std::time::Instant);

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock(std::time::Instant::now())
    }

    pub(crate) fn now(&self) -> wsproto::Instant {
        wsproto::Instant::from_origin(self.0.elapsed())
    }

    /// A deadline from the core, on `std::time::Instant`'s clock (`None`: beyond it, i.e. never).
    pub(crate) fn at(&self, deadline: wsproto::Instant) -> Option<std::time::Instant> {
        self.0.checked_add(deadline.since_origin())
    }
}
