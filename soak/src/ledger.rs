//! The soak ledger: one SQLite file recording soak runs and one row per tick of each.
//!
//! Owns: the schema, its version check, and every read and write of the file. Must not touch:
//! the gate's rules (see `gate`), the summaries (see `status`), the clock (times are passed
//! in, unix ms).
//!
//! Crash safety: the file is in WAL mode with `synchronous=FULL`, and every call that changes
//! it is one transaction. A process killed mid-tick loses at most that tick; every committed
//! tick survives intact. One writer per ledger at a time (the caller makes sure); readers may
//! open it concurrently.
//!
//! Schema (version [`SCHEMA_VERSION`]), chosen so that `sqlite3` alone can answer questions:
//!
//! | table | columns |
//! |---|---|
//! | `schema_version` | `version` (one row) |
//! | `runs` | `id`, `started_ms`, `days` (planned), `policy_digest` — the latest run is the current soak |
//! | `ticks` | `id`, `run`, `at_ms` (unique per run), `wall_digest`, the verdict counts `pass`, `fail`, `drift`, `error`, `skip`, `blocked`, `memory_pressure_unrecovered` (0/1) |
//! | `red` | `tick`, `seq`, `check_id`, `verdict` (`fail`, `drift`, `error`, `blocked`), `reason` |
//! | `durations` | `tick`, `check_id`, `ms` |
//! | `samples` | `tick`, `service`, `rss_bytes`, `swap_bytes` (NULL: not measured), `open_files` (NULL: not measured) |
//! | `exits` | `tick`, `service` — services that exited non-zero since the previous tick |
//!
//! A ledger with a newer `schema_version` is refused, never downgraded, and left untouched
//! (it is vetted before the journal mode is switched). Migrations start with version 2.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::error::{Kind, Result, SoakError};
use crate::policy::Policy;
use crate::status::{self, Status};

/// The schema this version writes and the newest it opens.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a write waits for another connection's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_ms INTEGER NOT NULL CHECK (started_ms >= 0),
    days INTEGER NOT NULL CHECK (days > 0),
    policy_digest TEXT NOT NULL
);
CREATE TABLE ticks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run INTEGER NOT NULL REFERENCES runs(id),
    at_ms INTEGER NOT NULL CHECK (at_ms >= 0),
    wall_digest TEXT NOT NULL,
    pass INTEGER NOT NULL CHECK (pass >= 0),
    fail INTEGER NOT NULL CHECK (fail >= 0),
    drift INTEGER NOT NULL CHECK (drift >= 0),
    error INTEGER NOT NULL CHECK (error >= 0),
    skip INTEGER NOT NULL CHECK (skip >= 0),
    blocked INTEGER NOT NULL CHECK (blocked >= 0),
    memory_pressure_unrecovered INTEGER NOT NULL CHECK (memory_pressure_unrecovered IN (0, 1)),
    UNIQUE (run, at_ms)
);
CREATE TABLE red (
    tick INTEGER NOT NULL REFERENCES ticks(id),
    seq INTEGER NOT NULL,
    check_id TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('fail', 'drift', 'error', 'blocked')),
    reason TEXT NOT NULL,
    PRIMARY KEY (tick, seq)
);
CREATE TABLE durations (
    tick INTEGER NOT NULL REFERENCES ticks(id),
    check_id TEXT NOT NULL,
    ms REAL NOT NULL CHECK (ms >= 0),
    PRIMARY KEY (tick, check_id)
);
CREATE TABLE samples (
    tick INTEGER NOT NULL REFERENCES ticks(id),
    service TEXT NOT NULL,
    rss_bytes INTEGER NOT NULL CHECK (rss_bytes >= 0),
    swap_bytes INTEGER CHECK (swap_bytes >= 0),
    open_files INTEGER CHECK (open_files >= 0),
    PRIMARY KEY (tick, service)
);
CREATE TABLE exits (
    tick INTEGER NOT NULL REFERENCES ticks(id),
    service TEXT NOT NULL,
    PRIMARY KEY (tick, service)
);
";

/// How many checks of one wall run ended in each verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub pass: u64,
    pub fail: u64,
    pub drift: u64,
    pub error: u64,
    pub skip: u64,
    pub blocked: u64,
}

impl Counts {
    fn of(self, verdict: RedVerdict) -> u64 {
        match verdict {
            RedVerdict::Fail => self.fail,
            RedVerdict::Drift => self.drift,
            RedVerdict::Error => self.error,
            RedVerdict::Blocked => self.blocked,
        }
    }
}

