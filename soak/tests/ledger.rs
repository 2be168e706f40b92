//! The ledger file: round trips, ranges, refusals of bad ticks and of files it must not touch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use auditwall_soak::{
    Counts, Kind, Ledger, Policy, RedCheck, RedVerdict, Resources, Tick, SCHEMA_VERSION,
};

const START: u64 = 1_795_132_800_000;
const MINUTE: u64 = 60_000;

fn tick(at_ms: u64) -> Tick {
    Tick {
        at_ms,
        wall_digest: "wall-1".to_owned(),
        counts: Counts {
            pass: 3,
            drift: 1,
            error: 1,
            skip: 2,
            ..Counts::default()
        },
        red: vec![
            RedCheck {
                check: "model.answer".to_owned(),
                verdict: RedVerdict::Error,
                reason: "could not run: connection refused".to_owned(),
            },
            RedCheck {
                check: "calibration.router".to_owned(),
                verdict: RedVerdict::Drift,
                reason: "deployed config differs: timeout 30 → 5".to_owned(),
            },
        ],
        durations_ms: BTreeMap::from([
            ("router.chat".to_owned(), 41.25),
            ("hub.state".to_owned(), 0.375),
        ]),
        samples: BTreeMap::from([(
            "hub".to_owned(),
            Resources {
                rss_bytes: 31_457_280,
                swap_bytes: None,
                open_files: Some(17),
            },
        )]),
        services_exited_nonzero: BTreeSet::from(["watchdog".to_owned()]),
        memory_pressure_unrecovered: true,
    }
}

fn started(dir: &Path) -> Ledger {
    let mut ledger = Ledger::open(dir.join("ledger.sqlite")).expect("open");
    ledger.start(START, 7, "digest-1").expect("start");
    ledger
}

#[test]
fn a_tick_comes_back_exactly_as_recorded_after_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = started(dir.path());
    let written: Vec<Tick> = (1..=3).map(|n| tick(START + n * MINUTE)).collect();
    for t in &written {
        ledger.record_tick(t).expect("record");
    }
    drop(ledger);
    let ledger = Ledger::open(dir.path().join("ledger.sqlite")).expect("reopen");
    assert_eq!(ledger.ticks(..).expect("ticks"), written);
    let run = ledger.run().expect("run").expect("a run");
    assert_eq!(
        (run.started_ms, run.days, run.policy_digest.as_str()),
        (START, 7, "digest-1")
    );
}

#[test]
fn ticks_are_selected_by_time_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = started(dir.path());
    for n in 1..=5 {
        ledger
            .record_tick(&tick(START + n * MINUTE))
            .expect("record");
    }
    let minutes = |ticks: Vec<Tick>| -> Vec<u64> {
        ticks.iter().map(|t| (t.at_ms - START) / MINUTE).collect()
    };
    let at = |n: u64| START + n * MINUTE;
    assert_eq!(minutes(ledger.ticks(at(2)..at(4)).expect("range")), [2, 3]);
    assert_eq!(
        minutes(ledger.ticks(at(2)..=at(4)).expect("range")),
        [2, 3, 4]
    );
    assert_eq!(minutes(ledger.ticks(at(4)..).expect("range")), [4, 5]);
    assert_eq!(minutes(ledger.ticks(..at(2)).expect("range")), [1]);
    assert!(ledger.ticks(at(3)..at(3)).expect("empty").is_empty());
}

#[test]
fn a_new_start_begins_a_new_soak_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = started(dir.path());
    ledger.record_tick(&tick(START + MINUTE)).expect("record");
    let later = START + 10 * MINUTE;
    let run = ledger.start(later, 3, "digest-2").expect("restart");
    assert_eq!(run.id, 2);
    assert!(ledger.ticks(..).expect("ticks").is_empty());
    // The new run's start is the floor for its ticks, not the old run's last tick.
    let err = ledger
        .record_tick(&tick(later - 1))
        .expect_err("before the start");
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert!(err.to_string().ends_with(&format!(
        "tick at {} ms is before the soak's start at {later} ms",
        later - 1
    )));
    ledger.record_tick(&tick(later)).expect("at the start");
}

#[test]
fn nothing_is_recorded_or_summarised_before_a_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    let mut ledger = Ledger::open(&path).expect("open");
    let err = ledger.record_tick(&tick(START)).expect_err("no run");
    assert_eq!(err.kind(), Kind::NotStarted);
    assert_eq!(
        err.to_string(),
        format!(
            "no soak started: {}: the ledger has no soak run; start one with `auditwall soak start`",
            path.display()
        )
    );
    let err = ledger
        .status(START, &Policy::default())
        .expect_err("no run");
    assert_eq!(err.kind(), Kind::NotStarted);
    assert_eq!(ledger.run().expect("run"), None);
}

