//! Simulated soaks against a real ledger file: a [`SimClock`] stands in for the wall clock, so
//! seven days of hourly ticks run in well under a second, and the gate is judged at the
//! simulated `now`. Each test changes one thing of a calm soak and expects exactly that
//! condition to fail, with its numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use auditwall_soak::{
    check, Counts, Evidence, GateReport, Ledger, Outcome, Policy, RedCheck, RedVerdict, Resources,
    Tick,
};

const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const MIB: f64 = 1_048_576.0;
/// 2026-11-20T00:00Z
const NOV20: u64 = 1_795_132_800_000;

/// The injected clock: time moves only when the test says so.
struct SimClock {
    now_ms: u64,
}

impl SimClock {
    fn advance(&mut self, ms: u64) -> u64 {
        self.now_ms += ms;
        self.now_ms
    }
}

/// A calm tick `n` hours into the soak: five checks pass, RSS flat with deterministic noise,
/// latencies steady with deterministic noise.
fn calm_tick(at_ms: u64, n: u64) -> Tick {
    let noise = |salt: u64| (n.wrapping_mul(7919).wrapping_add(salt) % 13) as f64;
    let rss = |base: f64, salt: u64| (base * MIB + noise(salt) * 4096.0) as u64;
    Tick {
        at_ms,
        wall_digest: "wall-3f2a".to_owned(),
        counts: Counts {
            pass: 5,
            ..Counts::default()
        },
        red: Vec::new(),
        durations_ms: BTreeMap::from([
            ("router.chat".to_owned(), 40.0 + noise(1)),
            ("hub.state".to_owned(), 0.8 + noise(2) / 100.0),
        ]),
        samples: BTreeMap::from([
            (
                "hub".to_owned(),
                Resources {
                    rss_bytes: rss(30.0, 3),
                    swap_bytes: Some(0),
                    open_files: Some(12),
                },
            ),
            (
                "router".to_owned(),
                Resources {
                    rss_bytes: rss(8.0, 4),
                    swap_bytes: None,
                    open_files: Some(9),
                },
            ),
        ]),
        services_exited_nonzero: BTreeSet::new(),
        memory_pressure_unrecovered: false,
    }
}

struct Soak {
    _dir: tempfile::TempDir,
    path: PathBuf,
    clock: SimClock,
    policy: Policy,
}

/// Starts a soak at 2026-11-20T00:00Z and records a tick every hour for `hours` hours, each
/// first passed through `edit(hour, tick)`; `None` skips the tick.
fn soak(hours: u64, edit: impl Fn(u64, Tick) -> Option<Tick>) -> Soak {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(auditwall_soak::LEDGER_PATH);
    let policy = Policy::default();
    let mut clock = SimClock { now_ms: NOV20 };
    let mut ledger = Ledger::open(&path).expect("open");
    ledger
        .start(clock.now_ms, policy.days, &policy.digest())
        .expect("start");
    for n in 1..=hours {
        let at = clock.advance(HOUR);
        if let Some(tick) = edit(n, calm_tick(at, n)) {
            ledger.record_tick(&tick).expect("record");
        }
    }
    Soak {
        _dir: dir,
        path,
        clock,
        policy,
    }
}

fn calm(_: u64, tick: Tick) -> Option<Tick> {
    Some(tick)
}

fn clean_evidence() -> Evidence {
    Evidence {
        doctor: Outcome::Passed,
        docs: Outcome::Passed,
    }
}

impl Soak {
    /// The gate a little after the last tick, as `soak check` would judge it.
    fn gate_after(&mut self, wait_ms: u64, evidence: &Evidence) -> GateReport {
        let now = self.clock.advance(wait_ms);
        let ledger = Ledger::open(&self.path).expect("reopen");
        let status = ledger.status(now, &self.policy).expect("status");
        check(&status, &self.policy, evidence)
    }
}

