//! The process-group supervisor: the [`ServiceManager`] implementation that spawns each
//! service as the leader of its own process group and signals whole groups.
//!
//! Owns: spawning (port pre-check, log files, `PR_SET_PDEATHSIG`), the bounded readiness
//! poll, signalling and reaping groups, deciding whether a recorded pid is still ours, and
//! keeping the state file in step with what it did.
//! Must not touch: what services mean (specs, verdicts, the reference system) or output.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::procfs;
use crate::readiness::{self, HttpTarget};
use crate::state::{self, ProcessIdentity, ServiceRecord, StateFile};
use crate::{
    DownReport, Readiness, RuntimeError, RuntimeErrorKind, ServiceHandle, ServiceManager,
    ServiceSpec, ServiceStatus, Staleness, StopOutcome,
};

/// How often readiness and group exits are polled.
const POLL: Duration = Duration::from_millis(15);
/// Longest single readiness attempt, so one hung connection cannot eat the whole timeout.
const ATTEMPT: Duration = Duration::from_secs(1);
/// SIGKILL cannot be ignored; if a group outlives this the kernel is stuck (e.g. a process
/// in uninterruptible I/O) and we report it instead of waiting forever.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// SIGSTOP/SIGCONT take effect asynchronously; pause and resume wait this long at most for
/// every member to show the new state.
const STOP_CONT_WAIT: Duration = Duration::from_secs(2);
/// How long a start waits for the kernel to release a port that no process holds any more.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(3);
/// How much of a failed service's log is shown in an error.
const TAIL_LINES: usize = 10;
const TAIL_BYTES: u64 = 8 * 1024;

/// Supervises services as process groups and records them in a state file.
///
/// A supervisor made by [`Supervisor::new`] *owns* its state file: it starts services, and
/// when dropped it stops them and removes the file. One made by [`Supervisor::attach`]
/// controls the services another process started (stop, kill, pause, resume, status, down)
/// but cannot start them, and leaves everything running when dropped.
///
/// Spawn from a long-lived thread (e.g. `main`): `PR_SET_PDEATHSIG` fires when the
/// *thread* that forked the service exits, not when the process does.
#[derive(Debug)]
pub struct Supervisor {
    state_path: PathBuf,
    owner: bool,
    identity: ProcessIdentity,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    record: ServiceRecord,
    /// Present only in the process that spawned the service; needed to reap it.
    child: Option<Child>,
    /// Present only in the owning supervisor; needed to restart.
    spec: Option<ServiceSpec>,
}

/// Whether the processes behind a record are still the ones we started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    /// The leader is running and is the recorded process.
    Alive,
    /// The leader exited but members of its group (re-parented grandchildren) remain.
    LeaderGone,
    /// Nothing of the group is running.
    Gone,
    /// The recorded pid now belongs to a process started later: never signal it.
    Reused,
}

impl Supervisor {
    /// Create a supervisor that owns the state file at `state_path` (written immediately).
    /// Refuses if that file already belongs to a running supervisor, or is left over from a
    /// crashed one (clean that up with [`Supervisor::attach`] + [`ServiceManager::down`]).
    pub fn new(state_path: impl Into<PathBuf>) -> Result<Self, RuntimeError> {
        let state_path = state_path.into();
        if state_path.exists() {
            let existing = state::load(&state_path)?;
            let pid = existing.supervisor.pid;
            return Err(if existing.supervisor.alive() {
                RuntimeError::new(
                    RuntimeErrorKind::StateInUse,
                    format!(
                        "state file {} belongs to supervisor pid {pid}, which is still running; attach to it instead",
                        state_path.display()
                    ),
                )
            } else {
                RuntimeError::new(
                    RuntimeErrorKind::StaleState,
                    format!(
                        "state file {} is left over from supervisor pid {pid}, which is gone; run `down` on it first",
                        state_path.display()
                    ),
                )
            });
        }
        let supervisor = Supervisor {
            identity: ProcessIdentity::of(std::process::id()),
            state_path,
            owner: true,
            entries: Vec::new(),
        };
        supervisor.persist()?;
        Ok(supervisor)
    }

