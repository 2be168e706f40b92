//! The watchdog: probes each service's health URL and restarts the ones that fail, at most
//! [`MAX_RESTART_ATTEMPTS`] times with exponential backoff, then marks them BLOCKED (unless
//! it carries the [`WatchdogConfig::never_give_up`] defect, a negative control).
//!
//! Owns: the probe/restart/block state machine and its HTTP view (`GET /status`,
//! `GET /health`).
//! Must not touch: processes. Restarting is the caller's [`Restart`] implementation (the
//! runtime's supervisor in production, a closure in tests).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api;
use crate::{server, BoxError, Error};

/// Restarts per failure before the service is BLOCKED; a service that three restarts did
/// not heal needs a human, and more restarts would only be a cascade.
pub const MAX_RESTART_ATTEMPTS: u32 = 3;

/// The backoff doubles up to the wait after the last designed attempt and stays there, so a
/// watchdog that never gives up restarts at that pace instead of sleeping for hours.
const MAX_BACKOFF_DOUBLINGS: u32 = MAX_RESTART_ATTEMPTS - 1;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    pub services: Vec<WatchedService>,
    /// Pause between probes of a healthy service.
    #[serde(rename = "interval_ms", deserialize_with = "api::millis")]
    pub interval: Duration,
    /// Bound on one health probe.
    #[serde(rename = "probe_timeout_ms", deserialize_with = "api::millis")]
    pub probe_timeout: Duration,
    /// Wait after restart attempt n before re-probing: `backoff * 2^(n-1)`.
    #[serde(rename = "backoff_ms", deserialize_with = "api::millis")]
    pub backoff: Duration,
    /// Bound on one call of [`Restart::restart`].
    #[serde(rename = "restart_timeout_ms", deserialize_with = "api::millis")]
    pub restart_timeout: Duration,
    /// The defect of a watchdog that keeps restarting a failing service forever instead of
    /// marking it BLOCKED: a silent restart loop, the reference system's
    /// `watchdog-never-gives-up` fault. Never read from a file: no config can ask for it.
    #[serde(skip)]
    pub never_give_up: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchedService {
    pub name: String,
    /// Healthy means this URL answers a GET with 2xx within the probe timeout.
    pub health_url: String,
}

/// The restart action. Implemented for any `Fn(String) -> impl Future<Output = Result<(), BoxError>>`.
pub trait Restart: Send + Sync + 'static {
    /// Restarts `service`; `Ok` means the restart was issued, not that it worked —
    /// the watchdog re-probes to find out.
    fn restart(&self, service: &str) -> impl Future<Output = Result<(), BoxError>> + Send;
}

impl<F, Fut> Restart for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send,
{
    fn restart(&self, service: &str) -> impl Future<Output = Result<(), BoxError>> + Send {
        self(service.to_owned())
    }
}

/// A watched service's state as shown by `GET /status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceState {
    /// Not probed yet: claiming HEALTHY before the first probe would be a phantom verdict.
    Unknown,
    Healthy,
    Restarting,
    /// Restarts are exhausted; the watchdog leaves the service alone until it is restarted.
    Blocked,
}

#[derive(Debug, Clone, Serialize)]
struct Status {
    name: String,
    health_url: String,
    state: ServiceState,
    restarts: u32,
    last_error: Option<String>,
}

struct Watched {
    url: reqwest::Url,
    status: Mutex<Status>,
}

