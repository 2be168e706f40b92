//! The model server (`model-primary`, `model-fallback`): an OpenAI-compatible chat server
//! whose answers come from a [`backend`] — by default the deterministic built-in model that
//! evaluates the arithmetic in the prompt.
//!
//! Owns: `GET /v1/models`, `POST /v1/chat/completions`, `GET /health`, `GET /metrics`,
//! `GET|POST /admin/fault`, and everything a backend must not decide: the cold load, latency
//! and the model fault modes, which act the same whatever the backend.
//! Must not touch: other services (it never makes outbound calls) or the process: the
//! `crash` fault is reported to the caller as [`ServeExit::Crash`], never acted on here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, OnceCell};

use crate::api::{self, ApiError, FaultMode};
use crate::{server, Error};

// The backend is this server's seam alone, so it hangs below `model`; its files keep the
// flat `src/backend*` layout.
#[path = "backend.rs"]
pub mod backend;

pub use backend::NOT_ARITHMETIC;
use backend::{arith, Backend, BackendErrorKind, BackendKind, ChatMessage};

/// Configuration of one model server. `model-primary` and `model-fallback` differ only here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model id reported by `/v1/models` and in every completion.
    pub model: String,
    /// Added to every chat request.
    #[serde(rename = "latency_ms", default, deserialize_with = "api::millis")]
    pub latency: Duration,
    /// Paid once, by the first chat request(s), not at startup: fallbacks load lazily.
    #[serde(rename = "cold_load_ms", default, deserialize_with = "api::millis")]
    pub cold_load: Duration,
    /// How long a request may be held by `hang_chat`, `hang_all` (or a pending crash) before
    /// it is answered with 504, so held requests cannot pile up forever.
    #[serde(
        rename = "hang_limit_ms",
        default = "default_hang_limit",
        deserialize_with = "api::millis"
    )]
    pub hang_limit: Duration,
    /// The fault mode at startup; switchable later through `POST /admin/fault`.
    #[serde(default)]
    pub fault: ModelFault,
    /// Which model writes the answers.
    #[serde(default)]
    pub backend: BackendKind,
    /// The model directory, for `backend: mlx` only.
    #[serde(default)]
    pub model_path: Option<PathBuf>,
}

fn default_hang_limit() -> Duration {
    Duration::from_secs(600)
}

impl ModelConfig {
    /// A fast, healthy model server named `model`.
    pub fn new(model: impl Into<String>) -> Self {
        ModelConfig {
            model: model.into(),
            latency: Duration::ZERO,
            cold_load: Duration::ZERO,
            hang_limit: default_hang_limit(),
            fault: ModelFault::None,
            backend: BackendKind::Builtin,
            model_path: None,
        }
    }
}

/// Run-time fault modes of a model server, each a real defect a naive wall would miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFault {
    #[default]
    None,
    /// `/health` and `/v1/models` stay 200; chat requests are held, never answered.
    HangChat,
    /// A single-slot server with its one slot stuck: chat, `/health` and `/v1/models` are all
    /// held (`/metrics` and `/admin/*` still answer, so the fault can be inspected and lifted).
    HangAll,
    /// The last number in every answer is off by one (answers without one are unchanged).
    WrongAnswer,
    /// Chat answers 200 with `{"success": false, "error": ...}`.
    SuccessFalse,
    /// The next request (other than `/admin/*`) makes [`serve`] return [`ServeExit::Crash`].
    Crash,
}

impl FaultMode for ModelFault {
    const ALL: &'static [Self] = &[
        ModelFault::None,
        ModelFault::HangChat,
        ModelFault::HangAll,
        ModelFault::WrongAnswer,
        ModelFault::SuccessFalse,
        ModelFault::Crash,
    ];

    fn name(self) -> &'static str {
        match self {
            ModelFault::None => "none",
            ModelFault::HangChat => "hang_chat",
            ModelFault::HangAll => "hang_all",
            ModelFault::WrongAnswer => "wrong_answer",
            ModelFault::SuccessFalse => "success_false",
            ModelFault::Crash => "crash",
        }
    }
}

/// Why [`serve`] returned. A process wrapper exits with status 1 on [`ServeExit::Crash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeExit {
    /// The `crash` fault fired. Every connection has been dropped, as a dying process would.
    Crash,
}

struct Model {
    config: ModelConfig,
    backend: Arc<dyn Backend>,
    fault: watch::Sender<ModelFault>,
    loaded: OnceCell<()>,
    crash: Notify,
    requests: AtomicU64,
    errors: AtomicU64,
    cold_loads: AtomicU64,
}

