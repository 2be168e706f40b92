//! The state file: another process attaches and controls the services; stale files from a
//! crashed run or with reused pids are detected, reported, and cleaned up safely.

mod common;

use std::process::Command;
use std::time::Duration;

use auditwall_runtime::{
    process_alive, RuntimeErrorKind, ServiceManager, Staleness, StopOutcome, Supervisor,
};
use common::{eventually, free_port, http_service, read_pids, shell, Fixture, KillOnDrop};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn an_attached_supervisor_sees_the_same_services_and_can_stop_them() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut owner = Supervisor::new(&state).unwrap();
    let web = owner
        .start(http_service("web", dir.path(), free_port()))
        .unwrap();
    owner
        .start(shell("worker", dir.path(), "exec sleep 300"))
        .unwrap();

    let mut attached = Supervisor::attach(&state).unwrap();
    assert_eq!(attached.status(), owner.status());
    assert!(attached.staleness().is_empty());

    let err = Supervisor::new(&state).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::StateInUse);
    assert_eq!(
        err.to_string(),
        format!(
            "state file {} belongs to supervisor pid {}, which is still running; attach to it instead",
            state.display(),
            std::process::id()
        )
    );
    let err = attached
        .start(shell("extra", dir.path(), "exec sleep 300"))
        .unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        format!(
            "service extra: cannot start: this supervisor is attached to {}; only the supervisor that owns it (pid {}) starts services",
            state.display(),
            std::process::id()
        )
    );
    let err = attached.restart("web").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "service web: cannot restart: only the supervisor that started it (pid {}) knows its full spec",
            std::process::id()
        )
    );

    attached.pause("web").unwrap();
    assert!(owner.status()[0].paused, "the owner sees the pause too");
    attached.resume("web").unwrap();

    assert_eq!(attached.stop("web").unwrap(), StopOutcome::Graceful);
    assert!(!process_alive(web.pid));
    let names: Vec<String> = Supervisor::attach(&state)
        .unwrap()
        .status()
        .into_iter()
        .map(|s| s.service.name)
        .collect();
    assert_eq!(names, vec!["worker".to_string()]);

    let report = attached.down().unwrap();
    assert_eq!(report.stopped, vec!["worker".to_string()]);
    assert!(!state.exists());
    assert!(owner.status().iter().all(|s| !s.alive));
}

#[test]
fn reused_pids_are_reported_and_never_signalled() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut guard = KillOnDrop::default();
    // An unrelated program that happens to hold the recorded pid, leading its own group as a
    // real service would: signalling the recorded group would kill it.
    let bystander = {
        use std::os::unix::process::CommandExt;
        let child = Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = guard.child(child).id();
        // spawn returns once exec started; the new command line shows in /proc a moment
        // later on a loaded machine, and the staleness report quotes it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read(format!("/proc/{pid}/cmdline")).map_or(true, |c| c.is_empty())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        pid
    };
    let gone = {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    // Written by hand: this is the documented format, and a test that pins it.
    let recorded = serde_json::json!({
        "format": 1,
        "supervisor": { "pid": gone, "start_ticks": 1 },
        "services": [{
            "name": "hub", "pid": bystander, "pgid": bystander, "start_ticks": 1,
            "started_at_unix_ms": 0, "ports": [18082], "program": "/usr/bin/hub", "args": [],
            "log": "/tmp/hub.log", "stop_grace_ms": 100
        }]
    });
    std::fs::write(&state, serde_json::to_vec(&recorded).unwrap()).unwrap();

    let mut sup = Supervisor::attach(&state).unwrap();
    let staleness = sup.staleness();
    assert_eq!(
        staleness,
        vec![
            Staleness::SupervisorGone { pid: gone },
            Staleness::PidReused {
                service: "hub".into(),
                pid: bystander,
                now_running: Some("sleep 300".into())
            }
        ]
    );
    let shown: Vec<String> = staleness.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            format!("supervisor pid {gone} is gone"),
            format!("service hub: pid {bystander} now belongs to another program (sleep 300)"),
        ]
    );
    assert!(!sup.status()[0].alive);

    let err = sup.stop("hub").unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::StaleState);
    assert_eq!(
        err.to_string(),
        format!("service hub: recorded pid {bystander} now belongs to another program (sleep 300); not signalling it")
    );
    let err = Supervisor::new(&state).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::StaleState);
    assert_eq!(
        err.to_string(),
        format!(
            "state file {} is left over from supervisor pid {gone}, which is gone; run `down` on it first",
            state.display()
        )
    );

    let report = sup.down().unwrap();
    assert_eq!(report.not_ours, vec!["hub".to_string()]);
    assert!(report.stopped.is_empty());
    assert!(
        process_alive(bystander),
        "down must not touch another program"
    );
    assert!(!state.exists());
}

#[test]
fn down_after_a_crashed_supervisor_stops_what_survived_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut fixture = Fixture::start(
        dir.path(),
        &state,
        "launcher",
        "-",
        &["sh", "-c", "sleep 300 & echo $! > pids; wait"],
    );
    let grandchild = read_pids(&dir.path().join("pids"), 1)[0];
    let mut guard = KillOnDrop::default();
    guard.pid(grandchild);

    fixture.kill_supervisor();
    assert!(
        eventually(WAIT, || !process_alive(fixture.service_pid)),
        "the parent-death signal ends the group leader"
    );
    // The documented caveat: the parent-death signal reaches the leader only.
    assert!(process_alive(grandchild));

    let mut sup = Supervisor::attach(&state).unwrap();
    assert_eq!(
        sup.staleness(),
        vec![Staleness::SupervisorGone { pid: fixture.pid }]
    );
    assert!(!sup.status()[0].alive);
    let report = sup.down().unwrap();
    assert_eq!(report.stopped, vec!["launcher".to_string()]);
    assert!(
        !process_alive(grandchild),
        "down stopped the orphaned group member"
    );
    assert!(!state.exists());
}

#[test]
fn attaching_to_nothing_or_garbage_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let err = Supervisor::attach(&state).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::Io);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read state file {}: No such file or directory (os error 2)",
            state.display()
        )
    );
    std::fs::write(&state, "not json").unwrap();
    let err = Supervisor::attach(&state).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::CorruptState);
    assert_eq!(
        err.to_string(),
        format!(
            "state file {} is not a supervisor state file: expected ident at line 1 column 2",
            state.display()
        )
    );
}
