//! Check primitives with no knowledge of walls: each probe kind measures [`Observations`].
//!
//! Owns: performing one probe (HTTP request, TCP connect, process/port/file inspection,
//! command execution, golden-answer model runs) within its timeout, and reporting what it
//! measured under the names fixed by [`auditwall_spec::observe::names_for`].
//! Must not touch: conditions, verdicts, retries, scheduling or output — the harness judges.
//!
//! A probe either measures (`Ok(Observations)`, even when what it saw is bad, e.g. a TCP
//! port that refuses) or says why it could not, split by blame: [`ProbeErrorKind::Target`]
//! when the system under test is wrong or unreachable, [`ProbeErrorKind::Detector`] when the
//! probe itself could not run. Probes must be called inside a Tokio runtime with I/O and
//! time enabled.

mod command;
mod file;
mod http;
mod model;
mod port;
mod process;
#[cfg(target_os = "linux")]
mod procfs;
mod tcp;

use std::time::Duration;

pub use auditwall_spec::Observations;
use auditwall_spec::Probe;

/// Runs probes. Cheap to clone: clones share one HTTP connection pool, so many concurrent
/// HTTP probes against the same service reuse connections instead of opening one each.
///
/// The HTTP client never follows redirects (a 302 to a login page is not success: the
/// probe reports the 302 and its `location` header) and never uses a proxy from the
/// environment (a wall measures the service, not whatever `HTTP_PROXY` points at).
#[derive(Debug, Clone)]
pub struct Prober {
    http: reqwest::Client,
}

impl Prober {
    pub fn new() -> Result<Prober, ProbeError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("auditwall/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProbeError::detector(format!(
                    "cannot build the HTTP client: {}",
                    http::root_cause(&e)
                ))
            })?;
        Ok(Prober { http })
    }

    /// Runs one probe; `timeout` bounds the whole probe (every await inside is bounded by it).
    pub async fn run(&self, probe: &Probe, timeout: Duration) -> Result<Observations, ProbeError> {
        match probe {
            Probe::Http(p) => http::run(&self.http, p, timeout).await,
            Probe::Tcp(p) => tcp::run(p, timeout).await,
            Probe::Process(p) => process::run(p, timeout).await,
            Probe::Port(p) => port::run(p, timeout).await,
            Probe::File(p) => file::run(p, timeout).await,
            Probe::Command(p) => command::run(p, timeout).await,
            Probe::Model(p) => model::run(&self.http, p, timeout).await,
        }
    }
}

/// Why a probe produced no observations. `Display` is the message alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProbeError {
    pub kind: ProbeErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeErrorKind {
    /// The target is wrong/unreachable (connection refused, DNS failure, timeout, reset): the harness maps this to `fail`.
    Target,
    /// The probe itself could not run (bad URL, program not found, permission denied reading /proc): maps to `error`.
    Detector,
}

impl ProbeError {
    pub(crate) fn target(message: impl Into<String>) -> Self {
        ProbeError {
            kind: ProbeErrorKind::Target,
            message: message.into(),
        }
    }

    pub(crate) fn detector(message: impl Into<String>) -> Self {
        ProbeError {
            kind: ProbeErrorKind::Detector,
            message: message.into(),
        }
    }
}

/// Runs blocking file-system work (reading /proc, hashing a file) off the async threads,
/// until `deadline`, the end of a probe given `timeout`. `what` finishes the timeout
/// message: "timed out after 2s {what}".
pub(crate) async fn blocking<T, F>(
    deadline: tokio::time::Instant,
    timeout: Duration,
    what: &str,
    work: F,
) -> Result<T, ProbeError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ProbeError> + Send + 'static,
{
    match tokio::time::timeout_at(deadline, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(ProbeError::detector(format!(
            "probe task failed {what}: {join}"
        ))),
        Err(_) => Err(ProbeError::target(format!(
            "timed out after {} {what}",
            auditwall_spec::render_duration(timeout)
        ))),
    }
}
