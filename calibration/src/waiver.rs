//! Waivers: acknowledged drift with a reason and an expiry date.
//!
//! Owns: matching waivers to findings and judging each finding active, waived or
//! waiver-expired on a given date. Must not touch: the clock (today is passed in) or the
//! findings themselves. A waiver covers drift only: a check that could not run (an error
//! finding) is never waived, because a broken detector must stay visible.

use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;

use crate::date::Date;
use crate::error::{CalibrationError, Kind};
use crate::finding::{Finding, FindingTag, Report};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// Glob over the finding's deployed path; `*` never crosses a `/` (use `**`).
    pub path: String,
    /// Only findings of this kind; `None` waives every drift kind at matching paths.
    pub kind: Option<FindingTag>,
    pub reason: String,
    /// The last day the waiver holds; from the next day on it fails.
    pub expires: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Active,
    Waived {
        reason: String,
        #[serde(serialize_with = "as_text")]
        expires: Date,
    },
    /// Counts as drift again, with a message naming the expiry.
    WaiverExpired {
        reason: String,
        #[serde(serialize_with = "as_text")]
        expired: Date,
    },
}

fn as_text<S: serde::Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(date)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    #[serde(flatten)]
    pub finding: Finding,
    pub waiver: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JudgedReport {
    pub checked: usize,
    pub clean: usize,
    pub findings: Vec<Judged>,
}

impl Judged {
    /// `true` unless a waiver in force covers it.
    pub fn fails(&self) -> bool {
        !matches!(self.waiver, Status::Waived { .. })
    }

    pub fn message(&self) -> String {
        let base = self.finding.message();
        match &self.waiver {
            Status::Active => base,
            Status::Waived { reason, expires } => {
                format!("waived until {expires} ({reason}): {base}")
            }
            Status::WaiverExpired { reason, expired } => {
                format!("waiver expired on {expired} ({reason}), so this drift fails again: {base}")
            }
        }
    }
}

impl JudgedReport {
    /// Findings that fail and mean the check could not run (verdict `error`).
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|judged| judged.fails() && judged.finding.kind.tag().is_error())
            .count()
    }

    /// Findings that fail as drift, expired waivers included (verdict `drift`).
    pub fn drifts(&self) -> usize {
        self.findings
            .iter()
            .filter(|judged| judged.fails() && !judged.finding.kind.tag().is_error())
            .count()
    }
}

/// Judges every finding of `report` on `today`. When several waivers match, one in force wins
/// over expired ones, and earlier waivers win over later ones. `Err` only for a bad glob.
pub fn apply_waivers(
    report: Report,
    waivers: &[Waiver],
    today: Date,
) -> Result<JudgedReport, CalibrationError> {
    let matchers = waivers
        .iter()
        .map(|waiver| {
            GlobBuilder::new(&waiver.path)
                .literal_separator(true)
                .build()
                .map(|glob| glob.compile_matcher())
                .map_err(|e| {
                    CalibrationError::new(Kind::Glob, format!("waiver path {:?}: {e}", waiver.path))
                })
        })
        .collect::<Result<Vec<GlobMatcher>, _>>()?;
    let findings = report
        .findings
        .into_iter()
        .map(|finding| {
            let waiver = judge(&finding, waivers, &matchers, today);
            Judged { finding, waiver }
        })
        .collect();
    Ok(JudgedReport {
        checked: report.checked,
        clean: report.clean,
        findings,
    })
}

fn judge(finding: &Finding, waivers: &[Waiver], matchers: &[GlobMatcher], today: Date) -> Status {
    let tag = finding.kind.tag();
    if tag.is_error() {
        return Status::Active;
    }
    let mut matching = waivers
        .iter()
        .zip(matchers)
        .filter(|(waiver, matcher)| {
            waiver.kind.is_none_or(|kind| kind == tag) && matcher.is_match(&finding.path)
        })
        .map(|(waiver, _)| waiver);
    let Some(first) = matching.clone().next() else {
        return Status::Active;
    };
    match matching.find(|waiver| today <= waiver.expires) {
        Some(waiver) => Status::Waived {
            reason: waiver.reason.clone(),
            expires: waiver.expires,
        },
        None => Status::WaiverExpired {
            reason: first.reason.clone(),
            expired: first.expires,
        },
    }
}
