//! Coverage of the spec surface: which valid cells a scenario claims, and which of those a
//! passing (L4-green) scenario proves.
//!
//! Owns: the cell statuses and the coverage figures. Must not touch: running scenarios or
//! formatting (the CLI and reporters render [`Coverage`]).

use std::collections::BTreeMap;

use auditwall_spec::{covers, Cell, CheckKind, Surface, Wall};

use crate::result::{RunSummary, Verdict};

/// The status of one valid cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellStatus {
    /// Blocked on purpose: (reason, ticket).
    Blocked(String, Option<String>),
    /// No scenario claims it.
    Uncovered,
    /// Claimed by these scenarios; `green` when one of them passed (L4) in the given run.
    Covered { scenarios: Vec<String>, green: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub dimensions: Vec<(String, usize)>,
    pub cells: usize,
    /// Valid cells (the rules allow them), blocked ones included.
    pub valid: usize,
    pub blocked: usize,
    /// Valid, unblocked cells some scenario claims.
    pub covered: usize,
    /// Of those, the ones a passing scenario proved in the run (`None` without a run).
    pub green: Option<usize>,
    /// Every valid cell with its status, in surface order.
    pub statuses: Vec<(Cell, CellStatus)>,
}

impl Coverage {
    /// Valid, unblocked cells: what coverage is measured against.
    pub fn target(&self) -> usize {
        self.valid - self.blocked
    }

    /// Percent of the target proven green (or claimed, without a run).
    pub fn percent(&self) -> f64 {
        let n = self.green.unwrap_or(self.covered);
        if self.target() == 0 {
            100.0
        } else {
            n as f64 * 100.0 / self.target() as f64
        }
    }
}

/// Which checks passed in a run, by id.
pub fn passed(run: &RunSummary) -> BTreeMap<String, bool> {
    run.results
        .iter()
        .map(|r| (r.id.clone(), r.verdict == Verdict::Pass))
        .collect()
}

/// Which of these results passed, by id.
pub fn passed_ids(results: &[crate::result::CheckResult]) -> BTreeMap<String, bool> {
    results
        .iter()
        .map(|r| (r.id.clone(), r.verdict == Verdict::Pass))
        .collect()
}

/// Coverage of `surface` by the wall's scenarios, judged against a run's verdicts when given.
pub fn compute(wall: &Wall, surface: &Surface, run: Option<&BTreeMap<String, bool>>) -> Coverage {
    let claims: Vec<(&str, &[(String, String)])> = wall
        .checks
        .iter()
        .filter_map(|c| match &c.kind {
            CheckKind::Scenario(s) => Some((c.id.as_str(), s.cell.as_slice())),
            _ => None,
        })
        .filter(|(_, cell)| !cell.is_empty())
        .collect();
    let empty = BTreeMap::new();
    let passed = run.unwrap_or(&empty);
    let cells = surface.cells();
    let mut coverage = Coverage {
        dimensions: surface
            .dimensions
            .iter()
            .map(|(d, v)| (d.clone(), v.len()))
            .collect(),
        cells: cells.len(),
        valid: 0,
        blocked: 0,
        covered: 0,
        green: run.map(|_| 0),
        statuses: Vec::new(),
    };
    for cell in cells {
        if !surface.is_valid(&cell) {
            continue;
        }
        coverage.valid += 1;
        let status = if let Some(b) = surface.blocked(&cell) {
            coverage.blocked += 1;
            CellStatus::Blocked(b.reason.clone(), b.ticket.clone())
        } else {
            let scenarios: Vec<String> = claims
                .iter()
                .filter(|(_, claim)| covers(claim, &cell))
                .map(|(id, _)| id.to_string())
                .collect();
            if scenarios.is_empty() {
                CellStatus::Uncovered
            } else {
                coverage.covered += 1;
                let green = scenarios
                    .iter()
                    .any(|id| passed.get(id).copied().unwrap_or(false));
                if green {
                    if let Some(g) = coverage.green.as_mut() {
                        *g += 1;
                    }
                }
                CellStatus::Covered { scenarios, green }
            }
        };
        coverage.statuses.push((cell, status));
    }
    coverage
}

/// The run's coverage summary, when the wall has a surface and the run had scenarios.
pub fn of_run(
    wall: &Wall,
    results: &[crate::result::CheckResult],
) -> Option<crate::result::CoverageSummary> {
    let surface = wall.surface.as_ref()?;
    let ran = results
        .iter()
        .any(|r| r.suite == auditwall_spec::Suite::Scenarios && r.attempts > 0);
    if !ran {
        return None;
    }
    let c = compute(wall, surface, Some(&passed_ids(results)));
    Some(crate::result::CoverageSummary {
        valid: c.valid,
        blocked: c.blocked,
        claimed: c.covered,
        green: c.green.unwrap_or(0),
    })
}
