//! The gates over histories built in memory: each trips exactly at its threshold and not one
//! cycle earlier, only on cycles since the last resume, with its numbers in the reason.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

use auditwall_loop::{
    evaluate, CanaryCount, CycleId, CycleMetrics, CycleRecord, CycleStatus, Gate, GatePolicy,
    History, Ledger, Metric, Tier,
};

/// A healthy cycle: nothing trips on a run of these.
fn healthy() -> CycleMetrics {
    CycleMetrics {
        scenario_pass_rate: 0.9,
        oracle_pass_rate: 1.0,
        coverage: 0.4,
        check_count: 32,
        new_cells_covered: 1,
        canaries: BTreeMap::from([
            (
                Tier::T1,
                CanaryCount {
                    caught: 4,
                    escaped: 0,
                },
            ),
            (
                Tier::T2,
                CanaryCount {
                    caught: 9,
                    escaped: 1,
                },
            ),
        ]),
        p95_ms: BTreeMap::new(),
    }
}

/// Cycle ids are only handed out by a ledger: one ledger hands out a pool once.
fn ids(n: usize) -> Vec<CycleId> {
    static POOL: OnceLock<Vec<CycleId>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ledger = Ledger::open(dir.path().join("ids.sqlite")).expect("ledger");
        (0..64)
            .map(|t| {
                let id = ledger.begin_cycle(t).expect("begin");
                ledger.abort_cycle(id, "id only", t).expect("abort");
                id
            })
            .collect()
    });
    assert!(n <= pool.len(), "the id pool holds {} ids", pool.len());
    pool[..n].to_vec()
}

/// Completed cycles, numbered 1.. in order, all in epoch 0.
fn history(metrics: Vec<CycleMetrics>) -> History {
    let ids = ids(metrics.len());
    History {
        cycles: metrics
            .into_iter()
            .zip(ids)
            .map(|(m, id)| CycleRecord {
                id,
                epoch: 0,
                started_ms: id.get() * 1000,
                finished_ms: Some(id.get() * 1000 + 500),
                status: CycleStatus::Completed,
                note: None,
                metrics: Some(m),
                phases: Vec::new(),
            })
            .collect(),
        epoch: 0,
    }
}

fn gates(history: &History, policy: &GatePolicy) -> Vec<Gate> {
    evaluate(history, policy)
        .into_iter()
        .map(|t| t.gate)
        .collect()
}

fn runs(healthy_cycles: usize, then: usize, change: impl Fn(&mut CycleMetrics)) -> History {
    let mut metrics: Vec<CycleMetrics> = (0..healthy_cycles + then).map(|_| healthy()).collect();
    for m in &mut metrics[healthy_cycles..] {
        change(m);
    }
    history(metrics)
}

#[test]
fn a_healthy_history_trips_nothing_however_long() {
    for len in [0, 1, 5, 25, 27, 40] {
        assert_eq!(
            gates(&runs(len, 0, |_| {}), &GatePolicy::default()),
            vec![],
            "{len} cycles"
        );
    }
}

/// Every gate, at its default threshold (trips) and one cycle short of it (does not).
#[test]
fn each_gate_trips_at_its_threshold_and_not_one_cycle_earlier() {
    type Change = fn(&mut CycleMetrics);
    let cases: [(&str, Gate, usize, usize, Change); 8] = [
        // (what, gate, healthy cycles before, bad cycles needed, how a cycle is bad)
        ("oracle", Gate::OracleFailing, 10, 3, |m| {
            m.oracle_pass_rate = 0.95
        }),
        ("no new coverage", Gate::NoNewCoverage, 10, 5, |m| {
            m.new_cells_covered = 0
        }),
        ("tier-1 escape", Gate::Tier1Escape, 10, 1, |m| {
            m.canaries.insert(
                Tier::T1,
                CanaryCount {
                    caught: 3,
                    escaped: 1,
                },
            );
        }),
        // 25 flat cycles, then lower values: the mean of the recent 5 falls below the mean
        // of the 20 before at each low cycle.
        (
            "scenario pass rate",
            Gate::Declining(Metric::ScenarioPassRate),
            25,
            3,
            |m| m.scenario_pass_rate = 0.8,
        ),
        ("coverage", Gate::Declining(Metric::Coverage), 25, 3, |m| {
            m.coverage = 0.39
        }),
        (
            "T2 catch rate",
            Gate::Declining(Metric::CanaryCatchRate(Tier::T2)),
            25,
            3,
            |m| {
                m.canaries.insert(
                    Tier::T2,
                    CanaryCount {
                        caught: 8,
                        escaped: 2,
                    },
                );
            },
        ),
        // The oracle pass rate declining also fails the oracle: both gates trip, the
        // oracle gate checked separately above.
        (
            "oracle pass rate",
            Gate::Declining(Metric::OraclePassRate),
            25,
            3,
            |m| m.oracle_pass_rate = 0.99,
        ),
        // 20 flat cycles, then low ones: the first point with a full baseline is cycle 25,
        // so the third declining point is cycle 27.
        (
            "short baseline",
            Gate::Declining(Metric::ScenarioPassRate),
            20,
            7,
            |m| m.scenario_pass_rate = 0.8,
        ),
    ];
    let policy = GatePolicy::default();
    for (what, gate, before, needed, change) in cases {
        let at = gates(&runs(before, needed, change), &policy);
        assert!(
            at.contains(&gate),
            "{what}: {gate} must trip after {needed} bad cycles: {at:?}"
        );
        let short = gates(&runs(before, needed - 1, change), &policy);
        assert!(
            !short.contains(&gate),
            "{what}: {gate} must not trip after {} bad cycles: {short:?}",
            needed - 1
        );
    }
}