/// The verdicts that make a tick red. `pass` and `skip` never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedVerdict {
    Fail,
    Drift,
    /// The check could not run. Not a red *system*, but not a calm one either: a soak needs
    /// every detector working.
    Error,
    Blocked,
}

impl RedVerdict {
    pub const ALL: [RedVerdict; 4] = [
        RedVerdict::Fail,
        RedVerdict::Drift,
        RedVerdict::Error,
        RedVerdict::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RedVerdict::Fail => "fail",
            RedVerdict::Drift => "drift",
            RedVerdict::Error => "error",
            RedVerdict::Blocked => "blocked",
        }
    }

    fn parse(text: &str) -> Option<RedVerdict> {
        RedVerdict::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl fmt::Display for RedVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check that was not green in a tick, with the failure message the wall run gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedCheck {
    pub check: String,
    pub verdict: RedVerdict,
    pub reason: String,
}

/// Resources of one target service at the tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub rss_bytes: u64,
    /// `None` where the platform does not say (e.g. no per-process swap on macOS).
    pub swap_bytes: Option<u64>,
    pub open_files: Option<u64>,
}

/// One wall run, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tick {
    /// When the wall run finished (unix ms); strictly after the previous tick of the run.
    pub at_ms: u64,
    /// Identifies the wall's specs as they were (so a changed wall is visible in the ledger).
    pub wall_digest: String,
    pub counts: Counts,
    /// Every check with a red verdict, in report order; per verdict, exactly as many as
    /// `counts` says.
    pub red: Vec<RedCheck>,
    /// Each check's duration in this run, in milliseconds.
    pub durations_ms: BTreeMap<String, f64>,
    /// Per target service; a service that could not be sampled is absent.
    pub samples: BTreeMap<String, Resources>,
    /// Services that exited with a non-zero status (or by a signal) since the previous tick.
    pub services_exited_nonzero: BTreeSet<String>,
    /// Critical memory pressure was seen and had not gone away by the end of the tick.
    pub memory_pressure_unrecovered: bool,
}

impl Tick {
    fn problem(&self) -> Option<String> {
        if self.wall_digest.trim().is_empty() {
            return Some("the wall digest is empty".to_owned());
        }
        for verdict in RedVerdict::ALL {
            let listed = self.red.iter().filter(|r| r.verdict == verdict).count() as u64;
            let counted = self.counts.of(verdict);
            if listed != counted {
                return Some(format!(
                    "{listed} red checks listed with verdict {verdict}, but the counts say {counted}"
                ));
            }
        }
        if self.red.iter().any(|r| r.check.trim().is_empty()) {
            return Some("a red check has an empty id".to_owned());
        }
        if let Some((check, ms)) = self
            .durations_ms
            .iter()
            .find(|(_, ms)| !(ms.is_finite() && **ms >= 0.0))
        {
            return Some(format!(
                "duration of check `{check}` is {ms} ms, not a finite non-negative number"
            ));
        }
        if self.durations_ms.keys().any(|c| c.trim().is_empty()) {
            return Some("a duration has an empty check id".to_owned());
        }
        let services = self.samples.keys().chain(&self.services_exited_nonzero);
        if services.into_iter().any(|s| s.trim().is_empty()) {
            return Some("a service name is empty".to_owned());
        }
        None
    }
}

/// A soak run: what `soak start` recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: u64,
    pub started_ms: u64,
    /// The planned length in full calendar days.
    pub days: u32,
    /// [`Policy::digest`] of the policy the soak started with.
    pub policy_digest: String,
}

/// What the summaries need of one tick: everything but the durations.
#[derive(Debug)]
pub(crate) struct TickSummary {
    pub at_ms: u64,
    pub red: Vec<RedCheck>,
    pub exited: Vec<String>,
    pub memory_pressure_unrecovered: bool,
}

/// The current run's ticks in time order, with RSS per service and the durations of the two
/// latency windows.
#[derive(Debug)]
pub(crate) struct Summary {
    pub run: Run,
    pub ticks: Vec<TickSummary>,
    /// Per service: (at_ms, rss_bytes) in time order.
    pub rss: BTreeMap<String, Vec<(u64, u64)>>,
    /// Per check: durations of ticks in the first window.
    pub first_window: BTreeMap<String, Vec<f64>>,
    pub last_window: BTreeMap<String, Vec<f64>>,
}

