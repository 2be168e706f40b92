//! HTTP plumbing shared by the services: JSON errors, the fault admin endpoint's parsing,
//! the bounded event log, timestamps and millisecond config fields.
//!
//! Must not touch: any one service's routes or state.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

/// A flat JSON error: `{"error": "..."}` with a status.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// A service's run-time fault modes, named as they appear on the admin endpoint.
pub(crate) trait FaultMode: Copy + PartialEq + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
}

/// Parses `{"mode": "<name>"}` from a `POST /admin/fault` body.
pub(crate) fn parse_fault<F: FaultMode>(body: &[u8]) -> Result<F, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SetFault {
        mode: String,
    }
    let names = F::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ");
    let request: SetFault = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("request body must be JSON like {{\"mode\": \"none\"}}: {e}"),
        )
    })?;
    F::ALL
        .iter()
        .copied()
        .find(|f| f.name() == request.mode)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown fault mode \"{}\"; expected one of: {names}",
                    request.mode
                ),
            )
        })
}

/// The body of `GET /admin/fault` and of a successful `POST /admin/fault`.
pub(crate) fn fault_body<F: FaultMode>(mode: F) -> Json<serde_json::Value> {
    Json(json!({ "mode": mode.name() }))
}

pub(crate) async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Milliseconds since the Unix epoch; drills compare these with their own clock.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Deserializes a `*_ms` config field into a [`Duration`].
pub(crate) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// Long-running services must not grow without bound; drills only need recent history.
const EVENT_LOG_CAPACITY: usize = 1000;

/// An event log keeping the most recent events, numbered from 1 in the order they happened.
/// Serialized as `{"next_seq": n, "recent": [...]}` (the hub keeps it in its state file).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventLog<T> {
    next_seq: u64,
    #[serde(rename = "recent")]
    events: VecDeque<Logged<T>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Logged<T> {
    seq: u64,
    time_ms: u64,
    #[serde(flatten)]
    event: T,
}

impl<T: Clone> EventLog<T> {
    pub(crate) fn new() -> Self {
        EventLog {
            next_seq: 1,
            events: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, event: T) {
        if self.events.len() == EVENT_LOG_CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back(Logged {
            seq: self.next_seq,
            time_ms: unix_ms(),
            event,
        });
        self.next_seq += 1;
    }

    pub(crate) fn snapshot(&self) -> Vec<Logged<T>> {
        self.events.iter().cloned().collect()
    }

    /// The log as loaded from a file, if it is one this log could have become.
    pub(crate) fn validated(self) -> Result<Self, String> {
        if self.next_seq == 0 {
            return Err("next_seq is 0; events are numbered from 1".to_owned());
        }
        if self.events.len() > EVENT_LOG_CAPACITY {
            return Err(format!(
                "{} events, more than the {EVENT_LOG_CAPACITY} kept",
                self.events.len()
            ));
        }
        let first = self
            .next_seq
            .checked_sub(self.events.len() as u64)
            .filter(|first| *first >= 1)
            .ok_or_else(|| {
                format!(
                    "{} events cannot all be numbered below next_seq {}",
                    self.events.len(),
                    self.next_seq
                )
            })?;
        for (expected, logged) in (first..).zip(&self.events) {
            if logged.seq != expected {
                return Err(format!(
                    "event numbered {} where {expected} belongs (next_seq is {})",
                    logged.seq, self.next_seq
                ));
            }
        }
        Ok(self)
    }
}
