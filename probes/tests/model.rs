//! The model probe against the real reference model server and small axum servers that
//! misbehave on purpose, all in-process on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use auditwall_probes::{Observations, ProbeError, ProbeErrorKind, Prober};
use auditwall_reference::model::ModelConfig;
use auditwall_spec::{
    parse_condition, GoldenAnswer, GoldenPrompt, ModelProbe, Origin, Probe, Value,
    DEFAULT_SERVED_BY_HEADER,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A server task that is stopped when the test ends, even on panic.
struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The listener is bound before this returns, so the server accepts connections at once:
/// no readiness wait is needed.
async fn reference_model() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = auditwall_reference::model::serve(ModelConfig::new("x"), listener).await;
    });
    Server { addr, task }
}

async fn serve(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, task }
}

fn completion(content: &str, finish_reason: &str) -> Response {
    Json(json!({
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": finish_reason,
        }],
    }))
    .into_response()
}

/// Answers by the prompt: each one a way a model can be wrong while still answering 200.
async fn scripted() -> Server {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|Json(request): Json<serde_json::Value>| async move {
            let ask = request["messages"][0]["content"].as_str().unwrap_or("");
            match ask {
                "empty" => completion("", "stop"),
                "blank" => completion(" \n ", "stop"),
                "same word" => completion("the the the the the the", "stop"),
                "same unit" => completion("na-na-na-na-na-na-na-na-", "stop"),
                "cut off" => completion("The answer is", "length"),
                "json" => completion("{\"name\": \"ada\", \"age\": 36}", "stop"),
                "model" => completion(request["model"].as_str().unwrap_or("(no model)"), "stop"),
                "down" => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": {"message": "no backend"}})),
                )
                    .into_response(),
                "success false" => Json(json!({"success": false})).into_response(),
                "not json" => "plain words".into_response(),
                "hang" => std::future::pending().await,
                _ => completion("4", "stop"),
            }
        }),
    );
    serve(app).await
}

/// A router whose backends take turns, saying which one served in `x-served-by`.
async fn alternating_router() -> Server {
    let turn = Arc::new(AtomicU64::new(0));
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let turn = turn.clone();
            async move {
                let backend = if turn.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                    "model-primary"
                } else {
                    "model-fallback"
                };
                (
                    [("x-served-by", backend), ("x-region", "eu")],
                    completion("4", "stop"),
                )
            }
        }),
    );
    serve(app).await
}

fn prompt(ask: &str, expect: GoldenAnswer) -> GoldenPrompt {
    GoldenPrompt {
        ask: ask.to_string(),
        expect,
    }
}

fn contains(text: &str) -> GoldenAnswer {
    GoldenAnswer::Contains(text.to_string())
}

fn probe(url: &str, repeat: u32, prompts: Vec<GoldenPrompt>) -> ModelProbe {
    ModelProbe {
        url: url.to_string(),
        model: None,
        served_by_header: DEFAULT_SERVED_BY_HEADER.to_string(),
        repeat,
        prompts,
    }
}

async fn run(probe: ModelProbe, timeout: Duration) -> Result<Observations, ProbeError> {
    Prober::new()
        .expect("prober")
        .run(&Probe::Model(probe), timeout)
        .await
}

fn number(obs: &Observations, name: &str) -> f64 {
    match obs.get(name) {
        Some(Value::Number(n)) => *n,
        other => panic!("`{name}` is not a number: {other:?}"),
    }
}

fn text<'a>(obs: &'a Observations, name: &str) -> &'a str {
    match obs.get(name) {
        Some(Value::Text(t)) => t,
        other => panic!("`{name}` is not text: {other:?}"),
    }
}

fn holds(obs: &Observations, condition: &str) -> bool {
    let origin = Origin {
        file: "t.yaml".into(),
        line: 1,
        column: 1,
    };
    parse_condition(condition, "model", origin)
        .expect("condition parses")
        .evaluate(obs)
        .passed
}

#[tokio::test]
async fn right_answers_pass_every_run() {
    let server = reference_model().await;
    let obs = run(
        probe(
            &server.url(),
            5,
            vec![
                prompt("What is 17*3?", contains("51")),
                prompt("What is 2+2?", GoldenAnswer::Exact("4".into())),
            ],
        ),
        TIMEOUT,
    )
    .await
    .expect("measured");
    assert_eq!(number(&obs, "runs"), 10.0);
    assert_eq!(number(&obs, "passes"), 10.0);
    assert_eq!(number(&obs, "pass_rate"), 1.0);
    assert_eq!(number(&obs, "status"), 200.0);
    assert_eq!(text(&obs, "failures"), "");
    // The reference model server names no backend: only a router does.
    assert_eq!(text(&obs, "served_by"), "(none)");
    assert!(matches!(obs.get("latency"), Some(Value::Duration(_))));
    assert!(holds(&obs, "pass_rate == 1"), "the default contract holds");
}

