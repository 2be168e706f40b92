//! The reference system as a whole: render its canonical configs into a deployed directory,
//! start every service as a process of the current executable, and stop them all.
//!
//! Owns: the system's layout on disk (deployed configs, logs, state), port choice, the
//! service specs, the pid files, the fault proxy between the router and model-primary, the
//! live profile layer that tells a wall where the system listens, and the entry point a
//! service process runs ([`serve_from_env`]).
//!
//! **Pid files.** `<run_dir>/<service>.pid` holds the pid of the service's current process:
//! written (atomically) on every start — first start, restart by the watchdog, `fault none`,
//! start through the control API — and removed when the service is stopped, so it never
//! names a process this system stopped (whose pid the kernel may hand to another program).
//! Must not touch: checks, verdicts or output.
//!
//! The router reaches model-primary through a [`FaultProxy`] on the `primary-proxy` port,
//! run by whoever owns the [`ReferenceSystem`] (a thread of that process, so it cannot
//! outlive it). The proxy breaks the network path alone: model-primary itself stays healthy,
//! and the watchdog keeps probing it directly.
//!
//! A service process is this same executable started with `AUDITWALL_SERVE=<service>`,
//! `AUDITWALL_SERVE_CONFIG=<file>` and `AUDITWALL_SERVE_LISTEN=<addr>`: any binary that calls
//! [`serve_from_env`] first thing in `main` (the CLI and the suite test targets do) can host
//! the reference system without a second binary to find or build.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auditwall_reference::watchdog::MAX_RESTART_ATTEMPTS;
use auditwall_reference::{hub, model, router, templates};
use auditwall_spec::{parse_document, SourceFile};

use crate::proxy::{FaultProxy, Mode};
use crate::readiness::{http_request, parse_loopback_url};
use crate::{Readiness, RuntimeError, RuntimeErrorKind, ServiceManager, ServiceSpec, Supervisor};

/// The services of the reference system, in start order (backends before the router).
pub const SERVICES: [&str; 4] = ["model-primary", "model-fallback", "hub", "router"];

/// The port of the fault proxy the router reaches model-primary through.
pub const PRIMARY_PROXY: &str = "primary-proxy";

const ENV_SERVE: &str = "AUDITWALL_SERVE";
const ENV_CONFIG: &str = "AUDITWALL_SERVE_CONFIG";
const ENV_LISTEN: &str = "AUDITWALL_SERVE_LISTEN";

/// Where one running reference system keeps its files.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// Deployed configs, rendered from the canonical templates.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// One `<service>.pid` per service, for port-owner and process probes.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }
}

/// The loopback port of each service, plus the primary's fault proxy and the supervisor's
/// watchdog and control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(pub BTreeMap<String, u16>);

impl Ports {
    /// Free ports chosen by the OS, so several systems (parallel tests) never collide.
    ///
    /// Ports come from below the kernel's ephemeral range: a port in that range can be taken
    /// by any outgoing connection while its service is down for a restart, and the restart
    /// then finds it "in use".
    pub fn free() -> Result<Ports, RuntimeError> {
        let (low, high) = candidate_range();
        let span = u32::from(high - low);
        // Spread parallel systems (tests) over the range; the bind below decides.
        let seed = std::process::id().wrapping_mul(2_654_435_761)
            ^ SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
        let mut ports = BTreeMap::new();
        // Hold every listener until all are chosen so no two services get the same port.
        let mut held = Vec::new();
        let mut next = seed % span;
        for service in SERVICES
            .iter()
            .chain([PRIMARY_PROXY, "watchdog", "control"].iter())
        {
            let mut tries = 0;
            let (listener, port) = loop {
                let port = low + (next % span) as u16;
                next = next.wrapping_add(1);
                if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                    break (listener, port);
                }
                tries += 1;
                if tries >= span {
                    return Err(RuntimeError::service(
                        RuntimeErrorKind::Io,
                        service,
                        format!("cannot pick a free port: every port in {low}..{high} is in use"),
                    ));
                }
            };
            ports.insert(service.to_string(), port);
            held.push(listener);
        }
        Ok(Ports(ports))
    }

    pub fn get(&self, service: &str) -> u16 {
        self.0.get(service).copied().unwrap_or(0)
    }
}

