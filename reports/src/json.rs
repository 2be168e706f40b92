//! The JSON report: a stable, versioned, machine-readable copy of the run.
//!
//! Owns: the report model ([`JsonReport`]) and its schema version. The published schema is
//! `docs/report.schema.json`; a test holds the two together (every emitted field declared,
//! every declared field emitted). Must not touch: the terminal or JUnit wording.
//!
//! Conventions: timestamps are RFC 3339 UTC with milliseconds; `duration_ms` fields are whole
//! milliseconds; observed durations are fractional milliseconds (loopback latency is often
//! below one); sizes are bytes; absent values are `null`, never missing keys.

use std::collections::BTreeMap;
use std::io::Write;

use auditwall_harness::result::{CheckResult, Finding, RunSummary, Verdict};
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
    pub checks: Vec<JsonCheck>,
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
            // Microsecond resolution: finer digits are noise from the clock, not signal.
            Value::Duration(d) => JsonObservation::Duration(d.as_micros() as f64 / 1_000.0),
            Value::Bytes(n) => JsonObservation::Bytes(*n),
            Value::Json(v) => JsonObservation::Json(v.clone()),
            Value::Map(map) => JsonObservation::Map(map.clone()),
        }
    }
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
