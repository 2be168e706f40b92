//! The drift check: compares every planned deployed file with its canonical source.
//!
//! Owns: running the comparisons and putting findings in their one deterministic order.
//! Must not touch: the deployed files (read only), waivers and the ledger (applied afterwards
//! by the caller).

use std::path::PathBuf;

use crate::compare::compare;
use crate::error::CalibrationError;
use crate::finding::{Finding, Report};
use crate::model::{DirRule, Limits, Pair};
use crate::plan::plan;

/// Compares every pair and every file of every directory rule, reading only inside `roots`.
///
/// Per-file trouble (missing, unreadable, outside the roots, …) is a finding; `Err` means the
/// input itself is wrong (a relative path, a bad glob, one file claimed twice, a bad mode).
pub fn check(
    pairs: &[Pair],
    dirs: &[DirRule],
    roots: &[PathBuf],
    limits: &Limits,
) -> Result<Report, CalibrationError> {
    let plan = plan(pairs, dirs, roots)?;
    let mut findings = plan.findings;
    let mut clean = 0;
    for item in &plan.items {
        let kinds = compare(&item.canonical, &item.shown, &item.real, item.mode, limits);
        if kinds.is_empty() {
            clean += 1;
        }
        findings.extend(kinds.into_iter().map(|kind| Finding {
            path: item.shown.clone(),
            kind,
        }));
    }
    sort_findings(&mut findings);
    Ok(Report {
        checked: plan.items.len(),
        clean,
        findings,
    })
}

pub(crate) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        a.path
            .cmp(&b.path)
            .then_with(|| a.kind.tag().cmp(&b.kind.tag()))
    });
}
