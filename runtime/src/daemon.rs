//! The supervising process of one reference system: the only process that starts, restarts
//! and stops its services, hosts its watchdog, and applies its fault modes.
//!
//! Owns: spawning that process and waiting until the system is ready ([`spawn`]), finding a
//! running one ([`read_info`]), stopping it ([`stop`]), talking to it ([`fault`]), and its main
//! loop ([`run`]). Must not touch: checks, verdicts or output.
//!
//! Why one process: restarts must be done by the thread that forked the services (their
//! parent-death signal is tied to it), and fault modes such as a crash loop or a hijacked port
//! need the supervisor. The daemon's main thread owns the [`ReferenceSystem`]; a second thread
//! runs the async parts (watchdog, control API, signals, parent watch) and sends it commands.
//!
//! # Control API
//!
//! On `ports.control` (loopback), JSON in and out, errors as plain text. Each request is
//! done by the main thread, one at a time (watchdog restarts queue with them), and answered
//! within 60 s (else 504; the work may still finish).
//!
//! - `GET /health` → `ok`.
//! - `POST /fault {"mode": NAME}` → 200 with a sentence saying what was done; 400 naming the
//!   known modes. The watchdog is paused while a fault is applied. `none` clears everything:
//!   configs, binary, the hub's port, the primary's proxy (back to `pass`), fault modes, and
//!   restarts whatever is not running (services stopped through this API included).
//! - `POST /services/{name}/stop` → 200 `{"service", "state": "stopped", "already", "pid":
//!   null}` once the whole process group is gone and `<run_dir>/<name>.pid` is removed;
//!   `already` is true if it was not running. The watchdog is *not* paused: it sees the
//!   stopped service and restarts it, as a real watchdog would (drills measure that).
//! - `POST /services/{name}/start` → 200 `{"service", "state": "running", "already", "pid"}`
//!   once ready, with the pid file written; `already: true` (and its pid) when it was
//!   running.
//! - Both answer 404 `service NAME: not a reference service (known: model-primary, ...)`.
//! - `GET /services` → `[{"name", "pid" (number|null), "running", "port"}]`, every service
//!   in start order; `pid` is null once stopped, and stays set with `running: false` for a
//!   service that died until it is restarted.
//! - `POST /proxy {"mode": MODE}` → 200 `{"proxy": "primary-proxy", "mode": MODE}` (the
//!   mode as the proxy reads it back, e.g. `latency:250ms`) once new connections see it; 400
//!   with the proxy's own message listing the modes.
//!
//! Lifetime: a *private* daemon (for one `verify` or one trial) dies with the process that
//! spawned it (parent-death signal, and it watches that pid); a *detached* one (`auditwall
//! up`) runs in its own session until `auditwall down`, or until an optional watched pid exits
//! (the test runner, when suites share one system).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auditwall_reference::watchdog::{self, WatchdogConfig};
use auditwall_spec::{parse_document, SourceFile};

use crate::proxy::Mode;
use crate::readiness::{http_request, parse_loopback_url};
use crate::system::{
    Fault, Layout, Ports, ReferenceSystem, ServiceChange, ServiceSummary, PRIMARY_PROXY,
};
use crate::{process_alive, RuntimeError, RuntimeErrorKind};

pub(crate) const ENV_SUPERVISE: &str = "AUDITWALL_SUPERVISE";
const ENV_WATCH_PID: &str = "AUDITWALL_SUPERVISE_WATCH_PID";
const ENV_EPHEMERAL: &str = "AUDITWALL_SUPERVISE_EPHEMERAL";

/// What a running system publishes in `<dir>/system.json` once every service is ready.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemInfo {
    pub daemon_pid: u32,
    pub started_at_unix_ms: u64,
    /// Service name → loopback port (the watchdog and the control API included).
    pub ports: BTreeMap<String, u16>,
    pub root: PathBuf,
}

impl SystemInfo {
    fn path(dir: &Path) -> PathBuf {
        dir.join("system.json")
    }

    pub fn endpoint(&self, service: &str) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.ports.get(service).copied().unwrap_or(0)
        )
    }

    /// The profile layer (YAML) that points a wall at this system.
    pub fn profile_layer(&self) -> String {
        crate::system::profile_layer(&Ports(self.ports.clone()), &Layout::new(&self.root))
    }
}

