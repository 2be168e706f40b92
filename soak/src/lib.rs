//! The soak window: "a green wall today does not mean the system is calm". A crash-safe
//! SQLite [`Ledger`] of wall runs (ticks) over calendar days, a [`Status`] of it at any
//! instant, and the exit [gate](check) that says whether the release may leave the soak.
//!
//! Owns: the ledger's schema and its reads and writes, the soak [`Policy`] file, the gate's
//! rules and the wording of every explanation, and the text of the scheduler entries
//! ([`systemd_units`], [`launchd_plist`], [`crontab_line`]). Must not touch: running the wall,
//! the doctor or the docs build (the CLI does, and hands in the results), the terminal, exit
//! codes, and **the clock**: every instant is a `now_ms` argument (unix milliseconds, UTC), so
//! tests run seven simulated days in seconds and the gate never reads the wall clock.
//!
//! The `auditwall soak` commands drive it like this:
//!
//! ```text
//! start:  policy = Policy::load(path)? (or Policy::default())
//!         Ledger::open(LEDGER_PATH)?.start(now, policy.days, &policy.digest())
//! tick:   run the wall; ledger.record_tick(&Tick { at_ms: now, .. })
//! status: ledger.status(now, &policy)
//! check:  let report = check(&ledger.status(now, &policy)?, &policy, &Evidence { doctor, docs })
//! ```
//!
//! **Full calendar days** are UTC days lying entirely inside `[start, now]`: started at 10:00Z
//! on the 20th, the first full day is the 21st, and seven are complete at 00:00Z on the 28th.
//! Dirty ticks are named by their soak day, counted in 24 h from the start (day 1 is the
//! first 24 h).

mod error;
mod gate;
mod ledger;
mod policy;
mod schedule;
mod status;
mod time;

pub use error::{Kind, SoakError};
pub use gate::{check, Condition, Evidence, GateReport, Outcome};
pub use ledger::{Counts, Ledger, RedCheck, RedVerdict, Resources, Run, Tick, SCHEMA_VERSION};
pub use policy::Policy;
pub use schedule::{
    crontab_line, launchd_plist, systemd_units, SystemdUnits, LAUNCHD_LABEL, SYSTEMD_UNIT,
};
pub use status::{
    DirtyTick, Gap, GapKind, LatencyTrend, RssTrend, Status, Window, MAX_SLOPE_POINTS,
};
pub use time::render_instant;

/// Where the soak ledger lives by default, relative to the wall directory. Under
/// `.auditwall/`, which is not checked in.
pub const LEDGER_PATH: &str = ".auditwall/soak/ledger.sqlite";
