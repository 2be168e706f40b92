//! Validated wall model: the shapes every later stage (plan, engine, reports) consumes.
//!
//! These types are produced only by the loader after validation; every `${...}` is already
//! resolved. They carry an [`Origin`] so runtime messages can point back at the spec.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::condition::Condition;

/// Where something was written: file (as given to the loader), 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A whole validated wall: root config plus every check from every spec file.
#[derive(Debug, Clone)]
pub struct Wall {
    pub name: String,
    pub description: Option<String>,
    pub settings: Settings,
    pub prerequisites: Prerequisites,
    pub calibration: CalibrationSettings,
    /// Services drills may act on, by name.
    pub services: BTreeMap<String, ServiceSpec>,
    pub drills: DrillSettings,
    /// Where scenarios read state from, by name.
    pub observers: BTreeMap<String, Observer>,
    /// The spec surface, if the wall declares one.
    pub surface: Option<Surface>,
    /// Tiered canary fixtures, in file order.
    pub canaries: Vec<CanaryFixture>,
    /// Checks in a stable order: spec files in sorted path order, checks in file order.
    pub checks: Vec<Check>,
    /// Every secret value that was interpolated; reporters never see these (the harness redacts).
    pub secrets: Vec<String>,
}

/// Run settings from `wall.yaml` (`settings:`); CLI flags override them.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Default per-check timeout.
    pub timeout: Duration,
    /// Default retries per check (a pass on retry is reported `flaky`).
    pub retries: u32,
    /// Whole-run deadline.
    pub deadline: Duration,
    /// Bounded concurrency.
    pub jobs: usize,
    /// Whether disruptive checks may run without `--allow-disruptive`.
    pub allow_disruptive: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(10),
            retries: 0,
            deadline: Duration::from_secs(300),
            jobs: 8,
            allow_disruptive: false,
        }
    }
}

/// What `auditwall doctor` verifies before a run (`prerequisites:` in `wall.yaml`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prerequisites {
    /// Commands that must be on PATH.
    pub commands: Vec<String>,
    /// `host:port` addresses on which nothing may listen yet.
    pub ports_free: Vec<String>,
    /// `host:port` addresses on which something must listen.
    pub ports_used: Vec<String>,
    /// Paths that must exist.
    pub files: Vec<String>,
    /// Minimum available memory in bytes.
    pub min_memory: Option<u64>,
}

/// The kind of check; decides the nextest binary and the report grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    Probes,
    Calibration,
    Drills,
    Scenarios,
}

impl Suite {
    pub const ALL: [Suite; 4] = [
        Suite::Probes,
        Suite::Calibration,
        Suite::Drills,
        Suite::Scenarios,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Probes => "probes",
            Suite::Calibration => "calibration",
            Suite::Drills => "drills",
            Suite::Scenarios => "scenarios",
        }
    }
}

impl std::fmt::Display for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// P0 is "the system is down for its users"; P3 is cosmetic. Default P2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    P0,
    P1,
    P2,
    P3,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One executable spec: becomes one JUnit testcase and one nextest trial (`suite::id`).
#[derive(Debug, Clone)]
pub struct Check {
    pub id: String,
    pub suite: Suite,
    pub description: Option<String>,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// Ids of checks that must pass first; if one does not, this one is `blocked`.
    pub needs: Vec<String>,
    pub timeout: Duration,
    pub retries: u32,
    /// Disruptive checks (drills, fault canaries) run serially and only when allowed.
    pub disruptive: bool,
    /// What the check does; its kind decides the suite.
    pub kind: CheckKind,
    /// The negative control: a fault of the system under test that must turn this check red.
    pub canary: Option<Canary>,
    pub origin: Origin,
}

