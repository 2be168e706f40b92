//! The home hub: lights, door locks and a thermostat, an event log and the goodnight
//! automation — the target of L4 state-delta scenarios.
//!
//! Owns: `GET /state` (flat map such as `{"door.front.locked": false, ...}`),
//! `POST /actions`, `POST /automations/goodnight`, `GET /events`, `GET /health`,
//! `GET|POST /admin/fault` and the hub fault modes.
//! Must not touch: other services; all state is in memory and starts the same every time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::api::{self, ApiError, EventLog, FaultMode};
use crate::{server, Error};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The fault mode at startup; switchable later through `POST /admin/fault`.
    #[serde(default)]
    pub fault: HubFault,
}

/// Run-time fault modes of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HubFault {
    #[default]
    None,
    /// Goodnight reports success and turns the lights off but leaves `door.front` unlocked.
    GoodnightNoLock,
    /// Actions and automations answer `{"success": false, ...}` (with their usual status)
    /// and change nothing.
    SuccessFalse,
}

impl FaultMode for HubFault {
    const ALL: &'static [Self] = &[
        HubFault::None,
        HubFault::GoodnightNoLock,
        HubFault::SuccessFalse,
    ];

    fn name(self) -> &'static str {
        match self {
            HubFault::None => "none",
            HubFault::GoodnightNoLock => "goodnight_no_lock",
            HubFault::SuccessFalse => "success_false",
        }
    }
}

const BUSY: &str = "hub is busy (fault: success_false)";
const THERMOSTAT_RANGE: (f64, f64) = (5.0, 35.0);

#[derive(Debug, Clone, PartialEq)]
enum Entity {
    Light { on: bool, brightness: u8 },
    Door { locked: bool },
    Thermostat { target: f64, current: f64 },
}

impl Entity {
    fn attributes(&self) -> Vec<(&'static str, Value)> {
        match self {
            Entity::Light { on, brightness } => {
                vec![("on", json!(on)), ("brightness", json!(brightness))]
            }
            Entity::Door { locked } => vec![("locked", json!(locked))],
            Entity::Thermostat { target, current } => {
                vec![("target", json!(target)), ("current", json!(current))]
            }
        }
    }

    fn actions(&self) -> &'static [&'static str] {
        match self {
            Entity::Light { .. } => &["turn_on", "turn_off", "toggle", "set_brightness"],
            Entity::Door { .. } => &["lock", "unlock"],
            Entity::Thermostat { .. } => &["set_target"],
        }
    }
}

/// One attribute change, as logged in `/events`.
#[derive(Clone, Serialize)]
struct Change {
    entity: String,
    change: AttributeChange,
    /// `action` or `automation.goodnight`.
    cause: &'static str,
}

#[derive(Clone, Serialize)]
struct AttributeChange {
    attribute: &'static str,
    from: Value,
    to: Value,
}

struct Hub {
    entities: BTreeMap<&'static str, Entity>,
    fault: HubFault,
    events: EventLog<Change>,
}

type Shared = Arc<Mutex<Hub>>;

fn lock(hub: &Shared) -> std::sync::MutexGuard<'_, Hub> {
    // The state is plain data, valid after any panic; keep serving it.
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state every hub starts in: lights on, doors unlocked, so goodnight has work to do.
fn initial_entities() -> BTreeMap<&'static str, Entity> {
    BTreeMap::from([
        (
            "light.kitchen",
            Entity::Light {
                on: true,
                brightness: 100,
            },
        ),
        (
            "light.living",
            Entity::Light {
                on: true,
                brightness: 70,
            },
        ),
        (
            "light.bedroom",
            Entity::Light {
                on: true,
                brightness: 40,
            },
        ),
        ("door.front", Entity::Door { locked: false }),
        ("door.back", Entity::Door { locked: false }),
        (
            "thermostat.main",
            Entity::Thermostat {
                target: 21.0,
                current: 20.5,
            },
        ),
    ])
}

/// Serves the hub on `listener`. Never returns on its own; stop it by dropping the future.
pub async fn serve(
    config: HubConfig,
    listener: TcpListener,
) -> Result<std::convert::Infallible, Error> {
    let hub: Shared = Arc::new(Mutex::new(Hub {
        entities: initial_entities(),
        fault: config.fault,
        events: EventLog::new(),
    }));
    let app = Router::new()
        .route("/state", get(state))
        .route("/actions", post(action))
        .route("/automations/goodnight", post(goodnight))
        .route("/events", get(events))
        .route("/health", get(api::health))
        .route("/admin/fault", get(get_fault).post(set_fault))
        .with_state(hub);
    Ok(server::run(app, listener, std::future::pending()).await)
}

impl Hub {
    fn flat_state(&self, only: Option<&str>) -> serde_json::Map<String, Value> {
        self.entities
            .iter()
            .filter(|(id, _)| only.is_none_or(|o| o == **id))
            .flat_map(|(id, entity)| {
                entity
                    .attributes()
                    .into_iter()
                    .map(move |(attr, value)| (format!("{id}.{attr}"), value))
            })
            .collect()
    }