    /// Control the services recorded in `state_path` by another supervisor (possibly one that
    /// crashed: see [`Supervisor::staleness`]).
    pub fn attach(state_path: impl Into<PathBuf>) -> Result<Self, RuntimeError> {
        let state_path = state_path.into();
        let file = state::load(&state_path)?;
        Ok(Supervisor {
            identity: file.supervisor,
            state_path,
            owner: false,
            entries: file
                .services
                .into_iter()
                .map(|record| Entry {
                    record,
                    child: None,
                    spec: None,
                })
                .collect(),
        })
    }

    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// Everything about the state that no longer matches reality. Empty means the recording
    /// supervisor is alive and every recorded pid is still the process it started (or gone).
    pub fn staleness(&self) -> Vec<Staleness> {
        let mut found = Vec::new();
        if !self.identity.alive() {
            found.push(Staleness::SupervisorGone {
                pid: self.identity.pid,
            });
        }
        for entry in &self.entries {
            if ownership(&entry.record) == Ownership::Reused {
                found.push(Staleness::PidReused {
                    service: entry.record.name.clone(),
                    pid: entry.record.pid,
                    now_running: procfs::cmdline(entry.record.pid),
                });
            }
        }
        found
    }

    fn persist(&self) -> Result<(), RuntimeError> {
        let mut file = StateFile::new(self.identity);
        file.services = self.entries.iter().map(|e| e.record.clone()).collect();
        state::write_atomic(&self.state_path, &file)
    }

    fn index(&self, name: &str) -> Result<usize, RuntimeError> {
        self.entries
            .iter()
            .position(|e| e.record.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .entries
                    .iter()
                    .map(|e| e.record.name.as_str())
                    .collect();
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                RuntimeError::service(
                    RuntimeErrorKind::UnknownService,
                    name,
                    format!("no such service (known: {known})"),
                )
            })
    }

    /// The entry at `index`, checked to be safe to signal.
    fn signallable(&mut self, index: usize) -> Result<&mut Entry, RuntimeError> {
        let entry = &mut self.entries[index];
        match ownership(&entry.record) {
            Ownership::Alive | Ownership::LeaderGone => Ok(entry),
            Ownership::Gone => {
                reap(entry.child.as_mut());
                Err(RuntimeError::service(
                    RuntimeErrorKind::NotRunning,
                    &entry.record.name,
                    format!("is not running (pid {} is gone)", entry.record.pid),
                ))
            }
            Ownership::Reused => Err(reused_error(&entry.record)),
        }
    }

    fn spawn_and_wait(&self, spec: &ServiceSpec) -> Result<Entry, RuntimeError> {
        let name = spec.name.as_str();
        let (log_path, mut log) = open_log(spec, self.identity.pid)?;
        let log_offset = log
            .seek(SeekFrom::End(0))
            .map_err(|e| RuntimeError::io("seek in log file", &log_path, &e))?;
        let mut child = spawn(spec, &log, &log_path)?;
        let pid = child.id();
        let record = ServiceRecord {
            name: name.to_string(),
            pid,
            pgid: pid,
            start_ticks: procfs::stat(pid).map(|s| s.start_ticks),
            started_at_unix_ms: unix_ms(),
            ports: spec.ports.clone(),
            program: spec.program.clone(),
            args: spec.args.clone(),
            log: log_path.clone(),
            stop_grace_ms: u64::try_from(spec.stop_grace.as_millis()).unwrap_or(u64::MAX),
        };
        let ready = wait_ready(spec, &mut child, &log_path, log_offset)
            .and_then(|()| check_port_owners(spec, pid));
        if let Err(err) = ready {
            // Whatever went wrong, nothing of this attempt may survive it.
            let _ = signal_group(pid, libc::SIGKILL);
            wait_group_gone(pid, Some(&mut child), KILL_WAIT);
            return Err(err);
        }
        Ok(Entry {
            record,
            child: Some(child),
            spec: Some(spec.clone()),
        })
    }
}