/// What one check does.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// Measure with a probe and judge the observations.
    Probe {
        probe: Probe,
        /// All must hold. Never empty: a check without `expect` gets its probe's default
        /// contract (see [`Probe::default_expect`]).
        expect: Vec<Condition>,
    },
    /// Compare deployed files with their canonical sources.
    Calibration(Calibration),
    /// Inject a fault and measure the recovery against budgets.
    Drill(Box<Drill>),
    /// A Kitchen Loop claim verified in four layers (L1 compile … L4 state delta).
    Scenario(Box<Scenario>),
}

impl Check {
    /// The probe kind (`http`, `model`, ...) or the suite kind (`calibration`).
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            CheckKind::Probe { probe, .. } => probe.kind(),
            CheckKind::Calibration(_) => "calibration",
            CheckKind::Drill(_) => "drill",
            CheckKind::Scenario(_) => "scenario",
        }
    }

    pub fn probe(&self) -> Option<&Probe> {
        match &self.kind {
            CheckKind::Probe { probe, .. } => Some(probe),
            CheckKind::Calibration(_) | CheckKind::Drill(_) | CheckKind::Scenario(_) => None,
        }
    }

    /// The conditions a probe check asserts (empty for other kinds).
    pub fn expect(&self) -> &[Condition] {
        match &self.kind {
            CheckKind::Probe { expect, .. } => expect,
            CheckKind::Calibration(_) | CheckKind::Drill(_) | CheckKind::Scenario(_) => &[],
        }
    }
}

/// A calibration check: every deployed file must match its canonical source. Templates are
/// already rendered with the host profile; paths are interpolated but not yet resolved
/// against the working directory (the harness does that).
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub files: Vec<CalibrationFile>,
    pub dirs: Vec<CalibrationDir>,
    pub waivers: Vec<WaiverSpec>,
}

/// One canonical source and the deployed file that must match it.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationFile {
    pub canonical: CanonicalSource,
    pub deployed: String,
    /// Required permission bits, e.g. `0o644`.
    pub mode: Option<u32>,
    /// `false`: another tool owns the file; it is checked but `--write` leaves it alone.
    pub managed: bool,
    pub origin: Origin,
}

/// Where canonical content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CanonicalSource {
    /// A rendered template, or a plain file of a wall that has no directory (embedded).
    /// `name` is its path in the wall.
    Text { name: String, text: String },
    /// A plain file in the wall directory, read when the check runs (it may be binary or
    /// large). `name` is its path in the wall.
    File { name: String, path: String },
}

/// A managed directory: the canonical directory's files (templates rendered, their `.tmpl`
/// suffix dropped) must be deployed below `deployed`; a selected deployed file with no
/// canonical counterpart is an unmanaged extra.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationDir {
    /// The canonical directory's path in the wall.
    pub canonical: String,
    /// Every file of the canonical directory as (path relative to it as deployed, source).
    pub files: Vec<(String, CanonicalSource)>,
    pub deployed: String,
    /// Globs over the deployed relative path (`*` does not cross `/`); empty selects all.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub mode: Option<u32>,
    pub managed: bool,
    pub origin: Origin,
}

