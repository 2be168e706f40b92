//! Helpers for the golden CLI tests: run the real `auditwall` binary with a bounded wait, start
//! the example model server as a real child process on loopback, write small walls into
//! temporary directories, and find processes by their environment.
//!
//! Owns: every process these tests start; each one is killed and reaped by a `Drop` guard, so a
//! failed assertion never leaves one running.
//! Must not touch: anything but loopback addresses and the temporary directories it creates.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A run that takes longer than this is a hang: the child is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a finished run's stdout and stderr may take to reach end of file.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// Set on processes these tests start so a `/proc` scan can tell them from everyone else's
/// (other tests and other engineers run reference systems on the same machine).
pub const MARKER_VAR: &str = "AUDITWALL_CLI_TEST_MARKER";

/// The example wall's check ids, in the order `list` prints them.
pub const EXAMPLE_CHECKS: [&str; 8] = [
    "host.tcp",
    "host.port-owner",
    "host.process",
    "host.pid-file",
    "host.shell",
    "model.health",
    "model.chat",
    "model.models",
];

/// Written from the shape of reference/templates/model-primary.yaml.tmpl, with the model id the
/// example wall's profile expects.
const MODEL_CONFIG: &str = "\
model: example-model
latency_ms: 0
cold_load_ms: 0
hang_limit_ms: 600000
fault: none
";

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_wall() -> PathBuf {
    repo_root().join("examples/wall")
}

/// A value unique to this test process and call, for markers.
pub fn unique(label: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{label}-{}-{n}", std::process::id())
}

/// Kills and reaps a child on every way out, including a failed assertion.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn first_stderr_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or("")
    }

    /// Fails with the whole output, so a wrong exit code explains itself.
    pub fn assert_code(&self, expected: i32) {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// Runs `auditwall args` in `cwd` with `env` added, and variables that would change its
/// behaviour removed. Panics (after killing it) if it runs longer than [`RUN_TIMEOUT`].
pub fn auditwall(cwd: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    auditwall_within(cwd, args, env, RUN_TIMEOUT)
}

/// [`auditwall`] with its own bound, for commands that legitimately run for minutes.
pub fn auditwall_within(
    cwd: &Path,
    args: &[&str],
    env: &[(String, String)],
    limit: Duration,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditwall"));
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "AUDITWALL_PROFILE",
        "AUDITWALL_REFERENCE_DIR",
        "AUDITWALL_SERVE",
        "AUDITWALL_SERVE_CONFIG",
        "AUDITWALL_SERVE_LISTEN",
        "NO_COLOR",
        "EXAMPLE_API",
        "EXAMPLE_ADDR",
        "EXAMPLE_PIDFILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = ChildGuard(cmd.spawn().expect("cannot start the auditwall binary"));
    let stdout = read_in_background(child.0.stdout.take());
    let stderr = read_in_background(child.0.stderr.take());
    let status = wait_bounded(&mut child, limit)
        .unwrap_or_else(|| panic!("auditwall {args:?} ran for more than {limit:?}: a hang"));
    // A process that outlived auditwall while holding its stdout would block this forever.
    let collect = |rx: mpsc::Receiver<String>, what: &str| {
        rx.recv_timeout(DRAIN_TIMEOUT).unwrap_or_else(|_| {
            panic!("auditwall {args:?} exited but its {what} stayed open: a process outlived it")
        })
    };
    Output {
        code: status.code(),
        stdout: collect(stdout, "stdout"),
        stderr: collect(stderr, "stderr"),
    }
}

pub fn wait_bounded(child: &mut ChildGuard, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.0.try_wait().expect("cannot wait for a child process") {
            return Some(status);
        }
        std::thread::sleep(POLL);
    }
    None
}

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// A port that was free a moment ago. Another process may still take it before we bind it,
/// which callers that bind it must tolerate.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind a loopback port")
        .port()
}

/// The example model server: this same binary started with the `AUDITWALL_SERVE` variables,
/// as a real child process on loopback, with its pid in a pid file.
pub struct ExampleServer {
    // Dropped before `dir`, so the process is gone before its files are.
    child: ChildGuard,
    dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// `MARKER_VAR=value` as it appears in the server's environment.
    pub marker: String,
}

