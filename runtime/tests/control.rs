//! The supervising process's control API, driven over real HTTP as drills drive it: stopping
//! and starting services (with the watchdog still running), the primary's proxy, the
//! service list and the pid files behind it; the hub's state across a SIGKILL; and the fault
//! modes that break a drill's recovery path (its negative controls) against the live watchdog.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use auditwall_runtime::daemon::{PrivateSystem, SystemInfo};
use auditwall_runtime::process_alive;
use auditwall_runtime::system::Layout;
use common::{eventually, http_call, Reply};
use serde_json::{json, Value};

/// Bounds one request; a start waits for readiness, `fault none` restarts services.
const REQUEST: Duration = Duration::from_secs(60);
/// Bounds waiting for the watchdog (1 s probes, 500 ms backoff) or the router to react.
const SETTLE: Duration = Duration::from_secs(30);
const FIXTURE: &str = env!("CARGO_BIN_EXE_auditwall-runtime-fixture");
const PROMPT: &str = r#"{"model":"any","messages":[{"role":"user","content":"What is (3+4)*5?"}]}"#;
const KNOWN: &str = "known: model-primary, model-fallback, hub, router";

/// A private system (stopped and removed on drop, even when a test panics).
struct System {
    system: PrivateSystem,
}

impl System {
    fn start() -> System {
        System {
            system: PrivateSystem::start(FIXTURE.as_ref()).expect("the supervisor starts"),
        }
    }

    fn info(&self) -> &SystemInfo {
        &self.system.info
    }

    fn port(&self, service: &str) -> u16 {
        self.info().ports.get(service).copied().unwrap_or(0)
    }

    fn call(&self, service: &str, method: &str, path: &str, body: Option<&str>) -> Reply {
        http_call(self.port(service), method, path, body, REQUEST)
            .unwrap_or_else(|e| panic!("{method} {path} on {service}: {e}"))
    }

    fn control(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.call("control", method, path, body)
    }

    fn services(&self) -> Vec<Value> {
        let reply = self.control("GET", "/services", None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json().as_array().cloned().expect("a JSON array")
    }

    fn service(&self, name: &str) -> Value {
        self.services()
            .into_iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from GET /services"))
    }

    fn pid_file(&self, service: &str) -> PathBuf {
        Layout::new(&self.info().root)
            .run_dir()
            .join(format!("{service}.pid"))
    }

    /// The pid in `<run_dir>/<service>.pid`, or `None` if there is no such file.
    fn pid_in_file(&self, service: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.pid_file(service)).ok()?;
        Some(
            text.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{service}.pid holds {text:?}")),
        )
    }

    /// The watchdog's entry for `service`: `{"name", "state", "restarts", ...}`.
    fn watchdog(&self, service: &str) -> Value {
        let status = self.call("watchdog", "GET", "/status", None).json();
        status["services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == service).cloned())
            .unwrap_or_else(|| panic!("the watchdog does not watch {service}: {status}"))
    }

    /// Waits until the watchdog reports `service` HEALTHY (not in the middle of a heal).
    fn watchdog_settles(&self, service: &str) {
        let mut last = Value::Null;
        let healthy = eventually(SETTLE, || {
            last = self.watchdog(service);
            last["state"] == "HEALTHY"
        });
        assert!(healthy, "the watchdog never settled on {service}: {last}");
    }

    fn health_refused(&self, service: &str) -> bool {
        http_call(self.port(service), "GET", "/health", None, REQUEST).is_err()
    }

    fn chat_served_by(&self) -> Option<String> {
        let reply = self.call("router", "POST", "/v1/chat/completions", Some(PROMPT));
        assert_eq!(reply.json()["choices"][0]["message"]["content"], "35");
        reply.header("x-served-by").map(str::to_string)
    }

    /// Sets a fault mode; returns the supervisor's answer (asserting a 200).
    fn fault(&self, mode: &str) -> String {
        let body = json!({ "mode": mode }).to_string();
        let reply = self.control("POST", "/fault", Some(&body));
        assert_eq!(reply.status, 200, "fault {mode}: {reply:?}");
        reply.body
    }

    /// Waits until the watchdog's entry for `service` satisfies `condition`; returns it.
    fn watchdog_until(
        &self,
        service: &str,
        what: &str,
        condition: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Value::Null;
        let reached = eventually(SETTLE, || {
            last = self.watchdog(service);
            condition(&last)
        });
        assert!(
            reached,
            "the watchdog never showed {what} for {service}: {last}"
        );
        last
    }

    fn router_settles_on(&self, backend: &str) {
        let mut last = None;
        let settled = eventually(SETTLE, || {
            last = self.chat_served_by();
            last.as_deref() == Some(backend)
        });
        assert!(
            settled,
            "the router kept serving from {last:?}, not {backend}"
        );
    }
}

/// Every service's pid file names its live process, the one `GET /services` lists.
fn pid_files_match_the_listing(system: &System) {
    for service in system.services() {
        let name = service["name"].as_str().expect("name");
        let pid = service["pid"].as_u64().map(|p| p as u32);
        assert_eq!(service["running"], true, "{service}");
        assert_eq!(system.pid_in_file(name), pid, "{name}");
        assert!(pid.is_some_and(process_alive), "{service}");
    }
}

#[test]
fn the_service_list_names_every_service_with_its_pid_and_port() {
    let system = System::start();
    let services = system.services();
    let names: Vec<&Value> = services.iter().map(|s| &s["name"]).collect();
    assert_eq!(names, ["model-primary", "model-fallback", "hub", "router"]);
    for service in &services {
        let name = service["name"].as_str().expect("name");
        let keys: Vec<&String> = service.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["name", "pid", "port", "running"]);
        assert_eq!(service["port"], system.port(name), "{name}");
    }
    pid_files_match_the_listing(&system);
}

