use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use auditwall_reference::model::{self, ModelConfig, ModelFault, ServeExit};
use auditwall_reference::router::{self, Backend, RouterConfig, SERVED_BY};
use auditwall_reference::{Error, ErrorKind};
use serde_json::{json, Value};

use crate::common::{self, chat, client, content, get_json, Running};

type Model = Running<Result<ServeExit, Error>>;
type Router = Running<Result<Infallible, Error>>;

async fn start_model(name: &str) -> Model {
    let config = ModelConfig::new(name);
    common::spawn(|listener| model::serve(config, listener)).await
}

fn backend(name: &str, addr: SocketAddr, timeout: Duration) -> Backend {
    Backend {
        name: name.to_owned(),
        url: format!("http://{addr}"),
        timeout,
    }
}

async fn start_router(backends: Vec<Backend>) -> Router {
    let config = RouterConfig {
        fallback_urls: backends,
    };
    common::spawn(|listener| router::serve(config, listener)).await
}

/// model-primary and model-fallback behind a router, each backend with `timeouts`.
async fn system(timeouts: [Duration; 2]) -> (Model, Model, Router) {
    let primary = start_model("ref-primary").await;
    let fallback = start_model("ref-fallback").await;
    let router = start_router(vec![
        backend("model-primary", primary.addr, timeouts[0]),
        backend("model-fallback", fallback.addr, timeouts[1]),
    ])
    .await;
    (primary, fallback, router)
}

const LONG: Duration = Duration::from_secs(10);

/// Sends "2+2?" through the router; returns who served and the answer.
async fn ask(router: &Router) -> (String, String) {
    let response = chat(&client(), &router.url(""), "2+2?")
        .await
        .expect("chat");
    assert_eq!(response.status(), 200);
    let served_by = response
        .headers()
        .get(SERVED_BY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    (served_by, content(&body).to_owned())
}

async fn metrics(router: &Router) -> Value {
    let (status, body) = get_json(&client(), &router.url("/metrics")).await;
    assert_eq!(status, 200);
    body
}

async fn events(router: &Router) -> Vec<Value> {
    let (status, body) = get_json(&client(), &router.url("/events")).await;
    assert_eq!(status, 200);
    body["events"].as_array().cloned().unwrap_or_default()
}

async fn set_fault(server: &Model, mode: &str) {
    let response = client()
        .post(server.url("/admin/fault"))
        .json(&json!({ "mode": mode }))
        .send()
        .await
        .expect("set fault");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn serves_from_the_primary_and_says_so() {
    let (_primary, _fallback, router) = system([LONG, LONG]).await;
    assert_eq!(
        ask(&router).await,
        ("model-primary".to_owned(), "4".to_owned())
    );

    let models = client()
        .get(router.url("/v1/models"))
        .send()
        .await
        .expect("models");
    assert_eq!(models.headers()[SERVED_BY], "model-primary");
    let models: Value = models.json().await.expect("JSON");
    assert_eq!(models["data"][0]["id"], "ref-primary");

    assert_eq!(
        get_json(&client(), &router.url("/health")).await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(
        metrics(&router).await,
        json!({ "requests": 1, "failovers": 0, "errors": 0, "served": { "model-primary": 1, "model-fallback": 0 } })
    );
    assert_eq!(events(&router).await, Vec::<Value>::new());
}

#[tokio::test]
async fn fails_over_when_the_primary_goes_away_and_back_when_it_returns() {
    let (primary, _fallback, router) = system([LONG, LONG]).await;
    assert_eq!(ask(&router).await.0, "model-primary");

    let primary_addr = primary.addr;
    primary.stop().await;
    assert_eq!(
        ask(&router).await,
        ("model-fallback".to_owned(), "4".to_owned())
    );
    let models = client()
        .get(router.url("/v1/models"))
        .send()
        .await
        .expect("models");
    assert_eq!(models.headers()[SERVED_BY], "model-fallback");

    let listener = tokio::net::TcpListener::bind(primary_addr)
        .await
        .expect("rebind primary port");
    let _primary = common::spawn_on(listener, |l| {
        model::serve(ModelConfig::new("ref-primary"), l)
    });
    assert_eq!(ask(&router).await.0, "model-primary");

    assert_eq!(
        metrics(&router).await,
        json!({ "requests": 3, "failovers": 1, "errors": 0, "served": { "model-primary": 2, "model-fallback": 1 } })
    );
    let events = events(&router).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["from"], "model-primary");
    assert_eq!(events[0]["to"], "model-fallback");
    // Whether the dead primary shows up as a refused connect or a closed pooled connection
    // depends on when the client notices; either way it is named as the one skipped.
    let skipped = events[0]["skipped"].as_array().cloned().unwrap_or_default();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0]
            .as_str()
            .is_some_and(|s| s.starts_with("model-primary: ")),
        "{skipped:?}"
    );
    assert_eq!(events[1]["seq"], 2);
    assert_eq!(events[1]["from"], "model-fallback");
    assert_eq!(events[1]["to"], "model-primary");
    assert_eq!(events[1]["skipped"], json!([]));
    let (t0, t1) = (events[0]["time_ms"].as_u64(), events[1]["time_ms"].as_u64());
    assert!(t0.is_some_and(|t| t > 0) && t0 <= t1, "{events:?}");
}

