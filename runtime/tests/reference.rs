//! The reference system driven in-process, as drills drive it, and through the supervising
//! process that `auditwall up` and `verify` use: the router reaches model-primary through
//! the fault proxy, and `silent-failover` breaks only that path.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use auditwall_runtime::daemon::{self, PrivateSystem};
use auditwall_runtime::process_alive;
use auditwall_runtime::proxy::Mode;
use auditwall_runtime::system::{Fault, Layout, Ports, ReferenceSystem, PRIMARY_PROXY};
use common::{eventually, http_call, Reply};

/// Bounds one request; the fallback's first chat includes its cold load (1.5 s).
const REQUEST: Duration = Duration::from_secs(30);
/// Bounds waiting for the router to settle on a backend after a fault changes.
const SETTLE: Duration = Duration::from_secs(30);
const FIXTURE: &str = env!("CARGO_BIN_EXE_auditwall-runtime-fixture");
const PROMPT: &str = r#"{"model":"any","messages":[{"role":"user","content":"What is (3+4)*5?"}]}"#;

/// A started system in a fresh directory. Bind them in this order, so that the system is
/// dropped first (a failing test): that stops every service and the proxy, and only then is
/// the directory removed.
fn start() -> (tempfile::TempDir, ReferenceSystem) {
    // Inside the target directory, so the services' binary is hard-linked rather than
    // copied: a copy still open for writing in this process could be inherited by another
    // test thread's fork and make exec fail with ETXTBSY.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let system = ReferenceSystem::start(
        FIXTURE.as_ref(),
        Layout::new(dir.path()),
        Ports::free().expect("free ports"),
    )
    .expect("the reference system starts");
    (dir, system)
}

fn chat(port: u16) -> Reply {
    http_call(port, "POST", "/v1/chat/completions", Some(PROMPT), REQUEST)
        .unwrap_or_else(|e| panic!("chat on port {port}: {e}"))
}

/// Chats through the router until `backend` serves one (bounded); returns that answer.
fn router_settles_on(router: u16, backend: &str) -> Reply {
    let mut last = None;
    let settled = eventually(SETTLE, || {
        let reply = chat(router);
        let done = reply.header("x-served-by") == Some(backend);
        last = Some(reply);
        done
    });
    let last = last.expect("at least one chat was sent");
    assert!(settled, "the router never served from {backend}: {last:?}");
    last
}

fn answer(reply: &Reply) -> (u16, Option<&str>, serde_json::Value, serde_json::Value) {
    let body = reply.json();
    (
        reply.status,
        reply.header("x-served-by"),
        body["model"].clone(),
        body["choices"][0]["message"]["content"].clone(),
    )
}

#[test]
fn silent_failover_moves_every_chat_to_the_fallback_while_the_primary_stays_healthy() {
    let (_dir, mut system) = start();
    let router = system.ports.get("router");
    let primary = system.ports.get("model-primary");
    let proxy = system.ports.get(PRIMARY_PROXY);
    assert!(
        ![0, primary, router].contains(&proxy),
        "the proxy has a port of its own: {:?}",
        system.ports
    );

    let first = chat(router);
    assert_eq!(
        answer(&first),
        (
            200,
            Some("model-primary"),
            "ref-primary".into(),
            "35".into()
        )
    );

    assert_eq!(
        system.apply(Fault::SilentFailover).expect("fault on"),
        format!(
            "primary-proxy (port {proxy}) refuses connections: the router now serves every \
             chat from model-fallback while model-primary stays healthy"
        )
    );
    router_settles_on(router, "model-fallback");
    // Not a one-off: every chat now goes to the fallback, and every answer is still right.
    for _ in 0..3 {
        assert_eq!(
            answer(&chat(router)),
            (
                200,
                Some("model-fallback"),
                "ref-fallback".into(),
                "35".into()
            )
        );
    }
    let health = http_call(primary, "GET", "/health", None, REQUEST).expect("primary health");
    assert_eq!(
        (health.status, health.json()),
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, _, model, content) = answer(&chat(primary));
    assert_eq!(
        (status, model, content),
        (200, "ref-primary".into(), "35".into())
    );

    assert_eq!(
        system.apply(Fault::None).expect("clear"),
        "all faults cleared"
    );
    router_settles_on(router, "model-primary");
    assert_eq!(
        answer(&chat(router)),
        (
            200,
            Some("model-primary"),
            "ref-primary".into(),
            "35".into()
        )
    );

    system.stop().expect("stop");
    assert!(
        TcpListener::bind((Ipv4Addr::LOCALHOST, proxy)).is_ok(),
        "the proxy's port is free once the system stopped"
    );
}

#[test]
fn clearing_faults_also_clears_a_proxy_mode_a_drill_set() {
    let (_dir, mut system) = start();
    let router = system.ports.get("router");

    system
        .set_primary_proxy(Mode::ResetAfter(0))
        .expect("set the proxy's mode");
    let cut = router_settles_on(router, "model-fallback");
    assert_eq!(answer(&cut).3, "35");

    system.apply(Fault::None).expect("clear");
    router_settles_on(router, "model-primary");
    system.stop().expect("stop");
}

#[test]
fn the_supervising_process_runs_the_proxy_and_switches_silent_failover() {
    let system = PrivateSystem::start(FIXTURE.as_ref()).expect("the supervisor starts");
    let info = system.info.clone();
    let router = info.ports.get("router").copied().unwrap_or(0);
    let proxy = info.ports.get(PRIMARY_PROXY).copied().unwrap_or(0);
    let layer = system.profile_layer();
    for line in [
        format!("\n  primary_proxy: {proxy}\n"),
        format!("\n  primary_proxy: \"http://127.0.0.1:{proxy}\"\n"),
    ] {
        assert!(layer.contains(&line), "{line:?} missing from:\n{layer}");
    }
    assert!(!layer.contains("sha256"), "{layer}");

    assert_eq!(
        answer(&chat(router)).1,
        Some("model-primary"),
        "served through the proxy in pass mode"
    );
    assert_eq!(
        daemon::fault(&info, Fault::SilentFailover).expect("fault on"),
        format!(
            "primary-proxy (port {proxy}) refuses connections: the router now serves every \
             chat from model-fallback while model-primary stays healthy"
        )
    );
    let served = router_settles_on(router, "model-fallback");
    assert_eq!(answer(&served).3, "35");
    // The watchdog probes model-primary itself, so a broken path is no reason to restart it
    // (a watchdog probing through the proxy would restart it three times and give up).
    let watchdog = info.ports.get("watchdog").copied().unwrap_or(0);
    let mut primary = serde_json::Value::Null;
    let settled = eventually(SETTLE, || {
        let status = http_call(watchdog, "GET", "/status", None, REQUEST).map(|r| r.json());
        primary = status.map_or(serde_json::Value::Null, |s| s["services"][0].clone());
        primary["state"] == "HEALTHY" || primary["state"] == "BLOCKED"
    });
    assert!(
        settled && primary["state"] == "HEALTHY",
        "the watchdog's view of model-primary: {primary}"
    );
    assert_eq!(
        (&primary["name"], &primary["restarts"]),
        (&"model-primary".into(), &0.into())
    );

    assert_eq!(
        daemon::fault(&info, Fault::None).expect("clear"),
        "all faults cleared"
    );
    router_settles_on(router, "model-primary");

    system.stop().expect("stop");
    assert!(!process_alive(info.daemon_pid), "the supervisor exited");
    assert!(
        TcpListener::bind((Ipv4Addr::LOCALHOST, proxy)).is_ok(),
        "the proxy's port is free once the system stopped"
    );
}
