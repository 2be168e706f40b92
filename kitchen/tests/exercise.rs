//! The exerciser against a real reference system (a supervising process and real service
//! processes on loopback, started from this test executable): a clean hub yields nothing;
//! with the `seam-bug` fault the exercise finds it, shrinks it to a repro of at most three
//! steps, and the repro fails on replay — and passes once the fault is cleared.
//!
//! A `harness = false` target so that `main` can host the reference services first
//! (`serve_from_env`), as the `auditwall` binary does.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use auditwall_kitchen::{exercise, replay, Finding, Layer, Options, Summary};
use auditwall_runtime::daemon::{self, PrivateSystem};
use auditwall_runtime::system::Fault;
use libtest_mimic::{Arguments, Failed, Trial};

const SEED: u64 = 42;
/// Long enough for hundreds of sequences; a seam bug is found in far fewer.
const DURATION: Duration = Duration::from_secs(2);
const REQUEST: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    if let Some(code) = auditwall_runtime::system::serve_from_env() {
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "a_clean_hub_survives_a_seeded_two_second_exercise",
            clean_hub,
        ),
        Trial::test(
            "the_seam_bug_is_found_shrunk_to_at_most_three_steps_and_replays",
            seam_bug,
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}

/// A private reference system from this executable; stopped (every process) on drop, even
/// when the test fails.
fn start() -> Result<PrivateSystem, Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    PrivateSystem::start(&exe).map_err(|e| format!("the reference system starts: {e}").into())
}

fn run(hub: &str, findings: &Path) -> Result<Summary, Failed> {
    let mut options = Options::new(hub, DURATION, SEED, findings.to_path_buf());
    options.request_timeout = REQUEST;
    exercise(&options, &mut |_| {}).map_err(|e| format!("exercise: {e}").into())
}

fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(message().into())
    }
}

fn clean_hub() -> Result<(), Failed> {
    let system = start()?;
    let hub = system.info.endpoint("hub");
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let findings = dir.path().join("findings");
    let summary = run(&hub, &findings)?;
    eprintln!("{summary}");
    check(summary.failure.is_none(), || format!("{summary}"))?;
    check(summary.actions > 100 && summary.sequences > 30, || {
        format!("too little was exercised to mean anything: {summary}")
    })?;
    check(!findings.exists(), || {
        format!("{} was written by a clean run", findings.display())
    })?;
    system.stop().map_err(|e| format!("stop: {e}"))?;
    Ok(())
}

fn seam_bug() -> Result<(), Failed> {
    let system = start()?;
    let hub = system.info.endpoint("hub");
    daemon::fault(&system.info, Fault::SeamBug).map_err(|e| format!("fault seam-bug: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let findings = dir.path().join("findings");

    let summary = run(&hub, &findings)?;
    eprintln!("{summary}");
    let Some((finding, path)) = summary.failure.clone() else {
        return Err(format!("the seam bug was not found: {summary}").into());
    };
    check(finding.reproduced && finding.repro_minimal, || {
        format!("{finding:#?}")
    })?;
    check(finding.repro.len() <= 3, || {
        format!(
            "repro of {} steps: {:?}",
            finding.repro.len(),
            finding.repro
        )
    })?;
    check(
        finding.repro.iter().any(|s| s == "goodnight")
            && finding
                .violation
                .diff
                .iter()
                .all(|d| d.key.starts_with("door.")),
        || format!("the seam (a door and goodnight) is not what was found: {finding:#?}"),
    )?;
    check(Finding::read(&path).ok().as_ref() == Some(&finding), || {
        format!("{} does not read back as the finding", path.display())
    })?;

    // The repro fails on replay with the same violation...
    let steps = finding.repro_steps().map_err(|e| e.to_string())?;
    let replayed = replay(&hub, &steps, REQUEST).map_err(|e| format!("replay: {e}"))?;
    check(replayed.as_ref() == Some(&finding.violation), || {
        format!(
            "replay gave {replayed:?}, the finding says {:?}",
            finding.violation
        )
    })?;
    check(finding.violation.layer == Layer::L4, || {
        format!("{:?}", finding.violation)
    })?;

    // ...the same seed finds the same sequence and shrinks it the same way...
    let again = run(&hub, &dir.path().join("again"))?;
    let Some((second, _)) = again.failure else {
        return Err(format!("the second run found nothing: {again}").into());
    };
    check(
        (second.sequence, &second.failing_sequence, &second.signature)
            == (
                finding.sequence,
                &finding.failing_sequence,
                &finding.signature,
            ),
        || format!("not reproducible from the seed: {finding:#?} vs {second:#?}"),
    )?;

    // ...and it is the fault's: with the fault cleared, the repro passes.
    daemon::fault(&system.info, Fault::None).map_err(|e| format!("fault none: {e}"))?;
    let fixed = replay(&hub, &steps, REQUEST).map_err(|e| format!("replay: {e}"))?;
    check(fixed.is_none(), || {
        format!("the repro fails without the fault: {fixed:?}")
    })?;
    system.stop().map_err(|e| format!("stop: {e}"))?;
    Ok(())
}
