//! `auditwall loop ...`: the Kitchen Loop's commands. `plan` prints the spec surface's
//! coverage matrix.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use auditwall_harness::coverage::{self, CellStatus, Coverage};
use auditwall_harness::Error;

use crate::cli::LoopPlanArgs;
use crate::commands::load_wall_with;
use crate::exit::Outcome;

pub fn plan(args: LoopPlanArgs) -> anyhow::Result<Outcome> {
    let (source, loaded) = load_wall_with(&args.wall, Vec::new())?;
    let surface = loaded.wall.surface.as_ref().ok_or_else(|| {
        Error::spec(format!(
            "{}: the wall declares no `surface:` (dimensions, rules and blocked cells in a spec file)",
            source.describe()
        ))
    })?;
    let passed = match &args.results {
        Some(path) => Some(read_results(path)?),
        None => None,
    };
    let coverage = coverage::compute(&loaded.wall, surface, passed.as_ref());
    render(&coverage, &mut std::io::stdout().lock())?;
    Ok(Outcome::Done)
}

/// `loop validate`: the wall loads (every scenario and the surface validated) and has
/// something to loop over.
pub fn validate(args: crate::cli::WallArgs) -> anyhow::Result<Outcome> {
    let (source, loaded) = load_wall_with(&args, Vec::new())?;
    let wall = &loaded.wall;
    let surface = wall.surface.as_ref().ok_or_else(|| {
        Error::spec(format!(
            "{}: the wall declares no `surface:`",
            source.describe()
        ))
    })?;
    let scenarios = wall
        .checks
        .iter()
        .filter(|c| c.suite == auditwall_spec::Suite::Scenarios)
        .count();
    let canaries = wall.checks.iter().filter(|c| c.canary.is_some()).count();
    let coverage = coverage::compute(wall, surface, None);
    println!(
        "ok    wall {} ({}): {scenarios} scenarios, {} checks with a negative control",
        wall.name,
        source.describe(),
        canaries
    );
    println!(
        "ok    surface: {} valid cells, {} blocked, {} claimed by a scenario ({:.1}%)",
        coverage.valid,
        coverage.blocked,
        coverage.covered,
        coverage.percent()
    );
    Ok(Outcome::Done)
}

/// Which checks passed, from a `report.json`.
fn read_results(path: &Path) -> anyhow::Result<BTreeMap<String, bool>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::spec(format!("{}: cannot read: {e}", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::spec(format!("{}: not a report.json: {e}", path.display())))?;
    let checks = json["checks"].as_array().ok_or_else(|| {
        Error::spec(format!(
            "{}: not a report.json (no `checks`)",
            path.display()
        ))
    })?;
    Ok(checks
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_string(), c["verdict"] == "pass")))
        .collect())
}

fn render(c: &Coverage, out: &mut impl Write) -> std::io::Result<()> {
    let dims: Vec<String> = c
        .dimensions
        .iter()
        .map(|(d, n)| format!("{d} {n}"))
        .collect();
    writeln!(
        out,
        "surface: {} = {} cells; {} valid, {} blocked, {} to cover",
        dims.join(" × "),
        c.cells,
        c.valid,
        c.blocked,
        c.target()
    )?;
    match c.green {
        Some(green) => writeln!(
            out,
            "coverage: {green}/{} cells L4-green ({:.1}%); {} claimed by a scenario",
            c.target(),
            c.percent(),
            c.covered
        )?,
        None => writeln!(
            out,
            "coverage: {}/{} cells claimed by a scenario ({:.1}%); give --results REPORT.json for L4-green",
            c.covered,
            c.target(),
            c.percent()
        )?,
    }
    // The matrix: the first dimension down, the second across; each entry counts the cells
    // behind it (the remaining dimensions) as green-or-claimed/target.
    if c.dimensions.len() >= 2 {
        let rows: Vec<&str> = unique(c, 0);
        let cols: Vec<&str> = unique(c, 1);
        let width = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(4);
        write!(out, "\n{:width$}", "")?;
        for col in &cols {
            write!(out, "  {col:>9}", col = truncate(col, 9))?;
        }
        writeln!(out)?;
        for row in &rows {
            write!(out, "{row:width$}")?;
            for col in &cols {
                let here: Vec<&CellStatus> = c
                    .statuses
                    .iter()
                    .filter(|(cell, _)| cell[0].1 == *row && cell[1].1 == *col)
                    .map(|(_, s)| s)
                    .collect();
                let target = here
                    .iter()
                    .filter(|s| !matches!(s, CellStatus::Blocked(..)))
                    .count();
                let done = here
                    .iter()
                    .filter(|s| match s {
                        CellStatus::Covered { green, .. } => c.green.is_none() || *green,
                        _ => false,
                    })
                    .count();
                let entry = if here.is_empty() {
                    "·".to_string()
                } else if target == 0 {
                    "blocked".to_string()
                } else {
                    format!("{done}/{target}")
                };
                write!(out, "  {entry:>9}")?;
            }
            writeln!(out)?;
        }
    }
    let uncovered: Vec<String> = c
        .statuses
        .iter()
        .filter(|(_, s)| matches!(s, CellStatus::Uncovered))
        .map(|(cell, _)| name(cell))
        .collect();
    writeln!(out, "\nuncovered ({}):", uncovered.len())?;
    for u in &uncovered {
        writeln!(out, "  {u}")?;
    }
    writeln!(out, "blocked ({}):", c.blocked)?;
    for (cell, s) in &c.statuses {
        if let CellStatus::Blocked(reason, ticket) = s {
            let ticket = ticket
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            writeln!(out, "  {}: {reason}{ticket}", name(cell))?;
        }
    }
    if c.green.is_some() {
        let red: Vec<String> = c
            .statuses
            .iter()
            .filter(|(_, s)| matches!(s, CellStatus::Covered { green: false, .. }))
            .map(|(cell, s)| match s {
                CellStatus::Covered { scenarios, .. } => {
                    format!("{} (by {})", name(cell), scenarios.join(", "))
                }
                _ => name(cell),
            })
            .collect();
        writeln!(out, "claimed but not green in the results ({}):", red.len())?;
        for r in &red {
            writeln!(out, "  {r}")?;
        }
    }
    Ok(())
}

fn unique(c: &Coverage, dim: usize) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for (cell, _) in &c.statuses {
        let v = cell[dim].1.as_str();
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

fn name(cell: &[(String, String)]) -> String {
    cell.iter()
        .map(|(d, v)| format!("{d}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
