//! The port probe against real listeners: the test's own sockets and a child process's.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use auditwall_probes::{Observations, ProbeError, ProbeErrorKind, Prober};
use auditwall_spec::{PortProbe, Probe, Value};
use support::Running;

async fn run(
    address: String,
    owner: Option<&str>,
    owner_pid_file: Option<String>,
) -> Result<Observations, ProbeError> {
    let probe = Probe::Port(PortProbe {
        address,
        owner: owner.map(str::to_string),
        owner_pid_file,
    });
    Prober::new()
        .expect("prober")
        .run(&probe, Duration::from_secs(10))
        .await
}

/// A child that listens on 127.0.0.1 and reports its port on stdout once it listens.
fn child_listener() -> (Running, u16) {
    let script = "import socket, sys, time\n\
                  s = socket.socket()\n\
                  s.bind(('127.0.0.1', 0))\n\
                  s.listen()\n\
                  print(s.getsockname()[1], flush=True)\n\
                  time.sleep(60)\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    // The reader thread ends at the first line, or at EOF when the guard kills the child.
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("child reports its port");
    let port = line.trim().parse().expect("child printed a port");
    (running, port)
}

fn own_cmdline() -> String {
    std::env::args()
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn the_tests_own_listener_is_owned_by_the_test() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");

    let obs = run(addr.to_string(), None, None).await.expect("probe runs");
    assert_eq!(obs.get("listening"), Some(&Value::Bool(true)));
    assert_eq!(
        obs.get("pid"),
        Some(&Value::Number(f64::from(std::process::id())))
    );
    assert_eq!(obs.get("owner"), Some(&Value::Text(own_cmdline())));
    assert_eq!(
        obs.get("owner_matches"),
        None,
        "only judged when an owner is configured"
    );
}

#[tokio::test]
async fn a_child_listener_is_owned_by_the_child() {
    let (child, port) = child_listener();
    let dir = tempfile::tempdir().expect("tempdir");
    let child_pid_file = dir.path().join("child.pid");
    std::fs::write(&child_pid_file, child.pid().to_string()).expect("write pid file");
    let child_pid_file = child_pid_file.to_string_lossy().into_owned();

    let obs = run(
        format!("127.0.0.1:{port}"),
        Some(r"python3 -c import socket"),
        Some(child_pid_file),
    )
    .await
    .expect("probe runs");
    assert_eq!(obs.get("listening"), Some(&Value::Bool(true)));
    assert_eq!(obs.get("pid"), Some(&Value::Number(f64::from(child.pid()))));
    assert!(
        matches!(obs.get("owner"), Some(Value::Text(o)) if o.contains("python3 -c import socket")),
        "{obs:?}"
    );
    assert_eq!(obs.get("owner_matches"), Some(&Value::Bool(true)));
}

#[tokio::test]
async fn the_wrong_process_owning_the_port_is_detected() {
    let (_child, port) = child_listener();
    let address = format!("127.0.0.1:{port}");

    let obs = run(address.clone(), Some("^nginx"), None)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("owner_matches"), Some(&Value::Bool(false)));

    // The pid file names the process that should own the port; here that is the test itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = dir.path().join("expected.pid");
    std::fs::write(&expected, std::process::id().to_string()).expect("write pid file");
    let obs = run(address, None, Some(expected.to_string_lossy().into_owned()))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("listening"), Some(&Value::Bool(true)));
    assert_eq!(obs.get("owner_matches"), Some(&Value::Bool(false)));
}

#[tokio::test]
async fn a_free_port_is_not_listening_and_owned_by_nobody() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let obs = run(addr.to_string(), Some("python3"), None)
        .await
        .expect("probe runs");
    let mut want = Observations::new();
    want.set("listening", Value::Bool(false));
    want.set("owner_matches", Value::Bool(false));
    assert_eq!(obs, want);
}

#[tokio::test]
async fn a_wildcard_listener_covers_loopback() {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let obs = run(format!("127.0.0.1:{port}"), None, None)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("listening"), Some(&Value::Bool(true)));
    assert_eq!(
        obs.get("pid"),
        Some(&Value::Number(f64::from(std::process::id())))
    );
}

#[tokio::test]
async fn an_ipv6_listener_is_found_on_its_own_address_only() {
    let listener = std::net::TcpListener::bind("[::1]:0").expect("bind ::1");
    let port = listener.local_addr().expect("addr").port();
    let obs = run(format!("[::1]:{port}"), None, None)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("listening"), Some(&Value::Bool(true)));
    let obs = run(format!("127.0.0.1:{port}"), None, None)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("listening"), Some(&Value::Bool(false)));
}

#[tokio::test]
async fn an_invalid_owner_regex_is_a_detector_error() {
    let err = run("127.0.0.1:1".into(), Some("("), None)
        .await
        .expect_err("bad regex");
    assert_eq!(err.kind, ProbeErrorKind::Detector);
    assert!(
        err.message.starts_with("invalid port owner regex \"(\": "),
        "{}",
        err.message
    );
}
