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
}

impl Check {
    /// The probe kind (`http`, `model`, ...) or the suite kind (`calibration`).
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            CheckKind::Probe { probe, .. } => probe.kind(),
            CheckKind::Calibration(_) => "calibration",
        }
    }

    pub fn probe(&self) -> Option<&Probe> {
        match &self.kind {
            CheckKind::Probe { probe, .. } => Some(probe),
            CheckKind::Calibration(_) => None,
        }
    }

    /// The conditions a probe check asserts (empty for other kinds).
    pub fn expect(&self) -> &[Condition] {
        match &self.kind {
            CheckKind::Probe { expect, .. } => expect,
            CheckKind::Calibration(_) => &[],
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
