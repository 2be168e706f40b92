//! Harness errors: a struct with context plus a kind. The binary maps kinds to exit codes.

use auditwall_spec::SpecError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The wall is wrong: bad spec, profile, filter or usage (exit 2).
    Spec,
    /// The harness itself could not work: unreadable directory, runtime failure (exit 3).
    Harness,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Every located spec error, already part of `message`; kept for callers that count them.
    pub spec_errors: Vec<SpecError>,
}

impl Error {
    pub fn spec(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Spec,
            message: message.into(),
            spec_errors: Vec::new(),
        }
    }

    pub fn harness(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Harness,
            message: message.into(),
            spec_errors: Vec::new(),
        }
    }

    pub fn from_spec_errors(errors: Vec<SpecError>) -> Self {
        let message = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        Error {
            kind: ErrorKind::Spec,
            message,
            spec_errors: errors,
        }
    }
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        Error::from_spec_errors(vec![e])
    }
}
