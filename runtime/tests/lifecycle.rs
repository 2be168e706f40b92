//! Start, readiness, stop, kill, pause, resume and restart against real processes.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use auditwall_runtime::{
    descendants, group_members, process_alive, sample, Readiness, RuntimeErrorKind, ServiceManager,
    StopOutcome, Supervisor,
};
use common::{eventually, free_port, http_get, http_service, loopback, python, shell, KillOnDrop};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn tcp_ready_service_answers_and_stop_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let mut sup = Supervisor::new(&state_path).unwrap();
    let port = free_port();

    let handle = sup.start(http_service("web", dir.path(), port)).unwrap();
    assert_eq!(handle.pgid, handle.pid, "each service leads its own group");
    assert_eq!(http_get(port, "/", WAIT).unwrap(), 200);

    let status = sup.status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].service, handle);
    assert!(status[0].alive && !status[0].paused);

    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(recorded["services"][0]["pid"], handle.pid);
    assert_eq!(recorded["services"][0]["ports"][0], port);
    assert_eq!(recorded["supervisor"]["pid"], std::process::id());

    assert_eq!(sup.stop("web").unwrap(), StopOutcome::Graceful);
    assert!(!process_alive(handle.pid));
    assert_eq!(group_members(handle.pgid), Vec::<u32>::new());
    assert!(
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok(),
        "port is free again"
    );
    assert!(sup.status().is_empty());
}

#[test]
fn http_readiness_waits_for_a_2xx() {
    // Answers 503 to the first three GETs, then 200: a server that is up but not ready.
    const WARMING_UP: &str = "\
import http.server, sys
count = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        count[0] += 1
        self.send_response(503 if count[0] <= 3 else 200)
        self.end_headers()
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
";
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = python("router", dir.path(), WARMING_UP, &[port.to_string()]);
    spec.ready = Readiness::HttpOk {
        url: format!("http://127.0.0.1:{port}/health"),
    };
    spec.ready_timeout = WAIT;

    sup.start(spec).unwrap();
    // Had start returned on a 503, this request would be among the first three.
    assert_eq!(http_get(port, "/health", WAIT).unwrap(), 200);
    sup.down().unwrap();
}

#[test]
fn stop_reaches_grandchildren_through_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let handle = sup
        .start(shell(
            "launcher",
            dir.path(),
            "sleep 300 & sleep 300 & wait",
        ))
        .unwrap();
    let mut grandchildren = Vec::new();
    assert!(eventually(WAIT, || {
        grandchildren = descendants(handle.pid);
        grandchildren.len() == 2
    }));
    // If the group kill regressed, the sleeps would outlive this test without this guard.
    let mut guard = KillOnDrop::default();
    grandchildren.iter().for_each(|&pid| guard.pid(pid));

    assert_eq!(sup.stop("launcher").unwrap(), StopOutcome::Graceful);
    for pid in std::iter::once(handle.pid).chain(grandchildren) {
        assert!(!process_alive(pid), "pid {pid} survived stop");
    }
}

#[test]
fn sigterm_ignoring_service_is_killed_after_grace() {
    const STUBBORN: &str = "\
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen()
time.sleep(300)
";
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let mut spec = python("stubborn", dir.path(), STUBBORN, &[port.to_string()]);
    // Listening happens after the handler is installed, so ready implies "ignores SIGTERM".
    spec.ready = Readiness::TcpConnect {
        addr: loopback(port),
    };
    spec.stop_grace = Duration::from_millis(300);
    let handle = sup.start(spec).unwrap();

    assert_eq!(sup.stop("stubborn").unwrap(), StopOutcome::KilledAfterGrace);
    assert!(!process_alive(handle.pid));
    assert!(group_members(handle.pgid).is_empty());
}

#[test]
fn pause_stalls_requests_and_resume_answers_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    sup.start(http_service("hub", dir.path(), port)).unwrap();

    sup.pause("hub").unwrap();
    assert!(sup.status()[0].paused);
    let stalled = http_get(port, "/", Duration::from_millis(300)).unwrap_err();
    assert!(
        matches!(
            stalled.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "expected a timeout, got {stalled}"
    );

    sup.resume("hub").unwrap();
    assert!(!sup.status()[0].paused);
    assert_eq!(http_get(port, "/", WAIT).unwrap(), 200);
}

#[test]
fn stopping_a_paused_service_still_ends_it_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let handle = sup.start(http_service("hub", dir.path(), port)).unwrap();
    sup.pause("hub").unwrap();
    assert_eq!(sup.stop("hub").unwrap(), StopOutcome::Graceful);
    assert!(!process_alive(handle.pid));
}

#[test]
fn kill_leaves_the_service_listed_dead_and_restart_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let first = sup
        .start(http_service("model-primary", dir.path(), port))
        .unwrap();

    sup.kill("model-primary").unwrap();
    assert!(!process_alive(first.pid));
    let status = sup.status();
    assert_eq!(status.len(), 1);
    assert!(!status[0].alive);
    let err = sup.pause("model-primary").unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::NotRunning);
    assert_eq!(
        err.to_string(),
        format!(
            "service model-primary: is not running (pid {} is gone)",
            first.pid
        )
    );

    let second = sup.restart("model-primary").unwrap();
    assert_ne!(second.pid, first.pid);
    assert_eq!(http_get(port, "/", WAIT).unwrap(), 200);
    assert!(sup.status()[0].alive);
}

#[test]
fn duplicate_and_unknown_names_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let handle = sup
        .start(shell("worker", dir.path(), "exec sleep 300"))
        .unwrap();

    let err = sup
        .start(shell("worker", dir.path(), "exec sleep 300"))
        .unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::AlreadyRunning);
    assert_eq!(
        err.to_string(),
        format!("service worker: is already running as pid {}", handle.pid)
    );

    let err = sup.stop("nope").unwrap_err();
    assert_eq!(err.kind, RuntimeErrorKind::UnknownService);
    assert_eq!(
        err.to_string(),
        "service nope: no such service (known: worker)"
    );
}

#[test]
fn dropping_the_owner_stops_its_services_and_removes_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let mut sup = Supervisor::new(&state_path).unwrap();
    let handle = sup
        .start(shell("worker", dir.path(), "exec sleep 300"))
        .unwrap();
    drop(sup);
    assert!(!process_alive(handle.pid));
    assert!(!state_path.exists());
}

#[test]
fn resource_samples_come_from_proc() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = Supervisor::new(dir.path().join("state.json")).unwrap();
    let port = free_port();
    let handle = sup.start(http_service("web", dir.path(), port)).unwrap();

    let live = sample(handle.pid).expect("a running service can be sampled");
    assert!(live.rss_bytes > 0);
    // stdin, stdout, stderr and the listening socket at least.
    assert!(live.open_fds >= 4, "{live:?}");

    sup.stop("web").unwrap();
    assert_eq!(sample(handle.pid), None);
}