#[test]
fn inconsistent_or_out_of_order_ticks_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = started(dir.path());
    let mut bad = tick(START + MINUTE);
    bad.counts.drift = 0;
    let err = ledger.record_tick(&bad).expect_err("counts disagree");
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert_eq!(
        err.to_string(),
        format!(
            "invalid input: tick at {} ms: 1 red checks listed with verdict drift, but the counts say 0",
            START + MINUTE
        )
    );
    let mut bad = tick(START + MINUTE);
    bad.durations_ms.insert("hub.state".to_owned(), f64::NAN);
    let err = ledger.record_tick(&bad).expect_err("NaN");
    assert!(err
        .to_string()
        .ends_with("duration of check `hub.state` is NaN ms, not a finite non-negative number"));
    let mut bad = tick(START + MINUTE);
    bad.wall_digest = " ".to_owned();
    assert!(ledger
        .record_tick(&bad)
        .expect_err("empty digest")
        .to_string()
        .ends_with("the wall digest is empty"));

    ledger
        .record_tick(&tick(START + 2 * MINUTE))
        .expect("record");
    let err = ledger
        .record_tick(&tick(START + 2 * MINUTE))
        .expect_err("same instant");
    assert!(err.to_string().ends_with(&format!(
        "tick at {0} ms is not after the last tick at {0} ms (did the clock go back?)",
        START + 2 * MINUTE
    )));
    assert_eq!(ledger.ticks(..).expect("ticks").len(), 1);
    let err = ledger
        .status(START + MINUTE, &Policy::default())
        .expect_err("now before the last tick");
    assert_eq!(err.kind(), Kind::InvalidInput);
}

/// A ledger written by a newer auditwall: version bumped, and journal mode back to DELETE so
/// that any change by `open` (even switching it to WAL) would show in the bytes.
fn newer_ledger(path: &Path) -> Vec<u8> {
    {
        let mut ledger = Ledger::open(path).expect("create");
        ledger.start(START, 7, "digest").expect("start");
        ledger.record_tick(&tick(START + MINUTE)).expect("record");
    }
    let conn = rusqlite::Connection::open(path).expect("sqlite");
    conn.execute(
        "UPDATE schema_version SET version = ?1",
        [SCHEMA_VERSION + 1],
    )
    .expect("bump");
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "delete");
    drop(conn);
    std::fs::read(path).expect("read")
}

#[test]
fn a_ledger_from_a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    let before = newer_ledger(&path);
    let err = Ledger::open(&path).expect_err("newer");
    assert_eq!(err.kind(), Kind::NewerSchema);
    assert_eq!(
        err.to_string(),
        format!(
            "soak ledger is from a newer auditwall: {}: schema version {}, this auditwall reads up to {SCHEMA_VERSION}; use a newer auditwall (the file is left as it is)",
            path.display(),
            SCHEMA_VERSION + 1
        )
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "the file changed"
    );
    assert!(!dir.path().join("ledger.sqlite-wal").exists());
}

#[test]
fn foreign_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database, just notes\n".repeat(40)).expect("write");
    let err = Ledger::open(&text).expect_err("text");
    assert_eq!(err.kind(), Kind::NotALedger);
    assert_eq!(
        std::fs::read_to_string(&text).expect("read"),
        "not a database, just notes\n".repeat(40)
    );

    let other = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&other).expect("sqlite");
    conn.execute_batch("CREATE TABLE cycles (id INTEGER)")
        .expect("create");
    drop(conn);
    let err = Ledger::open(&other).expect_err("foreign");
    assert_eq!(err.kind(), Kind::NotALedger);
    assert!(err
        .to_string()
        .ends_with("an SQLite database without the soak ledger's tables (it has cycles)"));
}

#[test]
fn the_ledger_is_in_wal_mode_with_the_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("ledger.sqlite");
    drop(Ledger::open(&path).expect("open creates the directory"));
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_status_before_the_start_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = started(dir.path());
    let err = ledger
        .status(START - 1, &Policy::default())
        .expect_err("before the start");
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert!(err.to_string().ends_with(&format!(
        "now ({} ms) is before the soak's start ({START} ms)",
        START - 1
    )));
}
