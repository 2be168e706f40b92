//! Scenarios end to end against a small home on loopback whose two observers (its state API
//! and its event log) can be made to disagree: layer verdicts, the tribunal, conservation,
//! incompleteness, and L1's located "matches nothing".

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use auditwall_harness::result::Verdict;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{load_dir, options, result, run_loaded, write};

/// How the home misbehaves when it is asked to lock the door.
#[derive(Clone, Copy, PartialEq)]
enum Lie {
    None,
    /// The state changes, the event log does not hear of it.
    SilentState,
    /// Nothing changes, but the answer says it worked.
    NoOp,
}

#[derive(Clone)]
struct Home {
    state: Arc<Mutex<BTreeMap<String, Value>>>,
    events: Arc<Mutex<Vec<Value>>>,
    lie: Lie,
}

async fn serve(lie: Lie) -> (String, tokio::task::JoinHandle<()>) {
    let home = Home {
        state: Arc::new(Mutex::new(BTreeMap::from([
            ("door.front.locked".to_string(), json!(false)),
            ("light.hall.on".to_string(), json!(true)),
        ]))),
        events: Arc::new(Mutex::new(Vec::new())),
        lie,
    };
    async fn state(State(h): State<Home>) -> Json<Value> {
        Json(json!(*h.state.lock().expect("lock")))
    }
    async fn events(State(h): State<Home>) -> Json<Value> {
        Json(json!({ "events": *h.events.lock().expect("lock") }))
    }
    async fn lock_door(State(h): State<Home>) -> Json<Value> {
        if h.lie != Lie::NoOp {
            h.state
                .lock()
                .expect("lock")
                .insert("door.front.locked".into(), json!(true));
        }
        if h.lie == Lie::None {
            let mut events = h.events.lock().expect("lock");
            let seq = events.len() + 1;
            events.push(json!({"seq": seq, "entity": "door.front", "change": {"attribute": "locked", "from": false, "to": true}}));
        }
        Json(json!({ "success": true }))
    }
    async fn health() -> &'static str {
        "ok"
    }
    let app = Router::new()
        .route("/state", get(state))
        .route("/events", get(events))
        .route("/lock", post(lock_door))
        .route("/health", get(health))
        .with_state(home);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

fn wall(base: &str, scenario: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        &format!(
            "name: home\nobservers:\n  home.state: {{ state: \"{base}/state\" }}\n  home.events: {{ events: \"{base}/events\" }}\n"
        ),
    );
    write(
        dir.path(),
        "probes/p.yaml",
        &format!("probes:\n  - id: home.health\n    http: {{ url: \"{base}/health\" }}\n"),
    );
    write(
        dir.path(),
        "scenarios/s.yaml",
        &format!("scenarios:\n{}", scenario.replace("BASE", base)),
    );
    dir
}

const LOCK: &str = "  - id: lock\n    compile: { entities: [door.front.locked] }\n    execute: [home.health]\n    act:\n      http: { method: POST, url: \"BASE/lock\" }\n      expect: [\"json.success == true\"]\n    delta: { observers: [home.state, home.events], TRIBUNAL expect: { door.front.locked: true }, within: 300ms }\n";

async fn run(lie: Lie, scenario: &str) -> auditwall_harness::result::CheckResult {
    let (base, server) = serve(lie).await;
    let dir = wall(&base, scenario);
    let loaded = load_dir(dir.path());
    let (summary, _) = run_loaded(&loaded, &options(&loaded)).await;
    server.abort();
    result(&summary, "lock").clone()
}

fn text(r: &auditwall_harness::result::CheckResult, name: &str) -> String {
    match r.observations.get(name) {
        Some(auditwall_spec::Value::Text(t)) => t.clone(),
        other => panic!("no {name}: {other:?}"),
    }
}

