//! Waivers judged on an injected date, and the civil-date type they rely on.

use std::path::PathBuf;

use auditwall_calibration::{
    apply_waivers, Date, Finding, FindingKind, FindingTag, Judged, Report, Status, Waiver,
};

fn date(s: &str) -> Date {
    s.parse().expect("valid date")
}

fn finding(path: &str, kind: FindingKind) -> Finding {
    Finding {
        path: PathBuf::from(path),
        kind,
    }
}

fn report() -> Report {
    Report {
        checked: 4,
        clean: 1,
        findings: vec![
            finding(
                "/srv/conf.d/a.yaml",
                FindingKind::ModeDiffers {
                    expected: 0o600,
                    actual: 0o644,
                },
            ),
            finding(
                "/srv/conf.d/b.yaml",
                FindingKind::Missing {
                    canonical: "b.tmpl".to_string(),
                },
            ),
            finding(
                "/srv/conf.d/sub/c.yaml",
                FindingKind::Missing {
                    canonical: "c.tmpl".to_string(),
                },
            ),
            finding(
                "/srv/x.conf",
                FindingKind::Unreadable {
                    file: PathBuf::from("/srv/x.conf"),
                    error: "is a FIFO, not a regular file".to_string(),
                },
            ),
        ],
    }
}

fn waiver(path: &str, kind: Option<FindingTag>, reason: &str, expires: &str) -> Waiver {
    Waiver {
        path: path.to_string(),
        kind,
        reason: reason.to_string(),
        expires: date(expires),
    }
}

#[test]
fn findings_are_active_waived_or_waiver_expired_on_the_given_day() {
    let waivers = [
        waiver(
            "/srv/conf.d/*.yaml",
            Some(FindingTag::ModeDiffers),
            "upstream package resets modes",
            "2025-06-30",
        ),
        waiver("/srv/conf.d/b.yaml", None, "migrating", "2025-06-01"),
        waiver("/srv/x.conf", None, "errors cannot be waived", "2099-01-01"),
    ];
    let judged = apply_waivers(report(), &waivers, date("2025-06-30")).expect("globs parse");
    let statuses: Vec<&Status> = judged.findings.iter().map(|j| &j.waiver).collect();
    assert_eq!(
        statuses,
        vec![
            &Status::Waived {
                reason: "upstream package resets modes".to_string(),
                expires: date("2025-06-30"),
            },
            &Status::WaiverExpired {
                reason: "migrating".to_string(),
                expired: date("2025-06-01"),
            },
            // The first waiver covers modes only, not a missing file.
            &Status::Active,
            &Status::Active,
        ]
    );
    assert_eq!((judged.drifts(), judged.errors()), (2, 1));
    let lines: Vec<String> = judged.findings.iter().map(Judged::message).collect();
    assert_eq!(
        lines[..2],
        [
            "waived until 2025-06-30 (upstream package resets modes): \
             /srv/conf.d/a.yaml: mode is 0644, expected 0600"
                .to_string(),
            "waiver expired on 2025-06-01 (migrating), so this drift fails again: \
             /srv/conf.d/b.yaml: missing (canonical: b.tmpl)"
                .to_string(),
        ]
    );
}

#[test]
fn a_waiver_fails_from_the_day_after_its_expiry() {
    let waivers = [waiver("/srv/**", None, "r", "2025-06-30")];
    let on_day = apply_waivers(report(), &waivers, date("2025-06-30")).expect("parse");
    let after = apply_waivers(report(), &waivers, date("2025-07-01")).expect("parse");
    assert_eq!(on_day.drifts(), 0);
    assert_eq!(after.drifts(), 3);
    assert!(after.findings[..3]
        .iter()
        .all(|j| matches!(j.waiver, Status::WaiverExpired { .. })));
}

#[test]
fn a_single_star_in_a_waiver_does_not_cross_directories() {
    let waivers = [waiver("/srv/*", None, "r", "2099-01-01")];
    let judged = apply_waivers(report(), &waivers, date("2025-01-01")).expect("parse");
    let waived: Vec<bool> = judged.findings.iter().map(|j| !j.fails()).collect();
    // Only /srv/x.conf is directly under /srv, and it is an error, which no waiver covers.
    assert_eq!(waived, vec![false, false, false, false]);
    let deep = [waiver("/srv/**", None, "r", "2099-01-01")];
    let judged = apply_waivers(report(), &deep, date("2025-01-01")).expect("parse");
    let waived: Vec<bool> = judged.findings.iter().map(|j| !j.fails()).collect();
    assert_eq!(waived, vec![true, true, true, false]);
}

