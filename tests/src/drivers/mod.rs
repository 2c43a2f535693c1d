//! The drivers the suite runs on.

pub mod axum;
pub mod blocking;
pub mod memory;
pub mod smol;
pub mod tokio;
