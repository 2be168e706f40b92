//! The spec model of auditwall: what a wall *says*, validated, with source locations.
//!
//! Owns: the validated model types ([`model`]), measured observations and the condition
//! language that judges them ([`observe`], [`condition`]), YAML parsing with spans,
//! validation, profile merging and `${...}` interpolation.
//! Must not touch: the file system, the network, processes, clocks or an async runtime.
//! Callers hand in file contents and environment lookups; this crate only computes.

pub mod condition;
pub mod model;
pub mod observe;

pub use condition::Condition;
pub use model::*;
pub use observe::{Observations, Value};