/// How to start the supervising process.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// In its own session, surviving the caller (`auditwall up`); otherwise it dies with the
    /// thread that spawned it.
    pub detach: bool,
    /// The daemon shuts the system down when this pid exits.
    pub watch_pid: Option<u32>,
    pub ready_timeout: Duration,
    /// The supervisor removes `dir` when it has stopped everything.
    pub ephemeral: bool,
}

/// Starts a supervising process for a reference system in `dir` and waits until every
/// service is ready. On failure nothing is left running and the daemon's log tail is quoted.
pub fn spawn(exe: &Path, dir: &Path, opts: &SpawnOptions) -> Result<SystemInfo, RuntimeError> {
    if let Some(info) = read_info(dir)? {
        return Err(RuntimeError::new(
            RuntimeErrorKind::AlreadyRunning,
            format!("a reference system is already running from {} (pid {}); run `auditwall down` first", dir.display(), info.daemon_pid),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io("create", dir, &e))?;
    let _ = std::fs::remove_file(SystemInfo::path(dir));
    let log_path = dir.join("daemon.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| RuntimeError::io("create", &log_path, &e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| RuntimeError::io("open", &log_path, &e))?;
    let mut cmd = Command::new(exe);
    cmd.env(ENV_SUPERVISE, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    if let Some(pid) = opts.watch_pid {
        cmd.env(ENV_WATCH_PID, pid.to_string());
    }
    if opts.ephemeral {
        cmd.env(ENV_EPHEMERAL, "1");
    }
    let detach = opts.detach;
    // SAFETY: only async-signal-safe calls (setsid, prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if detach {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else {
                #[cfg(target_os = "linux")]
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::MissingProgram,
            format!("cannot start {}: {e}", exe.display()),
        )
    })?;
    let deadline = Instant::now() + opts.ready_timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(RuntimeError::new(
                RuntimeErrorKind::ExitedEarly,
                format!("the reference system's supervisor exited with {status}; last log lines ({}):\n{}", log_path.display(), tail(&log_path, 12)),
            ));
        }
        if let Ok(text) = std::fs::read_to_string(SystemInfo::path(dir)) {
            if let Ok(info) = serde_json::from_str::<SystemInfo>(&text) {
                if info.daemon_pid == child.id() {
                    return Ok(info);
                }
            }
        }
        if Instant::now() >= deadline {
            // SAFETY: plain kill(2) on the child we spawned; it stops its services on SIGTERM.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = wait_exit(&mut child, Duration::from_secs(10));
            return Err(RuntimeError::new(
                RuntimeErrorKind::NotReady,
                format!(
                    "the reference system was not ready within {:?}; last log lines ({}):\n{}",
                    opts.ready_timeout,
                    log_path.display(),
                    tail(&log_path, 12)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The running system in `dir`, if its supervising process is alive. A `system.json` left
/// by a dead supervisor is reported as stale (run `down` to clean up).
pub fn read_info(dir: &Path) -> Result<Option<SystemInfo>, RuntimeError> {
    let path = SystemInfo::path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RuntimeError::io("read", &path, &e)),
    };
    let info: SystemInfo = serde_json::from_str(&text).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::CorruptState,
            format!("{}: {e}", path.display()),
        )
    })?;
    if !process_alive(info.daemon_pid) {
        return Err(RuntimeError::new(
            RuntimeErrorKind::StaleState,
            format!(
                "{}: the supervisor (pid {}) is gone; run `auditwall down` to clean up",
                path.display(),
                info.daemon_pid
            ),
        ));
    }
    Ok(Some(info))
}

/// What `stop` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReport {
    /// The supervisor stopped everything itself.
    pub graceful: bool,
    /// Services stopped from the state file because the supervisor could not.
    pub cleaned_up: Vec<String>,
}

