//! Golden tests of the `auditwall` binary: real processes, real loopback servers, real report
//! files. Every run happens in a temporary working directory, so `.auditwall/` never lands in
//! the repository, and every process a test starts is killed by a guard.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    auditwall, example_wall, free_port, read_json, repo_root, serve_processes_with, unique,
    verdicts, wait_until_gone, write_wall, ExampleServer, Output, EXAMPLE_CHECKS, MARKER_VAR,
};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("cannot create a temporary directory")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Values for the example wall's variables when nothing will be contacted (plan, list, profile).
fn unused_example_env() -> Vec<(String, String)> {
    vec![
        ("EXAMPLE_API".into(), "http://127.0.0.1:9".into()),
        ("EXAMPLE_ADDR".into(), "127.0.0.1:9".into()),
        ("EXAMPLE_PIDFILE".into(), "/nonexistent/model.pid".into()),
    ]
}

fn verify_example(server: &ExampleServer, cwd: &Path, extra: &[&str]) -> Output {
    let reports = cwd.join("reports");
    let wall = example_wall();
    let mut args = vec![
        "verify",
        path_str(&wall),
        "--report-dir",
        path_str(&reports),
    ];
    args.extend_from_slice(extra);
    auditwall(cwd, &args, &server.env())
}

fn junit(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("junit.xml")).expect("junit.xml was not written")
}

/// One JUnit testcase: its name and, if it did not pass, the element that says why.
#[derive(Debug)]
struct Case {
    name: String,
    /// `failure` (the system is wrong) or `error` (the check could not run), with its message.
    problem: Option<(String, String)>,
}

fn testcases(xml: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(xml).expect("junit.xml is not well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| Case {
            name: case.attribute("name").unwrap_or("").to_string(),
            problem: case
                .children()
                .find(|c| c.has_tag_name("failure") || c.has_tag_name("error"))
                .map(|f| {
                    let message = f.attribute("message").unwrap_or("").to_string();
                    (f.tag_name().name().to_string(), message)
                }),
        })
        .collect()
}

/// The problem element of the only testcase in `xml`.
fn only_problem(xml: &str) -> (String, String) {
    let cases = testcases(xml);
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases[0]
        .problem
        .clone()
        .unwrap_or_else(|| panic!("testcase {} has no failure or error", cases[0].name))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn example_ids() -> Vec<String> {
    sorted(EXAMPLE_CHECKS.iter().map(|s| s.to_string()).collect())
}

#[test]
fn example_wall_is_green_against_a_live_server() {
    let server = ExampleServer::start();
    let cwd = tempdir();
    let out = verify_example(&server, cwd.path(), &[]);
    out.assert_code(0);

    for id in EXAMPLE_CHECKS {
        let lines: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(&format!("probes::{id}")))
            .collect();
        assert_eq!(lines.len(), 1, "one line for {id} in\n{}", out.stdout);
        assert!(lines[0].trim_start().starts_with("PASS"), "{}", lines[0]);
    }
    assert!(
        out.stdout.contains("HEALTHY  8 checks in ")
            && out
                .stdout
                .contains(": 8 pass (0 flaky), 0 fail, 0 drift, 0 error, 0 skip, 0 blocked"),
        "summary line missing in\n{}",
        out.stdout
    );
    let reports = cwd.path().join("reports");
    assert_eq!(
        out.stdout.lines().last(),
        Some(format!("reports: {}", reports.display()).as_str())
    );

    let cases = testcases(&junit(&reports));
    assert_eq!(
        sorted(cases.iter().map(|c| c.name.clone()).collect()),
        example_ids()
    );
    let failed: Vec<_> = cases.iter().filter(|c| c.problem.is_some()).collect();
    assert!(failed.is_empty(), "unexpected failures: {failed:?}");

    let report = read_json(&reports.join("report.json"));
    assert_eq!(report["schema_version"], 1);
    let verdicts = verdicts(&report);
    assert_eq!(
        sorted(verdicts.iter().map(|(id, _)| id.clone()).collect()),
        example_ids()
    );
    for (id, verdict) in &verdicts {
        assert_eq!(verdict, "pass", "check {id}");
    }
    assert!(reports.join("summary.md").is_file());
    assert!(!cwd.path().join(".auditwall").exists());
}

