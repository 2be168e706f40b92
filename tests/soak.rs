//! `auditwall soak` run as a user runs it against the reference system: start, ticks recorded
//! in the ledger, status, the exit gate explaining why a fresh soak cannot pass yet, a
//! scheduler entry, `soak run` ending gracefully on SIGTERM, and bad input refused.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ChildGuard;

type System = common::UpSystem;

#[test]
fn a_soak_records_ticks_and_its_gate_explains_why_it_cannot_pass_yet() {
    let system = System::up();
    let early = system.run(&["soak", "tick"]);
    early.assert_code(2);
    assert!(early.stderr.contains("no soak started"), "{}", early.stderr);

    let started = system.run(&["soak", "start"]);
    started.assert_code(0);
    assert!(
        started.stdout.contains("for 7 full days"),
        "{}",
        started.stdout
    );
    for _ in 0..2 {
        let tick = system.run(&["soak", "tick"]);
        tick.assert_code(0);
        assert!(
            tick.stdout.contains(", 0 red; 4 services sampled"),
            "{}",
            tick.stdout
        );
    }
    let status = system.run(&["soak", "status"]);
    status.assert_code(0);
    assert!(
        status.stdout.contains("0 full days, 2 ticks"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("dirty ticks: 0"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("rss hub: "), "{}", status.stdout);

    let gate = system.run(&["soak", "check"]);
    gate.assert_code(1);
    assert!(
        gate.stdout
            .contains("FAIL  days           0 of 7 full calendar days"),
        "{}",
        gate.stdout
    );
    assert!(
        gate.stdout
            .contains("ok    clean          all 2 ticks clean"),
        "{}",
        gate.stdout
    );
    assert!(
        gate.stdout.contains("ok    doctor         doctor clean"),
        "{}",
        gate.stdout
    );

    let cron = system.run(&[
        "soak",
        "install",
        "--kind",
        "cron",
        system.path("").to_str().expect("utf-8"),
    ]);
    cron.assert_code(0);
    assert!(cron.stdout.starts_with("0 * * * * cd "), "{}", cron.stdout);
    assert!(cron.stdout.contains("soak tick"), "{}", cron.stdout);

    let policy = system.path("bad-policy.yaml");
    std::fs::write(&policy, "days: 7\nmax_gapp: 2h\n").expect("policy");
    let bad = system.run(&[
        "soak",
        "status",
        "--policy",
        policy.to_str().expect("utf-8"),
    ]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("bad-policy.yaml:2:1"), "{}", bad.stderr);
}

#[test]
fn soak_run_stops_between_ticks_on_sigterm() {
    let system = System::up();
    system.run(&["soak", "start"]).assert_code(0);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditwall"));
    cmd.args(["soak", "run", "--interval", "1m"])
        .current_dir(system.work())
        .envs(system.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ChildGuard(cmd.spawn().expect("start soak run"));
    // The first tick is written before the wait: poll the ledger's status for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = system.run(&["soak", "status"]);
        if status.stdout.contains(" 1 ticks") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no tick recorded: {}",
            status.stdout
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "soak run did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut out = String::new();
    if let Some(mut pipe) = child.0.stdout.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut out);
    }
    assert!(
        out.contains("soak run: stopped by a signal between ticks"),
        "{out}"
    );
}
