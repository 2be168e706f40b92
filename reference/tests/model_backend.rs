//! The model-backend seam: the built-in backend called through the `Backend` trait, choosing
//! a backend from the model server's YAML config, and the errors a build without the `mlx`
//! feature gives for `backend: mlx` — at load and when a real server starts on loopback.

#[path = "services/common.rs"]
#[allow(dead_code)] // shared with the services binary, which uses every helper
mod common;

use std::path::{Path, PathBuf};

use auditwall_reference::model::backend::{
    self, Backend, BackendErrorKind, BackendKind, Builtin, ChatMessage, Completion,
};
use auditwall_reference::model::{self, ModelConfig, NOT_ARITHMETIC};
use auditwall_reference::ErrorKind;
use serde_json::Value;

fn message(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.to_owned(),
        content: content.to_owned(),
    }
}

fn ask(backend: &dyn Backend, prompt: &str) -> String {
    match backend.complete(&[message("user", prompt)]) {
        Ok(Completion { content }) => content,
        Err(e) => panic!("prompt {prompt:?}: {e}"),
    }
}

#[test]
fn builtin_answers_through_the_trait() {
    let cases = [
        ("2+2?", "4"),
        ("What is (3+4)*5?", "35"),
        ("what is 1.5 * 4", "6"),
        ("compute 7 - 10", "-3"),
        ("1/0", "Division by zero is undefined."),
        ("What is the capital of France?", NOT_ARITHMETIC),
    ];
    for (prompt, expected) in cases {
        assert_eq!(ask(&Builtin, prompt), expected, "prompt {prompt:?}");
    }
}

#[test]
fn builtin_answers_the_last_user_message() {
    let conversation = [
        message("system", "Answer briefly. 1+1"),
        message("user", "2+2?"),
        message("assistant", "4"),
        message("user", "And 3*3?"),
    ];
    let completion = Builtin.complete(&conversation).expect("complete");
    assert_eq!(completion.content, "9");
}

#[test]
fn builtin_without_a_user_message_is_a_request_error() {
    let error = Builtin
        .complete(&[message("system", "2+2?")])
        .expect_err("no user message");
    assert_eq!(error.kind(), BackendErrorKind::Request);
    assert_eq!(
        error.to_string(),
        "the conversation has no message with role \"user\""
    );
}

#[test]
fn load_builds_the_builtin_backend_by_default() {
    let config: ModelConfig = serde_saphyr::from_str("model: ref-primary\n").expect("parse");
    assert_eq!(config.backend, BackendKind::Builtin);
    assert_eq!(config.model_path, None);
    let backend = backend::load(config.backend, config.model_path.as_deref()).expect("load");
    assert_eq!(ask(backend.as_ref(), "6*7"), "42");
}

#[test]
fn the_backend_keys_parse_from_yaml() {
    let config: ModelConfig =
        serde_saphyr::from_str("model: local\nbackend: mlx\nmodel_path: /models/qwen\n")
            .expect("parse");
    assert_eq!(config.backend, BackendKind::Mlx);
    assert_eq!(config.model_path, Some(PathBuf::from("/models/qwen")));
    let builtin: ModelConfig =
        serde_saphyr::from_str("model: ref-primary\nbackend: builtin\n").expect("parse");
    assert_eq!(builtin, ModelConfig::new("ref-primary"));
}

#[test]
fn an_unknown_backend_is_rejected_naming_the_choices() {
    let error = serde_saphyr::from_str::<ModelConfig>("model: x\nbackend: llama\n")
        .expect_err("unknown backend");
    let text = error.to_string();
    assert_eq!(
        text.lines().next(),
        Some("error: line 2 column 10: unknown variant `llama`, expected one of builtin, mlx"),
        "{text}"
    );
}

#[test]
fn model_path_without_mlx_is_a_config_error() {
    let error = backend::load(BackendKind::Builtin, Some(Path::new("/models/qwen")))
        .err()
        .expect("model_path with the builtin backend");
    assert_eq!(error.kind(), BackendErrorKind::Config);
    assert_eq!(
        error.to_string(),
        "`model_path` is only used by backend \"mlx\"; remove it or set `backend: mlx`"
    );
}

#[cfg(not(feature = "mlx"))]
const NO_MLX: &str =
    "backend \"mlx\" needs auditwall built with --features mlx on macOS/Apple Silicon";

#[cfg(not(feature = "mlx"))]
#[test]
fn mlx_without_the_feature_is_unavailable_with_or_without_a_path() {
    for path in [None, Some(Path::new("/models/qwen"))] {
        let error = backend::load(BackendKind::Mlx, path)
            .err()
            .expect("mlx is not built in");
        assert_eq!(error.kind(), BackendErrorKind::Unavailable, "path {path:?}");
        assert_eq!(error.to_string(), NO_MLX, "path {path:?}");
    }
}

/// The server refuses to start, and the port it was given is closed again, not half-served.
async fn assert_refuses_to_start(config: ModelConfig, expected: &str) {
    let listener = common::listener().await;
    let addr = listener.local_addr().expect("local addr");
    let error = model::serve(config, listener)
        .await
        .expect_err("serve must refuse the config");
    assert_eq!(error.kind(), ErrorKind::Config);
    assert_eq!(error.to_string(), expected);
    let after = common::client()
        .get(format!("http://{addr}/health"))
        .send()
        .await;
    assert!(
        after.is_err_and(|e| e.is_connect()),
        "nothing may listen after a refused start"
    );
}

#[cfg(not(feature = "mlx"))]
#[tokio::test]
async fn serve_with_mlx_without_the_feature_is_a_config_error() {
    let config: ModelConfig =
        serde_saphyr::from_str("model: local\nbackend: mlx\nmodel_path: /models/qwen\n")
            .expect("parse");
    assert_refuses_to_start(
        config,
        &format!("invalid configuration: model server: {NO_MLX}"),
    )
    .await;
}

#[tokio::test]
async fn serve_with_model_path_but_the_builtin_backend_is_a_config_error() {
    let mut config = ModelConfig::new("ref-primary");
    config.model_path = Some(PathBuf::from("/models/qwen"));
    assert_refuses_to_start(
        config,
        "invalid configuration: model server: `model_path` is only used by backend \"mlx\"; remove it or set `backend: mlx`",
    )
    .await;
}

/// `backend: builtin` spelled out serves exactly what the default does, faults included.
#[tokio::test]
async fn an_explicit_builtin_backend_serves_answers_and_faults() {
    let config: ModelConfig =
        serde_saphyr::from_str("model: ref-primary\nbackend: builtin\n").expect("parse");
    let server = common::spawn(|listener| model::serve(config, listener)).await;
    let client = common::client();
    let answer = |body: Value| common::content(&body).to_owned();

    let body = common::chat(&client, &server.url(""), "What is 0.1 + 0.2?")
        .await
        .expect("chat")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer(body), "0.3");

    let (status, _) = common::post_json(
        &client,
        &server.url("/admin/fault"),
        &serde_json::json!({ "mode": "wrong_answer" }),
    )
    .await;
    assert_eq!(status, 200);
    for (prompt, expected) in [
        ("What is 0.1 + 0.2?", "1.3"),
        ("compute 7 - 10", "-2"),
        ("1/3", "1.3333333333"),
        ("1/0", "Division by zero is undefined."),
    ] {
        let body = common::chat(&client, &server.url(""), prompt)
            .await
            .expect("chat")
            .json()
            .await
            .expect("JSON");
        assert_eq!(answer(body), expected, "prompt {prompt:?}");
    }
    server.stop().await;
}
