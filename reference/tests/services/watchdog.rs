use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auditwall_reference::model::{self, ModelConfig, ServeExit};
use auditwall_reference::watchdog::{self, Restart, WatchdogConfig, WatchedService};
use auditwall_reference::{BoxError, Error, ErrorKind};
use serde_json::{json, Value};

use crate::common::{self, client, get_json, Running};

type Watchdog = Running<Result<Infallible, Error>>;
type Model = Running<Result<ServeExit, Error>>;

fn config(services: Vec<WatchedService>) -> WatchdogConfig {
    WatchdogConfig {
        services,
        interval: Duration::from_millis(30),
        probe_timeout: Duration::from_secs(2),
        backoff: Duration::from_millis(20),
        restart_timeout: Duration::from_secs(5),
        never_give_up: false,
    }
}

fn watched(name: &str, health_url: String) -> WatchedService {
    WatchedService {
        name: name.to_owned(),
        health_url,
    }
}

/// A restart the supervisor refuses every time, counted in `calls`.
fn refused_restarts(calls: Arc<AtomicU32>) -> impl Restart {
    move |_service: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err::<(), BoxError>(
            "supervisor refused: exit status 1".into(),
        ))
    }
}

async fn start(config: WatchdogConfig, restart: impl Restart) -> Watchdog {
    common::spawn(|listener| watchdog::serve(config, listener, restart)).await
}

async fn status(watchdog: &Watchdog) -> Vec<Value> {
    let (code, body) = get_json(&client(), &watchdog.url("/status")).await;
    assert_eq!(code, 200);
    body["services"].as_array().cloned().unwrap_or_default()
}

/// Waits until the first service reaches `state` and returns its status.
async fn wait_for_state(watchdog: &Watchdog, state: &str) -> Value {
    common::eventually(&format!("state {state}"), || async {
        status(watchdog)
            .await
            .into_iter()
            .next()
            .filter(|s| s.get("state") == Some(&json!(state)))
    })
    .await
}

#[tokio::test]
async fn restarts_a_dead_service_and_reports_it_healthy_again() {
    let original = common::spawn(|l| model::serve(ModelConfig::new("ref-primary"), l)).await;
    let addr = original.addr;
    // Servers started by the restart callback, kept so they are stopped when the test ends.
    let restarted: Arc<Mutex<Vec<Model>>> = Arc::default();
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let restart = {
        let (restarted, calls) = (restarted.clone(), calls.clone());
        move |service: String| {
            let (restarted, calls) = (restarted.clone(), calls.clone());
            async move {
                calls.lock().map_err(|e| e.to_string())?.push(service);
                let listener = tokio::net::TcpListener::bind(addr).await?;
                let server = common::spawn_on(listener, |l| {
                    model::serve(ModelConfig::new("ref-primary"), l)
                });
                restarted.lock().map_err(|e| e.to_string())?.push(server);
                Ok::<(), BoxError>(())
            }
        }
    };
    let dog = start(
        config(vec![watched(
            "model-primary",
            format!("http://{addr}/health"),
        )]),
        restart,
    )
    .await;
    assert_eq!(
        wait_for_state(&dog, "HEALTHY").await,
        json!({ "name": "model-primary", "health_url": format!("http://{addr}/health"),
                "state": "HEALTHY", "restarts": 0, "last_error": null })
    );

    original.stop().await;
    let healed = common::eventually("a restart that heals", || async {
        status(&dog)
            .await
            .into_iter()
            .next()
            .filter(|s| s["state"] == "HEALTHY" && s["restarts"] == 1)
    })
    .await;
    assert_eq!(healed["last_error"], "health probe could not connect");
    assert_eq!(
        *calls.lock().expect("calls"),
        vec!["model-primary".to_owned()]
    );

    // Healed means it does the work again, not merely that something listens.
    common::answers_two_plus_two(&format!("http://{addr}")).await;
}

