//! The policy file: defaults, every key, and the exact located message for each bad input.

use std::time::Duration;

use auditwall_soak::{Kind, Policy};
use auditwall_spec::SourceFile;

fn parse(text: &str) -> Result<Policy, String> {
    Policy::parse(&SourceFile {
        path: "soak.yaml".to_owned(),
        text: text.to_owned(),
    })
    .map_err(|e| {
        assert_eq!(e.kind(), Kind::Policy);
        e.to_string()
    })
}

#[test]
fn an_empty_file_is_the_defaults() {
    let defaults = Policy::default();
    assert_eq!(parse("").as_ref(), Ok(&defaults));
    assert_eq!(parse("# nothing to change\n\n").as_ref(), Ok(&defaults));
    assert_eq!(defaults.days, 7);
    assert_eq!(defaults.max_gap, Duration::from_secs(7200));
    assert_eq!(defaults.rss_slope_max_text(), "1MiB/day");
    assert_eq!(defaults.latency_tolerance, 1.5);
    assert!(defaults.require_doctor);
    assert_eq!(defaults.docs_command, None);
}

#[test]
fn every_key_is_read() {
    let policy = parse(
        "days: 3\n\
         max_gap: 90m\n\
         rss_slope_max: 512KiB/day\n\
         latency_tolerance: 2\n\
         latency_slack: 20ms\n\
         latency_window: 6h\n\
         require_doctor: false\n\
         docs_command: [mdbook, build, docs]\n",
    )
    .expect("valid");
    assert_eq!(
        policy,
        Policy {
            days: 3,
            max_gap: Duration::from_secs(90 * 60),
            rss_slope_max_bytes_per_day: 524_288.0,
            latency_tolerance: 2.0,
            latency_slack: Duration::from_millis(20),
            latency_window: Duration::from_secs(6 * 3600),
            require_doctor: false,
            docs_command: Some(vec!["mdbook".into(), "build".into(), "docs".into()]),
        }
    );
    assert_ne!(policy.digest(), Policy::default().digest());
    assert_eq!(policy.digest(), policy.clone().digest());
    assert_eq!(policy.digest().len(), 64);
}

#[test]
fn bad_policies_get_located_messages() {
    let cases = [
        (
            "days: 7\nmax_gaps: 2h\n",
            "bad soak policy: soak.yaml:2:1: unknown key `max_gaps` (did you mean `max_gap`?)",
        ),
        (
            "max_gap: 2 parsecs\n",
            "bad soak policy: soak.yaml:1:10: `max_gap`: unknown unit `parsecs` (use ms, s, m, h or d)",
        ),
        (
            "days: 7\nlatency_window: 0s\n",
            "bad soak policy: soak.yaml:2:17: `latency_window`: must be longer than zero",
        ),
        (
            "rss_slope_max: 1MiB\n",
            "bad soak policy: soak.yaml:1:16: `rss_slope_max`: expected a size per time, e.g. 1MiB/day",
        ),
        (
            "rss_slope_max: 1 MiBs/day\n",
            "bad soak policy: soak.yaml:1:16: `rss_slope_max`: unknown unit `MiBs` (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
        ),
        (
            "latency_tolerance: 0.9\n",
            "bad soak policy: soak.yaml:1:20: `latency_tolerance`: 0.9 is not a number >= 1",
        ),
        (
            "days: 0\n",
            "bad soak policy: soak.yaml:1:7: `days`: 0 is not within 1..=366",
        ),
        (
            "days: seven\n",
            "bad soak policy: soak.yaml:1:7: wrong type for `days`: expected a non-negative whole number, found `seven`",
        ),
        (
            "require_doctor: yes\n",
            "bad soak policy: soak.yaml:1:17: wrong type for `require_doctor`: expected `true` or `false`, found `yes`",
        ),
        (
            "docs_command: []\n",
            "bad soak policy: soak.yaml:1:15: `docs_command`: needs a program, e.g. [mdbook, build, docs]",
        ),
        (
            "- days: 7\n",
            "bad soak policy: soak.yaml:1:1: wrong type: expected a mapping, found `- days: 7`",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(parse(text).expect_err(text), message, "{text:?}");
    }
}

#[test]
fn a_missing_policy_file_is_an_error_not_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soak.yaml");
    let err = Policy::load(&path).expect_err("missing");
    assert_eq!(err.kind(), Kind::Policy);
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(
        err.to_string(),
        format!(
            "bad soak policy: {}: cannot read it: No such file or directory (os error 2)",
            path.display()
        )
    );
    std::fs::write(&path, "max_gap: 30m\n").expect("write");
    assert_eq!(
        Policy::load(&path).expect("load").max_gap,
        Duration::from_secs(1800)
    );
    std::fs::write(&path, b"days: \xff\n").expect("write");
    assert_eq!(
        Policy::load(&path).expect_err("bad UTF-8").to_string(),
        format!(
            "bad soak policy: {}:1:7: invalid UTF-8 at byte offset 6",
            path.display()
        )
    );
}