/// An open ledger file.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    /// Opens the ledger at `path`, creating it (and its directory) with the current schema if
    /// it does not exist. Refuses files that are not ledgers and ledgers of a newer schema,
    /// leaving them untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                SoakError::new(
                    Kind::Open,
                    format_args!("cannot create directory {}: {e}", dir.display()),
                )
                .at(path)
            })?;
        }
        let conn = Connection::open(path).map_err(|e| SoakError::new(Kind::Open, e).at(path))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(path, e))?;
        // Vetted before anything is changed: a foreign or newer file must stay as it was,
        // journal mode included.
        vet(&conn, path)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| sql_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SoakError::new(
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

    /// Starts a soak run at `now_ms` planned for `days` full calendar days under the policy
    /// with `policy_digest`. A run already in the ledger is kept but no longer current: the
    /// soak window starts again.
    pub fn start(&mut self, now_ms: u64, days: u32, policy_digest: &str) -> Result<Run> {
        if days == 0 {
            return Err(SoakError::new(Kind::InvalidInput, "a soak of 0 days"));
        }
        if policy_digest.trim().is_empty() {
            return Err(SoakError::new(
                Kind::InvalidInput,
                "the policy digest is empty",
            ));
        }
        let now = to_sql(now_ms, "now")?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute(
            "INSERT INTO runs (started_ms, days, policy_digest) VALUES (?1, ?2, ?3)",
            params![now, days, policy_digest],
        )
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(fail)?;
        Ok(Run {
            id: from_sql(id, "run id", &path)?,
            started_ms: now_ms,
            days,
            policy_digest: policy_digest.to_owned(),
        })
    }

    /// The current soak run, if one was started.
    pub fn run(&self) -> Result<Option<Run>> {
        let raw = self
            .conn
            .query_row(
                "SELECT id, started_ms, days, policy_digest FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| sql_error(&self.path, e))?;
        raw.map(|(id, started, days, digest)| {
            Ok(Run {
                id: from_sql(id, "run id", &self.path)?,
                started_ms: from_sql(started, "started_ms", &self.path)?,
                days: u32::try_from(days)
                    .map_err(|_| corrupt(&self.path, format_args!("days is {days}")))?,
                policy_digest: digest,
            })
        })
        .transpose()
    }

    fn current_run(&self) -> Result<Run> {
        self.run()?.ok_or_else(|| {
            SoakError::new(
                Kind::NotStarted,
                "the ledger has no soak run; start one with `auditwall soak start`",
            )
            .at(&self.path)
        })
    }

    /// Records one tick of the current run, all in one transaction. Refused when no run was
    /// started, when the tick is inconsistent (red checks that disagree with the counts), or
    /// when it is not after the run's start and its last tick (a clock that went back).
    pub fn record_tick(&mut self, tick: &Tick) -> Result<()> {
        if let Some(problem) = tick.problem() {
            return Err(SoakError::new(
                Kind::InvalidInput,
                format_args!("tick at {} ms: {problem}", tick.at_ms),
            ));
        }
        let at = to_sql(tick.at_ms, "tick time")?;
        let c = &tick.counts;
        let counts = [
            to_sql(c.pass, "pass count")?,
            to_sql(c.fail, "fail count")?,
            to_sql(c.drift, "drift count")?,
            to_sql(c.error, "error count")?,
            to_sql(c.skip, "skip count")?,
            to_sql(c.blocked, "blocked count")?,
        ];
        let run = self.current_run()?;
        let path = self.path.clone();
        let fail = |e| sql_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT MAX(at_ms) FROM ticks WHERE run = ?1",
                [to_sql(run.id, "run id")?],
                |row| row.get(0),
            )
            .map_err(fail)?;
        let refused = match last {
            Some(last) if at <= last => Some(format!(
                "tick at {} ms is not after the last tick at {last} ms (did the clock go back?)",
                tick.at_ms
            )),
            None if tick.at_ms < run.started_ms => Some(format!(
                "tick at {} ms is before the soak's start at {} ms",
                tick.at_ms, run.started_ms
            )),
            _ => None,
        };
        if let Some(why) = refused {
            return Err(SoakError::new(Kind::InvalidInput, why).at(&path));
        }
        tx.execute(
            "INSERT INTO ticks (run, at_ms, wall_digest, pass, fail, drift, error, skip, blocked,
                 memory_pressure_unrecovered)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                to_sql(run.id, "run id")?,
                at,
                tick.wall_digest,
                counts[0],
                counts[1],
                counts[2],
                counts[3],
                counts[4],
                counts[5],
                tick.memory_pressure_unrecovered
            ],
        )
        .map_err(fail)?;
        let id = tx.last_insert_rowid();
        {
            let mut red = tx
                .prepare_cached(
                    "INSERT INTO red (tick, seq, check_id, verdict, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(fail)?;
            for (seq, r) in tick.red.iter().enumerate() {
                red.execute(params![
                    id,
                    seq as i64,
                    r.check,
                    r.verdict.as_str(),
                    r.reason
                ])
                .map_err(fail)?;
            }
            let mut durations = tx
                .prepare_cached("INSERT INTO durations (tick, check_id, ms) VALUES (?1, ?2, ?3)")
                .map_err(fail)?;
            for (check, ms) in &tick.durations_ms {
                durations.execute(params![id, check, ms]).map_err(fail)?;
            }
            let mut samples = tx
                .prepare_cached(
                    "INSERT INTO samples (tick, service, rss_bytes, swap_bytes, open_files)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(fail)?;
            for (service, r) in &tick.samples {
                let swap = r.swap_bytes.map(|s| to_sql(s, "swap bytes")).transpose()?;
                let files = r.open_files.map(|s| to_sql(s, "open files")).transpose()?;
                samples
                    .execute(params![
                        id,
                        service,
                        to_sql(r.rss_bytes, "RSS")?,
                        swap,
                        files
                    ])
                    .map_err(fail)?;
            }
            let mut exits = tx
                .prepare_cached("INSERT INTO exits (tick, service) VALUES (?1, ?2)")
                .map_err(fail)?;
            for service in &tick.services_exited_nonzero {
                exits.execute(params![id, service]).map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    /// The current run's ticks whose `at_ms` lies in `range`, oldest first, exactly as
    /// recorded.
    pub fn ticks(&self, range: impl RangeBounds<u64>) -> Result<Vec<Tick>> {
        let run = self.current_run()?;
        let run_id = to_sql(run.id, "run id")?;
        let lo = match range.start_bound() {
            Bound::Included(&v) => v,
            Bound::Excluded(&v) => v.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&v) => Some(v),
            Bound::Excluded(&v) => v.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let Some(hi) = hi.filter(|hi| *hi >= lo) else {
            return Ok(Vec::new());
        };
        // Beyond i64 nothing can be stored, so clamping loses no tick.
        let (lo, hi) = (clamp(lo), clamp(hi));
        let path = &self.path;
        let fail = |e| sql_error(path, e);
        let bounds = params![run_id, lo, hi];
        let in_range = "t.run = ?1 AND t.at_ms BETWEEN ?2 AND ?3";

        let mut ticks = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT t.id, t.at_ms, t.wall_digest, t.pass, t.fail, t.drift, t.error, t.skip,
                     t.blocked, t.memory_pressure_unrecovered
                 FROM ticks t WHERE {in_range} ORDER BY t.at_ms"
            ))
            .map_err(fail)?;
        let mut rows = stmt.query(bounds).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let id: i64 = row.get(0).map_err(fail)?;
            let count = |i: usize, what: &str| -> Result<u64> {
                from_sql(row.get(i).map_err(fail)?, what, path)
            };
            let tick = Tick {
                at_ms: count(1, "at_ms")?,
                wall_digest: row.get(2).map_err(fail)?,
                counts: Counts {
                    pass: count(3, "pass")?,
                    fail: count(4, "fail")?,
                    drift: count(5, "drift")?,
                    error: count(6, "error")?,
                    skip: count(7, "skip")?,
                    blocked: count(8, "blocked")?,
                },
                red: Vec::new(),
                durations_ms: BTreeMap::new(),
                samples: BTreeMap::new(),
                services_exited_nonzero: BTreeSet::new(),
                memory_pressure_unrecovered: row.get(9).map_err(fail)?,
            };
            index.insert(id, ticks.len());
            ticks.push(tick);
        }
        let slot = |id: i64| {
            index
                .get(&id)
                .copied()
                .ok_or_else(|| corrupt(path, format_args!("a row refers to tick {id}")))
        };

        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT r.tick, r.check_id, r.verdict, r.reason FROM red r
                 JOIN ticks t ON r.tick = t.id WHERE {in_range} ORDER BY r.tick, r.seq"
            ))
            .map_err(fail)?;
        let mut rows = stmt.query(bounds).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let i = slot(row.get(0).map_err(fail)?)?;
            ticks[i].red.push(red_check(row, path)?);
        }

        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT d.tick, d.check_id, d.ms FROM durations d
                 JOIN ticks t ON d.tick = t.id WHERE {in_range}"
            ))
            .map_err(fail)?;
        let mut rows = stmt.query(bounds).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let i = slot(row.get(0).map_err(fail)?)?;
            ticks[i]
                .durations_ms
                .insert(row.get(1).map_err(fail)?, row.get(2).map_err(fail)?);
        }

        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT s.tick, s.service, s.rss_bytes, s.swap_bytes, s.open_files FROM samples s
                 JOIN ticks t ON s.tick = t.id WHERE {in_range}"
            ))
            .map_err(fail)?;
        let mut rows = stmt.query(bounds).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let i = slot(row.get(0).map_err(fail)?)?;
            let optional = |i: usize, what: &str| -> Result<Option<u64>> {
                row.get::<_, Option<i64>>(i)
                    .map_err(fail)?
                    .map(|v| from_sql(v, what, path))
                    .transpose()
            };
            let resources = Resources {
                rss_bytes: from_sql(row.get(2).map_err(fail)?, "rss_bytes", path)?,
                swap_bytes: optional(3, "swap_bytes")?,
                open_files: optional(4, "open_files")?,
            };
            ticks[i]
                .samples
                .insert(row.get(1).map_err(fail)?, resources);
        }

        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT e.tick, e.service FROM exits e JOIN ticks t ON e.tick = t.id WHERE {in_range}"
            ))
            .map_err(fail)?;
        let mut rows = stmt.query(bounds).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let i = slot(row.get(0).map_err(fail)?)?;
            ticks[i]
                .services_exited_nonzero
                .insert(row.get(1).map_err(fail)?);
        }
        Ok(ticks)
    }

    /// The current run summarised at `now_ms` under `policy` (its gap limit and latency
    /// window): see [`Status`]. Refused when no run was started, or when `now_ms` is before
    /// the start or the last tick.
    pub fn status(&self, now_ms: u64, policy: &Policy) -> Result<Status> {
        let run = self.current_run()?;
        let window = u64::try_from(policy.latency_window.as_millis()).unwrap_or(u64::MAX);
        if now_ms < run.started_ms {
            return Err(SoakError::new(
                Kind::InvalidInput,
                format_args!(
                    "now ({now_ms} ms) is before the soak's start ({} ms)",
                    run.started_ms
                ),
            )
            .at(&self.path));
        }
        let summary = self.summary(run, now_ms, window)?;
        if let Some(last) = summary.ticks.last().map(|t| t.at_ms) {
            if now_ms < last {
                return Err(SoakError::new(
                    Kind::InvalidInput,
                    format_args!(
                        "now ({now_ms} ms) is before the last tick ({last} ms); did the clock go back?"
                    ),
                )
                .at(&self.path));
            }
        }
        Ok(status::summarise(summary, now_ms, policy))
    }

    /// Reads only what the summaries need: durations of the two latency windows, not all.
    fn summary(&self, run: Run, now_ms: u64, window_ms: u64) -> Result<Summary> {
        let path = &self.path;
        let fail = |e| sql_error(path, e);
        let run_id = to_sql(run.id, "run id")?;

        let mut ticks: Vec<TickSummary> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at_ms, memory_pressure_unrecovered FROM ticks WHERE run = ?1
                 ORDER BY at_ms",
            )
            .map_err(fail)?;
        let mut rows = stmt.query([run_id]).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            index.insert(row.get(0).map_err(fail)?, ticks.len());
            ticks.push(TickSummary {
                at_ms: from_sql(row.get(1).map_err(fail)?, "at_ms", path)?,
                red: Vec::new(),
                exited: Vec::new(),
                memory_pressure_unrecovered: row.get(2).map_err(fail)?,
            });
        }
        let slot = |id: i64| {
            index
                .get(&id)
                .copied()
                .ok_or_else(|| corrupt(path, format_args!("a row refers to tick {id}")))
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.tick, r.check_id, r.verdict, r.reason FROM red r
                 JOIN ticks t ON r.tick = t.id WHERE t.run = ?1 ORDER BY r.tick, r.seq",
            )
            .map_err(fail)?;
        let mut rows = stmt.query([run_id]).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let i = slot(row.get(0).map_err(fail)?)?;
            ticks[i].red.push(red_check(row, path)?);
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.tick, e.service FROM exits e JOIN ticks t ON e.tick = t.id
                 WHERE t.run = ?1 ORDER BY e.tick, e.service",
            )
            .map_err(fail)?;
        let mut rows = stmt.query([run_id]).map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            let i = slot(row.get(0).map_err(fail)?)?;
            ticks[i].exited.push(row.get(1).map_err(fail)?);
        }

        let mut rss: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.service, t.at_ms, s.rss_bytes FROM samples s JOIN ticks t ON s.tick = t.id
                 WHERE t.run = ?1 ORDER BY s.service, t.at_ms",
            )
            .map_err(fail)?;
        let mut rows = stmt.query([run_id]).map_err(fail)?;
        let mut current: Option<(String, Vec<(u64, u64)>)> = None;
        while let Some(row) = rows.next().map_err(fail)? {
            // Rows come grouped by service: compare without allocating a name per row.
            let service = row
                .get_ref(0)
                .map_err(fail)?
                .as_str()
                .map_err(|e| corrupt(path, format_args!("a service name is not text: {e}")))?;
            let point = (
                from_sql(row.get(1).map_err(fail)?, "at_ms", path)?,
                from_sql(row.get(2).map_err(fail)?, "rss_bytes", path)?,
            );
            match &mut current {
                Some((name, points)) if name == service => points.push(point),
                _ => {
                    if let Some((name, points)) = current.take() {
                        rss.insert(name, points);
                    }
                    current = Some((service.to_owned(), vec![point]));
                }
            }
        }
        if let Some((name, points)) = current {
            rss.insert(name, points);
        }

        let first_end = run.started_ms.saturating_add(window_ms);
        let last_start = now_ms.saturating_sub(window_ms);
        let first_window = self.durations(run_id, run.started_ms, first_end.saturating_sub(1))?;
        let last_window = self.durations(run_id, last_start, now_ms)?;
        Ok(Summary {
            run,
            ticks,
            rss,
            first_window,
            last_window,
        })
    }

    /// Durations per check of the ticks with `at_ms` in `[lo, hi]`.
    fn durations(&self, run_id: i64, lo: u64, hi: u64) -> Result<BTreeMap<String, Vec<f64>>> {
        let path = &self.path;
        let fail = |e| sql_error(path, e);
        let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.check_id, d.ms FROM durations d JOIN ticks t ON d.tick = t.id
                 WHERE t.run = ?1 AND t.at_ms BETWEEN ?2 AND ?3",
            )
            .map_err(fail)?;
        let mut rows = stmt
            .query(params![run_id, clamp(lo), clamp(hi)])
            .map_err(fail)?;
        while let Some(row) = rows.next().map_err(fail)? {
            out.entry(row.get(0).map_err(fail)?)
                .or_default()
                .push(row.get(1).map_err(fail)?);
        }
        Ok(out)
    }
}

