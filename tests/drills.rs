//! The reference drills run as a user runs them, against a system started with `auditwall up`:
//! all five pass with their timelines; a failover slower than its budget turns the drill red
//! with the measured number; and an auditwall killed with SIGKILL in the middle of a drill
//! leaves a journal from which `auditwall recover` restores the system.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{auditwall, read_json, write_wall, ChildGuard};

type System = common::UpSystem;

impl System {
    /// The embedded wall written out as a directory, with the running system's live values as
    /// an overlay and `extra` as another.
    fn wall_dir(&self, extra: &str) -> PathBuf {
        let info = auditwall_runtime::daemon::read_info(&self.dir())
            .expect("system info")
            .expect("the system is up");
        let live = info.profile_layer();
        let mut files: Vec<(&str, &str)> = auditwall_scenarios::DEFAULT_WALL.to_vec();
        files.push(("profiles/live.yaml", &live));
        files.push(("profiles/extra.yaml", extra));
        write_wall(self.work(), "wall", &files)
    }
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

fn phase<'a>(drill: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    drill["timeline"]["events"]
        .as_array()
        .expect("timeline events")
        .iter()
        .find(|e| e["phase"] == name)
        .unwrap_or_else(|| panic!("no {name} phase in {drill}"))
}

#[test]
fn the_five_reference_drills_pass_with_their_timelines() {
    let system = System::up();
    let out = system.run(&[
        "verify",
        "--suite",
        "drills",
        "--allow-disruptive",
        "--color",
        "never",
        "--report-dir",
        "drills-report",
    ]);
    out.assert_code(0);
    let report = read_json(&system.path("drills-report/report.json"));
    for id in [
        "router.failover",
        "router.blackhole",
        "hub.self-heal",
        "model-fallback.crash-loop",
        "model-primary.lying-health",
    ] {
        let drill = check(&report, id);
        assert_eq!(drill["verdict"], "pass", "{id}: {drill}");
        assert!(
            out.stdout.contains(&format!("drills::{id}")),
            "{}",
            out.stdout
        );
        assert_eq!(phase(drill, "fault")["at_ms"], 0.0, "{id}");
        assert_eq!(drill["timeline"]["poll_ms"], 50.0, "{id}");
    }
    assert!(
        out.stdout.contains("timeline (poll 50ms):"),
        "{}",
        out.stdout
    );
    // Who served the first good answer during the failover is part of the measurement.
    let failover = check(&report, "router.failover");
    let recover = phase(failover, "recover")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(recover.contains("served by model-fallback"), "{recover}");
    let steady = phase(failover, "steady")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(steady.contains("router.chat passed"), "{steady}");
    // The lying-health split: chat red, health green all along.
    let lying = check(&report, "model-primary.lying-health");
    assert!(phase(lying, "detect")["detail"]
        .as_str()
        .unwrap_or_default()
        .starts_with("model-primary.chat red"));
    let unaffected = &lying["timeline"]["unaffected"][0];
    assert_eq!(unaffected["check"], "model-primary.health");
    assert!(unaffected["red_at_ms"].is_null(), "{unaffected}");
    assert!(
        unaffected["polls"].as_u64().unwrap_or(0) > 1,
        "{unaffected}"
    );
    // The crash loop was reported as BLOCKED, not looped through silently.
    let crash = check(&report, "model-fallback.crash-loop");
    let detect = phase(crash, "detect")["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(detect.contains("BLOCKED"), "{detect}");
    // Nothing owed afterwards, and the system is green again.
    assert!(!system.path(".auditwall/journal.json").exists());
    system.run(&["verify", "--suite", "probes"]).assert_code(0);
}

#[test]
fn a_failover_slower_than_its_budget_turns_the_drill_red_with_the_measured_number() {
    let system = System::up();
    let wall = system.wall_dir("budgets:\n  failover: 100ms\n");
    let out = system.run(&[
        "verify",
        wall.to_str().expect("utf-8 path"),
        "--profile",
        "live,extra",
        "--id",
        "router.failover",
        "--allow-disruptive",
        "--color",
        "never",
        "--report-dir",
        "slow-report",
    ]);
    out.assert_code(1);
    let report = read_json(&system.path("slow-report/report.json"));
    let drill = check(&report, "router.failover");
    assert_eq!(drill["verdict"], "drift", "{drill}");
    let recover = phase(drill, "recover");
    let at = recover["at_ms"].as_f64().expect("recovered, just late");
    assert!(at > 100.0, "{recover}");
    assert_eq!(recover["budget_ms"], 100.0);
    assert_eq!(recover["ok"], false);
    let message = drill["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("recover took "), "{message}");
    assert!(message.contains(", over its budget of 100ms"), "{message}");
    assert!(out.stdout.contains("OVER"), "{}", out.stdout);
    // The restore ran all the same: the primary serves again.
    assert_eq!(phase(drill, "steady")["ok"], true, "{drill}");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_harness_killed_mid_drill_is_recovered_from_the_journal() {
    let system = System::up();
    let journal = system.path(".auditwall/journal.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditwall"));
    cmd.args([
        "verify",
        "--id",
        "router.blackhole",
        "--allow-disruptive",
        "--color",
        "never",
    ])
    .current_dir(system.work())
    .envs(system.env())
    .env_remove("AUDITWALL_JOURNAL")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut child = ChildGuard(cmd.spawn().expect("start auditwall"));
    // The journal entry is written durably before the fault goes in.
    wait_for(
        "the drill to inject its fault",
        Duration::from_secs(30),
        || journal.exists(),
    );
    std::thread::sleep(Duration::from_millis(200));
    child.0.kill().expect("SIGKILL auditwall");
    let _ = child.0.wait();

    let owed = std::fs::read_to_string(&journal).expect("journal left behind");
    assert!(owed.contains("\"drill\": \"router.blackhole\""), "{owed}");
    assert!(owed.contains("\"fault\": \"proxy blackhole\""), "{owed}");
    // The fault is still in: the router's primary is blackholed, so a chat does not come back
    // within 2s (the router waits out its 5s timeout on the primary first).
    let info = auditwall_runtime::daemon::read_info(&system.dir())
        .expect("system info")
        .expect("the system is up");
    assert_eq!(
        chat_within(info.ports["router"], Duration::from_secs(2)),
        None
    );

    let recovered = system.run(&["recover"]);
    recovered.assert_code(0);
    assert!(
        recovered.stderr.contains(
            "recovered from the drill journal: drill `router.blackhole` (fault `proxy blackhole`"
        ),
        "{}",
        recovered.stderr
    );
    assert!(
        !journal.exists(),
        "the journal is cleared once the restore worked"
    );
    let served = chat_within(info.ports["router"], Duration::from_secs(5));
    assert_eq!(served.as_deref(), Some("model-primary"));
    system
        .run(&["verify", "--id", "router.chat"])
        .assert_code(0);
}

/// One chat through the router on loopback; `Some(backend)` if it answered within `limit`.
fn chat_within(port: u16, limit: Duration) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    let body = r#"{"messages":[{"role":"user","content":"2+2?"}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-served-by:")
            .map(|v| v.trim().to_string())
    })
}

