//! The model server (`model-primary`, `model-fallback`): an OpenAI-compatible chat server
//! with a deterministic built-in model that evaluates the arithmetic in the prompt.
//!
//! Owns: `GET /v1/models`, `POST /v1/chat/completions`, `GET /health`, `GET /metrics`,
//! `GET|POST /admin/fault`, the arithmetic model and the model fault modes.
//! Must not touch: other services (it never makes outbound calls) or the process: the
//! `crash` fault is reported to the caller as [`ServeExit::Crash`], never acted on here.

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
    /// How long a request may be held by `hang_chat` (or a pending crash) before it is
    /// answered with 504, so held requests cannot pile up forever.
    #[serde(
        rename = "hang_limit_ms",
        default = "default_hang_limit",
        deserialize_with = "api::millis"
    )]
    pub hang_limit: Duration,
    /// The fault mode at startup; switchable later through `POST /admin/fault`.
    #[serde(default)]
    pub fault: ModelFault,
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
    /// Arithmetic answers are off by one.
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
        ModelFault::WrongAnswer,
        ModelFault::SuccessFalse,
        ModelFault::Crash,
    ];

    fn name(self) -> &'static str {
        match self {
            ModelFault::None => "none",
            ModelFault::HangChat => "hang_chat",
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

/// The answer to anything that is not arithmetic.
pub const NOT_ARITHMETIC: &str =
    "I am the auditwall reference model. I can only answer arithmetic questions.";

struct Model {
    config: ModelConfig,
    fault: watch::Sender<ModelFault>,
    loaded: OnceCell<()>,
    crash: Notify,
    requests: AtomicU64,
    errors: AtomicU64,
    cold_loads: AtomicU64,
}

/// Serves a model server on `listener` until the `crash` fault fires.
///
/// Dropping the future stops the server and closes every connection.
pub async fn serve(config: ModelConfig, listener: TcpListener) -> Result<ServeExit, Error> {
    if config.model.trim().is_empty() {
        return Err(Error::config("model server: `model` must not be empty"));
    }
    let model = Arc::new(Model {
        fault: watch::Sender::new(config.fault),
        config,
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

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    content: String,
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
    let Some(prompt) = request.messages.iter().rev().find(|m| m.role == "user") else {
        return model.fail(
            StatusCode::BAD_REQUEST,
            "invalid chat request: `messages` has no message with role \"user\"".to_owned(),
        );
    };
    model
        .loaded
        .get_or_init(|| async {
            tokio::time::sleep(model.config.cold_load).await;
            model.cold_loads.fetch_add(1, Ordering::Relaxed);
        })
        .await;
    tokio::time::sleep(model.config.latency).await;

    let mut fault = *model.fault.borrow();
    if fault == ModelFault::HangChat {
        // Held until the client gives up, the fault is lifted, or the hang limit ends it.
        let mut changes = model.fault.subscribe();
        let lifted = tokio::time::timeout(
            model.config.hang_limit,
            changes.wait_for(|f| *f != ModelFault::HangChat),
        )
        .await
        .ok()
        .and_then(|now| now.ok().map(|mode| *mode));
        match lifted {
            Some(now) => fault = now,
            None => {
                return model.fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "chat request held by the hang_chat fault for {} ms",
                        model.config.hang_limit.as_millis()
                    ),
                )
            }
        }
    }
    if fault == ModelFault::SuccessFalse {
        model.errors.fetch_add(1, Ordering::Relaxed);
        return Json(json!({
            "success": false,
            "error": "model backend unavailable (fault: success_false)",
        }))
        .into_response();
    }

    let content = match arith::answer(&prompt.content) {
        Some(Ok(value)) if fault == ModelFault::WrongAnswer => arith::format(value + 1.0),
        Some(Ok(value)) => arith::format(value),
        Some(Err(e)) => e.to_string(),
        None => NOT_ARITHMETIC.to_owned(),
    };
    let prompt_tokens: usize = request
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count())
        .sum();
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

/// The built-in model: finds an arithmetic expression in a prompt and evaluates it.
pub mod arith {
    /// Why an expression that was found has no numeric answer; `Display` is the reply text.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    pub enum ArithError {
        #[error("Division by zero is undefined.")]
        DivisionByZero,
        #[error("The result is too large to compute.")]
        Overflow,
    }

    /// Deeper nesting than any real question; bounds the recursion on hostile prompts.
    const MAX_DEPTH: usize = 64;

    /// The value of the first arithmetic expression in `prompt` (at least one binary
    /// operator, e.g. "2+2?" or "What is (3+4)*5?"), or `None` if there is none.
    pub fn answer(prompt: &str) -> Option<Result<f64, ArithError>> {
        let is_expr_char = |c: char| c.is_ascii_digit() || " \t.+-*/()".contains(c);
        prompt
            .split(|c: char| !is_expr_char(c))
            .map(|run| run.trim().trim_end_matches('.').trim_end())
            .filter(|run| run.bytes().any(|b| b.is_ascii_digit()))
            .find_map(|run| {
                let mut parser = Parser {
                    bytes: run.as_bytes(),
                    pos: 0,
                    depth: 0,
                    operators: 0,
                    divided_by_zero: false,
                };
                let value = parser.expr();
                parser.skip_spaces();
                if parser.pos != parser.bytes.len() || parser.operators == 0 {
                    return None;
                }
                Some(match value? {
                    _ if parser.divided_by_zero => Err(ArithError::DivisionByZero),
                    v if v.is_finite() => Ok(v),
                    _ => Err(ArithError::Overflow),
                })
            })
    }

    /// Formats an answer the way a person would write it: "4", "0.3", "-2.5".
    pub fn format(value: f64) -> String {
        let fixed = format!("{value:.10}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        if trimmed == "-0" {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        }
    }

    /// Recursive descent over one run of expression characters; `None` is a syntax error.
    struct Parser<'a> {
        bytes: &'a [u8],
        pos: usize,
        depth: usize,
        operators: usize,
        divided_by_zero: bool,
    }

    impl Parser<'_> {
        fn skip_spaces(&mut self) {
            while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t')) {
                self.pos += 1;
            }
        }

        fn next_is(&mut self, wanted: &[u8]) -> Option<u8> {
            self.skip_spaces();
            let b = *self.bytes.get(self.pos)?;
            if wanted.contains(&b) {
                self.pos += 1;
                Some(b)
            } else {
                None
            }
        }

        fn expr(&mut self) -> Option<f64> {
            let mut value = self.term()?;
            while let Some(op) = self.next_is(b"+-") {
                self.operators += 1;
                let rhs = self.term()?;
                value = if op == b'+' { value + rhs } else { value - rhs };
            }
            Some(value)
        }

        fn term(&mut self) -> Option<f64> {
            let mut value = self.factor()?;
            while let Some(op) = self.next_is(b"*/") {
                self.operators += 1;
                let rhs = self.factor()?;
                if op == b'/' && rhs == 0.0 {
                    // Keep parsing: "1/0 apples" must still be told apart from "1/0".
                    self.divided_by_zero = true;
                }
                value = if op == b'*' { value * rhs } else { value / rhs };
            }
            Some(value)
        }

        fn factor(&mut self) -> Option<f64> {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return None;
            }
            let value = if self.next_is(b"-").is_some() {
                self.factor().map(|v| -v)
            } else if self.next_is(b"(").is_some() {
                let inner = self.expr()?;
                self.next_is(b")").map(|_| inner)
            } else {
                self.number()
            };
            self.depth -= 1;
            value
        }

        fn number(&mut self) -> Option<f64> {
            self.skip_spaces();
            let start = self.pos;
            let digits = |p: &mut Self| {
                let from = p.pos;
                while p.bytes.get(p.pos).is_some_and(u8::is_ascii_digit) {
                    p.pos += 1;
                }
                p.pos > from
            };
            if !digits(self) {
                return None;
            }
            if self.bytes.get(self.pos) == Some(&b'.') {
                self.pos += 1;
                if !digits(self) {
                    return None;
                }
            }
            std::str::from_utf8(&self.bytes[start..self.pos])
                .ok()?
                .parse()
                .ok()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn finds_and_evaluates_expressions() {
            let cases: &[(&str, Option<&str>)] = &[
                ("2+2?", Some("4")),
                ("What is (3+4)*5?", Some("35")),
                ("what is 7 - 10", Some("-3")),
                ("0.1 + 0.2", Some("0.3")),
                ("Compute 1/3 please.", Some("0.3333333333")),
                ("-2 * -3", Some("6")),
                ("2 + 3 * 4", Some("14")),
                ("(2 + 3) * 4.5.", Some("22.5")),
                ("10 / 4", Some("2.5")),
                ("GPT-4 is a model", None),
                ("What is 7?", None),
                ("hello", None),
                ("(1+2", None),
                ("1 + + 2", None),
                ("", None),
            ];
            for (prompt, expected) in cases {
                let got = answer(prompt).map(|r| r.map(format));
                assert_eq!(got, expected.map(|e| Ok(e.to_owned())), "prompt {prompt:?}");
            }
        }

        #[test]
        fn division_by_zero_and_overflow_are_answers_not_panics() {
            assert_eq!(answer("1/0"), Some(Err(ArithError::DivisionByZero)));
            assert_eq!(
                answer("what is (4 - 2) / (1 - 1) + 3?"),
                Some(Err(ArithError::DivisionByZero))
            );
            assert_eq!(answer("(1/0) + 2"), Some(Err(ArithError::DivisionByZero)));
            let huge = format!("{}*{}", "9".repeat(200), "9".repeat(200));
            assert_eq!(answer(&huge), Some(Err(ArithError::Overflow)));
        }

        #[test]
        fn deep_nesting_is_rejected_not_overflowed() {
            let deep = format!("{}1+1{}", "(".repeat(10_000), ")".repeat(10_000));
            assert_eq!(answer(&deep), None);
            let negations = format!("1+{}1", "-".repeat(10_000));
            assert_eq!(answer(&negations), None);
        }
    }
}
