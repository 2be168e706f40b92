//! The one error type of this crate: what went wrong ([`Kind`]) and where (the file, if any).
//!
//! Owns: the wording of report-writing errors. Must not decide exit codes: the binary maps
//! errors to exit codes in exactly one place.

use std::path::{Path, PathBuf};

/// What kind of report output failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The report directory could not be created.
    CreateDir,
    /// Writing (or syncing) a report file or stream failed.
    Write,
    /// Moving a finished temporary file over its final name failed.
    Rename,
    /// The JUnit XML encoder failed.
    Junit,
    /// The JSON encoder failed.
    Json,
}

/// A report could not be written. The message names the file when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ReportError {
    kind: Kind,
    path: Option<PathBuf>,
    // Kept as text and shown in `Display`: users read these messages, and a caller that
    // prints only the top-level error must still see why the write failed.
    cause: String,
}

impl ReportError {
    pub(crate) fn new(kind: Kind, cause: impl std::fmt::Display) -> Self {
        ReportError {
            kind,
            path: None,
            cause: cause.to_string(),
        }
    }

    pub(crate) fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The file or directory involved, when the output went to the file system.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn render(&self) -> String {
        let what = match self.kind {
            Kind::CreateDir => "cannot create report directory",
            Kind::Write => "cannot write report",
            Kind::Rename => "cannot move finished report into place",
            Kind::Junit => "cannot encode JUnit XML report",
            Kind::Json => "cannot encode JSON report",
        };
        match &self.path {
            Some(path) => format!("{what} {}: {}", path.display(), self.cause),
            None => format!("{what}: {}", self.cause),
        }
    }
}