/// A wall of its own, no network: a config file a drill replaces, checked by a file probe.
fn file_wall(root: &std::path::Path, restore: &str) -> PathBuf {
    let cfg = root.join("app.conf");
    std::fs::write(&cfg, "port=1\n").expect("write config");
    let spec = format!(
        "probes:\n  - id: cfg.intact\n    file: {{ path: \"{cfg}\" }}\n    expect: [\"size == 7\"]\ndrills:\n  - id: cfg.broken\n    fault: {{ replace: {{ file: \"{cfg}\", with: \"port=\" }} }}\n    detect: {{ check: cfg.intact, within: 2s }}\n    restore: {restore}\n    after: {{ check: cfg.intact, within: 2s }}\n",
        cfg = cfg.display()
    );
    write_wall(
        root,
        "wall",
        &[("wall.yaml", "name: files\n"), ("drills/d.yaml", &spec)],
    )
}

#[test]
fn a_replaced_file_is_put_back_by_undo() {
    let work = tempfile::tempdir().expect("tempdir");
    let wall = file_wall(work.path(), "{ undo: true }");
    let out = auditwall(
        work.path(),
        &[
            "verify",
            wall.to_str().expect("utf-8"),
            "--allow-disruptive",
            "--report-dir",
            "r",
        ],
        &[],
    );
    out.assert_code(0);
    let report = read_json(&work.path().join("r/report.json"));
    let drill = check(&report, "cfg.broken");
    assert_eq!(phase(drill, "detect")["ok"], true, "{drill}");
    assert_eq!(
        phase(drill, "restore")["detail"],
        format!("put back {}", work.path().join("app.conf").display())
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("app.conf")).expect("config"),
        "port=1\n"
    );
    assert!(!work.path().join(".auditwall/journal.json").exists());
}

