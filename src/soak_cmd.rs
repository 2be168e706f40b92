//! `auditwall soak …`: ticks of the wall recorded over calendar days, the status of the
//! window, its exit gate, and scheduler entries for the nightly run. The `auditwall-soak`
//! crate owns the ledger, the policy and the gate; this module runs the wall, reads the
//! clock, samples the services and prints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use auditwall_harness::load::LoadedWall;
use auditwall_harness::result::{RunSummary, Verdict};
use auditwall_harness::{doctor, Error};
use auditwall_probes::Prober;
use auditwall_soak::{
    check, crontab_line, launchd_plist, render_instant, systemd_units, Counts, Evidence, Ledger,
    Outcome as StepOutcome, Policy, RedCheck, RedVerdict, Resources, SoakError, Tick, LEDGER_PATH,
};
use auditwall_spec::{parse_duration, Suite};

use crate::cli::{SoakArgs, SoakCommand, SoakInstallArgs};
use crate::commands::load_wall_with;
use crate::exit::Outcome;
use crate::quiet::Target;

/// The policy file read when `--policy` names none and this file exists.
const DEFAULT_POLICY: &str = ".auditwall/soak/policy.yaml";

pub fn soak(args: SoakArgs) -> anyhow::Result<Outcome> {
    let policy = policy(args.policy.as_deref())?;
    let ledger_path = args
        .ledger
        .clone()
        .unwrap_or_else(|| PathBuf::from(LEDGER_PATH));
    match args.command {
        SoakCommand::Start { days } => {
            let mut ledger = Ledger::open(&ledger_path).map_err(soak_error)?;
            let days = days.unwrap_or(policy.days);
            let run = ledger
                .start(now_ms(), days, &policy.digest())
                .map_err(soak_error)?;
            println!(
                "soak {} started at {} for {} full days (ledger {})",
                run.id,
                render_instant(run.started_ms),
                run.days,
                ledger_path.display()
            );
            Ok(Outcome::Done)
        }
        SoakCommand::Tick(wall) => {
            let mut ledger = Ledger::open(&ledger_path).map_err(soak_error)?;
            // Refuse before spending a wall run on a tick nothing would keep.
            if ledger.run().map_err(soak_error)?.is_none() {
                return Err(Error::spec(format!(
                    "no soak started in {}: start one with `auditwall soak start`",
                    ledger_path.display()
                ))
                .into());
            }
            let tick = tick(&wall)?;
            print_tick(&tick);
            ledger.record_tick(&tick).map_err(soak_error)?;
            Ok(Outcome::Done)
        }
        SoakCommand::Run { wall, interval } => run(&ledger_path, &wall, &interval),
        SoakCommand::Status => {
            let ledger = Ledger::open(&ledger_path).map_err(soak_error)?;
            let status = ledger.status(now_ms(), &policy).map_err(soak_error)?;
            print_status(&status);
            Ok(Outcome::Done)
        }
        SoakCommand::Check(wall) => {
            let ledger = Ledger::open(&ledger_path).map_err(soak_error)?;
            let status = ledger.status(now_ms(), &policy).map_err(soak_error)?;
            let evidence = evidence(&wall, &policy)?;
            let report = check(&status, &policy, &evidence);
            for c in &report.conditions {
                println!(
                    "{}  {:<14} {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.name,
                    c.explanation
                );
            }
            let failed = report.failed().count();
            println!(
                "soak check: {}",
                if report.passed {
                    "PASSED".to_string()
                } else {
                    format!("{failed} condition(s) failed")
                }
            );
            Ok(Outcome::Findings { failed })
        }
        SoakCommand::Install(install) => self::install(&install),
    }
}

/// The soak gate for the release: the report, with doctor and docs evidence from `wall`.
pub fn gate(
    wall: &crate::cli::WallArgs,
    policy_path: Option<&Path>,
) -> anyhow::Result<auditwall_soak::GateReport> {
    let policy = policy(policy_path)?;
    let ledger = Ledger::open(LEDGER_PATH).map_err(soak_error)?;
    let status = ledger.status(now_ms(), &policy).map_err(soak_error)?;
    Ok(check(&status, &policy, &evidence(wall, &policy)?))
}

fn policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    let path = match path {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_POLICY)).filter(|p| p.exists()),
    };
    match path {
        Some(p) => Policy::load(&p).map_err(|e| Error::spec(e.to_string()).into()),
        None => Ok(Policy::default()),
    }
}

