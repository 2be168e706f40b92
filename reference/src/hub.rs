//! The home hub: lights, door locks and a thermostat, an event log and the goodnight
//! automation — the target of L4 state-delta scenarios.
//!
//! Owns: `GET /state` (flat map such as `{"door.front.locked": false, ...}`),
//! `POST /actions`, `POST /automations/goodnight`, `GET /events`, `GET /health`,
//! `GET|POST /admin/fault`, `POST /admin/reset`, the hub fault modes, and its state file.
//! Must not touch: other services or any file but its own state file.
//!
//! **Reset.** `POST /admin/reset` (no body needed) puts every entity back to the default
//! home, saved like any other change, and answers 200 `{"success": true, "state": {...}}`
//! with the whole flat state. It exists so an exerciser can start every action sequence from
//! a known state without restarting the hub. The attributes it changes are logged in
//! `/events` with cause `admin.reset` (a reset is a change to the home like any other, and
//! the log must explain every change). It leaves the fault mode alone and is not subject to
//! it: it is the harness's lever, not a feature of the home.
//!
//! **The state survives a crash.** The entities and the event log live in `state_file`
//! (JSON, see [`HubConfig::state_file`]). Every change is written there — whole, to a temp
//! file in the same directory, fsynced, renamed over the old one — *before* the request is
//! answered, so a hub killed with SIGKILL right after answering comes back with exactly what
//! it answered. If the write fails, the change is dropped and the request gets a 500. At
//! start the file is loaded if it exists; no file means the default state. A file that
//! cannot be read or understood stops the hub from starting: resetting a home's state
//! silently (doors unlocked) would be worse than not starting. The fault mode is not part of
//! the state: like every service's, it is cleared by a restart.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// The fault mode at startup; switchable later through `POST /admin/fault`.
    #[serde(default)]
    pub fault: HubFault,
    /// Where the hub keeps its state: `{"format": 1, "entities": {"door.front": {"door":
    /// {"locked": false}}, ...}, "events": {"next_seq": 1, "recent": [...]}}`. Its
    /// directory must exist.
    pub state_file: PathBuf,
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
    /// A seam bug: goodnight *toggles* each door instead of locking it. From the default
    /// evening state (doors unlocked) goodnight is right, and `lock` on its own is right,
    /// but `lock door.front` then goodnight leaves the front door unlocked (as does a
    /// second goodnight). Only a check of action *sequences* against a model finds it.
    Seam,
    /// Lost writes: actions and goodnight answer success — an action's reply even shows the
    /// state it would have produced — and change nothing. Only a check of the state itself
    /// (L4) sees it.
    LostWrites,
    /// Crosstalk: every command the hub receives (`/actions`, goodnight), accepted or
    /// refused, also reaches the thermostat's sensor afterwards, whose current reading jumps
    /// by half a degree (wrapping from the top of the thermostat's range to the bottom). No
    /// action sets that reading, so no command can mask it. Only a check that nothing *else*
    /// changed sees it.
    Crosstalk,
}

impl FaultMode for HubFault {
    const ALL: &'static [Self] = &[
        HubFault::None,
        HubFault::GoodnightNoLock,
        HubFault::SuccessFalse,
        HubFault::Seam,
        HubFault::LostWrites,
        HubFault::Crosstalk,
    ];

    fn name(self) -> &'static str {
        match self {
            HubFault::None => "none",
            HubFault::GoodnightNoLock => "goodnight_no_lock",
            HubFault::SuccessFalse => "success_false",
            HubFault::Seam => "seam",
            HubFault::LostWrites => "lost_writes",
            HubFault::Crosstalk => "crosstalk",
        }
    }
}

const BUSY: &str = "hub is busy (fault: success_false)";
const THERMOSTAT_RANGE: (f64, f64) = (5.0, 35.0);
/// The state file's layout version; a file of another version is refused, not guessed at.
const STATE_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
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

    fn kind(&self) -> &'static str {
        match self {
            Entity::Light { .. } => "light",
            Entity::Door { .. } => "door",
            Entity::Thermostat { .. } => "thermostat",
        }
    }

    /// Why a loaded entity could not have been produced by any action, if it could not.
    fn out_of_range(&self) -> Option<String> {
        let (low, high) = THERMOSTAT_RANGE;
        match self {
            Entity::Light { brightness, .. } if *brightness > 100 => {
                Some(format!("brightness {brightness} is above 100"))
            }
            Entity::Thermostat { target, .. } if !(low..=high).contains(target) => {
                Some(format!("target {target} is outside {low} to {high}"))
            }
            _ => None,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    entity: String,
    change: AttributeChange,
    /// `action` or `automation.goodnight`.
    cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributeChange {
    attribute: String,
    from: Value,
    to: Value,
}

struct Hub {
    home: Home,
    fault: HubFault,
    state_file: PathBuf,
    /// The state file's bytes, reused by every save: a fresh 100 KB+ buffer per change kept
    /// the allocator growing the hub's RSS under a long exercise.
    buffer: Vec<u8>,
}

/// Everything the state file holds.
#[derive(Clone)]
struct Home {
    entities: BTreeMap<&'static str, Entity>,
    events: EventLog<Change>,
}

/// The state file's shape. Entity ids are owned here; [`Home`] uses the static ids of the
/// known entities, which loading checks them against.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedHome {
    format: u32,
    entities: BTreeMap<String, Entity>,
    events: EventLog<Change>,
}

/// [`SavedHome`] borrowed from a [`Home`], to save without copying it.
#[derive(Serialize)]
struct SavingHome<'a> {
    format: u32,
    entities: &'a BTreeMap<&'static str, Entity>,
    events: &'a EventLog<Change>,
}

