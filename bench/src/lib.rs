//! Shared pieces of the echo benchmark: the load generator's engine, the echo servers, the client drivers, and
//! small helpers (arguments, CPU time, RSS, JSON lines).
//!
//! Everything is built for measurement, not for reuse: see `bench/README.md` for the commands.

pub mod clients;
pub mod loadgen;
pub mod servers;
pub mod util;
pub mod wire;
