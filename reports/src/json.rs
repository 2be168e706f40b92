//! The JSON report: a stable, versioned, machine-readable copy of the run.
//!
//! Owns: the report model ([`JsonReport`]) and its schema version. The published schema is
//! `docs/report.schema.json`; a test holds the two together (every emitted field declared,
//! every declared field emitted). Must not touch: the terminal or JUnit wording.
//!
//! Conventions: timestamps are RFC 3339 UTC with milliseconds; `duration_ms` fields are whole
//! milliseconds; observed and drill-timeline durations (`*_ms` inside `observations` and
//! `timeline`) are fractional milliseconds (loopback latency is often below one); sizes are
//! bytes; absent values are `null`, never missing keys.

use std::collections::BTreeMap;
use std::io::Write;

use auditwall_harness::result::{
    CheckResult, Finding, Proof, ResourcePeak, RunSummary, Timeline, TimelineEvent, Unaffected,
    Verdict,
};
use auditwall_spec::Value;
use serde::Serialize;

use crate::error::{Kind, ReportError};
use crate::format::{overall_state, rfc3339, run_duration};

/// Bumped on any change a consumer could notice (a field removed, renamed or retyped).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonReport {
    pub schema_version: u32,
    pub run_id: String,
    pub wall: String,
    pub wall_source: String,
    pub git_commit: Option<String>,
    pub profile: JsonProfile,
    pub host: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub deadline_exceeded: bool,
    /// The run was interrupted (Ctrl-C, SIGTERM); unfinished checks are verdict `error`.
    pub interrupted: bool,
    /// Checks the plan contained; `checks` may hold fewer only if the engine stopped early.
    pub planned: usize,
    /// The worst state of any check (FAILED > DRIFT > BLOCKED > HEALTHY); SKIPPED when the
    /// run proved nothing.
    pub state: String,
    pub counts: JsonCounts,
    /// Spec-surface coverage by the run's scenarios (null when the wall has no surface or the
    /// run no scenarios).
    pub coverage: Option<JsonCoverage>,
    pub checks: Vec<JsonCheck>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonCoverage {
    pub valid: usize,
    pub blocked: usize,
    /// Valid, unblocked cells: what coverage is measured against.
    pub target: usize,
    pub claimed: usize,
    /// Cells a scenario that passed in this run claims (L4-green).
    pub green: usize,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonProfile {
    pub name: String,
    /// sha256 (hex) of the resolved host profile.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonCounts {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub drift: usize,
    pub error: usize,
    pub skip: usize,
    pub blocked: usize,
    pub flaky: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonCheck {
    pub id: String,
    pub suite: String,
    pub severity: String,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub origin: JsonOrigin,
    pub verdict: String,
    pub state: String,
    pub flaky: bool,
    pub attempts: u32,
    pub started_at: Option<String>,
    pub duration_ms: u64,
    pub message: Option<String>,
    pub blocked_by: Option<String>,
    pub judgements: Vec<JsonJudgement>,
    pub observations: BTreeMap<String, JsonObservation>,
    /// Problems with individual subjects (calibration: one per deployed file), in the order
    /// the check found them; waived ones included. Empty when there are none.
    pub findings: Vec<JsonFinding>,
    /// A drill's measured timeline; `null` for other checks and for a drill that never
    /// injected its fault.
    pub timeline: Option<JsonTimeline>,
    /// What `verify --prove` found about the check's negative control; `null` when the run
    /// did not prove.
    pub proof: Option<JsonProof>,
}

/// A check's negative control, run: its canary fault switched on, the check polled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonProof {
    /// The canary fault (`null` when the check declares none).
    pub fault: Option<String>,
    /// `proven`, `vacuous`, `unproven` or `error`.
    pub status: String,
    /// Fractional milliseconds from the fault going in to the check's first red; `null`
    /// unless proven.
    pub red_after_ms: Option<f64>,
    /// What the check said under the fault, or why it could not be proven.
    pub detail: String,
}

/// What a drill measured. Every `*_ms` is fractional milliseconds since the fault was
/// injected (t0), except `poll_ms`, the polling interval that bounds their accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonTimeline {
    pub poll_ms: f64,
    /// In the order the drill defines them: `fault`, `detect`, `recover`, `restore`,
    /// `steady` (only those the drill declares).
    pub events: Vec<JsonTimelineEvent>,
    pub unaffected: Vec<JsonUnaffected>,
    pub resources: Vec<JsonResourcePeak>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonTimelineEvent {
    pub phase: String,
    /// `null` when the phase never happened before the drill gave up.
    pub at_ms: Option<f64>,
    /// `null` for a phase without a budget (e.g. `fault`).
    pub budget_ms: Option<f64>,
    /// Happened within its budget (without a budget: happened at all).
    pub ok: bool,
    pub detail: String,
}

/// A check that had to stay green while the fault was on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonUnaffected {
    pub check: String,
    pub polls: u32,
    /// When it first went red; `null` when it stayed green.
    pub red_at_ms: Option<f64>,
    pub detail: Option<String>,
}