#[test]
fn broken_overlay_fails_exactly_the_chat_contract() {
    let server = ExampleServer::start();
    let cwd = tempdir();
    let out = verify_example(&server, cwd.path(), &["--profile", "broken"]);
    out.assert_code(1);

    let reports = cwd.path().join("reports");
    let failed: Vec<Case> = testcases(&junit(&reports))
        .into_iter()
        .filter(|c| c.problem.is_some())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].name, "model.chat");
    let (element, message) = failed[0]
        .problem
        .clone()
        .expect("kept only cases with a problem");
    assert_eq!(element, "failure");
    // The condition as written (never interpolated, so no secret can leak) and the actual value.
    assert!(
        message.contains("json.choices[0].message.content contains '${chat.answer}'"),
        "{message}"
    );
    assert!(
        message.contains(r#"expected contains '5', got "4""#),
        "{message}"
    );

    let report = read_json(&reports.join("report.json"));
    for (id, verdict) in verdicts(&report) {
        let expected = if id == "model.chat" { "fail" } else { "pass" };
        assert_eq!(verdict, expected, "check {id}");
    }
}

#[test]
fn example_wall_with_its_server_down_fails_and_blocks_the_dependants() {
    let cwd = tempdir();
    let reports = cwd.path().join("reports");
    let env = vec![
        (
            "EXAMPLE_API".to_string(),
            format!("http://127.0.0.1:{}", free_port()),
        ),
        (
            "EXAMPLE_ADDR".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "EXAMPLE_PIDFILE".to_string(),
            path_str(&cwd.path().join("no-such.pid")).to_string(),
        ),
    ];
    let wall = example_wall();
    let out = auditwall(
        cwd.path(),
        &[
            "verify",
            path_str(&wall),
            "--report-dir",
            path_str(&reports),
        ],
        &env,
    );
    out.assert_code(1);
    let report = read_json(&reports.join("report.json"));
    let mut got: Vec<(String, String, String)> = report["checks"]
        .as_array()
        .expect("report.json has no `checks` list")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (field("id"), field("verdict"), field("blocked_by"))
        })
        .collect();
    got.sort();
    let row = |id: &str, verdict: &str, blocked_by: &str| {
        (id.to_string(), verdict.to_string(), blocked_by.to_string())
    };
    // Every check but the shell one depends on the server, so each one is shown to turn red.
    assert_eq!(
        got,
        [
            row("host.pid-file", "fail", ""),
            row("host.port-owner", "blocked", "probes::host.tcp"),
            row("host.process", "fail", ""),
            row("host.shell", "pass", ""),
            row("host.tcp", "fail", ""),
            row("model.chat", "blocked", "probes::model.health"),
            row("model.health", "fail", ""),
            row("model.models", "blocked", "probes::model.health"),
        ]
    );
}

/// Regression: `auditwall … | head` printed "error: Broken pipe (os error 32)" once the
/// reader had gone. The reader here is gone before auditwall starts, so its first write fails.
#[test]
fn a_closed_output_pipe_ends_the_command_without_an_error_message() {
    let work = tempdir();
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = common::ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_auditwall"))
            .args(["loop", "plan"])
            .current_dir(work.path())
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start auditwall"),
    );
    let status = common::wait_bounded(&mut child, common::RUN_TIMEOUT).expect("auditwall exits");
    let mut stderr = String::new();
    if let Some(mut err) = child.0.stderr.take() {
        std::io::Read::read_to_string(&mut err, &mut stderr).expect("stderr");
    }
    assert_eq!(stderr, "", "nothing is printed about the pipe");
    assert_eq!(status.code(), Some(3), "the command did not finish");
}