/// `[low, high)` of ports to choose from: 20000 up to the start of the ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`, 32768 when unreadable).
fn candidate_range() -> (u16, u16) {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    if ephemeral_start > 20_100 {
        (20_000, ephemeral_start)
    } else {
        // An unusual kernel setting: fall back to a range above the usual ephemeral one.
        (61_000, 65_000)
    }
}

/// Template and profile key for a service: `model-primary` → `model_primary`.
fn key(service: &str) -> String {
    service.replace('-', "_")
}

/// The reference system's fault modes: each a real defect that a naive wall misses
/// (DESIGN.md §8). `None` clears every fault and restores the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// model-primary: health stays 200 while chat hangs.
    HangChat,
    /// model-fallback answers arithmetic wrongly.
    WrongAnswer,
    /// hub answers 200/202 with `{"success": false}`.
    SuccessFalse,
    /// hub: goodnight reports success but leaves the front door unlocked.
    GoodnightNoLock,
    /// router's deployed config silently drifts from the canonical template.
    ConfigDrift,
    /// model-fallback is killed and crashes on every restart.
    CrashLoop,
    /// another process takes over the hub's port (and answers like a hub).
    PortHijack,
    /// the services' binary on disk is replaced: the running processes are stale.
    StaleBinary,
    /// the router serves every chat from model-fallback (answers stay right): the path to
    /// model-primary refuses connections while model-primary itself is healthy.
    SilentFailover,
    /// hub: a seam bug. goodnight toggles each door instead of locking it, so each action is
    /// right on its own but `lock door.front` then goodnight leaves the front door unlocked.
    SeamBug,
    /// hub: actions and goodnight answer success (with the state they would have produced)
    /// and change nothing — the negative control of every L4 "it changed" claim.
    LostWrites,
    /// hub: every command also moves the thermostat's current reading by half a degree — the
    /// negative control of every "nothing else changed" claim.
    Crosstalk,
    /// A service stops and is held down against the watchdog until `none`: the plainest
    /// outage, the negative control of every health and state probe. Down, model-fallback
    /// leaves failover nowhere to go (the failover drills' negative control).
    PrimaryDown,
    RouterDown,
    HubDown,
    FallbackDown,
    /// The hub keeps running, but the watchdog can never start it again (a broken unit
    /// file); an explicit start through the control API still works. The negative control
    /// of the hub's self-heal drill.
    HubUnrestartable,
    /// The watchdog restarts a failing service forever instead of marking it BLOCKED after
    /// [`auditwall_reference::watchdog::MAX_RESTART_ATTEMPTS`]: a silent restart loop. Acts
    /// on the next watchdog started (the daemon starts a fresh one after every fault).
    WatchdogNeverGivesUp,
    /// model-primary is a single-slot server: a later `hang-chat` holds its health (and
    /// `/v1/models`) too. Alone it changes nothing visible. The negative control of the
    /// lying-health drill.
    PrimarySingleSlot,
}

impl Fault {
    pub const ALL: [Fault; 20] = [
        Fault::None,
        Fault::HangChat,
        Fault::WrongAnswer,
        Fault::SuccessFalse,
        Fault::GoodnightNoLock,
        Fault::ConfigDrift,
        Fault::CrashLoop,
        Fault::PortHijack,
        Fault::StaleBinary,
        Fault::SilentFailover,
        Fault::SeamBug,
        Fault::LostWrites,
        Fault::Crosstalk,
        Fault::PrimaryDown,
        Fault::RouterDown,
        Fault::HubDown,
        Fault::FallbackDown,
        Fault::HubUnrestartable,
        Fault::WatchdogNeverGivesUp,
        Fault::PrimarySingleSlot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::HangChat => "hang-chat",
            Fault::WrongAnswer => "wrong-answer",
            Fault::SuccessFalse => "success-false",
            Fault::GoodnightNoLock => "goodnight-no-lock",
            Fault::ConfigDrift => "config-drift",
            Fault::CrashLoop => "crash-loop",
            Fault::PortHijack => "port-hijack",
            Fault::StaleBinary => "stale-binary",
            Fault::SilentFailover => "silent-failover",
            Fault::SeamBug => "seam-bug",
            Fault::LostWrites => "lost-writes",
            Fault::Crosstalk => "crosstalk",
            Fault::PrimaryDown => "primary-down",
            Fault::RouterDown => "router-down",
            Fault::HubDown => "hub-down",
            Fault::FallbackDown => "fallback-down",
            Fault::HubUnrestartable => "hub-unrestartable",
            Fault::WatchdogNeverGivesUp => "watchdog-never-gives-up",
            Fault::PrimarySingleSlot => "primary-single-slot",
        }
    }

    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What a start or stop through [`ReferenceSystem::start_service`] /
