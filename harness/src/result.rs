//! The one result model every reporter renders (terminal, JUnit, JSON, Markdown).

use std::time::{Duration, SystemTime};

use auditwall_spec::condition::Judgement;
use auditwall_spec::{Observations, Origin, Severity, Suite};

/// The verdict of one check. `flaky` is a separate, always-visible marker on [`CheckResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The contract holds.
    Pass,
    /// The system is wrong.
    Fail,
    /// Alive, but diverges from canonical, contract or budget.
    Drift,
    /// The check could not run: a broken detector, not a red system.
    Error,
    /// Not applicable, with a reason.
    Skip,
    /// A dependency (`needs`) did not pass; reported as "blocked by X".
    Blocked,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Drift => "drift",
            Verdict::Error => "error",
            Verdict::Skip => "skip",
            Verdict::Blocked => "blocked",
        }
    }

    /// Monitoring state: HEALTHY / DRIFT / FAILED / BLOCKED (skip maps to HEALTHY-neutral "SKIPPED").
    pub fn state(self) -> &'static str {
        match self {
            Verdict::Pass => "HEALTHY",
            Verdict::Drift => "DRIFT",
            Verdict::Fail | Verdict::Error => "FAILED",
            Verdict::Blocked => "BLOCKED",
            Verdict::Skip => "SKIPPED",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check after all its attempts.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub id: String,
    pub suite: Suite,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub origin: Origin,
    pub verdict: Verdict,
    /// Passed only on a retry. Never hidden.
    pub flaky: bool,
    /// Attempts made (0 when blocked, skipped, or never started before the deadline).
    pub attempts: u32,
    pub started_at: Option<SystemTime>,
    /// Wall time of all attempts together.
    pub duration: Duration,
    /// Human reason for anything other than a clean pass (already redacted).
    pub message: Option<String>,
    /// The check this one waited on, when `verdict == Blocked`.
    pub blocked_by: Option<String>,
    /// One entry per condition of the last attempt.
    pub judgements: Vec<Judgement>,
    /// What the last attempt measured (already redacted).
    pub observations: Observations,
    /// Problems found with individual subjects (a calibration check: one per deployed file),
    /// in a stable order; waived ones included so reports can show them as waived.
    pub findings: Vec<Finding>,
    /// A drill's measured timeline (`None` for other kinds, and for a drill that never got as
    /// far as injecting its fault).
    pub timeline: Option<Timeline>,
    /// What `verify --prove` found about this check's negative control (`None` when the run
    /// did not prove).
    pub proof: Option<Proof>,
}

/// The negative control of one check, run: did the check turn red when its fault was on?
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    /// The fault that was switched on (the check's `canary.fault`), or `None` when the check
    /// declares no negative control.
    pub fault: Option<String>,
    pub status: ProofStatus,
    /// When it turned red after the fault went in (`Proven` only).
    pub red_after: Option<Duration>,
    /// What the check said under the fault, or why it could not be proven (already redacted).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofStatus {
    /// Turned red under its fault, as it must.
    Proven,
    /// Stayed green under its fault: the check cannot fail. A vacuous P0 check fails the run.
    Vacuous,
    /// No negative control declared.
    Unproven,
    /// The control could not be run (the fault could not be switched on or off).
    Error,
}

impl ProofStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProofStatus::Proven => "proven",
            ProofStatus::Vacuous => "vacuous",
            ProofStatus::Unproven => "unproven",
            ProofStatus::Error => "error",
        }
    }
}

