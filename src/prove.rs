//! `verify --prove`: once the run is over, every check's negative control (see
//! `auditwall_harness::prove`), run on a thread of its own while this thread, the only one
//! that writes to the terminal, renders what it reports.
//!
//! Owns: wiring the prover to the wall, the drill journal, the terminal and Ctrl-C/SIGTERM.
//! Must not touch: exit codes (`exit::code` reads the proofs) or the reports (written after,
//! from the summary this returns).

use std::io::Write;
use std::sync::{mpsc, Arc};

use anyhow::Context;
use auditwall_harness::calibrate::Calibrator;
use auditwall_harness::journal;
use auditwall_harness::load::LoadedWall;
use auditwall_harness::prove::Prover;
use auditwall_harness::result::RunSummary;
use auditwall_harness::Error;
use auditwall_probes::Prober;
use auditwall_reports::Terminal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

use crate::cli::VerifyArgs;

/// With `--prove`, fills in every result's proof and returns the summary; without it, returns
/// the summary unchanged. A run that did not finish is not proven (its exit code is already 4).
pub fn after_run<W: Write>(
    args: &VerifyArgs,
    loaded: &LoadedWall,
    calibrator: &Arc<Calibrator>,
    owner: Option<u32>,
    summary: RunSummary,
    terminal: &mut Terminal<W>,
) -> anyhow::Result<RunSummary> {
    if !args.prove {
        return Ok(summary);
    }
    if summary.interrupted || summary.deadline_exceeded {
        eprintln!("not proving: the run did not finish");
        return Ok(summary);
    }
    let interrupt = Arc::new(Notify::new());
    let prover = Prover::new(&loaded.wall, journal::default_path(), calibrator.clone())
        .owned_by(owner)
        .interrupted_by(Some(interrupt.clone()));
    let (tx, rx) = mpsc::channel();
    let notify = interrupt.clone();
    let proving = std::thread::Builder::new()
        .name("prove".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let prober =
                Prober::new().map_err(|e| Error::harness(format!("cannot set up probes: {e}")))?;
            Ok::<_, anyhow::Error>(runtime.block_on(async {
                // Ctrl-C or SIGTERM: the fault that is on is cleared, then proving stops.
                let signals = tokio::spawn(async move {
                    let mut term = signal(SignalKind::terminate()).ok();
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = async {
                            match term.as_mut() {
                                Some(t) => { t.recv().await; }
                                None => std::future::pending().await,
                            }
                        } => {}
                    }
                    notify.notify_one();
                });
                let summary = prover.prove(summary, &prober, &tx).await;
                signals.abort();
                summary
            }))
        })?;
    // A terminal that cannot be written to stops the proving, but only once the fault that
    // is on has been cleared: the thread is always joined.
    let mut written = Ok(());
    for event in rx {
        if written.is_ok() {
            written = terminal.on_proof(&event);
            if written.is_err() {
                interrupt.notify_one();
            }
        }
    }
    let summary = proving
        .join()
        .map_err(|_| Error::harness("the proving thread panicked"))??;
    written?;
    Ok(summary)
}
