//! Every fault mode of the reference system turns exactly the checks meant to catch it red,
//! with a reason that names the defect; clearing it makes the wall green again. Runs the real
//! binary: `up`, `fault`, `verify`, `down`, against real service processes on loopback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_auditwall");

struct System {
    work: tempfile::TempDir,
}

impl System {
    fn up() -> System {
        let work = tempfile::tempdir().expect("tempdir");
        let system = System { work };
        let out = system.run(&["up"]);
        assert!(
            out.status.success(),
            "up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        system
    }

    fn dir(&self) -> PathBuf {
        self.work.path().join("reference")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.work.path())
            .env("AUDITWALL_REFERENCE_DIR", self.dir())
            .env("NO_COLOR", "1")
            .output()
            .expect("run auditwall")
    }

    fn fault(&self, mode: &str) {
        let out = self.run(&["fault", mode]);
        assert!(
            out.status.success(),
            "fault {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the embedded wall's probes and calibration against this system; returns the exit
    /// code and the report.
    fn verify(&self, name: &str) -> (i32, serde_json::Value) {
        self.verify_suites(name, &["--suite", "probes", "--suite", "calibration"])
    }

    fn verify_suites(&self, name: &str, suites: &[&str]) -> (i32, serde_json::Value) {
        let reports = self.work.path().join(format!("reports-{name}"));
        // Retries absorb a budget missed on a loaded CI machine; a fault stays red on every
        // attempt, so what must be red still is.
        let mut args = vec![
            "verify",
            "--retries",
            "2",
            "--report-dir",
            reports.to_str().unwrap_or_default(),
        ];
        args.extend_from_slice(suites);
        let out = self.run(&args);
        let text = std::fs::read_to_string(reports.join("report.json")).unwrap_or_else(|e| {
            panic!(
                "no report for {name}: {e}\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_str(&text).expect("report.json parses"),
        )
    }

    fn watchdog_status(&self) -> String {
        let info: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir().join("system.json")).expect("system.json"),
        )
        .expect("system.json parses");
        let port = info["ports"]["watchdog"].as_u64().expect("watchdog port");
        get(port, "/status")
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

/// A plain HTTP/1.1 GET on loopback, bounded by a timeout.
fn get(port: u64, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port as u16)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

fn red(report: &serde_json::Value) -> BTreeSet<String> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| matches!(c["verdict"].as_str(), Some("fail" | "drift" | "error")))
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn message(report: &serde_json::Value, id: &str) -> String {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn no_process_mentions(dir: &Path) -> bool {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .all(|entry| {
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'));
            zombie
                || !(String::from_utf8_lossy(&environ).contains(&needle)
                    || String::from_utf8_lossy(&cmdline).contains(&needle))
        })
}

#[test]
fn each_fault_mode_turns_exactly_its_checks_red() {
    let system = System::up();
    let (code, report) = system.verify("baseline");
    assert_eq!(red(&report), set(&[]), "baseline must be green: {report}");
    assert_eq!(code, 0);

    // (fault, checks that must go red, a fragment of the reason that names the defect)
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "hang-chat",
            &[
                "model-primary.chat",
                "router.answer",
                "router.chat",
                "router.golden",
            ],
            "timed out",
        ),
        (
            "wrong-answer",
            &["model-fallback.chat", "model-fallback.golden"],
            "answered \\\"43\\\", expected number 42",
        ),
        (
            "success-false",
            &["hub.action", "hub.thermostat"],
            "json.success == true",
        ),
        (
            "config-drift",
            &["reference.configs"],
            "-    timeout_ms: 5000\\n+    timeout_ms: 50",
        ),
        (
            "silent-failover",
            &["router.chat", "router.golden"],
            "got \\\"model-fallback\\\"",
        ),
        ("port-hijack", &["hub.port"], "owner_matches"),
        ("stale-binary", &["router.process"], "exe_current"),
        (
            "crash-loop",
            &[
                "model-fallback.health",
                "watchdog.not-blocked",
                "watchdog.status",
            ],
            "BLOCKED",
        ),
    ];
    for (fault, expected, reason) in cases {
        system.fault(fault);
        if *fault == "crash-loop" {
            wait_until("the watchdog to give up", Duration::from_secs(30), || {
                system.watchdog_status().contains("BLOCKED")
            });
        }
        let (code, report) = system.verify(fault);
        assert_eq!(red(&report), set(expected), "fault {fault}: {report}");
        assert_eq!(code, 1, "fault {fault} must exit 1");
        let named = expected
            .iter()
            .any(|id| message(&report, id).contains(reason));
        assert!(
            named,
            "fault {fault}: no reason mentions `{reason}`: {report}"
        );

        system.fault("none");
        let (code, report) = system.verify(&format!("{fault}-cleared"));
        assert_eq!(red(&report), set(&[]), "after clearing {fault}: {report}");
        assert_eq!(code, 0);
    }

    // A naive wall has no probe for this one: only the L4 state-delta scenario sees the
    // unlocked door, while its L1–L3 pass. The probes stay green: exactly the defect class.
    system.fault("goodnight-no-lock");
    let (code, report) = system.verify_suites(
        "goodnight-no-lock",
        &["--suite", "probes", "--suite", "scenarios"],
    );
    assert_eq!(
        red(&report),
        set(&["hub.goodnight"]),
        "goodnight-no-lock is seen by the L4 scenario alone: {report}"
    );
    assert_eq!(code, 1);
    let goodnight = message(&report, "hub.goodnight");
    for fragment in [
        "L4: hub.state: door.front.locked expected true, observed false",
        "hub.events: door.front.locked expected true, observed false",
        "(L1–L3 passed)",
    ] {
        assert!(goodnight.contains(fragment), "{fragment}: {goodnight}");
    }

    let dir = system.dir();
    drop(system);
    wait_until(
        "every reference process to exit",
        Duration::from_secs(10),
        || no_process_mentions(&dir),
    );
}

#[test]
fn down_leaves_nothing_running_and_a_killed_up_leaves_no_orphans() {
    let system = System::up();
    let dir = system.dir();
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("system.json")).expect("system.json"),
    )
    .expect("json");
    let daemon = info["daemon_pid"].as_i64().expect("pid") as i32;
    // SIGKILL the supervisor: its services get their parent-death signal and exit.
    // SAFETY: kill(2) on the pid the system just published.
    unsafe { libc::kill(daemon, libc::SIGKILL) };
    wait_until(
        "the services of a killed supervisor to exit",
        Duration::from_secs(10),
        || no_process_mentions(&dir),
    );
    let status = system.run(&["status"]);
    assert!(!status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("is gone"),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let down = system.run(&["down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(!dir.join("system.json").exists());
}

#[test]
fn a_shared_system_is_brought_up_once_and_dies_with_its_killed_runner() {
    // Stands in for nextest: the process whose death must take the shared system with it.
    let mut runner = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("spawn sleep");
    let owner = runner.id();
    let exe = Path::new(BIN);
    let first = auditwall_runtime::daemon::shared(exe, owner).expect("shared system starts");
    let second = auditwall_runtime::daemon::shared(exe, owner).expect("shared system is found");
    assert_eq!(
        first.daemon_pid, second.daemon_pid,
        "the second caller must reuse the first system"
    );
    assert!(get(u64::from(first.ports["router"]), "/health").starts_with("HTTP/1.1 200"));

    let dir = first.root.clone();
    let _ = runner.kill();
    let _ = runner.wait();
    wait_until(
        "the shared system to stop after its runner died",
        Duration::from_secs(15),
        || no_process_mentions(&dir) && !dir.exists(),
    );
}
