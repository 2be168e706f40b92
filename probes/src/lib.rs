//! Check primitives with no knowledge of walls: each probe kind measures [`Observations`].
//!
//! Owns: performing one probe (HTTP request, TCP connect, process/port/file inspection,
//! command execution) with its own timeout, and reporting what it measured.
//! Must not touch: conditions, verdicts, retries, scheduling or output — the harness judges.

pub use auditwall_spec::Observations;