#[test]
fn piped_output_has_no_ansi_escapes_unless_forced() {
    let server = ExampleServer::start();
    let cwd = tempdir();
    let piped = verify_example(&server, cwd.path(), &["--profile", "broken"]);
    piped.assert_code(1);
    assert!(!piped.stdout.contains('\x1b'), "{:?}", piped.stdout);
    assert!(!piped.stderr.contains('\x1b'), "{:?}", piped.stderr);
    // The same run with colours forced does emit escapes, so the assertion above can fail.
    let forced = verify_example(
        &server,
        cwd.path(),
        &["--profile", "broken", "--color", "always"],
    );
    forced.assert_code(1);
    assert!(forced.stdout.contains('\x1b'), "{:?}", forced.stdout);
}

#[test]
fn process_scan_sees_a_live_server_and_not_a_killed_one() {
    let server = ExampleServer::start();
    let marker = server.marker.clone();
    assert_eq!(serve_processes_with(&marker), vec![server.pid()]);
    drop(server);
    assert_eq!(
        wait_until_gone(&marker, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}

/// The embedded default wall's checks as `list` names them, sorted. The default wall grows
/// with the reference system, so tests compare against it instead of a fixed count.
fn default_wall_checks(cwd: &Path) -> Vec<String> {
    let out = auditwall(cwd, &["list"], &[]);
    out.assert_code(0);
    sorted(out.stdout.lines().map(str::to_string).collect())
}

#[test]
fn default_wall_starts_the_reference_system_and_stops_it() {
    let cwd = tempdir();
    let marker_value = unique("default-wall");
    let marker = format!("{MARKER_VAR}={marker_value}");
    let reports = cwd.path().join("reports");

    // Watch the run's services (they inherit the marker) while it runs, to prove the scan
    // below would see them if they outlived it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = std::sync::Arc::clone(&stop);
        let marker = marker.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            // Bounded by the run's own timeout: `stop` is set as soon as the run returns.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                seen.extend(serve_processes_with(&marker));
                std::thread::sleep(Duration::from_millis(10));
            }
            seen
        })
    };
    let out = auditwall(
        cwd.path(),
        &["verify", "--report-dir", path_str(&reports)],
        &[(MARKER_VAR.to_string(), marker_value)],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.join().expect("the watcher thread panicked");

    out.assert_code(0);
    assert_eq!(out.first_stderr_line(), "starting the reference system ...");
    let expected = default_wall_checks(cwd.path());
    let passed: Vec<String> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("PASS    "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    // Drills are disruptive: without --allow-disruptive they are skipped, and say why.
    let (drills, plain): (Vec<String>, Vec<String>) = expected
        .iter()
        .cloned()
        .partition(|c| c.starts_with("drills::"));
    assert!(!drills.is_empty(), "the default wall has drills");
    assert_eq!(sorted(passed), plain, "{}", out.stdout);
    for drill in &drills {
        let line = format!("SKIP    {drill}");
        assert!(
            out.stdout.contains(&line),
            "no `{line}` in:\n{}",
            out.stdout
        );
    }
    let report = read_json(&reports.join("report.json"));
    let verdicts = verdicts(&report);
    let names = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            format!("{}::{}", field("suite"), field("id"))
        })
        .collect();
    assert_eq!(sorted(names), expected);
    let skipped: Vec<&(String, String)> = verdicts.iter().filter(|(_, v)| v == "skip").collect();
    assert_eq!(skipped.len(), drills.len(), "{verdicts:?}");
    assert!(
        verdicts.iter().all(|(_, v)| v == "pass" || v == "skip"),
        "{verdicts:?}"
    );

    assert!(
        !seen.is_empty(),
        "the scan never saw the reference services"
    );
    assert_eq!(
        serve_processes_with(&marker),
        Vec::<u32>::new(),
        "reference services outlived the run (seen during it: {seen:?})"
    );
}

