//! The one error type of this crate: what went wrong ([`Kind`]) and where (the file, if any).
//!
//! Owns: the wording of errors. Must not touch: exit codes, which the binary decides in one
//! place.

use std::path::{Path, PathBuf};

/// What kind of input or state was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The ledger file (or its directory) could not be opened or created.
    Open,
    /// The file is not a loop ledger (not SQLite, or SQLite without our schema).
    NotALedger,
    /// The ledger was written by a newer auditwall; it is never downgraded.
    NewerSchema,
    /// The ledger holds a value this version cannot have written (hand-edited or damaged).
    Corrupt,
    /// SQLite failed while reading or writing the ledger.
    Storage,
    /// The loop is paused: no cycle may begin until it is resumed.
    Paused,
    /// `resume` was asked of a loop that is not paused.
    NotPaused,
    /// The cycle does not exist or is no longer running.
    NotRunning,
    /// A caller-supplied value is out of range or empty (a rate outside 0..=1, an empty reason).
    InvalidInput,
    /// A finding file could not be read, parsed or written.
    Finding,
}

/// A ledger, gate or triage call could not do what was asked. The message names the file
/// when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct LoopError {
    kind: Kind,
    path: Option<PathBuf>,
    // Kept as text and shown in `Display`: a caller that prints only the top-level error must
    // still see why.
    detail: String,
}

impl LoopError {
    pub(crate) fn new(kind: Kind, detail: impl std::fmt::Display) -> Self {
        LoopError {
            kind,
            path: None,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The ledger or finding file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn render(&self) -> String {
        let what = match self.kind {
            Kind::Open => "cannot open loop ledger",
            Kind::NotALedger => "not a loop ledger",
            Kind::NewerSchema => "loop ledger is from a newer auditwall",
            Kind::Corrupt => "loop ledger holds an impossible value",
            Kind::Storage => "loop ledger storage failed",
            Kind::Paused => "the loop is paused",
            Kind::NotPaused => "the loop is not paused",
            Kind::NotRunning => "no such running cycle",
            Kind::InvalidInput => "invalid input",
            Kind::Finding => "cannot update finding",
        };
        match &self.path {
            Some(path) => format!("{what}: {}: {}", path.display(), self.detail),
            None => format!("{what}: {}", self.detail),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, LoopError>;
