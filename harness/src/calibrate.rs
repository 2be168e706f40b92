//! Calibration checks in a run: the model's calibration check turned into the calibration
//! core's inputs, the drift check with waivers judged on today's date, the mapping of what it
//! found to a verdict and findings, `--write`, and the ledger entry a run leaves behind.
//!
//! Owns: path resolution (relative paths are relative to the working directory), reading the
//! clock for "today", and the verdict rule. Must not touch: comparing or writing files (the
//! calibration core does that) or formatting output (reporters do).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use auditwall_calibration::{
    apply_waivers, check, write, CalibrationError, Date, DirRule, DirSource, FindingTag, Judged,
    LedgerEntry, LedgerFinding, Limits, Pair, Source, Status, Waiver, WriteOptions, WriteReport,
};
use auditwall_spec::{
    Calibration, CalibrationSettings, CanonicalSource, CheckKind, Observations, SpecError,
    SpecErrorKind, Suite, Value, Wall,
};
use globset::GlobBuilder;

use crate::result::{Finding, FindingStatus, RunSummary, Verdict};

/// Checks what the spec layer cannot: waiver kinds, dates and globs (the calibration
/// vocabulary lives here). Called when the wall loads, so mistakes are exit 2.
pub fn validate(wall: &Wall) -> Result<(), Vec<SpecError>> {
    let mut errors = Vec::new();
    for check in &wall.checks {
        let CheckKind::Calibration(cal) = &check.kind else {
            continue;
        };
        for w in &cal.waivers {
            if let (Some(kind), Some(at)) = (&w.kind, &w.kind_at) {
                if let Err(e) = FindingTag::from_str(kind) {
                    errors.push(
                        SpecError::at(
                            SpecErrorKind::Invalid,
                            at,
                            format!("bad waiver `kind` in check `{}`: {e}", check.id),
                        )
                        .with_key("kind"),
                    );
                }
            }
            if let Err(e) = Date::from_str(&w.expires) {
                errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        &w.expires_at,
                        format!("bad waiver `expires` in check `{}`: {e}", check.id),
                    )
                    .with_key("expires"),
                );
            }
            if let Err(e) = GlobBuilder::new(&w.path).literal_separator(true).build() {
                errors.push(
                    SpecError::at(
                        SpecErrorKind::Invalid,
                        &w.origin,
                        format!("bad waiver `path` glob in check `{}`: {e}", check.id),
                    )
                    .with_key("path"),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Everything a calibration check needs besides its own spec: the wall's settings, the
/// directory relative paths are resolved against, and today's date.
#[derive(Debug, Clone)]
pub struct Calibrator {
    settings: CalibrationSettings,
    base: PathBuf,
    today: Date,
}

/// What one calibration check found, ready for a [`crate::result::CheckResult`].
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub message: Option<String>,
    pub findings: Vec<Finding>,
    pub observations: Observations,
}

impl Calibrator {
    /// Relative paths resolve against the working directory; today is the UTC date now.
    pub fn new(settings: &CalibrationSettings) -> Calibrator {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let today = Date::from_unix_seconds(seconds).unwrap_or(Date::EPOCH);
        Calibrator {
            settings: settings.clone(),
            base: std::env::current_dir().unwrap_or_default(),
            today,
        }
    }

    /// The same calibrator judging waivers on another day (tests, replays).
    pub fn on(self, today: Date) -> Calibrator {
        Calibrator { today, ..self }
    }

    pub fn settings(&self) -> &CalibrationSettings {
        &self.settings
    }

    /// `path` resolved against the base directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.settings.max_file_size,
            diff_timeout: self.settings.diff_timeout,
            max_diff_bytes: usize::try_from(self.settings.max_diff_size).unwrap_or(usize::MAX),
            ..Limits::default()
        }
    }

    fn roots(&self) -> Vec<PathBuf> {
        self.settings
            .roots
            .iter()
            .map(|r| self.resolve(r))
            .collect()
    }

    fn inputs(&self, cal: &Calibration) -> (Vec<Pair>, Vec<DirRule>) {
        let pairs = cal
            .files
            .iter()
            .map(|f| Pair {
                canonical: self.source(&f.canonical),
                deployed: self.resolve(&f.deployed),
                mode: f.mode,
                managed: f.managed,
            })
            .collect();
        let dirs = cal
            .dirs
            .iter()
            .map(|d| DirRule {
                canonical: DirSource::Files(
                    d.files
                        .iter()
                        .map(|(relative, source)| (PathBuf::from(relative), self.source(source)))
                        .collect(),
                ),
                deployed_dir: self.resolve(&d.deployed),
                include: d.include.clone(),
                exclude: d.exclude.clone(),
                mode: d.mode,
                managed: d.managed,
            })
            .collect();
        (pairs, dirs)
    }

    fn source(&self, source: &CanonicalSource) -> Source {
        match source {
            CanonicalSource::Text { name, text } => Source::Text {
                name: name.clone(),
                text: text.clone(),
            },
            CanonicalSource::File { path, .. } => Source::File(self.resolve(path)),
        }
    }

    fn waivers(&self, cal: &Calibration) -> Vec<Waiver> {
        cal.waivers
            .iter()
            .filter_map(|w| {
                // Validated at load time; a waiver that no longer parses waives nothing.
                Some(Waiver {
                    path: self.resolve(&w.path).display().to_string(),
                    kind: match &w.kind {
                        Some(k) => Some(FindingTag::from_str(k).ok()?),
                        None => None,
                    },
                    reason: w.reason.clone(),
                    expires: Date::from_str(&w.expires).ok()?,
                })
            })
            .collect()
    }

    /// Runs the drift check. Blocking: the engine runs it off the async threads.
    pub fn check(&self, cal: &Calibration) -> Outcome {
        let (pairs, dirs) = self.inputs(cal);
        let judged = check(&pairs, &dirs, &self.roots(), &self.limits())
            .and_then(|report| apply_waivers(report, &self.waivers(cal), self.today));
        match judged {
            Ok(judged) => outcome(&judged.findings, judged.checked, judged.clean),
            Err(e) => Outcome {
                verdict: Verdict::Error,
                message: Some(format!("calibration could not run: {e}")),
                findings: Vec::new(),
                observations: Observations::new(),
            },
        }
    }

    /// Puts canonical content into place (atomically, with backups under
    /// `calibration.backups`).
    pub fn write(
        &self,
        cal: &Calibration,
        adopt_unmanaged: bool,
    ) -> Result<WriteReport, CalibrationError> {
        let (pairs, dirs) = self.inputs(cal);
        let stamp_unix_ms = crate::unix_ms(SystemTime::now());
        let opts = WriteOptions {
            backup_dir: self.resolve(&self.settings.backups),
            stamp_unix_ms,
            adopt_unmanaged,
        };
        write(&pairs, &dirs, &self.roots(), &self.limits(), &opts)
    }
}

