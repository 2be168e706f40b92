//! The tcp probe against real loopback listeners.

use std::time::Duration;

use auditwall_probes::{ProbeErrorKind, Prober};
use auditwall_spec::{Probe, TcpProbe, Value};

const TIMEOUT: Duration = Duration::from_secs(10);

fn probe(address: String) -> Probe {
    Probe::Tcp(TcpProbe {
        address,
        timeout: None,
    })
}

#[tokio::test]
async fn a_listening_port_connects() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let obs = Prober::new()
        .expect("prober")
        .run(&probe(addr.to_string()), TIMEOUT)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("connected"), Some(&Value::Bool(true)));
    assert!(
        matches!(obs.get("latency"), Some(Value::Duration(_))),
        "{obs:?}"
    );
}

#[tokio::test]
async fn a_host_name_is_resolved() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let obs = Prober::new()
        .expect("prober")
        .run(&probe(format!("localhost:{port}")), TIMEOUT)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("connected"), Some(&Value::Bool(true)));
}

#[tokio::test]
async fn a_closed_port_is_measured_as_not_connected() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let obs = Prober::new()
        .expect("prober")
        .run(&probe(addr.to_string()), TIMEOUT)
        .await
        .expect("probe runs");
    assert_eq!(obs.get("connected"), Some(&Value::Bool(false)));
    assert_eq!(obs.get("latency"), None);
}

#[tokio::test]
async fn an_address_without_a_port_is_a_detector_error() {
    let err = Prober::new()
        .expect("prober")
        .run(&probe("127.0.0.1".into()), TIMEOUT)
        .await
        .expect_err("no port");
    assert_eq!(err.kind, ProbeErrorKind::Detector);
    assert_eq!(
        err.message,
        "invalid address \"127.0.0.1\": expected host:port"
    );
}