#[test]
fn dry_run_of_the_default_wall_starts_nothing() {
    let cwd = tempdir();
    let out = auditwall(cwd.path(), &["verify", "--dry-run"], &[]);
    out.assert_code(0);
    assert_eq!(
        out.stderr, "",
        "a dry run must not start the reference system"
    );
    let planned = default_wall_checks(cwd.path()).len();
    assert!(planned > 0);
    assert_eq!(
        out.stdout.lines().last(),
        Some(format!("{planned} checks planned, 0 filtered out").as_str())
    );
    assert!(
        !cwd.path().join(".auditwall").exists(),
        "a dry run wrote reports"
    );
}

#[test]
fn dry_run_of_the_example_wall_prints_the_plan() {
    let cwd = tempdir();
    let out = auditwall(
        cwd.path(),
        &["verify", path_str(&example_wall()), "--dry-run"],
        &unused_example_env(),
    );
    out.assert_code(0);
    assert!(!cwd.path().join(".auditwall").exists());
    insta::assert_snapshot!("dry_run_example", out.stdout);
}

#[test]
fn list_prints_one_suite_qualified_id_per_check() {
    let cwd = tempdir();
    let out = auditwall(
        cwd.path(),
        &["list", path_str(&example_wall())],
        &unused_example_env(),
    );
    out.assert_code(0);
    let expected: Vec<String> = EXAMPLE_CHECKS
        .iter()
        .map(|id| format!("probes::{id}"))
        .collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected);
    insta::assert_snapshot!("list_example", out.stdout);
}

#[test]
fn profile_show_names_the_overlay_that_set_each_value() {
    let cwd = tempdir();
    let out = auditwall(
        cwd.path(),
        &[
            "profile",
            "show",
            path_str(&example_wall()),
            "--profile",
            "broken",
        ],
        &unused_example_env(),
    );
    out.assert_code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "chat.answer     5  [broken]"),
        "{}",
        out.stdout
    );
    insta::assert_snapshot!("profile_show_example_broken", out.stdout);
}

