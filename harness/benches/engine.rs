//! Engine overhead per check: one wall of 1,000 trivial checks, loaded and planned once,
//! then `engine::run` of the whole plan timed per iteration, with 8 jobs and with 1; and once
//! more with 4,000 checks (8 jobs) to show whether the per-check cost grows with the wall.
//!
//! Owns: building its throwaway wall and its target (one empty temp file).
//! Must not touch: anything outside its temp dirs; it opens no socket.
//!
//! The trivial check is a `file` probe of one existing empty file (stat, plus a SHA-256 of zero
//! bytes, on Tokio's blocking pool). A `tcp` connect to a loopback listener was tried and
//! dropped: thousands of connects per second exhaust ephemeral ports into TIME_WAIT within a
//! few iterations, and the bench then times the kernel's port search, not the engine.
//! `bare_probes` runs the same 1,000 probes through `Prober::run` with the same concurrency and
//! no engine, so the engine's own share is the difference. Per-check cost is the reported time
//! / 1,000. See docs/performance.md for the numbers and how they were taken.

use std::hint::black_box;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use auditwall_harness::calibrate::Calibrator;
use auditwall_harness::drill::Drills;
use auditwall_harness::engine::{self, RunOptions};
use auditwall_harness::load::{self, LoadOptions, WallSource};
use auditwall_harness::plan::{self, Filter, Plan};
use auditwall_harness::result::{RunInfo, Verdict};
use auditwall_probes::Prober;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const CHECKS: usize = 1_000;
const SCALED: usize = 4_000;

/// Writes a wall of `checks` checks that each run `probe` (a YAML flow mapping, e.g. `file: {...}`).
fn write_wall(dir: &Path, checks: usize, probe: &str) {
    std::fs::write(
        dir.join("wall.yaml"),
        "name: bench\ninclude: [\"probes/*.yaml\"]\nsettings: { timeout: 5s, retries: 0, deadline: 5m, jobs: 8 }\n",
    )
    .expect("write wall.yaml");
    let mut spec = String::from("probes:\n");
    for i in 0..checks {
        spec.push_str(&format!("  - id: c{i:04}\n    {probe}\n"));
    }
    std::fs::create_dir_all(dir.join("probes")).expect("create probes/");
    std::fs::write(dir.join("probes/bench.yaml"), spec).expect("write the spec file");
}

fn load_plan(dir: &Path, checks: usize) -> (Plan, RunInfo) {
    let loaded = load::load(&WallSource::Dir(dir.to_path_buf()), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("the generated wall must load: {e}"));
    let plan = plan::plan(&loaded.wall.checks, &Filter::default())
        .unwrap_or_else(|e| panic!("the generated wall must plan: {e}"));
    assert_eq!(plan.checks.len(), checks);
    (plan, load::run_info(&loaded, None))
}

fn options(jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        deadline: Duration::from_secs(300),
        timeout: None,
        retries: None,
        allow_disruptive: false,
        retry_backoff: Duration::from_millis(200),
        interrupt: None,
        calibrator: Arc::new(Calibrator::new(&Default::default())),
        drills: Arc::new(Drills::default()),
        scenarios: Default::default(),
    }
}

/// One full engine run, with the events drained as a reporter would. Returns how many passed.
fn run_engine(
    rt: &Runtime,
    plan: &Plan,
    info: &RunInfo,
    opts: &RunOptions,
    prober: &Prober,
) -> usize {
    let (tx, rx) = mpsc::channel();
    let summary = rt.block_on(engine::run(plan, info.clone(), &[], opts, prober, &tx));
    drop(tx);
    black_box(rx.try_iter().count());
    summary.count(Verdict::Pass)
}

/// The same probes with the same concurrency, without the engine: the floor it adds to.
fn run_bare(rt: &Runtime, plan: &Plan, jobs: usize, prober: &Prober) -> usize {
    rt.block_on(async {
        let mut running = JoinSet::new();
        let mut ok = 0;
        for planned in &plan.checks {
            if running.len() >= jobs {
                if let Some(Ok(true)) = running.join_next().await {
                    ok += 1;
                }
            }
            let Some(probe) = planned.check.probe().cloned() else {
                continue;
            };
            let prober = prober.clone();
            running.spawn(async move { prober.run(&probe, Duration::from_secs(5)).await.is_ok() });
        }
        while let Some(done) = running.join_next().await {
            if let Ok(true) = done {
                ok += 1;
            }
        }
        ok
    })
}

/// A wall of `checks` file probes of one empty temp file; the guards delete both on drop.
fn file_wall(checks: usize) -> (tempfile::TempDir, tempfile::NamedTempFile, Plan, RunInfo) {
    let target = tempfile::NamedTempFile::new().expect("temp file");
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = format!(
        "file: {{ path: {:?} }}",
        target.path().display().to_string()
    );
    write_wall(dir.path(), checks, &probe);
    let (plan, info) = load_plan(dir.path(), checks);
    (dir, target, plan, info)
}

fn engine(c: &mut Criterion) {
    // The CLI's runtime: multi-threaded, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let prober = Prober::new().expect("prober");

    let (_dir, _target, plan, info) = file_wall(CHECKS);
    let mut group = c.benchmark_group(format!("engine_{CHECKS}_file"));
    group.throughput(Throughput::Elements(CHECKS as u64));
    for jobs in [8, 1] {
        let opts = options(jobs);
        // A bench of failing checks would time the failure path: prove every check passes.
        let passed = run_engine(&rt, &plan, &info, &opts, &prober);
        assert_eq!(passed, CHECKS, "every engine check must pass");
        group.bench_with_input(BenchmarkId::new("engine_run", jobs), &opts, |b, opts| {
            b.iter(|| run_engine(&rt, &plan, &info, opts, &prober))
        });
        let passed = run_bare(&rt, &plan, jobs, &prober);
        assert_eq!(passed, CHECKS, "every bare probe must pass");
        group.bench_with_input(BenchmarkId::new("bare_probes", jobs), &jobs, |b, &jobs| {
            b.iter(|| run_bare(&rt, &plan, jobs, &prober))
        });
    }
    group.finish();

    // Per-check cost should not depend on the wall's size; 4x the checks shows whether it does.
    let (_dir, _target, plan, info) = file_wall(SCALED);
    let mut group = c.benchmark_group(format!("engine_{SCALED}_file"));
    group.throughput(Throughput::Elements(SCALED as u64));
    let opts = options(8);
    let passed = run_engine(&rt, &plan, &info, &opts, &prober);
    assert_eq!(passed, SCALED, "every engine check must pass");
    group.bench_function(BenchmarkId::new("engine_run", 8), |b| {
        b.iter(|| run_engine(&rt, &plan, &info, &opts, &prober))
    });
    let passed = run_bare(&rt, &plan, 8, &prober);
    assert_eq!(passed, SCALED, "every bare probe must pass");
    group.bench_function(BenchmarkId::new("bare_probes", 8), |b| {
        b.iter(|| run_bare(&rt, &plan, 8, &prober))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Sized for a 2-core machine: each iteration is a whole 1,000-check run.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = engine
}
criterion_main!(benches);