#[tokio::test]
async fn blocks_after_three_failed_restarts_and_stops_restarting() {
    let dead = common::closed_port().await;
    let calls = Arc::new(AtomicU32::new(0));
    let restart = refused_restarts(calls.clone());
    let dog = start(
        config(vec![watched("hub", format!("http://{dead}/health"))]),
        restart,
    )
    .await;
    let blocked = wait_for_state(&dog, "BLOCKED").await;
    assert_eq!(blocked["restarts"], 3);
    assert_eq!(
        blocked["last_error"],
        "restart failed: supervisor refused: exit status 1"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Absence can only be shown by waiting: many probe intervals later, still 3 restarts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(status(&dog).await[0]["state"], "BLOCKED");
    assert_eq!(
        get_json(&client(), &dog.url("/health")).await,
        (200, json!({ "status": "ok" }))
    );
}

/// The negative control of the BLOCKED verdict: a silent restart loop. Reaching ten restarts
/// within the 10 s bound of `eventually` also shows the backoff stops doubling (uncapped,
/// the tenth wait alone would be 20 ms * 2^9 ≈ 10 s).
#[tokio::test]
async fn a_watchdog_that_never_gives_up_keeps_restarting_and_never_blocks() {
    let dead = common::closed_port().await;
    let calls = Arc::new(AtomicU32::new(0));
    let restart = refused_restarts(calls.clone());
    let mut config = config(vec![watched("hub", format!("http://{dead}/health"))]);
    config.never_give_up = true;
    let dog = start(config, restart).await;
    let looping = common::eventually("ten restarts", || async {
        let hub = status(&dog).await.into_iter().next()?;
        assert_ne!(hub["state"], "BLOCKED", "{hub}");
        hub["restarts"].as_u64().filter(|n| *n >= 10).map(|_| hub)
    })
    .await;
    assert_eq!(looping["state"], "RESTARTING");
    assert_eq!(
        looping["last_error"],
        "restart failed: supervisor refused: exit status 1"
    );
    assert!(calls.load(Ordering::SeqCst) >= 10);
}

#[test]
fn the_never_give_up_defect_cannot_be_asked_for_in_a_config_file() {
    let yaml = "interval_ms: 1000\nprobe_timeout_ms: 500\nbackoff_ms: 500\n\
                restart_timeout_ms: 30000\nnever_give_up: true\nservices: []\n";
    let error = serde_saphyr::from_str::<WatchdogConfig>(yaml).expect_err("unknown key");
    assert!(
        error.to_string().contains("unknown field `never_give_up`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_restart_that_never_returns_is_bounded() {
    let dead = common::closed_port().await;
    let mut config = config(vec![watched("router", format!("http://{dead}/health"))]);
    config.restart_timeout = Duration::from_millis(50);
    let restart = |_service: String| async {
        std::future::pending::<()>().await;
        Ok::<(), BoxError>(())
    };
    let dog = start(config, restart).await;
    let blocked = wait_for_state(&dog, "BLOCKED").await;
    assert_eq!(blocked["restarts"], 3);
    assert_eq!(blocked["last_error"], "restart timed out after 50 ms");
}

#[tokio::test]
async fn bad_configs_are_rejected_with_the_reason() {
    let ok = || watched("hub", "http://127.0.0.1:1/health".to_owned());
    let mut zero_interval = config(vec![ok()]);
    zero_interval.interval = Duration::ZERO;
    let cases = [
        (config(vec![]), "invalid configuration: watchdog: `services` must list at least one service"),
        (zero_interval, "invalid configuration: watchdog: `interval_ms` must be above 0"),
        (config(vec![ok(), ok()]), "invalid configuration: watchdog: service name \"hub\" is used twice"),
        (
            config(vec![watched("hub", "127.0.0.1:1/health".to_owned())]),
            "invalid configuration: watchdog: service \"hub\" has health_url \"127.0.0.1:1/health\", expected an http:// URL",
        ),
    ];
    for (config, expected) in cases {
        let never = |_service: String| async { Ok::<(), BoxError>(()) };
        let error = watchdog::serve(config, common::listener().await, never)
            .await
            .expect_err("bad config");
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(error.to_string(), expected);
    }
}
