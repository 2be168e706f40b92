//! `auditwall loop exercise`: the Kitchen Loop's synthetic power user against the reference
//! hub (the exerciser itself is `auditwall_kitchen`).
//!
//! Owns: reading the flags, choosing the target the way `verify` does (the system `auditwall
//! up` started, if it runs; else a private one, started and stopped here), the progress and
//! summary lines, and the outcome. Must not touch: how sequences are made or judged.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use auditwall_harness::Error;
use auditwall_kitchen::{ErrorKind, Options, Progress};
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

    // The reference system `verify` would target (the `up` one, else a private one that is
    // stopped when `target` is dropped, on every way out).
    let wall = crate::cli::WallArgs {
        wall: None,
        profiles: Vec::new(),
    };
    let target = crate::quiet::Target::start(&wall)?;
    let hub = target
        .hub
        .clone()
        .ok_or_else(|| Error::harness("the reference system has no hub"))?;
    eprintln!("the hub is reset before every sequence and left in its default state");

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
    drop(target);
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
