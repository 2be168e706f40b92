//! The command probe running real programs, including ones that leave processes behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use auditwall_probes::{Observations, ProbeError, ProbeErrorKind, Prober};
use auditwall_spec::{CommandProbe, Probe, Value};

fn sh(script: &str) -> CommandProbe {
    CommandProbe {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: BTreeMap::new(),
        cwd: None,
    }
}

async fn run(probe: CommandProbe, timeout: Duration) -> Result<Observations, ProbeError> {
    Prober::new()
        .expect("prober")
        .run(&Probe::Command(probe), timeout)
        .await
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Gone from /proc, or a zombie waiting for its new parent to reap it: either way dead.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            matches!(state, Some("Z" | "X"))
        }
    }
}

/// Polls (bounded) because the kernel delivers SIGKILL asynchronously.
async fn dies(pid: u32) -> bool {
    for _ in 0..200 {
        if is_dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path).expect("the script wrote the grandchild's pid");
    text.trim().parse().expect("a pid")
}

#[tokio::test]
async fn exit_code_and_both_streams_are_captured() {
    let obs = run(sh("echo out; echo err >&2; exit 3"), TIMEOUT)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("exit"), Some(&Value::Number(3.0)));
    assert_eq!(obs.get("stdout"), Some(&Value::Text("out\n".into())));
    assert_eq!(obs.get("stderr"), Some(&Value::Text("err\n".into())));
    assert!(
        matches!(obs.get("duration"), Some(Value::Duration(_))),
        "{obs:?}"
    );
}

#[tokio::test]
async fn env_and_cwd_are_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path().canonicalize().expect("canonical tempdir");
    let mut probe = sh(r#"printf '%s in %s' "$GREETING" "$(pwd -P)""#);
    probe.env.insert("GREETING".into(), "hello".into());
    probe.cwd = Some(cwd.to_string_lossy().into_owned());
    let obs = run(probe, TIMEOUT).await.expect("probe runs");
    assert_eq!(
        obs.get("stdout"),
        Some(&Value::Text(format!("hello in {}", cwd.display())))
    );
}

#[tokio::test]
async fn a_signal_death_is_128_plus_the_signal() {
    let obs = run(sh("kill -9 $$"), TIMEOUT).await.expect("probe runs");
    assert_eq!(obs.get("exit"), Some(&Value::Number(137.0)));
}

#[tokio::test]
async fn output_is_capped_at_1_mib_per_stream_and_says_so() {
    let obs = run(sh("head -c 2000000 /dev/zero | tr '\\0' a"), TIMEOUT)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("exit"), Some(&Value::Number(0.0)));
    let Some(Value::Text(stdout)) = obs.get("stdout") else {
        panic!("no stdout")
    };
    let marker = "\n[auditwall: stdout truncated at 1 MiB]";
    assert!(stdout.ends_with(marker), "no truncation marker");
    assert_eq!(stdout.len(), 1024 * 1024 + marker.len());
}

#[tokio::test]
async fn a_missing_program_is_a_detector_error() {
    let probe = CommandProbe {
        program: "auditwall-no-such-program".into(),
        args: vec!["--version".into()],
        env: BTreeMap::new(),
        cwd: None,
    };
    let err = run(probe, TIMEOUT).await.expect_err("no such program");
    assert_eq!(err.kind, ProbeErrorKind::Detector);
    assert_eq!(err.message, "program not found: auditwall-no-such-program");
}

#[tokio::test]
async fn a_missing_working_directory_is_a_detector_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope").to_string_lossy().into_owned();
    let mut probe = sh("true");
    probe.cwd = Some(missing.clone());
    let err = run(probe, TIMEOUT).await.expect_err("no cwd");
    assert_eq!(err.kind, ProbeErrorKind::Detector);
    assert_eq!(
        err.message,
        format!("working directory not found: {missing}")
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 60 & echo $! > '{}'; sleep 60", pid_file.display());
    let err = run(sh(&script), Duration::from_secs(1))
        .await
        .expect_err("times out");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    assert_eq!(
        err.message,
        format!("command timed out after 1s (process group killed): sh -c {script}")
    );
    let grandchild = read_pid(&pid_file);
    assert!(
        dies(grandchild).await,
        "grandchild {grandchild} survived the timeout"
    );
}

#[tokio::test]
async fn a_background_child_does_not_outlive_a_finished_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 60 & echo $! > '{}'; echo done", pid_file.display());
    // The background sleep holds stdout open: without killing the group this would time out.
    let obs = run(sh(&script), TIMEOUT).await.expect("probe runs");
    assert_eq!(obs.get("exit"), Some(&Value::Number(0.0)));
    assert_eq!(obs.get("stdout"), Some(&Value::Text("done\n".into())));
    let grandchild = read_pid(&pid_file);
    assert!(
        dies(grandchild).await,
        "grandchild {grandchild} outlived the command"
    );
}

#[tokio::test]
async fn dropping_a_running_probe_kills_its_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("grandchild.pid");
    let ready = dir.path().join("ready");
    let script = format!(
        "sleep 60 & echo $! > '{}'; touch '{}'; sleep 60",
        pid_file.display(),
        ready.display()
    );
    let prober = Prober::new().expect("prober");
    let probe = Probe::Command(sh(&script));
    // Boxed so that `drop` below really drops the future, not just a pinned reference to it.
    let mut running = Box::pin(prober.run(&probe, Duration::from_secs(60)));
    // Drive the probe until the script has started its grandchild, then drop it mid-run,
    // as a harness deadline would.
    let mut started = false;
    for _ in 0..200 {
        if tokio::time::timeout(Duration::from_millis(50), &mut running)
            .await
            .is_ok()
        {
            panic!("the command finished although it sleeps for 60s");
        }
        if ready.exists() {
            started = true;
            break;
        }
    }
    assert!(started, "the script never started its grandchild");
    drop(running);
    let grandchild = read_pid(&pid_file);
    assert!(
        dies(grandchild).await,
        "grandchild {grandchild} survived the dropped probe"
    );
}