/// Serves a model server on `listener` until the `crash` fault fires.
///
/// The backend is loaded first (a real model reads its weights here), so a bad backend
/// config is an error before anything is served. Dropping the future stops the server and
/// closes every connection.
pub async fn serve(config: ModelConfig, listener: TcpListener) -> Result<ServeExit, Error> {
    if config.model.trim().is_empty() {
        return Err(Error::config("model server: `model` must not be empty"));
    }
    let (kind, path) = (config.backend, config.model_path.clone());
    let backend = tokio::task::spawn_blocking(move || backend::load(kind, path.as_deref()))
        .await
        .map_err(|_| Error::config("model server: loading the backend panicked"))?
        .map_err(|e| Error::config(format!("model server: {e}")))?;
    let model = Arc::new(Model {
        fault: watch::Sender::new(config.fault),
        config,
        backend,
        loaded: OnceCell::new(),
        crash: Notify::new(),
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        cold_loads: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", axum::routing::post(chat))
        .route("/health", get(api::health))
        .route("/metrics", get(metrics))
        .route("/admin/fault", get(get_fault).post(set_fault))
        .layer(middleware::from_fn_with_state(model.clone(), hang_all_gate))
        .layer(middleware::from_fn_with_state(model.clone(), crash_gate))
        .with_state(model.clone());
    let crashed = async {
        model.crash.notified().await;
        ServeExit::Crash
    };
    Ok(server::run(app, listener, crashed).await)
}

async fn crash_gate(State(model): State<Arc<Model>>, request: Request, next: Next) -> Response {
    let crashing = *model.fault.borrow() == ModelFault::Crash;
    if !crashing || request.uri().path().starts_with("/admin/") {
        return next.run(request).await;
    }
    model.crash.notify_one();
    // `serve` drops this connection as soon as it sees the notification; the bound only
    // matters if the router is driven by something other than `serve`.
    tokio::time::sleep(model.config.hang_limit).await;
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "model server crashed").into_response()
}

/// Holds `/health` and `/v1/models` under `hang_all`; chat holds itself (after counting the
/// request and paying the cold load, as it does under `hang_chat`).
async fn hang_all_gate(State(model): State<Arc<Model>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path != "/health" && path != "/v1/models" {
        return next.run(request).await;
    }
    if model.hold(|f| f == ModelFault::HangAll).await.is_err() {
        return ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "request held by the hang_all fault for {} ms",
                model.config.hang_limit.as_millis()
            ),
        )
        .into_response();
    }
    next.run(request).await
}

async fn models(State(model): State<Arc<Model>>) -> Json<serde_json::Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": model.config.model,
            "object": "model",
            "created": 0,
            "owned_by": "auditwall-reference",
        }],
    }))
}

