//! Drills in spec files: the model they load into, and every bad input's exact message.

mod common;

use std::time::Duration;

use auditwall_spec::*;
use common::{load, Input};

const ROOT: &str = "name: lab\nservices:\n  api: { pid_file: /run/api.pid }\n  db: { pid_file: /run/db.pid, start: [systemctl, start, db], stop: [systemctl, stop, db] }\n  worker: { start: [run-worker] }\ndrills:\n  control: \"http://127.0.0.1:${ports.control}\"\n";

const BASE: &str = "ports:\n  control: 9000\n  api: 8080\nbudgets:\n  failover: 3s\n";

const PROBES: &str = "probes:\n  - id: api.health\n    http: { url: \"http://127.0.0.1:${ports.api}/health\" }\n  - id: api.chat\n    http: { url: \"http://127.0.0.1:${ports.api}/chat\" }\n  - id: far.away\n    http: { url: \"http://10.1.2.3/health\" }\n";

fn input(root: &'static str, drills: &'static str) -> Input<'static> {
    Input {
        root: Some(root),
        specs: vec![
            ("probes/p.yaml", PROBES.as_bytes()),
            ("drills/d.yaml", drills.as_bytes()),
        ],
        profiles: vec![("base", BASE)],
        ..Input::default()
    }
}

#[test]
fn a_drill_loads_with_budgets_resolved_and_undo_derived() {
    let wall = load(&input(
        ROOT,
        "drills:\n  - id: api.failover\n    steady: [api.chat]\n    fault: { kill: api }\n    detect: { check: api.health, within: 1s }\n    recover: { check: api.chat, served_by: backup, within: \"${budgets.failover}\" }\n    unaffected: [api.health]\n    restore: { undo: true }\n    after: { check: api.chat, within: 5s }\n    poll: 20ms\n    canary: { fault: backup-down }\n",
    ))
    .expect("valid wall");
    assert_eq!(
        wall.drills.control.as_deref(),
        Some("http://127.0.0.1:9000")
    );
    assert_eq!(
        wall.services["db"].stop,
        Some(vec!["systemctl".to_string(), "stop".into(), "db".into()])
    );
    let drill = wall
        .checks
        .iter()
        .find(|c| c.id == "api.failover")
        .expect("drill");
    assert_eq!(drill.suite, Suite::Drills);
    assert!(drill.disruptive);
    assert_eq!(drill.retries, 0);
    assert_eq!(drill.timeout, DEFAULT_DRILL_TIMEOUT);
    assert_eq!(
        drill.canary.as_ref().map(|c| c.fault.as_str()),
        Some("backup-down")
    );
    let CheckKind::Drill(d) = &drill.kind else {
        panic!("not a drill: {:?}", drill.kind)
    };
    assert_eq!(d.poll, Duration::from_millis(20));
    assert_eq!(d.fault, Action::Kill("api".into()));
    assert_eq!(d.restore, Some(Action::Start("api".into())));
    assert_eq!(
        d.recover.as_ref().map(|e| e.within),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        d.recover.as_ref().and_then(|e| e.served_by.as_deref()),
        Some("backup")
    );
    assert_eq!(
        d.watch,
        vec!["api".to_string()],
        "a killed service is always sampled"
    );
}

#[test]
fn every_bad_drill_input_has_its_exact_message() {
    let cases: Vec<(&str, Input, &[&str])> = vec![
        (
            "a fault naming an unknown service",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: apii }\n    detect: { check: api.health, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:3:20: unknown service `apii`: drills act only on services declared under `services:` in walls/x/wall.yaml (did you mean `api`?)"],
        ),
        (
            "a budget that is not a duration",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: api }\n    detect: { check: api.health, within: soon }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:4:42: bad duration `soon` for `within` in check `d`: expected a number followed by a unit, e.g. 5s"],
        ),
        (
            "no restore and not self-healing",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: api }\n    detect: { check: api.health, within: 1s }\n"),
            &["walls/x/drills/d.yaml:2:5: drill in check `d` has no `restore` (add `restore: { undo: true }` (or an action), or declare `self_healing: true` if the system repairs this fault itself)"],
        ),
        (
            "a step that is not a check",
            input(ROOT, "drills:\n  - id: d\n    steady: [api.helth]\n    fault: { kill: api }\n    detect: { check: api.health, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:3:14: drill step `api.helth` is not a check of this wall (did you mean `api.health`?)"],
        ),
        (
            "a target outside the allowed hosts",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: api }\n    detect: { check: far.away, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:4:22: drill step `far.away` targets 10.1.2.3, which is not loopback (drills act only on loopback unless `drills.allow_hosts` in walls/x/wall.yaml lists the host)"],
        ),
        (
            "kill needs a pid file",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: worker }\n    detect: { check: api.health, within: 1s }\n    restore: { start: worker }\n"),
            &["walls/x/drills/d.yaml:3:20: service `worker` has no `pid_file`, so it cannot be signalled or sampled"],
        ),
        (
            "two actions in one fault",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: api, stop: db }\n    detect: { check: api.health, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:3:12: more than one action in `fault` in check `d`: `stop`, `kill` (use exactly one of `stop`, `kill`, `pause`, `proxy`, `mode`, `replace`, `command`)"],
        ),
        (
            "undo of a command without one",
            input(ROOT, "drills:\n  - id: d\n    fault: { command: { run: [touch, /tmp/x] } }\n    detect: { check: api.health, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:5:14: `undo: true` in check `d`: this fault has no obvious undo; name the restore action"],
        ),
        (
            "a drill that measures nothing",
            input(ROOT, "drills:\n  - id: d\n    fault: { kill: api }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:2:5: drill in check `d` measures nothing (give at least one of `detect`, `recover`, `after`)"],
        ),
        (
            "a poll too coarse",
            input(ROOT, "drills:\n  - id: d\n    poll: 5s\n    fault: { kill: api }\n    detect: { check: api.health, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:3:11: `poll` in check `d` must be at most 1s: a coarser poll cannot measure a recovery"],
        ),
        (
            "proxy without a control API",
            input("name: lab\nservices:\n  api: { pid_file: /run/api.pid }\n", "drills:\n  - id: d\n    fault: { proxy: blackhole }\n    detect: { check: api.health, within: 1s }\n    restore: { undo: true }\n"),
            &["walls/x/drills/d.yaml:3:21: this action needs the system's control API: set `drills.control` in walls/x/wall.yaml"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, input, expected) in cases {
        let got = match load(&input) {
            Ok(_) => vec!["<loaded without error>".to_string()],
            Err(errors) => errors,
        };
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:#?}\n  got      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
