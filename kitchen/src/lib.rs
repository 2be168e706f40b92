//! The Kitchen Loop exerciser: a seeded synthetic power user that drives the reference hub
//! with random valid action sequences and checks every action at L3 (the answer says what
//! the contract says) and L4 (the whole state equals a model of the expected state: the
//! expected changes are there *and* nothing else changed).
//!
//! Owns: the action vocabulary discovered from the hub's `GET /state` ([`vocab`]), the
//! seeded PRNG ([`prng`]), the sequence generator and its mix ([`generate`]), the pure model
//! of expected state ([`model`]), the checks ([`check`]), the HTTP executor ([`http`], one
//! keep-alive connection), delta-debugging shrinking ([`shrink`]), finding files
//! ([`finding`]) and the run loop ([`run`]).
//! Must not touch: the hub's implementation, process supervision, the terminal (progress
//! goes to a callback, the summary is a value the caller prints), exit codes.
//!
//! # Design decisions
//!
//! - **Reproducible from the seed.** The only randomness is [`prng::SplitMix64`] seeded
//!   from `--seed`; the vocabulary is sorted; so the same seed against the same hub
//!   produces the same sequences. Only how *many* sequences fit into `--duration` varies.
//! - **Every sequence starts from a known state**: `POST /admin/reset` on the hub, whose
//!   answer must equal the default home seen at the start of the run.
//! - **Stop at the first failure, then shrink it** (as property-testing tools do): a seam
//!   bug makes many sequences fail, and shrinking each would only repeat one finding.
//! - **Blocking, one connection.** Each action depends on the state the one before left,
//!   so the exerciser is sequential by nature; async would buy nothing. One keep-alive
//!   connection with `TCP_NODELAY` keeps an action (POST plus `GET /state`) near a
//!   millisecond. Every read and write is bounded by the request timeout.

pub mod check;
pub mod finding;
pub mod generate;
pub mod http;
pub mod model;
pub mod prng;
pub mod run;
pub mod shrink;
pub mod vocab;

pub use check::{Difference, Layer, Violation};
pub use finding::Finding;
pub use generate::{Class, Generator, Sequence};
pub use model::{Action, Expected, Model, Step};
pub use run::{exercise, replay, Options, Progress, Summary};
pub use vocab::{Kind, Vocabulary};

use std::fmt;

/// The flat state map of `GET /state`: `{"door.front.locked": false, ...}`.
pub type State = std::collections::BTreeMap<String, serde_json::Value>;

/// Boxed error from below (I/O, JSON).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the exerciser could not do its work. A *finding* (the hub was wrong) is not an
/// error: it is a [`Summary`] with a failure.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {context}")]
pub struct Error {
    pub kind: ErrorKind,
    pub context: String,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong, for callers that map errors to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad options or input: a zero duration, a non-loopback URL, an unreadable step.
    Usage,
    /// The hub could not be reached, timed out, or answered something unreadable.
    Hub,
    /// The hub's state does not have the shape the exerciser knows (`GET /state`), or its
    /// reset does not bring back the default home: nothing can be checked against a model.
    Surface,
    /// A finding could not be written or read.
    Finding,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Usage => "invalid exercise input",
            ErrorKind::Hub => "hub unreachable or unreadable",
            ErrorKind::Surface => "hub surface not understood",
            ErrorKind::Finding => "finding file",
        })
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        Error {
            kind,
            context: context.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        context: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error {
            kind,
            context: context.into(),
            source: Some(source.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_their_kind_then_the_context() {
        let e = Error::new(ErrorKind::Usage, "--duration 0s: must be more than 0");
        assert_eq!(
            e.to_string(),
            "invalid exercise input: --duration 0s: must be more than 0"
        );
        let e = Error::with_source(
            ErrorKind::Hub,
            "POST http://127.0.0.1:9/actions",
            std::io::Error::other("connection refused"),
        );
        assert_eq!(
            e.to_string(),
            "hub unreachable or unreadable: POST http://127.0.0.1:9/actions"
        );
        assert_eq!(
            std::error::Error::source(&e).map(ToString::to_string),
            Some("connection refused".to_owned())
        );
    }
}
