//! The typed event stream. The engine emits; reporters (terminal, JUnit, JSON) consume.
//!
//! Every `id` is a check's id as written in the wall (unique across it), the same value as
//! `CheckResult::id`, so a consumer can match a start to its result.

use crate::result::{CheckResult, RunInfo, RunSummary};

#[derive(Debug, Clone)]
pub enum Event {
    RunStarted {
        info: RunInfo,
    },
    CheckStarted {
        id: String,
    },
    /// An attempt failed and another one follows.
    CheckRetrying {
        id: String,
        attempt: u32,
        reason: String,
    },
    CheckFinished {
        result: CheckResult,
    },
    RunFinished {
        summary: RunSummary,
    },
}
