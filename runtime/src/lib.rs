//! Drives the system under test: starting, readiness, stopping, killing, pausing services,
//! and reading process facts (liveness, process trees, resource samples) from `/proc`.
//!
//! Owns: process groups, pids, signals, readiness waits, the supervisor state file.
//! Must not touch: specs, verdicts, or output.
//!
//! # Design
//!
//! **One service, one process group.** Every service is spawned with `process_group(0)`, so
//! it leads a group whose id is its pid. Stop, kill, pause and resume signal the whole group
//! (`kill(-pgid, ..)`), which reaches grandchildren a shell or launcher forked. `stop` sends
//! SIGTERM (plus SIGCONT, so a paused group can act on it), waits up to the spec's grace,
//! then SIGKILLs; it returns only once no live process is left in the group.
//!
//! **No orphans when the supervisor dies.** On Linux each service is spawned with
//! `PR_SET_PDEATHSIG(SIGTERM)` set between fork and exec, so the kernel terminates it when
//! the supervisor dies, even by SIGKILL. Caveats: the signal fires when the *thread* that
//! forked exits, so drive the [`Supervisor`] from a long-lived thread (e.g. `main`); and it
//! reaches the group leader only, so grandchildren that outlive their parent are found and
//! stopped by `down` through the state file (their process group is recorded there).
//! Dropping an owning [`Supervisor`] stops all its services too.
//!
//! **State file.** JSON, written atomically (temp file in the same directory + rename):
//! `{"format": 1, "supervisor": {"pid", "start_ticks"}, "services": [{"name", "pid", "pgid",
//! "start_ticks", "started_at_unix_ms", "ports", "program", "args", "log", "stop_grace_ms"}]}`.
//! `start_ticks` is field 22 of `/proc/<pid>/stat` (start time since boot): a pid whose start
//! time differs is another program that reused the pid and is never signalled. A supervisor
//! made with [`Supervisor::attach`] in another process reads it to show status or run `down`;
//! [`Supervisor::staleness`] reports a crashed supervisor or reused pids. Environment values
//! are deliberately *not* recorded (they may hold secrets), so only the owning supervisor can
//! restart a service. Owner and attached supervisors each rewrite the whole file from their
//! own view (last writer wins); that is safe because every record is re-verified against
//! `/proc` before it is used, so a resurrected record of a stopped service reads as gone.
//!
//! **Ready means ready.** A start returns only after the process is still alive, every listed
//! port accepts connections and is held by the service's own group, and the readiness check
//! passes; all of this is polled every 15 ms up to the spec's timeout. Any failure kills the
//! group and says specifically why (exited early with the log tail, port never opened,
//! readiness check answered 503).

pub mod daemon;
mod error;
mod procfs;
pub mod proxy;
mod readiness;
mod service;
mod state;
mod supervisor;
pub mod system;

pub use error::{RuntimeError, RuntimeErrorKind};
pub use procfs::{descendants, group_members, process_alive, sample, ResourceSample};
pub use readiness::get_status;
pub use service::{
    DownReport, Readiness, ServiceHandle, ServiceManager, ServiceSpec, ServiceStatus, Staleness,
    StopOutcome,
};
pub use supervisor::Supervisor;