#[test]
fn a_waiver_in_force_wins_over_an_expired_one() {
    let waivers = [
        waiver("/srv/conf.d/b.yaml", None, "old", "2024-01-01"),
        waiver("/srv/conf.d/b.yaml", None, "renewed", "2026-01-01"),
    ];
    let judged = apply_waivers(report(), &waivers, date("2025-01-01")).expect("parse");
    assert_eq!(
        judged.findings[1].waiver,
        Status::Waived {
            reason: "renewed".to_string(),
            expires: date("2026-01-01"),
        }
    );
}

#[test]
fn a_bad_waiver_glob_is_an_error() {
    let err = apply_waivers(
        report(),
        &[waiver("/srv/[", None, "r", "2025-01-01")],
        date("2025-01-01"),
    )
    .expect_err("bad glob");
    assert_eq!(
        err.to_string(),
        "invalid glob: waiver path \"/srv/[\": error parsing glob '/srv/[': \
         unclosed character class; missing ']'"
    );
}

#[test]
fn judged_findings_serialize_with_their_status() {
    let judged = apply_waivers(
        report(),
        &[waiver(
            "/srv/conf.d/b.yaml",
            None,
            "migrating",
            "2025-06-01",
        )],
        date("2025-06-02"),
    )
    .expect("parse");
    assert_eq!(
        serde_json::to_string(&judged.findings[1]).expect("serialize"),
        r#"{"path":"/srv/conf.d/b.yaml","kind":"missing","canonical":"b.tmpl","waiver":{"status":"waiver_expired","reason":"migrating","expired":"2025-06-01"}}"#
    );
}

#[test]
fn dates_parse_strictly_and_compare_in_calendar_order() {
    assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
    assert!(date("2024-12-31") < date("2025-01-01"));
    assert!(date("2025-01-09") < date("2025-01-10"));
    let errors: Vec<String> = [
        "2025-02-29",
        "1900-02-29",
        "2025-13-01",
        "2025-04-31",
        "0000-01-01",
        "2025-1-01",
        "2025/01/01",
        "2025-01-01 ",
        "２０２５-01-01",
        "",
    ]
    .iter()
    .map(|s| {
        s.parse::<Date>()
            .expect_err("invalid date is rejected")
            .to_string()
    })
    .collect();
    assert_eq!(
        errors,
        vec![
            "invalid date: \"2025-02-29\": no such calendar date",
            "invalid date: \"1900-02-29\": no such calendar date",
            "invalid date: \"2025-13-01\": no such calendar date",
            "invalid date: \"2025-04-31\": no such calendar date",
            "invalid date: \"0000-01-01\": no such calendar date",
            "invalid date: \"2025-1-01\": expected YYYY-MM-DD",
            "invalid date: \"2025/01/01\": expected YYYY-MM-DD",
            "invalid date: \"2025-01-01 \": expected YYYY-MM-DD",
            "invalid date: \"２０２５-01-01\": expected YYYY-MM-DD",
            "invalid date: \"\": expected YYYY-MM-DD",
        ]
    );
    assert_eq!(Date::new(2000, 2, 29), Some(date("2000-02-29")));
    assert_eq!(Date::new(2025, 0, 1), None);
}

#[test]
fn unix_time_converts_to_the_utc_calendar_date() {
    let cases = [
        (0, "1970-01-01"),
        (86_399, "1970-01-01"),
        (-1, "1969-12-31"),
        (951_782_400, "2000-02-29"),
        (1_709_164_800, "2024-02-29"),
        (1_735_689_599, "2024-12-31"),
        (1_735_689_600, "2025-01-01"),
        (253_402_300_799, "9999-12-31"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(
            Date::from_unix_seconds(seconds).map(|d| d.to_string()),
            Some(expected.to_string()),
            "{seconds}"
        );
    }
    assert_eq!(Date::from_unix_seconds(253_402_300_800), None);
    assert_eq!(Date::from_unix_seconds(i64::MIN / 2), None);
}
