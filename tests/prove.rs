//! `auditwall verify --prove` as a user runs it, against a reference system started with
//! `auditwall up`: every reference check with a canary turns red under its fault; a P0 check
//! whose canary does not touch it is reported vacuous and fails the run, with every fault
//! cleared afterwards; and an auditwall killed with SIGKILL while a fault is on leaves a
//! journal from which `auditwall recover` clears it.

mod common;

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{read_json, write_wall, ChildGuard};

/// Proving the whole reference wall runs a dozen faults one after another (a crash loop
/// waits for the watchdog to give up): far longer than the other CLI tests' bound.
const PROVE_TIMEOUT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(50);

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn assert_code(&self, expected: i32) {
        assert_eq!(
            self.code,
            Some(expected),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }
}

struct System {
    work: tempfile::TempDir,
}

impl System {
    fn up() -> System {
        let system = System {
            work: tempfile::tempdir().expect("tempdir"),
        };
        system.run(&["up"], Duration::from_secs(60)).assert_code(0);
        system
    }

    fn dir(&self) -> PathBuf {
        self.work.path().join("reference")
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    fn command(&self, args: &[&str], out: &str) -> Command {
        let file = |name: String| std::fs::File::create(self.path(&name)).expect("output file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_auditwall"));
        cmd.args(args)
            .current_dir(self.work.path())
            .env("AUDITWALL_REFERENCE_DIR", self.dir())
            .env("NO_COLOR", "1")
            .env_remove("AUDITWALL_JOURNAL")
            .env_remove("AUDITWALL_PROFILE")
            .stdin(Stdio::null())
            .stdout(file(format!("{out}.stdout")))
            .stderr(file(format!("{out}.stderr")));
        cmd
    }

