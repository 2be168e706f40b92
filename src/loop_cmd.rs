//! `auditwall loop ...`: the Kitchen Loop's commands. `plan` prints the spec surface's
//! coverage matrix.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use std::sync::Arc;

use auditwall_harness::calibrate::Calibrator;
use auditwall_harness::coverage::{self, CellStatus, Coverage};
use auditwall_harness::journal;
use auditwall_harness::prove::Prover;
use auditwall_harness::result::{CheckResult, Verdict};
use auditwall_harness::Error;
use auditwall_loop::{
    evaluate, kill_switch_engaged, triage, CanaryCount, CycleId, CycleMetrics, Failure, GatePolicy,
    Ledger, LoopError, PhaseStatus, SignatureInputs, Source, Tier, FINDINGS_DIR, KILL_SWITCH_PATH,
};
use auditwall_probes::Prober;
use auditwall_spec::{parse_duration, Suite};

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

/// `loop resume --reason …`: lifts a pause, recording why.
pub fn resume(args: crate::cli::LoopResumeArgs) -> anyhow::Result<Outcome> {
    let mut ledger = Ledger::open(&args.ledger).map_err(loop_error)?;
    let pause = ledger.resume(&args.reason, now_ms()).map_err(loop_error)?;
    println!(
        "loop resumed (was paused by gate {}: {}); reason recorded: {}",
        pause.gate.name(),
        pause.reason,
        args.reason
    );
    Ok(Outcome::Done)
}

