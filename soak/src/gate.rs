//! The soak's exit gate: pure rules over a [`Status`] and a [`Policy`] that say whether the
//! release may leave the soak, and why not, with numbers.
//!
//! Owns: the conditions, their order and the wording of every explanation. Must not touch:
//! the ledger, running the doctor or the docs build (the CLI runs them and hands in an
//! [`Evidence`]), the clock (`now` is the status's).
//!
//! The conditions, in the order reported; the gate passes when all hold:
//!
//! 1. `policy` — the policy is the one the soak started with (its digest), so a threshold
//!    cannot be loosened halfway.
//! 2. `days` — at least `days` full UTC calendar days since the start.
//! 3. `gaps` — no gap longer than `max_gap` (before the first tick, between ticks, since the
//!    last one).
//! 4. `clean` — every tick clean: no red check, no service exited non-zero, no critical
//!    memory pressure left unrecovered.
//! 5. `rss` — every service's Theil–Sen RSS slope at most `rss_slope_max` (a service needs
//!    two samples at distinct times to be judged; with none sampled the condition holds and
//!    says so).
//! 6. `latency` — each check's last-window p95 within tolerance of its first-window p95;
//!    fails when the windows overlap (the soak is too short to compare).
//! 7. `doctor` — clean, when the policy requires it.
//! 8. `docs` — the docs build clean, when one is configured.

use serde::Serialize;

use crate::policy::{render_rate, Policy};
use crate::status::{Gap, GapKind, Status};
use crate::time::{days_complete_at, render_instant, render_span};

/// Dirty ticks and gaps named one by one in an explanation; the rest are counted.
const LISTED: usize = 5;

/// The outcome of a step the CLI runs outside this crate (doctor, docs build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "detail")]
pub enum Outcome {
    Passed,
    /// With what it said (e.g. the first lines of its output).
    Failed(String),
    /// Not run, with why (e.g. no docs command configured).
    Skipped(String),
}

/// What the CLI found outside the ledger when the gate was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub doctor: Outcome,
    pub docs: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub name: &'static str,
    pub ok: bool,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateReport {
    pub passed: bool,
    pub conditions: Vec<Condition>,
}

impl GateReport {
    /// The conditions that failed, in order.
    pub fn failed(&self) -> impl Iterator<Item = &Condition> {
        self.conditions.iter().filter(|c| !c.ok)
    }
}

/// Judges `status` under `policy` with the CLI's `evidence`.
pub fn check(status: &Status, policy: &Policy, evidence: &Evidence) -> GateReport {
    let conditions = vec![
        policy_condition(status, policy),
        days(status, policy),
        gaps(status, policy),
        clean(status),
        rss(status, policy),
        latency(status, policy),
        doctor(policy, &evidence.doctor),
        docs(&evidence.docs),
    ];
    GateReport {
        passed: conditions.iter().all(|c| c.ok),
        conditions,
    }
}

fn condition(name: &'static str, ok: bool, explanation: String) -> Condition {
    Condition {
        name,
        ok,
        explanation,
    }
}

