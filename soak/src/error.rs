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
    /// The file is not a soak ledger (not SQLite, or SQLite without our schema).
    NotALedger,
    /// The ledger was written by a newer auditwall; it is never downgraded.
    NewerSchema,
    /// The ledger holds a value this version cannot have written (hand-edited or damaged).
    Corrupt,
    /// SQLite failed while reading or writing the ledger.
    Storage,
    /// No soak has been started in this ledger (`soak start` first).
    NotStarted,
    /// A caller-supplied value is out of range, empty or inconsistent.
    InvalidInput,
    /// The policy file is missing, unreadable or malformed (the message is located).
    Policy,
    /// A scheduler file cannot express what was asked (a relative path, an interval cron
    /// cannot repeat evenly).
    Schedule,
}

/// A ledger, policy or scheduler call could not do what was asked. The message names the file
/// when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct SoakError {
    kind: Kind,
    path: Option<PathBuf>,
    // Kept as text and shown in `Display`: a caller that prints only the top-level error must
    // still see why.
    detail: String,
}

impl SoakError {
    pub(crate) fn new(kind: Kind, detail: impl std::fmt::Display) -> Self {
        SoakError {
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

    /// The ledger or policy file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn render(&self) -> String {
        let what = match self.kind {
            Kind::Open => "cannot open soak ledger",
            Kind::NotALedger => "not a soak ledger",
            Kind::NewerSchema => "soak ledger is from a newer auditwall",
            Kind::Corrupt => "soak ledger holds an impossible value",
            Kind::Storage => "soak ledger storage failed",
            Kind::NotStarted => "no soak started",
            Kind::InvalidInput => "invalid input",
            // The detail of a located policy error already starts with `file:line:column`.
            Kind::Policy => "bad soak policy",
            Kind::Schedule => "cannot write the schedule",
        };
        match &self.path {
            Some(path) => format!("{what}: {}: {}", path.display(), self.detail),
            None => format!("{what}: {}", self.detail),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, SoakError>;
