//! `auditwall calibrate`: the calibration suite on its own, optionally writing canonical
//! content into place first. Checking is an ordinary run (same engine, reports and exit
//! codes as `verify`), so `--write` followed by the check proves the repair.

use std::io::Write;
use std::path::PathBuf;

use auditwall_calibration::WriteOutcome;
use auditwall_harness::calibrate::Calibrator;
use auditwall_harness::{plan, Error};
use auditwall_runtime::daemon;
use auditwall_spec::CheckKind;

use crate::cli::{CalibrateArgs, FilterArgs, SuiteArg, VerifyArgs};
use crate::commands::{filter, load_wall_with, verify};
use crate::exit::Outcome;

pub fn calibrate(args: CalibrateArgs) -> anyhow::Result<Outcome> {
    let filter_args = FilterArgs {
        ids: args.ids,
        tags: Vec::new(),
        suites: vec![SuiteArg::Calibration],
        severity: None,
        partition: None,
    };
    if args.write {
        write(&args.wall, &filter_args, args.adopt_unmanaged)?;
    }
    verify(VerifyArgs {
        wall: args.wall,
        filter: filter_args,
        jobs: None,
        timeout: None,
        deadline: None,
        retries: None,
        allow_disruptive: false,
        prove: false,
        dry_run: false,
        report_dir: args.report_dir,
        verbose: args.verbose,
        color: args.color,
    })
}

fn write(
    wall: &crate::cli::WallArgs,
    filter_args: &FilterArgs,
    adopt_unmanaged: bool,
) -> anyhow::Result<()> {
    let mut live_layers = Vec::new();
    if wall.wall.is_none() {
        // Writing into a system that auditwall starts for one run would repair files that
        // are deleted when the run ends: only a running system is worth writing to.
        let dir = std::env::var_os("AUDITWALL_REFERENCE_DIR")
            .map_or_else(|| PathBuf::from(".auditwall/reference"), PathBuf::from);
        let info = daemon::read_info(&dir).ok().flatten().ok_or_else(|| {
            Error::spec(format!(
                "calibrate --write on the reference system needs it running (none found in {}): start it with `auditwall up`",
                dir.display()
            ))
        })?;
        live_layers.push(("reference".to_string(), info.profile_layer()));
    }
    let (_, loaded) = load_wall_with(wall, live_layers)?;
    let plan = plan::plan(&loaded.wall.checks, &filter(filter_args)?)?;
    let calibrator = Calibrator::new(&loaded.wall.calibration);
    let mut out = std::io::stdout().lock();
    let mut changed = 0;
    for planned in &plan.checks {
        let CheckKind::Calibration(cal) = &planned.check.kind else {
            continue;
        };
        let report = calibrator.write(cal, adopt_unmanaged).map_err(|e| {
            Error::spec(format!(
                "{}: calibration `{}`: {e}",
                planned.check.origin, planned.check.id
            ))
        })?;
        for action in &report.actions {
            let label = match action.outcome {
                WriteOutcome::Created | WriteOutcome::Replaced { .. } => "wrote",
                WriteOutcome::ModeSet { .. } => "chmod",
                WriteOutcome::RefusedUnmanaged | WriteOutcome::Left { .. } => "left",
                WriteOutcome::Failed { .. } => "FAILED",
            };
            if matches!(label, "wrote" | "chmod") {
                changed += 1;
            }
            writeln!(out, "{label:<6} {}", action.message())?;
        }
    }
    writeln!(
        out,
        "calibrate --write: {changed} file{} changed; checking ...",
        if changed == 1 { "" } else { "s" }
    )?;
    Ok(())
}
