//! Crash safety: a child process (this test executable, told by an environment variable to
//! be a writer) records ticks into one ledger as fast as it can and is SIGKILLed the moment it
//! reports its `PER_ROUND`-th tick (it is then inside the next tick's transaction, which is
//! heavy on purpose: 200 durations, samples, red checks). Three rounds on one ledger, each
//! writer continuing after the last committed tick. Afterwards the file passes SQLite's
//! integrity check, opens clean, holds every tick a writer reported, each exactly as written,
//! and no tick in part.
//!
//! A `harness = false` target so that `main` can become the writer before any test runs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use auditwall_soak::{Counts, Ledger, RedCheck, RedVerdict, Resources, Tick};
use libtest_mimic::{Arguments, Failed, Trial};

/// Set to a ledger path: this process writes ticks into it instead of running tests.
const WRITER_ENV: &str = "AUDITWALL_SOAK_CRASH_WRITER";
/// The writer stops by itself after this many ticks if nobody kills it.
const WRITER_MAX_TICKS: u64 = 100_000;
const ROUNDS: usize = 3;
/// Ticks each round waits for before the kill.
const PER_ROUND: usize = 40;
const ROUND_DEADLINE: Duration = Duration::from_secs(60);
/// 2026-11-20T00:00Z; tick `i` is `i` minutes later.
const START_MS: u64 = 1_795_132_800_000;

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
        "a_sigkilled_writer_leaves_every_committed_tick_intact",
        sigkilled_writer,
    )];
    libtest_mimic::run(&args, trials).exit_code()
}

/// What tick `i` records, so the parent can tell a damaged tick from an intact one.
fn tick_for(i: u64) -> Tick {
    let red = (i % 3 == 0).then(|| RedCheck {
        check: "router.chat".to_owned(),
        verdict: RedVerdict::Drift,
        reason: format!("tick {i}: served by fallback"),
    });
    Tick {
        at_ms: START_MS + (i + 1) * 60_000,
        wall_digest: format!("wall-{}", i % 7),
        counts: Counts {
            pass: 200 - u64::from(red.is_some()),
            drift: u64::from(red.is_some()),
            ..Counts::default()
        },
        red: red.into_iter().collect(),
        durations_ms: (0..200)
            .map(|c| (format!("check.{c:03}"), (i * 31 + c) as f64 / 8.0))
            .collect(),
        samples: BTreeMap::from([
            (
                "hub".to_owned(),
                Resources {
                    rss_bytes: 30_000_000 + i,
                    swap_bytes: Some(i % 5),
                    open_files: Some(10 + i % 4),
                },
            ),
            (
                "router".to_owned(),
                Resources {
                    rss_bytes: 8_000_000 + 2 * i,
                    swap_bytes: None,
                    open_files: None,
                },
            ),
        ]),
        services_exited_nonzero: if i % 11 == 0 {
            BTreeSet::from(["model-fallback".to_owned()])
        } else {
            BTreeSet::new()
        },
        memory_pressure_unrecovered: i % 13 == 0,
    }
}

fn index_of(tick: &Tick) -> Option<u64> {
    (tick.at_ms.checked_sub(START_MS)? / 60_000).checked_sub(1)
}

fn writer(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut ledger = Ledger::open(path)?;
    if ledger.run()?.is_none() {
        ledger.start(START_MS, 7, "policy-digest")?;
    }
    let next = match ledger.ticks(..)?.last() {
        Some(last) => index_of(last).ok_or("a tick before the start")? + 1,
        None => 0,
    };
    let mut out = std::io::stdout().lock();
    for i in next..next + WRITER_MAX_TICKS {
        ledger.record_tick(&tick_for(i))?;
        writeln!(out, "recorded {i}")?;
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

/// Starts a writer on `ledger`, waits for `PER_ROUND` recorded ticks, SIGKILLs it and
/// returns the ticks it reported.
fn round(ledger: &Path) -> Result<Vec<u64>, Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let child = Command::new(exe)
        .env(WRITER_ENV, ledger)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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
    let mut reported = Vec::new();
    let deadline = Instant::now() + ROUND_DEADLINE;
    while reported.len() < PER_ROUND {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the writer reported {} ticks in {ROUND_DEADLINE:?}, expected {PER_ROUND}",
                reported.len()
            )
            .into());
        }
        match rx.recv_timeout(left) {
            Ok(line) => reported.push(parse(&line)?),
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
        reported.push(parse(&line)?);
    }
    Ok(reported)
}

fn parse(line: &str) -> Result<u64, Failed> {
    line.strip_prefix("recorded ")
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| format!("the writer printed `{line}`").into())
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
    let path = dir.path().join("soak").join("ledger.sqlite");
    let mut reported = Vec::new();
    for n in 0..ROUNDS {
        reported.extend(round(&path)?);
        integrity(&path).map_err(|e| format!("after round {n}: {e}"))?;
    }

    let ledger = Ledger::open(&path).map_err(|e| format!("reopen: {e}"))?;
    let ticks = ledger.ticks(..).map_err(|e| format!("ticks: {e}"))?;
    // Each writer went on after the last committed tick, so the ledger holds 0..n exactly.
    for (expected, tick) in ticks.iter().enumerate() {
        let want = tick_for(expected as u64);
        if *tick != want {
            return Err(format!(
                "tick {expected} is damaged or out of order: {:?} ≠ {:?}",
                (tick.at_ms, tick.durations_ms.len(), tick.red.len()),
                (want.at_ms, want.durations_ms.len(), want.red.len())
            )
            .into());
        }
    }
    let committed = ticks.len() as u64;
    if let Some(missing) = reported.iter().find(|i| **i >= committed) {
        return Err(
            format!("reported tick {missing} is not in the ledger ({committed} ticks)").into(),
        );
    }
    if committed < (ROUNDS * PER_ROUND) as u64 {
        return Err(format!(
            "{committed} ticks, fewer than the {} reported",
            ROUNDS * PER_ROUND
        )
        .into());
    }
    let status = ledger
        .status(
            START_MS + (committed + 1) * 60_000,
            &auditwall_soak::Policy::default(),
        )
        .map_err(|e| format!("status: {e}"))?;
    if status.ticks != committed {
        return Err(format!(
            "status counts {} ticks, {committed} committed",
            status.ticks
        )
        .into());
    }
    eprintln!(
        "{} ticks reported, {committed} committed after {ROUNDS} kills",
        reported.len()
    );
    Ok(())
}