/// `loop run`: one or more cycles — backlog, exercise, execute, regress, triage, canaries,
/// polish, drift control — each recorded in the ledger, the gates judged after every cycle.
pub fn run(args: crate::cli::LoopRunArgs) -> anyhow::Result<Outcome> {
    let kill = std::path::PathBuf::from(KILL_SWITCH_PATH);
    let mut ledger = Ledger::open(&args.ledger).map_err(loop_error)?;
    let exercise = parse_duration(&args.exercise)
        .map_err(|e| Error::spec(format!("--exercise {}: {e}", args.exercise)))?;
    crate::recover::before_run()?;
    let target = crate::quiet::Target::start(&args.wall)?;
    let (_, loaded) = load_wall_with(&args.wall, target.live_layers.clone())?;
    let surface = loaded.wall.surface.clone().ok_or_else(|| {
        Error::spec("the wall declares no `surface:`; the loop measures coverage against it")
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let prober = Prober::new().map_err(|e| Error::harness(format!("cannot set up probes: {e}")))?;
    let mut paused = false;
    for _ in 0..args.cycles.max(1) {
        if kill_switch_engaged(&kill) {
            println!("loop: kill switch {} is set; stopping", kill.display());
            break;
        }
        if let Some(p) = ledger.state().map_err(loop_error)?.paused {
            return Err(Error::harness(format!(
                "the loop is paused by gate {} since {}: {}; lift it with `auditwall loop resume --reason …`",
                p.gate.name(),
                p.since_ms,
                p.reason
            ))
            .into());
        }
        let id = ledger.begin_cycle(now_ms()).map_err(loop_error)?;
        let mut failures = Vec::new();
        // Backlog: what the surface still lacks.
        let claimed = coverage::compute(&loaded.wall, &surface, None);
        let uncovered = claimed.target() - claimed.covered;
        phase(
            &mut ledger,
            id,
            "backlog",
            PhaseStatus::Ran,
            &format!("{uncovered} uncovered cells"),
        )?;
        // Exercise: the synthetic power user.
        if exercise.is_zero() || target.hub.is_none() {
            phase(
                &mut ledger,
                id,
                "exercise",
                PhaseStatus::Skipped,
                "no hub or --exercise 0s",
            )?;
        } else if let Some(hub) = &target.hub {
            let options = auditwall_kitchen::Options::new(
                hub,
                exercise,
                id.get(),
                std::path::PathBuf::from(FINDINGS_DIR).join("exercise"),
            );
            match auditwall_kitchen::exercise(&options, &mut |_| {}) {
                Ok(summary) => {
                    let detail = summary.to_string();
                    if let Some((finding, _)) = &summary.failure {
                        failures.push(Failure {
                            source: Source::Exercise,
                            signature_inputs: SignatureInputs {
                                check_id: "exercise".into(),
                                layer: String::new(),
                                failed_keys: vec![finding.signature.clone()],
                            },
                            repro_steps: finding.repro.clone(),
                            detail: finding.summary.clone(),
                        });
                    }
                    phase(&mut ledger, id, "exercise", PhaseStatus::Ran, &detail)?;
                }
                Err(e) => phase(
                    &mut ledger,
                    id,
                    "exercise",
                    PhaseStatus::Failed,
                    &e.to_string(),
                )?,
            }
        }
        external(&mut ledger, id, "execute", args.execute_cmd.as_deref())?;
        // Regress: every scenario, read from the system as it is.
        let results = runtime
            .block_on(crate::quiet::run(
                &loaded,
                vec![Suite::Scenarios],
                &prober,
                target.owner,
            ))?
            .results;
        let scenarios: Vec<&CheckResult> = results
            .iter()
            .filter(|r| r.suite == Suite::Scenarios)
            .collect();
        let rate = |set: &[&CheckResult]| {
            if set.is_empty() {
                1.0
            } else {
                set.iter().filter(|r| r.verdict == Verdict::Pass).count() as f64 / set.len() as f64
            }
        };
        let oracle: Vec<&CheckResult> = scenarios
            .iter()
            .copied()
            .filter(|r| r.severity == auditwall_spec::Severity::P0)
            .collect();
        for r in scenarios.iter().filter(|r| r.verdict != Verdict::Pass) {
            let layer = ["l4", "l3", "l2", "l1"]
                .into_iter()
                .find(|l| matches!(r.observations.get(l), Some(auditwall_spec::Value::Text(t)) if !t.starts_with("pass") && t != "not run"))
                .unwrap_or("")
                .to_uppercase();
            failures.push(Failure {
                source: Source::Scenario { id: r.id.clone() },
                signature_inputs: SignatureInputs {
                    check_id: r.id.clone(),
                    layer,
                    failed_keys: Vec::new(),
                },
                repro_steps: vec![format!("auditwall verify --id {}", r.id)],
                detail: r.message.clone().unwrap_or_default(),
            });
        }
        let passed = coverage::passed_ids(&results);
        let green = coverage::compute(&loaded.wall, &surface, Some(&passed));
        phase(
            &mut ledger,
            id,
            "regress",
            PhaseStatus::Ran,
            &format!(
                "{}/{} scenarios green, oracle {}/{}",
                scenarios
                    .iter()
                    .filter(|r| r.verdict == Verdict::Pass)
                    .count(),
                scenarios.len(),
                oracle.iter().filter(|r| r.verdict == Verdict::Pass).count(),
                oracle.len()
            ),
        )?;
        // Canaries: testing the tests, tier by tier.
        let mut canaries: BTreeMap<Tier, CanaryCount> = BTreeMap::new();
        if args.canaries {
            let prover = Prover::new(
                &loaded.wall,
                journal::default_path(),
                Arc::new(Calibrator::new(&loaded.wall.calibration)),
            )
            .owned_by(target.owner);
            for fixture in &loaded.wall.canaries {
                let outcome = runtime.block_on(prover.fixture(fixture, &prober));
                let tier = tier(fixture.tier);
                let count = canaries.entry(tier).or_default();
                if outcome.caught {
                    count.caught += 1;
                } else {
                    count.escaped += 1;
                    failures.push(Failure {
                        source: Source::Canary {
                            id: fixture.id.clone(),
                        },
                        signature_inputs: SignatureInputs {
                            check_id: fixture.target.clone(),
                            layer: String::new(),
                            failed_keys: vec![fixture.id.clone()],
                        },
                        repro_steps: vec![
                            format!("auditwall fault {}", fixture.fault),
                            format!("auditwall verify --id {}", fixture.target),
                        ],
                        detail: outcome.detail.clone(),
                    });
                }
                println!(
                    "  canary {:<28} {}  {}",
                    fixture.id,
                    if outcome.caught { "caught " } else { "ESCAPED" },
                    outcome.detail
                );
            }
            let summary: Vec<String> = canaries
                .iter()
                .map(|(t, c)| format!("{t} {}/{}", c.caught, c.caught + c.escaped))
                .collect();
            phase(
                &mut ledger,
                id,
                "canaries",
                PhaseStatus::Ran,
                &summary.join(", "),
            )?;
        } else {
            phase(
                &mut ledger,
                id,
                "canaries",
                PhaseStatus::Skipped,
                "run with --canaries",
            )?;
        }
        // Triage: failures deduplicated by signature into finding files.
        let files =
            triage(std::path::Path::new(FINDINGS_DIR), &failures, now_ms()).map_err(loop_error)?;
        phase(
            &mut ledger,
            id,
            "triage",
            PhaseStatus::Ran,
            &format!(
                "{} failures into {} finding files",
                failures.len(),
                files.len()
            ),
        )?;
        external(&mut ledger, id, "polish", args.polish_cmd.as_deref())?;
        // Drift control: the cycle's metrics, then the gates.
        let history = ledger.history(1).map_err(loop_error)?;
        let previous = history
            .cycles
            .iter()
            .rev()
            .find_map(|c| c.metrics.as_ref().map(|m| m.coverage))
            .unwrap_or(0.0);
        let coverage_now = green.percent() / 100.0;
        let new_cells = ((coverage_now - previous).max(0.0) * green.target() as f64).round() as u64;
        let metrics = CycleMetrics {
            scenario_pass_rate: rate(&scenarios),
            oracle_pass_rate: rate(&oracle),
            coverage: coverage_now.clamp(0.0, 1.0),
            check_count: loaded.wall.checks.len() as u64,
            new_cells_covered: new_cells,
            canaries,
            p95_ms: results
                .iter()
                .map(|r| (r.id.clone(), r.duration.as_secs_f64() * 1000.0))
                .collect(),
        };
        ledger
            .finish_cycle(id, &metrics, now_ms())
            .map_err(loop_error)?;
        println!(
            "loop: cycle {}: scenarios {:.0}%, oracle {:.0}%, coverage {:.1}% ({} new cells), {} finding files",
            id.get(),
            metrics.scenario_pass_rate * 100.0,
            metrics.oracle_pass_rate * 100.0,
            metrics.coverage * 100.0,
            new_cells,
            files.len()
        );
        let policy = GatePolicy::default();
        let trips = evaluate(
            &ledger.history(policy.cycles_needed()).map_err(loop_error)?,
            &policy,
        );
        if let Some(first) = trips.first() {
            for t in &trips {
                println!("loop: gate {} tripped: {}", t.gate.name(), t.reason);
            }
            ledger
                .pause(first.gate, &first.reason, now_ms())
                .map_err(loop_error)?;
            println!("loop: PAUSED; `auditwall loop resume --reason …` lifts it");
            paused = true;
            break;
        }
    }
    drop(target);
    Ok(Outcome::Findings {
        failed: usize::from(paused),
    })
}

fn tier(t: auditwall_spec::Tier) -> Tier {
    match t {
        auditwall_spec::Tier::T1 => Tier::T1,
        auditwall_spec::Tier::T2 => Tier::T2,
        auditwall_spec::Tier::T3 => Tier::T3,
        auditwall_spec::Tier::T4 => Tier::T4,
    }
}

fn phase(
    ledger: &mut Ledger,
    id: CycleId,
    name: &str,
    status: PhaseStatus,
    detail: &str,
) -> anyhow::Result<()> {
    println!("loop: {name:<9} {status:?}  {detail}");
    ledger
        .record_phase(id, name, status, detail)
        .map_err(loop_error)?;
    Ok(())
}

/// Phases that change code run the configured command, or are recorded as skipped.
fn external(
    ledger: &mut Ledger,
    id: CycleId,
    name: &str,
    command: Option<&str>,
) -> anyhow::Result<()> {
    let Some(command) = command else {
        return phase(
            ledger,
            id,
            name,
            PhaseStatus::Skipped,
            "no command configured",
        );
    };
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .status();
    match status {
        Ok(s) if s.success() => phase(ledger, id, name, PhaseStatus::Ran, command),
        Ok(s) => phase(
            ledger,
            id,
            name,
            PhaseStatus::Failed,
            &format!("{command}: {s}"),
        ),
        Err(e) => phase(
            ledger,
            id,
            name,
            PhaseStatus::Failed,
            &format!("{command}: {e}"),
        ),
    }
}

fn now_ms() -> u64 {
    auditwall_harness::unix_ms(std::time::SystemTime::now())
}

fn loop_error(e: LoopError) -> anyhow::Error {
    match e.kind() {
        auditwall_loop::Kind::InvalidInput | auditwall_loop::Kind::NotPaused => {
            Error::spec(e.to_string()).into()
        }
        _ => Error::harness(e.to_string()).into(),
    }
}
