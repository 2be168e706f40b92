//! `soak status` and `soak check` over a ledger of 10,000 ticks (target: <= 200 ms each).
//!
//! The ledger is written once, outside the timed loop: a tick a minute for 10,000 minutes
//! (6.9 days), each with 30 check durations and 5 sampled services, every 500th tick red. Timed
//! per iteration, as the CLI would run them: open the file, summarise (`status`), and for
//! `check` also judge the summary.

use std::collections::{BTreeMap, BTreeSet};

use auditwall_soak::{
    check, Counts, Evidence, Ledger, Outcome, Policy, RedCheck, RedVerdict, Resources, Tick,
};
use criterion::{criterion_group, criterion_main, Criterion};

const TICKS: u64 = 10_000;
const START_MS: u64 = 1_795_132_800_000;
const SERVICES: [&str; 5] = [
    "hub",
    "router",
    "model-primary",
    "model-fallback",
    "watchdog",
];

fn tick(i: u64) -> Tick {
    let red = (i % 500 == 0).then(|| RedCheck {
        check: "router.chat".to_owned(),
        verdict: RedVerdict::Fail,
        reason: "status 502, expected 200".to_owned(),
    });
    Tick {
        at_ms: START_MS + (i + 1) * 60_000,
        wall_digest: "wall".to_owned(),
        counts: Counts {
            pass: 30 - u64::from(red.is_some()),
            fail: u64::from(red.is_some()),
            ..Counts::default()
        },
        red: red.into_iter().collect(),
        durations_ms: (0..30)
            .map(|c| (format!("check.{c:02}"), 1.0 + ((i * 7 + c) % 17) as f64))
            .collect(),
        samples: SERVICES
            .iter()
            .enumerate()
            .map(|(s, name)| {
                (
                    name.to_string(),
                    Resources {
                        rss_bytes: 8_000_000 * (s as u64 + 1) + (i * 13) % 40_000,
                        swap_bytes: Some(0),
                        open_files: Some(12),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
        services_exited_nonzero: BTreeSet::new(),
        memory_pressure_unrecovered: false,
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    let policy = Policy::default();
    let writing = std::time::Instant::now();
    {
        let mut ledger = Ledger::open(&path).expect("open");
        ledger
            .start(START_MS, policy.days, &policy.digest())
            .expect("start");
        for i in 0..TICKS {
            ledger.record_tick(&tick(i)).expect("record");
        }
    }
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    eprintln!(
        "ledger of {TICKS} ticks: {bytes} bytes, written in {:.1?} (one transaction per tick)",
        writing.elapsed()
    );
    let now = START_MS + (TICKS + 1) * 60_000;
    let evidence = Evidence {
        doctor: Outcome::Passed,
        docs: Outcome::Passed,
    };
    // What is timed must be what the targets mean: the whole ledger read and judged.
    let status = Ledger::open(&path)
        .expect("open")
        .status(now, &policy)
        .expect("status");
    assert_eq!(status.ticks, TICKS);
    assert_eq!(status.dirty.len(), 20);
    assert_eq!(status.rss.len(), SERVICES.len());

    let mut group = c.benchmark_group("soak_10000_ticks");
    group.sample_size(20);
    group.bench_function("status", |b| {
        b.iter(|| {
            let ledger = Ledger::open(&path).expect("open");
            ledger.status(now, &policy).expect("status")
        })
    });
    group.bench_function("check", |b| {
        b.iter(|| {
            let ledger = Ledger::open(&path).expect("open");
            let status = ledger.status(now, &policy).expect("status");
            check(&status, &policy, &evidence)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