impl ServiceManager for Supervisor {
    fn start(&mut self, spec: ServiceSpec) -> Result<ServiceHandle, RuntimeError> {
        if !self.owner {
            return Err(RuntimeError::service(
                RuntimeErrorKind::Unsupported,
                &spec.name,
                format!(
                    "cannot start: this supervisor is attached to {}; only the supervisor that owns it (pid {}) starts services",
                    self.state_path.display(),
                    self.identity.pid
                ),
            ));
        }
        validate(&spec)?;
        if let Some(i) = self.entries.iter().position(|e| e.record.name == spec.name) {
            match ownership(&self.entries[i].record) {
                Ownership::Alive | Ownership::LeaderGone => {
                    return Err(RuntimeError::service(
                        RuntimeErrorKind::AlreadyRunning,
                        &spec.name,
                        format!("is already running as pid {}", self.entries[i].record.pid),
                    ))
                }
                // A killed (or crashed) earlier incarnation: start replaces its record.
                Ownership::Gone | Ownership::Reused => {
                    let mut old = self.entries.remove(i);
                    reap(old.child.as_mut());
                }
            }
        }
        check_ports_free(&spec)?;
        let entry = self.spawn_and_wait(&spec)?;
        let pid = entry.record.pid;
        let handle = handle(&entry.record);
        self.entries.push(entry);
        if let Err(err) = self.persist() {
            // An unrecorded service could never be found by `down`; do not leave one behind.
            if let Some(mut entry) = self.entries.pop() {
                let _ = signal_group(pid, libc::SIGKILL);
                wait_group_gone(pid, entry.child.as_mut(), KILL_WAIT);
            }
            return Err(err);
        }
        Ok(handle)
    }

    fn stop(&mut self, name: &str) -> Result<StopOutcome, RuntimeError> {
        let index = self.index(name)?;
        let entry = &mut self.entries[index];
        let outcome = match ownership(&entry.record) {
            Ownership::Reused => return Err(reused_error(&entry.record)),
            Ownership::Gone => {
                reap(entry.child.as_mut());
                StopOutcome::AlreadyGone
            }
            Ownership::Alive | Ownership::LeaderGone => stop_group(entry)?,
        };
        self.entries.remove(index);
        self.persist()?;
        Ok(outcome)
    }

    fn kill(&mut self, name: &str) -> Result<(), RuntimeError> {
        let index = self.index(name)?;
        let entry = self.signallable(index)?;
        let pgid = entry.record.pgid;
        signal_group(pgid, libc::SIGKILL).map_err(|e| signal_error(entry, "SIGKILL", &e))?;
        if !wait_group_gone(pgid, entry.child.as_mut(), KILL_WAIT) {
            return Err(survivors_error(entry));
        }
        Ok(())
    }

    fn pause(&mut self, name: &str) -> Result<(), RuntimeError> {
        let index = self.index(name)?;
        let entry = self.signallable(index)?;
        let pgid = entry.record.pgid;
        signal_group(pgid, libc::SIGSTOP).map_err(|e| signal_error(entry, "SIGSTOP", &e))?;
        if !wait_group_state(pgid, true) {
            return Err(RuntimeError::service(
                RuntimeErrorKind::Signal,
                &entry.record.name,
                format!(
                    "process group {pgid} did not stop within {} of SIGSTOP",
                    fmt_duration(STOP_CONT_WAIT)
                ),
            ));
        }
        Ok(())
    }