impl Watched {
    fn update(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn snapshot(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Timing {
    interval: Duration,
    probe_timeout: Duration,
    backoff: Duration,
    restart_timeout: Duration,
    never_give_up: bool,
}

/// Runs the watchdog: one probe loop per service, and its status on `listener`.
/// Returns only on a configuration error; stop it by dropping the future.
pub async fn serve<R: Restart>(
    config: WatchdogConfig,
    listener: TcpListener,
    restart: R,
) -> Result<std::convert::Infallible, Error> {
    let watched = validate(&config)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| Error::client("watchdog", e))?;
    let timing = Arc::new(Timing {
        interval: config.interval,
        probe_timeout: config.probe_timeout,
        backoff: config.backoff,
        restart_timeout: config.restart_timeout,
        never_give_up: config.never_give_up,
    });
    let restart = Arc::new(restart);
    // Owned by this future: dropping it aborts every probe loop with the HTTP server.
    let mut loops = JoinSet::new();
    for service in &watched {
        loops.spawn(watch(
            service.clone(),
            client.clone(),
            timing.clone(),
            restart.clone(),
        ));
    }
    let app = Router::new()
        .route("/status", get(status))
        .route("/health", get(api::health))
        .with_state(Arc::new(watched));
    let never = server::run(app, listener, std::future::pending()).await;
    drop(loops);
    Ok(never)
}

fn validate(config: &WatchdogConfig) -> Result<Vec<Arc<Watched>>, Error> {
    for (value, key) in [
        (config.interval, "interval_ms"),
        (config.probe_timeout, "probe_timeout_ms"),
        (config.restart_timeout, "restart_timeout_ms"),
    ] {
        if value.is_zero() {
            return Err(Error::config(format!("watchdog: `{key}` must be above 0")));
        }
    }
    if config.services.is_empty() {
        return Err(Error::config(
            "watchdog: `services` must list at least one service",
        ));
    }
    let mut names = HashSet::new();
    config
        .services
        .iter()
        .map(|s| {
            if s.name.trim().is_empty() {
                return Err(Error::config("watchdog: a service has an empty `name`"));
            }
            if !names.insert(s.name.as_str()) {
                return Err(Error::config(format!(
                    "watchdog: service name \"{}\" is used twice",
                    s.name
                )));
            }
            let url = reqwest::Url::parse(&s.health_url)
                .ok()
                .filter(|u| u.scheme() == "http" || u.scheme() == "https")
                .ok_or_else(|| {
                    Error::config(format!(
                        "watchdog: service \"{}\" has health_url \"{}\", expected an http:// URL",
                        s.name, s.health_url
                    ))
                })?;
            Ok(Arc::new(Watched {
                url,
                status: Mutex::new(Status {
                    name: s.name.clone(),
                    health_url: s.health_url.clone(),
                    state: ServiceState::Unknown,
                    restarts: 0,
                    last_error: None,
                }),
            }))
        })
        .collect()
}

async fn probe(
    client: &reqwest::Client,
    url: &reqwest::Url,
    timeout: Duration,
) -> Result<(), String> {
    match client.get(url.clone()).timeout(timeout).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!(
            "health answered HTTP {}",
            response.status().as_u16()
        )),
        Err(e) if e.is_timeout() => Err(format!(
            "health probe timed out after {} ms",
            timeout.as_millis()
        )),
        Err(e) if e.is_connect() => Err("health probe could not connect".to_owned()),
        Err(e) => Err(format!("health probe failed: {e}")),
    }
}

async fn watch<R: Restart>(
    service: Arc<Watched>,
    client: reqwest::Client,
    timing: Arc<Timing>,
    restart: Arc<R>,
) {
    loop {
        match probe(&client, &service.url, timing.probe_timeout).await {
            Ok(()) => service.update(|s| s.state = ServiceState::Healthy),
            Err(e) => {
                service.update(|s| {
                    s.state = ServiceState::Restarting;
                    s.last_error = Some(e);
                });
                if !heal(&service, &client, &timing, restart.as_ref()).await {
                    service.update(|s| s.state = ServiceState::Blocked);
                    return;
                }
                service.update(|s| s.state = ServiceState::Healthy);
            }
        }
        tokio::time::sleep(timing.interval).await;
    }
}

/// Restarts until a re-probe succeeds or the attempts are used up (never, for a watchdog
/// with the `never_give_up` defect); true if healed.
async fn heal<R: Restart>(
    service: &Watched,
    client: &reqwest::Client,
    timing: &Timing,
    restart: &R,
) -> bool {
    let name = service.snapshot().name;
    let mut attempt: u32 = 0;
    while attempt < MAX_RESTART_ATTEMPTS || timing.never_give_up {
        service.update(|s| s.restarts = s.restarts.saturating_add(1));
        let failure =
            match tokio::time::timeout(timing.restart_timeout, restart.restart(&name)).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("restart failed: {e}")),
                Err(_) => Some(format!(
                    "restart timed out after {} ms",
                    timing.restart_timeout.as_millis()
                )),
            };
        // Give the restarted service time to come up; doubling it spaces out attempts
        // on a service that is slow rather than dead.
        let doublings = attempt.min(MAX_BACKOFF_DOUBLINGS);
        tokio::time::sleep(timing.backoff.saturating_mul(1 << doublings)).await;
        attempt = attempt.saturating_add(1);
        // Re-probe even after a failed restart: the service may have come back anyway.
        // A failed restart is the more useful error to keep, though.
        match (
            probe(client, &service.url, timing.probe_timeout).await,
            failure,
        ) {
            (Ok(()), _) => return true,
            (Err(_), Some(failure)) | (Err(failure), None) => {
                service.update(|s| s.last_error = Some(failure));
            }
        }
    }
    false
}

async fn status(State(watched): State<Arc<Vec<Arc<Watched>>>>) -> Json<serde_json::Value> {
    let services: Vec<Status> = watched.iter().map(|w| w.snapshot()).collect();
    Json(json!({ "services": services }))
}
