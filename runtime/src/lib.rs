//! Drives the system under test: starting, readiness, stopping and killing services.
//!
//! Owns: process groups, pids, signals, readiness waits.
//! Must not touch: specs, verdicts, or output.