/// Runs the wall once (everything but the disruptive checks) and turns it into a tick.
fn tick(wall: &crate::cli::WallArgs) -> anyhow::Result<Tick> {
    crate::recover::before_run()?;
    let target = Target::start(wall)?;
    let (_, loaded) = load_wall_with(wall, target.live_layers.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let prober = Prober::new().map_err(|e| Error::harness(format!("cannot set up probes: {e}")))?;
    let suites = vec![Suite::Probes, Suite::Calibration, Suite::Scenarios];
    let summary = runtime.block_on(crate::quiet::run(&loaded, suites, &prober, target.owner))?;
    let samples = samples(&loaded);
    let mut tick = to_tick(&summary, &loaded.wall_digest, samples);
    tick.services_exited_nonzero = exited(&loaded);
    Ok(tick)
}

fn to_tick(summary: &RunSummary, digest: &str, samples: BTreeMap<String, Resources>) -> Tick {
    let mut counts = Counts::default();
    let mut red = Vec::new();
    for r in &summary.results {
        let verdict = match r.verdict {
            Verdict::Pass => {
                counts.pass += 1;
                None
            }
            Verdict::Skip => {
                counts.skip += 1;
                None
            }
            Verdict::Fail => {
                counts.fail += 1;
                Some(RedVerdict::Fail)
            }
            Verdict::Drift => {
                counts.drift += 1;
                Some(RedVerdict::Drift)
            }
            Verdict::Error => {
                counts.error += 1;
                Some(RedVerdict::Error)
            }
            Verdict::Blocked => {
                counts.blocked += 1;
                Some(RedVerdict::Blocked)
            }
        };
        if let Some(verdict) = verdict {
            red.push(RedCheck {
                check: r.id.clone(),
                verdict,
                reason: r
                    .message
                    .clone()
                    .or_else(|| auditwall_harness::engine::failure_summary(&r.judgements))
                    .unwrap_or_default(),
            });
        }
    }
    Tick {
        at_ms: now_ms(),
        wall_digest: digest.to_string(),
        counts,
        red,
        durations_ms: summary
            .results
            .iter()
            .filter(|r| r.attempts > 0)
            .map(|r| (r.id.clone(), r.duration.as_secs_f64() * 1000.0))
            .collect(),
        samples,
        services_exited_nonzero: BTreeSet::new(),
        memory_pressure_unrecovered: memory_pressure(),
    }
}

/// RSS, swap and open files of every declared service with a pid file.
fn samples(loaded: &LoadedWall) -> BTreeMap<String, Resources> {
    let mut out = BTreeMap::new();
    for (name, spec) in &loaded.wall.services {
        let Some(pid_file) = &spec.pid_file else {
            continue;
        };
        let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|k| k * 1024)
        };
        let Some(rss_bytes) = kib("VmRSS:") else {
            continue;
        };
        let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()
            .map(|d| d.count() as u64);
        out.insert(
            name.clone(),
            Resources {
                rss_bytes,
                swap_bytes: kib("VmSwap:"),
                open_files,
            },
        );
    }
    out
}

/// Declared services whose pid file names a process that is gone: they died without being
/// stopped (a stop removes the pid file), which the gate counts as exiting non-zero.
fn exited(loaded: &LoadedWall) -> BTreeSet<String> {
    loaded
        .wall
        .services
        .iter()
        .filter_map(|(name, spec)| {
            let text = std::fs::read_to_string(spec.pid_file.as_ref()?).ok()?;
            let pid = text.trim().parse::<u32>().ok()?;
            (!Path::new(&format!("/proc/{pid}")).exists()).then(|| name.clone())
        })
        .collect()
}

/// Critical memory pressure: the kernel's PSI says every task stalled on memory for more than
/// 10% of the last minute (`full avg60`). Absent on kernels without PSI: not pressure.
fn memory_pressure() -> bool {
    std::fs::read_to_string("/proc/pressure/memory")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("full"))
                .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("avg60=")))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .is_some_and(|avg60| avg60 > 10.0)
}

fn evidence(wall: &crate::cli::WallArgs, policy: &Policy) -> anyhow::Result<Evidence> {
    let (_, loaded) = load_wall_with(wall, Vec::new())?;
    let missing: Vec<String> = doctor::check(&loaded.wall.prerequisites)
        .into_iter()
        .filter(|f| !f.ok)
        .map(|f| format!("{}: {}", f.subject, f.detail))
        .collect();
    let doctor = if missing.is_empty() {
        StepOutcome::Passed
    } else {
        StepOutcome::Failed(missing.join("; "))
    };
    let docs = match &policy.docs_command {
        None => StepOutcome::Skipped("no docs_command in the soak policy".to_string()),
        Some(argv) => match argv.split_first() {
            None => StepOutcome::Failed("empty docs_command".to_string()),
            Some((program, rest)) => {
                match std::process::Command::new(program).args(rest).output() {
                    Ok(out) if out.status.success() => StepOutcome::Passed,
                    Ok(out) => StepOutcome::Failed(format!(
                        "`{}` exited {}: {}",
                        argv.join(" "),
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                            .lines()
                            .take(3)
                            .collect::<Vec<_>>()
                            .join(" / ")
                    )),
                    Err(e) => {
                        StepOutcome::Failed(format!("`{}` could not start: {e}", argv.join(" ")))
                    }
                }
            }
        },
    };
    Ok(Evidence { doctor, docs })
}