/// [`ReferenceSystem::stop_service`] did; the control API answers with it as JSON:
/// `{"service": "model-primary", "state": "running", "already": false, "pid": 4242}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceChange {
    pub service: String,
    pub state: RunState,
    /// The service was already in that state; nothing was done.
    pub already: bool,
    /// The running process (`null` once stopped).
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Stopped,
}

/// One service in `GET /services`: `{"name", "pid", "running", "port"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSummary {
    pub name: String,
    /// The pid the supervisor started, from start until the service is stopped (a crashed
    /// service keeps its pid, with `running: false`, until it is restarted); `null` when
    /// stopped.
    pub pid: Option<u32>,
    pub running: bool,
    pub port: u16,
}

const BINARY: &str = "auditwall-reference";
const IMPOSTOR: &str = "hub-impostor";
const ENV_FAULT: &str = "AUDITWALL_SERVE_FAULT";

/// A started reference system. Dropping it stops it (the supervisor's own drop); call
/// [`ReferenceSystem::stop`] to see errors.
pub struct ReferenceSystem {
    supervisor: Supervisor,
    pub layout: Layout,
    pub ports: Ports,
    /// The binary every service runs: a link to (or copy of) the supervisor's executable
    /// inside the layout, so the stale-binary fault can replace it without touching the
    /// real one.
    exe: PathBuf,
    source_exe: PathBuf,
    crash_loop: bool,
    /// Services whose restarts (the watchdog's) are refused until `none`, with the reason
    /// given: a `*-down` fault keeps its service down, `hub-unrestartable` keeps the hub from
    /// coming back once it dies. Explicit starts ([`ReferenceSystem::start_service`]) are
    /// not refused.
    unrestartable: BTreeMap<String, &'static str>,
    /// `primary-single-slot`: `hang-chat` holds model-primary's health too.
    primary_single_slot: bool,
    /// `watchdog-never-gives-up`, shared with whoever runs the watchdog (the daemon's io
    /// thread), which reads it each time it starts a fresh one.
    watchdog_never_gives_up: Arc<AtomicBool>,
    primary_proxy: FaultProxy,
}