#[test]
fn every_threshold_follows_the_policy() {
    let n = |v| NonZeroUsize::new(v).expect("non-zero");
    let policy = GatePolicy {
        oracle_failing_cycles: n(1),
        decline_cycles: n(2),
        recent_window: n(2),
        baseline_window: n(3),
        no_new_coverage_cycles: n(2),
    };
    assert_eq!(policy.cycles_needed(), 6);
    assert_eq!(GatePolicy::default().cycles_needed(), 27);

    let oracle = |bad| runs(4, bad, |m| m.oracle_pass_rate = 0.5);
    assert!(gates(&oracle(1), &policy).contains(&Gate::OracleFailing));
    assert!(!gates(&oracle(0), &policy).contains(&Gate::OracleFailing));

    let stale = |bad| runs(4, bad, |m| m.new_cells_covered = 0);
    assert!(gates(&stale(2), &policy).contains(&Gate::NoNewCoverage));
    assert!(!gates(&stale(1), &policy).contains(&Gate::NoNewCoverage));

    // 3 + 2 - 1 = 4 flat cycles give the first point a full baseline; 2 low ones decline
    // at 2 points.
    let scenario = Gate::Declining(Metric::ScenarioPassRate);
    let decline = |bad| runs(4, bad, |m| m.scenario_pass_rate = 0.5);
    assert!(gates(&decline(2), &policy).contains(&scenario));
    assert!(!gates(&decline(1), &policy).contains(&scenario));
}

#[test]
fn a_streak_broken_by_a_good_cycle_starts_again_and_unfinished_cycles_do_not_break_it() {
    let policy = GatePolicy::default();
    let mut metrics: Vec<CycleMetrics> = (0..6).map(|_| healthy()).collect();
    for i in [1, 2, 4, 5] {
        metrics[i].oracle_pass_rate = 0.9;
    }
    assert!(!gates(&history(metrics), &policy).contains(&Gate::OracleFailing));

    // An aborted cycle in a streak neither breaks nor extends it.
    let abort_third = |bad| {
        let mut h = runs(0, bad, |m| m.oracle_pass_rate = 0.9);
        h.cycles[2].status = CycleStatus::Aborted;
        h.cycles[2].metrics = None;
        h
    };
    assert!(!gates(&abort_third(3), &policy).contains(&Gate::OracleFailing));
    assert!(gates(&abort_third(4), &policy).contains(&Gate::OracleFailing));
}

#[test]
fn after_a_resume_only_new_cycles_count() {
    let policy = GatePolicy::default();
    let resumed_after = |h: &mut History, old: usize| {
        h.epoch = 1;
        for c in &mut h.cycles[old..] {
            c.epoch = 1;
        }
    };

    // Tier-1 escape in the last cycle before the resume: acknowledged.
    let mut h = runs(3, 1, |m| {
        m.canaries.insert(
            Tier::T1,
            CanaryCount {
                caught: 0,
                escaped: 2,
            },
        );
    });
    assert_eq!(gates(&h, &policy), vec![Gate::Tier1Escape]);
    resumed_after(&mut h, 4);
    assert_eq!(gates(&h, &policy), vec![]);

    // Oracle failing 5 cycles, resumed after the 3rd: 2 fresh failures are not yet 3.
    let mut h = runs(2, 5, |m| m.oracle_pass_rate = 0.5);
    resumed_after(&mut h, 5);
    assert_eq!(gates(&h, &policy), vec![]);
    let mut h = runs(2, 6, |m| m.oracle_pass_rate = 0.5);
    resumed_after(&mut h, 5);
    assert_eq!(gates(&h, &policy), vec![Gate::OracleFailing]);

    // Declining: the recent windows of the last 3 points must be fresh, 7 cycles in all.
    let scenario = Gate::Declining(Metric::ScenarioPassRate);
    let mut h = runs(25, 9, |m| m.scenario_pass_rate = 0.5);
    resumed_after(&mut h, 34 - 6);
    assert!(!gates(&h, &policy).contains(&scenario));
    let mut h = runs(25, 9, |m| m.scenario_pass_rate = 0.5);
    resumed_after(&mut h, 34 - 7);
    assert!(gates(&h, &policy).contains(&scenario));
}