/// Drift wins over error: a proven divergence is the stronger statement about the system,
/// and the error findings stay listed beside it.
fn outcome(judged: &[Judged], checked: usize, clean: usize) -> Outcome {
    let findings: Vec<Finding> = judged.iter().map(finding).collect();
    let count = |status: FindingStatus| findings.iter().filter(|f| f.status == status).count();
    let drifted = count(FindingStatus::Drift) + count(FindingStatus::WaiverExpired);
    let errors = count(FindingStatus::Error);
    let waived = count(FindingStatus::Waived);
    let mut observations = Observations::new();
    for (name, n) in [
        ("checked", checked),
        ("clean", clean),
        ("drifted", drifted),
        ("errors", errors),
        ("waived", waived),
    ] {
        observations.set(name, Value::Number(n as f64));
    }
    let list = |wanted: &[FindingStatus]| {
        findings
            .iter()
            .filter(|f| wanted.contains(&f.status))
            .map(|f| format!("{} ({})", f.subject, f.kind))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (verdict, message) = if drifted > 0 {
        let mut message = format!(
            "{drifted} finding{} in {checked} deployed file{}: {}",
            plural(drifted),
            plural(checked),
            list(&[FindingStatus::Drift, FindingStatus::WaiverExpired])
        );
        if errors > 0 {
            message.push_str(&format!(
                "; could not check: {}",
                list(&[FindingStatus::Error])
            ));
        }
        (Verdict::Drift, Some(message))
    } else if errors > 0 {
        let message = format!("could not check: {}", list(&[FindingStatus::Error]));
        (Verdict::Error, Some(message))
    } else if waived > 0 {
        let message = format!("{waived} drift{} waived", plural(waived));
        (Verdict::Pass, Some(message))
    } else {
        (Verdict::Pass, None)
    };
    Outcome {
        verdict,
        message,
        findings,
        observations,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn finding(judged: &Judged) -> Finding {
    let f = &judged.finding;
    let tag = f.kind.tag();
    let summary = f.summary();
    let (status, message) = match &judged.waiver {
        Status::Active if tag.is_error() => (FindingStatus::Error, summary),
        Status::Active => (FindingStatus::Drift, summary),
        Status::Waived { reason, expires } => (
            FindingStatus::Waived,
            format!("waived until {expires} ({reason}): {summary}"),
        ),
        Status::WaiverExpired { reason, expired } => (
            FindingStatus::WaiverExpired,
            format!("waiver expired on {expired} ({reason}): {summary}"),
        ),
    };
    Finding {
        subject: f.path.display().to_string(),
        kind: tag.name().to_string(),
        status,
        message,
        diff: f.diff().map(str::to_string),
    }
}

/// The ledger entry for a run that had calibration checks (`None` when it had none): what was
/// compared and found, across every calibration check that ran.
pub fn ledger_entry(summary: &RunSummary, wall_digest: &str) -> Option<LedgerEntry> {
    let ran: Vec<_> = summary
        .results
        .iter()
        .filter(|r| r.suite == Suite::Calibration && r.attempts > 0)
        .collect();
    if ran.is_empty() {
        return None;
    }
    let checked = ran
        .iter()
        .filter_map(|r| match r.observations.get("checked") {
            Some(Value::Number(n)) => Some(*n as usize),
            _ => None,
        })
        .sum();
    let findings = ran
        .iter()
        .flat_map(|r| &r.findings)
        .filter_map(|f| {
            Some(LedgerFinding {
                path: f.subject.clone(),
                kind: FindingTag::from_str(&f.kind).ok()?,
                waived: f.status == FindingStatus::Waived,
            })
        })
        .collect();
    let time_unix_ms = crate::unix_ms(summary.finished_at);
    Some(LedgerEntry {
        time_unix_ms,
        wall_digest: wall_digest.to_string(),
        checked,
        findings,
    })
}
