//! The reference system: a small, realistic system that runs on loopback and that auditwall
//! ships as its demo and default target (DESIGN.md §6).
//!
//! Owns the services themselves — [`model`] (OpenAI-compatible model server, used for both
//! `model-primary` and `model-fallback`), [`router`], [`hub`] and [`watchdog`] — their
//! run-time fault modes, and the canonical config [`templates`].
//! Must not touch: process supervision, signals, the CLI or the file system beyond the hub's
//! own state file. Every service is a `serve(config, listener)` future; the caller decides
//! whether it runs in-process (tests) or in its own process, and stops it by dropping the
//! future.

pub mod hub;
pub mod model;
pub mod router;
pub mod templates;
pub mod watchdog;

mod api;
mod server;

use std::fmt;

/// Boxed error used where the cause comes from outside this crate (e.g. a restart callback).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error starting a reference service.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {context}")]
pub struct Error {
    kind: ErrorKind,
    context: String,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong, for callers that map errors to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service configuration is unusable (empty backend list, bad URL, zero interval, ...).
    Config,
    /// The outbound HTTP client could not be built.
    Client,
    /// The hub's state file cannot be read or understood; the hub refuses to start rather
    /// than reset the home.
    State,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Client => "cannot build HTTP client",
            ErrorKind::State => "cannot load state",
        })
    }
}

impl Error {
    pub(crate) fn config(context: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Config,
            context: context.into(),
            source: None,
        }
    }

    pub(crate) fn client(context: impl Into<String>, source: reqwest::Error) -> Self {
        Error {
            kind: ErrorKind::Client,
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }

    pub(crate) fn state(path: &std::path::Path, problem: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::State,
            context: format!(
                "hub state file {} {problem}; fix or remove it (the hub never resets its state on its own)",
                path.display()
            ),
            source: None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}
