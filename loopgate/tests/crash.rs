//! Crash safety: a child process (this test executable, told by an environment variable to
//! be a writer) records cycles as fast as it can and is SIGKILLed, three times over on one
//! ledger: twice the moment it reports a completed cycle (it is then inside the next cycle's
//! transactions), once while it holds a cycle open between two phases. Afterwards the file
//! passes SQLite's integrity check, opens clean, every cycle the child reported completed is
//! there with exactly its metrics and phases, and the held cycle is marked killed.
//!
//! A `harness = false` target so that `main` can become the writer before any test runs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use auditwall_loop::{
    CanaryCount, CycleMetrics, CycleStatus, Ledger, PhaseRecord, PhaseStatus, Tier,
};
use libtest_mimic::{Arguments, Failed, Trial};

/// Set to a ledger path: this process writes cycles into it instead of running tests.
const WRITER_ENV: &str = "AUDITWALL_LOOP_CRASH_WRITER";
/// Set (to anything): the writer stops after the first phase of its `PER_ROUND + 1`-th cycle,
/// says `holding <id>` and waits for its stdin to close.
const HOLD_ENV: &str = "AUDITWALL_LOOP_CRASH_HOLD";
/// The writer stops by itself after this many cycles if nobody kills it.
const WRITER_MAX_CYCLES: u64 = 100_000;
const ROUNDS: usize = 3;
/// Completed cycles each round waits for before the kill.
const PER_ROUND: usize = 15;
const ROUND_DEADLINE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    if let Some(path) = std::env::var_os(WRITER_ENV) {
        return match writer(Path::new(&path)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("writer: {e}");
                ExitCode::from(2)
            }
        };
    }
    let args = Arguments::from_args();
    let trials = vec![Trial::test(
        "a_sigkilled_writer_leaves_every_completed_cycle_intact",
        sigkilled_writer,
    )];
    libtest_mimic::run(&args, trials).exit_code()
}

/// What cycle `id` records, so the parent can tell a damaged cycle from an intact one.
fn metrics_for(id: u64) -> CycleMetrics {
    CycleMetrics {
        scenario_pass_rate: (id % 10) as f64 / 10.0,
        oracle_pass_rate: if id % 3 == 0 { 0.75 } else { 1.0 },
        coverage: (id % 100) as f64 / 100.0,
        check_count: 30 + id,
        new_cells_covered: id % 4,
        canaries: BTreeMap::from([
            (
                Tier::T1,
                CanaryCount {
                    caught: id,
                    escaped: 0,
                },
            ),
            (
                Tier::T3,
                CanaryCount {
                    caught: 2,
                    escaped: id % 2,
                },
            ),
        ]),
        p95_ms: BTreeMap::from([
            ("hub.goodnight".to_owned(), id as f64 * 1.5),
            ("router.chat".to_owned(), 12.25),
        ]),
    }
}

fn phases_for(id: u64) -> Vec<PhaseRecord> {
    vec![
        PhaseRecord {
            name: "exercise".to_owned(),
            status: PhaseStatus::Ran,
            detail: format!("cycle {id} exercised"),
        },
        PhaseRecord {
            name: "execute".to_owned(),
            status: PhaseStatus::Skipped,
            detail: "no command configured".to_owned(),
        },
    ]
}

fn writer(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let hold_at = std::env::var_os(HOLD_ENV).map(|_| PER_ROUND as u64);
    let mut ledger = Ledger::open(path)?;
    let mut out = std::io::stdout().lock();
    for now in 0..WRITER_MAX_CYCLES {
        let id = ledger.begin_cycle(now)?;
        for (n, phase) in phases_for(id.get()).into_iter().enumerate() {
            ledger.record_phase(id, &phase.name, phase.status, &phase.detail)?;
            if n == 0 && hold_at == Some(now) {
                writeln!(out, "holding {}", id.get())?;
                out.flush()?;
                // Returns at EOF: when the parent dies, the writer goes on and ends by itself.
                std::io::stdin().read_to_end(&mut Vec::new())?;
            }
        }
        ledger.finish_cycle(id, &metrics_for(id.get()), now)?;
        writeln!(out, "completed {}", id.get())?;
        out.flush()?;
    }
    Ok(())
}

/// The writer process, SIGKILLed and reaped on drop even when the test fails.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        // Already dead when the test killed it; the errors then say nothing new.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one writer said before it was killed.
#[derive(Default)]
struct Said {
    completed: Vec<u64>,
    held: Option<u64>,
}