    fn resume(&mut self, name: &str) -> Result<(), RuntimeError> {
        let index = self.index(name)?;
        let entry = self.signallable(index)?;
        let pgid = entry.record.pgid;
        signal_group(pgid, libc::SIGCONT).map_err(|e| signal_error(entry, "SIGCONT", &e))?;
        if !wait_group_state(pgid, false) {
            return Err(RuntimeError::service(
                RuntimeErrorKind::Signal,
                &entry.record.name,
                format!(
                    "process group {pgid} did not continue within {} of SIGCONT",
                    fmt_duration(STOP_CONT_WAIT)
                ),
            ));
        }
        Ok(())
    }

    fn restart(&mut self, name: &str) -> Result<ServiceHandle, RuntimeError> {
        let index = self.index(name)?;
        let Some(spec) = self.entries[index].spec.clone() else {
            return Err(RuntimeError::service(
                RuntimeErrorKind::Unsupported,
                name,
                format!(
                    "cannot restart: only the supervisor that started it (pid {}) knows its full spec",
                    self.identity.pid
                ),
            ));
        };
        self.stop(name)?;
        self.start(spec)
    }

    fn status(&self) -> Vec<ServiceStatus> {
        self.entries
            .iter()
            .map(|entry| {
                let alive = ownership(&entry.record) == Ownership::Alive;
                ServiceStatus {
                    service: handle(&entry.record),
                    alive,
                    paused: alive && procfs::stat(entry.record.pid).is_some_and(|s| s.state == 'T'),
                }
            })
            .collect()
    }

    fn down(&mut self) -> Result<DownReport, RuntimeError> {
        let mut report = DownReport::default();
        let mut failures = Vec::new();
        // Reverse start order: dependants (a router) go before what they depend on (models).
        while let Some(mut entry) = self.entries.pop() {
            let name = entry.record.name.clone();
            match ownership(&entry.record) {
                Ownership::Reused => report.not_ours.push(name),
                Ownership::Gone => {
                    reap(entry.child.as_mut());
                    report.already_gone.push(name);
                }
                Ownership::Alive | Ownership::LeaderGone => match stop_group(&mut entry) {
                    Ok(_) => report.stopped.push(name),
                    Err(err) => failures.push((entry, err)),
                },
            }
        }
        if let Some((_, first)) = failures.first() {
            let first = first.clone();
            // Keep what could not be stopped on record so a later `down` can retry it.
            self.entries = failures.into_iter().map(|(entry, _)| entry).collect();
            self.persist()?;
            return Err(first);
        }
        state::remove(&self.state_path)?;
        Ok(report)
    }
}

impl Drop for Supervisor {
    /// An owning supervisor takes its services down with it, so a test that panics (or a CLI
    /// that returns early) leaves nothing running. Errors cannot be reported from `drop`; the
    /// state file then stays behind and is reported stale by the next run.
    fn drop(&mut self) {
        if self.owner {
            let _ = self.down();
        }
    }
}

fn handle(record: &ServiceRecord) -> ServiceHandle {
    ServiceHandle {
        name: record.name.clone(),
        pid: record.pid,
        pgid: record.pgid,
        ports: record.ports.clone(),
        started_at_unix_ms: record.started_at_unix_ms,
        program: record.program.clone(),
        args: record.args.clone(),
        log: record.log.clone(),
    }
}

fn ownership(record: &ServiceRecord) -> Ownership {
    let leader = procfs::stat(record.pid);
    match (leader, record.start_ticks) {
        (Some(now), Some(then)) if now.start_ticks != then => return Ownership::Reused,
        (Some(_), _) if procfs::process_alive(record.pid) => return Ownership::Alive,
        // Without /proc there is no start time to compare; liveness is all we can know.
        (None, None) if procfs::process_alive(record.pid) => return Ownership::Alive,
        _ => {}
    }
    // A pgid cannot be handed to a new group while any member of the old one lives, so
    // members of the recorded group are necessarily ours.
    if procfs::group_members(record.pgid).is_empty() {
        Ownership::Gone
    } else {
        Ownership::LeaderGone
    }
}

