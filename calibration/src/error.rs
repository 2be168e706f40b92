//! The one error type of this crate: what went wrong ([`Kind`]) and where (the path, if any).
//!
//! Owns: the wording of errors that stop a whole calibration call (bad input from the caller,
//! ledger trouble). Must not touch: per-file trouble, which is a finding or a write outcome so
//! one bad file never hides the others; exit codes, which the binary decides in one place.

use std::path::{Path, PathBuf};

/// What kind of input or state was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A deployed path, a deployed directory or an allowed root is not absolute.
    RelativePath,
    /// An include, exclude or waiver glob does not parse.
    Glob,
    /// Two pairs or directory rules resolve to the same deployed file.
    DuplicateDeployed,
    /// A mode is not a permission mode (above 0o7777).
    Mode,
    /// A date is not a valid `YYYY-MM-DD` calendar date.
    Date,
    /// The ledger file could not be read.
    LedgerRead,
    /// The ledger file is not a ledger this version understands.
    LedgerParse,
    /// The ledger was written by a newer auditwall.
    LedgerNewerFormat,
    /// The ledger file is larger than this version will read.
    LedgerTooLarge,
    /// The new ledger could not be written or moved into place.
    LedgerWrite,
}

/// A calibration call could not run. The message names the path when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct CalibrationError {
    kind: Kind,
    path: Option<PathBuf>,
    // Kept as text and shown in `Display`: a caller that prints only the top-level error must
    // still see why.
    detail: String,
}

impl CalibrationError {
    pub(crate) fn new(kind: Kind, detail: impl std::fmt::Display) -> Self {
        CalibrationError {
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

    /// The file, directory or root the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn render(&self) -> String {
        let what = match self.kind {
            Kind::RelativePath => "path must be absolute",
            Kind::Glob => "invalid glob",
            Kind::DuplicateDeployed => "deployed file claimed twice",
            Kind::Mode => "invalid mode",
            Kind::Date => "invalid date",
            Kind::LedgerRead => "cannot read calibration ledger",
            Kind::LedgerParse => "not a calibration ledger",
            Kind::LedgerNewerFormat => "calibration ledger is from a newer auditwall",
            Kind::LedgerTooLarge => "calibration ledger too large",
            Kind::LedgerWrite => "cannot write calibration ledger",
        };
        match &self.path {
            Some(path) => format!("{what}: {}: {}", path.display(), self.detail),
            None => format!("{what}: {}", self.detail),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, CalibrationError>;