/// What a drill measured, relative to the moment its fault was injected (t0).
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// How often the drill polled; every time below is accurate to about this.
    pub poll: Duration,
    /// In the order they are defined: fault injected, detected, recovered, restored, steady
    /// again — only the phases the drill declares.
    pub events: Vec<TimelineEvent>,
    /// Checks that had to stay green while the fault was on, and what they did.
    pub unaffected: Vec<Unaffected>,
    /// Peak resource use of each involved service while the drill ran.
    pub resources: Vec<ResourcePeak>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    /// `fault`, `detect`, `recover`, `restore`, `steady`.
    pub phase: String,
    /// When it happened, since t0; `None` when it never did before the drill gave up.
    pub at: Option<Duration>,
    /// The budget it is held against, since t0 (none for `fault`).
    pub budget: Option<Duration>,
    /// Happened within its budget (a phase without budget: happened at all).
    pub ok: bool,
    /// What was seen, e.g. "router.chat answered, served by model-fallback" or the reason it
    /// never happened (already redacted).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unaffected {
    pub check: String,
    /// Times it was polled while the fault was on.
    pub polls: u32,
    /// When it first went red, since t0; `None` when it stayed green.
    pub red_at: Option<Duration>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePeak {
    pub service: String,
    pub samples: u32,
    /// Largest resident set seen, bytes.
    pub rss_max: u64,
    /// Largest swap use seen, bytes.
    pub swap_max: u64,
}

/// One problem a check found with one subject, e.g. a deployed file that drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is about: for calibration, the deployed path.
    pub subject: String,
    /// Stable kind name, e.g. `differs`, `missing`, `extra`, `mode_differs`.
    pub kind: String,
    pub status: FindingStatus,
    /// One or two lines, without the diff (already redacted), e.g. "content differs from
    /// canonical templates/router.yaml.tmpl".
    pub message: String,
    /// Unified diff, canonical (`---`) against deployed (`+++`), when there is one (already
    /// redacted).
    pub diff: Option<String>,
}

/// How a finding counts toward its check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// Counts as drift.
    Drift,
    /// The detector could not look (unreadable, outside the roots, no canonical source).
    Error,
    /// Drift acknowledged by a waiver still in force: reported, does not fail.
    Waived,
    /// Drift whose waiver has expired: fails again.
    WaiverExpired,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Drift => "drift",
            FindingStatus::Error => "error",
            FindingStatus::Waived => "waived",
            FindingStatus::WaiverExpired => "waiver_expired",
        }
    }
}

/// Facts about a run, known when it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Unique per run, e.g. `20261127T093400Z-1a2b3c`.
    pub run_id: String,
    pub wall: String,
    /// Where the wall came from: a directory, or `<embedded:default>`.
    pub wall_source: String,
    pub git_commit: Option<String>,
    /// sha256 (hex) of the resolved host profile.
    pub profile_digest: String,
    pub profile_name: String,
    pub host: String,
    pub started_at: SystemTime,
    pub planned: usize,
}

/// Everything a run produced, in plan order.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub info: RunInfo,
    pub finished_at: SystemTime,
    pub results: Vec<CheckResult>,
    /// The whole-run deadline fired; unfinished checks carry `Verdict::Error` with a message.
    pub deadline_exceeded: bool,
    /// The run was interrupted (Ctrl-C, SIGTERM); unfinished checks carry `Verdict::Error`.
    pub interrupted: bool,
    /// Spec-surface coverage by this run's scenarios, when the wall has a surface and the run
    /// had scenarios.
    pub coverage: Option<CoverageSummary>,
}

/// How much of the spec surface this run proved (L4-green scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoverageSummary {
    /// Valid cells, blocked ones included.
    pub valid: usize,
    pub blocked: usize,
    /// Valid, unblocked cells some scenario claims.
    pub claimed: usize,
    /// Of those, the ones a scenario that passed in this run claims.
    pub green: usize,
}

impl CoverageSummary {
    /// What coverage is measured against: valid, unblocked cells.
    pub fn target(&self) -> usize {
        self.valid - self.blocked
    }

    pub fn percent(&self) -> f64 {
        if self.target() == 0 {
            100.0
        } else {
            self.green as f64 * 100.0 / self.target() as f64
        }
    }
}

impl RunSummary {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == verdict).count()
    }

    pub fn flaky(&self) -> usize {
        self.results.iter().filter(|r| r.flaky).count()
    }
}