type Shared = Arc<Mutex<Hub>>;

fn lock(hub: &Shared) -> std::sync::MutexGuard<'_, Hub> {
    // The state is plain data, valid after any panic; keep serving it.
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `work` with the hub locked, on the blocking thread pool, never on an async worker.
///
/// A change holds the lock through its fsyncs, which take a millisecond on an idle disk and
/// hundreds on a busy one. A worker thread blocked in one (or waiting for the lock behind
/// one) starves the other requests queued on it, `/health` included: measured under the
/// Kitchen Loop exerciser, the watchdog's 500 ms health probe timed out and it restarted a
/// healthy hub, dropping every connection (docs/performance.md, "Kitchen Loop exercise").
async fn locked<T: Send + 'static>(
    hub: &Shared,
    work: impl FnOnce(&mut Hub) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || work(&mut lock(&hub)))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the hub failed while handling this request: {e}"),
            )
        })
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

/// Serves the hub on `listener`, starting from its state file (or the default state when
/// there is none). Returns only if the state file cannot be loaded; otherwise stop it by
/// dropping the future.
pub async fn serve(
    config: HubConfig,
    listener: TcpListener,
) -> Result<std::convert::Infallible, Error> {
    let home = load(&config.state_file)?;
    let hub: Shared = Arc::new(Mutex::new(Hub {
        home,
        fault: config.fault,
        state_file: config.state_file,
        buffer: Vec::new(),
    }));
    let app = Router::new()
        .route("/state", get(state))
        .route("/actions", post(action))
        .route("/automations/goodnight", post(goodnight))
        .route("/events", get(events))
        .route("/health", get(api::health))
        .route("/admin/fault", get(get_fault).post(set_fault))
        .route("/admin/reset", post(reset))
        .with_state(hub);
    Ok(server::run(app, listener, std::future::pending()).await)
}

/// The saved home at `path`; the default home if there is no file.
fn load(path: &Path) -> Result<Home, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Home {
                entities: initial_entities(),
                events: EventLog::new(),
            })
        }
        Err(e) => return Err(Error::state(path, format!("cannot be read: {e}"))),
    };
    let saved: SavedHome = serde_json::from_str(&text)
        .map_err(|e| Error::state(path, format!("is not a hub state: {e}")))?;
    if saved.format != STATE_FORMAT {
        return Err(Error::state(
            path,
            format!(
                "has format {}, this hub reads format {STATE_FORMAT}",
                saved.format
            ),
        ));
    }
    let mut entities = initial_entities();
    if let Some(unknown) = saved
        .entities
        .keys()
        .find(|id| !entities.contains_key(id.as_str()))
    {
        return Err(Error::state(
            path,
            format!("names unknown entity \"{unknown}\""),
        ));
    }
    for (id, entity) in entities.iter_mut() {
        let Some(loaded) = saved.entities.get(*id) else {
            return Err(Error::state(path, format!("has no entity \"{id}\"")));
        };
        if loaded.kind() != entity.kind() {
            return Err(Error::state(
                path,
                format!(
                    "says \"{id}\" is a {}, but it is a {}",
                    loaded.kind(),
                    entity.kind()
                ),
            ));
        }
        if let Some(why) = loaded.out_of_range() {
            return Err(Error::state(path, format!("\"{id}\": {why}")));
        }
        *entity = loaded.clone();
    }
    let events = saved
        .events
        .validated()
        .map_err(|why| Error::state(path, format!("event log: {why}")))?;
    Ok(Home { entities, events })
}

/// Replaces the file at `path` with `home`, durably: a crash at any point leaves either the
/// old file or the new one, never a torn one.
fn save(path: &Path, home: &Home, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let saving = SavingHome {
        format: STATE_FORMAT,
        entities: &home.entities,
        events: &home.events,
    };
    buffer.clear();
    serde_json::to_writer(&mut *buffer, &saving).map_err(std::io::Error::other)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp = dir.join(name);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(buffer)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    // The rename itself is only durable once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

impl Hub {
    /// Makes `change` to a copy of the home, saves the copy if anything changed, and only
    /// then keeps it: what a request is answered with is always what is on disk.
    fn commit(&mut self, change: impl FnOnce(&mut Home)) -> Result<(), ApiError> {
        let mut next = self.home.clone();
        change(&mut next);
        if next.entities == self.home.entities {
            return Ok(());
        }
        save(&self.state_file, &next, &mut self.buffer).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "state not saved to {} ({e}); nothing was changed",
                    self.state_file.display()
                ),
            )
        })?;
        self.home = next;
        Ok(())
    }
}

