//! auditwall's calibration core: is every deployed file what its canonical source says it
//! should be, and if not, put it back.
//!
//! Owns: comparing canonical sources (rendered text or plain files) with deployed files and
//! managed directories ([`check`]), writing canonical content back atomically with backups
//! ([`write`]), waivers ([`apply_waivers`]) and the calibration ledger ([`append_ledger`],
//! [`read_ledger`]). Must not touch: spec parsing, template rendering, the host profile, the
//! clock, terminal output or exit codes; those belong to the spec layer, the harness and the
//! binary, which build the inputs and consume [`Report`] and [`JudgedReport`].
//!
//! Deployed files are read and written only inside the allowed roots, judged after `..` is
//! applied lexically and symlinks of the existing part of the path are resolved.

mod check;
mod compare;
mod date;
mod error;
mod finding;
mod ledger;
mod model;
mod plan;
mod roots;
mod waiver;
mod write;

pub use check::check;
pub use date::Date;
pub use error::{CalibrationError, Kind};
pub use finding::{Finding, FindingKind, FindingTag, Report, UnknownTag};
pub use ledger::{
    append_ledger, read_ledger, Ledger, LedgerEntry, LedgerFinding, DEFAULT_LEDGER_CAP,
    LEDGER_FORMAT,
};
pub use model::{DirRule, DirSource, Limits, Pair, Source};
pub use waiver::{apply_waivers, Judged, JudgedReport, Status, Waiver};
pub use write::{write, WriteAction, WriteOptions, WriteOutcome, WriteReport};
