//! The service model callers speak: what to run ([`ServiceSpec`]), how to know it is ready
//! ([`Readiness`]), what a running service looks like ([`ServiceHandle`], [`ServiceStatus`]),
//! and the [`ServiceManager`] seam every supervisor implementation provides.
//!
//! Owns: these data types and the trait.
//! Must not touch: processes, signals or files (that is [`crate::Supervisor`]'s job).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::RuntimeError;

/// Everything needed to start one long-running service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Unique within a supervisor; letters, digits, `-`, `_` and `.` only (it names log files).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Added to (or overriding) the supervisor's own environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Loopback TCP ports the service must be listening on (and own) once ready.
    pub ports: Vec<u16>,
    pub ready: Readiness,
    pub ready_timeout: Duration,
    /// How long `stop` waits after SIGTERM before it sends SIGKILL.
    pub stop_grace: Duration,
    /// stdout and stderr are appended here; `None` means a fresh file in the temp directory.
    pub log: Option<PathBuf>,
}

impl ServiceSpec {
    /// A spec with no arguments, ports or readiness check, a 10 s readiness timeout and a
    /// 5 s stop grace; set the public fields for the rest.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        ServiceSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            ports: Vec::new(),
            ready: Readiness::None,
            ready_timeout: Duration::from_secs(10),
            stop_grace: Duration::from_secs(5),
            log: None,
        }
    }
}

/// How the supervisor decides a freshly started service is ready. Every `ports` entry of the
/// spec must also accept connections, whichever variant is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// A TCP connect to this (loopback) address succeeds.
    TcpConnect { addr: SocketAddr },
    /// `GET url` answers 2xx; `url` is `http://<loopback>[:port][/path]`.
    HttpOk { url: String },
    /// Ready as soon as it is spawned (and its ports, if any, are open).
    None,
}

/// Identity of one started service, as recorded in the state file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceHandle {
    pub name: String,
    pub pid: u32,
    /// Always equal to `pid`: every service leads its own process group.
    pub pgid: u32,
    pub ports: Vec<u16>,
    pub started_at_unix_ms: u64,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
}

/// A service as seen right now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServiceStatus {
    pub service: ServiceHandle,
    /// The recorded process is running (and is still the process that was started).
    pub alive: bool,
    /// The recorded process is stopped by SIGSTOP (see [`ServiceManager::pause`]).
    pub paused: bool,
}

/// How a `stop` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StopOutcome {
    /// The whole group exited within the grace period after SIGTERM.
    Graceful,
    /// Something in the group ignored SIGTERM for the whole grace period and was SIGKILLed.
    KilledAfterGrace,
    /// Nothing of the group was running any more.
    AlreadyGone,
}

/// What `down` did, service by service.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DownReport {
    pub stopped: Vec<String>,
    pub already_gone: Vec<String>,
    /// Recorded pids that now belong to other programs; left alone.
    pub not_ours: Vec<String>,
}

/// Why a state file (or one of its entries) no longer describes live processes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Staleness {
    /// The supervisor that wrote the state file has exited (crashed or was killed).
    SupervisorGone { pid: u32 },
    /// The recorded pid is alive but was started later than the service: it is another program.
    PidReused {
        service: String,
        pid: u32,
        now_running: Option<String>,
    },
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Staleness::SupervisorGone { pid } => write!(f, "supervisor pid {pid} is gone"),
            Staleness::PidReused {
                service,
                pid,
                now_running,
            } => {
                write!(
                    f,
                    "service {service}: pid {pid} now belongs to another program"
                )?;
                match now_running {
                    Some(cmd) => write!(f, " ({cmd})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The operations a service supervisor offers. The process-group [`crate::Supervisor`] is
/// the only implementation today; systemd or launchd adapters would be further ones, so
/// callers (CLI, drills, test setup) should depend on this trait.
pub trait ServiceManager {
    /// Start a service and wait until it is ready; on any failure nothing of it is left running.
    fn start(&mut self, spec: ServiceSpec) -> Result<ServiceHandle, RuntimeError>;
    /// SIGTERM the service's group, wait up to its grace, then SIGKILL; forget the service.
    fn stop(&mut self, name: &str) -> Result<StopOutcome, RuntimeError>;
    /// SIGKILL the service's group (a fault); the service stays listed, dead, until stopped
    /// or restarted.
    fn kill(&mut self, name: &str) -> Result<(), RuntimeError>;
    /// SIGSTOP the service's group: its ports stay open but nothing answers.
    fn pause(&mut self, name: &str) -> Result<(), RuntimeError>;
    /// SIGCONT the service's group.
    fn resume(&mut self, name: &str) -> Result<(), RuntimeError>;
    /// Stop (if running) and start again from the same spec.
    fn restart(&mut self, name: &str) -> Result<ServiceHandle, RuntimeError>;
    /// Every known service, in start order.
    fn status(&self) -> Vec<ServiceStatus>;
    /// Stop every service that is still ours and remove the state.
    fn down(&mut self) -> Result<DownReport, RuntimeError>;
}
