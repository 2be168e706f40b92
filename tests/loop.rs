//! The Kitchen Loop run as a user runs it, against a system started with `auditwall up`: a
//! healthy cycle is green; with "automation says success but the door is not locked" on, the
//! oracle fails at L4 cycle after cycle and its gate pauses the loop, which refuses to run
//! until `loop resume`; the kill switch stops it; `loop plan` shows the coverage matrix.

mod common;

use common::auditwall;

type System = common::UpSystem;

#[test]
fn a_regressed_automation_pauses_the_loop_until_resumed() {
    let system = System::up();
    let healthy = system.run(&["loop", "run", "--exercise", "1s"]);
    healthy.assert_code(0);
    assert!(
        healthy
            .stdout
            .contains("loop: regress   Ran  32/32 scenarios green, oracle 3/3"),
        "{}",
        healthy.stdout
    );
    assert!(
        healthy
            .stdout
            .contains("loop: cycle 1: scenarios 100%, oracle 100%"),
        "{}",
        healthy.stdout
    );

    system.run(&["fault", "goodnight-no-lock"]).assert_code(0);
    let regressed = system.run(&["loop", "run", "--cycles", "5", "--exercise", "0s"]);
    regressed.assert_code(1);
    assert!(
        regressed.stdout.contains(
            "loop: gate oracle-failing tripped: oracle pass rate below 1 for 3 cycles in a row"
        ),
        "{}",
        regressed.stdout
    );
    assert!(
        regressed.stdout.contains("loop: cycle 4:"),
        "paused after the third failing cycle"
    );
    assert!(
        !regressed.stdout.contains("loop: cycle 5:"),
        "{}",
        regressed.stdout
    );
    // The failure was triaged once, by signature, however many cycles saw it.
    let findings: Vec<_> = std::fs::read_dir(system.path(".auditwall/loop/findings"))
        .expect("findings dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = std::fs::read_to_string(findings[0].path()).expect("finding");
    assert!(finding.contains("hub.goodnight"), "{finding}");
    assert!(finding.contains("L4"), "{finding}");

    let refused = system.run(&["loop", "run", "--exercise", "0s"]);
    refused.assert_code(3);
    assert!(
        refused
            .stderr
            .contains("the loop is paused by gate oracle-failing"),
        "{}",
        refused.stderr
    );

    system.run(&["fault", "none"]).assert_code(0);
    let resumed = system.run(&[
        "loop",
        "resume",
        "--reason",
        "goodnight locks the front door again",
    ]);
    resumed.assert_code(0);
    let again = system.run(&["loop", "run", "--exercise", "0s"]);
    again.assert_code(0);
    assert!(again.stdout.contains("oracle 100%"), "{}", again.stdout);

    // The kill switch stops the loop before its next cycle.
    std::fs::write(system.path(".auditwall/loop/STOP"), "").expect("kill switch");
    let stopped = system.run(&["loop", "run", "--exercise", "0s"]);
    stopped.assert_code(0);
    assert!(stopped.stdout.contains("kill switch"), "{}", stopped.stdout);
    assert!(
        !stopped.stdout.contains("loop: cycle"),
        "{}",
        stopped.stdout
    );
}

#[test]
fn loop_plan_prints_the_coverage_matrix() {
    let work = tempfile::tempdir().expect("tempdir");
    let out = auditwall(work.path(), &["loop", "plan"], &[]);
    out.assert_code(0);
    let first: Vec<&str> = out.stdout.lines().take(2).collect();
    assert_eq!(
        first,
        vec![
            "surface: entity 6 × action 8 × mode 5 = 240 cells; 115 valid, 10 blocked, 105 to cover",
            "coverage: 42/105 cells claimed by a scenario (40.0%); give --results REPORT.json for L4-green",
        ]
    );
    assert!(out.stdout.contains("uncovered (63):"), "{}", out.stdout);
    assert!(
        out.stdout.contains("entity=thermostat.main action=goodnight mode=refused: goodnight never touches the thermostat"),
        "{}",
        out.stdout
    );
    let validate = auditwall(work.path(), &["loop", "validate"], &[]);
    validate.assert_code(0);
}
