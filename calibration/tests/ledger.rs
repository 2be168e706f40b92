//! The calibration ledger on disk: round trip, cap, strict reading, atomic replacement.

use std::fs;
use std::path::PathBuf;

use auditwall_calibration::{
    append_ledger, apply_waivers, read_ledger, Date, Finding, FindingKind, FindingTag, Kind,
    LedgerEntry, LedgerFinding, Report, Waiver, LEDGER_FORMAT,
};

fn entry(time_unix_ms: u64) -> LedgerEntry {
    LedgerEntry {
        time_unix_ms,
        wall_digest: "sha256:abc".to_string(),
        checked: 3,
        findings: vec![],
    }
}

#[test]
fn an_entry_built_from_a_judged_report_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("calibration-ledger.json");
    let report = Report {
        checked: 5,
        clean: 3,
        findings: vec![
            Finding {
                path: PathBuf::from("/srv/a.conf"),
                kind: FindingKind::Missing {
                    canonical: "a".to_string(),
                },
            },
            Finding {
                path: PathBuf::from("/srv/b.conf"),
                kind: FindingKind::ModeDiffers {
                    expected: 0o600,
                    actual: 0o644,
                },
            },
        ],
    };
    let today: Date = "2025-03-01".parse().expect("date");
    let waivers = [Waiver {
        path: "/srv/b.conf".to_string(),
        kind: None,
        reason: "r".to_string(),
        expires: today,
    }];
    let judged = apply_waivers(report, &waivers, today).expect("waivers");
    let first = LedgerEntry::new(&judged, 1_740_787_200_000, "sha256:wall");
    append_ledger(&path, first.clone(), 10).expect("append");
    append_ledger(&path, entry(1_740_787_300_000), 10).expect("append");
    let ledger = read_ledger(&path).expect("read");
    assert_eq!(ledger.format, LEDGER_FORMAT);
    assert_eq!(ledger.entries, vec![first, entry(1_740_787_300_000)]);
    assert_eq!(
        ledger.entries[0].findings,
        vec![
            LedgerFinding {
                path: "/srv/a.conf".to_string(),
                kind: FindingTag::Missing,
                waived: false,
            },
            LedgerFinding {
                path: "/srv/b.conf".to_string(),
                kind: FindingTag::ModeDiffers,
                waived: true,
            },
        ]
    );
    let text = fs::read_to_string(&path).expect("read text");
    assert!(
        text.contains("\"kind\": \"mode_differs\",\n          \"waived\": true"),
        "{text}"
    );
}

#[test]
fn the_ledger_keeps_only_the_most_recent_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.json");
    for t in 1..=7 {
        append_ledger(&path, entry(t), 5).expect("append");
    }
    let times: Vec<u64> = read_ledger(&path)
        .expect("read")
        .entries
        .iter()
        .map(|e| e.time_unix_ms)
        .collect();
    assert_eq!(times, vec![3, 4, 5, 6, 7]);
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["ledger.json"], "no temporary file is left");
}

fn read_error(text: &str) -> (Kind, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.json");
    fs::write(&path, text).expect("write");
    let err = read_ledger(&path).expect_err("rejected");
    let shown = err
        .to_string()
        .replace(&path.display().to_string(), "<ledger>");
    (err.kind(), shown)
}

#[test]
fn a_ledger_from_a_newer_version_is_a_clear_error() {
    assert_eq!(
        read_error(r#"{"format": 2, "entries": [], "signature": "new field"}"#),
        (
            Kind::LedgerNewerFormat,
            "calibration ledger is from a newer auditwall: <ledger>: format 2 is newer than 1, \
             the newest this version reads; upgrade auditwall"
                .to_string()
        )
    );
}

#[test]
fn unknown_fields_and_malformed_ledgers_are_rejected() {
    assert_eq!(
        read_error(
            r#"{"format": 1, "entries": [{"time_unix_ms": 1, "wall_digest": "w", "checked": 0, "findings": [], "extra": 1}]}"#
        ),
        (
            Kind::LedgerParse,
            "not a calibration ledger: <ledger>: unknown field `extra`, expected one of \
             `time_unix_ms`, `wall_digest`, `checked`, `findings` at line 1 column 103"
                .to_string()
        )
    );
    assert_eq!(
        read_error("[1, 2]").0,
        Kind::LedgerParse,
        "a JSON value of the wrong shape"
    );
    assert_eq!(read_error("").0, Kind::LedgerParse);
}

#[test]
fn a_missing_ledger_is_a_read_error_naming_it_but_append_creates_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("none.json");
    let err = read_ledger(&path).expect_err("missing");
    assert_eq!(err.kind(), Kind::LedgerRead);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read calibration ledger: {}: No such file or directory (os error 2)",
            path.display()
        )
    );
    append_ledger(&path, entry(1), 5).expect("append creates");
    assert_eq!(read_ledger(&path).expect("read").entries.len(), 1);
}

#[test]
fn append_creates_the_ledgers_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(".auditwall/calibration/ledger.json");
    append_ledger(&path, entry(1), 5).expect("append creates the directory");
    assert_eq!(read_ledger(&path).expect("read").entries.len(), 1);
}

#[test]
fn a_corrupt_ledger_is_never_overwritten_by_an_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.json");
    fs::write(&path, "{ truncated").expect("write");
    let err = append_ledger(&path, entry(1), 5).expect_err("refused");
    assert_eq!(err.kind(), Kind::LedgerParse);
    assert_eq!(fs::read_to_string(&path).expect("read"), "{ truncated");
}

#[test]
fn a_ledger_full_of_large_entries_stays_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.json");
    let big = |time| {
        let mut e = entry(time);
        e.findings = (0..20_000)
            .map(|i| LedgerFinding {
                path: format!("/srv/deployed/conf.d/file-{i:05}.conf"),
                kind: FindingTag::Differs,
                waived: false,
            })
            .collect();
        e
    };
    for time in 0..12 {
        append_ledger(&path, big(time), 1_000).expect("append");
    }
    let ledger = read_ledger(&path).expect("still readable");
    let size = std::fs::metadata(&path).expect("stat").len();
    assert!(size <= 16 * 1024 * 1024, "{size} bytes");
    assert_eq!(ledger.entries.last().map(|e| e.time_unix_ms), Some(11));
    assert!(ledger.entries.len() < 12, "the oldest entries were dropped");
}