/// Every failed condition as `name: explanation`.
fn failures(report: &GateReport) -> Vec<String> {
    report
        .failed()
        .map(|c| format!("{}: {}", c.name, c.explanation))
        .collect()
}

const SEVEN_DAYS: u64 = 7 * 24;

#[test]
fn a_calm_seven_day_soak_passes_and_says_why() {
    let mut soak = soak(SEVEN_DAYS, calm);
    let report = soak.gate_after(30 * 60_000, &clean_evidence());
    assert_eq!(failures(&report), Vec::<String>::new());
    assert!(report.passed);
    let explained: Vec<String> = report
        .conditions
        .iter()
        .map(|c| format!("{}: {}", c.name, c.explanation))
        .collect();
    assert_eq!(
        explained,
        [
            "policy: unchanged since the soak started",
            "days: 7 full calendar days (UTC) since the start at 2026-11-20T00:00Z, 7 required",
            "gaps: largest gap 1h over 168 ticks, max_gap 2h",
            "clean: all 168 ticks clean",
            "rss: every RSS slope within 1MiB/day: hub 0B/day, router 0B/day",
            "latency: 2 checks within tolerance",
            "doctor: doctor clean",
            "docs: the docs build clean",
        ]
    );
}

#[test]
fn one_red_tick_on_day_four_fails_the_soak_naming_it() {
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        if n == 3 * 24 + 12 {
            tick.counts.pass = 4;
            tick.counts.fail = 1;
            tick.red.push(RedCheck {
                check: "router.chat".to_owned(),
                verdict: RedVerdict::Fail,
                reason: "status 502, expected 200".to_owned(),
            });
        }
        Some(tick)
    });
    let report = soak.gate_after(30 * 60_000, &clean_evidence());
    assert!(!report.passed);
    assert_eq!(
        failures(&report),
        ["clean: day 4 tick at 2026-11-23T12:00Z was red: router.chat fail: status 502, expected 200 (1 of 168 ticks dirty)"]
    );
}

#[test]
fn a_service_exit_and_unrecovered_memory_pressure_are_dirty_ticks() {
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        if n == 30 {
            tick.services_exited_nonzero.insert("hub".to_owned());
        }
        if n == 100 {
            tick.memory_pressure_unrecovered = true;
        }
        Some(tick)
    });
    let report = soak.gate_after(60_000, &clean_evidence());
    assert_eq!(
        failures(&report),
        [
            "clean: day 2 tick at 2026-11-21T06:00Z was red: service hub exited non-zero; \
          day 5 tick at 2026-11-24T04:00Z was red: critical memory pressure left unrecovered \
          (2 of 168 ticks dirty)"
        ]
    );
}

#[test]
fn a_linearly_growing_rss_fails_naming_the_service_and_the_slope() {
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        // 4 MiB a day on top of the noise: a leak.
        let growth = (4.0 * MIB * n as f64 / 24.0) as u64;
        if let Some(hub) = tick.samples.get_mut("hub") {
            hub.rss_bytes += growth;
        }
        Some(tick)
    });
    let report = soak.gate_after(60_000, &clean_evidence());
    assert_eq!(
        failures(&report),
        ["rss: hub RSS grows 4MiB/day (Theil–Sen over 168 ticks), limit 1MiB/day"]
    );
}

#[test]
fn a_restart_that_drops_rss_is_not_mistaken_for_a_trend() {
    // The router restarts twice (RSS falls to 2 MiB for a few ticks, then back): a robust
    // slope stays flat, where a least-squares fit would tilt.
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        if (40..44).contains(&n) || (150..155).contains(&n) {
            if let Some(router) = tick.samples.get_mut("router") {
                router.rss_bytes = 2 * 1_048_576;
            }
        }
        Some(tick)
    });
    let report = soak.gate_after(60_000, &clean_evidence());
    assert_eq!(failures(&report), Vec::<String>::new());
}

