//! Turns a wall into libtest-mimic trials so each check is a first-class `cargo nextest` test.
//!
//! Owns: discovery (cheap: parse and plan only, no system touched) and running one trial by
//! running its check — plus the checks it `needs` — through the same engine as `auditwall verify`.
//! Must not touch: reporting formats (nextest writes JUnit from the trial outcomes).
//!
//! The wall is `$AUDITWALL_WALL` (a directory) or the embedded default wall; profile overlays
//! come from `$AUDITWALL_PROFILE` (comma-separated). Disruptive checks are listed as ignored
//! unless `$AUDITWALL_ALLOW_DISRUPTIVE=1`.

use std::path::PathBuf;
use std::sync::mpsc;

use auditwall_harness::engine::{self, RunOptions};
use auditwall_harness::journal;
use auditwall_harness::load::{self, LoadOptions, LoadedWall, WallSource};
use auditwall_harness::plan::{self, Filter};
use auditwall_harness::result::{CheckResult, FindingStatus, Verdict};
use auditwall_probes::Prober;
use auditwall_runtime::daemon;
use auditwall_runtime::system;
use auditwall_spec::Suite;
use libtest_mimic::{Arguments, Failed, Trial};

fn source() -> WallSource {
    match std::env::var_os("AUDITWALL_WALL") {
        Some(dir) if !dir.is_empty() => WallSource::Dir(PathBuf::from(dir)),
        _ => WallSource::Embedded {
            name: "default",
            files: auditwall_scenarios::DEFAULT_WALL,
        },
    }
}

fn load_wall(
    source: &WallSource,
    live_layers: Vec<(String, String)>,
) -> Result<LoadedWall, String> {
    let overlays = std::env::var("AUDITWALL_PROFILE")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    load::load(
        source,
        &LoadOptions {
            overlays,
            live_layers,
        },
    )
    .map_err(|e| e.to_string())
}

fn allow_disruptive() -> bool {
    std::env::var("AUDITWALL_ALLOW_DISRUPTIVE").is_ok_and(|v| v == "1" || v == "true")
}

/// Entry point of a suite test target: lists or runs the suite's checks as trials.
pub fn main(suite: Suite) -> std::process::ExitCode {
    // The test binary also hosts the reference system's services (see runtime::system).
    if let Some(code) = system::serve_from_env() {
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let args = Arguments::from_args();
    let source = source();
    let loaded = match load_wall(&source, Vec::new()) {
        Ok(l) => l,
        Err(message) => {
            // A broken wall must fail loudly under nextest, not list zero tests and pass.
            let trial = Trial::test(format!("{suite}::wall_loads"), move || {
                Err(Failed::from(message.clone()))
            });
            return libtest_mimic::run(&args, vec![trial]).exit_code();
        }
    };
    let allow = allow_disruptive();
    let trials = loaded
        .wall
        .checks
        .iter()
        .filter(|c| c.suite == suite)
        .map(|check| {
            let id = check.id.clone();
            let source = source.clone();
            Trial::test(format!("{suite}::{id}"), move || {
                run_one(&source, &id, allow)
            })
            .with_kind(check.kind_name())
            .with_ignored_flag(check.disruptive && !allow)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// Runs one check (and what it needs) in this process and maps its verdict to a trial outcome.
fn run_one(source: &WallSource, id: &str, allow_disruptive: bool) -> Result<(), Failed> {
    let mut live_layers = Vec::new();
    let mut owner = None;
    if matches!(source, WallSource::Embedded { .. }) {
        // One reference system for the whole test run, owned by the runner (nextest or
        // cargo): it stops when the runner exits, even if the run fails or is killed.
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find the test executable: {e}"))?;
        // SAFETY: getppid(2) has no preconditions.
        let runner = unsafe { libc::getppid() } as u32;
        let info = daemon::shared(&exe, runner)
            .map_err(|e| format!("cannot start the shared reference system: {e}"))?;
        live_layers.push(("reference".to_string(), info.profile_layer()));
        owner = Some(info.daemon_pid);
    }
    let loaded = load_wall(source, live_layers)?;
    let filter = Filter {
        ids: vec![id.to_string()],
        ..Filter::default()
    };
    let plan = plan::plan(&loaded.wall.checks, &filter).map_err(|e| e.to_string())?;
    let opts = RunOptions {
        allow_disruptive,
        ..RunOptions::for_wall(&loaded.wall, owner)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let prober = Prober::new().map_err(|e| format!("cannot set up probes: {e}"))?;
    // A drill killed in an earlier trial owes its restore; pay it before judging anything.
    let recovered = runtime
        .block_on(journal::recover(&journal::default_path(), &prober))
        .map_err(|e| format!("cannot read the drill journal: {e}"))?;
    if let Some(failed) = recovered.iter().find_map(|r| match &r.outcome {
        journal::RecoverOutcome::Failed(e) => Some(format!("{}: {e}", r.entry.drill)),
        _ => None,
    }) {
        return Err(format!("an earlier drill's fault could not be undone: {failed}").into());
    }
    let info = load::run_info(&loaded, None);
    let (tx, _rx) = mpsc::channel();
    let summary = runtime.block_on(engine::run(
        &plan,
        info,
        &loaded.wall.secrets,
        &opts,
        &prober,
        &tx,
    ));
    let result = summary
        .results
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| format!("check `{id}` was not in the plan"))?;
    outcome(result)
}

fn outcome(result: &CheckResult) -> Result<(), Failed> {
    match result.verdict {
        Verdict::Pass => {
            if result.flaky {
                // libtest has no "flaky" outcome; say it where nextest shows test output.
                println!(
                    "FLAKY {}::{}: {}",
                    result.suite,
                    result.id,
                    result.message.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        Verdict::Skip => {
            println!(
                "SKIP {}::{}: {}",
                result.suite,
                result.id,
                result.message.as_deref().unwrap_or("")
            );
            Ok(())
        }
        verdict => {
            let reason = result
                .message
                .clone()
                .or_else(|| engine::failure_summary(&result.judgements))
                .unwrap_or_else(|| "no reason given".to_string());
            let mut text = format!("{}: {reason}", verdict.as_str().to_uppercase());
            // nextest shows this text (and puts it in its JUnit): a drift carries its diff.
            for f in &result.findings {
                text.push_str(&format!(
                    "\n  {}  {}: {}",
                    f.status.as_str(),
                    f.subject,
                    f.message
                ));
                if let Some(diff) = f
                    .diff
                    .as_deref()
                    .filter(|_| f.status != FindingStatus::Waived)
                {
                    for line in diff.lines() {
                        text.push_str(&format!("\n    {line}"));
                    }
                }
            }
            text.push_str(&format!("\n  at {}", result.origin));
            Err(text.into())
        }
    }
}