/// An acknowledged drift. `kind` and `expires` are validated by the harness, which owns the
/// calibration vocabulary and the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct WaiverSpec {
    /// Glob over the deployed path.
    pub path: String,
    pub kind: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`, the last day the waiver holds.
    pub expires: String,
    pub origin: Origin,
    /// Where `kind` and `expires` were written, for the harness's located errors.
    pub kind_at: Option<Origin>,
    pub expires_at: Origin,
}

/// A drill: the steady state holds, a fault goes in at t0, detection and recovery are
/// measured against budgets, the restore always runs, and the system must be steady again.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    /// How often the watched checks are polled; every measured time is accurate to this.
    pub poll: Duration,
    /// Probe checks that must pass before the fault goes in.
    pub steady: Vec<String>,
    pub fault: Action,
    /// A probe check that must turn red (the problem is seen).
    pub detect: Option<Expectation>,
    /// A probe check that must pass again (requests succeed), optionally served by a backend.
    pub recover: Option<Expectation>,
    /// Probe checks that must stay green while the fault is on.
    pub unaffected: Vec<String>,
    /// Always runs once the fault is in; `None` only for a fault declared self-healing.
    pub restore: Option<Action>,
    /// After the restore: the system is steady again (nothing sticky); `within` counts from
    /// the restore.
    pub after: Option<Expectation>,
    /// Services whose memory is sampled during the drill (the fault's service included).
    pub watch: Vec<String>,
}

/// "`check` passes (or, for `detect`, fails) within `within`", measured from t0.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub check: String,
    /// The backend that must have served (the probe's `served_by`, or the router's header).
    pub served_by: Option<String>,
    pub within: Duration,
    pub origin: Origin,
}

/// Something a drill does to the system: a fault or a restore.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Stop a declared service (its `stop` command, or the wall's control API).
    Stop(String),
    Start(String),
    /// SIGKILL the process in the service's pid file.
    Kill(String),
    /// SIGSTOP / SIGCONT the process in the service's pid file.
    Pause(String),
    Resume(String),
    /// Set the control API's fault proxy to a mode (`blackhole`, `refuse`, `latency:2s`, ...).
    Proxy(String),
    /// Switch a fault mode of the system's control API (`none` clears them).
    Mode(String),
    /// Replace a file's content; undone by putting the original back.
    Replace {
        file: String,
        with: String,
    },
    /// Put back what a `Replace` saved (a restore only).
    PutBack {
        file: String,
    },
    Command {
        run: Vec<String>,
        undo: Option<Vec<String>>,
    },
}

impl Action {
    /// What undoes this action, if anything obviously does.
    pub fn undo(&self) -> Option<Action> {
        Some(match self {
            Action::Stop(s) | Action::Kill(s) => Action::Start(s.clone()),
            Action::Pause(s) => Action::Resume(s.clone()),
            Action::Proxy(_) => Action::Proxy("pass".to_string()),
            Action::Mode(_) => Action::Mode("none".to_string()),
            Action::Replace { file, .. } => Action::PutBack { file: file.clone() },
            Action::Command {
                undo: Some(undo), ..
            } => Action::Command {
                run: undo.clone(),
                undo: None,
            },
            Action::Start(_)
            | Action::Resume(_)
            | Action::PutBack { .. }
            | Action::Command { .. } => return None,
        })
    }

    /// The declared service it acts on, if any.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::Stop(s)
            | Action::Start(s)
            | Action::Kill(s)
            | Action::Pause(s)
            | Action::Resume(s) => Some(s),
            _ => None,
        }
    }

    /// One line for timelines and messages, e.g. `stop model-primary`.
    pub fn describe(&self) -> String {
        match self {
            Action::Stop(s) => format!("stop {s}"),
            Action::Start(s) => format!("start {s}"),
            Action::Kill(s) => format!("kill -9 {s}"),
            Action::Pause(s) => format!("pause {s}"),
            Action::Resume(s) => format!("resume {s}"),
            Action::Proxy(m) => format!("proxy {m}"),
            Action::Mode(m) => format!("fault mode {m}"),
            Action::Replace { file, .. } => format!("replace {file}"),
            Action::PutBack { file } => format!("put back {file}"),
            Action::Command { run, .. } => format!("run {}", run.join(" ")),
        }
    }
}

/// A Kitchen Loop scenario. Layers run in order and each only if the one below passed; a
/// scenario that never attempts L4 is `incomplete`, never green.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The surface cell(s) it covers: dimension → value (a partial cell covers every valid
    /// cell it matches).
    pub cell: Vec<(String, String)>,
    /// Requests that arrange the state before the snapshot (each must answer below 400).
    pub setup: Vec<HttpProbe>,
    /// L1: globs over state keys that must exist in the observed state.
    pub entities: Vec<String>,
    /// L2: probe checks that must pass.
    pub execute: Vec<String>,
    /// L3: the action and its contract.
    pub act: Option<Act>,
    /// L4: the state delta.
    pub delta: Option<Delta>,
}

#[derive(Debug, Clone)]
pub struct Act {
    pub http: HttpProbe,
    pub expect: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Observer names (`observers:` in `wall.yaml`); the first `state` observer is also the
    /// snapshot every observer is judged against.
    pub observers: Vec<String>,
    pub tribunal: Tribunal,
    /// (glob over state keys, value every matching key must have afterwards). Empty when
    /// `conserve`.
    pub expect: Vec<(String, serde_json::Value, Origin)>,
    /// A failure-mode claim: nothing may change.
    pub conserve: bool,
    pub within: Duration,
    /// Keys the expectations do not name must be unchanged (default true).
    pub others_unchanged: bool,
    pub origin: Origin,
}

/// How many observers must agree for an L4 pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tribunal {
    All,
    AtLeast(usize),
}

/// A source of state for L4 (`observers:` in `wall.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub enum Observer {
    /// GET answers a flat JSON object of state keys to values.
    State(String),
    /// GET answers `{"events": [{"seq", "entity", "change": {"attribute", "to"}}]}`; the
    /// state after is the snapshot with the events since it applied.
    Events(String),
}

