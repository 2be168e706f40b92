//! The exit-code contract (DESIGN.md §5), decided in exactly one function.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | green: every check passed (flaky passes included, and shown) or was skipped |
//! | 1 | the system is wrong: a check failed or drifted; `doctor` found a missing prerequisite; `status` found a service not ready; with `--prove`, a P0 check was vacuous (stayed green under its canary fault) or a green check's negative control could not be run |
//! | 2 | the wall is wrong: spec, profile, filter or usage error |
//! | 3 | the harness could not run a check (`error` verdict) or could not work at all |
//! | 4 | the run deadline was exhausted, or the run was interrupted (Ctrl-C, SIGTERM); partial results were still written |
//!
//! `auditwall release` stops at the first red gate, each with its own code: 10 doctor,
//! 11 verify, 12 prove, 13 soak, 14 docs, 15 bundle (writing or signing). Bad input is 2 as
//! everywhere.

use auditwall_harness::result::{CheckResult, ProofStatus, RunSummary, Verdict};
use auditwall_harness::{Error, ErrorKind};
use auditwall_spec::Severity;

use crate::release_cmd::Gate;

pub const GREEN: u8 = 0;
pub const SYSTEM_WRONG: u8 = 1;
pub const WALL_WRONG: u8 = 2;
pub const HARNESS_ERROR: u8 = 3;
pub const DEADLINE: u8 = 4;
pub const RELEASE_DOCTOR: u8 = 10;
pub const RELEASE_VERIFY: u8 = 11;
pub const RELEASE_PROVE: u8 = 12;
pub const RELEASE_SOAK: u8 = 13;
pub const RELEASE_DOCS: u8 = 14;
pub const RELEASE_BUNDLE: u8 = 15;

/// What a command produced when it did not fail outright.
pub enum Outcome {
    /// Nothing to judge (list, dry run, profile show).
    Done,
    Run(Box<RunSummary>),
    /// `doctor` and `status`: how many of the things they looked at are not as they must be
    /// (missing prerequisites, services not ready).
    Findings {
        failed: usize,
    },
    /// `release`: the first gate that failed, or none.
    Release {
        failed: Option<Gate>,
    },
}

pub fn code(outcome: &anyhow::Result<Outcome>) -> u8 {
    match outcome {
        Ok(Outcome::Done) => GREEN,
        Ok(Outcome::Release { failed }) => match failed {
            None => GREEN,
            Some(Gate::Doctor) => RELEASE_DOCTOR,
            Some(Gate::Verify) => RELEASE_VERIFY,
            Some(Gate::Prove) => RELEASE_PROVE,
            Some(Gate::Soak) => RELEASE_SOAK,
            Some(Gate::Docs) => RELEASE_DOCS,
            Some(Gate::Bundle) => RELEASE_BUNDLE,
        },
        Ok(Outcome::Findings { failed }) => {
            if *failed == 0 {
                GREEN
            } else {
                SYSTEM_WRONG
            }
        }
        Ok(Outcome::Run(summary)) => {
            let any = |v: Verdict| summary.results.iter().any(|r| r.verdict == v);
            if summary.deadline_exceeded || summary.interrupted {
                DEADLINE
            } else if any(Verdict::Fail)
                || any(Verdict::Drift)
                || summary.results.iter().any(proof_fails)
            {
                SYSTEM_WRONG
            } else if any(Verdict::Error) {
                HARNESS_ERROR
            } else {
                GREEN
            }
        }
        Err(e) => match e.downcast_ref::<Error>().map(|e| e.kind) {
            Some(ErrorKind::Spec) => WALL_WRONG,
            Some(ErrorKind::Harness) | None => HARNESS_ERROR,
        },
    }
}

/// True when the command stopped because its output pipe was closed by the reader. The code
/// is still decided by [`code`] (3: the command could not finish), but nothing is printed.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A proof that fails the run: a vacuous P0 check (it cannot fail, so its green means
/// nothing), or a check that was green whose control could not be run. A check that was not
/// green already decides the code by its verdict.
fn proof_fails(r: &CheckResult) -> bool {
    match r.proof.as_ref().map(|p| p.status) {
        Some(ProofStatus::Vacuous) => r.severity == Severity::P0,
        Some(ProofStatus::Error) => r.verdict == Verdict::Pass,
        Some(ProofStatus::Proven | ProofStatus::Unproven) | None => false,
    }
}