#[test]
fn a_gap_between_ticks_fails() {
    // Five ticks missing on day 2: six hours between two ticks.
    let mut soak = soak(SEVEN_DAYS, |n, tick| {
        (!(30..35).contains(&n)).then_some(tick)
    });
    let report = soak.gate_after(60_000, &clean_evidence());
    assert_eq!(
        failures(&report),
        ["gaps: gap of 6h between the ticks at 2026-11-21T05:00Z and 2026-11-21T11:00Z exceeds max_gap 2h"]
    );
}

#[test]
fn silence_since_the_last_tick_fails() {
    let mut soak = soak(SEVEN_DAYS, calm);
    let report = soak.gate_after(5 * HOUR + 12 * 60_000, &clean_evidence());
    assert_eq!(
        failures(&report),
        ["gaps: no tick for 5h12m since the last one at 2026-11-27T00:00Z (now 2026-11-27T05:12Z) exceeds max_gap 2h"]
    );
}

#[test]
fn fewer_than_seven_days_fails_with_the_days_elapsed() {
    let mut soak = soak(3 * 24 + 12, calm);
    let report = soak.gate_after(30 * 60_000, &clean_evidence());
    assert_eq!(
        failures(&report),
        ["days: 3 of 7 full calendar days (UTC) since the start at 2026-11-20T00:00Z; the soak can pass from 2026-11-27T00:00Z"]
    );
}

#[test]
fn a_soak_shorter_than_two_latency_windows_cannot_compare_them() {
    let mut soak = soak(30, calm);
    let report = soak.gate_after(60_000, &clean_evidence());
    let failed: Vec<&str> = report.failed().map(|c| c.name).collect();
    assert_eq!(failed, ["days", "latency"]);
    assert_eq!(
        failures(&report)[1],
        "latency: the soak is shorter than two latency windows (2 × 1d); first and last window cannot be compared yet"
    );
}

#[test]
fn a_probe_slower_in_the_last_day_fails_with_both_p95s() {
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        if n > SEVEN_DAYS - 24 {
            tick.durations_ms.insert("router.chat".to_owned(), 130.0);
        }
        Some(tick)
    });
    let report = soak.gate_after(0, &clean_evidence());
    assert_eq!(
        failures(&report),
        ["latency: router.chat p95 130ms in the last 1d vs 51ms in the first (allowed 76.5ms: × 1.5 or + 5ms)"]
    );
}

#[test]
fn a_sub_millisecond_check_may_jitter_within_the_slack() {
    // hub.state goes from ~0.85 ms to 3 ms: 3.5 times slower, but within the 5 ms slack.
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        if n > SEVEN_DAYS - 24 {
            tick.durations_ms.insert("hub.state".to_owned(), 3.0);
        }
        Some(tick)
    });
    let report = soak.gate_after(0, &clean_evidence());
    assert_eq!(failures(&report), Vec::<String>::new());
}

#[test]
fn a_policy_changed_during_the_soak_fails() {
    let mut soak = soak(SEVEN_DAYS, calm);
    soak.policy.max_gap = std::time::Duration::from_secs(12 * 3600);
    let report = soak.gate_after(60_000, &clean_evidence());
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].starts_with("policy: the policy changed since the soak started (digest "),
        "{failed:?}"
    );
    assert!(failed[0].ends_with("now); start a new soak under the new policy"));
}

#[test]
fn doctor_and_docs_results_are_judged_as_handed_in() {
    let mut soak = soak(SEVEN_DAYS, calm);
    let evidence = Evidence {
        doctor: Outcome::Skipped("--no-doctor was given".to_owned()),
        docs: Outcome::Failed("mdbook exited with status 1: missing file SUMMARY.md".to_owned()),
    };
    let report = soak.gate_after(60_000, &evidence);
    assert_eq!(
        failures(&report),
        [
            "doctor: the policy requires the doctor, but it was skipped: --no-doctor was given",
            "docs: the docs build failed: mdbook exited with status 1: missing file SUMMARY.md",
        ]
    );
    let evidence = Evidence {
        doctor: Outcome::Failed("prerequisite `curl` not found".to_owned()),
        docs: Outcome::Skipped("no docs command configured".to_owned()),
    };
    let report = soak.gate_after(60_000, &evidence);
    assert_eq!(
        failures(&report),
        ["doctor: doctor found problems: prerequisite `curl` not found"]
    );
    assert_eq!(
        report.conditions[7].explanation,
        "skipped: no docs command configured"
    );
}