#[tokio::test]
async fn a_wrong_answer_fault_is_quoted_in_the_failures() {
    let server = reference_model().await;
    // Like the prober, never through a proxy from the environment: the server is on loopback.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let set = client
        .post(format!("{}/admin/fault", server.url()))
        .json(&json!({"mode": "wrong_answer"}))
        .send()
        .await
        .expect("fault request");
    assert_eq!(set.status(), 200);
    let obs = run(
        probe(
            &server.url(),
            4,
            vec![prompt("What is (3+4)*5?", contains("35"))],
        ),
        TIMEOUT,
    )
    .await
    .expect("measured");
    assert_eq!(number(&obs, "runs"), 4.0);
    assert_eq!(number(&obs, "passes"), 0.0);
    assert_eq!(number(&obs, "pass_rate"), 0.0);
    assert_eq!(
        text(&obs, "failures"),
        "\"What is (3+4)*5?\" answered \"36\", expected contains \"35\" (4 of 4)"
    );
    assert!(!holds(&obs, "pass_rate == 1"), "the default contract fails");
}

#[tokio::test]
async fn every_matcher_passes_and_fails_with_its_own_message() {
    let model = reference_model().await;
    let script = scripted().await;
    let near = |value, tolerance| GoldenAnswer::Number { value, tolerance };
    let shape =
        |keys: &[&str]| GoldenAnswer::JsonShape(keys.iter().map(|k| k.to_string()).collect());
    // (server, ask, expectation, the failure if it fails)
    let cases: Vec<(&Server, &str, GoldenAnswer, Option<&str>)> = vec![
        (&model, "What is 17*3?", GoldenAnswer::Exact("51".into()), None),
        (
            &model,
            "What is 17*3?",
            GoldenAnswer::Exact("5".into()),
            Some("\"What is 17*3?\" answered \"51\", expected exact \"5\" (1 of 1)"),
        ),
        (&model, "What is 17*3?", contains("5"), None),
        (
            &model,
            "What is 17*3?",
            contains("52"),
            Some("\"What is 17*3?\" answered \"51\", expected contains \"52\" (1 of 1)"),
        ),
        (&model, "What is 17*3?", GoldenAnswer::Regex("^5\\d$".into()), None),
        (
            &model,
            "What is 17*3?",
            GoldenAnswer::Regex("^6".into()),
            Some("\"What is 17*3?\" answered \"51\", expected regex \"^6\" (1 of 1)"),
        ),
        (&model, "What is 1/3?", near(0.333, 0.001), None),
        (
            &model,
            "What is 1/3?",
            near(0.3, 0.01),
            Some("\"What is 1/3?\" answered \"0.3333333333\", expected number 0.3 ± 0.01 (1 of 1)"),
        ),
        (&model, "What is 7-10?", near(-3.0, 0.0), None),
        (&script, "json", shape(&["name", "age"]), None),
        (
            &script,
            "json",
            shape(&["name", "email"]),
            Some("\"json\" answered \"{\\\"name\\\": \\\"ada\\\", \\\"age\\\": 36}\", expected json_shape [name, email] (1 of 1)"),
        ),
        (
            &model,
            "What is 17*3?",
            shape(&["name"]),
            Some("\"What is 17*3?\" answered \"51\", expected json_shape [name] (1 of 1)"),
        ),
    ];
    let mut mismatches = Vec::new();
    for (server, ask, expect, failure) in cases {
        let described = format!("{ask} / {expect:?}");
        let obs = run(probe(&server.url(), 1, vec![prompt(ask, expect)]), TIMEOUT)
            .await
            .expect("measured");
        let passes = number(&obs, "passes");
        let actual = text(&obs, "failures");
        let ok = match failure {
            None => passes == 1.0 && actual.is_empty(),
            Some(expected) => passes == 0.0 && actual == expected,
        };
        if !ok {
            mismatches.push(format!("{described}: passes {passes}, failures {actual:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn quality_detectors_fail_answers_that_came_with_200() {
    let script = scripted().await;
    let cases = [
        ("empty", "\"empty\" answered \"\": empty content (2 of 2)"),
        ("blank", "\"blank\" answered \" \\n \": empty content (2 of 2)"),
        (
            "same word",
            "\"same word\" answered \"the the the the the the\": pure repetition (2 of 2)",
        ),
        (
            "same unit",
            "\"same unit\" answered \"na-na-na-na-na-na-na-na-\": pure repetition (2 of 2)",
        ),
        (
            "cut off",
            "\"cut off\" answered \"The answer is\": truncated reply (finish_reason \"length\") (2 of 2)",
        ),
        (
            "success false",
            "\"success false\" got a reply without choices[0].message.content (2 of 2)",
        ),
        ("not json", "\"not json\" got a reply that is not JSON (2 of 2)"),
    ];
    let mut mismatches = Vec::new();
    for (ask, expected) in cases {
        // `contains ''` holds for any text, so only a detector can fail these answers.
        let obs = run(
            probe(&script.url(), 2, vec![prompt(ask, contains(""))]),
            TIMEOUT,
        )
        .await
        .expect("measured");
        let actual = text(&obs, "failures");
        if actual != expected || number(&obs, "passes") != 0.0 {
            mismatches.push(format!("{ask}: {actual:?}"));
        }
        assert_eq!(number(&obs, "status"), 200.0, "{ask}");
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn a_bad_status_is_a_failure_and_the_last_one_is_reported() {
    let script = scripted().await;
    let obs = run(
        probe(
            &script.url(),
            2,
            vec![prompt("down", contains("")), prompt("2+2", contains("4"))],
        ),
        TIMEOUT,
    )
    .await
    .expect("measured");
    assert_eq!(number(&obs, "runs"), 4.0);
    assert_eq!(number(&obs, "passes"), 2.0);
    assert_eq!(number(&obs, "pass_rate"), 0.5);
    assert_eq!(number(&obs, "status"), 503.0);
    assert_eq!(text(&obs, "failures"), "\"down\" got status 503 (2 of 2)");
    assert!(holds(&obs, "passes >= 2"));
    assert!(!holds(&obs, "passes >= 3"));
}

#[tokio::test]
async fn the_model_field_is_sent_when_given() {
    let script = scripted().await;
    let mut with_model = probe(
        &script.url(),
        1,
        vec![prompt("model", GoldenAnswer::Exact("primary".into()))],
    );
    with_model.model = Some("primary".into());
    let obs = run(with_model, TIMEOUT).await.expect("measured");
    assert_eq!(text(&obs, "failures"), "");
    let without = probe(
        &script.url(),
        1,
        vec![prompt("model", GoldenAnswer::Exact("primary".into()))],
    );
    let obs = run(without, TIMEOUT).await.expect("measured");
    assert_eq!(
        text(&obs, "failures"),
        "\"model\" answered \"(no model)\", expected exact \"primary\" (1 of 1)"
    );
}

#[tokio::test]
async fn served_by_reports_a_mix_of_backends() {
    let router = alternating_router().await;
    let obs = run(
        probe(&router.url(), 3, vec![prompt("2+2", contains("4"))]),
        TIMEOUT,
    )
    .await
    .expect("measured");
    assert_eq!(
        text(&obs, "served_by"),
        "mixed: model-primary×2, model-fallback×1"
    );
    assert!(!holds(&obs, "served_by == 'model-primary'"));
    assert_eq!(number(&obs, "pass_rate"), 1.0);

    let mut by_region = probe(&router.url(), 3, vec![prompt("2+2", contains("4"))]);
    by_region.served_by_header = "x-region".into();
    let obs = run(by_region, TIMEOUT).await.expect("measured");
    assert_eq!(text(&obs, "served_by"), "eu");
    assert!(holds(&obs, "served_by == 'eu'"));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_target_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let err = run(
        probe(
            &format!("http://{addr}/"),
            3,
            vec![prompt("2+2", contains("4"))],
        ),
        TIMEOUT,
    )
    .await
    .expect_err("nothing listens");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    let expected =
        format!("\"2+2\" failed: cannot connect: POST http://{addr}/v1/chat/completions: ");
    assert!(err.message.starts_with(&expected), "{}", err.message);
}

#[tokio::test]
async fn a_bad_url_is_a_detector_error() {
    let err = run(
        probe("ftp://127.0.0.1:1", 1, vec![prompt("2+2", contains("4"))]),
        TIMEOUT,
    )
    .await
    .expect_err("not http");
    assert_eq!(err.kind, ProbeErrorKind::Detector);
    assert_eq!(
        err.message,
        "unsupported URL scheme \"ftp\" in ftp://127.0.0.1:1: model probes speak http and https only"
    );
}

#[tokio::test]
async fn the_timeout_stops_the_runs_and_says_so() {
    let script = scripted().await;
    // The first prompt is answered at once; the second never is, so only the timeout ends it.
    let obs = run(
        probe(
            &script.url(),
            1,
            vec![prompt("2+2", contains("4")), prompt("hang", contains("4"))],
        ),
        Duration::from_secs(3),
    )
    .await
    .expect("measured");
    assert_eq!(number(&obs, "runs"), 1.0);
    assert_eq!(number(&obs, "passes"), 1.0);
    assert_eq!(
        text(&obs, "failures"),
        "stopped after 1 of 2 runs: the probe's timeout of 3s was reached"
    );

    let err = run(
        probe(&script.url(), 1, vec![prompt("hang", contains("4"))]),
        Duration::from_secs(1),
    )
    .await
    .expect_err("no answer at all");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    assert_eq!(
        err.message,
        format!(
            "timed out after 1s waiting for the first answer from {}/v1/chat/completions",
            script.url()
        )
    );
}
