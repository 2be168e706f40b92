//! The ledger against real SQLite files in temporary directories: schema creation, reopening,
//! refusing files it must not touch, the cycle life cycle, and pause / resume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use auditwall_loop::{
    evaluate, CanaryCount, CycleMetrics, CycleStatus, Gate, GatePolicy, Kind, Ledger, PhaseRecord,
    PhaseStatus, Resume, Tier,
};

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loop").join("ledger.sqlite");
    (dir, path)
}

fn metrics(scenario: f64, t1_escaped: u64) -> CycleMetrics {
    CycleMetrics {
        scenario_pass_rate: scenario,
        oracle_pass_rate: 1.0,
        coverage: 0.5,
        check_count: 32,
        new_cells_covered: 2,
        canaries: BTreeMap::from([
            (
                Tier::T1,
                CanaryCount {
                    caught: 4,
                    escaped: t1_escaped,
                },
            ),
            (
                Tier::T2,
                CanaryCount {
                    caught: 3,
                    escaped: 1,
                },
            ),
        ]),
        p95_ms: BTreeMap::from([
            ("hub.goodnight".to_owned(), 41.5),
            ("router.chat".to_owned(), 180.0),
        ]),
    }
}

fn sql(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open with rusqlite")
}

#[test]
fn a_new_ledger_gets_the_schema_in_wal_mode_and_reopens_with_its_cycles() {
    let (_dir, path) = temp();
    let mut ledger = Ledger::open(&path).expect("create");
    let id = ledger.begin_cycle(1_000).expect("begin");
    ledger
        .record_phase(id, "exercise", PhaseStatus::Ran, "212 actions")
        .expect("phase");
    ledger
        .record_phase(id, "execute", PhaseStatus::Skipped, "no command configured")
        .expect("phase");
    ledger
        .finish_cycle(id, &metrics(0.9, 0), 2_000)
        .expect("finish");
    drop(ledger);

    let conn = sql(&path);
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .expect("schema_version");
    assert_eq!(version, 1);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    drop(conn);

    let ledger = Ledger::open(&path).expect("reopen");
    let history = ledger.history(10).expect("history");
    assert_eq!(history.epoch, 0);
    assert_eq!(history.cycles.len(), 1);
    let cycle = &history.cycles[0];
    assert_eq!(cycle.id, id);
    assert_eq!(cycle.status, CycleStatus::Completed);
    assert_eq!((cycle.started_ms, cycle.finished_ms), (1_000, Some(2_000)));
    assert_eq!(cycle.metrics, Some(metrics(0.9, 0)));
    assert_eq!(
        cycle.phases,
        vec![
            PhaseRecord {
                name: "exercise".to_owned(),
                status: PhaseStatus::Ran,
                detail: "212 actions".to_owned(),
            },
            PhaseRecord {
                name: "execute".to_owned(),
                status: PhaseStatus::Skipped,
                detail: "no command configured".to_owned(),
            },
        ]
    );
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message_and_left_as_it_is() {
    let (_dir, path) = temp();
    drop(Ledger::open(&path).expect("create"));
    sql(&path)
        .execute("UPDATE schema_version SET version = 2", [])
        .expect("bump");

    let err = Ledger::open(&path).expect_err("a newer schema must be refused");
    assert_eq!(err.kind(), Kind::NewerSchema);
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(
        err.to_string(),
        format!(
            "loop ledger is from a newer auditwall: {}: schema version 2, this auditwall reads up to 1; use a newer auditwall (the file is left as it is)",
            path.display()
        )
    );
    let version: i64 = sql(&path)
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .expect("schema_version");
    assert_eq!(version, 2);
}

#[test]
fn files_that_are_not_ledgers_are_refused_and_not_touched() {
    let (dir, _) = temp();
    let text = dir.path().join("notes.sqlite");
    std::fs::write(
        &text,
        "this is not a database, it is a shopping list\n".repeat(200),
    )
    .expect("write");
    let err = Ledger::open(&text).expect_err("a text file is not a ledger");
    assert_eq!(err.kind(), Kind::NotALedger);
    assert_eq!(
        err.to_string(),
        format!(
            "not a loop ledger: {}: file is not a database",
            text.display()
        )
    );

    let other = dir.path().join("other.sqlite");
    sql(&other)
        .execute_batch("CREATE TABLE recipes (name TEXT); CREATE TABLE pantry (item TEXT);")
        .expect("other database");
    let err = Ledger::open(&other).expect_err("another database is not a ledger");
    assert_eq!(err.kind(), Kind::NotALedger);
    assert_eq!(
        err.to_string(),
        format!(
            "not a loop ledger: {}: an SQLite database without a `schema_version` table (it has pantry, recipes)",
            other.display()
        )
    );
    let tables: i64 = sql(&other)
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(tables, 2);
    let mode: String = sql(&other)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(
        mode, "delete",
        "its journal mode must not be switched to WAL"
    );
}

#[test]
fn a_cycle_is_written_once_and_bad_metrics_are_refused_without_a_trace() {
    let (_dir, path) = temp();
    let mut ledger = Ledger::open(&path).expect("create");
    let id = ledger.begin_cycle(10).expect("begin");

    let mut bad = metrics(1.5, 0);
    let err = ledger
        .finish_cycle(id, &bad, 20)
        .expect_err("1.5 is no rate");
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert_eq!(
        err.to_string(),
        format!(
            "invalid input: metrics of cycle {id}: scenario_pass_rate is 1.5, not within 0..=1"
        )
    );
    bad = metrics(0.5, 0);
    bad.p95_ms.insert("router.chat".to_owned(), f64::NAN);
    let err = ledger
        .finish_cycle(id, &bad, 20)
        .expect_err("NaN is no latency");
    assert_eq!(
        err.to_string(),
        format!("invalid input: metrics of cycle {id}: p95 of check `router.chat` is NaN ms, not a finite non-negative number")
    );
    let history = ledger.history(5).expect("history");
    assert_eq!(history.cycles[0].status, CycleStatus::Running);
    assert_eq!(history.cycles[0].metrics, None);

    ledger
        .finish_cycle(id, &metrics(0.5, 0), 20)
        .expect("finish");
    let err = ledger
        .finish_cycle(id, &metrics(0.5, 0), 30)
        .expect_err("a cycle finishes once");
    assert_eq!(err.kind(), Kind::NotRunning);
    assert_eq!(
        err.to_string(),
        format!(
            "no such running cycle: {}: cycle {id} is completed",
            path.display()
        )
    );
    let err = ledger
        .record_phase(id, "polish", PhaseStatus::Ran, "")
        .expect_err("no phases after the end");
    assert_eq!(err.kind(), Kind::NotRunning);
    let err = ledger
        .abort_cycle(id, "stop", 40)
        .expect_err("a completed cycle cannot be aborted");
    assert_eq!(err.kind(), Kind::NotRunning);
}

#[test]
fn an_unfinished_cycle_is_marked_killed_when_the_next_begins_and_aborts_keep_their_note() {
    let (_dir, path) = temp();
    let mut ledger = Ledger::open(&path).expect("create");
    let lost = ledger.begin_cycle(1).expect("begin");
    ledger
        .record_phase(lost, "backlog", PhaseStatus::Ran, "4 cells")
        .expect("phase");
    // The process dies here: the ledger is dropped with the cycle running.
    drop(ledger);

    let mut ledger = Ledger::open(&path).expect("reopen");
    assert_eq!(
        ledger.history(5).expect("history").cycles[0].status,
        CycleStatus::Running,
        "opening a ledger (a reader, maybe) must not judge a running cycle"
    );
    let stopped = ledger.begin_cycle(2).expect("begin");
    ledger
        .abort_cycle(stopped, "  kill switch .auditwall/loop/STOP engaged ", 3)
        .expect("abort");
    let done = ledger.begin_cycle(4).expect("begin");
    ledger
        .finish_cycle(done, &metrics(1.0, 0), 5)
        .expect("finish");

    let cycles = ledger.history(1).expect("history").cycles;
    let seen: Vec<_> = cycles
        .iter()
        .map(|c| (c.id, c.status, c.finished_ms, c.note.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (lost, CycleStatus::Killed, None, None),
            (
                stopped,
                CycleStatus::Aborted,
                Some(3),
                Some("kill switch .auditwall/loop/STOP engaged")
            ),
            (done, CycleStatus::Completed, Some(5), None),
        ],
        "history(1) is the last completed cycle and everything cut short since the one before"
    );
    assert_eq!(cycles[0].phases.len(), 1);
    assert!(ledger.history(0).expect("history").cycles.is_empty());
}

#[test]
fn history_counts_completed_cycles_and_keeps_the_unfinished_ones_between_them() {
    let (_dir, path) = temp();
    let mut ledger = Ledger::open(&path).expect("create");
    let mut ids = Vec::new();
    for n in 0..6u64 {
        let id = ledger.begin_cycle(n).expect("begin");
        if n == 3 {
            ledger.abort_cycle(id, "phase failed", n).expect("abort");
        } else {
            ledger
                .finish_cycle(id, &metrics(0.8, 0), n)
                .expect("finish");
        }
        ids.push(id);
    }
    let got: Vec<_> = ledger
        .history(3)
        .expect("history")
        .cycles
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(got, ids[2..].to_vec());
    assert_eq!(ledger.history(100).expect("history").cycles.len(), 6);
}

#[test]
fn a_paused_loop_refuses_to_begin_until_resumed_and_the_history_is_kept() {
    let (_dir, path) = temp();
    let mut ledger = Ledger::open(&path).expect("create");
    let first = ledger.begin_cycle(100).expect("begin");
    ledger
        .finish_cycle(first, &metrics(1.0, 0), 110)
        .expect("finish");

    let err = ledger
        .resume("nothing to lift", 115)
        .expect_err("not paused");
    assert_eq!(err.kind(), Kind::NotPaused);
    assert_eq!(
        err.to_string(),
        format!(
            "the loop is not paused: {}: there is no pause to lift",
            path.display()
        )
    );

    let pause = ledger
        .pause(Gate::OracleFailing, "oracle pass rate below 1", 120)
        .expect("pause");
    assert_eq!(pause.since_ms, 120);
    let again = ledger
        .pause(Gate::NoNewCoverage, "no new cell covered", 125)
        .expect("pause while paused");
    assert_eq!(again, pause, "the first gate's pause stands");

    let err = ledger.begin_cycle(130).expect_err("paused");
    assert_eq!(err.kind(), Kind::Paused);
    assert_eq!(
        err.to_string(),
        format!(
            "the loop is paused: {}: paused by gate oracle-failing since 120 ms: oracle pass rate below 1; lift it with `auditwall loop resume --reason ...`",
            path.display()
        )
    );
    drop(ledger);

    let mut ledger = Ledger::open(&path).expect("reopen");
    assert_eq!(
        ledger.state().expect("state").paused,
        Some(pause.clone()),
        "a pause survives reopening"
    );
    let err = ledger.resume("   ", 140).expect_err("a reason is required");
    assert_eq!(err.kind(), Kind::InvalidInput);
    assert_eq!(err.to_string(), "invalid input: a resume reason is empty");

    let lifted = ledger
        .resume(
            "reran the oracle by hand; flaky fixture fixed in a1b2c3",
            150,
        )
        .expect("resume");
    let resume = Resume {
        at_ms: 150,
        reason: "reran the oracle by hand; flaky fixture fixed in a1b2c3".to_owned(),
    };
    assert_eq!(lifted.resumed, Some(resume.clone()));
    let state = ledger.state().expect("state");
    assert!(!state.is_paused());
    assert_eq!(state.resumed.len(), 1);
    assert_eq!(state.resumed[0].gate, Gate::OracleFailing);
    assert_eq!(state.resumed[0].resumed, Some(resume));

    let second = ledger.begin_cycle(160).expect("runs again");
    ledger
        .finish_cycle(second, &metrics(1.0, 0), 170)
        .expect("finish");
    let history = ledger.history(10).expect("history");
    let epochs: Vec<_> = history.cycles.iter().map(|c| (c.id, c.epoch)).collect();
    assert_eq!(epochs, vec![(first, 0), (second, 1)]);
    assert_eq!(history.epoch, 1);
}

/// The done-when of the issue, at the ledger's end: the goodnight scenario fails at L4 with
/// its Tier-1 canary escaped, the gate pauses the loop, `resume` lifts it, and a clean cycle
/// after the fix trips nothing.
#[test]
fn a_tier1_escape_pauses_the_loop_through_the_ledger_and_resume_lifts_it() {
    let (_dir, path) = temp();
    let policy = GatePolicy::default();
    let mut ledger = Ledger::open(&path).expect("create");
    let id = ledger.begin_cycle(1).expect("begin");
    ledger
        .record_phase(
            id,
            "regress",
            PhaseStatus::Failed,
            "hub.goodnight: L1 pass, L2 pass, L3 pass, L4 fail (door.front.locked)",
        )
        .expect("phase");
    ledger
        .finish_cycle(id, &metrics(31.0 / 32.0, 1), 2)
        .expect("finish");

    let trips = evaluate(
        &ledger.history(policy.cycles_needed()).expect("history"),
        &policy,
    );
    assert_eq!(trips.len(), 1, "{trips:?}");
    assert_eq!(trips[0].gate, Gate::Tier1Escape);
    assert_eq!(
        trips[0].reason,
        format!("1 of 5 Tier-1 canaries escaped in cycle {id}")
    );
    ledger
        .pause(trips[0].gate, &trips[0].reason, 3)
        .expect("pause");
    assert_eq!(
        ledger.begin_cycle(4).expect_err("paused").kind(),
        Kind::Paused
    );
    assert_eq!(
        evaluate(
            &ledger.history(policy.cycles_needed()).expect("history"),
            &policy
        )
        .len(),
        1,
        "still tripped before the resume"
    );

    ledger
        .resume("goodnight now locks the door (fault cleared)", 5)
        .expect("resume");
    assert!(
        evaluate(
            &ledger.history(policy.cycles_needed()).expect("history"),
            &policy
        )
        .is_empty(),
        "the resume acknowledged the escape"
    );
    let id = ledger.begin_cycle(6).expect("begin after resume");
    ledger
        .finish_cycle(id, &metrics(1.0, 0), 7)
        .expect("finish");
    assert!(evaluate(
        &ledger.history(policy.cycles_needed()).expect("history"),
        &policy
    )
    .is_empty());
    assert_eq!(ledger.history(10).expect("history").cycles.len(), 2);
}

#[test]
fn the_kill_switch_is_the_existence_of_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stop = dir.path().join(auditwall_loop::KILL_SWITCH_PATH);
    assert!(!auditwall_loop::kill_switch_engaged(&stop));
    std::fs::create_dir_all(stop.parent().expect("parent")).expect("mkdir");
    std::fs::write(&stop, "").expect("touch");
    assert!(auditwall_loop::kill_switch_engaged(&stop));
    std::fs::remove_file(&stop).expect("rm");
    assert!(!auditwall_loop::kill_switch_engaged(&stop));
}
