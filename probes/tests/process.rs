//! The process probe against real processes: copies of `sleep` in a temporary directory, so
//! a command-line regex on that directory matches only what the test started.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use auditwall_probes::{Observations, ProbeError, ProbeErrorKind, Prober};
use auditwall_spec::{Probe, ProcessProbe, ProcessSelector, Value};
use support::Running;

fn system_sleep() -> &'static str {
    ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sleep is installed")
}

/// Installs a private copy of `sleep` (named `sleep`: multi-call binaries dispatch on it).
fn install_sleep(dir: &Path) -> PathBuf {
    let path = dir.join("sleep");
    std::fs::copy(system_sleep(), &path).expect("copy sleep");
    path
}

fn start(exe: &Path) -> Running {
    // A freshly copied binary can be briefly "busy": another test thread forking at the
    // moment of the copy inherits its write descriptor until it execs (ETXTBSY). Bounded retry.
    let mut tries = 0;
    loop {
        let spawned = Command::new(exe)
            .arg("60")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => return Running(child),
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("start sleep: {e:?}"),
        }
    }
}

fn by_name(dir: &Path) -> ProcessSelector {
    ProcessSelector::Name(format!(
        "^{} ",
        regex::escape(&dir.join("sleep").to_string_lossy())
    ))
}

async fn run(selector: ProcessSelector, exe: Option<&Path>) -> Result<Observations, ProbeError> {
    let probe = Probe::Process(ProcessProbe {
        selector,
        exe: exe.map(|p| p.to_string_lossy().into_owned()),
    });
    Prober::new()
        .expect("prober")
        .run(&probe, Duration::from_secs(10))
        .await
}

#[tokio::test]
async fn a_process_found_by_name_is_measured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = install_sleep(dir.path());
    let child = start(&exe);

    let obs = run(by_name(dir.path()), None).await.expect("probe runs");
    assert_eq!(obs.get("running"), Some(&Value::Bool(true)));
    assert_eq!(obs.get("count"), Some(&Value::Number(1.0)));
    assert_eq!(obs.get("pid"), Some(&Value::Number(f64::from(child.pid()))));
    assert_eq!(
        obs.get("exe"),
        Some(&Value::Text(exe.to_string_lossy().into_owned()))
    );
    assert!(
        matches!(obs.get("rss"), Some(Value::Bytes(rss)) if *rss > 0),
        "{obs:?}"
    );
    assert!(
        matches!(obs.get("uptime"), Some(Value::Duration(_))),
        "{obs:?}"
    );
    assert_eq!(
        obs.get("exe_current"),
        None,
        "only measured when exe is configured"
    );
}

#[tokio::test]
async fn every_match_is_counted_and_the_lowest_pid_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = install_sleep(dir.path());
    let first = start(&exe);
    let second = start(&exe);

    let obs = run(by_name(dir.path()), None).await.expect("probe runs");
    assert_eq!(obs.get("count"), Some(&Value::Number(2.0)));
    assert_eq!(
        obs.get("pid"),
        Some(&Value::Number(f64::from(first.pid().min(second.pid()))))
    );
}

#[tokio::test]
async fn no_match_is_not_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let obs = run(by_name(dir.path()), None).await.expect("probe runs");
    let mut want = Observations::new();
    want.set("running", Value::Bool(false));
    want.set("count", Value::Number(0.0));
    assert_eq!(obs, want);
}

#[tokio::test]
async fn a_pid_file_selects_its_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = start(&install_sleep(dir.path()));
    let pid_file = dir.path().join("service.pid");
    std::fs::write(&pid_file, format!("{}\n", child.pid())).expect("write pid file");

    let obs = run(
        ProcessSelector::PidFile(pid_file.to_string_lossy().into_owned()),
        None,
    )
    .await
    .expect("probe runs");
    assert_eq!(obs.get("running"), Some(&Value::Bool(true)));
    assert_eq!(obs.get("pid"), Some(&Value::Number(f64::from(child.pid()))));
}

#[tokio::test]
async fn a_pid_file_of_an_exited_process_is_not_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(system_sleep())
        .arg("0")
        .spawn()
        .expect("start sleep");
    let pid = child.id();
    child.wait().expect("sleep 0 exits");
    let pid_file = dir.path().join("stale.pid");
    std::fs::write(&pid_file, pid.to_string()).expect("write pid file");

    let obs = run(
        ProcessSelector::PidFile(pid_file.to_string_lossy().into_owned()),
        None,
    )
    .await
    .expect("probe runs");
    assert_eq!(obs.get("running"), Some(&Value::Bool(false)));
    assert_eq!(obs.get("pid"), None);

    let missing = dir
        .path()
        .join("missing.pid")
        .to_string_lossy()
        .into_owned();
    let obs = run(ProcessSelector::PidFile(missing), None)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("running"), Some(&Value::Bool(false)));
}

#[tokio::test]
async fn a_pid_file_without_a_pid_is_a_target_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("garbage.pid");
    std::fs::write(&pid_file, "not-a-pid\n").expect("write pid file");
    let path = pid_file.to_string_lossy().into_owned();
    let err = run(ProcessSelector::PidFile(path.clone()), None)
        .await
        .expect_err("garbage");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    assert_eq!(
        err.message,
        format!("pid file {path} does not hold a pid: \"not-a-pid\"")
    );
}

#[tokio::test]
async fn an_invalid_name_regex_is_a_detector_error() {
    let err = run(ProcessSelector::Name("(".into()), None)
        .await
        .expect_err("bad regex");
    assert_eq!(err.kind, ProbeErrorKind::Detector);
    assert!(
        err.message
            .starts_with("invalid process name regex \"(\": "),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_binary_replaced_on_disk_is_detected_as_stale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = install_sleep(dir.path());
    let _child = start(&exe);

    let obs = run(by_name(dir.path()), Some(&exe))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("exe_current"), Some(&Value::Bool(true)));

    // An upgrade the usual way: write the new binary beside the old one, rename it over.
    let upgrade = dir.path().join("sleep.new");
    std::fs::copy(system_sleep(), &upgrade).expect("copy new binary");
    std::fs::rename(&upgrade, &exe).expect("rename over");

    let obs = run(by_name(dir.path()), Some(&exe))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("exe_current"), Some(&Value::Bool(false)));
    assert_eq!(
        obs.get("exe"),
        Some(&Value::Text(format!("{} (deleted)", exe.to_string_lossy())))
    );
}

#[tokio::test]
async fn a_different_file_at_the_expected_path_is_not_current() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = install_sleep(dir.path());
    let _child = start(&exe);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let other = install_sleep(elsewhere.path());

    let obs = run(by_name(dir.path()), Some(&other))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("exe_current"), Some(&Value::Bool(false)));
    let obs = run(by_name(dir.path()), Some(&elsewhere.path().join("gone")))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("exe_current"), Some(&Value::Bool(false)));
}
