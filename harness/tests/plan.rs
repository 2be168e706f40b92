//! Planning over a real loaded wall: id/tag/suite/severity filters, partitions and the
//! dependency closure. Nothing runs here.

mod support;

use std::collections::BTreeSet;

use auditwall_harness::plan::{plan, Filter, Partition, Plan};
use auditwall_harness::ErrorKind;
use auditwall_spec::{Check, Severity, Suite};
use support::{load_dir, wall};

/// One file-probe check per (id, severity, tags, needs); the probe is never run.
fn checks(specs: &[(&str, &str, &str, &str)]) -> Vec<Check> {
    let probes: String = specs
        .iter()
        .map(|(id, severity, tags, needs)| {
            format!(
                "  - id: {id}\n    severity: {severity}\n    tags: [{tags}]\n    needs: [{needs}]\n    file: {{ path: /etc/hosts }}\n"
            )
        })
        .collect();
    let dir = wall("  timeout: 1s", &probes);
    load_dir(dir.path()).wall.checks
}

fn wall_checks() -> Vec<Check> {
    checks(&[
        ("router.health", "P1", "router, fast", ""),
        ("router.chat", "P0", "router, contract", "router.health"),
        ("hub.health", "P2", "hub, fast", ""),
        ("hub.state", "P3", "hub", "hub.health"),
        ("disk", "P2", "", ""),
    ])
}

fn ids(p: &Plan) -> Vec<&str> {
    p.checks.iter().map(|c| c.check.id.as_str()).collect()
}

fn selected(p: &Plan) -> Vec<&str> {
    p.checks
        .iter()
        .filter(|c| !c.dependency_only)
        .map(|c| c.check.id.as_str())
        .collect()
}

fn ok(checks: &[Check], filter: Filter) -> Plan {
    match plan(checks, &filter) {
        Ok(p) => p,
        Err(e) => panic!("plan failed: {e}"),
    }
}

#[test]
fn no_filter_plans_every_check_in_wall_order() {
    let p = ok(&wall_checks(), Filter::default());
    assert_eq!(
        ids(&p),
        [
            "router.health",
            "router.chat",
            "hub.health",
            "hub.state",
            "disk"
        ]
    );
    assert_eq!(p.filtered_out, 0);
    assert!(p.checks.iter().all(|c| !c.dependency_only));
    assert_eq!(p.checks[1].needs, [0]);
    assert_eq!(p.checks[1].name(), "probes::router.chat");
}

#[test]
fn id_globs_match_the_id_or_the_full_name() {
    let checks = wall_checks();
    let by_id = ok(
        &checks,
        Filter {
            ids: vec!["hub.*".into()],
            ..Filter::default()
        },
    );
    assert_eq!(selected(&by_id), ["hub.health", "hub.state"]);
    assert_eq!(by_id.filtered_out, 3);

    let by_name = ok(
        &checks,
        Filter {
            ids: vec!["probes::router.h*".into(), "disk".into()],
            ..Filter::default()
        },
    );
    assert_eq!(selected(&by_name), ["router.health", "disk"]);

    let other_suite = ok(
        &checks,
        Filter {
            ids: vec!["drills::*".into()],
            ..Filter::default()
        },
    );
    assert!(other_suite.checks.is_empty());
    assert_eq!(other_suite.filtered_out, 5);
}

#[test]
fn a_bad_id_glob_is_a_spec_error() {
    let err = plan(
        &wall_checks(),
        &Filter {
            ids: vec!["router.[".into()],
            ..Filter::default()
        },
    )
    .expect_err("an unclosed class is rejected");
    assert_eq!(err.kind, ErrorKind::Spec);
    assert!(
        err.message.starts_with("invalid id filter `router.[`: "),
        "{}",
        err.message
    );
}

#[test]
fn tags_select_checks_with_any_of_them() {
    let p = ok(
        &wall_checks(),
        Filter {
            tags: vec!["fast".into(), "contract".into()],
            ..Filter::default()
        },
    );
    assert_eq!(selected(&p), ["router.health", "router.chat", "hub.health"]);
}

#[test]
fn suites_select_by_kind() {
    let checks = wall_checks();
    let probes = ok(
        &checks,
        Filter {
            suites: vec![Suite::Probes],
            ..Filter::default()
        },
    );
    assert_eq!(probes.checks.len(), 5);
    let drills = ok(
        &checks,
        Filter {
            suites: vec![Suite::Drills],
            ..Filter::default()
        },
    );
    assert!(drills.checks.is_empty());
}

#[test]
fn max_severity_keeps_that_severity_and_everything_more_severe() {
    let p = ok(
        &wall_checks(),
        Filter {
            max_severity: Some(Severity::P1),
            ..Filter::default()
        },
    );
    assert_eq!(selected(&p), ["router.health", "router.chat"]);
    let p0 = ok(
        &wall_checks(),
        Filter {
            max_severity: Some(Severity::P0),
            ..Filter::default()
        },
    );
    assert_eq!(selected(&p0), ["router.chat"]);
}

#[test]
fn filters_combine_with_and() {
    let p = ok(
        &wall_checks(),
        Filter {
            tags: vec!["fast".into()],
            max_severity: Some(Severity::P1),
            ..Filter::default()
        },
    );
    assert_eq!(selected(&p), ["router.health"]);
}