#[test]
fn a_restore_that_fails_is_a_loud_error_and_stays_owed_until_it_works() {
    let work = tempfile::tempdir().expect("tempdir");
    let gate = work.path().join("allowed");
    let restore = format!(
        "{{ command: {{ run: [sh, -c, \"test -e {} && printf 'port=1\\\\n' > {}\"] }} }}",
        gate.display(),
        work.path().join("app.conf").display()
    );
    let wall = file_wall(work.path(), &restore);
    let out = auditwall(
        work.path(),
        &[
            "verify",
            wall.to_str().expect("utf-8"),
            "--allow-disruptive",
            "--report-dir",
            "r",
        ],
        &[],
    );
    out.assert_code(3);
    let report = read_json(&work.path().join("r/report.json"));
    let drill = check(&report, "cfg.broken");
    assert_eq!(drill["verdict"], "error", "{drill}");
    let message = drill["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("RESTORE FAILED, the system is still broken (replace "),
        "{message}"
    );
    assert!(
        out.stderr.contains("RESTORE FAILED for drill `cfg.broken`"),
        "{}",
        out.stderr
    );
    let journal = work.path().join(".auditwall/journal.json");
    assert!(journal.exists(), "the owed restore is kept");
    assert_eq!(
        std::fs::read_to_string(work.path().join("app.conf")).expect("config"),
        "port="
    );

    // Still failing: `recover` says so and exits 3; no run starts on a broken system.
    auditwall(work.path(), &["recover"], &[]).assert_code(3);
    let refused = auditwall(work.path(), &["verify", wall.to_str().expect("utf-8")], &[]);
    refused.assert_code(3);
    // Once the restore can work, it is done and forgotten.
    std::fs::write(&gate, "").expect("gate");
    auditwall(work.path(), &["recover"], &[]).assert_code(0);
    assert!(!journal.exists());
    assert_eq!(
        std::fs::read_to_string(work.path().join("app.conf")).expect("config"),
        "port=1\n"
    );
}

#[test]
fn sigterm_in_the_middle_of_a_drill_still_restores_before_exiting() {
    let system = System::up();
    let journal = system.path(".auditwall/journal.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditwall"));
    cmd.args([
        "verify",
        "--id",
        "router.blackhole",
        "--allow-disruptive",
        "--color",
        "never",
    ])
    .current_dir(system.work())
    .envs(system.env())
    .env_remove("AUDITWALL_JOURNAL")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().expect("start auditwall"));
    wait_for(
        "the drill to inject its fault",
        Duration::from_secs(30),
        || journal.exists(),
    );
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "auditwall did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("recovered from the drill journal: drill `router.blackhole`"),
        "{stderr}"
    );
    assert!(!journal.exists(), "nothing owed after a clean interrupt");
    let info = auditwall_runtime::daemon::read_info(&system.dir())
        .expect("system info")
        .expect("the system is up");
    assert_eq!(
        chat_within(info.ports["router"], Duration::from_secs(5)).as_deref(),
        Some("model-primary")
    );
}