#[tokio::test]
async fn fails_over_when_the_primary_hangs_past_its_timeout() {
    let (primary, _fallback, router) = system([Duration::from_millis(300), LONG]).await;
    set_fault(&primary, "hang_chat").await;
    assert_eq!(
        ask(&router).await,
        ("model-fallback".to_owned(), "4".to_owned())
    );
    let events = events(&router).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["skipped"],
        json!(["model-primary: timed out after 300 ms"])
    );
}

#[tokio::test]
async fn fails_over_on_a_5xx() {
    let mut config = ModelConfig::new("ref-primary");
    config.fault = ModelFault::HangChat;
    config.hang_limit = Duration::from_millis(1);
    let primary = common::spawn(|l| model::serve(config, l)).await;
    let fallback = start_model("ref-fallback").await;
    let router = start_router(vec![
        backend("model-primary", primary.addr, LONG),
        backend("model-fallback", fallback.addr, LONG),
    ])
    .await;
    assert_eq!(ask(&router).await.0, "model-fallback");
    assert_eq!(
        events(&router).await[0]["skipped"],
        json!(["model-primary: HTTP 504"])
    );
    assert_eq!(metrics(&router).await["failovers"], 1);
}

#[tokio::test]
async fn client_errors_are_passed_through_without_failover() {
    let (_primary, _fallback, router) = system([LONG, LONG]).await;
    let response = client()
        .post(router.url("/v1/chat/completions"))
        .json(&json!({ "messages": [] }))
        .send()
        .await
        .expect("chat");
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()[SERVED_BY], "model-primary");
    assert_eq!(
        metrics(&router).await,
        json!({ "requests": 1, "failovers": 0, "errors": 0, "served": { "model-primary": 1, "model-fallback": 0 } })
    );
}

#[tokio::test]
async fn all_backends_down_is_a_502_naming_each_failure() {
    let router = start_router(vec![
        backend("model-primary", common::closed_port().await, LONG),
        backend("model-fallback", common::closed_port().await, LONG),
    ])
    .await;
    let response = chat(&client(), &router.url(""), "2+2?")
        .await
        .expect("chat");
    assert_eq!(response.status(), 502);
    assert!(response.headers().get(SERVED_BY).is_none());
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({ "error": {
            "message": "all backends failed: model-primary: connection failed; model-fallback: connection failed",
            "type": "upstream_error",
        }})
    );
    assert_eq!(
        metrics(&router).await,
        json!({ "requests": 1, "failovers": 1, "errors": 1, "served": { "model-primary": 0, "model-fallback": 0 } })
    );
    assert_eq!(get_json(&client(), &router.url("/v1/models")).await.0, 502);
}

#[tokio::test]
async fn bad_configs_are_rejected_with_the_reason() {
    let addr = common::closed_port().await;
    let cases = [
        (vec![], "invalid configuration: router: `fallback_urls` must list at least one backend"),
        (
            vec![backend("a", addr, LONG), backend("a", addr, LONG)],
            "invalid configuration: router: backend name \"a\" is used twice",
        ),
        (
            vec![Backend { name: "a".into(), url: "ftp://x".into(), timeout: LONG }],
            "invalid configuration: router: backend \"a\" has url \"ftp://x\", expected an http:// URL",
        ),
        (
            vec![backend("a", addr, Duration::ZERO)],
            "invalid configuration: router: backend \"a\" needs a `timeout_ms` above 0",
        ),
    ];
    for (backends, expected) in cases {
        let listener = common::listener().await;
        let error = router::serve(
            RouterConfig {
                fallback_urls: backends,
            },
            listener,
        )
        .await
        .expect_err("bad config");
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(error.to_string(), expected);
    }
}