/// The watchdog keeps running while a drill stops a service, so it may restart the service
/// between two of the test's observations. Each round notes the watchdog's restart count
/// before and after; a round it interfered with proves only that the stopped process is
/// gone, and is tried again (bounded). The strict checks hold in a round it left alone.
#[test]
fn a_stopped_service_refuses_and_a_started_one_is_ready_with_its_pid_file() {
    let system = System::start();
    let mut clean_round = false;
    for _ in 0..5 {
        system.watchdog_settles("model-primary");
        let restarts = system.watchdog("model-primary")["restarts"].clone();
        let old = system.service("model-primary")["pid"]
            .as_u64()
            .expect("a running service has a pid") as u32;
        assert_eq!(system.pid_in_file("model-primary"), Some(old));

        let stop = system.control("POST", "/services/model-primary/stop", Some("{}"));
        assert_eq!(
            (stop.status, stop.json()),
            (
                200,
                json!({"service": "model-primary", "state": "stopped", "already": false, "pid": null})
            )
        );
        assert!(!process_alive(old), "the stopped process {old} is gone");
        let refused = system.health_refused("model-primary");
        let file_after_stop = system.pid_in_file("model-primary");
        let listed_after_stop = system.service("model-primary");

        let start = system.control("POST", "/services/model-primary/start", None);
        assert_eq!(start.status, 200, "{start:?}");
        let started = start.json();
        let file_after_start = system.pid_in_file("model-primary");
        let listed_after_start = system.service("model-primary");
        let health = http_call(
            system.port("model-primary"),
            "GET",
            "/health",
            None,
            REQUEST,
        )
        .map(|r| r.status);

        if system.watchdog("model-primary")["restarts"] != restarts {
            // The watchdog restarted it in this round; whatever runs now is a new process.
            assert_ne!(file_after_start, Some(old));
            continue;
        }
        assert!(refused, "model-primary still answered after it was stopped");
        assert_eq!(file_after_stop, None, "the pid file is removed on stop");
        assert_eq!(
            listed_after_stop,
            json!({"name": "model-primary", "pid": null, "running": false, "port": system.port("model-primary")})
        );
        let pid = started["pid"]
            .as_u64()
            .expect("a started service has a pid") as u32;
        assert_eq!(
            started,
            json!({"service": "model-primary", "state": "running", "already": false, "pid": pid})
        );
        assert_ne!(pid, old);
        assert!(process_alive(pid));
        assert_eq!(
            file_after_start,
            Some(pid),
            "the pid file names the new process"
        );
        assert_eq!(
            listed_after_start,
            json!({"name": "model-primary", "pid": pid, "running": true, "port": system.port("model-primary")})
        );
        assert_eq!(health.ok(), Some(200));

        let again = system.control("POST", "/services/model-primary/start", None);
        assert_eq!(
            (again.status, again.json()),
            (
                200,
                json!({"service": "model-primary", "state": "running", "already": true, "pid": pid})
            )
        );
        assert_eq!(system.pid_in_file("model-primary"), Some(pid));
        clean_round = true;
        break;
    }
    assert!(
        clean_round,
        "the watchdog restarted model-primary in every one of 5 rounds"
    );
}