impl ReferenceSystem {
    /// Renders configs, then starts every service and waits until each is ready. On any
    /// failure everything already started is stopped again.
    pub fn start(
        source_exe: &Path,
        layout: Layout,
        ports: Ports,
    ) -> Result<ReferenceSystem, RuntimeError> {
        for dir in [
            layout.config_dir(),
            layout.logs_dir(),
            layout.run_dir(),
            layout.bin_dir(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create", &dir, &e))?;
        }
        render_configs(&layout, &ports)?;
        let exe = layout.bin_dir().join(BINARY);
        install_binary(source_exe, &exe)?;
        let supervisor = Supervisor::new(layout.state_file())?;
        // Before the router, which connects through it; model-primary need not be up yet.
        let primary_proxy = FaultProxy::start(
            SocketAddr::from(([127, 0, 0, 1], ports.get(PRIMARY_PROXY))),
            SocketAddr::from(([127, 0, 0, 1], ports.get("model-primary"))),
        )?;
        let mut system = ReferenceSystem {
            supervisor,
            layout,
            ports,
            exe,
            source_exe: source_exe.to_path_buf(),
            crash_loop: false,
            unrestartable: BTreeMap::new(),
            primary_single_slot: false,
            watchdog_never_gives_up: Arc::new(AtomicBool::new(false)),
            primary_proxy,
        };
        for service in SERVICES {
            if let Err(e) = system.spawn_service(service) {
                let _ = system.supervisor.down();
                return Err(e);
            }
        }
        Ok(system)
    }

    /// Starts `service` (not running) and records its pid in `<run_dir>/<service>.pid`.
    fn spawn_service(&mut self, service: &str) -> Result<u32, RuntimeError> {
        let mut spec = service_spec(&self.exe, &self.layout, &self.ports, service);
        if self.crash_loop && service == "model-fallback" {
            spec.env.push((ENV_FAULT.to_string(), "crash".to_string()));
        }
        let handle = self.supervisor.start(spec)?;
        let pid_file = self.pid_file(service);
        // Renamed into place, so a drill reading the file never sees it half written.
        let tmp = pid_file.with_extension("pid.tmp");
        std::fs::write(&tmp, format!("{}\n", handle.pid))
            .map_err(|e| RuntimeError::io("write", &tmp, &e))?;
        std::fs::rename(&tmp, &pid_file).map_err(|e| RuntimeError::io("rename", &pid_file, &e))?;
        Ok(handle.pid)
    }

    fn pid_file(&self, service: &str) -> PathBuf {
        self.layout.run_dir().join(format!("{service}.pid"))
    }

    /// Stops `service` if the supervisor has it on record, and removes its pid file (a
    /// stale one could name a pid reused by another program). True if it was not running.
    fn halt(&mut self, service: &str) -> Result<bool, RuntimeError> {
        let recorded = self
            .supervisor
            .status()
            .iter()
            .any(|s| s.service.name == service);
        let already = !recorded
            || matches!(
                self.supervisor.stop(service)?,
                crate::StopOutcome::AlreadyGone
            );
        let pid_file = self.pid_file(service);
        match std::fs::remove_file(&pid_file) {
            Ok(()) => Ok(already),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(already),
            Err(e) => Err(RuntimeError::io("remove", &pid_file, &e)),
        }
    }

    fn known(service: &str) -> Result<(), RuntimeError> {
        if SERVICES.contains(&service) {
            Ok(())
        } else {
            Err(RuntimeError::service(
                RuntimeErrorKind::UnknownService,
                service,
                format!("not a reference service (known: {})", SERVICES.join(", ")),
            ))
        }
    }

    /// Stops (if running) and starts a service again; used by the watchdog.
    pub fn restart(&mut self, service: &str) -> Result<(), RuntimeError> {
        Self::known(service)?;
        if let Some(reason) = self.unrestartable.get(service) {
            return Err(RuntimeError::service(
                RuntimeErrorKind::Io,
                service,
                format!("{reason} (clear it with `auditwall fault none`)"),
            ));
        }
        self.halt(service)?;
        self.spawn_service(service).map(|_| ())
    }

    /// Stops one service (its whole process group) and removes its pid file. Stopping a
    /// service that is not running is not an error: `already` says so.
    pub fn stop_service(&mut self, service: &str) -> Result<ServiceChange, RuntimeError> {
        Self::known(service)?;
        let already = self.halt(service)?;
        Ok(ServiceChange {
            service: service.to_string(),
            state: RunState::Stopped,
            already,
            pid: None,
        })
    }

    /// Starts one service unless it is running, waits until it is ready, and writes its pid
    /// file. A running service is left alone (`already`).
    pub fn start_service(&mut self, service: &str) -> Result<ServiceChange, RuntimeError> {
        Self::known(service)?;
        let running = self
            .supervisor
            .status()
            .into_iter()
            .find(|s| s.service.name == service && s.alive);
        let (pid, already) = match running {
            Some(status) => (status.service.pid, true),
            None => (self.spawn_service(service)?, false),
        };
        Ok(ServiceChange {
            service: service.to_string(),
            state: RunState::Running,
            already,
            pid: Some(pid),
        })
    }

    /// Every reference service as the supervisor sees it now, in start order.
    pub fn services(&self) -> Vec<ServiceSummary> {
        let status = self.supervisor.status();
        SERVICES
            .iter()
            .map(|&name| {
                let recorded = status.iter().find(|s| s.service.name == name);
                ServiceSummary {
                    name: name.to_string(),
                    pid: recorded.map(|s| s.service.pid),
                    running: recorded.is_some_and(|s| s.alive),
                    port: self.ports.get(name),
                }
            })
            .collect()
    }

    /// Whether the watchdog must carry the `watchdog-never-gives-up` defect: set by that fault,
    /// cleared by `none`. Whoever runs the watchdog reads it when starting a fresh one.
    pub fn watchdog_never_gives_up(&self) -> Arc<AtomicBool> {
        self.watchdog_never_gives_up.clone()
    }

    /// The profile layer (YAML) that points a wall at this running system.
    pub fn profile_layer(&self) -> String {
        profile_layer(&self.ports, &self.layout)
    }

    /// Switches the fault proxy between the router and model-primary into `mode`; returns
    /// once new connections see it. [`Fault::None`] puts it back to [`Mode::Pass`].
    pub fn set_primary_proxy(&self, mode: Mode) -> Result<(), RuntimeError> {
        self.primary_proxy.set_mode(mode)
    }

    /// Switches a fault mode on (or, with [`Fault::None`], everything off again).
    pub fn apply(&mut self, fault: Fault) -> Result<String, RuntimeError> {
        match fault {
            Fault::None => self.clear(),
            Fault::HangChat if self.primary_single_slot => self.admin("model-primary", "hang_all"),
            Fault::HangChat => self.admin("model-primary", "hang_chat"),
            Fault::WrongAnswer => self.admin("model-fallback", "wrong_answer"),
            Fault::SuccessFalse => self.admin("hub", "success_false"),
            Fault::GoodnightNoLock => self.admin("hub", "goodnight_no_lock"),
            Fault::SeamBug => self.admin("hub", "seam"),
            Fault::LostWrites => self.admin("hub", "lost_writes"),
            Fault::Crosstalk => self.admin("hub", "crosstalk"),
            Fault::PrimaryDown | Fault::RouterDown | Fault::HubDown | Fault::FallbackDown => {
                let service = match fault {
                    Fault::PrimaryDown => "model-primary",
                    Fault::RouterDown => "router",
                    Fault::FallbackDown => "model-fallback",
                    _ => "hub",
                };
                self.stop_service(service)?;
                self.unrestartable
                    .insert(service.to_string(), "held down by a fault");
                Ok(format!("{service} stopped and held down until `none`"))
            }
            Fault::HubUnrestartable => {
                self.unrestartable.insert(
                    "hub".to_string(),
                    "cannot be started again: its unit is broken (fault hub-unrestartable)",
                );
                Ok(
                    "hub keeps running; the watchdog can no longer start it again \
                    (an explicit start still can) until `none`"
                        .into(),
                )
            }
            Fault::WatchdogNeverGivesUp => {
                self.watchdog_never_gives_up.store(true, Ordering::SeqCst);
                Ok(format!(
                    "the watchdog now restarts a failing service forever instead of marking \
                     it BLOCKED after {MAX_RESTART_ATTEMPTS} attempts, until `none`"
                ))
            }
            Fault::PrimarySingleSlot => {
                self.primary_single_slot = true;
                Ok(
                    "model-primary is single-slot: a `hang-chat` now holds its health too, \
                    until `none`"
                        .into(),
                )
            }
            Fault::ConfigDrift => {
                // A realistic silent drift: someone shortened the primary's timeout by hand.
                let path = self.layout.config_dir().join("router.yaml");
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| RuntimeError::io("read", &path, &e))?;
                let drifted = text.replacen("timeout_ms: 5000", "timeout_ms: 50", 1);
                std::fs::write(&path, drifted).map_err(|e| RuntimeError::io("write", &path, &e))?;
                Ok(format!(
                    "{} drifted: primary timeout_ms 5000 -> 50",
                    path.display()
                ))
            }
            Fault::CrashLoop => {
                self.crash_loop = true;
                self.supervisor.kill("model-fallback")?;
                Ok("model-fallback killed; every restart now crashes on its first request".into())
            }
            Fault::PortHijack => {
                self.halt("hub")?;
                let mut spec = service_spec(&self.exe, &self.layout, &self.ports, "hub");
                spec.name = IMPOSTOR.to_string();
                spec.log = Some(self.layout.logs_dir().join(format!("{IMPOSTOR}.log")));
                self.supervisor.start(spec)?;
                Ok(format!(
                    "hub stopped; another process now owns port {}",
                    self.ports.get("hub")
                ))
            }
            Fault::StaleBinary => {
                let fresh = self.exe.with_extension("new");
                std::fs::copy(&self.source_exe, &fresh)
                    .map_err(|e| RuntimeError::io("copy to", &fresh, &e))?;
                std::fs::rename(&fresh, &self.exe)
                    .map_err(|e| RuntimeError::io("replace", &self.exe, &e))?;
                Ok(format!(
                    "{} replaced on disk; running services are stale",
                    self.exe.display()
                ))
            }
            Fault::SilentFailover => {
                self.set_primary_proxy(Mode::Refuse)?;
                Ok(format!(
                    "{PRIMARY_PROXY} (port {}) refuses connections: the router now serves \
                     every chat from model-fallback while model-primary stays healthy",
                    self.ports.get(PRIMARY_PROXY)
                ))
            }
        }
    }

