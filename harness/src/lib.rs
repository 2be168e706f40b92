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

/// Milliseconds since the Unix epoch, the time stamp of every ledger, journal and backup;
/// 0 for a time before 1970 (a clock that wrong is not worth a failure).
pub fn unix_ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