    /// Replaces an entity and logs every attribute that actually changed.
    fn set(&mut self, id: &'static str, new: Entity, cause: &'static str) {
        let Some(old) = self.entities.insert(id, new.clone()) else {
            return;
        };
        for ((attribute, from), (_, to)) in old.attributes().into_iter().zip(new.attributes()) {
            if from != to {
                self.events.push(Change {
                    entity: id.to_owned(),
                    change: AttributeChange {
                        attribute,
                        from,
                        to,
                    },
                    cause,
                });
            }
        }
    }
}

async fn state(State(hub): State<Shared>) -> Json<serde_json::Map<String, Value>> {
    Json(lock(&hub).flat_state(None))
}

async fn events(State(hub): State<Shared>) -> Json<Value> {
    Json(json!({ "events": lock(&hub).events.snapshot() }))
}

async fn get_fault(State(hub): State<Shared>) -> Json<Value> {
    api::fault_body(lock(&hub).fault)
}

async fn set_fault(State(hub): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mode = api::parse_fault::<HubFault>(&body)?;
    lock(&hub).fault = mode;
    Ok(api::fault_body(mode))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRequest {
    entity: String,
    action: String,
    #[serde(default)]
    value: Option<Value>,
}

async fn action(State(hub): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: ActionRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "request body must be JSON like {{\"entity\": \"light.kitchen\", \"action\": \"turn_off\"}}: {e}"
            ),
        )
    })?;
    let mut hub = lock(&hub);
    let Some((&id, entity)) = hub.entities.get_key_value(request.entity.as_str()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown entity \"{}\"", request.entity),
        ));
    };
    let new = apply(entity, &request)?;
    if hub.fault == HubFault::SuccessFalse {
        return Ok(Json(json!({ "success": false, "error": BUSY })));
    }
    hub.set(id, new, "action");
    Ok(Json(json!({
        "success": true,
        "entity": id,
        "state": hub.flat_state(Some(id)),
    })))
}

/// The entity after `request`, or why the request does not apply to it.
fn apply(entity: &Entity, request: &ActionRequest) -> Result<Entity, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let needs = |what: &str| {
        bad(format!(
            "action \"{}\" needs \"value\": {what}",
            request.action
        ))
    };
    let new = match (entity, request.action.as_str()) {
        (Entity::Light { brightness, .. }, "turn_on") => Entity::Light {
            on: true,
            // A light switched on at brightness 0 would still be dark.
            brightness: if *brightness == 0 { 100 } else { *brightness },
        },
        (Entity::Light { brightness, .. }, "turn_off") => Entity::Light {
            on: false,
            brightness: *brightness,
        },
        (Entity::Light { on, brightness }, "toggle") => Entity::Light {
            on: !on,
            brightness: *brightness,
        },
        (Entity::Light { .. }, "set_brightness") => {
            let level = request
                .value
                .as_ref()
                .and_then(Value::as_u64)
                .and_then(|v| u8::try_from(v).ok())
                .filter(|v| *v <= 100)
                .ok_or_else(|| needs("an integer from 0 to 100"))?;
            Entity::Light {
                on: level > 0,
                brightness: level,
            }
        }
        (Entity::Door { .. }, "lock") => Entity::Door { locked: true },
        (Entity::Door { .. }, "unlock") => Entity::Door { locked: false },
        (Entity::Thermostat { current, .. }, "set_target") => {
            let (low, high) = THERMOSTAT_RANGE;
            let target = request
                .value
                .as_ref()
                .and_then(Value::as_f64)
                .filter(|t| (low..=high).contains(t))
                .ok_or_else(|| needs(&format!("a number from {low} to {high}")))?;
            Entity::Thermostat {
                target,
                current: *current,
            }
        }
        _ => {
            return Err(bad(format!(
                "{} does not support action \"{}\"; supported: {}",
                request.entity,
                request.action,
                entity.actions().join(", ")
            )))
        }
    };
    Ok(new)
}

async fn goodnight(State(hub): State<Shared>) -> (StatusCode, Json<Value>) {
    let mut hub = lock(&hub);
    if hub.fault == HubFault::SuccessFalse {
        return (
            StatusCode::ACCEPTED,
            Json(json!({ "success": false, "automation": "goodnight", "error": BUSY })),
        );
    }
    let skip_front_door = hub.fault == HubFault::GoodnightNoLock;
    let targets: Vec<(&'static str, Entity)> = hub
        .entities
        .iter()
        .filter_map(|(&id, entity)| match entity {
            Entity::Light { brightness, .. } => Some((
                id,
                Entity::Light {
                    on: false,
                    brightness: *brightness,
                },
            )),
            Entity::Door { .. } if skip_front_door && id == "door.front" => None,
            Entity::Door { .. } => Some((id, Entity::Door { locked: true })),
            Entity::Thermostat { .. } => None,
        })
        .collect();
    for (id, entity) in targets {
        hub.set(id, entity, "automation.goodnight");
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "automation": "goodnight" })),
    )
}