    fn admin(&self, service: &str, mode: &str) -> Result<String, RuntimeError> {
        let url = format!("http://127.0.0.1:{}/admin/fault", self.ports.get(service));
        let target = parse_loopback_url(&url)
            .map_err(|e| RuntimeError::service(RuntimeErrorKind::Io, service, e))?;
        let body = format!("{{\"mode\":\"{mode}\"}}");
        match http_request(&target, "POST", Some(&body), Duration::from_secs(5)) {
            Ok((200, _)) => Ok(format!("{service}: fault {mode}")),
            Ok((status, text)) => Err(RuntimeError::service(
                RuntimeErrorKind::Io,
                service,
                format!("POST {url} answered {status}: {text}"),
            )),
            Err(e) => Err(RuntimeError::service(
                RuntimeErrorKind::Io,
                service,
                format!("POST {url}: {e}"),
            )),
        }
    }

    /// Restores everything: deployed configs, the binary, the hub's port, the primary's proxy,
    /// fault modes, and restarts whatever a fault left dead or stale.
    fn clear(&mut self) -> Result<String, RuntimeError> {
        render_configs(&self.layout, &self.ports)?;
        self.set_primary_proxy(Mode::Pass)?;
        self.crash_loop = false;
        self.unrestartable.clear();
        self.primary_single_slot = false;
        self.watchdog_never_gives_up.store(false, Ordering::SeqCst);
        let mut restarted = Vec::new();
        if self
            .supervisor
            .status()
            .iter()
            .any(|s| s.service.name == IMPOSTOR)
        {
            self.supervisor.stop(IMPOSTOR)?;
        }
        let stale = !same_file(&self.source_exe, &self.exe);
        if stale {
            install_binary(&self.source_exe, &self.exe)?;
        }
        for service in SERVICES {
            let running = self
                .supervisor
                .status()
                .into_iter()
                .find(|s| s.service.name == service)
                .is_some_and(|s| s.alive);
            if stale || !running {
                self.restart(service)?;
                restarted.push(service);
            }
        }
        for (service, mode) in [
            ("model-primary", "none"),
            ("model-fallback", "none"),
            ("hub", "none"),
        ] {
            self.admin(service, mode)?;
        }
        Ok(if restarted.is_empty() {
            "all faults cleared".into()
        } else {
            format!("all faults cleared; restarted {}", restarted.join(", "))
        })
    }