/// Peak resource use of one service while the drill ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonResourcePeak {
    pub service: String,
    pub samples: u32,
    pub rss_max_bytes: u64,
    pub swap_max_bytes: u64,
}

/// One finding with everything the check recorded, including the whole diff (the terminal
/// caps what it shows and points here).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonFinding {
    pub subject: String,
    pub kind: String,
    /// `drift`, `error`, `waived` or `waiver_expired`.
    pub status: String,
    pub message: String,
    pub diff: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonOrigin {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonJudgement {
    pub condition: String,
    pub passed: bool,
    pub actual: Option<String>,
    pub budget: bool,
    pub reason: Option<String>,
}

/// One observed value as `{"type": ..., "value": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum JsonObservation {
    Null(()),
    Bool(bool),
    /// `null` when the measured number was not finite (JSON has no NaN or infinity).
    Number(Option<f64>),
    Text(String),
    /// Milliseconds, fractional.
    Duration(f64),
    Bytes(u64),
    Json(serde_json::Value),
    Map(BTreeMap<String, String>),
}

impl From<&RunSummary> for JsonReport {
    fn from(s: &RunSummary) -> Self {
        let info = &s.info;
        JsonReport {
            schema_version: SCHEMA_VERSION,
            run_id: info.run_id.clone(),
            wall: info.wall.clone(),
            wall_source: info.wall_source.clone(),
            git_commit: info.git_commit.clone(),
            profile: JsonProfile {
                name: info.profile_name.clone(),
                digest: info.profile_digest.clone(),
            },
            host: info.host.clone(),
            started_at: rfc3339(info.started_at),
            finished_at: rfc3339(s.finished_at),
            duration_ms: millis(run_duration(s)),
            deadline_exceeded: s.deadline_exceeded,
            interrupted: s.interrupted,
            planned: info.planned,
            state: overall_state(s).to_string(),
            counts: JsonCounts {
                total: s.results.len(),
                pass: s.count(Verdict::Pass),
                fail: s.count(Verdict::Fail),
                drift: s.count(Verdict::Drift),
                error: s.count(Verdict::Error),
                skip: s.count(Verdict::Skip),
                blocked: s.count(Verdict::Blocked),
                flaky: s.flaky(),
            },
            coverage: s.coverage.map(|c| JsonCoverage {
                valid: c.valid,
                blocked: c.blocked,
                target: c.target(),
                claimed: c.claimed,
                green: c.green,
                percent: c.percent(),
            }),
            checks: s.results.iter().map(JsonCheck::from).collect(),
        }
    }
}

