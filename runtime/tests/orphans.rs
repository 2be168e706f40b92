//! A supervisor that is SIGKILLed (no destructor, no cleanup) still leaves no services behind.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use auditwall_runtime::{process_alive, ServiceManager, Staleness, Supervisor};
use common::{eventually, free_port, http_get, Fixture, HTTP_SERVER};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_killed_supervisor_leaves_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let port = free_port();
    let port_arg = port.to_string();
    let mut fixture = Fixture::start(
        dir.path(),
        &state,
        "web",
        &port_arg,
        &["python3", "-c", HTTP_SERVER, &port_arg],
    );
    assert_eq!(http_get(port, "/", WAIT).unwrap(), 200);

    fixture.kill_supervisor();
    assert!(
        eventually(WAIT, || !process_alive(fixture.service_pid)),
        "service pid {} outlived its SIGKILLed supervisor",
        fixture.service_pid
    );
    assert!(eventually(WAIT, || TcpListener::bind((
        Ipv4Addr::LOCALHOST,
        port
    ))
    .is_ok()));

    // The crash left its state file behind; the next run sees why and cleans it up.
    let mut sup = Supervisor::attach(&state).unwrap();
    assert_eq!(
        sup.staleness(),
        vec![Staleness::SupervisorGone { pid: fixture.pid }]
    );
    let report = sup.down().unwrap();
    assert_eq!(report.already_gone, vec!["web".to_string()]);
    assert!(!state.exists());
}
