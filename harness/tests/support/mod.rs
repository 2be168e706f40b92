//! Shared by the harness integration tests: a real axum server on loopback that records what
//! it was asked, walls written into temporary directories, and a run helper that collects the
//! event stream.
//!
//! Nothing here outlives a test: the server runs on the test's own Tokio runtime (dropped with
//! it), and walls live in `TempDir`s removed on drop.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auditwall_harness::engine::{self, RunOptions};
use auditwall_harness::event::Event;
use auditwall_harness::load::{self, LoadOptions, LoadedWall, WallSource};
use auditwall_harness::plan::{self, Filter};
use auditwall_harness::result::{CheckResult, RunSummary};
use auditwall_probes::Prober;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a `/track` handler waits for its companions before giving up: long enough for the
/// engine to start them, short enough that a broken engine fails the test quickly.
const GATE_WAIT: Duration = Duration::from_secs(2);

/// What the server saw.
#[derive(Default)]
pub struct Seen {
    /// Requests per key (`/count/{key}`, `/flaky/{key}`, `/fail/{key}`).
    pub hits: HashMap<String, usize>,
    /// Most `/track` requests in flight at once.
    pub max_in_flight: usize,
    /// A `/track/disruptive-*` request shared the server with any other `/track` request.
    pub overlap: bool,
    /// `/track` names in the order they arrived.
    pub arrivals: Vec<String>,
    in_flight: usize,
    disruptive_in_flight: usize,
}

#[derive(Clone)]
struct AppState {
    seen: Arc<Mutex<Seen>>,
    /// Mirrors `Seen::max_in_flight` so a handler can wait for its companions without polling.
    /// The peak, not the current count: it never drops, so the first request to leave cannot
    /// strand the others below their gate.
    peak: watch::Sender<usize>,
}

/// A server bound to 127.0.0.1 on an ephemeral port. Bound before `start` returns, so it
/// accepts connections at once: no readiness wait exists to get wrong.
pub struct Server {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl Server {
    pub async fn start() -> Server {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (peak, _) = watch::channel(0usize);
        let state = AppState {
            seen: seen.clone(),
            peak,
        };
        let app = Router::new()
            .route("/ok", get(|| async { Json(json!({"ok": true})) }))
            .route("/status/{code}", get(status))
            .route("/slow", get(slow))
            .route("/hang", get(hang))
            .route("/count/{key}", get(count))
            .route("/fail/{key}", get(fail))
            .route("/flaky/{key}", get(flaky))
            .route("/echo", get(echo))
            .route("/track/{name}/{gate}", get(track))
            .with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { addr, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self, key: &str) -> usize {
        self.seen().hits.get(key).copied().unwrap_or(0)
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hit(state: &AppState, key: &str) -> usize {
    let mut seen = lock(&state.seen);
    let n = seen.hits.entry(key.to_string()).or_default();
    *n += 1;
    *n
}

async fn status(UrlPath(code): UrlPath<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

/// 50 ms is far above any 1 ms budget and far below any test timeout.
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "slow but right"
}

/// Never answers; the task is dropped when the client gives up or the runtime ends.
async fn hang() -> &'static str {
    std::future::pending::<()>().await;
    "unreachable"
}

async fn count(State(state): State<AppState>, UrlPath(key): UrlPath<String>) -> &'static str {
    hit(&state, &key);
    "counted"
}

async fn fail(State(state): State<AppState>, UrlPath(key): UrlPath<String>) -> StatusCode {
    hit(&state, &key);
    StatusCode::SERVICE_UNAVAILABLE
}

/// The first request per key fails, every later one succeeds.
async fn flaky(State(state): State<AppState>, UrlPath(key): UrlPath<String>) -> StatusCode {
    if hit(&state, &key) == 1 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// Echoes the `x-token` request header into the body (text and JSON) and a response header,
/// the way a careless debug endpoint would.
async fn echo(headers: HeaderMap) -> (HeaderMap, Json<serde_json::Value>) {
    let token = headers
        .get("x-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut out = HeaderMap::new();
    if let Ok(v) = token.parse() {
        out.insert("x-echo", v);
    }
    (out, Json(json!({"you_sent": token})))
}

/// Decrements the in-flight counts even when the client hangs up mid-request.
struct InFlight {
    seen: Arc<Mutex<Seen>>,
    disruptive: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut seen = lock(&self.seen);
        seen.in_flight -= 1;
        if self.disruptive {
            seen.disruptive_in_flight -= 1;
        }
    }
}

/// Holds each request at least 100 ms and until `gate` `/track` requests have been in flight
/// at once (bounded by [`GATE_WAIT`]). Records the most in flight and whether a request named
/// `disruptive-*` ever shared the server with another.
async fn track(
    State(state): State<AppState>,
    UrlPath((name, gate)): UrlPath<(String, usize)>,
) -> &'static str {
    let disruptive = name.starts_with("disruptive");
    let _guard = {
        let mut seen = lock(&state.seen);
        seen.in_flight += 1;
        if disruptive {
            if seen.in_flight > 1 {
                seen.overlap = true;
            }
            seen.disruptive_in_flight += 1;
        } else if seen.disruptive_in_flight > 0 {
            seen.overlap = true;
        }
        seen.max_in_flight = seen.max_in_flight.max(seen.in_flight);
        seen.arrivals.push(name);
        state.peak.send_replace(seen.max_in_flight);
        InFlight {
            seen: state.seen.clone(),
            disruptive,
        }
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut rx = state.peak.subscribe();
    let _ = tokio::time::timeout(GATE_WAIT, rx.wait_for(|n| *n >= gate)).await;
    "tracked"
}

/// A wall directory: `wall.yaml` plus `probes/checks.yaml`.
pub fn wall(settings: &str, probes: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        &format!("name: test-wall\nsettings:\n{settings}\n"),
    );
    write(
        dir.path(),
        "probes/checks.yaml",
        &format!("probes:\n{probes}"),
    );
    dir
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create wall subdirectory");
    }
    std::fs::write(&path, text).expect("write wall file");
}

pub fn load_dir(dir: &Path) -> LoadedWall {
    match load::load(&WallSource::Dir(dir.to_path_buf()), &LoadOptions::default()) {
        Ok(loaded) => loaded,
        Err(e) => panic!("the test wall does not load:\n{e}"),
    }
}

/// Options as the wall's settings say, the way the CLI builds them without flags.
pub fn options(loaded: &LoadedWall) -> RunOptions {
    RunOptions {
        retry_backoff: Duration::from_millis(10),
        ..RunOptions::for_wall(&loaded.wall, None)
    }
}

/// Loads, plans everything, runs, and returns the summary plus every event in order.
pub async fn run_dir(dir: &Path) -> (RunSummary, Vec<Event>) {
    let loaded = load_dir(dir);
    let opts = options(&loaded);
    run_loaded(&loaded, &opts).await
}

pub async fn run_loaded(loaded: &LoadedWall, opts: &RunOptions) -> (RunSummary, Vec<Event>) {
    let plan = plan::plan(&loaded.wall.checks, &Filter::default()).expect("plan");
    let info = load::run_info(loaded, None);
    let prober = Prober::new().expect("prober");
    let (tx, rx) = std::sync::mpsc::channel();
    let summary = engine::run(&plan, info, &loaded.wall.secrets, opts, &prober, &tx).await;
    drop(tx);
    (summary, rx.into_iter().collect())
}

pub fn result<'a>(summary: &'a RunSummary, id: &str) -> &'a CheckResult {
    summary
        .results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no result for `{id}` in {:#?}", summary.results))
}