#[test]
fn many_dirty_ticks_are_listed_five_then_counted() {
    let mut soak = soak(SEVEN_DAYS, |n, mut tick| {
        if n % 10 == 0 {
            tick.memory_pressure_unrecovered = true;
        }
        Some(tick)
    });
    let report = soak.gate_after(60_000, &clean_evidence());
    let clean = report
        .conditions
        .iter()
        .find(|c| c.name == "clean")
        .expect("a clean condition");
    assert!(!clean.ok);
    assert!(
        clean
            .explanation
            .ends_with("; and 11 more dirty ticks (16 of 168 ticks dirty)"),
        "{}",
        clean.explanation
    );
    assert_eq!(clean.explanation.matches("was red").count(), 5);
}

#[test]
fn status_reports_the_numbers_the_gate_judges() {
    let mut soak = soak(SEVEN_DAYS, |n, tick| (n != 50).then_some(tick));
    let now = soak.clock.advance(10 * 60_000);
    let ledger = Ledger::open(&soak.path).expect("open");
    let status = ledger.status(now, &soak.policy).expect("status");
    assert_eq!(status.full_days, 7);
    assert_eq!(status.ticks, 167);
    assert_eq!(status.last_tick_ms, Some(NOV20 + 7 * DAY));
    assert_eq!(status.largest_gap.len_ms(), 2 * HOUR);
    assert!(status.long_gaps.is_empty(), "exactly max_gap is allowed");
    assert!(status.dirty.is_empty());
    let services: Vec<(&str, u64)> = status
        .rss
        .iter()
        .map(|t| (t.service.as_str(), t.samples))
        .collect();
    assert_eq!(services, [("hub", 167), ("router", 167)]);
    let windows: Vec<(&str, u64, u64)> = status
        .latency
        .iter()
        .map(|t| {
            let count = |w: Option<auditwall_soak::Window>| w.map_or(0, |w| w.samples);
            (t.check.as_str(), count(t.first), count(t.last))
        })
        .collect();
    // First window [start, start + 24h): ticks 1..=23; last [now - 24h, now]: 24 ticks.
    assert_eq!(windows, [("hub.state", 23, 24), ("router.chat", 23, 24)]);
}

#[test]
fn a_soak_whose_timer_never_fired_fails_on_silence() {
    let mut soak = soak(0, calm);
    let report = soak.gate_after(3 * HOUR, &clean_evidence());
    let failed = failures(&report);
    assert_eq!(
        failed[..2],
        [
            "days: 0 of 7 full calendar days (UTC) since the start at 2026-11-20T00:00Z; the soak can pass from 2026-11-27T00:00Z",
            "gaps: no tick at all in the 3h since the start at 2026-11-20T00:00Z (now 2026-11-20T03:00Z) exceeds max_gap 2h",
        ]
    );
    assert_eq!(
        report.conditions[3].explanation, "all 0 ticks clean",
        "clean holds vacuously; the gaps condition is what catches silence"
    );
}

#[test]
fn a_late_first_tick_is_a_gap_from_the_start() {
    let mut soak = soak(SEVEN_DAYS, |n, tick| (n > 2).then_some(tick));
    let report = soak.gate_after(60_000, &clean_evidence());
    assert_eq!(
        failures(&report),
        ["gaps: gap of 3h from the start at 2026-11-20T00:00Z to the first tick at 2026-11-20T03:00Z exceeds max_gap 2h"]
    );
}