/// The spec surface: dimensions, which combinations are valid, which are blocked.
#[derive(Debug, Clone, PartialEq)]
pub struct Surface {
    /// In the order written.
    pub dimensions: Vec<(String, Vec<String>)>,
    pub rules: Vec<SurfaceRule>,
    pub blocked: Vec<BlockedCell>,
    pub origin: Origin,
}

/// A cell matching every `when` entry must match every `require` entry (values are globs).
#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceRule {
    pub when: Vec<(String, Vec<String>)>,
    pub require: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockedCell {
    /// Dimension → value glob; a missing dimension matches any value.
    pub cell: Vec<(String, String)>,
    pub reason: String,
    pub ticket: Option<String>,
}

/// A tiered canary: with `fault` on, `target` must get `expect` (T1 obviously bad, T2 stale or
/// shadow, T3 adversarial, T4 mixed: some fixtures expect the check to stay green).
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryFixture {
    pub id: String,
    pub tier: Tier,
    pub description: Option<String>,
    /// A check id.
    pub target: String,
    /// A fault mode of the wall's control API.
    pub fault: String,
    /// The verdict the target must get: `pass`, `fail`, `drift` or `error`.
    pub expect: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    T1,
    T2,
    T3,
    T4,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::T1, Tier::T2, Tier::T3, Tier::T4];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::T1 => "T1",
            Tier::T2 => "T2",
            Tier::T3 => "T3",
            Tier::T4 => "T4",
        }
    }
}

/// A service drills may act on (`services:` in `wall.yaml`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSpec {
    pub pid_file: Option<String>,
    pub start: Option<Vec<String>>,
    pub stop: Option<Vec<String>>,
}

/// `drills:` in `wall.yaml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrillSettings {
    /// Base URL of the system's control API (the reference system has one): used to stop and
    /// start services that declare no commands, and for `proxy` and `mode` faults.
    pub control: Option<String>,
    /// Hosts other than loopback that drills may target.
    pub allow_hosts: Vec<String>,
}

/// `calibration:` in `wall.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationSettings {
    /// Deployed files must resolve inside one of these; empty when the wall names none (a
    /// wall with calibration checks must name at least one).
    pub roots: Vec<String>,
    /// Where `--write` copies what it replaces.
    pub backups: String,
    /// The calibration ledger file.
    pub ledger: String,
    /// Larger files are compared by hash instead of diffed.
    pub max_file_size: u64,
    /// The diff algorithm's time cap.
    pub diff_timeout: Duration,
    /// A rendered diff is cut past this size.
    pub max_diff_size: u64,
}

impl Default for CalibrationSettings {
    fn default() -> Self {
        CalibrationSettings {
            roots: Vec::new(),
            backups: ".auditwall/calibration/backups".to_string(),
            ledger: ".auditwall/calibration/ledger.json".to_string(),
            max_file_size: 8 * 1024 * 1024,
            diff_timeout: Duration::from_millis(500),
            max_diff_size: 256 * 1024,
        }
    }
}

