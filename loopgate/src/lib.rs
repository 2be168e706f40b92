//! The Kitchen Loop's memory and brakes: a crash-safe SQLite [`Ledger`] of every cycle, the
//! pause [gates](evaluate) judged over its history, the kill switch, and failure
//! [`triage`] into deduplicated finding files.
//!
//! Owns: the ledger's schema and its reads and writes, the gate rules and thresholds, the
//! finding-file format and the on-disk conventions below. Must not touch: running checks or
//! scenarios, the clock (every time is passed in as unix milliseconds), the terminal, exit
//! codes. The `auditwall loop` command drives one cycle like this:
//!
//! ```text
//! kill_switch_engaged(STOP)?  -> stop
//! ledger.begin_cycle(now)     -> refused while paused
//! record_phase(...) per phase; triage(findings, failures, now)
//! finish_cycle(id, &metrics, now)   (or abort_cycle when the kill switch appears mid-cycle)
//! for trip in evaluate(&ledger.history(policy.cycles_needed())?, &policy) -> pause(...)
//! ```
//!
//! Conventions, relative to the directory the loop runs in: the ledger at [`LEDGER_PATH`], the
//! kill switch at [`KILL_SWITCH_PATH`], findings in [`FINDINGS_DIR`]. All three sit under
//! `.auditwall/`, which is not checked in.

mod error;
mod gate;
mod ledger;
mod triage;

use std::path::Path;

pub use error::{Kind, LoopError};
pub use gate::{evaluate, Gate, GatePolicy, GateTrip, Metric};
pub use ledger::{
    CanaryCount, CycleId, CycleMetrics, CycleRecord, CycleStatus, History, Ledger, LoopState,
    Pause, PhaseRecord, PhaseStatus, Resume, Tier, SCHEMA_VERSION,
};
pub use triage::{triage, Failure, Finding, FindingFile, SignatureInputs, Source, FINDING_FORMAT};

/// Where the loop's ledger lives by default.
pub const LEDGER_PATH: &str = ".auditwall/loop/ledger.sqlite";
/// Creating this file stops the loop before its next phase; deleting it lets it run again.
pub const KILL_SWITCH_PATH: &str = ".auditwall/loop/STOP";
/// Where triage writes finding files by default.
pub const FINDINGS_DIR: &str = ".auditwall/loop/findings";

/// Whether the kill switch at `path` is engaged: the file (or anything else) exists there.
///
/// When existence cannot be determined (a directory on the way is unreadable), the switch
/// counts as engaged: a stop that cannot be read must still stop.
pub fn kill_switch_engaged(path: &Path) -> bool {
    path.try_exists().unwrap_or(true)
}