#[tokio::test]
async fn an_honest_home_passes_all_four_layers() {
    let r = run(Lie::None, &LOCK.replace("TRIBUNAL ", "")).await;
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.message);
    for layer in ["l1", "l2", "l3"] {
        assert_eq!(text(&r, layer), "pass");
    }
    assert!(
        text(&r, "l4").starts_with("pass: expected changes seen after "),
        "{}",
        text(&r, "l4")
    );
}

#[tokio::test]
async fn a_reply_that_says_success_while_nothing_changed_fails_at_l4_only() {
    let r = run(Lie::NoOp, &LOCK.replace("TRIBUNAL ", "")).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(text(&r, "l3"), "pass");
    assert_eq!(
        r.message.as_deref(),
        Some("L4: home.state: door.front.locked expected true, observed false; home.events: door.front.locked expected true, observed false (window 300ms) (L1–L3 passed)")
    );
}

#[tokio::test]
async fn observers_that_disagree_are_their_own_verdict_with_both_observations() {
    let r = run(Lie::SilentState, &LOCK.replace("TRIBUNAL ", "")).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.message.as_deref(),
        Some("L4 observers disagree: home.state: as claimed; home.events: door.front.locked expected true, observed false (window 300ms) (L1–L3 passed)")
    );
    assert!(text(&r, "l4").starts_with("disagree: "));
    // A tribunal that needs one of two accepts the same home.
    let r = run(
        Lie::SilentState,
        &LOCK.replace("TRIBUNAL ", "tribunal: 1 of 2, "),
    )
    .await;
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.message);
}

#[tokio::test]
async fn a_change_nobody_asked_for_breaks_nothing_else_changed() {
    // The claim forgets the door: the lock is then a change nobody asked for.
    let scenario = "  - id: lock\n    act:\n      http: { method: POST, url: \"BASE/lock\" }\n    delta: { observers: [home.state], conserve: true, within: 200ms }\n";
    let r = run(Lie::None, scenario).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.message.as_deref(),
        Some("L4: home.state: door.front.locked changed from false to true (nothing else may change) (window 200ms) (L1–L3 passed)")
    );
}

#[tokio::test]
async fn a_claim_whose_state_was_there_before_the_act_proves_nothing_and_fails() {
    // The hall light is on before the lock, so seeing it on afterwards says nothing.
    let scenario = LOCK
        .replace("TRIBUNAL ", "others: any, ")
        .replace("door.front.locked: true", "light.hall.on: true");
    let r = run(Lie::None, &scenario).await;
    assert_eq!(r.verdict, Verdict::Fail);
    let nothing = "nothing it expects changed: every expected key already had its value before the act (the act did nothing, or the setup did not arrange the state the claim starts from)";
    assert_eq!(
        r.message.as_deref(),
        Some(
            format!(
                "L4: home.state: {nothing}; home.events: {nothing} (window 300ms) (L1–L3 passed)"
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_scenario_that_never_acts_is_incomplete_not_green() {
    let scenario = "  - id: lock\n    compile: { entities: [door.front.locked] }\n    execute: [home.health]\n";
    let r = run(Lie::None, scenario).await;
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.message.as_deref(),
        Some("incomplete: L1–L2 passed but the scenario never acts, so L4 was never attempted")
    );
    assert_eq!(text(&r, "l4"), "incomplete");
}

#[tokio::test]
async fn a_delta_path_that_matches_nothing_is_a_located_error_before_acting() {
    let r = run(
        Lie::None,
        &LOCK
            .replace("TRIBUNAL ", "")
            .replace("expect: { door.front.locked", "expect: { door.frnt.locked"),
    )
    .await;
    assert_eq!(r.verdict, Verdict::Error);
    let message = r.message.clone().unwrap_or_default();
    assert!(
        message.starts_with(
            "L1: matches nothing in the observed state: `door.frnt.locked` (delta path at "
        ),
        "{message}"
    );
    assert!(message.contains("scenarios/s.yaml:8:80)"), "{message}");
    assert_eq!(text(&r, "l3"), "not run", "nothing was done to the home");
}