    /// Stops every service and the primary's proxy, and removes the state file.
    pub fn stop(mut self) -> Result<crate::DownReport, RuntimeError> {
        let down = self.supervisor.down();
        let proxy = self.primary_proxy.stop();
        let down = down?;
        proxy.map(|()| down)
    }
}

/// Hard-links the executable into the layout (cheap, same inode); copies across filesystems.
fn install_binary(source: &Path, dest: &Path) -> Result<(), RuntimeError> {
    let _ = std::fs::remove_file(dest);
    if std::fs::hard_link(source, dest).is_ok() {
        return Ok(());
    }
    std::fs::copy(source, dest)
        .map(|_| ())
        .map_err(|e| RuntimeError::io("copy to", dest, &e))
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

/// Writes each service's deployed config from its canonical template.
pub fn render_configs(layout: &Layout, ports: &Ports) -> Result<(), RuntimeError> {
    for (file_name, text) in rendered(ports, layout)? {
        let path = layout.config_dir().join(file_name);
        std::fs::write(&path, text).map_err(|e| RuntimeError::io("write", &path, &e))?;
    }
    Ok(())
}

/// The canonical configs for these ports and this layout, as (file name, text).
fn rendered(ports: &Ports, layout: &Layout) -> Result<Vec<(&'static str, String)>, RuntimeError> {
    let values = template_values(ports, layout);
    templates::TEMPLATES
        .iter()
        .map(|t| {
            templates::render(t.text, &values)
                .map(|text| (t.file_name, text))
                .map_err(|e| {
                    RuntimeError::service(
                        RuntimeErrorKind::Io,
                        t.service,
                        format!("template {}: {e}", t.file_name),
                    )
                })
        })
        .collect()
}

/// What the templates' placeholders stand for. Every name here must also be in
/// [`profile_layer`] with the same value, or the wall's calibration (which renders the same
/// templates from the profile) cannot render them or sees drift.
fn template_values(ports: &Ports, layout: &Layout) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = ports
        .0
        .iter()
        .map(|(service, port)| (format!("ports.{}", key(service)), port.to_string()))
        .collect();
    values.insert(
        "paths.run_dir".to_string(),
        layout.run_dir().display().to_string(),
    );
    values
}

