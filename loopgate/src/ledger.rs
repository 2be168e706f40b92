//! The loop ledger: one SQLite file recording every cycle (its phases and metrics) and the
//! pause state with its resume history.
//!
//! Owns: the schema, its version check, and every read and write of the file. Must not touch:
//! the gate rules (see `gate`), the clock (times are passed in, unix ms), finding files.
//!
//! Crash safety: the file is in WAL mode with `synchronous=FULL`, and every call that changes
//! it is one transaction. A process killed mid-write loses at most the transaction it was in;
//! every committed cycle survives intact. A cycle still `running` when the next one begins was
//! left by a process that died, and is marked `killed` then. One loop runs per ledger at a time
//! (the caller makes sure); readers may open it concurrently.
//!
//! Schema (version [`SCHEMA_VERSION`]), chosen so that `sqlite3` alone can answer questions:
//!
//! | table | columns |
//! |---|---|
//! | `schema_version` | `version` (one row) |
//! | `cycles` | `id`, `epoch` (resumes before it began), `started_ms`, `finished_ms`, `status` (`running`, `completed`, `aborted`, `killed`), `note` (why it was aborted), and the scalar metrics as columns: `scenario_pass_rate`, `oracle_pass_rate`, `coverage`, `check_count`, `new_cells_covered` (set exactly when completed) |
//! | `canaries` | `cycle`, `tier` (`T1`..`T4`), `caught`, `escaped` |
//! | `check_latency` | `cycle`, `check_id`, `p95_ms` |
//! | `phases` | `cycle`, `seq`, `name`, `status` (`ran`, `skipped`, `failed`), `detail` |
//! | `pauses` | `id`, `gate`, `reason`, `since_ms`, `resumed_ms`, `resume_reason` (at most one row with `resumed_ms` NULL: the current pause) |
//!
//! A ledger with a newer `schema_version` is refused, never downgraded. Migrations start with
//! version 2.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Kind, LoopError, Result};
use crate::gate::Gate;

/// The schema this version writes and the newest it opens.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a write waits for another connection's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch INTEGER NOT NULL CHECK (epoch >= 0),
    started_ms INTEGER NOT NULL CHECK (started_ms >= 0),
    finished_ms INTEGER CHECK (finished_ms >= 0),
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'aborted', 'killed')),
    note TEXT,
    scenario_pass_rate REAL CHECK (scenario_pass_rate BETWEEN 0 AND 1),
    oracle_pass_rate REAL CHECK (oracle_pass_rate BETWEEN 0 AND 1),
    coverage REAL CHECK (coverage BETWEEN 0 AND 1),
    check_count INTEGER CHECK (check_count >= 0),
    new_cells_covered INTEGER CHECK (new_cells_covered >= 0),
    CHECK ((status = 'completed') = (scenario_pass_rate IS NOT NULL AND oracle_pass_rate IS NOT NULL
        AND coverage IS NOT NULL AND check_count IS NOT NULL AND new_cells_covered IS NOT NULL))
);
CREATE TABLE canaries (
    cycle INTEGER NOT NULL REFERENCES cycles(id),
    tier TEXT NOT NULL CHECK (tier IN ('T1', 'T2', 'T3', 'T4')),
    caught INTEGER NOT NULL CHECK (caught >= 0),
    escaped INTEGER NOT NULL CHECK (escaped >= 0),
    PRIMARY KEY (cycle, tier)
);
CREATE TABLE check_latency (
    cycle INTEGER NOT NULL REFERENCES cycles(id),
    check_id TEXT NOT NULL,
    p95_ms REAL NOT NULL CHECK (p95_ms >= 0),
    PRIMARY KEY (cycle, check_id)
);
CREATE TABLE phases (
    cycle INTEGER NOT NULL REFERENCES cycles(id),
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ran', 'skipped', 'failed')),
    detail TEXT NOT NULL,
    PRIMARY KEY (cycle, seq)
);
CREATE TABLE pauses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gate TEXT NOT NULL,
    reason TEXT NOT NULL,
    since_ms INTEGER NOT NULL CHECK (since_ms >= 0),
    resumed_ms INTEGER CHECK (resumed_ms >= 0),
    resume_reason TEXT,
    CHECK ((resumed_ms IS NULL) = (resume_reason IS NULL))
);
CREATE UNIQUE INDEX one_open_pause ON pauses ((resumed_ms IS NULL)) WHERE resumed_ms IS NULL;
";