/// Replaces what differs between hosts and runs in `doctor` output.
fn redact_doctor(text: &str, server: &ExampleServer) -> String {
    let text = text
        .replace(path_str(repo_root()), "<repo>")
        .replace(path_str(&server.pid_file()), "<pid-file>")
        .replace(&server.addr.to_string(), "<addr>");
    text.lines()
        .map(|line| {
            if let Some((head, _)) = line.split_once("(sha256 ") {
                format!("{head}(sha256 <digest>)")
            } else if let Some((head, _)) = line.split_once(": /") {
                format!("{head}: <path on PATH>")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn doctor_is_green_on_the_example_wall_with_its_server_up() {
    let server = ExampleServer::start();
    let cwd = tempdir();
    let out = auditwall(
        cwd.path(),
        &["doctor", path_str(&example_wall())],
        &server.env(),
    );
    out.assert_code(0);
    insta::assert_snapshot!("doctor_example", redact_doctor(&out.stdout, &server));
}

#[test]
fn doctor_names_a_missing_command() {
    let cwd = tempdir();
    write_wall(
        cwd.path(),
        "wall",
        &[(
            "wall.yaml",
            "name: t\nprerequisites:\n  commands: [sh, auditwall-no-such-program]\n",
        )],
    );
    let out = auditwall(cwd.path(), &["doctor", "wall"], &[]);
    out.assert_code(1);
    let fails: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(
        fails,
        ["FAIL  command auditwall-no-such-program: not found on PATH"]
    );
    assert_eq!(
        out.stdout.lines().last(),
        Some("2 prerequisites checked, 1 missing")
    );
}

const GOOD_WALL: &[(&str, &str)] = &[
    ("wall.yaml", "name: t\n"),
    (
        "probes/a.yaml",
        "probes:\n  - id: ok\n    command: { run: [sh, -c, \"exit 0\"] }\n",
    ),
];

#[test]
fn bad_input_is_a_wall_error_with_one_clear_first_line() {
    let cwd = tempdir();
    write_wall(cwd.path(), "wall", GOOD_WALL);
    write_wall(cwd.path(), "rootless", &[("probes/a.yaml", "probes: []\n")]);
    write_wall(
        cwd.path(),
        "typo",
        &[
            ("wall.yaml", "name: t\n"),
            (
                "probes/a.yaml",
                "probes:\n  - id: ok\n    command: { run: [sh, -c, \"exit 0\"] }\n    expct: [\"exit == 0\"]\n",
            ),
        ],
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["verify", "nope"],
            "error: nope: not a directory (expected a wall directory containing wall.yaml)",
        ),
        (&["verify", "rootless"], "error: rootless: no wall.yaml found"),
        (
            &["verify", "typo"],
            "error: typo/probes/a.yaml:4:5: unknown key `expct` in check `ok` (did you mean `expect`?)",
        ),
        (
            &["verify", "wall", "--partition", "hash:3/2"],
            "error: invalid partition `hash:3/2`: expected hash:K/N or count:K/N with 1 <= K <= N",
        ),
        (
            &["verify", "wall", "--timeout", "5"],
            "error: --timeout 5: durations need a unit, e.g. 5s",
        ),
        (
            &["verify", "wall", "--profile", "nope"],
            "error: wall: profile overlay `nope` not found (expected profiles/nope.yaml; known overlays: none)",
        ),
        (
            &["verify", "wall", "--id", "["],
            "error: invalid id filter `[`: error parsing glob '[': unclosed character class; missing ']'",
        ),
        (
            &["verify", "wall", "--bogus"],
            "error: unexpected argument '--bogus' found",
        ),
        (
            &["list", "typo"],
            "error: typo/probes/a.yaml:4:5: unknown key `expct` in check `ok` (did you mean `expect`?)",
        ),
    ];
    for (args, first_line) in cases {
        let out = auditwall(cwd.path(), args, &[]);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert_eq!(out.first_stderr_line(), *first_line, "{args:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
    assert!(
        !cwd.path().join(".auditwall").exists(),
        "a rejected run wrote reports"
    );
}

#[test]
fn bad_duration_flag_is_rejected_before_the_reference_system_starts() {
    let cwd = tempdir();
    let out = auditwall(cwd.path(), &["verify", "--timeout", "5"], &[]);
    out.assert_code(2);
    assert_eq!(
        out.stderr,
        "error: --timeout 5: durations need a unit, e.g. 5s\n"
    );
}

#[test]
fn zero_timeout_or_deadline_is_a_wall_error() {
    let cwd = tempdir();
    write_wall(cwd.path(), "wall", GOOD_WALL);
    let reports = cwd.path().join("reports");
    for flag in ["--timeout", "--deadline"] {
        let out = auditwall(
            cwd.path(),
            &[
                "verify",
                "wall",
                flag,
                "0s",
                "--report-dir",
                path_str(&reports),
            ],
            &[],
        );
        // Regression: `--timeout 0s` used to fail every check (a red system that is not red)
        // and `--deadline 0s` used to cut the run (exit 4).
        assert_eq!(out.code, Some(2), "{flag} 0s: {out:?}");
        assert!(!reports.exists(), "{flag} 0s ran the wall");
    }
}

#[test]
fn dry_run_validates_and_shows_the_overrides() {
    let cwd = tempdir();
    write_wall(cwd.path(), "wall", GOOD_WALL);
    let bad = auditwall(
        cwd.path(),
        &["verify", "wall", "--dry-run", "--timeout", "5"],
        &[],
    );
    assert_eq!(bad.code, Some(2), "{bad:?}");
    let good = auditwall(
        cwd.path(),
        &[
            "verify",
            "wall",
            "--dry-run",
            "--timeout",
            "2s",
            "--retries",
            "1",
        ],
        &[],
    );
    good.assert_code(0);
    let plan_line = good.stdout.lines().next().unwrap_or("");
    assert!(
        plan_line.ends_with("timeout 2s  retries 1"),
        "the plan shows the spec's values, not the run's: {plan_line}"
    );
}

#[test]
fn unreachable_target_fails_with_connection_refused() {
    let cwd = tempdir();
    write_wall(
        cwd.path(),
        "wall",
        &[
            ("wall.yaml", "name: t\n"),
            (
                "probes/a.yaml",
                "probes:\n  - id: api\n    http: { url: \"http://${env:CLOSED_ADDR}/health\" }\n",
            ),
        ],
    );
    // Nothing listens on a port that was just freed (short of a rare race with another process).
    let closed = format!("127.0.0.1:{}", free_port());
    let reports = cwd.path().join("reports");
    let out = auditwall(
        cwd.path(),
        &["verify", "wall", "--report-dir", path_str(&reports)],
        &[("CLOSED_ADDR".to_string(), closed.clone())],
    );
    out.assert_code(1);
    assert!(out.stdout.contains("connection refused"), "{}", out.stdout);
    let (element, message) = only_problem(&junit(&reports));
    assert_eq!(element, "failure");
    assert_eq!(
        message,
        format!("connection refused: GET http://{closed}/health")
    );
    let report = read_json(&reports.join("report.json"));
    assert_eq!(verdicts(&report), [("api".to_string(), "fail".to_string())]);
}

#[test]
fn deadline_cuts_the_run_writes_reports_and_kills_the_check() {
    let cwd = tempdir();
    write_wall(
        cwd.path(),
        "wall",
        &[
            ("wall.yaml", "name: t\n"),
            (
                "probes/a.yaml",
                "probes:\n  - id: slow\n    timeout: 60s\n    command: { run: [sleep, \"30\"], env: { SLEEP_MARKER: \"${env:SLEEP_MARKER}\" } }\n",
            ),
        ],
    );
    let marker_value = unique("deadline");
    let reports = cwd.path().join("reports");
    let out = auditwall(
        cwd.path(),
        &[
            "verify",
            "wall",
            "--deadline",
            "1s",
            "--report-dir",
            path_str(&reports),
        ],
        &[("SLEEP_MARKER".to_string(), marker_value.clone())],
    );
    out.assert_code(4);
    assert!(out.stdout.contains("DEADLINE EXCEEDED"), "{}", out.stdout);

    let report = read_json(&reports.join("report.json"));
    assert_eq!(report["deadline_exceeded"], true);
    assert_eq!(
        verdicts(&report),
        [("slow".to_string(), "error".to_string())]
    );
    assert_eq!(
        report["checks"][0]["message"],
        "run deadline of 1s exceeded before this check finished"
    );
    assert_eq!(
        only_problem(&junit(&reports)),
        (
            "error".to_string(),
            "run deadline of 1s exceeded before this check finished".to_string()
        )
    );
    assert!(reports.join("summary.md").is_file());
    assert_eq!(
        wait_until_gone(
            &format!("SLEEP_MARKER={marker_value}"),
            Duration::from_secs(5)
        ),
        Vec::<u32>::new(),
        "the command cut by the deadline is still running"
    );
}

#[test]
fn a_check_that_cannot_run_is_an_error_not_a_failure() {
    let cwd = tempdir();
    write_wall(
        cwd.path(),
        "wall",
        &[
            ("wall.yaml", "name: t\n"),
            (
                "probes/a.yaml",
                "probes:\n  - id: gone\n    command: { run: [auditwall-no-such-program] }\n",
            ),
        ],
    );
    let reports = cwd.path().join("reports");
    let out = auditwall(
        cwd.path(),
        &["verify", "wall", "--report-dir", path_str(&reports)],
        &[],
    );
    out.assert_code(3);
    let report = read_json(&reports.join("report.json"));
    assert_eq!(
        verdicts(&report),
        [("gone".to_string(), "error".to_string())]
    );
    assert_eq!(
        report["checks"][0]["message"],
        "program not found: auditwall-no-such-program"
    );
    assert_eq!(
        only_problem(&junit(&reports)),
        (
            "error".to_string(),
            "program not found: auditwall-no-such-program".to_string()
        )
    );
}
