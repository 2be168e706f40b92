//! The engine of auditwall.
//!
//! Owns: reading a wall from disk (or the embedded default), planning (filters, partitions,
//! dependencies), running checks with bounded concurrency, timeouts, retries and a deadline,
//! and the typed [`event::Event`] stream plus the final [`result`] model.
//! Must not touch: output formatting. Reporters consume events; the engine never prints.

pub mod calibrate;
pub mod coverage;
pub mod drill;
pub mod engine;
pub mod error;
pub mod event;
pub mod journal;
pub mod load;
pub mod plan;
pub mod prove;
pub mod result;
pub mod scenario;

pub use error::{Error, ErrorKind};
pub mod doctor;