fn service_spec(exe: &Path, layout: &Layout, ports: &Ports, service: &str) -> ServiceSpec {
    let port = ports.get(service);
    let listen = format!("127.0.0.1:{port}");
    let mut spec = ServiceSpec::new(service, exe);
    spec.env = vec![
        (ENV_SERVE.to_string(), service.to_string()),
        (
            ENV_CONFIG.to_string(),
            layout
                .config_dir()
                .join(format!("{service}.yaml"))
                .display()
                .to_string(),
        ),
        (ENV_LISTEN.to_string(), listen.clone()),
    ];
    spec.ports = vec![port];
    spec.ready = Readiness::HttpOk {
        url: format!("http://{listen}/health"),
    };
    spec.ready_timeout = Duration::from_secs(10);
    spec.stop_grace = Duration::from_secs(3);
    spec.log = Some(layout.logs_dir().join(format!("{service}.log")));
    spec
}

/// The live profile layer: ports, endpoints, where the deployed configs, pid files and the
/// services' binary are, and `paths.run_dir` (the templates' name for the run directory).
pub fn profile_layer(ports: &Ports, layout: &Layout) -> String {
    let mut yaml = String::from("ports:\n");
    for (service, port) in &ports.0 {
        yaml.push_str(&format!("  {}: {port}\n", key(service)));
    }
    yaml.push_str("endpoints:\n");
    for (service, port) in &ports.0 {
        yaml.push_str(&format!(
            "  {}: \"http://127.0.0.1:{port}\"\n",
            key(service)
        ));
    }
    let quote = |p: PathBuf| format!("{:?}", p.display().to_string());
    yaml.push_str("reference:\n");
    yaml.push_str(&format!("  config_dir: {}\n", quote(layout.config_dir())));
    yaml.push_str(&format!("  run_dir: {}\n", quote(layout.run_dir())));
    yaml.push_str(&format!(
        "  exe: {}\n",
        quote(layout.bin_dir().join(BINARY))
    ));
    yaml.push_str("paths:\n");
    yaml.push_str(&format!("  run_dir: {}\n", quote(layout.run_dir())));
    yaml
}

/// If this process was started as a reference service, serve it and return the process exit
/// code; otherwise return `None` at once. Call it first thing in `main`.
pub fn serve_from_env() -> Option<i32> {
    if let Some(dir) = std::env::var_os(crate::daemon::ENV_SUPERVISE) {
        return Some(crate::daemon::run(Path::new(&dir)));
    }
    let service = std::env::var(ENV_SERVE).ok()?;
    Some(match serve(&service) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("auditwall reference service {service}: {message}");
            1
        }
    })
}

