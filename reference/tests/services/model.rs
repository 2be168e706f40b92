use std::time::Duration;

use auditwall_reference::model::{self, ModelConfig, ModelFault, ServeExit, NOT_ARITHMETIC};
use auditwall_reference::ErrorKind;
use serde_json::{json, Value};

use crate::common::{self, chat, client, content, get_json, post_json, Running};

type Model = Running<Result<ServeExit, auditwall_reference::Error>>;

async fn start(config: ModelConfig) -> Model {
    common::spawn(|listener| model::serve(config, listener)).await
}

async fn set_fault(server: &Model, mode: &str) {
    let (status, body) = post_json(
        &client(),
        &server.url("/admin/fault"),
        &json!({ "mode": mode }),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "mode": mode })));
}

async fn metrics(server: &Model) -> String {
    let response = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

fn metrics_text(requests: u64, errors: u64, cold_loads: u64, loaded: u8) -> String {
    format!(
        "# TYPE model_requests_total counter\nmodel_requests_total {requests}\n\
         # TYPE model_errors_total counter\nmodel_errors_total {errors}\n\
         # TYPE model_cold_loads_total counter\nmodel_cold_loads_total {cold_loads}\n\
         # TYPE model_loaded gauge\nmodel_loaded {loaded}\n"
    )
}

/// A chat request held by `fault` ends, once the 100 ms hang limit runs out, with a 504 that
/// names the fault.
async fn assert_chat_held_504(server: &Model, fault: &str) {
    let (status, body) = post_json(
        &client(),
        &server.url("/v1/chat/completions"),
        &common::chat_body("2+2"),
    )
    .await;
    assert_eq!(status, 504);
    assert_eq!(
        body,
        json!({ "error": {
            "message": format!("chat request held by the {fault} fault for 100 ms"),
            "type": "server_error",
        }})
    );
}

#[tokio::test]
async fn answers_arithmetic_in_the_openai_shape() {
    let server = start(ModelConfig::new("ref-primary")).await;
    let base = server.url("");
    let cases = [
        ("2+2?", "4"),
        ("What is (3+4)*5?", "35"),
        ("what is 1.5 * 4", "6"),
        ("10 / 4 = ?", "2.5"),
        ("What is 0.1 + 0.2?", "0.3"),
        ("compute 7 - 10", "-3"),
        ("1/0", "Division by zero is undefined."),
        ("What is the capital of France?", NOT_ARITHMETIC),
    ];
    for (prompt, expected) in cases {
        let response = chat(&client(), &base, prompt).await.expect("chat");
        assert_eq!(response.status(), 200, "prompt {prompt:?}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(content(&body), expected, "prompt {prompt:?}");
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "ref-primary");
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        let usage = &body["usage"];
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["prompt_tokens"].as_u64().unwrap_or(0)
                    + usage["completion_tokens"].as_u64().unwrap_or(0)
            )
        );
        assert!(body["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-")));
    }
}