async fn metrics(State(model): State<Arc<Model>>) -> impl IntoResponse {
    let body = format!(
        "# TYPE model_requests_total counter\nmodel_requests_total {}\n\
         # TYPE model_errors_total counter\nmodel_errors_total {}\n\
         # TYPE model_cold_loads_total counter\nmodel_cold_loads_total {}\n\
         # TYPE model_loaded gauge\nmodel_loaded {}\n",
        model.requests.load(Ordering::Relaxed),
        model.errors.load(Ordering::Relaxed),
        model.cold_loads.load(Ordering::Relaxed),
        u8::from(model.loaded.initialized()),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn get_fault(State(model): State<Arc<Model>>) -> Json<serde_json::Value> {
    api::fault_body(*model.fault.borrow())
}

async fn set_fault(State(model): State<Arc<Model>>, body: Bytes) -> Response {
    match api::parse_fault::<ModelFault>(&body) {
        Ok(mode) => {
            model.fault.send_replace(mode);
            api::fault_body(mode).into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<ChatMessage>,
}

async fn chat(State(model): State<Arc<Model>>, body: Bytes) -> Response {
    let n = model.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return model.fail(
                StatusCode::BAD_REQUEST,
                format!("invalid chat request: {e}"),
            )
        }
    };
    if !request.messages.iter().any(|m| m.role == "user") {
        return model.fail(
            StatusCode::BAD_REQUEST,
            "invalid chat request: `messages` has no message with role \"user\"".to_owned(),
        );
    }
    model
        .loaded
        .get_or_init(|| async {
            tokio::time::sleep(model.config.cold_load).await;
            model.cold_loads.fetch_add(1, Ordering::Relaxed);
        })
        .await;
    tokio::time::sleep(model.config.latency).await;

    let holds_chat = |f: ModelFault| matches!(f, ModelFault::HangChat | ModelFault::HangAll);
    let fault = match model.hold(holds_chat).await {
        Ok(now) => now,
        Err(held_by) => {
            return model.fail(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "chat request held by the {} fault for {} ms",
                    held_by.name(),
                    model.config.hang_limit.as_millis()
                ),
            )
        }
    };
    if fault == ModelFault::SuccessFalse {
        model.errors.fetch_add(1, Ordering::Relaxed);
        return Json(json!({
            "success": false,
            "error": "model backend unavailable (fault: success_false)",
        }))
        .into_response();
    }

    let prompt_tokens: usize = request
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count())
        .sum();
    let backend = model.backend.clone();
    let completion = tokio::task::spawn_blocking(move || backend.complete(&request.messages)).await;
    let mut content = match completion {
        Ok(Ok(completion)) => completion.content,
        Ok(Err(e)) if e.kind() == BackendErrorKind::Request => {
            return model.fail(
                StatusCode::BAD_REQUEST,
                format!("invalid chat request: {e}"),
            )
        }
        Ok(Err(e)) => {
            return model.fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("model backend failed: {e}"),
            )
        }
        Err(_) => {
            return model.fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "model backend panicked".to_owned(),
            )
        }
    };
    if fault == ModelFault::WrongAnswer {
        content = off_by_one(&content);
    }
    let completion_tokens = content.split_whitespace().count();
    Json(json!({
        "id": format!("chatcmpl-ref-{n}"),
        "object": "chat.completion",
        "created": api::unix_ms() / 1000,
        "model": model.config.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

impl Model {
    /// Holds the caller while `holds` is true of the fault mode, until the client gives up,
    /// the fault is lifted (`Ok` with the mode then; at once if nothing holds it), or the hang
    /// limit ends it (`Err` with the mode that held it).
    async fn hold(&self, holds: impl Fn(ModelFault) -> bool) -> Result<ModelFault, ModelFault> {
        let mut changes = self.fault.subscribe();
        let lifted = tokio::time::timeout(self.config.hang_limit, changes.wait_for(|f| !holds(*f)))
            .await
            .ok()
            .and_then(|now| now.ok().map(|mode| *mode));
        lifted.ok_or_else(|| *changes.borrow())
    }

    /// Counts an error and answers in OpenAI's error shape, which clients already parse.
    fn fail(&self, status: StatusCode, message: String) -> Response {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let kind = if status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        (
            status,
            Json(json!({ "error": { "message": message, "type": kind } })),
        )
            .into_response()
    }
}

/// The `wrong_answer` fault, for any backend: the last number in `content` plus one, written
/// the way [`arith::format`] writes numbers (so the built-in model's "4" becomes "5").
fn off_by_one(content: &str) -> String {
    let bytes = content.as_bytes();
    let Some(last_digit) = bytes.iter().rposition(u8::is_ascii_digit) else {
        return content.to_owned();
    };
    let digits_from = |mut i: usize| {
        while i > 0 && bytes[i - 1].is_ascii_digit() {
            i -= 1;
        }
        i
    };
    let end = last_digit + 1;
    let mut start = digits_from(last_digit);
    if start >= 2 && bytes[start - 1] == b'.' && bytes[start - 2].is_ascii_digit() {
        start = digits_from(start - 1);
    }
    // A minus sign is the number's own only where it cannot be subtraction ("7-3").
    if start >= 1
        && bytes[start - 1] == b'-'
        && (start == 1 || !bytes[start - 2].is_ascii_alphanumeric())
    {
        start -= 1;
    }
    match content[start..end].parse::<f64>() {
        Ok(value) => format!(
            "{}{}{}",
            &content[..start],
            arith::format(value + 1.0),
            &content[end..]
        ),
        Err(_) => content.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::off_by_one;

    #[test]
    fn off_by_one_changes_the_last_number_only() {
        let cases = [
            ("4", "5"),
            ("-3", "-2"),
            ("-0.5", "0.5"),
            ("0.3333333333", "1.3333333333"),
            ("2 + 2 = 4.", "2 + 2 = 5."),
            ("7-3 is 4, not 3", "7-3 is 4, not 4"),
            ("7-3", "7-4"),
            ("x = -1", "x = 0"),
            (
                "Division by zero is undefined.",
                "Division by zero is undefined.",
            ),
            ("", ""),
        ];
        for (content, expected) in cases {
            assert_eq!(off_by_one(content), expected, "content {content:?}");
        }
    }
}