/// A declared negative control. The fault is named as the system under test names it (for
/// the reference system, a mode of `auditwall fault`); whoever injects it validates the name.
#[derive(Debug, Clone, PartialEq)]
pub struct Canary {
    pub fault: String,
    pub origin: Origin,
}

/// What a probe measures. Exactly one kind per check.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Http(HttpProbe),
    Tcp(TcpProbe),
    Process(ProcessProbe),
    Port(PortProbe),
    File(FileProbe),
    Command(CommandProbe),
    Model(ModelProbe),
}

impl Probe {
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http",
            Probe::Tcp(_) => "tcp",
            Probe::Process(_) => "process",
            Probe::Port(_) => "port",
            Probe::File(_) => "file",
            Probe::Command(_) => "command",
            Probe::Model(_) => "model",
        }
    }

    /// The contract a check of this kind asserts when it has no `expect`.
    pub fn default_expect(&self) -> Vec<&'static str> {
        match self {
            Probe::Http(_) => vec!["status < 400"],
            Probe::Tcp(_) => vec!["connected == true"],
            Probe::Process(p) if p.exe.is_some() => {
                vec!["running == true", "exe_current == true"]
            }
            Probe::Process(_) => vec!["running == true"],
            Probe::Port(p) if p.owner.is_some() || p.owner_pid_file.is_some() => {
                vec!["listening == true", "owner_matches == true"]
            }
            Probe::Port(_) => vec!["listening == true"],
            Probe::File(_) => vec!["exists == true"],
            Probe::Command(_) => vec!["exit == 0"],
            Probe::Model(_) => vec!["pass_rate == 1"],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpProbe {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<HttpBody>,
    /// Per-request timeout; defaults to the check's timeout.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    Json(serde_json::Value),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TcpProbe {
    /// `host:port`
    pub address: String,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessProbe {
    pub selector: ProcessSelector,
    /// Expected executable on disk; the probe reports whether the running image is that file
    /// (a stale binary after an upgrade is a real defect).
    pub exe: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProcessSelector {
    PidFile(String),
    /// Regex matched against the full command line.
    Name(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortProbe {
    /// `host:port`
    pub address: String,
    /// Regex the owning process's command line must match, if given.
    pub owner: Option<String>,
    /// The owning process must have the pid in this file, if given.
    pub owner_pid_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileProbe {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandProbe {
    pub program: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
}

/// Golden-answer checks of an OpenAI-compatible endpoint: each prompt is asked `repeat` times
/// and every answer is held against its expectation and the quality detectors.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProbe {
    /// Base URL; the probe POSTs to `{url}/v1/chat/completions`.
    pub url: String,
    /// The request's `model` field, if given.
    pub model: Option<String>,
    /// The response header naming the backend that served (lowercase).
    pub served_by_header: String,
    /// Runs per prompt, 1..=[`MAX_MODEL_REPEAT`].
    pub repeat: u32,
    /// Never empty.
    pub prompts: Vec<GoldenPrompt>,
}

/// Upper bound of `repeat`: a probe asks questions, it is not a load test.
pub const MAX_MODEL_REPEAT: u32 = 1000;

/// The header a router names its backend in when the spec names none.
pub const DEFAULT_SERVED_BY_HEADER: &str = "x-served-by";

#[derive(Debug, Clone, PartialEq)]
pub struct GoldenPrompt {
    pub ask: String,
    pub expect: GoldenAnswer,
}

/// What a right answer looks like. Matching rules are the probe's (see `docs/spec-reference.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenAnswer {
    Exact(String),
    Contains(String),
    /// Validated when the wall loads.
    Regex(String),
    Number {
        value: f64,
        tolerance: f64,
    },
    /// Keys the answer, parsed as a JSON object, must have.
    JsonShape(Vec<String>),
}