#[test]
fn the_watchdog_restarts_a_stopped_service_and_rewrites_its_pid_file() {
    let system = System::start();
    system.watchdog_settles("hub");
    let restarts = system.watchdog("hub")["restarts"]
        .as_u64()
        .expect("restarts");
    let old = system.pid_in_file("hub").expect("hub.pid");
    let stop = system.control("POST", "/services/hub/stop", None);
    assert_eq!(stop.status, 200, "{stop:?}");

    let mut listed = Value::Null;
    let restarted = eventually(SETTLE, || {
        listed = system.service("hub");
        listed["running"] == true
    });
    assert!(restarted, "the watchdog never restarted the hub: {listed}");
    let pid = listed["pid"].as_u64().expect("pid") as u32;
    assert_ne!(pid, old);
    assert_eq!(system.pid_in_file("hub"), Some(pid));
    // The watchdog counts the restart once its restart call has returned, which can be a
    // moment after the supervisor already lists the new process.
    let counted = eventually(SETTLE, || {
        system.watchdog("hub")["restarts"].as_u64() > Some(restarts)
    });
    assert!(
        counted,
        "the watchdog never counted its restart: {}",
        system.watchdog("hub")
    );
    assert_eq!(system.call("hub", "GET", "/health", None).status, 200);
}

#[test]
fn unknown_services_get_a_404_naming_the_known_ones() {
    let system = System::start();
    for action in ["stop", "start"] {
        let reply = system.control("POST", &format!("/services/mqtt/{action}"), None);
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (
                404,
                format!("service mqtt: not a reference service ({KNOWN})").as_str()
            ),
            "{action}"
        );
    }
    pid_files_match_the_listing(&system);
}