impl Home {
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
    fn set(&mut self, id: &'static str, new: Entity, cause: &str) {
        let Some(old) = self.entities.insert(id, new.clone()) else {
            return;
        };
        for ((attribute, from), (_, to)) in old.attributes().into_iter().zip(new.attributes()) {
            if from != to {
                self.events.push(Change {
                    entity: id.to_owned(),
                    change: AttributeChange {
                        attribute: attribute.to_owned(),
                        from,
                        to,
                    },
                    cause: cause.to_owned(),
                });
            }
        }
    }
}

async fn state(
    State(hub): State<Shared>,
) -> Result<Json<serde_json::Map<String, Value>>, ApiError> {
    locked(&hub, |hub| Json(hub.home.flat_state(None))).await
}

async fn events(State(hub): State<Shared>) -> Result<Json<Value>, ApiError> {
    locked(&hub, |hub| {
        Json(json!({ "events": hub.home.events.snapshot() }))
    })
    .await
}

async fn get_fault(State(hub): State<Shared>) -> Result<Json<Value>, ApiError> {
    locked(&hub, |hub| api::fault_body(hub.fault)).await
}

async fn set_fault(State(hub): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mode = api::parse_fault::<HubFault>(&body)?;
    locked(&hub, move |hub| hub.fault = mode).await?;
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
    locked(&hub, move |hub| act(hub, &request)).await?
}

fn act(hub: &mut Hub, request: &ActionRequest) -> Result<Json<Value>, ApiError> {
    let answer = act_on(hub, request);
    crosstalk(hub)?;
    answer
}

fn act_on(hub: &mut Hub, request: &ActionRequest) -> Result<Json<Value>, ApiError> {
    let Some((&id, entity)) = hub.home.entities.get_key_value(request.entity.as_str()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown entity \"{}\"", request.entity),
        ));
    };
    let new = apply(entity, request)?;
    if hub.fault == HubFault::SuccessFalse {
        return Ok(Json(json!({ "success": false, "error": BUSY })));
    }
    if hub.fault == HubFault::LostWrites {
        let mut claimed = hub.home.clone();
        claimed.entities.insert(id, new);
        return Ok(Json(json!({
            "success": true,
            "entity": id,
            "state": claimed.flat_state(Some(id)),
        })));
    }
    hub.commit(|home| home.set(id, new, "action"))?;
    Ok(Json(json!({
        "success": true,
        "entity": id,
        "state": hub.home.flat_state(Some(id)),
    })))
}

/// Under the crosstalk fault, raises the thermostat's current reading by half a degree (saved
/// and logged like any change) after a command, whatever became of the command itself.
fn crosstalk(hub: &mut Hub) -> Result<(), ApiError> {
    if hub.fault != HubFault::Crosstalk {
        return Ok(());
    }
    let (low, high) = THERMOSTAT_RANGE;
    hub.commit(|home| {
        if let Some(Entity::Thermostat { target, current }) = home.entities.get("thermostat.main") {
            let raised = if current + 0.5 > high {
                low
            } else {
                current + 0.5
            };
            let new = Entity::Thermostat {
                target: *target,
                current: raised,
            };
            home.set("thermostat.main", new, "crosstalk");
        }
    })
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

async fn reset(State(hub): State<Shared>) -> Result<Json<Value>, ApiError> {
    locked(&hub, reset_home).await?
}

fn reset_home(hub: &mut Hub) -> Result<Json<Value>, ApiError> {
    hub.commit(|home| {
        for (id, entity) in initial_entities() {
            home.set(id, entity, "admin.reset");
        }
    })?;
    Ok(Json(json!({
        "success": true,
        "state": hub.home.flat_state(None),
    })))
}

async fn goodnight(State(hub): State<Shared>) -> Result<(StatusCode, Json<Value>), ApiError> {
    locked(&hub, run_goodnight).await?
}

fn run_goodnight(hub: &mut Hub) -> Result<(StatusCode, Json<Value>), ApiError> {
    let answer = goodnight_in(hub);
    crosstalk(hub)?;
    answer
}

fn goodnight_in(hub: &mut Hub) -> Result<(StatusCode, Json<Value>), ApiError> {
    if hub.fault == HubFault::SuccessFalse {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "success": false, "automation": "goodnight", "error": BUSY })),
        ));
    }
    let fault = hub.fault;
    if fault == HubFault::LostWrites {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "success": true, "automation": "goodnight" })),
        ));
    }
    let targets: Vec<(&'static str, Entity)> = hub
        .home
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
            Entity::Door { .. } if fault == HubFault::GoodnightNoLock && id == "door.front" => None,
            Entity::Door { locked } if fault == HubFault::Seam => {
                Some((id, Entity::Door { locked: !locked }))
            }
            Entity::Door { .. } => Some((id, Entity::Door { locked: true })),
            Entity::Thermostat { .. } => None,
        })
        .collect();
    hub.commit(|home| {
        for (id, entity) in targets {
            home.set(id, entity, "automation.goodnight");
        }
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "success": true, "automation": "goodnight" })),
    ))
}