#[tokio::test]
async fn answers_the_last_user_message() {
    let server = start(ModelConfig::new("ref-primary")).await;
    let conversation = json!({ "messages": [
        { "role": "system", "content": "Answer briefly. 1+1" },
        { "role": "user", "content": "2+2?" },
        { "role": "assistant", "content": "4" },
        { "role": "user", "content": "And 3*3?" },
    ]});
    let (status, body) = post_json(
        &client(),
        &server.url("/v1/chat/completions"),
        &conversation,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(content(&body), "9");
}

#[tokio::test]
async fn models_health_and_metrics_are_exact() {
    let server = start(ModelConfig::new("ref-fallback")).await;
    let client = client();
    assert_eq!(
        get_json(&client, &server.url("/v1/models")).await,
        (
            200,
            json!({ "object": "list", "data": [{
                "id": "ref-fallback", "object": "model", "created": 0, "owned_by": "auditwall-reference",
            }]})
        )
    );
    assert_eq!(
        get_json(&client, &server.url("/health")).await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(metrics(&server).await, metrics_text(0, 0, 0, 0));

    chat(&client, &server.url(""), "2+2?").await.expect("chat");
    chat(&client, &server.url(""), "3+3?").await.expect("chat");
    let bad = client
        .post(server.url("/v1/chat/completions"))
        .body("not json")
        .send()
        .await
        .expect("chat");
    assert_eq!(bad.status(), 400);
    assert_eq!(metrics(&server).await, metrics_text(3, 1, 1, 1));
}

#[tokio::test]
async fn bad_chat_requests_get_openai_style_errors() {
    let server = start(ModelConfig::new("ref-primary")).await;
    let url = server.url("/v1/chat/completions");
    let (status, body) = post_json(
        &client(),
        &url,
        &json!({ "messages": [{ "role": "system", "content": "hi" }] }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({ "error": {
            "message": "invalid chat request: `messages` has no message with role \"user\"",
            "type": "invalid_request_error",
        }})
    );
    let (status, body) = post_json(&client(), &url, &json!({ "prompt": "2+2" })).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "invalid chat request: missing field `messages` at line 1 column 16"
    );
}

#[tokio::test]
async fn cold_load_is_lazy_and_delays_the_first_chat() {
    let mut config = ModelConfig::new("ref-fallback");
    config.cold_load = Duration::from_secs(600);
    let server = start(config).await;
    // Startup did not load: health and the model list answer while nothing is loaded.
    assert_eq!(get_json(&client(), &server.url("/health")).await.0, 200);
    let first = chat(
        &common::client_with_timeout(Duration::from_millis(300)),
        &server.url(""),
        "2+2?",
    )
    .await;
    assert!(
        first.is_err_and(|e| e.is_timeout()),
        "first chat should wait for the cold load"
    );
    assert_eq!(get_json(&client(), &server.url("/v1/models")).await.0, 200);
    assert_eq!(metrics(&server).await, metrics_text(1, 0, 0, 0));
}

#[tokio::test]
async fn cold_load_is_paid_once() {
    let mut config = ModelConfig::new("ref-fallback");
    config.cold_load = Duration::from_millis(50);
    let server = start(config).await;
    let client = client();
    let base = server.url("");
    let (a, b) = tokio::join!(chat(&client, &base, "1+1"), chat(&client, &base, "2+2"));
    assert_eq!(a.expect("chat").status(), 200);
    assert_eq!(b.expect("chat").status(), 200);
    for _ in 0..3 {
        chat(&client, &server.url(""), "3+3").await.expect("chat");
    }
    assert_eq!(metrics(&server).await, metrics_text(5, 0, 1, 1));
}

#[tokio::test]
async fn hang_chat_keeps_health_green_while_chat_hangs() {
    let server = start(ModelConfig::new("ref-primary")).await;
    set_fault(&server, "hang_chat").await;
    assert_eq!(
        get_json(&client(), &server.url("/admin/fault")).await,
        (200, json!({ "mode": "hang_chat" }))
    );
    assert_eq!(
        get_json(&client(), &server.url("/health")).await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(get_json(&client(), &server.url("/v1/models")).await.0, 200);
    let short = common::client_with_timeout(Duration::from_millis(300));
    let hung = chat(&short, &server.url(""), "2+2?").await;
    assert!(
        hung.is_err_and(|e| e.is_timeout()),
        "chat must hang under hang_chat"
    );

    set_fault(&server, "none").await;
    common::answers_two_plus_two(&server.url("")).await;
}

#[tokio::test]
async fn a_held_request_is_answered_once_the_fault_is_lifted() {
    let server = start(ModelConfig::new("ref-primary")).await;
    set_fault(&server, "hang_chat").await;
    let base = server.url("");
    let held = tokio::spawn(async move { chat(&client(), &base, "6*7").await });
    common::eventually("the chat request to be held", || async {
        metrics(&server)
            .await
            .contains("model_requests_total 1\n")
            .then_some(())
    })
    .await;
    set_fault(&server, "none").await;
    let response = held.await.expect("task").expect("chat");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(content(&body), "42");
}

#[tokio::test]
async fn hang_limit_ends_held_requests_with_504() {
    let mut config = ModelConfig::new("ref-primary");
    config.hang_limit = Duration::from_millis(100);
    config.fault = ModelFault::HangChat;
    let server = start(config).await;
    assert_chat_held_504(&server, "hang_chat").await;
    assert_eq!(metrics(&server).await, metrics_text(1, 1, 1, 1));
}

#[tokio::test]
async fn hang_all_holds_health_models_and_chat_until_lifted() {
    let server = start(ModelConfig::new("ref-primary")).await;
    set_fault(&server, "hang_all").await;
    // The admin endpoint and the metrics still answer: the fault can be seen and lifted.
    assert_eq!(
        get_json(&client(), &server.url("/admin/fault")).await,
        (200, json!({ "mode": "hang_all" }))
    );
    assert_eq!(metrics(&server).await, metrics_text(0, 0, 0, 0));
    let short = common::client_with_timeout(Duration::from_millis(300));
    for path in ["/health", "/v1/models"] {
        let hung = short.get(server.url(path)).send().await;
        assert!(
            hung.is_err_and(|e| e.is_timeout()),
            "{path} must hang under hang_all"
        );
    }
    let hung = chat(&short, &server.url(""), "2+2?").await;
    assert!(
        hung.is_err_and(|e| e.is_timeout()),
        "chat must hang under hang_all"
    );

    // A health probe held by the fault is answered once it is lifted.
    let url = server.url("/health");
    let held = tokio::spawn(async move { get_json(&client(), &url).await });
    set_fault(&server, "none").await;
    assert_eq!(held.await.expect("task"), (200, json!({ "status": "ok" })));
    common::answers_two_plus_two(&server.url("")).await;
}

#[tokio::test]
async fn hang_chat_after_hang_all_releases_health_but_keeps_chat_held() {
    let server = start(ModelConfig::new("ref-primary")).await;
    set_fault(&server, "hang_all").await;
    let url = server.url("/health");
    let held_health = tokio::spawn(async move { get_json(&client(), &url).await });
    let base = server.url("");
    let held_chat = tokio::spawn(async move {
        chat(
            &common::client_with_timeout(Duration::from_secs(1)),
            &base,
            "6*7",
        )
        .await
    });
    common::eventually("the chat request to be held", || async {
        metrics(&server)
            .await
            .contains("model_requests_total 1\n")
            .then_some(())
    })
    .await;
    set_fault(&server, "hang_chat").await;
    assert_eq!(
        held_health.await.expect("task"),
        (200, json!({ "status": "ok" }))
    );
    assert!(
        held_chat
            .await
            .expect("task")
            .is_err_and(|e| e.is_timeout()),
        "chat stays held under hang_chat"
    );
}

#[tokio::test]
async fn hang_limit_ends_requests_held_by_hang_all_with_504() {
    let mut config = ModelConfig::new("ref-primary");
    config.hang_limit = Duration::from_millis(100);
    config.fault = ModelFault::HangAll;
    let server = start(config).await;
    for path in ["/health", "/v1/models"] {
        assert_eq!(
            get_json(&client(), &server.url(path)).await,
            (
                504,
                json!({ "error": "request held by the hang_all fault for 100 ms" })
            ),
            "{path}"
        );
    }
    assert_chat_held_504(&server, "hang_all").await;
    assert_eq!(metrics(&server).await, metrics_text(1, 1, 1, 1));
}

#[tokio::test]
async fn wrong_answer_is_off_by_one() {
    let server = start(ModelConfig::new("ref-fallback")).await;
    set_fault(&server, "wrong_answer").await;
    let client = client();
    for (prompt, expected) in [
        ("2+2?", "5"),
        ("What is (3+4)*5?", "36"),
        ("hello", NOT_ARITHMETIC),
    ] {
        let body: Value = chat(&client, &server.url(""), prompt)
            .await
            .expect("chat")
            .json()
            .await
            .expect("JSON");
        assert_eq!(content(&body), expected, "prompt {prompt:?}");
    }
}

#[tokio::test]
async fn success_false_answers_200_with_a_failure_body() {
    let server = start(ModelConfig::new("ref-primary")).await;
    set_fault(&server, "success_false").await;
    let (status, body) = post_json(
        &client(),
        &server.url("/v1/chat/completions"),
        &common::chat_body("2+2"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "success": false, "error": "model backend unavailable (fault: success_false)" })
    );
    assert_eq!(metrics(&server).await, metrics_text(1, 1, 1, 1));
}

#[tokio::test]
async fn crash_ends_serve_and_drops_every_connection() {
    let server = start(ModelConfig::new("ref-primary")).await;
    let addr = server.addr;
    set_fault(&server, "crash").await;
    // The admin endpoint is exempt, so the fault can be inspected without setting it off.
    assert_eq!(
        get_json(&client(), &server.url("/admin/fault")).await,
        (200, json!({ "mode": "crash" }))
    );

    let crashed = chat(&client(), &server.url(""), "2+2?").await;
    let error = crashed.expect_err("a crashing server must not answer");
    assert!(
        !error.is_timeout(),
        "the connection must be dropped, not left hanging: {error}"
    );
    assert_eq!(server.exit().await.expect("serve"), ServeExit::Crash);

    let after = client().get(format!("http://{addr}/health")).send().await;
    assert!(
        after.is_err_and(|e| e.is_connect()),
        "nothing may listen after a crash"
    );
}

#[tokio::test]
async fn unknown_fault_modes_are_rejected_with_the_list() {
    let server = start(ModelConfig::new("ref-primary")).await;
    let url = server.url("/admin/fault");
    assert_eq!(
        post_json(&client(), &url, &json!({ "mode": "explode" })).await,
        (
            400,
            json!({ "error": "unknown fault mode \"explode\"; expected one of: none, hang_chat, hang_all, wrong_answer, success_false, crash" })
        )
    );
    assert_eq!(
        post_json(&client(), &url, &json!({ "fault": "crash" })).await,
        (
            400,
            json!({ "error": "request body must be JSON like {\"mode\": \"none\"}: unknown field `fault`, expected `mode` at line 1 column 8" })
        )
    );
    assert_eq!(
        get_json(&client(), &url).await,
        (200, json!({ "mode": "none" }))
    );
}

#[tokio::test]
async fn an_empty_model_name_is_a_config_error() {
    let listener = common::listener().await;
    let error = model::serve(ModelConfig::new(" "), listener)
        .await
        .expect_err("empty model name");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(
        error.to_string(),
        "invalid configuration: model server: `model` must not be empty"
    );
}
