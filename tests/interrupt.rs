//! A run that is interrupted (SIGINT/SIGTERM) or killed (SIGKILL) leaves nothing running; an
//! interrupted one still writes its reports and exits 4.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_auditwall");

/// A wall with one command check that records its pid, then sleeps far past any test.
fn sleeping_wall(root: &Path) -> std::path::PathBuf {
    let wall = root.join("wall");
    std::fs::create_dir_all(wall.join("probes")).expect("mkdir");
    std::fs::write(
        wall.join("wall.yaml"),
        "name: sleeper\nsettings: { timeout: 60s, deadline: 120s }\n",
    )
    .expect("write wall.yaml");
    let marker = root.join("sleeper.pid");
    std::fs::write(
        wall.join("probes/sleep.yaml"),
        format!(
            "probes:\n  - id: sleeper\n    command: {{ run: [sh, -c, 'echo $$ > {}; exec sleep 300'] }}\n",
            marker.display()
        ),
    )
    .expect("write spec");
    wall
}

fn start(root: &Path, wall: &Path) -> Child {
    Command::new(BIN)
        .args(["verify", wall.to_str().unwrap_or_default(), "--report-dir"])
        .arg(root.join("reports"))
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start auditwall")
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn sleeper_pid(root: &Path) -> i32 {
    let marker = root.join("sleeper.pid");
    wait_for("the check to start", Duration::from_secs(30), || {
        std::fs::read_to_string(&marker).is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    });
    std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

fn exit_code(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("auditwall did not exit within 30s after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_stops_the_run_writes_partial_reports_and_kills_the_check() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let root = tempfile::tempdir().expect("tempdir");
        let wall = sleeping_wall(root.path());
        let mut child = start(root.path(), &wall);
        let sleeper = sleeper_pid(root.path());
        assert!(alive(sleeper));
        // SAFETY: kill(2) on the child this test started.
        unsafe { libc::kill(child.id() as i32, signal) };
        assert_eq!(exit_code(&mut child), Some(4), "signal {signal}");
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.path().join("reports/report.json"))
                .expect("report written"),
        )
        .expect("report parses");
        assert_eq!(report["interrupted"], true, "signal {signal}");
        let check = &report["checks"][0];
        assert_eq!(check["verdict"], "error", "{check}");
        assert!(
            check["message"]
                .as_str()
                .unwrap_or_default()
                .contains("interrupted"),
            "{check}"
        );
        wait_for(
            "the check's process to die",
            Duration::from_secs(10),
            || !alive(sleeper),
        );
    }
}

#[test]
fn a_killed_run_takes_its_check_processes_with_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let wall = sleeping_wall(root.path());
    let mut child = start(root.path(), &wall);
    let sleeper = sleeper_pid(root.path());
    let _ = child.kill();
    let _ = child.wait();
    wait_for(
        "the check's process to die with auditwall",
        Duration::from_secs(10),
        || !alive(sleeper),
    );
}