#[test]
fn selecting_a_check_pulls_in_what_it_needs_first() {
    let checks = checks(&[
        ("c", "P2", "", "b"),
        ("unrelated", "P2", "", ""),
        ("b", "P2", "", "a"),
        ("a", "P2", "", ""),
    ]);
    let p = ok(
        &checks,
        Filter {
            ids: vec!["c".into()],
            ..Filter::default()
        },
    );
    assert_eq!(ids(&p), ["a", "b", "c"]);
    let only: Vec<bool> = p.checks.iter().map(|c| c.dependency_only).collect();
    assert_eq!(only, [true, true, false]);
    assert_eq!(p.checks[1].needs, [0]);
    assert_eq!(p.checks[2].needs, [1]);
    assert_eq!(p.filtered_out, 3);
}

#[test]
fn dependencies_come_first_even_against_wall_order() {
    let checks = checks(&[("late", "P2", "", "early"), ("early", "P2", "", "")]);
    let p = ok(&checks, Filter::default());
    assert_eq!(ids(&p), ["early", "late"]);
    assert_eq!(p.checks[1].needs, [0]);
    assert!(p.checks.iter().all(|c| !c.dependency_only));
}

fn many_checks() -> Vec<Check> {
    let ids: Vec<String> = (0..24).map(|i| format!("check-{i:02}")).collect();
    let specs: Vec<(&str, &str, &str, &str)> =
        ids.iter().map(|id| (id.as_str(), "P2", "", "")).collect();
    checks(&specs)
}

fn shard(checks: &[Check], partition: &str) -> BTreeSet<String> {
    let partition: Partition = partition.parse().expect("valid partition");
    ok(
        checks,
        Filter {
            partition: Some(partition),
            ..Filter::default()
        },
    )
    .checks
    .into_iter()
    .map(|c| c.check.id)
    .collect()
}

#[test]
fn hash_shards_are_disjoint_and_cover_every_check() {
    let checks = many_checks();
    let all: BTreeSet<String> = checks.iter().map(|c| c.id.clone()).collect();
    let shards: Vec<BTreeSet<String>> = (1..=3)
        .map(|k| shard(&checks, &format!("hash:{k}/3")))
        .collect();
    let mut union = BTreeSet::new();
    for (i, s) in shards.iter().enumerate() {
        assert!(!s.is_empty(), "shard {} of 3 is empty", i + 1);
        for id in s {
            assert!(union.insert(id.clone()), "{id} is in two shards");
        }
    }
    assert_eq!(union, all);
}

#[test]
fn hash_shards_do_not_move_when_another_check_is_removed() {
    let checks = many_checks();
    let before = shard(&checks, "hash:2/3");
    let fewer: Vec<Check> = checks
        .iter()
        .filter(|c| c.id != "check-00")
        .cloned()
        .collect();
    let after = shard(&fewer, "hash:2/3");
    let mut expected = before.clone();
    expected.remove("check-00");
    assert_eq!(after, expected);
}

#[test]
fn count_shards_deal_checks_round_robin_in_wall_order() {
    let checks = checks(&[
        ("a", "P2", "", ""),
        ("b", "P2", "", ""),
        ("c", "P2", "", ""),
        ("d", "P2", "", ""),
        ("e", "P2", "", ""),
    ]);
    let ids_of = |p: &str| shard(&checks, p).into_iter().collect::<Vec<_>>();
    assert_eq!(ids_of("count:1/2"), ["a", "c", "e"]);
    assert_eq!(ids_of("count:2/2"), ["b", "d"]);
    assert_eq!(ids_of("count:3/3"), ["c"]);
    assert_eq!(ids_of("count:1/1"), ["a", "b", "c", "d", "e"]);
}

#[test]
fn a_shard_still_pulls_in_dependencies_from_other_shards() {
    let checks = checks(&[("a", "P2", "", ""), ("b", "P2", "", "a")]);
    let p = ok(
        &checks,
        Filter {
            partition: Some(Partition::Count { k: 2, n: 2 }),
            ..Filter::default()
        },
    );
    assert_eq!(ids(&p), ["a", "b"]);
    assert!(p.checks[0].dependency_only);
    assert!(!p.checks[1].dependency_only);
}

#[test]
fn partitions_parse() {
    assert_eq!(
        "hash:2/3".parse::<Partition>().ok(),
        Some(Partition::Hash { k: 2, n: 3 })
    );
    assert_eq!(
        "count:1/1".parse::<Partition>().ok(),
        Some(Partition::Count { k: 1, n: 1 })
    );
}

#[test]
fn bad_partitions_are_spec_errors_that_show_the_expected_form() {
    for bad in [
        "hash:0/2",
        "hash:3/2",
        "foo:1/2",
        "hash:1",
        "count:1/0",
        "hash:-1/2",
        "",
        "hash:a/b",
    ] {
        let err = bad
            .parse::<Partition>()
            .err()
            .unwrap_or_else(|| panic!("`{bad}` parsed"));
        assert_eq!(err.kind, ErrorKind::Spec, "{bad}");
        assert_eq!(
            err.to_string(),
            format!("invalid partition `{bad}`: expected hash:K/N or count:K/N with 1 <= K <= N")
        );
    }
}