impl ExampleServer {
    pub fn start() -> ExampleServer {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory");
        let config = dir.path().join("model.yaml");
        std::fs::write(&config, MODEL_CONFIG).expect("cannot write the model config");
        let log_path = dir.path().join("server.log");
        let mut failures = Vec::new();
        // A freed port can be taken by someone else before the server binds it: try a few.
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let marker_value = unique("example-server");
            let log = std::fs::File::create(&log_path).expect("cannot create the server log");
            let child = Command::new(env!("CARGO_BIN_EXE_auditwall"))
                .env("AUDITWALL_SERVE", "model-primary")
                .env("AUDITWALL_SERVE_CONFIG", &config)
                .env("AUDITWALL_SERVE_LISTEN", addr.to_string())
                .env(MARKER_VAR, &marker_value)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("cannot start the example server");
            let mut child = ChildGuard(child);
            std::fs::write(dir.path().join("model.pid"), format!("{}\n", child.0.id()))
                .expect("cannot write the pid file");
            match wait_healthy(&mut child, addr) {
                Ok(()) => {
                    return ExampleServer {
                        child,
                        dir,
                        addr,
                        marker: format!("{MARKER_VAR}={marker_value}"),
                    }
                }
                Err(e) => failures.push(format!(
                    "{addr}: {e}; log: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                )),
            }
        }
        panic!(
            "the example server never became healthy:\n{}",
            failures.join("\n")
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.path().join("model.pid")
    }

    /// The variables the example wall reads.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("EXAMPLE_API".into(), format!("http://{}", self.addr)),
            ("EXAMPLE_ADDR".into(), self.addr.to_string()),
            (
                "EXAMPLE_PIDFILE".into(),
                self.pid_file().display().to_string(),
            ),
        ]
    }
}

/// Polls `GET /health` until it answers `{"status":"ok"}`, the child exits, or time runs out.
fn wait_healthy(child: &mut ChildGuard, addr: SocketAddr) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::from("never answered");
    while start.elapsed() < READY_TIMEOUT {
        if let Some(status) = child.0.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited before it was ready ({status})"));
        }
        match http_get(addr, "/health") {
            Ok(resp) if resp.starts_with("HTTP/1.1 200") && resp.contains(r#""status":"ok""#) => {
                return Ok(())
            }
            Ok(resp) => last = format!("answered {resp:?}"),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(POLL);
    }
    Err(format!("not healthy within {READY_TIMEOUT:?}: {last}"))
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    stream.take(64 * 1024).read_to_string(&mut resp)?;
    Ok(resp)
}

/// Pids of live reference-service processes (`AUDITWALL_SERVE` set) whose environment holds
/// `entry` exactly (e.g. `MARKER=value`).
pub fn serve_processes_with(entry: &str) -> Vec<u32> {
    scan_environments(|vars| {
        vars.contains(&entry.as_bytes()) && vars.iter().any(|v| v.starts_with(b"AUDITWALL_SERVE="))
    })
}

/// Polls until no process's environment holds `entry` exactly, or `limit` passes; returns the
/// pids still alive then.
pub fn wait_until_gone(entry: &str, limit: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let alive = scan_environments(|vars| vars.contains(&entry.as_bytes()));
        if alive.is_empty() || start.elapsed() >= limit {
            return alive;
        }
        std::thread::sleep(POLL);
    }
}

/// Pids whose `/proc/<pid>/environ` entries satisfy `matches`. Zombies have an empty
/// environment, so only processes that still run can match.
fn scan_environments(matches: impl Fn(&[&[u8]]) -> bool) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            // Processes vanish mid-scan and other users' are unreadable: neither is ours.
            let environ = std::fs::read(e.path().join("environ")).ok()?;
            let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
            matches(&vars).then_some(pid)
        })
        .collect()
}

/// Writes `files` (relative path, text) under `root/name` and returns that wall directory.
pub fn write_wall(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let wall = root.join(name);
    for (rel, text) in files {
        let path = wall.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("cannot create a wall directory");
        }
        std::fs::write(&path, text).expect("cannot write a wall file");
    }
    wall
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `(check id, verdict)` for every check in a report.json, in report order.
pub fn verdicts(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("report.json has no `checks` list")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("<no id>").to_string(),
                c["verdict"].as_str().unwrap_or("<no verdict>").to_string(),
            )
        })
        .collect()
}

/// A reference system started with `auditwall up` in a temporary working directory (its state
/// under `reference/`), brought down when dropped, even when the test panics.
pub struct UpSystem {
    work: tempfile::TempDir,
    /// Bounds each `auditwall` this system runs.
    limit: Duration,
}

impl UpSystem {
    pub fn up() -> UpSystem {
        UpSystem::up_bounded(RUN_TIMEOUT)
    }

    /// For tests whose commands legitimately run for minutes (a release proves every check).
    pub fn up_bounded(limit: Duration) -> UpSystem {
        let system = UpSystem {
            work: tempfile::tempdir().expect("tempdir"),
            limit,
        };
        system.run(&["up"]).assert_code(0);
        system
    }

    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// The reference system's own directory.
    pub fn dir(&self) -> PathBuf {
        self.path("reference")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![(
            "AUDITWALL_REFERENCE_DIR".to_string(),
            self.dir().display().to_string(),
        )]
    }

    pub fn run(&self, args: &[&str]) -> Output {
        auditwall_within(self.work.path(), args, &self.env(), self.limit)
    }
}

impl Drop for UpSystem {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}