fn reused_error(record: &ServiceRecord) -> RuntimeError {
    let now = procfs::cmdline(record.pid)
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    RuntimeError::service(
        RuntimeErrorKind::StaleState,
        &record.name,
        format!(
            "recorded pid {} now belongs to another program{now}; not signalling it",
            record.pid
        ),
    )
}

fn validate(spec: &ServiceSpec) -> Result<(), RuntimeError> {
    let invalid =
        |msg: String| RuntimeError::service(RuntimeErrorKind::InvalidSpec, &spec.name, msg);
    let name_ok = !spec.name.is_empty()
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !spec.name.starts_with('.');
    if !name_ok {
        return Err(RuntimeError::new(
            RuntimeErrorKind::InvalidSpec,
            format!(
                "service name `{}` must be non-empty and use only letters, digits, `-`, `_` and `.` (not first)",
                spec.name
            ),
        ));
    }
    if spec.ports.contains(&0) {
        return Err(invalid(
            "port 0 cannot be owned; name the real port".to_string(),
        ));
    }
    match &spec.ready {
        Readiness::TcpConnect { addr } if !addr.ip().is_loopback() => {
            return Err(invalid(format!(
                "readiness address {addr} is not on loopback (127.0.0.0/8, ::1)"
            )))
        }
        Readiness::HttpOk { url } => {
            readiness::parse_loopback_url(url).map_err(invalid)?;
        }
        _ => {}
    }
    if let Some(cwd) = &spec.cwd {
        if !cwd.is_dir() {
            return Err(invalid(format!(
                "working directory {} does not exist",
                cwd.display()
            )));
        }
    }
    Ok(())
}

fn check_ports_free(spec: &ServiceSpec) -> Result<(), RuntimeError> {
    for &port in &spec.ports {
        // A port that no process holds is being released by the kernel (the connections of
        // a service that was just stopped, on a restart): give it a bounded moment.
        let deadline = Instant::now() + PORT_RELEASE_WAIT;
        let taken = loop {
            // Only "in use" means taken; other bind errors (e.g. privileged ports for a
            // non-root supervisor) say nothing about the service, which may have the capability.
            match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                Err(err) if err.kind() == io::ErrorKind::AddrInUse => {
                    if procfs::port_holder(port).is_some() || Instant::now() >= deadline {
                        break true;
                    }
                    std::thread::sleep(POLL);
                }
                _ => break false,
            }
        };
        if !taken {
            continue;
        }
        let holder = match procfs::port_holder(port) {
            Some(h) => format!(
                " by pid {}{}",
                h.pid,
                h.cmdline.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
            None => " by a process that could not be identified".to_string(),
        };
        return Err(RuntimeError::service(
            RuntimeErrorKind::PortTaken,
            &spec.name,
            format!("port {port} is already taken{holder}"),
        ));
    }
    Ok(())
}