    /// Runs `auditwall args` to the end, killing it (and failing) past `limit`.
    fn run(&self, args: &[&str], limit: Duration) -> Output {
        let out = common::unique("out");
        let mut child = ChildGuard(self.command(args, &out).spawn().expect("start auditwall"));
        let status = wait(&mut child, limit)
            .unwrap_or_else(|| panic!("auditwall {args:?} ran for more than {limit:?}"));
        let read = |ext: &str| {
            std::fs::read_to_string(self.path(&format!("{out}.{ext}"))).unwrap_or_default()
        };
        Output {
            code: status.code(),
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }

    /// The embedded wall as a directory, the running system's live values as an overlay, and
    /// one more probe: hub health at P0, whose declared canary (a wrong fallback answer)
    /// cannot touch it.
    fn vacuous_wall(&self) -> PathBuf {
        let info = auditwall_runtime::daemon::read_info(&self.dir())
            .expect("system info")
            .expect("the system is up");
        let live = info.profile_layer();
        let mut files: Vec<(&str, &str)> = auditwall_scenarios::DEFAULT_WALL.to_vec();
        files.push(("profiles/live.yaml", &live));
        files.push((
            "probes/vacuous.yaml",
            "probes:\n  - id: hub.alive\n    severity: P0\n    http: { url: \"${endpoints.hub}/health\" }\n    expect: [\"status == 200\"]\n    canary: { fault: wrong-answer }\n",
        ));
        write_wall(self.work.path(), "wall", &files)
    }

    fn fallback_port(&self) -> u16 {
        auditwall_runtime::daemon::read_info(&self.dir())
            .expect("system info")
            .expect("the system is up")
            .ports["model-fallback"]
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.run(&["down"], Duration::from_secs(60));
    }
}

fn wait(child: &mut ChildGuard, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.0.try_wait().expect("wait for auditwall") {
            return Some(status);
        }
        std::thread::sleep(POLL);
    }
    None
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

fn checks(report: &serde_json::Value) -> &Vec<serde_json::Value> {
    report["checks"].as_array().expect("checks")
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    checks(report)
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

/// Whether the fallback answers 6*7 right (`43` under the wrong-answer fault), if it answers
/// on loopback within five seconds (its cold load takes 1.5s).
fn fallback_answers_42(port: u16) -> Option<bool> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let body = r#"{"model":"fallback","messages":[{"role":"user","content":"What is 6*7?"}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    let content = json["choices"][0]["message"]["content"]
        .as_str()?
        .to_string();
    Some(content.contains("42"))
}

#[test]
fn verify_prove_reports_every_reference_check_proven() {
    let system = System::up();
    let out = system.run(
        &[
            "verify",
            "--prove",
            "--retries",
            "2",
            "--report-dir",
            "proved",
        ],
        PROVE_TIMEOUT,
    );
    out.assert_code(0);
    let report = read_json(&system.path("proved/report.json"));
    let mut proven = 0;
    for c in checks(&report) {
        let proof = &c["proof"];
        let id = c["id"].as_str().unwrap_or_default();
        assert_eq!(proof["status"], "proven", "{id}: {proof}");
        assert!(proof["red_after_ms"].as_f64().is_some(), "{id}: {proof}");
        proven += 1;
    }
    // Every check: 19 probes, the calibration check, 32 scenarios (their L4 claims under lost
    // writes, their "nothing else changed" under crosstalk) and the 5 drills (their recovery
    // broken under their canary).
    assert_eq!(proven, 57, "{report}");
    assert_eq!(check(&report, "hub.goodnight")["proof"]["status"], "proven");
    assert_eq!(
        check(&report, "reference.configs")["proof"]["fault"],
        "config-drift"
    );
    assert!(
        out.stdout
            .contains("proof: 57 proven, 0 vacuous, 0 unproven, 0 error"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("  proven   probes::model-primary.chat ")
                && l.ends_with(" under hang-chat")),
        "{}",
        out.stdout
    );
    assert!(!system.path(".auditwall/journal.json").exists());
    system
        .run(&["verify", "--suite", "probes"], Duration::from_secs(60))
        .assert_code(0);
}

#[test]
fn a_vacuous_p0_check_fails_the_run_and_leaves_the_system_clean() {
    let system = System::up();
    let wall = system.vacuous_wall();
    let out = system.run(
        &[
            "verify",
            wall.to_str().expect("utf-8 path"),
            "--profile",
            "live",
            "--prove",
            "--id",
            "hub.alive",
            "--id",
            "model-fallback.chat",
            "--report-dir",
            "vacuous",
        ],
        PROVE_TIMEOUT,
    );
    out.assert_code(1);
    let report = read_json(&system.path("vacuous/report.json"));
    let vacuous = &check(&report, "hub.alive");
    assert_eq!(vacuous["verdict"], "pass", "{vacuous}");
    assert_eq!(vacuous["proof"]["status"], "vacuous", "{vacuous}");
    assert_eq!(vacuous["proof"]["red_after_ms"], serde_json::Value::Null);
    let detail = vacuous["proof"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.ends_with(" polls over 20s with `wrong-answer` on: this check cannot fail"),
        "{detail}"
    );
    // The same fault is a real negative control for the check it was written for.
    let chat = &check(&report, "model-fallback.chat")["proof"];
    assert_eq!(chat["status"], "proven", "{chat}");
    assert!(
        out.stdout.lines().any(|l| l
            == "  VACUOUS  probes::hub.alive                      stayed green under wrong-answer"),
        "{}",
        out.stdout
    );
    // model-fallback.health runs too (the chat needs it), with its crash-loop canary.
    assert!(
        out.stdout
            .contains("proof: 2 proven, 1 vacuous, 0 unproven, 0 error"),
        "{}",
        out.stdout
    );
    let junit = std::fs::read_to_string(system.path("vacuous/junit.xml")).expect("junit.xml");
    assert!(junit.contains("<failure type=\"vacuous\""), "{junit}");
    // Clean afterwards: nothing owed, and the fault is off.
    assert!(!system.path(".auditwall/journal.json").exists());
    assert_eq!(fallback_answers_42(system.fallback_port()), Some(true));
}

#[test]
fn sigkill_while_a_canary_fault_is_on_is_recovered_from_the_journal() {
    let system = System::up();
    let wall = system.vacuous_wall();
    let journal = system.path(".auditwall/journal.json");
    let port = system.fallback_port();
    let mut child = ChildGuard(
        system
            .command(
                &[
                    "verify",
                    wall.to_str().expect("utf-8 path"),
                    "--profile",
                    "live",
                    "--prove",
                    "--id",
                    "hub.alive",
                ],
                "killed",
            )
            .spawn()
            .expect("start auditwall"),
    );
    // The vacuous check keeps its fault on for the whole patience: the fallback answers wrong.
    wait_for("the canary fault to be on", Duration::from_secs(60), || {
        fallback_answers_42(port) == Some(false)
    });
    child.0.kill().expect("SIGKILL auditwall");
    let _ = child.0.wait();

    let owed = std::fs::read_to_string(&journal).expect("journal left behind");
    assert!(owed.contains("\"drill\": \"hub.alive\""), "{owed}");
    assert!(
        owed.contains("\"fault\": \"canary wrong-answer\""),
        "{owed}"
    );
    assert_eq!(
        fallback_answers_42(port),
        Some(false),
        "the fault is still on"
    );

    let recovered = system.run(&["recover"], Duration::from_secs(60));
    recovered.assert_code(0);
    assert!(
        recovered.stderr.contains(
            "recovered from the drill journal: drill `hub.alive` (fault `canary wrong-answer`"
        ),
        "{}",
        recovered.stderr
    );
    assert!(!journal.exists());
    assert_eq!(fallback_answers_42(port), Some(true));
}
