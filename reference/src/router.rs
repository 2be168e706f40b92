//! The router: sends chat requests to an ordered list of model backends and fails over.
//!
//! Owns: `POST /v1/chat/completions` (tries each backend in order, failing over on connect
//! error, per-backend timeout or 5xx, and says who served in `x-served-by`),
//! `GET /v1/models` (from the first backend that answers), `GET /health`, `GET /metrics`
//! (JSON counters) and `GET /events` (the log of backend switches).
//! Must not touch: the backends' state; it only talks to them over HTTP.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use crate::api::{self, EventLog};
use crate::{server, Error};

/// The response header naming the backend that served a request.
pub const SERVED_BY: &str = "x-served-by";

/// A backend answer larger than this is treated as a failed backend, not buffered.
const MAX_UPSTREAM_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Backends in order of preference: the first is the primary.
    pub fallback_urls: Vec<Backend>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// Reported in `x-served-by`, metrics and events, e.g. `model-primary`.
    pub name: String,
    /// Base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// Bound on one whole exchange with this backend, body included.
    #[serde(rename = "timeout_ms", deserialize_with = "api::millis")]
    pub timeout: Duration,
}

struct Upstream {
    name: String,
    base: reqwest::Url,
    timeout: Duration,
}

struct RouterState {
    backends: Vec<Upstream>,
    client: reqwest::Client,
    books: Mutex<Books>,
}

/// Counters and the switch log, kept together so an event and its counts never disagree.
struct Books {
    requests: u64,
    failovers: u64,
    errors: u64,
    served: Vec<u64>,
    /// Index of the backend that served last; starts at the primary, so the first switch
    /// logged is away from it.
    current: usize,
    events: EventLog<Switch>,
}

#[derive(Clone, Serialize)]
struct Switch {
    from: String,
    to: String,
    /// Why each backend ahead of `to` was passed over, e.g. `model-primary: connection failed`.
    skipped: Vec<String>,
}

/// Serves the router on `listener`. Returns only on a configuration error; stop it by
/// dropping the future.
pub async fn serve(
    config: RouterConfig,
    listener: TcpListener,
) -> Result<std::convert::Infallible, Error> {
    let backends = validate(config)?;
    let client = reqwest::Client::builder()
        // Backends are on loopback; an HTTP_PROXY in the environment must not reroute them.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::client("router", e))?;
    let state = Arc::new(RouterState {
        client,
        books: Mutex::new(Books {
            requests: 0,
            failovers: 0,
            errors: 0,
            served: vec![0; backends.len()],
            current: 0,
            events: EventLog::new(),
        }),
        backends,
    });
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(api::health))
        .route("/metrics", get(metrics))
        .route("/events", get(events))
        .with_state(state);
    Ok(server::run(app, listener, std::future::pending()).await)
}

fn validate(config: RouterConfig) -> Result<Vec<Upstream>, Error> {
    if config.fallback_urls.is_empty() {
        return Err(Error::config(
            "router: `fallback_urls` must list at least one backend",
        ));
    }
    let mut names = HashSet::new();
    config
        .fallback_urls
        .into_iter()
        .map(|b| {
            if b.name.trim().is_empty() {
                return Err(Error::config("router: a backend has an empty `name`"));
            }
            if !names.insert(b.name.clone()) {
                return Err(Error::config(format!(
                    "router: backend name \"{}\" is used twice",
                    b.name
                )));
            }
            let base = reqwest::Url::parse(&b.url)
                .ok()
                .filter(|u| u.scheme() == "http" || u.scheme() == "https")
                .ok_or_else(|| {
                    Error::config(format!(
                        "router: backend \"{}\" has url \"{}\", expected an http:// URL",
                        b.name, b.url
                    ))
                })?;
            if b.timeout.is_zero() {
                return Err(Error::config(format!(
                    "router: backend \"{}\" needs a `timeout_ms` above 0",
                    b.name
                )));
            }
            Ok(Upstream {
                name: b.name,
                base,
                timeout: b.timeout,
            })
        })
        .collect()
}