fn red_check(row: &rusqlite::Row<'_>, path: &Path) -> Result<RedCheck> {
    let fail = |e| sql_error(path, e);
    let verdict: String = row.get(2).map_err(fail)?;
    Ok(RedCheck {
        check: row.get(1).map_err(fail)?,
        verdict: RedVerdict::parse(&verdict)
            .ok_or_else(|| corrupt(path, format_args!("red verdict `{verdict}`")))?,
        reason: row.get(3).map_err(fail)?,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Content {
    Empty,
    Ledger,
}

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
    if !tables.iter().any(|t| t == "schema_version") || !tables.iter().any(|t| t == "ticks") {
        return Err(SoakError::new(
            Kind::NotALedger,
            format_args!(
                "an SQLite database without the soak ledger's tables (it has {})",
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
        Some(v) if v > SCHEMA_VERSION => Err(SoakError::new(
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

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_sql(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        SoakError::new(
            Kind::InvalidInput,
            format_args!("{what} is {value}, larger than the ledger can store"),
        )
    })
}

fn from_sql(value: i64, what: &str, path: &Path) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(path, format_args!("{what} is {value}")))
}

fn corrupt(path: &Path, detail: impl fmt::Display) -> SoakError {
    SoakError::new(Kind::Corrupt, detail).at(path)
}

fn sql_error(path: &Path, e: rusqlite::Error) -> SoakError {
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Kind::NotALedger,
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => Kind::Open,
        _ => Kind::Storage,
    };
    SoakError::new(kind, e).at(path)
}