/// Stops the system in `dir`: SIGTERM to its supervisor (which stops every service), and if
/// the supervisor is gone or does not finish in time, every recorded service group directly.
pub fn stop(dir: &Path, timeout: Duration) -> Result<StopReport, RuntimeError> {
    let mut report = StopReport::default();
    let info_path = SystemInfo::path(dir);
    let info: Option<SystemInfo> = std::fs::read_to_string(&info_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if let Some(info) = &info {
        if process_alive(info.daemon_pid) {
            // SAFETY: kill(2) on the recorded supervisor pid; it is alive and wrote system.json.
            unsafe { libc::kill(info.daemon_pid as i32, libc::SIGTERM) };
            let deadline = Instant::now() + timeout;
            while process_alive(info.daemon_pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            report.graceful = !process_alive(info.daemon_pid);
        }
    }
    let state = Layout::new(dir).state_file();
    if state.exists() {
        let mut supervisor = crate::Supervisor::attach(&state)?;
        let down = crate::ServiceManager::down(&mut supervisor)?;
        report.cleaned_up = down.stopped;
    }
    let _ = std::fs::remove_file(&info_path);
    Ok(report)
}

/// Switches a fault mode of the running system (see [`Fault`]); returns the supervisor's
/// answer.
pub fn fault(info: &SystemInfo, fault: Fault) -> Result<String, RuntimeError> {
    let url = format!("{}/fault", info.endpoint("control"));
    let target =
        parse_loopback_url(&url).map_err(|e| RuntimeError::new(RuntimeErrorKind::Io, e))?;
    let body = serde_json::json!({ "mode": fault.name() }).to_string();
    let (status, text) = http_request(&target, "POST", Some(&body), Duration::from_secs(30))
        .map_err(|e| RuntimeError::new(RuntimeErrorKind::Io, format!("POST {url}: {e}")))?;
    if status == 200 {
        Ok(text)
    } else {
        Err(RuntimeError::new(
            RuntimeErrorKind::Io,
            format!("POST {url} answered {status}: {text}"),
        ))
    }
}

type Reply<T> = tokio::sync::oneshot::Sender<T>;

/// Work for the main thread, which owns the [`ReferenceSystem`].
enum Request {
    Restart(String, Reply<Result<(), String>>),
    Fault(Fault, Reply<Result<String, RuntimeError>>),
    Stop(String, Reply<Result<ServiceChange, RuntimeError>>),
    Start(String, Reply<Result<ServiceChange, RuntimeError>>),
    Proxy(Mode, Reply<Result<(), RuntimeError>>),
    Services(Reply<Vec<ServiceSummary>>),
    Shutdown(&'static str),
}

/// The supervising process's main: called from `serve_from_env`. Returns the exit code.
pub(crate) fn run(dir: &Path) -> i32 {
    // The services are this executable too: they must not inherit the supervisor role.
    // Still single-threaded here, so changing the environment is sound.
    let ephemeral = std::env::var_os(ENV_EPHEMERAL).is_some();
    let watch_pid: Option<u32> = std::env::var(ENV_WATCH_PID)
        .ok()
        .and_then(|v| v.parse().ok());
    std::env::remove_var(ENV_SUPERVISE);
    std::env::remove_var(ENV_WATCH_PID);
    std::env::remove_var(ENV_EPHEMERAL);
    let code = match run_inner(dir, watch_pid) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("auditwall reference supervisor: {e}");
            1
        }
    };
    if ephemeral {
        let _ = std::fs::remove_dir_all(dir);
    }
    code
}

fn run_inner(dir: &Path, watch_pid: Option<u32>) -> Result<(), RuntimeError> {
    let exe = std::env::current_exe().map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::Io,
            format!("cannot find own executable: {e}"),
        )
    })?;
    let layout = Layout::new(dir);
    let ports = Ports::free()?;
    let mut system = ReferenceSystem::start(&exe, layout.clone(), ports.clone())?;

    let (tx, rx) = mpsc::channel::<Request>();
    // Both listeners are bound before the system is announced ready: a caller that reads the
    // info file may call the watchdog at once. The watchdog's socket stays bound across its
    // pauses, so a request during a fault waits for the fresh watchdog instead of being refused.
    let watchdog_listener = bind(ports.get("watchdog"))?;
    let control_listener = bind(ports.get("control"))?;
    let watchdog_config = read_watchdog_config(&layout)?;
    let never_gives_up = system.watchdog_never_gives_up();
    let io_tx = tx.clone();
    let io = std::thread::Builder::new()
        .name("supervisor-io".into())
        .spawn(move || {
            io_thread(
                io_tx,
                watchdog_config,
                never_gives_up,
                watchdog_listener,
                control_listener,
                watch_pid,
            )
        })
        .map_err(|e| {
            RuntimeError::new(
                RuntimeErrorKind::Io,
                format!("cannot start the io thread: {e}"),
            )
        })?;

    let info = SystemInfo {
        daemon_pid: std::process::id(),
        started_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        ports: ports.0.clone(),
        root: dir.to_path_buf(),
    };
    write_atomic(
        &SystemInfo::path(dir),
        &serde_json::to_string_pretty(&info).unwrap_or_default(),
    )?;
    eprintln!("reference system ready: {:?}", info.ports);

    let reason = loop {
        match rx.recv() {
            Ok(Request::Restart(service, reply)) => {
                let _ = reply.send(system.restart(&service).map_err(|e| e.to_string()));
            }
            Ok(Request::Fault(fault, reply)) => {
                let _ = reply.send(system.apply(fault));
            }
            Ok(Request::Stop(service, reply)) => {
                let _ = reply.send(system.stop_service(&service));
            }
            Ok(Request::Start(service, reply)) => {
                let _ = reply.send(system.start_service(&service));
            }
            Ok(Request::Proxy(mode, reply)) => {
                let _ = reply.send(system.set_primary_proxy(mode));
            }
            Ok(Request::Services(reply)) => {
                let _ = reply.send(system.services());
            }
            Ok(Request::Shutdown(reason)) => break reason,
            Err(_) => break "io thread ended",
        }
    };
    eprintln!("reference system stopping: {reason}");
    let _ = std::fs::remove_file(SystemInfo::path(dir));
    let result = system.stop();
    drop(tx);
    drop(io);
    result.map(|_| ())
}