/// What a backend answered, fully read.
struct Answer {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl RouterState {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        // Counters stay meaningful even if a handler panicked while holding the lock.
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn call(
        &self,
        backend: &Upstream,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        let url = backend
            .base
            .join(path)
            .map_err(|e| format!("{}: bad url: {e}", backend.name))?;
        let exchange = async {
            let mut request = self.client.request(method, url);
            if let Some(body) = body {
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body);
            }
            let mut response = request.send().await.map_err(describe)?;
            let status = response.status();
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(describe)? {
                if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
                    return Err(format!("answer larger than {MAX_UPSTREAM_BODY} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status,
                content_type,
                body: body.into(),
            })
        };
        match tokio::time::timeout(backend.timeout, exchange).await {
            Ok(Ok(answer)) if answer.status.is_server_error() => {
                Err(format!("{}: HTTP {}", backend.name, answer.status.as_u16()))
            }
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(format!("{}: {e}", backend.name)),
            Err(_) => Err(format!(
                "{}: timed out after {} ms",
                backend.name,
                backend.timeout.as_millis()
            )),
        }
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_connect() {
        "connection failed".to_owned()
    } else {
        format!("request failed: {e}")
    }
}

fn relay(answer: Answer, served_by: &str) -> Response {
    let mut response = (answer.status, answer.body).into_response();
    let headers = response.headers_mut();
    if let Some(content_type) = answer.content_type {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if let Ok(name) = HeaderValue::from_str(served_by) {
        headers.insert(SERVED_BY, name);
    }
    response
}

fn all_failed(failures: &[String]) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({
            "error": {
                "message": format!("all backends failed: {}", failures.join("; ")),
                "type": "upstream_error",
            }
        })),
    )
        .into_response()
}

async fn chat(State(router): State<Arc<RouterState>>, body: Bytes) -> Response {
    router.books().requests += 1;
    let mut failures = Vec::new();
    for (i, backend) in router.backends.iter().enumerate() {
        match router
            .call(
                backend,
                Method::POST,
                "/v1/chat/completions",
                Some(body.clone()),
            )
            .await
        {
            Ok(answer) => {
                let mut books = router.books();
                books.served[i] += 1;
                if books.current != i {
                    let from = router.backends[books.current].name.clone();
                    books.events.push(Switch {
                        from,
                        to: backend.name.clone(),
                        skipped: failures,
                    });
                    books.current = i;
                }
                return relay(answer, &backend.name);
            }
            Err(failure) => {
                failures.push(failure);
                if i + 1 < router.backends.len() {
                    router.books().failovers += 1;
                }
            }
        }
    }
    router.books().errors += 1;
    all_failed(&failures)
}

async fn models(State(router): State<Arc<RouterState>>) -> Response {
    let mut failures = Vec::new();
    for backend in &router.backends {
        match router.call(backend, Method::GET, "/v1/models", None).await {
            Ok(answer) if answer.status.is_success() => return relay(answer, &backend.name),
            Ok(answer) => {
                failures.push(format!("{}: HTTP {}", backend.name, answer.status.as_u16()))
            }
            Err(failure) => failures.push(failure),
        }
    }
    all_failed(&failures)
}

async fn metrics(State(router): State<Arc<RouterState>>) -> Json<serde_json::Value> {
    let books = router.books();
    let served: BTreeMap<&str, u64> = router
        .backends
        .iter()
        .zip(&books.served)
        .map(|(b, n)| (b.name.as_str(), *n))
        .collect();
    Json(json!({
        "requests": books.requests,
        "failovers": books.failovers,
        "errors": books.errors,
        "served": served,
    }))
}

async fn events(State(router): State<Arc<RouterState>>) -> Json<serde_json::Value> {
    Json(json!({ "events": router.books().events.snapshot() }))
}