#[test]
fn flat_metrics_whose_means_differ_in_the_last_bits_do_not_decline() {
    let policy = GatePolicy::default();
    let h = runs(40, 0, |_| {});
    let mut h2 = h.clone();
    for c in &mut h2.cycles {
        let m = c.metrics.as_mut().expect("metrics");
        // 0.1 summed 5 times and 20 times gives means that differ in the last bit.
        m.scenario_pass_rate = 0.1;
        m.coverage = 0.7;
    }
    assert_eq!(gates(&h2, &policy), vec![]);
}

#[test]
fn cycles_without_canaries_of_a_tier_are_left_out_of_its_catch_rate() {
    let policy = GatePolicy::default();
    let t2 = Gate::Declining(Metric::CanaryCatchRate(Tier::T2));
    let low = CanaryCount {
        caught: 1,
        escaped: 9,
    };
    // 25 healthy, then 3 low T2 cycles with a T2-less cycle between each: still 3 in a row.
    let mut h = runs(25, 5, |_| {});
    for (i, c) in h.cycles[25..].iter_mut().enumerate() {
        let m = c.metrics.as_mut().expect("metrics");
        if i % 2 == 0 {
            m.canaries.insert(Tier::T2, low);
        } else {
            m.canaries.remove(&Tier::T2);
        }
    }
    assert!(gates(&h, &policy).contains(&t2));
    h.cycles.truncate(29);
    assert!(!gates(&h, &policy).contains(&t2));
}

#[test]
fn every_reason_names_its_numbers() {
    let policy = GatePolicy::default();
    let mut h = runs(25, 3, |m| {
        m.oracle_pass_rate = 0.75;
        m.new_cells_covered = 0;
        m.canaries.insert(
            Tier::T1,
            CanaryCount {
                caught: 3,
                escaped: 2,
            },
        );
    });
    for c in &mut h.cycles[23..25] {
        c.metrics.as_mut().expect("metrics").new_cells_covered = 0;
    }
    let reasons: Vec<(String, String)> = evaluate(&h, &policy)
        .into_iter()
        .map(|t| (t.gate.name(), t.reason))
        .collect();
    let expected = [
        ("tier1-escape", "2 of 5 Tier-1 canaries escaped in cycle 28"),
        (
            "oracle-failing",
            "oracle pass rate below 1 for 3 cycles in a row: 0.750 (cycle 26), 0.750 (cycle 27), 0.750 (cycle 28)",
        ),
        (
            "declining-oracle-pass-rate",
            "oracle pass rate declining 3 cycles in a row (mean of the 5 most recent cycles vs the 20 before them): 0.950 < 1.000 at cycle 26, 0.900 < 1.000 at cycle 27, 0.850 < 1.000 at cycle 28",
        ),
        (
            "declining-canary-catch-rate-t1",
            "T1 canary catch rate declining 3 cycles in a row (mean of the 5 most recent cycles vs the 20 before them): 0.920 < 1.000 at cycle 26, 0.840 < 1.000 at cycle 27, 0.760 < 1.000 at cycle 28",
        ),
        (
            "no-new-coverage",
            "no new cell covered for 5 cycles in a row (cycles 24 to 28); coverage stays at 0.400",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(g, r)| (g.to_string(), r.to_string()))
        .collect();
    assert_eq!(reasons, expected);
}

#[test]
fn gate_names_are_stable_and_read_back() {
    let all = [
        Gate::Tier1Escape,
        Gate::OracleFailing,
        Gate::Declining(Metric::ScenarioPassRate),
        Gate::Declining(Metric::OraclePassRate),
        Gate::Declining(Metric::Coverage),
        Gate::Declining(Metric::CanaryCatchRate(Tier::T1)),
        Gate::Declining(Metric::CanaryCatchRate(Tier::T2)),
        Gate::Declining(Metric::CanaryCatchRate(Tier::T3)),
        Gate::Declining(Metric::CanaryCatchRate(Tier::T4)),
        Gate::NoNewCoverage,
    ];
    let names: Vec<String> = all.iter().map(|g| g.name()).collect();
    assert_eq!(
        names,
        [
            "tier1-escape",
            "oracle-failing",
            "declining-scenario-pass-rate",
            "declining-oracle-pass-rate",
            "declining-coverage",
            "declining-canary-catch-rate-t1",
            "declining-canary-catch-rate-t2",
            "declining-canary-catch-rate-t3",
            "declining-canary-catch-rate-t4",
            "no-new-coverage",
        ]
    );
    for gate in all {
        assert_eq!(Gate::from_name(&gate.name()), Some(gate));
    }
    assert_eq!(Gate::from_name("declining-latency"), None);
}

#[test]
fn a_trip_serialises_with_the_gate_name() {
    let trip = auditwall_loop::GateTrip {
        gate: Gate::Declining(Metric::CanaryCatchRate(Tier::T3)),
        reason: "r".to_owned(),
    };
    assert_eq!(
        serde_json::to_string(&trip).expect("json"),
        r#"{"gate":"declining-canary-catch-rate-t3","reason":"r"}"#
    );
}