fn policy_condition(status: &Status, policy: &Policy) -> Condition {
    let now = policy.digest();
    let then = &status.run.policy_digest;
    if *then == now {
        return condition("policy", true, "unchanged since the soak started".into());
    }
    condition(
        "policy",
        false,
        format!(
            "the policy changed since the soak started (digest {} then, {} now); start a new soak under the new policy",
            short(then),
            short(&now)
        ),
    )
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

fn days(status: &Status, policy: &Policy) -> Condition {
    let need = u64::from(policy.days);
    let start = status.run.started_ms;
    let have = status.full_days;
    if have >= need {
        return condition(
            "days",
            true,
            format!(
                "{have} full calendar days (UTC) since the start at {}, {need} required",
                render_instant(start)
            ),
        );
    }
    condition(
        "days",
        false,
        format!(
            "{have} of {need} full calendar days (UTC) since the start at {}; the soak can pass from {}",
            render_instant(start),
            render_instant(days_complete_at(start, need))
        ),
    )
}

fn gaps(status: &Status, policy: &Policy) -> Condition {
    let limit = spec_duration(policy.max_gap);
    if status.long_gaps.is_empty() {
        return condition(
            "gaps",
            true,
            format!(
                "largest gap {} over {} ticks, max_gap {limit}",
                render_span(status.largest_gap.len_ms()),
                status.ticks
            ),
        );
    }
    let lines: Vec<String> = status
        .long_gaps
        .iter()
        .take(LISTED)
        .map(|g| format!("{} exceeds max_gap {limit}", describe_gap(g)))
        .collect();
    condition(
        "gaps",
        false,
        with_more(lines, status.long_gaps.len(), "gaps"),
    )
}

fn describe_gap(g: &Gap) -> String {
    let span = render_span(g.len_ms());
    let (from, to) = (render_instant(g.from_ms), render_instant(g.to_ms));
    match g.kind {
        GapKind::BeforeFirstTick => {
            format!("gap of {span} from the start at {from} to the first tick at {to}")
        }
        GapKind::BetweenTicks => format!("gap of {span} between the ticks at {from} and {to}"),
        GapKind::SinceLastTick => {
            format!("no tick for {span} since the last one at {from} (now {to})")
        }
        GapKind::NoTickYet => {
            format!("no tick at all in the {span} since the start at {from} (now {to})")
        }
    }
}

fn clean(status: &Status) -> Condition {
    if status.dirty.is_empty() {
        return condition("clean", true, format!("all {} ticks clean", status.ticks));
    }
    let lines: Vec<String> = status
        .dirty
        .iter()
        .take(LISTED)
        .map(|t| {
            format!(
                "day {} tick at {} was red: {}",
                t.day,
                render_instant(t.at_ms),
                t.reasons.join("; ")
            )
        })
        .collect();
    let mut text = with_more(lines, status.dirty.len(), "dirty ticks");
    text.push_str(&format!(
        " ({} of {} ticks dirty)",
        status.dirty.len(),
        status.ticks
    ));
    condition("clean", false, text)
}

fn rss(status: &Status, policy: &Policy) -> Condition {
    let limit = policy.rss_slope_max_text();
    if status.rss.is_empty() {
        return condition(
            "rss",
            true,
            "no service was sampled; nothing to judge".into(),
        );
    }
    let mut failed = Vec::new();
    let mut held = Vec::new();
    for trend in &status.rss {
        match trend.slope_bytes_per_day {
            Some(slope) if slope > policy.rss_slope_max_bytes_per_day => failed.push(format!(
                "{} RSS grows {} (Theil–Sen over {} ticks), limit {limit}",
                trend.service,
                render_rate(slope),
                trend.samples
            )),
            Some(slope) => held.push(format!("{} {}", trend.service, render_rate(slope))),
            None => held.push(format!("{} (one sample, no slope)", trend.service)),
        }
    }
    if failed.is_empty() {
        return condition(
            "rss",
            true,
            format!("every RSS slope within {limit}: {}", held.join(", ")),
        );
    }
    condition("rss", false, failed.join("; "))
}

fn latency(status: &Status, policy: &Policy) -> Condition {
    let window = spec_duration(policy.latency_window);
    if status.windows_overlap {
        return condition(
            "latency",
            false,
            format!(
                "the soak is shorter than two latency windows (2 × {window}); first and last window cannot be compared yet"
            ),
        );
    }
    let slack_ms = policy.latency_slack.as_secs_f64() * 1000.0;
    let mut failed = Vec::new();
    let mut compared = 0usize;
    let mut one_window = 0usize;
    for trend in &status.latency {
        let (Some(first), Some(last)) = (trend.first, trend.last) else {
            one_window += 1;
            continue;
        };
        compared += 1;
        let allowed = (first.p95_ms * policy.latency_tolerance).max(first.p95_ms + slack_ms);
        if last.p95_ms > allowed {
            failed.push(format!(
                "{} p95 {} in the last {window} vs {} in the first (allowed {}: × {} or + {})",
                trend.check,
                ms(last.p95_ms),
                ms(first.p95_ms),
                ms(allowed),
                policy.latency_tolerance,
                spec_duration(policy.latency_slack)
            ));
        }
    }
    let aside = if one_window > 0 {
        format!("; {one_window} checks measured in only one window, not compared")
    } else {
        String::new()
    };
    if failed.is_empty() {
        return condition(
            "latency",
            true,
            format!("{compared} checks within tolerance{aside}"),
        );
    }
    condition("latency", false, format!("{}{aside}", failed.join("; ")))
}

fn doctor(policy: &Policy, outcome: &Outcome) -> Condition {
    match (outcome, policy.require_doctor) {
        (Outcome::Passed, _) => condition("doctor", true, "doctor clean".into()),
        (Outcome::Failed(detail), true) => {
            condition("doctor", false, format!("doctor found problems: {detail}"))
        }
        (Outcome::Skipped(why), true) => condition(
            "doctor",
            false,
            format!("the policy requires the doctor, but it was skipped: {why}"),
        ),
        (Outcome::Failed(detail), false) => condition(
            "doctor",
            true,
            format!("not required by the policy (it found problems: {detail})"),
        ),
        (Outcome::Skipped(why), false) => condition(
            "doctor",
            true,
            format!("not required by the policy; skipped: {why}"),
        ),
    }
}

fn docs(outcome: &Outcome) -> Condition {
    match outcome {
        Outcome::Passed => condition("docs", true, "the docs build clean".into()),
        Outcome::Failed(detail) => {
            condition("docs", false, format!("the docs build failed: {detail}"))
        }
        Outcome::Skipped(why) => condition("docs", true, format!("skipped: {why}")),
    }
}

fn with_more(mut lines: Vec<String>, total: usize, what: &str) -> String {
    if total > lines.len() {
        lines.push(format!("and {} more {what}", total - lines.len()));
    }
    lines.join("; ")
}

fn spec_duration(d: std::time::Duration) -> String {
    auditwall_spec::render_duration(d)
}

/// `0.42ms`, `12.5ms`, `1530ms`: enough digits for loopback latencies.
fn ms(value: f64) -> String {
    let text = if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    };
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_render_compactly() {
        assert_eq!(ms(0.42), "0.42ms");
        assert_eq!(ms(12.5), "12.5ms");
        assert_eq!(ms(1530.0), "1530ms");
        assert_eq!(ms(3.0), "3ms");
    }
}