/// After readiness, every listed port must be held by the service's own group: another
/// process winning the race for the port would answer in its place.
fn check_port_owners(spec: &ServiceSpec, pgid: u32) -> Result<(), RuntimeError> {
    for &port in &spec.ports {
        let Some(holder) = procfs::port_holder(port) else {
            continue;
        };
        if holder.pgrp.is_some_and(|g| g != pgid) {
            return Err(RuntimeError::service(
                RuntimeErrorKind::PortTaken,
                &spec.name,
                format!(
                    "port {port} answered, but it is held by pid {}{}, not by this service",
                    holder.pid,
                    holder
                        .cmdline
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

fn open_log(spec: &ServiceSpec, supervisor_pid: u32) -> Result<(PathBuf, File), RuntimeError> {
    let mut options = OpenOptions::new();
    options.append(true).read(true);
    let path = match &spec.log {
        Some(path) => {
            options.create(true);
            path.clone()
        }
        None => {
            options.create_new(true);
            std::env::temp_dir().join(format!(
                "auditwall-{}-{supervisor_pid}-{}.log",
                spec.name,
                unix_ms()
            ))
        }
    };
    let file = options
        .open(&path)
        .map_err(|e| RuntimeError::io("open log file", &path, &e))?;
    Ok((path, file))
}

fn spawn(spec: &ServiceSpec, log: &File, log_path: &Path) -> Result<Child, RuntimeError> {
    let stdout = log
        .try_clone()
        .map_err(|e| RuntimeError::io("share log file", log_path, &e))?;
    let stderr = log
        .try_clone()
        .map_err(|e| RuntimeError::io("share log file", log_path, &e))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    #[cfg(target_os = "linux")]
    set_parent_death_signal(&mut cmd)?;
    cmd.spawn().map_err(|err| {
        let program = spec.program.display();
        let (kind, message) = match err.kind() {
            io::ErrorKind::NotFound if spec.program.components().count() > 1 => (
                RuntimeErrorKind::MissingProgram,
                format!("program `{program}` does not exist"),
            ),
            io::ErrorKind::NotFound => (
                RuntimeErrorKind::MissingProgram,
                format!("program `{program}` was not found on PATH"),
            ),
            io::ErrorKind::PermissionDenied => (
                RuntimeErrorKind::MissingProgram,
                format!("program `{program}` is not executable"),
            ),
            _ => (
                RuntimeErrorKind::Io,
                format!("cannot start program `{program}`: {err}"),
            ),
        };
        RuntimeError::service(kind, &spec.name, message)
    })
}

/// The kernel sends SIGTERM to the service when the supervisor *thread* that forked it exits,
/// so a SIGKILLed supervisor cannot leave its services running. It reaches the group leader
/// only; grandchildren that ignore their parent's death are left for `down` to find through
/// the state file.
#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) -> Result<(), RuntimeError> {
    let parent = libc::pid_t::try_from(std::process::id()).map_err(|_| {
        RuntimeError::new(RuntimeErrorKind::Io, "supervisor pid does not fit a pid_t")
    })?;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (prctl, getppid) and builds errors without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // If the supervisor died between fork and prctl, the signal was never armed.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    Ok(())
}

fn wait_ready(
    spec: &ServiceSpec,
    child: &mut Child,
    log_path: &Path,
    log_offset: u64,
) -> Result<(), RuntimeError> {
    let name = spec.name.as_str();
    let http: Option<HttpTarget> = match &spec.ready {
        Readiness::HttpOk { url } => Some(
            readiness::parse_loopback_url(url)
                .map_err(|m| RuntimeError::service(RuntimeErrorKind::InvalidSpec, name, m))?,
        ),
        _ => None,
    };
    let started = Instant::now();
    let deadline = started + spec.ready_timeout;
    let mut closed_ports: Vec<u16> = spec.ports.clone();
    let mut check_passed = matches!(spec.ready, Readiness::None);
    let mut last_http: Option<Result<u16, String>> = None;
    let exited = |child: &mut Child| -> Result<Option<ExitStatus>, RuntimeError> {
        child.try_wait().map_err(|e| {
            RuntimeError::service(
                RuntimeErrorKind::Io,
                name,
                format!("cannot wait for pid {}: {e}", child.id()),
            )
        })
    };
    loop {
        if let Some(status) = exited(child)? {
            return Err(exited_early(name, status, log_path, log_offset));
        }
        let attempt = deadline
            .saturating_duration_since(Instant::now())
            .clamp(POLL, ATTEMPT);
        closed_ports.retain(|&p| !readiness::tcp_open(loopback(p), attempt));
        if !check_passed {
            match (&spec.ready, &http) {
                (Readiness::TcpConnect { addr }, _) => {
                    check_passed = readiness::tcp_open(*addr, attempt);
                }
                (Readiness::HttpOk { .. }, Some(target)) => {
                    let result = readiness::http_status(target, attempt);
                    check_passed = matches!(result, Ok(200..=299));
                    last_http = Some(result);
                }
                _ => {}
            }
        }
        if closed_ports.is_empty() && check_passed {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
    // It may have died while the last attempt ran; that is the more useful report.
    if let Some(status) = exited(child)? {
        return Err(exited_early(name, status, log_path, log_offset));
    }
    let within = fmt_duration(spec.ready_timeout);
    let message = match (closed_ports.first(), &spec.ready, last_http) {
        (Some(port), _, _) => format!("port {port} never opened within {within}"),
        (None, Readiness::TcpConnect { addr }, _) if addr.ip() == Ipv4Addr::LOCALHOST => {
            format!("port {} never opened within {within}", addr.port())
        }
        (None, Readiness::TcpConnect { addr }, _) => {
            format!("{addr} never accepted a connection within {within}")
        }
        (None, Readiness::HttpOk { url }, Some(Ok(code))) => {
            format!("readiness check GET {url} returned {code} for {within}")
        }
        (None, Readiness::HttpOk { url }, Some(Err(reason))) => format!(
            "readiness check GET {url} got no answer within {within} (last error: {reason})"
        ),
        (None, _, _) => format!("was not ready within {within}"),
    };
    Err(RuntimeError::service(
        RuntimeErrorKind::NotReady,
        name,
        message,
    ))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

fn exited_early(name: &str, status: ExitStatus, log_path: &Path, offset: u64) -> RuntimeError {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited early with status {code}"),
        (None, Some(signal)) => format!("exited early, killed by signal {signal}"),
        (None, None) => "exited early".to_string(),
    };
    let tail = log_tail(log_path, offset);
    let message = if tail.is_empty() {
        format!("{how}; it wrote nothing to {}", log_path.display())
    } else {
        format!(
            "{how}; last log lines ({}):\n  {}",
            log_path.display(),
            tail.join("\n  ")
        )
    };
    RuntimeError::service(RuntimeErrorKind::ExitedEarly, name, message)
}

/// The last lines this run of the service wrote (the log is appended across runs, so only
/// bytes after `offset` count).
fn log_tail(path: &Path, offset: u64) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let end = file.metadata().map(|m| m.len()).unwrap_or(offset);
    let from = offset.max(end.saturating_sub(TAIL_BYTES));
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err()
        || file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect())
        .collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec()
}

fn stop_group(entry: &mut Entry) -> Result<StopOutcome, RuntimeError> {
    let pgid = entry.record.pgid;
    let grace = Duration::from_millis(entry.record.stop_grace_ms);
    signal_group(pgid, libc::SIGTERM).map_err(|e| signal_error(entry, "SIGTERM", &e))?;
    // A paused group cannot act on SIGTERM until it runs again.
    signal_group(pgid, libc::SIGCONT).map_err(|e| signal_error(entry, "SIGCONT", &e))?;
    if wait_group_gone(pgid, entry.child.as_mut(), grace) {
        return Ok(StopOutcome::Graceful);
    }
    signal_group(pgid, libc::SIGKILL).map_err(|e| signal_error(entry, "SIGKILL", &e))?;
    if wait_group_gone(pgid, entry.child.as_mut(), KILL_WAIT) {
        Ok(StopOutcome::KilledAfterGrace)
    } else {
        Err(survivors_error(entry))
    }
}

/// Signal every process in the group. A group that no longer exists is not an error: there
/// is nothing left to signal.
fn signal_group(pgid: u32, signal: libc::c_int) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pgid does not fit a pid_t"))?;
    if pgid <= 1 {
        // kill(-1 or -0) would signal far more than one service; a record saying so is corrupt.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal process group 0 or 1",
        ));
    }
    // SAFETY: plain system call; a negative pid addresses exactly one process group.
    if unsafe { libc::kill(-pgid, signal) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

fn group_empty(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        procfs::group_members(pgid).is_empty()
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Without /proc the group exists while kill(-pgid, 0) finds a member.
        libc::pid_t::try_from(pgid)
            // SAFETY: signal 0 only checks that the group exists.
            .map(|g| unsafe { libc::kill(-g, 0) } != 0)
            .unwrap_or(true)
    }
}

/// Poll until no live process is left in the group, reaping the leader if we are its
/// parent. Returns false if members remain after `timeout`.
fn wait_group_gone(pgid: u32, mut child: Option<&mut Child>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        reap(child.as_deref_mut());
        if group_empty(pgid) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Poll until every member of the group is stopped (`stopped == true`) or none is.
fn wait_group_state(pgid: u32, stopped: bool) -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let deadline = Instant::now() + STOP_CONT_WAIT;
    loop {
        let done = procfs::group_members(pgid)
            .iter()
            .filter_map(|&p| procfs::stat(p))
            .all(|s| (s.state == 'T') == stopped);
        if done {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

fn reap(child: Option<&mut Child>) {
    if let Some(child) = child {
        let _ = child.try_wait();
    }
}

fn signal_error(entry: &Entry, signal: &str, err: &io::Error) -> RuntimeError {
    RuntimeError::service(
        RuntimeErrorKind::Signal,
        &entry.record.name,
        format!(
            "cannot send {signal} to process group {}: {err}",
            entry.record.pgid
        ),
    )
}

fn survivors_error(entry: &Entry) -> RuntimeError {
    let survivors: Vec<String> = procfs::group_members(entry.record.pgid)
        .iter()
        .map(u32::to_string)
        .collect();
    RuntimeError::service(
        RuntimeErrorKind::Signal,
        &entry.record.name,
        format!(
            "process group {} still has live members after SIGKILL: {}",
            entry.record.pgid,
            survivors.join(", ")
        ),
    )
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `5s`, `250ms`, `1.5s`: how timeouts appear in messages.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if ms % 1000 == 0 {
        return format!("{}s", ms / 1000);
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
    format!("{}s", secs.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        let cases = [
            (0, "0s"),
            (5, "5ms"),
            (250, "250ms"),
            (1000, "1s"),
            (1500, "1.5s"),
            (1250, "1.25s"),
            (60_000, "60s"),
        ];
        for (ms, text) in cases {
            assert_eq!(fmt_duration(Duration::from_millis(ms)), text);
        }
    }

    #[test]
    fn invalid_specs_are_named() {
        let mut spec = ServiceSpec::new("bad name", "/bin/true");
        assert_eq!(
            validate(&spec).unwrap_err().to_string(),
            "service name `bad name` must be non-empty and use only letters, digits, `-`, `_` and `.` (not first)"
        );
        spec.name = "web".into();
        spec.ready = Readiness::TcpConnect {
            addr: "10.1.2.3:80".parse().unwrap(),
        };
        assert_eq!(
            validate(&spec).unwrap_err().to_string(),
            "service web: readiness address 10.1.2.3:80 is not on loopback (127.0.0.0/8, ::1)"
        );
        spec.ready = Readiness::HttpOk {
            url: "http://192.168.1.2/".into(),
        };
        assert_eq!(
            validate(&spec).unwrap_err().to_string(),
            "service web: readiness URL `http://192.168.1.2/` is not on loopback (127.0.0.0/8, ::1, localhost)"
        );
        spec.ready = Readiness::None;
        spec.ports = vec![0];
        assert_eq!(
            validate(&spec).unwrap_err().to_string(),
            "service web: port 0 cannot be owned; name the real port"
        );
        spec.ports = vec![];
        spec.cwd = Some("/nonexistent/auditwall/dir".into());
        let err = validate(&spec).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::InvalidSpec);
        assert_eq!(
            err.to_string(),
            "service web: working directory /nonexistent/auditwall/dir does not exist"
        );
    }
}