fn serve(service: &str) -> Result<i32, String> {
    let config_path = std::env::var(ENV_CONFIG).map_err(|_| format!("{ENV_CONFIG} is not set"))?;
    let listen: SocketAddr = std::env::var(ENV_LISTEN)
        .map_err(|_| format!("{ENV_LISTEN} is not set"))?
        .parse()
        .map_err(|e| format!("{ENV_LISTEN}: {e}"))?;
    let text = std::fs::read_to_string(&config_path).map_err(|e| format!("{config_path}: {e}"))?;
    let src = SourceFile {
        path: config_path.clone(),
        text,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    if service == "hub" {
        // Every blocking task of the hub holds its one lock, so a second pool thread only
        // waits; and pool threads that come and go each leave the allocator an arena to grow
        // (the hub's RSS stepped up over a 30-minute exercise; docs/performance.md).
        builder.max_blocking_threads(1);
    }
    let runtime = builder
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        match service {
            "model-primary" | "model-fallback" => {
                let mut config: model::ModelConfig =
                    parse_document(&src).map_err(|e| e.to_string())?;
                if std::env::var(ENV_FAULT).is_ok_and(|f| f == "crash") {
                    config.fault = model::ModelFault::Crash;
                }
                match model::serve(config, listener)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    model::ServeExit::Crash => Ok(1),
                }
            }
            "router" => {
                let config: router::RouterConfig =
                    parse_document(&src).map_err(|e| e.to_string())?;
                match router::serve(config, listener).await {
                    Ok(never) => match never {},
                    Err(e) => Err(e.to_string()),
                }
            }
            "hub" => {
                let config: hub::HubConfig = parse_document(&src).map_err(|e| e.to_string())?;
                match hub::serve(config, listener).await {
                    Ok(never) => match never {},
                    Err(e) => Err(e.to_string()),
                }
            }
            other => Err(format!(
                "unknown reference service `{other}` (known: {})",
                SERVICES.join(", ")
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_mode_has_a_cli_name_that_parses_back() {
        let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "none",
                "hang-chat",
                "wrong-answer",
                "success-false",
                "goodnight-no-lock",
                "config-drift",
                "crash-loop",
                "port-hijack",
                "stale-binary",
                "silent-failover",
                "seam-bug",
                "lost-writes",
                "crosstalk",
                "primary-down",
                "router-down",
                "hub-down",
                "fallback-down",
                "hub-unrestartable",
                "watchdog-never-gives-up",
                "primary-single-slot",
            ]
        );
        for fault in Fault::ALL {
            assert_eq!(Fault::parse(fault.name()), Some(fault));
        }
        assert_eq!(Fault::parse("silent_failover"), None);
    }

    #[test]
    fn the_profile_layer_names_every_port_endpoint_and_path() {
        let ports = Ports(BTreeMap::from([
            ("model-primary".to_string(), 20001),
            ("router".to_string(), 20000),
        ]));
        let layout = Layout::new("/srv/aw \"ref\"");
        assert_eq!(
            profile_layer(&ports, &layout),
            "\
ports:
  model_primary: 20001
  router: 20000
endpoints:
  model_primary: \"http://127.0.0.1:20001\"
  router: \"http://127.0.0.1:20000\"
reference:
  config_dir: \"/srv/aw \\\"ref\\\"/config\"
  run_dir: \"/srv/aw \\\"ref\\\"/run\"
  exe: \"/srv/aw \\\"ref\\\"/bin/auditwall-reference\"
paths:
  run_dir: \"/srv/aw \\\"ref\\\"/run\"
"
        );
    }

    #[test]
    fn every_template_value_is_in_the_profile_layer_with_the_same_value() {
        let ports = Ports(BTreeMap::from([
            ("hub".to_string(), 20003),
            ("primary-proxy".to_string(), 20004),
        ]));
        let layout = Layout::new("/srv/aw");
        let values = template_values(&ports, &layout);
        assert_eq!(
            values.keys().collect::<Vec<_>>(),
            ["paths.run_dir", "ports.hub", "ports.primary_proxy"]
        );
        let layer = profile_layer(&ports, &layout);
        for (name, value) in &values {
            let (section, leaf) = name.split_once('.').expect("dotted name");
            let line = format!("  {leaf}: {value}");
            let quoted = format!("  {leaf}: {value:?}");
            let header = format!("{section}:");
            let mut section_lines = layer
                .lines()
                .skip_while(|l| *l != header)
                .skip(1)
                .take_while(|l| l.starts_with("  "));
            assert!(
                section_lines.any(|l| l == line || l == quoted),
                "{name} = {value} missing from:\n{layer}"
            );
        }
    }
}