impl From<&CheckResult> for JsonCheck {
    fn from(r: &CheckResult) -> Self {
        JsonCheck {
            id: r.id.clone(),
            suite: r.suite.as_str().to_string(),
            severity: r.severity.as_str().to_string(),
            tags: r.tags.clone(),
            description: r.description.clone(),
            origin: JsonOrigin {
                file: r.origin.file.clone(),
                line: r.origin.line,
                column: r.origin.column,
            },
            verdict: r.verdict.as_str().to_string(),
            state: r.verdict.state().to_string(),
            flaky: r.flaky,
            attempts: r.attempts,
            started_at: r.started_at.map(rfc3339),
            duration_ms: millis(r.duration),
            message: r.message.clone(),
            blocked_by: r.blocked_by.clone(),
            judgements: r
                .judgements
                .iter()
                .map(|j| JsonJudgement {
                    condition: j.condition.clone(),
                    passed: j.passed,
                    actual: j.actual.clone(),
                    budget: j.budget,
                    reason: j.reason.clone(),
                })
                .collect(),
            observations: r
                .observations
                .values
                .iter()
                .map(|(name, value)| (name.clone(), JsonObservation::from(value)))
                .collect(),
            findings: r.findings.iter().map(JsonFinding::from).collect(),
            timeline: r.timeline.as_ref().map(JsonTimeline::from),
            proof: r.proof.as_ref().map(JsonProof::from),
        }
    }
}

impl From<&Proof> for JsonProof {
    fn from(p: &Proof) -> Self {
        JsonProof {
            fault: p.fault.clone(),
            status: p.status.as_str().to_string(),
            red_after_ms: p.red_after.map(fractional_ms),
            detail: p.detail.clone(),
        }
    }
}

impl From<&Finding> for JsonFinding {
    fn from(f: &Finding) -> Self {
        JsonFinding {
            subject: f.subject.clone(),
            kind: f.kind.clone(),
            status: f.status.as_str().to_string(),
            message: f.message.clone(),
            diff: f.diff.clone(),
        }
    }
}

impl From<&Value> for JsonObservation {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => JsonObservation::Null(()),
            Value::Bool(b) => JsonObservation::Bool(*b),
            Value::Number(n) => JsonObservation::Number(n.is_finite().then_some(*n)),
            Value::Text(s) => JsonObservation::Text(s.clone()),
            Value::Duration(d) => JsonObservation::Duration(fractional_ms(*d)),
            Value::Bytes(n) => JsonObservation::Bytes(*n),
            Value::Json(v) => JsonObservation::Json(v.clone()),
            Value::Map(map) => JsonObservation::Map(map.clone()),
        }
    }
}

impl From<&Timeline> for JsonTimeline {
    fn from(t: &Timeline) -> Self {
        JsonTimeline {
            poll_ms: fractional_ms(t.poll),
            events: t.events.iter().map(JsonTimelineEvent::from).collect(),
            unaffected: t.unaffected.iter().map(JsonUnaffected::from).collect(),
            resources: t.resources.iter().map(JsonResourcePeak::from).collect(),
        }
    }
}

impl From<&TimelineEvent> for JsonTimelineEvent {
    fn from(e: &TimelineEvent) -> Self {
        JsonTimelineEvent {
            phase: e.phase.clone(),
            at_ms: e.at.map(fractional_ms),
            budget_ms: e.budget.map(fractional_ms),
            ok: e.ok,
            detail: e.detail.clone(),
        }
    }
}

impl From<&Unaffected> for JsonUnaffected {
    fn from(u: &Unaffected) -> Self {
        JsonUnaffected {
            check: u.check.clone(),
            polls: u.polls,
            red_at_ms: u.red_at.map(fractional_ms),
            detail: u.detail.clone(),
        }
    }
}

impl From<&ResourcePeak> for JsonResourcePeak {
    fn from(r: &ResourcePeak) -> Self {
        JsonResourcePeak {
            service: r.service.clone(),
            samples: r.samples,
            rss_max_bytes: r.rss_max,
            swap_max_bytes: r.swap_max,
        }
    }
}

/// Microsecond resolution: finer digits are noise from the clock, not signal.
fn fractional_ms(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1_000.0
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Writes the run as pretty-printed JSON (see [`JsonReport`]), ending with a newline.
pub fn write_json(summary: &RunSummary, out: &mut impl Write) -> Result<(), ReportError> {
    let report = JsonReport::from(summary);
    serde_json::to_writer_pretty(&mut *out, &report).map_err(|e| {
        let kind = if e.is_io() { Kind::Write } else { Kind::Json };
        ReportError::new(kind, e)
    })?;
    out.write_all(b"\n")
        .map_err(|e| ReportError::new(Kind::Write, e))
}