fn bind(port: u16) -> Result<TcpListener, RuntimeError> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        RuntimeError::new(
            RuntimeErrorKind::PortTaken,
            format!("cannot listen on 127.0.0.1:{port}: {e}"),
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| RuntimeError::new(RuntimeErrorKind::Io, e.to_string()))?;
    Ok(listener)
}

fn read_watchdog_config(layout: &Layout) -> Result<WatchdogConfig, RuntimeError> {
    let path = layout.config_dir().join("watchdog.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| RuntimeError::io("read", &path, &e))?;
    parse_document(&SourceFile {
        path: path.display().to_string(),
        text,
    })
    .map_err(|e| RuntimeError::new(RuntimeErrorKind::InvalidSpec, e.to_string()))
}

fn write_atomic(path: &Path, text: &str) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| RuntimeError::io("write", &tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| RuntimeError::io("rename", path, &e))
}

/// The async side: watchdog, control API, signals, and the watched pid. Everything it
/// needs done to processes goes to the main thread as a command.
fn io_thread(
    tx: mpsc::Sender<Request>,
    watchdog_config: WatchdogConfig,
    never_gives_up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    watchdog_listener: TcpListener,
    control_listener: TcpListener,
    watch_pid: Option<u32>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            let _ = tx.send(Request::Shutdown("no async runtime"));
            return;
        }
    };
    runtime.block_on(async move {
        let Ok(control_listener) = tokio::net::TcpListener::from_std(control_listener) else {
            let _ = tx.send(Request::Shutdown("cannot register the control listener"));
            return;
        };
        let gate = WatchdogGate::new();
        let restart_tx = tx.clone();
        let restart = move |service: String| {
            let tx = restart_tx.clone();
            async move {
                let (reply, answer) = tokio::sync::oneshot::channel();
                tx.send(Request::Restart(service, reply)).map_err(|_| "supervisor is shutting down")?;
                answer.await.map_err(|_| "supervisor is shutting down")?.map_err(Into::into)
            }
        };
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
        let watched = async {
            match watch_pid {
                Some(pid) => {
                    while process_alive(pid) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        // The watchdog stops while a fault is applied (its restarts would fight the fault and
        // queue stale work) and starts afresh afterwards, so a service it gave up on (BLOCKED)
        // is watched again once it has been repaired, and the `watchdog-never-gives-up` fault
        // (set or cleared while it was stopped) takes effect.
        let watchdog_loop = async {
            let mut paused = gate.paused.subscribe();
            loop {
                while *paused.borrow_and_update() {
                    gate.idle.send_replace(true);
                    if paused.changed().await.is_err() {
                        return;
                    }
                }
                gate.idle.send_replace(false);
                let listener = match watchdog_listener.try_clone().and_then(tokio::net::TcpListener::from_std) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("watchdog cannot take its listener: {e}");
                        return;
                    }
                };
                let config = WatchdogConfig {
                    never_give_up: never_gives_up.load(std::sync::atomic::Ordering::SeqCst),
                    ..watchdog_config.clone()
                };
                gate.running.send_modify(|generation| *generation += 1);
                tokio::select! {
                    r = watchdog::serve(config, listener, restart.clone()) => {
                        eprintln!("watchdog stopped: {r:?}");
                        return;
                    }
                    _ = paused.wait_for(|p| *p) => {}
                }
            }
        };
        let reason = tokio::select! {
            _ = watchdog_loop => "watchdog stopped",
            _ = control_api(control_listener, tx.clone(), gate.clone()) => "control API stopped",
            _ = async { match sigterm.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => "SIGTERM",
            _ = async { match sigint.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => "SIGINT",
            _ = watched => "the watched process exited",
        };
        let _ = tx.send(Request::Shutdown(reason));
    });
}

/// Pauses the watchdog around a fault: `pause` stops it, `resume` starts a fresh one and
/// returns once it listens again.
#[derive(Clone)]
struct WatchdogGate {
    paused: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// Bumped each time a fresh watchdog is listening.
    running: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// True while the watchdog is stopped, waiting for the pause to end.
    idle: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl WatchdogGate {
    fn new() -> WatchdogGate {
        WatchdogGate {
            paused: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
            running: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            idle: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Returns once the watchdog has really stopped (bounded). Without waiting, a fault applied
    /// in a few milliseconds could end the pause before the watchdog saw it begin; the
    /// watchdog would then never restart and `resume` would wait out its whole timeout.
    async fn pause(&self) {
        let mut idle = self.idle.subscribe();
        self.paused.send_replace(true);
        let _ = tokio::time::timeout(CONTROL_TIMEOUT, idle.wait_for(|i| *i)).await;
    }

    async fn resume(&self) {
        let mut running = self.running.subscribe();
        let before = *running.borrow_and_update();
        self.paused.send_replace(false);
        let _ = tokio::time::timeout(CONTROL_TIMEOUT, running.wait_for(|g| *g > before)).await;
    }
}

const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds one control request, queueing behind others included. The longest single piece
/// of work is `fault none` restarting every service (each up to its stop grace plus its
/// readiness timeout); a request that takes longer is answered 504 and may still finish.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

type Answer = axum::response::Response;

/// Hands one request to the main thread and waits (bounded) for its reply.
async fn ask<T>(
    tx: &mpsc::Sender<Request>,
    request: impl FnOnce(Reply<T>) -> Request,
) -> Result<T, (axum::http::StatusCode, String)> {
    use axum::http::StatusCode;
    let shutting_down = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "supervisor is shutting down".to_string(),
        )
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    tx.send(request(reply)).map_err(|_| shutting_down())?;
    match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(shutting_down()),
        Err(_) => Err((
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the supervisor did not finish within {}s; the request may still complete",
                REQUEST_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// The HTTP status for a failed operation: the caller's mistake or the system's.
fn error_status(error: &RuntimeError) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match error.kind {
        RuntimeErrorKind::UnknownService => StatusCode::NOT_FOUND,
        RuntimeErrorKind::InvalidSpec => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The control API (module docs of [`crate::daemon`] list its endpoints). Errors are plain
/// text; successes are JSON, except `/fault`, which answers what it did as text.
async fn control_api(
    listener: tokio::net::TcpListener,
    tx: mpsc::Sender<Request>,
    gate: WatchdogGate,
) {
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::{Json, Router};

    type Shared = (mpsc::Sender<Request>, WatchdogGate);

    fn text(status: StatusCode, body: String) -> Answer {
        (status, body).into_response()
    }

    fn json<T: serde::Serialize>(value: T) -> Answer {
        Json(value).into_response()
    }

    /// The `mode` of a `{"mode": "..."}` body, or why the body is not one.
    fn mode_of(body: &[u8], example: &str) -> Result<String, String> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SetMode {
            mode: String,
        }
        serde_json::from_slice::<SetMode>(body)
            .map(|m| m.mode)
            .map_err(|e| format!("request body must be JSON like {{\"mode\": \"{example}\"}}: {e}"))
    }

    fn done<T: serde::Serialize>(
        answer: Result<Result<T, RuntimeError>, (StatusCode, String)>,
    ) -> Answer {
        match answer {
            Ok(Ok(value)) => json(value),
            Ok(Err(e)) => text(error_status(&e), e.to_string()),
            Err((status, message)) => text(status, message),
        }
    }

    async fn set_fault(State((tx, gate)): State<Shared>, body: Bytes) -> Answer {
        let name = match mode_of(&body, "none") {
            Ok(name) => name,
            Err(message) => return text(StatusCode::BAD_REQUEST, message),
        };
        let Some(fault) = Fault::parse(&name) else {
            let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
            return text(
                StatusCode::BAD_REQUEST,
                format!("unknown fault mode `{name}` (known: {})", known.join(", ")),
            );
        };
        gate.pause().await;
        let answer = ask(&tx, |reply| Request::Fault(fault, reply)).await;
        gate.resume().await;
        match answer {
            Ok(Ok(message)) => text(StatusCode::OK, message),
            Ok(Err(e)) => text(error_status(&e), e.to_string()),
            Err((status, message)) => text(status, message),
        }
    }

    async fn set_proxy(State((tx, _)): State<Shared>, body: Bytes) -> Answer {
        let mode = match mode_of(&body, "refuse")
            .and_then(|m| m.parse::<Mode>().map_err(|e| e.to_string()))
        {
            Ok(mode) => mode,
            Err(message) => return text(StatusCode::BAD_REQUEST, message),
        };
        let answer = ask(&tx, |reply| Request::Proxy(mode, reply)).await;
        done(answer.map(|r| {
            r.map(|()| serde_json::json!({ "proxy": PRIMARY_PROXY, "mode": mode.to_string() }))
        }))
    }

    async fn stop_service(State((tx, _)): State<Shared>, Path(name): Path<String>) -> Answer {
        done(ask(&tx, |reply| Request::Stop(name, reply)).await)
    }

    async fn start_service(State((tx, _)): State<Shared>, Path(name): Path<String>) -> Answer {
        done(ask(&tx, |reply| Request::Start(name, reply)).await)
    }

    async fn services(State((tx, _)): State<Shared>) -> Answer {
        match ask(&tx, Request::Services).await {
            Ok(list) => json(list),
            Err((status, message)) => text(status, message),
        }
    }

    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/fault", post(set_fault))
        .route("/proxy", post(set_proxy))
        .route("/services", get(services))
        .route("/services/{name}/stop", post(stop_service))
        .route("/services/{name}/start", post(start_service))
        .with_state((tx, gate));
    let _ = axum::serve(listener, app).await;
}

/// A system for one run: started in a fresh temporary directory, watched by (and dying with)
/// this process, stopped and removed on [`PrivateSystem::stop`] or drop.
pub struct PrivateSystem {
    pub info: SystemInfo,
    dir: PathBuf,
    stopped: bool,
}

impl PrivateSystem {
    pub fn start(exe: &Path) -> Result<PrivateSystem, RuntimeError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "auditwall-reference-{}-{nanos:08x}",
            std::process::id()
        ));
        let opts = SpawnOptions {
            detach: false,
            watch_pid: Some(std::process::id()),
            ready_timeout: Duration::from_secs(30),
            ephemeral: false,
        };
        match spawn(exe, &dir, &opts) {
            Ok(info) => Ok(PrivateSystem {
                info,
                dir,
                stopped: false,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    pub fn profile_layer(&self) -> String {
        self.info.profile_layer()
    }

    pub fn stop(mut self) -> Result<StopReport, RuntimeError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<StopReport, RuntimeError> {
        self.stopped = true;
        let report = stop(&self.dir, Duration::from_secs(15))?;
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(report)
    }
}

impl Drop for PrivateSystem {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.stop_inner();
        }
    }
}

/// The system shared by every process under one owner (a test runner): the first caller
/// starts it, later callers find it, and it stops — and removes its directory — when
/// `owner_pid` exits, however that process ends.
pub fn shared(exe: &Path, owner_pid: u32) -> Result<SystemInfo, RuntimeError> {
    let dir = std::env::temp_dir().join(format!("auditwall-shared-{owner_pid}"));
    std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create", &dir, &e))?;
    let lock_path = dir.join("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| RuntimeError::io("create", &lock_path, &e))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on a file descriptor we own; released when `lock` is dropped.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            break;
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::new(
                RuntimeErrorKind::StateInUse,
                format!("{} stayed locked for 60s", lock_path.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match read_info(&dir) {
        Ok(Some(info)) => return Ok(info),
        Ok(None) => {}
        Err(_) => {
            stop(&dir, Duration::from_secs(10))?;
        }
    }
    let opts = SpawnOptions {
        detach: true,
        watch_pid: Some(owner_pid),
        ready_timeout: Duration::from_secs(30),
        ephemeral: true,
    };
    spawn(exe, &dir, &opts)
}
