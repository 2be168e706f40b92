//! The drill journal on disk: durable entries, strict reading, restores run for real, moot
//! entries dropped.

use auditwall_harness::journal::{self, RecoverOutcome, Step};
use auditwall_probes::Prober;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn entries_are_appended_read_back_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j/journal.json");
    assert!(journal::pending(&path)
        .expect("missing is empty")
        .is_empty());
    let a = journal::append(
        &path,
        "d1",
        "stop api",
        None,
        Step::Command {
            argv: vec!["true".into()],
        },
    )
    .expect("append");
    let b = journal::append(
        &path,
        "d2",
        "kill api",
        Some(1),
        Step::Command {
            argv: vec!["true".into()],
        },
    )
    .expect("append");
    assert_ne!(a, b);
    let entries = journal::pending(&path).expect("read");
    assert_eq!(
        entries.iter().map(|e| e.drill.as_str()).collect::<Vec<_>>(),
        vec!["d1", "d2"]
    );
    assert_eq!(entries[0].pid, std::process::id());
    journal::remove(&path, a).expect("remove");
    assert_eq!(journal::pending(&path).expect("read").len(), 1);
    journal::remove(&path, b).expect("remove");
    assert!(!path.exists(), "an empty journal is removed");
}

#[test]
fn a_newer_or_broken_journal_is_an_error_not_an_empty_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    std::fs::write(&path, r#"{"format": 9, "entries": []}"#).expect("write");
    let err = journal::pending(&path).expect_err("newer format");
    assert!(
        err.contains("has format 9, newer than this auditwall reads (1)"),
        "{err}"
    );
    std::fs::write(&path, "{").expect("write");
    let err = journal::pending(&path).expect_err("broken");
    assert!(err.contains("is not valid"), "{err}");
    let err = journal::append(
        &path,
        "d",
        "f",
        None,
        Step::Command {
            argv: vec!["true".into()],
        },
    )
    .expect_err("never overwrites a journal it cannot read");
    assert!(err.contains("is not valid"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "{");
}

#[test]
fn recover_runs_restores_keeps_failures_and_drops_moot_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.json");
    let target = dir.path().join("config");
    std::fs::write(&target, "broken").expect("write");
    journal::append(
        &path,
        "put-back",
        "replace config",
        None,
        Step::Write {
            path: target.clone(),
            contents: b"good\n".to_vec(),
        },
    )
    .expect("append");
    journal::append(
        &path,
        "fails",
        "stop api",
        None,
        Step::Command {
            argv: vec!["false".into()],
        },
    )
    .expect("append");
    // A supervisor pid that cannot exist: its system, and the fault, are gone.
    journal::append(
        &path,
        "moot",
        "stop api",
        Some(u32::MAX - 1),
        Step::Command {
            argv: vec!["false".into()],
        },
    )
    .expect("append");
    let prober = Prober::new().expect("prober");
    let done = runtime()
        .block_on(journal::recover(&path, &prober))
        .expect("recover");
    let outcomes: Vec<(&str, bool, bool)> = done
        .iter()
        .map(|r| {
            (
                r.entry.drill.as_str(),
                matches!(r.outcome, RecoverOutcome::Restored(_)),
                r.outcome == RecoverOutcome::Moot,
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("put-back", true, false),
            ("fails", false, false),
            ("moot", false, true)
        ]
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "good\n");
    let left = journal::pending(&path).expect("read");
    assert_eq!(
        left.iter().map(|e| e.drill.as_str()).collect::<Vec<_>>(),
        vec!["fails"]
    );
}
