//! Every way a start can fail names the cause exactly and leaves nothing running.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use auditwall_runtime::{
    process_alive, Readiness, RuntimeErrorKind, ServiceManager, ServiceSpec, Supervisor,
};
use common::{free_port, loopback, python, read_pids, shell, KillOnDrop};

#[test]
fn a_service_that_exits_at_once_reports_its_own_log_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = shell(
        "model-primary",
        dir.path(),
        "echo loading weights; echo 'error: model file missing' >&2; exit 1",
    );
    spec.ports = vec![port];
    spec.ready = Readiness::TcpConnect {
        addr: loopback(port),
    };
    let log = spec.log.clone().unwrap();
    // The log is appended across runs; an earlier run's lines must not be blamed.
    std::fs::write(&log, "line from an earlier run\n").unwrap();

    let err = sup.start(spec).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::ExitedEarly);
    assert_eq!(err.service.as_deref(), Some("model-primary"));
    assert_eq!(
        err.to_string(),
        format!(
            "service model-primary: exited early with status 1; last log lines ({}):\n  loading weights\n  error: model file missing",
            log.display()
        )
    );
    assert!(sup.status().is_empty());
}

#[test]
fn a_silent_early_exit_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let mut spec = shell("oneshot", dir.path(), "exit 3");
    spec.ports = vec![free_port()];
    let log = spec.log.clone().unwrap();
    let err = sup.start(spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "service oneshot: exited early with status 3; it wrote nothing to {}",
            log.display()
        )
    );
}

#[test]
fn missing_or_unexecutable_programs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let not_executable = dir.path().join("model.bin");
    std::fs::write(&not_executable, "not a program").unwrap();
    let cases = [
        (
            "/nonexistent/auditwall-no-such-program".into(),
            "service x: program `/nonexistent/auditwall-no-such-program` does not exist"
                .to_string(),
        ),
        (
            "auditwall-no-such-program".into(),
            "service x: program `auditwall-no-such-program` was not found on PATH".to_string(),
        ),
        (
            not_executable.clone(),
            format!(
                "service x: program `{}` is not executable",
                not_executable.display()
            ),
        ),
    ];
    for (program, expected) in cases {
        let mut spec = ServiceSpec::new("x", program);
        spec.log = Some(dir.path().join("x.log"));
        let err = sup.start(spec).unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::MissingProgram);
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn a_taken_port_names_the_process_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut spec = shell("hub", dir.path(), "exec sleep 300");
    spec.ports = vec![port];
    let log = spec.log.clone().unwrap();

    let err = sup.start(spec).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::PortTaken);
    let text = err.to_string();
    let expected_start = format!(
        "service hub: port {port} is already taken by pid {} (",
        std::process::id()
    );
    assert!(text.starts_with(&expected_start), "{text}");
    let own_exe = std::env::current_exe().unwrap();
    let own_name = own_exe.file_name().unwrap().to_string_lossy();
    assert!(text.contains(own_name.as_ref()), "{text}");
    assert!(!log.exists(), "nothing was spawned, so nothing was logged");
}

#[test]
fn a_readiness_check_that_never_passes_is_not_ready_and_killed() {
    const UNHEALTHY: &str = "\
import http.server, os, sys
open('pids', 'w').write(str(os.getpid()) + '\\n')
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
";
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = python("router", dir.path(), UNHEALTHY, &[port.to_string()]);
    let url = format!("http://127.0.0.1:{port}/health");
    spec.ready = Readiness::HttpOk { url: url.clone() };
    spec.ready_timeout = Duration::from_secs(1);

    let err = sup.start(spec).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::NotReady);
    assert_eq!(
        err.to_string(),
        format!("service router: readiness check GET {url} returned 503 for 1s")
    );
    let pids = read_pids(&dir.path().join("pids"), 1);
    assert!(!process_alive(pids[0]), "the unready service was killed");
}

#[test]
fn a_port_that_never_opens_is_not_ready_and_the_whole_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = shell(
        "hub",
        dir.path(),
        "echo $$ > pids; sleep 300 & echo $! >> pids; wait",
    );
    spec.ports = vec![port];
    spec.ready_timeout = Duration::from_secs(1);

    let err = sup.start(spec).unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::NotReady);
    assert_eq!(
        err.to_string(),
        format!("service hub: port {port} never opened within 1s")
    );
    let pids = read_pids(&dir.path().join("pids"), 2);
    let mut guard = KillOnDrop::default();
    pids.iter().for_each(|&p| guard.pid(p));
    for pid in pids {
        assert!(!process_alive(pid), "pid {pid} survived a failed start");
    }
}

#[test]
fn an_http_check_that_gets_no_answer_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = shell("router", dir.path(), "exec sleep 300");
    let url = format!("http://127.0.0.1:{port}/");
    spec.ready = Readiness::HttpOk { url: url.clone() };
    spec.ready_timeout = Duration::from_millis(500);

    let err = sup.start(spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "service router: readiness check GET {url} got no answer within 500ms (last error: connection refused)"
        )
    );
}

#[test]
fn a_port_held_outside_the_services_group_is_refused() {
    // The service forks a listener into its own session: the port answers, but stop could
    // never reach that process, so it must not count as the service owning the port.
    const ESCAPES: &str = "\
import http.server, os, sys
if os.fork() == 0:
    os.setsid()
    open('pids', 'w').write(str(os.getpid()) + '\\n')
    http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
else:
    os.wait()
";
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = python("escaper", dir.path(), ESCAPES, &[port.to_string()]);
    spec.ports = vec![port];

    let err = sup.start(spec).unwrap_err();
    let escaped = read_pids(&dir.path().join("pids"), 1)[0];
    let mut guard = KillOnDrop::default();
    guard.pid(escaped);
    assert_eq!(err.kind, RuntimeErrorKind::PortTaken);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "service escaper: port {port} answered, but it is held by pid {escaped} ("
        )),
        "{text}"
    );
    assert!(text.ends_with("), not by this service"), "{text}");
}
