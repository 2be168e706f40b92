//! Restores a drill left owed: `auditwall recover`, and the same step before and after every
//! run, so a harness killed mid-drill (even by SIGKILL) never leaves its fault behind.

use std::path::Path;

use auditwall_harness::journal::{self, RecoverOutcome};
use auditwall_harness::Error;
use auditwall_probes::Prober;

use crate::exit::Outcome;

/// `auditwall recover`: restore what the journal owes; exit 0 when nothing is left.
pub fn recover() -> anyhow::Result<Outcome> {
    let path = journal::default_path();
    let left = run(&path)?;
    if left == 0 {
        println!("drill journal {}: nothing owed", path.display());
        Ok(Outcome::Done)
    } else {
        Err(Error::harness(format!(
            "{left} restore{} still owed in {}; the system is still broken",
            if left == 1 { "" } else { "s" },
            path.display()
        ))
        .into())
    }
}

/// Before a run: restore anything owed, and refuse to run against a system that is still
/// broken by an earlier drill.
pub fn before_run() -> anyhow::Result<()> {
    let path = journal::default_path();
    let left = run(&path)?;
    if left > 0 {
        return Err(Error::harness(format!(
            "an earlier drill's fault could not be undone (see above); run `auditwall recover` once the system is reachable ({})",
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// Runs every pending restore and says what happened on stderr; returns how many are left.
pub fn run(path: &Path) -> anyhow::Result<usize> {
    if journal::pending(path).map_err(Error::harness)?.is_empty() {
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let prober = Prober::new().map_err(|e| Error::harness(format!("cannot set up probes: {e}")))?;
    let done = runtime
        .block_on(journal::recover(path, &prober))
        .map_err(Error::harness)?;
    let mut left = 0;
    for r in &done {
        let what = format!(
            "drill `{}` (fault `{}`, injected by pid {})",
            r.entry.drill, r.entry.fault, r.entry.pid
        );
        match &r.outcome {
            RecoverOutcome::Restored(_) => eprintln!(
                "recovered from the drill journal: {what}: {} done",
                r.entry.restore.describe()
            ),
            RecoverOutcome::Moot => {
                eprintln!("dropped from the drill journal: {what}: the system it targeted is gone")
            }
            RecoverOutcome::Failed(e) => {
                left += 1;
                eprintln!(
                    "RESTORE FAILED for {what}: {} : {e}",
                    r.entry.restore.describe()
                );
            }
        }
    }
    Ok(left)
}