#[test]
fn fault_none_restarts_stale_services_and_every_pid_file_follows() {
    let system = System::start();
    let before: Vec<Option<u32>> = ["model-primary", "model-fallback", "hub", "router"]
        .iter()
        .map(|s| system.pid_in_file(s))
        .collect();
    for mode in ["stale-binary", "none"] {
        let body = json!({ "mode": mode }).to_string();
        let reply = system.control("POST", "/fault", Some(&body));
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    pid_files_match_the_listing(&system);
    for (service, old) in system.services().iter().zip(before) {
        assert_ne!(
            service["pid"].as_u64().map(|p| p as u32),
            old,
            "{service} was restarted"
        );
    }
}

#[test]
fn the_primary_proxy_mode_is_set_through_the_control_api() {
    let system = System::start();
    assert_eq!(system.chat_served_by().as_deref(), Some("model-primary"));

    let set = |mode: &str| {
        let body = json!({ "mode": mode }).to_string();
        let reply = system.control("POST", "/proxy", Some(&body));
        (reply.status, reply.json())
    };
    assert_eq!(
        set("refuse"),
        (200, json!({"proxy": "primary-proxy", "mode": "refuse"}))
    );
    system.router_settles_on("model-fallback");
    // model-primary itself is untouched: only the path to it is broken.
    assert_eq!(system.service("model-primary")["running"], true);

    assert_eq!(
        set("blackhole"),
        (200, json!({"proxy": "primary-proxy", "mode": "blackhole"}))
    );
    assert_eq!(
        set("latency:0.25s"),
        (
            200,
            json!({"proxy": "primary-proxy", "mode": "latency:250ms"})
        )
    );
    assert_eq!(
        set("reset-after:64"),
        (
            200,
            json!({"proxy": "primary-proxy", "mode": "reset-after:64"})
        )
    );

    let bad = [
        (
            json!({"mode": "teleport"}).to_string(),
            "fault proxy mode `teleport`: unknown mode (use pass, refuse, blackhole, latency:<duration> or reset-after:<bytes>)",
        ),
        (
            json!({"mode": "reset-after:lots"}).to_string(),
            "fault proxy mode `reset-after:lots`: expected a whole number of bytes, e.g. reset-after:1024",
        ),
        (
            "refuse".to_string(),
            "request body must be JSON like {\"mode\": \"refuse\"}: expected value at line 1 column 1",
        ),
        (
            json!({"mode": "pass", "for": "10s"}).to_string(),
            "request body must be JSON like {\"mode\": \"refuse\"}: unknown field `for`, expected `mode` at line 1 column 6",
        ),
    ];
    for (body, message) in bad {
        let reply = system.control("POST", "/proxy", Some(&body));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (400, message),
            "{body}"
        );
    }

    let unknown = system.control("POST", "/fault", Some(r#"{"mode":"refuse"}"#));
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (
            400,
            "unknown fault mode `refuse` (known: none, hang-chat, wrong-answer, success-false, \
             goodnight-no-lock, config-drift, crash-loop, port-hijack, stale-binary, silent-failover, \
             seam-bug, lost-writes, crosstalk, primary-down, router-down, hub-down, fallback-down, \
             hub-unrestartable, watchdog-never-gives-up, primary-single-slot)"
        )
    );
    let clear = system.control("POST", "/fault", Some(r#"{"mode":"none"}"#));
    assert_eq!(clear.status, 200, "{clear:?}");
    system.router_settles_on("model-primary");
}

#[test]
fn the_hub_comes_back_from_sigkill_with_the_state_it_had() {
    let system = System::start();
    let state_file = Layout::new(&system.info().root)
        .run_dir()
        .join("hub-state.json");
    let initial = system.call("hub", "GET", "/state", None).json();
    assert_eq!(
        (
            &initial["door.front.locked"],
            &initial["light.kitchen.on"],
            &initial["thermostat.main.target"]
        ),
        (&json!(false), &json!(true), &json!(21.0)),
        "a fresh system starts from the default state"
    );
    assert!(!state_file.exists(), "{}", state_file.display());

    let goodnight = system.call("hub", "POST", "/automations/goodnight", Some("{}"));
    assert_eq!(goodnight.status, 202);
    let target = r#"{"entity":"thermostat.main","action":"set_target","value":17.5}"#;
    assert_eq!(
        system.call("hub", "POST", "/actions", Some(target)).status,
        200
    );
    let before = system.call("hub", "GET", "/state", None).json();
    let events = system.call("hub", "GET", "/events", None).json();
    assert_eq!(before["door.front.locked"], true);
    assert_eq!(before["thermostat.main.target"], 17.5);

    system.watchdog_settles("hub");
    let old = system.pid_in_file("hub").expect("hub.pid");
    // SAFETY: kill(2) on the hub process this test's system started; its pid file names it.
    assert_eq!(unsafe { libc::kill(old as libc::pid_t, libc::SIGKILL) }, 0);
    let mut listed = Value::Null;
    let back = eventually(SETTLE, || {
        listed = system.service("hub");
        listed["running"] == true && listed["pid"] != old
    });
    assert!(back, "the watchdog never brought the hub back: {listed}");
    assert_eq!(
        system.pid_in_file("hub"),
        listed["pid"].as_u64().map(|p| p as u32)
    );

    assert_eq!(system.call("hub", "GET", "/state", None).json(), before);
    assert_eq!(system.call("hub", "GET", "/events", None).json(), events);
}

#[test]
fn a_corrupt_hub_state_file_keeps_the_hub_down_with_a_clear_log_line() {
    let system = System::start();
    let layout = Layout::new(&system.info().root);
    let state_file = layout.run_dir().join("hub-state.json");
    // Written while the hub runs (it only writes on a change), so every later start of the
    // hub — ours or the watchdog's — reads it.
    std::fs::write(&state_file, "{\"format\": 1, \"entit").expect("write the state file");
    assert_eq!(
        system.control("POST", "/services/hub/stop", None).status,
        200
    );

    let start = system.control("POST", "/services/hub/start", None);
    let expected = format!(
        "auditwall reference service hub: cannot load state: hub state file {} is not a hub \
         state: EOF while parsing a string at line 1 column 20; fix or remove it (the hub never \
         resets its state on its own)",
        state_file.display()
    );
    assert_eq!(start.status, 500, "{start:?}");
    // The supervisor quotes log lines cut at 200 characters; the log has the whole line.
    let quoted: String = expected.chars().take(200).collect();
    assert!(
        start
            .body
            .starts_with("service hub: exited early with status 1; last log lines")
            && start.body.contains(&format!("\n  {quoted}")),
        "{}",
        start.body
    );
    let log = std::fs::read_to_string(layout.logs_dir().join("hub.log")).expect("hub.log");
    assert!(
        log.lines().any(|l| l == expected),
        "{expected:?} missing from hub.log:\n{log}"
    );
    assert_eq!(
        system.service("hub"),
        json!({"name": "hub", "pid": null, "running": false, "port": system.port("hub")})
    );
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("still there"),
        "{\"format\": 1, \"entit",
        "the hub never overwrites a file it could not read"
    );
}

#[test]
fn a_down_fault_holds_its_service_down_against_the_watchdog_until_none() {
    let system = System::start();
    system.watchdog_settles("hub");
    let down = system.control("POST", "/fault", Some(r#"{"mode":"hub-down"}"#));
    assert_eq!(
        (down.status, down.body.as_str()),
        (200, "hub stopped and held down until `none`")
    );
    // The watchdog tries to restart it (its restart count rises) and is refused: the hub
    // stays down for as long as the fault is on.
    let retried = eventually(SETTLE, || {
        system.watchdog("hub")["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("held down by a fault"))
    });
    assert!(
        retried,
        "the watchdog never tried: {}",
        system.watchdog("hub")
    );
    assert_eq!(system.service("hub")["running"], false);
    let clear = system.control("POST", "/fault", Some(r#"{"mode":"none"}"#));
    assert_eq!(clear.status, 200, "{clear:?}");
    assert_eq!(system.service("hub")["running"], true);
    assert_eq!(system.call("hub", "GET", "/health", None).status, 200);
}

/// Regression: the watchdog's socket was bound after the system announced itself ready, so
/// a first call could be refused (a CI run failed on exactly that).
#[test]
fn the_watchdog_answers_as_soon_as_the_system_is_announced_ready() {
    let system = System::start();
    let status = http_call(system.port("watchdog"), "GET", "/status", None, REQUEST)
        .expect("the watchdog listens before the info file is written");
    assert_eq!(status.status, 200, "{status:?}");
}

#[test]
fn fallback_down_leaves_failover_nowhere_to_go_while_the_primary_serves() {
    let system = System::start();
    system.watchdog_settles("model-fallback");
    assert_eq!(
        system.fault("fallback-down"),
        "model-fallback stopped and held down until `none`"
    );
    system.watchdog_until("model-fallback", "a refused restart", |s| {
        s["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("held down by a fault"))
    });
    assert_eq!(system.service("model-fallback")["running"], false);
    assert!(system.health_refused("model-fallback"));
    // The failover drills' steady state holds: the primary serves.
    assert_eq!(system.chat_served_by().as_deref(), Some("model-primary"));

    // Their recovery does not: with the path to the primary broken, nothing answers.
    let refuse = system.control("POST", "/proxy", Some(r#"{"mode":"refuse"}"#));
    assert_eq!(refuse.status, 200, "{refuse:?}");
    let reply = system.call("router", "POST", "/v1/chat/completions", Some(PROMPT));
    assert_eq!(reply.status, 502, "{reply:?}");
    let message = reply.json()["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.starts_with("all backends failed: ") && m.contains("model-fallback")),
        "{message}"
    );

    system.fault("none");
    assert_eq!(system.service("model-fallback")["running"], true);
    assert_eq!(
        system.call("model-fallback", "GET", "/health", None).status,
        200
    );
    system.router_settles_on("model-primary");
}

#[test]
fn hub_unrestartable_keeps_the_hub_serving_but_the_watchdog_cannot_bring_it_back() {
    let system = System::start();
    system.watchdog_settles("hub");
    let pid = system.pid_in_file("hub").expect("hub.pid");
    assert_eq!(
        system.fault("hub-unrestartable"),
        "hub keeps running; the watchdog can no longer start it again (an explicit start \
         still can) until `none`"
    );
    // The fault alone leaves the hub as it was: the self-heal drill's steady state holds.
    assert_eq!(
        system.service("hub"),
        json!({"name": "hub", "pid": pid, "running": true, "port": system.port("hub")})
    );
    assert_eq!(system.call("hub", "GET", "/health", None).status, 200);
    system.watchdog_settles("hub");

    // SAFETY: kill(2) on the hub process this test's system started; its pid file names it.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    let blocked = system.watchdog_until("hub", "BLOCKED", |s| s["state"] == "BLOCKED");
    assert_eq!(blocked["restarts"], 3);
    assert_eq!(
        blocked["last_error"],
        "restart failed: service hub: cannot be started again: its unit is broken (fault \
         hub-unrestartable) (clear it with `auditwall fault none`)"
    );
    assert_eq!(system.service("hub")["running"], false);
    assert!(system.health_refused("hub"));

    // The drill's restore (`start: hub`) still works.
    let start = system.control("POST", "/services/hub/start", None);
    assert_eq!(start.status, 200, "{start:?}");
    let started = start.json();
    assert_eq!(
        (&started["state"], &started["already"]),
        (&json!("running"), &json!(false))
    );
    assert_ne!(started["pid"], pid);
    assert_eq!(system.call("hub", "GET", "/health", None).status, 200);

    system.fault("none");
    system.watchdog_settles("hub");
    let again = system.pid_in_file("hub").expect("hub.pid");
    // SAFETY: as above, on the hub process started by this system.
    assert_eq!(
        unsafe { libc::kill(again as libc::pid_t, libc::SIGKILL) },
        0
    );
    let mut listed = Value::Null;
    let back = eventually(SETTLE, || {
        listed = system.service("hub");
        listed["running"] == true && listed["pid"] != again
    });
    assert!(
        back,
        "after `none` the watchdog never restarted the hub: {listed}"
    );
}

#[test]
fn watchdog_never_gives_up_keeps_restarting_a_crash_loop_until_none() {
    let system = System::start();
    system.watchdog_settles("model-fallback");
    assert_eq!(
        system.fault("watchdog-never-gives-up"),
        "the watchdog now restarts a failing service forever instead of marking it BLOCKED \
         after 3 attempts, until `none`"
    );
    system.fault("crash-loop");
    // Past the 3 attempts a sound watchdog stops at, and never BLOCKED on the way.
    let looping = system.watchdog_until("model-fallback", "more than 3 restarts", |s| {
        assert_ne!(s["state"], "BLOCKED", "{s}");
        s["restarts"].as_u64().is_some_and(|n| n >= 5)
    });
    assert_eq!(looping["state"], "RESTARTING");
    assert_eq!(system.service("model-fallback")["running"], false);

    system.fault("none");
    system.watchdog_settles("model-fallback");
    assert_eq!(
        system.call("model-fallback", "GET", "/health", None).status,
        200
    );
    // `none` brought back the watchdog that gives up: the same crash loop ends BLOCKED.
    system.fault("crash-loop");
    let blocked = system.watchdog_until("model-fallback", "BLOCKED", |s| s["state"] == "BLOCKED");
    assert_eq!(blocked["restarts"], 3);
}

#[test]
fn primary_single_slot_makes_a_hung_chat_hang_the_primarys_health_too() {
    let system = System::start();
    let short = Duration::from_secs(1);
    let health = |timeout| {
        http_call(
            system.port("model-primary"),
            "GET",
            "/health",
            None,
            timeout,
        )
        .map(|r| r.status)
    };
    let mode = || {
        system
            .call("model-primary", "GET", "/admin/fault", None)
            .json()
    };

    // Without the flag, hang-chat is the lying-health split: chat hangs, health answers.
    assert_eq!(system.fault("hang-chat"), "model-primary: fault hang_chat");
    assert_eq!(health(short).ok(), Some(200));
    system.fault("none");

    assert_eq!(
        system.fault("primary-single-slot"),
        "model-primary is single-slot: a `hang-chat` now holds its health too, until `none`"
    );
    // The flag alone changes nothing visible.
    assert_eq!(mode(), json!({"mode": "none"}));
    assert_eq!(health(short).ok(), Some(200));
    assert_eq!(system.chat_served_by().as_deref(), Some("model-primary"));

    assert_eq!(system.fault("hang-chat"), "model-primary: fault hang_all");
    assert_eq!(mode(), json!({"mode": "hang_all"}));
    let held = health(short);
    assert!(
        held.is_err(),
        "health answered under a hung single slot: {held:?}"
    );
    // The watchdog sees the same hang (and restarts the primary, which ends it).
    system.watchdog_until("model-primary", "a hung health probe", |s| {
        s["last_error"] == "health probe timed out after 500 ms"
    });

    system.fault("none");
    assert_eq!(mode(), json!({"mode": "none"}));
    assert_eq!(health(short).ok(), Some(200));
}
