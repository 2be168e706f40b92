//! `auditwall loop exercise`: the Kitchen Loop's synthetic power user against the reference
//! hub (the exerciser itself is `auditwall_kitchen`).
//!
//! Owns: reading the flags, choosing the target the way `verify` does (the system `auditwall
//! up` started, if it runs; else a private one, started and stopped here), the progress and
//! summary lines, and the outcome. Must not touch: how sequences are made or judged.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use auditwall_harness::Error;
use auditwall_kitchen::{ErrorKind, Options, Progress};
use auditwall_runtime::daemon::{self, PrivateSystem};
use auditwall_spec::parse_duration;

use crate::exit::Outcome;

/// Where findings go unless `--findings` says otherwise.
const FINDINGS: &str = ".auditwall/findings";

/// `auditwall loop exercise --duration D [--seed S] [--findings DIR]`. Without a seed, one
/// is taken from the clock; the summary line names it, so any run can be replayed. Exit 1
/// (through [`Outcome::Findings`]) when the hub was found wrong.
pub fn exercise(
    duration: &str,
    seed: Option<u64>,
    findings: Option<PathBuf>,
) -> anyhow::Result<Outcome> {
    let duration = match parse_duration(duration) {
        Ok(d) if d.is_zero() => {
            return Err(Error::spec(format!("--duration {duration}: must be more than 0")).into())
        }
        Ok(d) => d,
        Err(e) => return Err(Error::spec(format!("--duration {duration}: {e}")).into()),
    };
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let findings = findings.unwrap_or_else(|| PathBuf::from(FINDINGS));

    // Dropped (and so stopped) on every way out, errors included.
    let mut private = None;
    let shared_dir = std::env::var_os("AUDITWALL_REFERENCE_DIR")
        .map_or_else(|| PathBuf::from(".auditwall/reference"), PathBuf::from);
    let hub = match daemon::read_info(&shared_dir).ok().flatten() {
        Some(info) => {
            eprintln!(
                "using the reference system running from {} (pid {}); its hub is reset before every sequence and left in its default state",
                shared_dir.display(),
                info.daemon_pid
            );
            info.endpoint("hub")
        }
        None => {
            let exe = std::env::current_exe().context("cannot find the auditwall executable")?;
            eprintln!("starting the reference system ...");
            let started = PrivateSystem::start(&exe)
                .map_err(|e| Error::harness(format!("cannot start the reference system: {e}")))?;
            let hub = started.info.endpoint("hub");
            private = Some(started);
            hub
        }
    };

    let live = std::io::stderr().is_terminal();
    let mut progress = |p: &Progress| {
        if live {
            eprint!(
                "\rexercise: {} actions, {} sequences, {}s",
                p.actions,
                p.sequences,
                p.elapsed.as_secs()
            );
            let _ = std::io::stderr().flush();
        }
    };
    let result =
        auditwall_kitchen::exercise(&Options::new(&hub, duration, seed, findings), &mut progress);
    if live {
        eprint!("\r\x1b[2K");
    }
    if let Some(Err(e)) = private.map(PrivateSystem::stop) {
        eprintln!("warning: stopping the reference system: {e}");
    }
    // The kitchen's messages already carry their cause.
    let summary = result.map_err(|e| match e.kind {
        ErrorKind::Usage => Error::spec(e.to_string()),
        ErrorKind::Hub | ErrorKind::Surface | ErrorKind::Finding => Error::harness(e.to_string()),
    })?;
    println!("{summary}");
    Ok(Outcome::Findings {
        failed: usize::from(summary.failure.is_some()),
    })
}
