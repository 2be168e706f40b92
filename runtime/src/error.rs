//! The one error type of the runtime crate.
//!
//! Owns: [`RuntimeError`] and its [`RuntimeErrorKind`]. Messages are complete sentences meant
//! for the operator; the kind is what callers branch on (e.g. to pick an exit code).
//! Must not touch: exit codes or formatting beyond `Display` (the CLI maps kinds to codes).

use std::path::Path;

/// What went wrong, coarse enough to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeErrorKind {
    /// The spec itself is unusable (empty name, non-loopback address, malformed URL, ...).
    InvalidSpec,
    /// A port the service must own is held by another process.
    PortTaken,
    /// The program does not exist or is not executable.
    MissingProgram,
    /// The service process exited before it became ready.
    ExitedEarly,
    /// The service stayed up but never passed its readiness check in time.
    NotReady,
    /// A service with this name is already running under this supervisor.
    AlreadyRunning,
    /// The service is known but none of its processes is running.
    NotRunning,
    /// The state file belongs to another supervisor that is still alive.
    StateInUse,
    /// The state file (or one of its entries) is left over from a run that is gone.
    StaleState,
    /// The state file exists but cannot be understood.
    CorruptState,
    /// The operation needs something this supervisor does not have (e.g. the full spec).
    Unsupported,
    /// File-system or process-spawn I/O failed.
    Io,
    /// Sending a signal failed, or a process group would not die.
    Signal,
    /// No service with this name is known.
    UnknownService,
}

/// A runtime failure: what kind, which service (if any), and a sentence saying what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.service.as_deref(), .message))]
pub struct RuntimeError {
    pub kind: RuntimeErrorKind,
    pub service: Option<String>,
    pub message: String,
}

fn render(service: Option<&str>, message: &str) -> String {
    match service {
        Some(name) => format!("service {name}: {message}"),
        None => message.to_string(),
    }
}

impl RuntimeError {
    pub(crate) fn new(kind: RuntimeErrorKind, message: impl Into<String>) -> Self {
        RuntimeError {
            kind,
            service: None,
            message: message.into(),
        }
    }

    pub(crate) fn service(
        kind: RuntimeErrorKind,
        service: &str,
        message: impl Into<String>,
    ) -> Self {
        RuntimeError {
            kind,
            service: Some(service.to_string()),
            message: message.into(),
        }
    }

    pub(crate) fn io(what: &str, path: &Path, err: &std::io::Error) -> Self {
        RuntimeError::new(
            RuntimeErrorKind::Io,
            format!("cannot {what} {}: {err}", path.display()),
        )
    }
}