/// A cycle's number in the ledger; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CycleId(u64);

impl CycleId {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CycleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleStatus {
    /// Begun and not yet finished (or its process is still to be found dead).
    Running,
    /// Finished with metrics; the only status the gates look at.
    Completed,
    /// Stopped on purpose (the kill switch, a phase that could not go on), with a note.
    Aborted,
    /// Its process died without finishing it.
    Killed,
}

impl CycleStatus {
    fn as_str(self) -> &'static str {
        match self {
            CycleStatus::Running => "running",
            CycleStatus::Completed => "completed",
            CycleStatus::Aborted => "aborted",
            CycleStatus::Killed => "killed",
        }
    }

    fn parse(text: &str) -> Option<CycleStatus> {
        [
            CycleStatus::Running,
            CycleStatus::Completed,
            CycleStatus::Aborted,
            CycleStatus::Killed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseStatus {
    Ran,
    /// Not run, e.g. a code-changing phase with no command configured.
    Skipped,
    Failed,
}

impl PhaseStatus {
    fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Ran => "ran",
            PhaseStatus::Skipped => "skipped",
            PhaseStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<PhaseStatus> {
        [PhaseStatus::Ran, PhaseStatus::Skipped, PhaseStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A canary tier; Tier 1 guards the claims whose escape pauses the loop at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Tier {
    T1,
    T2,
    T3,
    T4,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::T1, Tier::T2, Tier::T3, Tier::T4];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::T1 => "T1",
            Tier::T2 => "T2",
            Tier::T3 => "T3",
            Tier::T4 => "T4",
        }
    }

    fn parse(text: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many canaries of one tier a cycle's checks rejected (caught) or let through (escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CanaryCount {
    pub caught: u64,
    pub escaped: u64,
}

/// What one completed cycle measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CycleMetrics {
    /// Scenarios green at L4 / scenarios run, 0..=1.
    pub scenario_pass_rate: f64,
    /// Regression-oracle scenarios green / run, 0..=1; below 1 is an oracle failure.
    pub oracle_pass_rate: f64,
    /// Spec-surface cells covered / cells to cover, 0..=1.
    pub coverage: f64,
    pub check_count: u64,
    /// Cells first covered in this cycle.
    pub new_cells_covered: u64,
    /// Tiers with no canaries run are absent.
    pub canaries: BTreeMap<Tier, CanaryCount>,
    /// The 95th-percentile latency of each check in this cycle, in milliseconds.
    pub p95_ms: BTreeMap<String, f64>,
}

impl CycleMetrics {
    fn problem(&self) -> Option<String> {
        for (name, rate) in [
            ("scenario_pass_rate", self.scenario_pass_rate),
            ("oracle_pass_rate", self.oracle_pass_rate),
            ("coverage", self.coverage),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Some(format!("{name} is {rate}, not within 0..=1"));
            }
        }
        if let Some((check, p95)) = self
            .p95_ms
            .iter()
            .find(|(_, p95)| !(p95.is_finite() && **p95 >= 0.0))
        {
            return Some(format!(
                "p95 of check `{check}` is {p95} ms, not a finite non-negative number"
            ));
        }
        if self.p95_ms.keys().any(|check| check.trim().is_empty()) {
            return Some("a p95 latency has an empty check id".to_owned());
        }
        None
    }
}

/// One phase as recorded, in the order recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseRecord {
    pub name: String,
    pub status: PhaseStatus,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleRecord {
    pub id: CycleId,
    /// How many resumes the ledger had recorded when this cycle began. Streaks ("N cycles in
    /// a row") only count cycles of the current epoch: a resume acknowledges what came before.
    pub epoch: u64,
    pub started_ms: u64,
    /// `None` while running and for killed cycles.
    pub finished_ms: Option<u64>,
    pub status: CycleStatus,
    /// Why the cycle was aborted.
    pub note: Option<String>,
    /// Present exactly when the cycle completed.
    pub metrics: Option<CycleMetrics>,
    pub phases: Vec<PhaseRecord>,
}

/// The recent cycles, oldest first, and the epoch a cycle beginning now would have.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub cycles: Vec<CycleRecord>,
    pub epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resume {
    pub at_ms: u64,
    /// The operator's reason, as given to `loop resume --reason`.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub gate: Gate,
    pub reason: String,
    pub since_ms: u64,
    /// `None` while the pause is in force.
    pub resumed: Option<Resume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopState {
    /// The pause in force, if any.
    pub paused: Option<Pause>,
    /// Every lifted pause, oldest first.
    pub resumed: Vec<Pause>,
}

impl LoopState {
    pub fn is_paused(&self) -> bool {
        self.paused.is_some()
    }
}

/// An open ledger file.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    /// Opens the ledger at `path`, creating it (and its directory) with the current schema if
    /// it does not exist. Refuses files that are not ledgers and ledgers of a newer schema.
    pub fn open(path: impl AsRef<Path>) -> std::result::Result<Ledger, LoopError> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                LoopError::new(
                    Kind::Open,
                    format_args!("cannot create directory {}: {e}", dir.display()),
                )
                .at(path)
            })?;
        }
        let conn = Connection::open(path).map_err(|e| LoopError::new(Kind::Open, e).at(path))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(path, e))?;
        // Vetted before anything is changed: a foreign or newer file must stay as it was,
        // journal mode included.
        vet(&conn, path)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| sql_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LoopError::new(
                Kind::Open,
                format_args!(
                    "SQLite refused WAL mode (journal mode stays `{mode}`); crash safety needs WAL"
                ),
            )
            .at(path));
        }
        // Per connection, not stored in the file: every open must set it again.
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| sql_error(path, e))?;
        let mut ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        ledger.create_schema()?;
        Ok(ledger)
    }

    /// Creates the schema in an empty file. Vetted again inside the write transaction: two
    /// processes opening a new ledger at once must not both create it.
    fn create_schema(&mut self) -> Result<()> {
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        if vet(&tx, &path)? == Content::Empty {
            tx.execute_batch(SCHEMA).map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [SCHEMA_VERSION],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Begins a cycle at `now_ms`. Refused (kind [`Kind::Paused`]) while the loop is paused.
    /// Any cycle still running was left by a process that died: it is marked killed.
    pub fn begin_cycle(&mut self, now_ms: u64) -> std::result::Result<CycleId, LoopError> {
        let now = to_sql(now_ms, "now")?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        if let Some(pause) = open_pause(&tx, &path)? {
            return Err(LoopError::new(
                Kind::Paused,
                format_args!(
                    "paused by gate {} since {} ms: {}; lift it with `auditwall loop resume --reason ...`",
                    pause.gate, pause.since_ms, pause.reason
                ),
            )
            .at(&path));
        }
        tx.execute(
            "UPDATE cycles SET status = 'killed' WHERE status = 'running'",
            [],
        )
        .map_err(fail)?;
        let epoch = resumes(&tx).map_err(fail)?;
        tx.execute(
            "INSERT INTO cycles (epoch, started_ms, status) VALUES (?1, ?2, 'running')",
            params![epoch, now],
        )
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(fail)?;
        Ok(CycleId(from_sql(id, "cycle id", &path)?))
    }

    /// Records one phase of a running cycle, after the phases already recorded.
    pub fn record_phase(
        &mut self,
        id: CycleId,
        phase: &str,
        status: PhaseStatus,
        detail: &str,
    ) -> std::result::Result<(), LoopError> {
        if phase.trim().is_empty() {
            return Err(LoopError::new(Kind::InvalidInput, "a phase name is empty"));
        }
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let cycle = to_sql(id.0, "cycle id")?;
        require_running(&tx, id, &path)?;
        tx.execute(
            "INSERT INTO phases (cycle, seq, name, status, detail)
             VALUES (?1, (SELECT COUNT(*) FROM phases WHERE cycle = ?1), ?2, ?3, ?4)",
            params![cycle, phase, status.as_str(), detail],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// Completes a running cycle with its metrics, all in one transaction.
    pub fn finish_cycle(
        &mut self,
        id: CycleId,
        metrics: &CycleMetrics,
        now_ms: u64,
    ) -> std::result::Result<(), LoopError> {
        if let Some(problem) = metrics.problem() {
            return Err(LoopError::new(
                Kind::InvalidInput,
                format_args!("metrics of cycle {id}: {problem}"),
            ));
        }
        let now = to_sql(now_ms, "now")?;
        let cycle = to_sql(id.0, "cycle id")?;
        let check_count = to_sql(metrics.check_count, "check_count")?;
        let new_cells = to_sql(metrics.new_cells_covered, "new_cells_covered")?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        require_running(&tx, id, &path)?;
        tx.execute(
            "UPDATE cycles SET status = 'completed', finished_ms = ?2, scenario_pass_rate = ?3,
                 oracle_pass_rate = ?4, coverage = ?5, check_count = ?6, new_cells_covered = ?7
             WHERE id = ?1",
            params![
                cycle,
                now,
                metrics.scenario_pass_rate,
                metrics.oracle_pass_rate,
                metrics.coverage,
                check_count,
                new_cells
            ],
        )
        .map_err(fail)?;
        for (tier, count) in &metrics.canaries {
            tx.execute(
                "INSERT INTO canaries (cycle, tier, caught, escaped) VALUES (?1, ?2, ?3, ?4)",
                params![
                    cycle,
                    tier.as_str(),
                    to_sql(count.caught, "canaries caught")?,
                    to_sql(count.escaped, "canaries escaped")?
                ],
            )
            .map_err(fail)?;
        }
        for (check, p95) in &metrics.p95_ms {
            tx.execute(
                "INSERT INTO check_latency (cycle, check_id, p95_ms) VALUES (?1, ?2, ?3)",
                params![cycle, check, p95],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }

    /// Ends a running cycle without metrics (the kill switch, a phase that cannot go on).
    pub fn abort_cycle(
        &mut self,
        id: CycleId,
        reason: &str,
        now_ms: u64,
    ) -> std::result::Result<(), LoopError> {
        let reason = non_empty(reason, "an abort reason")?;
        let now = to_sql(now_ms, "now")?;
        let cycle = to_sql(id.0, "cycle id")?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        require_running(&tx, id, &path)?;
        tx.execute(
            "UPDATE cycles SET status = 'aborted', finished_ms = ?2, note = ?3 WHERE id = ?1",
            params![cycle, now, reason],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// The last `completed` completed cycles and every cycle cut short (aborted, killed) or
    /// running since the completed one before them, oldest first; every cycle if there are
    /// fewer. Pass [`crate::GatePolicy::cycles_needed`] to evaluate the gates.
    pub fn history(&self, completed: usize) -> std::result::Result<History, LoopError> {
        let path = &self.path;
        let fail = |e| sql_error(path, e);
        // One read transaction: the cycles and the epoch from the same snapshot.
        let tx = self.conn.unchecked_transaction().map_err(fail)?;
        let epoch = resumes(&tx).map_err(fail)?;
        let offset = i64::try_from(completed).unwrap_or(i64::MAX);
        let after: i64 = tx
            .query_row(
                "SELECT id FROM cycles WHERE status = 'completed' ORDER BY id DESC LIMIT 1 OFFSET ?1",
                [offset],
                |row| row.get(0),
            )
            .optional()
            .map_err(fail)?
            .unwrap_or(0);
        let rows = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, epoch, started_ms, finished_ms, status, note, scenario_pass_rate,
                        oracle_pass_rate, coverage, check_count, new_cells_covered
                     FROM cycles WHERE id > ?1 ORDER BY id",
                )
                .map_err(fail)?;
            let rows = stmt
                .query_map([after], |row| {
                    Ok(RawCycle {
                        id: row.get(0)?,
                        epoch: row.get(1)?,
                        started_ms: row.get(2)?,
                        finished_ms: row.get(3)?,
                        status: row.get(4)?,
                        note: row.get(5)?,
                        scenario_pass_rate: row.get(6)?,
                        oracle_pass_rate: row.get(7)?,
                        coverage: row.get(8)?,
                        check_count: row.get(9)?,
                        new_cells_covered: row.get(10)?,
                    })
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<RawCycle>>>())
                .map_err(fail)?;
            rows
        };
        let cycles = rows
            .into_iter()
            .map(|raw| raw.load(&tx, path))
            .collect::<Result<Vec<_>>>()?;
        Ok(History {
            cycles,
            epoch: from_sql(epoch, "epoch", path)?,
        })
    }

    /// Pauses the loop because `gate` tripped. If it is already paused, the pause in force
    /// stands (the first gate is the one the operator answers) and is returned unchanged.
    pub fn pause(
        &mut self,
        gate: Gate,
        reason: &str,
        now_ms: u64,
    ) -> std::result::Result<Pause, LoopError> {
        let reason = non_empty(reason, "a pause reason")?;
        let now = to_sql(now_ms, "now")?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        if let Some(pause) = open_pause(&tx, &path)? {
            return Ok(pause);
        }
        tx.execute(
            "INSERT INTO pauses (gate, reason, since_ms) VALUES (?1, ?2, ?3)",
            params![gate.name(), reason, now],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(Pause {
            gate,
            reason: reason.to_owned(),
            since_ms: now_ms,
            resumed: None,
        })
    }

    /// Lifts the pause in force with the operator's reason, which is kept in the history.
    /// Returns the lifted pause. Cycles begun from now on start a new epoch.
    pub fn resume(&mut self, reason: &str, now_ms: u64) -> std::result::Result<Pause, LoopError> {
        let reason = non_empty(reason, "a resume reason")?;
        let now = to_sql(now_ms, "now")?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let Some(mut pause) = open_pause(&tx, &path)? else {
            return Err(LoopError::new(Kind::NotPaused, "there is no pause to lift").at(&path));
        };
        tx.execute(
            "UPDATE pauses SET resumed_ms = ?1, resume_reason = ?2 WHERE resumed_ms IS NULL",
            params![now, reason],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        pause.resumed = Some(Resume {
            at_ms: now_ms,
            reason: reason.to_owned(),
        });
        Ok(pause)
    }

    /// Whether the loop is paused, and every pause lifted before.
    pub fn state(&self) -> std::result::Result<LoopState, LoopError> {
        let path = &self.path;
        let fail = |e| sql_error(path, e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT gate, reason, since_ms, resumed_ms, resume_reason FROM pauses ORDER BY id",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], RawPause::from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<RawPause>>>())
            .map_err(fail)?;
        let mut state = LoopState {
            paused: None,
            resumed: Vec::new(),
        };
        for raw in rows {
            let pause = raw.load(path)?;
            if pause.resumed.is_some() {
                state.resumed.push(pause);
            } else {
                state.paused = Some(pause);
            }
        }
        Ok(state)
    }
}

struct RawCycle {
    id: i64,
    epoch: i64,
    started_ms: i64,
    finished_ms: Option<i64>,
    status: String,
    note: Option<String>,
    scenario_pass_rate: Option<f64>,
    oracle_pass_rate: Option<f64>,
    coverage: Option<f64>,
    check_count: Option<i64>,
    new_cells_covered: Option<i64>,
}

impl RawCycle {
    fn load(self, conn: &Connection, path: &Path) -> Result<CycleRecord> {
        let fail = |e| sql_error(path, e);
        let status = CycleStatus::parse(&self.status).ok_or_else(|| {
            corrupt(
                path,
                format_args!("cycle {} has status `{}`", self.id, self.status),
            )
        })?;
        let metrics = match (
            self.scenario_pass_rate,
            self.oracle_pass_rate,
            self.coverage,
            self.check_count,
            self.new_cells_covered,
        ) {
            (Some(scenario), Some(oracle), Some(coverage), Some(checks), Some(new_cells))
                if status == CycleStatus::Completed =>
            {
                let mut metrics = CycleMetrics {
                    scenario_pass_rate: scenario,
                    oracle_pass_rate: oracle,
                    coverage,
                    check_count: from_sql(checks, "check_count", path)?,
                    new_cells_covered: from_sql(new_cells, "new_cells_covered", path)?,
                    canaries: BTreeMap::new(),
                    p95_ms: BTreeMap::new(),
                };
                let mut stmt = conn
                    .prepare("SELECT tier, caught, escaped FROM canaries WHERE cycle = ?1")
                    .map_err(fail)?;
                let canaries = stmt
                    .query_map([self.id], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(fail)?;
                for (tier, caught, escaped) in canaries {
                    let tier = Tier::parse(&tier).ok_or_else(|| {
                        corrupt(
                            path,
                            format_args!("cycle {} has canary tier `{tier}`", self.id),
                        )
                    })?;
                    metrics.canaries.insert(
                        tier,
                        CanaryCount {
                            caught: from_sql(caught, "canaries caught", path)?,
                            escaped: from_sql(escaped, "canaries escaped", path)?,
                        },
                    );
                }
                let mut stmt = conn
                    .prepare("SELECT check_id, p95_ms FROM check_latency WHERE cycle = ?1")
                    .map_err(fail)?;
                metrics.p95_ms = stmt
                    .query_map([self.id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .and_then(|rows| rows.collect::<rusqlite::Result<BTreeMap<String, f64>>>())
                    .map_err(fail)?;
                if let Some(problem) = metrics.problem() {
                    return Err(corrupt(path, format_args!("cycle {}: {problem}", self.id)));
                }
                Some(metrics)
            }
            (None, None, None, None, None) if status != CycleStatus::Completed => None,
            _ => {
                return Err(corrupt(
                    path,
                    format_args!(
                        "cycle {} is {} but its metrics are {}",
                        self.id,
                        self.status,
                        if status == CycleStatus::Completed {
                            "incomplete"
                        } else {
                            "set"
                        }
                    ),
                ))
            }
        };
        let mut stmt = conn
            .prepare("SELECT name, status, detail FROM phases WHERE cycle = ?1 ORDER BY seq")
            .map_err(fail)?;
        let phases = stmt
            .query_map([self.id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(fail)?
            .into_iter()
            .map(|(name, status, detail)| {
                let status = PhaseStatus::parse(&status).ok_or_else(|| {
                    corrupt(
                        path,
                        format_args!("cycle {} phase `{name}` has status `{status}`", self.id),
                    )
                })?;
                Ok(PhaseRecord {
                    name,
                    status,
                    detail,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CycleRecord {
            id: CycleId(from_sql(self.id, "cycle id", path)?),
            epoch: from_sql(self.epoch, "epoch", path)?,
            started_ms: from_sql(self.started_ms, "started_ms", path)?,
            finished_ms: self
                .finished_ms
                .map(|ms| from_sql(ms, "finished_ms", path))
                .transpose()?,
            status,
            note: self.note,
            metrics,
            phases,
        })
    }
}

struct RawPause {
    gate: String,
    reason: String,
    since_ms: i64,
    resumed_ms: Option<i64>,
    resume_reason: Option<String>,
}

impl RawPause {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawPause> {
        Ok(RawPause {
            gate: row.get(0)?,
            reason: row.get(1)?,
            since_ms: row.get(2)?,
            resumed_ms: row.get(3)?,
            resume_reason: row.get(4)?,
        })
    }

    fn load(self, path: &Path) -> Result<Pause> {
        let gate = Gate::from_name(&self.gate)
            .ok_or_else(|| corrupt(path, format_args!("a pause names gate `{}`", self.gate)))?;
        let resumed = match (self.resumed_ms, self.resume_reason) {
            (Some(at), Some(reason)) => Some(Resume {
                at_ms: from_sql(at, "resumed_ms", path)?,
                reason,
            }),
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    path,
                    "a pause has a resume time without a reason or the reverse",
                ))
            }
        };
        Ok(Pause {
            gate,
            reason: self.reason,
            since_ms: from_sql(self.since_ms, "since_ms", path)?,
            resumed,
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Content {
    Empty,
    Ledger,
}

/// What the file holds: nothing yet, or a ledger of the current schema; anything else is an
/// error.
fn vet(conn: &Connection, path: &Path) -> Result<Content> {
    let fail = |e| sql_error(path, e);
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY name",
        )
        .map_err(fail)?;
    let tables = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(fail)?;
    if tables.is_empty() {
        return Ok(Content::Empty);
    }
    if !tables.iter().any(|t| t == "schema_version") {
        return Err(LoopError::new(
            Kind::NotALedger,
            format_args!(
                "an SQLite database without a `schema_version` table (it has {})",
                tables.join(", ")
            ),
        )
        .at(path));
    }
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get(0)
        })
        .map_err(fail)?;
    match version {
        Some(SCHEMA_VERSION) => Ok(Content::Ledger),
        Some(v) if v > SCHEMA_VERSION => Err(LoopError::new(
            Kind::NewerSchema,
            format_args!(
                "schema version {v}, this auditwall reads up to {SCHEMA_VERSION}; use a newer auditwall (the file is left as it is)"
            ),
        )
        .at(path)),
        other => Err(corrupt(
            path,
            format_args!(
                "schema version {}, expected {SCHEMA_VERSION}",
                other.map_or_else(|| "missing".to_owned(), |v| v.to_string())
            ),
        )),
    }
}

fn open_pause(conn: &Connection, path: &Path) -> Result<Option<Pause>> {
    conn.query_row(
        "SELECT gate, reason, since_ms, resumed_ms, resume_reason FROM pauses
         WHERE resumed_ms IS NULL",
        [],
        RawPause::from_row,
    )
    .optional()
    .map_err(|e| sql_error(path, e))?
    .map(|raw| raw.load(path))
    .transpose()
}

fn resumes(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM pauses WHERE resumed_ms IS NOT NULL",
        [],
        |row| row.get(0),
    )
}

fn require_running(conn: &Connection, id: CycleId, path: &Path) -> Result<()> {
    let cycle = to_sql(id.0, "cycle id")?;
    let status: Option<String> = conn
        .query_row("SELECT status FROM cycles WHERE id = ?1", [cycle], |row| {
            row.get(0)
        })
        .optional()
        .map_err(|e| sql_error(path, e))?;
    match status.as_deref() {
        Some("running") => Ok(()),
        Some(other) => {
            Err(LoopError::new(Kind::NotRunning, format_args!("cycle {id} is {other}")).at(path))
        }
        None => Err(
            LoopError::new(Kind::NotRunning, format_args!("cycle {id} does not exist")).at(path),
        ),
    }
}

fn non_empty<'a>(text: &'a str, what: &str) -> Result<&'a str> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        Err(LoopError::new(
            Kind::InvalidInput,
            format_args!("{what} is empty"),
        ))
    } else {
        Ok(trimmed)
    }
}

fn to_sql(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        LoopError::new(
            Kind::InvalidInput,
            format_args!("{what} is {value}, larger than the ledger can store"),
        )
    })
}

fn from_sql(value: i64, what: &str, path: &Path) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(path, format_args!("{what} is {value}")))
}

fn corrupt(path: &Path, detail: impl fmt::Display) -> LoopError {
    LoopError::new(Kind::Corrupt, detail).at(path)
}

fn sql_error(path: &Path, e: rusqlite::Error) -> LoopError {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Kind::NotALedger,
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => Kind::Open,
        _ => Kind::Storage,
    };
    LoopError::new(kind, e).at(path)
}