/// `soak run --interval D`: a tick every interval until SIGTERM or Ctrl-C, which end the
/// loop between ticks (a tick in progress finishes first, so none is lost half-written).
fn run(ledger_path: &Path, wall: &crate::cli::WallArgs, interval: &str) -> anyhow::Result<Outcome> {
    let interval =
        parse_duration(interval).map_err(|e| Error::spec(format!("--interval {interval}: {e}")))?;
    if interval.is_zero() {
        return Err(Error::spec("--interval must be more than 0").into());
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new().name("soak-signals".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        });
    })?;
    let mut ledger = Ledger::open(ledger_path).map_err(soak_error)?;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let started = std::time::Instant::now();
        let tick = tick(wall)?;
        print_tick(&tick);
        ledger.record_tick(&tick).map_err(soak_error)?;
        // Sleep in short steps so a signal ends the wait promptly; bounded by the interval.
        while started.elapsed() < interval && !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200).min(interval));
        }
    }
    println!("soak run: stopped by a signal between ticks");
    Ok(Outcome::Done)
}

fn install(args: &SoakInstallArgs) -> anyhow::Result<Outcome> {
    let wall = args.wall.as_ref().ok_or_else(|| {
        Error::spec(
            "soak install needs a wall directory (a scheduler runs `auditwall soak tick WALL`)",
        )
    })?;
    let wall = std::path::absolute(wall)?;
    let binary = std::env::current_exe()?;
    let interval = parse_duration(&args.interval)
        .map_err(|e| Error::spec(format!("--interval {}: {e}", args.interval)))?;
    let text = match args.kind.as_str() {
        "systemd" => {
            let units =
                systemd_units(&binary, &wall, interval).map_err(|e| Error::spec(e.to_string()))?;
            format!(
                "# auditwall-soak.service\n{}\n# auditwall-soak.timer\n{}",
                units.service, units.timer
            )
        }
        "launchd" => {
            launchd_plist(&binary, &wall, interval).map_err(|e| Error::spec(e.to_string()))?
        }
        "cron" => crontab_line(&binary, &wall, interval).map_err(|e| Error::spec(e.to_string()))?,
        other => {
            return Err(Error::spec(format!("--kind {other}: use systemd, launchd or cron")).into())
        }
    };
    println!("{}", text.trim_end());
    Ok(Outcome::Done)
}

fn print_tick(t: &Tick) {
    let red: Vec<String> = t
        .red
        .iter()
        .map(|r| format!("{} {}", r.check, r.verdict))
        .collect();
    println!(
        "soak tick at {}: {} pass, {} red{}; {} services sampled",
        render_instant(t.at_ms),
        t.counts.pass,
        t.red.len(),
        if red.is_empty() {
            String::new()
        } else {
            format!(" ({})", red.join(", "))
        },
        t.samples.len()
    );
}

fn print_status(s: &auditwall_soak::Status) {
    println!(
        "soak {} started {} ({} days planned): {} full days, {} ticks, last {}",
        s.run.id,
        render_instant(s.run.started_ms),
        s.run.days,
        s.full_days,
        s.ticks,
        s.last_tick_ms.map_or("never".to_string(), render_instant)
    );
    println!(
        "largest gap: {} ({} long gaps)",
        auditwall_spec::render_duration(Duration::from_millis(s.largest_gap.len_ms())),
        s.long_gaps.len()
    );
    println!("dirty ticks: {}", s.dirty.len());
    for d in s.dirty.iter().take(5) {
        println!(
            "  day {} at {}: {}",
            d.day,
            render_instant(d.at_ms),
            d.reasons.join("; ")
        );
    }
    for r in &s.rss {
        let slope = r.slope_bytes_per_day.map_or("n/a".to_string(), |b| {
            format!("{}/day", auditwall_spec::render_size(b.max(0.0) as u64))
        });
        println!(
            "rss {}: {} → {} over {} samples, trend {slope}",
            r.service,
            auditwall_spec::render_size(r.first_rss_bytes),
            auditwall_spec::render_size(r.last_rss_bytes),
            r.samples
        );
    }
}

fn now_ms() -> u64 {
    auditwall_harness::unix_ms(SystemTime::now())
}

fn soak_error(e: SoakError) -> anyhow::Error {
    match e.kind() {
        auditwall_soak::Kind::Policy
        | auditwall_soak::Kind::Schedule
        | auditwall_soak::Kind::NotStarted
        | auditwall_soak::Kind::NewerSchema
        | auditwall_soak::Kind::NotALedger => Error::spec(e.to_string()).into(),
        _ => Error::harness(e.to_string()).into(),
    }
}