/// Starts a writer on `ledger`, waits for `PER_ROUND` completed cycles (and, if `hold`, for
/// it to hold the next one open), SIGKILLs it and returns what it reported.
fn round(ledger: &Path, hold: bool) -> Result<Said, Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = Command::new(exe);
    command
        .env(WRITER_ENV, ledger)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if hold {
        command.env(HOLD_ENV, "1");
    }
    let child = command
        .spawn()
        .map_err(|e| format!("spawn the writer: {e}"))?;
    let mut writer = Writer(child);
    let stdout = writer
        .0
        .stdout
        .take()
        .ok_or("the writer has no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    // Ends by itself: the pipe closes when the writer dies.
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Said::default();
    let deadline = Instant::now() + ROUND_DEADLINE;
    while said.completed.len() < PER_ROUND || (hold && said.held.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the writer reported {} completed cycles (holding {:?}) in {ROUND_DEADLINE:?}, expected {PER_ROUND}",
                said.completed.len(),
                said.held
            )
            .into());
        }
        match rx.recv_timeout(left) {
            Ok(line) => record(&mut said, &line)?,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = writer.0.wait().map_err(|e| format!("wait: {e}"))?;
                return Err(format!("the writer exited early ({status})").into());
            }
        }
    }
    writer
        .0
        .kill()
        .map_err(|e| format!("SIGKILL the writer: {e}"))?;
    writer
        .0
        .wait()
        .map_err(|e| format!("reap the writer: {e}"))?;
    reader
        .join()
        .map_err(|_| "the stdout reader panicked".to_owned())?;
    // Lines written before the kill and not yet received.
    for line in rx.try_iter() {
        record(&mut said, &line)?;
    }
    Ok(said)
}

fn record(said: &mut Said, line: &str) -> Result<(), Failed> {
    let id = |rest: &str| {
        rest.parse::<u64>()
            .map_err(|_| Failed::from(format!("the writer printed `{line}`")))
    };
    if let Some(rest) = line.strip_prefix("completed ") {
        said.completed.push(id(rest)?);
    } else if let Some(rest) = line.strip_prefix("holding ") {
        said.held = Some(id(rest)?);
    } else {
        return Err(format!("the writer printed `{line}`").into());
    }
    Ok(())
}

fn integrity(path: &Path) -> Result<(), String> {
    let conn = rusqlite::Connection::open(path).map_err(|e| format!("open: {e}"))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| format!("integrity_check: {e}"))?;
    if verdict != "ok" {
        return Err(format!("integrity_check says: {verdict}"));
    }
    Ok(())
}

fn sigkilled_writer() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let path: PathBuf = dir.path().join("loop").join("ledger.sqlite");
    let mut reported = Vec::new();
    let mut held = None;
    for n in 0..ROUNDS {
        let said = round(&path, n == 1)?;
        integrity(&path).map_err(|e| format!("after round {n}: {e}"))?;
        reported.extend(said.completed);
        held = held.or(said.held);
    }
    let held = held.ok_or("the holding writer never held a cycle")?;

    let ledger = Ledger::open(&path).map_err(|e| format!("reopen: {e}"))?;
    let history = ledger
        .history(usize::MAX)
        .map_err(|e| format!("history: {e}"))?;
    let by_id: BTreeMap<u64, _> = history.cycles.iter().map(|c| (c.id.get(), c)).collect();
    for id in &reported {
        let cycle = by_id
            .get(id)
            .ok_or_else(|| format!("reported cycle {id} is missing"))?;
        if cycle.status != CycleStatus::Completed {
            return Err(format!("reported cycle {id} is {:?}", cycle.status).into());
        }
    }
    // Every completed cycle, reported or committed just before the kill, is whole.
    for cycle in &history.cycles {
        let id = cycle.id.get();
        match cycle.status {
            CycleStatus::Completed => {
                if cycle.metrics.as_ref() != Some(&metrics_for(id)) {
                    return Err(format!("cycle {id} has metrics {:?}", cycle.metrics).into());
                }
                if cycle.phases != phases_for(id) {
                    return Err(format!("cycle {id} has phases {:?}", cycle.phases).into());
                }
                if cycle.finished_ms.is_none() {
                    return Err(format!("completed cycle {id} has no finish time").into());
                }
            }
            // Cut short by a kill: found by the next writer's begin_cycle, or the last one.
            CycleStatus::Killed | CycleStatus::Running => {
                if cycle.metrics.is_some() {
                    return Err(format!("unfinished cycle {id} has metrics").into());
                }
            }
            CycleStatus::Aborted => {
                return Err(format!("cycle {id} is aborted; nobody aborted it").into());
            }
        }
    }
    let held_cycle = by_id
        .get(&held)
        .ok_or_else(|| format!("held cycle {held} is missing"))?;
    if held_cycle.status != CycleStatus::Killed || held_cycle.phases != phases_for(held)[..1] {
        return Err(format!(
            "held cycle {held} should be killed after its first phase: {held_cycle:?}"
        )
        .into());
    }
    let unfinished = history
        .cycles
        .iter()
        .filter(|c| c.status != CycleStatus::Completed)
        .count();
    if unfinished > ROUNDS {
        return Err(format!("{unfinished} unfinished cycles after {ROUNDS} kills").into());
    }
    let completed = history.cycles.len() - unfinished;
    if completed < reported.len() {
        return Err(format!(
            "{completed} completed cycles in the ledger, {} reported",
            reported.len()
        )
        .into());
    }
    eprintln!(
        "{} cycles reported, {completed} completed, {unfinished} cut short by a kill",
        reported.len()
    );
    Ok(())
}
