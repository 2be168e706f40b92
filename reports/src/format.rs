//! Text shared by every reporter: durations, values, judgements, timestamps, overall state,
//! the lines of a drill's timeline, and how a check's proof (its negative control) reads.
//!
//! Owns: the one human wording of a result (so the terminal, JUnit and Markdown say the same
//! thing). Must not touch: escaping for a particular format; each reporter escapes its own
//! output (the terminal shows control characters, XML strips them, Markdown escapes tables),
//! using at most the shared [`strip_ansi`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auditwall_harness::result::{
    CheckResult, Finding, FindingStatus, Proof, ProofStatus, RunSummary, Timeline, TimelineEvent,
    Unaffected, Verdict,
};
use auditwall_spec::condition::Judgement;
use auditwall_spec::{render_duration, render_size, Severity, Value};

/// `412µs`, `12ms`, `1.2s`, `2m05s`, `1h02m05s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{}ms", micros / 1_000)
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        if s < 3_600 {
            format!("{}m{:02}s", s / 60, s % 60)
        } else {
            format!("{}h{:02}m{:02}s", s / 3_600, (s % 3_600) / 60, s % 60)
        }
    }
}

/// Binary units, because RSS and file sizes are read against binary limits (`200MiB`).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// One observed value for humans. Text, JSON and maps are JSON-encoded, which also makes
/// any control characters inside them visible as escapes.
pub(crate) fn render_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => human_number(*n),
        Value::Text(s) => serde_json::Value::String(s.clone()).to_string(),
        Value::Duration(d) => human_duration(*d),
        Value::Bytes(n) => human_bytes(*n),
        Value::Json(v) => v.to_string(),
        Value::Map(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
        .to_string(),
    }
}

fn human_number(n: f64) -> String {
    // Status codes and counts are whole numbers; print `200`, not `200.0`.
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// `status == 200: expected 200, got 503 (actual: 503)`.
pub(crate) fn judgement_line(j: &Judgement) -> String {
    match (&j.reason, &j.actual) {
        // Most reasons already quote the actual value ("expected == 200, got 503").
        (Some(reason), Some(actual)) if !reason.contains(actual.as_str()) => {
            format!("{}: {reason} (actual: {actual})", j.condition)
        }
        (Some(reason), _) => format!("{}: {reason}", j.condition),
        (None, Some(actual)) => format!("{} did not hold (actual: {actual})", j.condition),
        (None, None) => format!("{} did not hold", j.condition),
    }
}

pub(crate) fn failed_judgements(r: &CheckResult) -> impl Iterator<Item = &Judgement> {
    r.judgements.iter().filter(|j| !j.passed)
}

/// Findings that count toward the verdict: everything except drift under a waiver in force.
pub(crate) fn counted_findings(r: &CheckResult) -> impl Iterator<Item = &Finding> {
    r.findings
        .iter()
        .filter(|f| f.status != FindingStatus::Waived)
}

pub(crate) fn waived_findings(r: &CheckResult) -> impl Iterator<Item = &Finding> {
    r.findings
        .iter()
        .filter(|f| f.status == FindingStatus::Waived)
}

/// `probes::router.chat`: the name nextest and JUnit consumers know the check by.
pub(crate) fn full_name(r: &CheckResult) -> String {
    format!("{}::{}", r.suite, r.id)
}

/// The one-line reason shown beside a result, empty for a clean pass.
pub(crate) fn headline(r: &CheckResult) -> String {
    let first_line = |s: &str| s.lines().next().unwrap_or_default().to_string();
    match r.verdict {
        Verdict::Pass if r.flaky => format!("flaky: passed on attempt {}", r.attempts),
        Verdict::Pass => String::new(),
        Verdict::Blocked => match &r.blocked_by {
            Some(dep) => format!("blocked by {dep}"),
            None => "blocked by a dependency".to_string(),
        },
        Verdict::Skip => r
            .message
            .as_deref()
            .map(first_line)
            .unwrap_or_else(|| "skipped".to_string()),
        Verdict::Fail | Verdict::Drift | Verdict::Error => match &r.message {
            Some(message) => first_line(message),
            // The short reason only: reporters list every failed judgement and finding in
            // full below.
            None => failed_judgements(r)
                .next()
                .map(|j| j.reason.clone().unwrap_or_else(|| judgement_line(j)))
                .or_else(|| {
                    counted_findings(r)
                        .next()
                        .map(|f| first_line(&format!("{}: {}", f.subject, f.message)))
                })
                .unwrap_or_else(|| "no reason recorded".to_string()),
        },
    }
}

/// How one phase of a drill went, named the same way in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhaseMark {
    Ok,
    /// Happened, but later than its budget.
    Over,
    /// Happened, and the drill still judged it not ok (a restore action that failed, or a
    /// phase the drill rejected within its budget).
    Failed,
    /// Never happened before the drill gave up.
    Never,
}

impl PhaseMark {
    pub(crate) fn of(e: &TimelineEvent) -> PhaseMark {
        // `at` decides "never" even if `ok` claims otherwise: a phase that did not happen
        // cannot have gone well, and the report must not say it did.
        match (e.at, e.budget) {
            (None, _) => PhaseMark::Never,
            _ if e.ok => PhaseMark::Ok,
            (Some(at), Some(budget)) if at > budget => PhaseMark::Over,
            (Some(_), _) => PhaseMark::Failed,
        }
    }

    /// The word a reader must not miss; `None` for a phase that went well and for `never`
    /// (its time column already says so).
    pub(crate) fn word(self) -> Option<&'static str> {
        match self {
            PhaseMark::Ok | PhaseMark::Never => None,
            PhaseMark::Over => Some("OVER"),
            PhaseMark::Failed => Some("FAILED"),
        }
    }
}

/// `t+112ms`, `t+1.62s` since the fault was injected, or `never`.
pub(crate) fn since_fault(at: Option<Duration>) -> String {
    match at {
        Some(d) => format!("t+{}", phase_time(d)),
        None => "never".to_string(),
    }
}

/// [`render_duration`], but with hundredths between one second and a minute: budgets are
/// whole seconds, and a recovery after 3.04s must not read `3s` beside a `3s` budget.
fn phase_time(d: Duration) -> String {
    if (Duration::from_secs(1)..Duration::from_secs(60)).contains(&d) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        render_duration(d)
    }
}

/// A piece of a report line. `bad` pieces are what the reader must not miss: the terminal
/// paints them red, formats without colour carry their words alone.
#[derive(Debug)]
pub(crate) struct Span {
    pub(crate) text: String,
    pub(crate) bad: bool,
}

fn plain(text: String) -> Span {
    Span { text, bad: false }
}

fn bad(text: String) -> Span {
    Span { text, bad: true }
}

/// The whole line as text, for formats without colour.
pub(crate) fn line_text(spans: &[Span]) -> String {
    spans.iter().map(|s| s.text.as_str()).collect()
}

/// A drill's timeline for humans: `timeline (poll 50ms):`, then, indented by two spaces, one
/// line per phase (name, time since the fault, budget, what was seen), per check that had to
/// stay green, and per service whose resources were sampled. The text is raw: each reporter
/// escapes it its own way.
pub(crate) fn timeline_lines(t: &Timeline) -> Vec<Vec<Span>> {
    let mut lines = vec![vec![plain(format!(
        "timeline (poll {}):",
        render_duration(t.poll)
    ))]];
    for e in &t.events {
        let mark = PhaseMark::of(e);
        let budget = e
            .budget
            .map(|b| format!("≤ {}", render_duration(b)))
            .unwrap_or_default();
        let at = since_fault(e.at);
        // Padded outside the painted text, so colour never runs into the gap.
        let pad = " ".repeat(9usize.saturating_sub(at.chars().count()));
        let mut line = vec![plain(format!("  {:<10} ", e.phase))];
        line.push(if mark == PhaseMark::Ok {
            plain(at)
        } else {
            bad(at)
        });
        line.push(plain(format!("{pad} {budget:<8} ")));
        if let Some(word) = mark.word() {
            line.push(bad(word.to_string()));
            line.push(plain(" ".to_string()));
        }
        line.push(plain(e.detail.clone()));
        lines.push(line);
    }
    for u in &t.unaffected {
        lines.push(unaffected_line(u));
    }
    for r in &t.resources {
        lines.push(vec![plain(format!(
            "  {:<10} {} rss max {}, swap max {} ({})",
            "resources",
            r.service,
            render_size(r.rss_max),
            render_size(r.swap_max),
            count(r.samples, "sample")
        ))]);
    }
    lines
}

/// `unaffected hub.state went red at t+340ms (12 polls): <detail>`.
fn unaffected_line(u: &Unaffected) -> Vec<Span> {
    let mut line = vec![plain(format!("  {:<10} {} ", "unaffected", u.check))];
    line.push(match u.red_at {
        Some(_) => bad(format!("went red at {}", since_fault(u.red_at))),
        None => plain("stayed green".to_string()),
    });
    let mut rest = format!(" ({})", count(u.polls, "poll"));
    if let Some(detail) = &u.detail {
        rest.push_str(": ");
        rest.push_str(detail);
    }
    line.push(plain(rest));
    line
}

/// The timeline as `name = value` lines (JUnit properties style): the poll resolution and
/// one line per phase, e.g. `timeline.detect = 112ms (budget 2s)`, `timeline.steady = never
/// (budget 10s)`, `timeline.recover = 4.21s (budget 3s) OVER`.
pub(crate) fn timeline_properties(t: &Timeline) -> Vec<String> {
    let mut lines = vec![format!("timeline.poll = {}", render_duration(t.poll))];
    for e in &t.events {
        let mut value = e.at.map(phase_time).unwrap_or_else(|| "never".to_string());
        if let Some(budget) = e.budget {
            value.push_str(&format!(" (budget {})", render_duration(budget)));
        }
        if let Some(word) = PhaseMark::of(e).word() {
            value.push(' ');
            value.push_str(word);
        }
        lines.push(format!("timeline.{} = {value}", e.phase));
    }
    lines
}

/// `1 poll`, `24 polls`.
fn count(n: u32, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// What a proof showed, in one line: `red after 120ms under hang-chat`, `stayed green under
/// wrong-answer`, or (unproven, error) the first line of its detail.
pub(crate) fn proof_headline(p: &Proof) -> String {
    let fault = p.fault.as_deref().unwrap_or("no fault");
    match (p.status, p.red_after) {
        (ProofStatus::Proven, Some(at)) => {
            format!("red after {} under {fault}", human_duration(at))
        }
        (ProofStatus::Proven, None) => format!("red under {fault}"),
        (ProofStatus::Vacuous, _) => format!("stayed green under {fault}"),
        (ProofStatus::Unproven | ProofStatus::Error, _) => {
            p.detail.lines().next().unwrap_or_default().to_string()
        }
    }
}

/// A proof that fails the run (the binary decides the exit code the same way): a vacuous P0
/// check, or a proof that could not be run on a check that was green.
pub(crate) fn proof_fails(r: &CheckResult) -> bool {
    match r.proof.as_ref().map(|p| p.status) {
        Some(ProofStatus::Vacuous) => r.severity == Severity::P0,
        Some(ProofStatus::Error) => r.verdict == Verdict::Pass,
        _ => false,
    }
}

/// `proof: 13 proven, 1 vacuous, 6 unproven, 0 error`; `None` when the run did not prove.
pub(crate) fn proof_counts(s: &RunSummary) -> Option<String> {
    let statuses: Vec<ProofStatus> = s
        .results
        .iter()
        .filter_map(|r| r.proof.as_ref().map(|p| p.status))
        .collect();
    if statuses.is_empty() {
        return None;
    }
    let n = |status| statuses.iter().filter(|s| **s == status).count();
    Some(format!(
        "proof: {} proven, {} vacuous, {} unproven, {} error",
        n(ProofStatus::Proven),
        n(ProofStatus::Vacuous),
        n(ProofStatus::Unproven),
        n(ProofStatus::Error)
    ))
}

/// The worst per-check monitoring state of the run. A run that proved nothing (no results,
/// or everything skipped) is `SKIPPED`, never `HEALTHY`: an empty wall is not a green wall.
pub fn overall_state(summary: &RunSummary) -> &'static str {
    let rank = |state: &str| match state {
        "FAILED" => 4,
        "DRIFT" => 3,
        "BLOCKED" => 2,
        "HEALTHY" => 1,
        _ => 0,
    };
    summary
        .results
        .iter()
        .map(|r| r.verdict.state())
        .max_by_key(|s| rank(s))
        .unwrap_or("SKIPPED")
}

pub(crate) fn run_duration(summary: &RunSummary) -> Duration {
    summary
        .finished_at
        .duration_since(summary.info.started_at)
        .unwrap_or_default()
}

/// `9999-12-31T23:59:59Z`: later times are clamped to it, earlier-than-epoch times to the
/// epoch, so every timestamp we emit is valid RFC 3339 (four-digit year).
const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// Seconds and milliseconds since the Unix epoch, clamped to what RFC 3339 can express.
pub(crate) fn clamped_unix(t: SystemTime) -> (u64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() > MAX_UNIX_SECONDS => (MAX_UNIX_SECONDS, 999),
        Ok(d) => (d.as_secs(), d.subsec_millis()),
        Err(_) => (0, 0),
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-27T09:34:00.125Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let (secs, millis) = clamped_unix(t);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm,
/// restricted to non-negative days, which is all [`clamped_unix`] yields).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Drops ANSI escape sequences whole (`ESC [ ... final byte`), so files do not carry `[31m`
/// debris, and then every character `keep` rejects.
pub(crate) fn strip_ansi(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for next in chars.by_ref() {
                if ('@'..='~').contains(&next) {
                    break;
                }
            }
        } else if keep(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1_000 + millis)
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        let cases = [
            (at(0, 0), "1970-01-01T00:00:00.000Z"),
            (at(951_782_400, 5), "2000-02-29T00:00:00.005Z"),
            (at(1_709_164_800, 0), "2024-02-29T00:00:00.000Z"),
            (at(1_795_772_040, 125), "2026-11-27T09:34:00.125Z"),
            (at(4_102_444_799, 999), "2099-12-31T23:59:59.999Z"),
            (at(MAX_UNIX_SECONDS, 0), "9999-12-31T23:59:59.000Z"),
        ];
        for (t, expected) in cases {
            assert_eq!(rfc3339(t), expected);
        }
    }

    #[test]
    fn rfc3339_clamps_out_of_range_times() {
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(10)),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339(at(MAX_UNIX_SECONDS + 86_400 * 400, 0)),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn durations_read_like_a_human_wrote_them() {
        let cases = [
            (Duration::from_micros(412), "412µs"),
            (Duration::from_millis(12), "12ms"),
            (Duration::from_millis(1_234), "1.2s"),
            (Duration::from_secs(125), "2m05s"),
            (Duration::from_secs(3_725), "1h02m05s"),
        ];
        for (d, expected) in cases {
            assert_eq!(human_duration(d), expected);
        }
    }

    fn phase(at_ms: Option<u64>, budget_ms: Option<u64>, ok: bool) -> TimelineEvent {
        TimelineEvent {
            phase: "recover".into(),
            at: at_ms.map(Duration::from_millis),
            budget: budget_ms.map(Duration::from_millis),
            ok,
            detail: String::new(),
        }
    }

    #[test]
    fn a_phase_is_marked_by_what_its_numbers_say() {
        let cases = [
            (
                phase(Some(1_620), Some(3_000), true),
                PhaseMark::Ok,
                "1.62s (budget 3s)",
            ),
            (
                phase(Some(3_040), Some(3_000), false),
                PhaseMark::Over,
                "3.04s (budget 3s) OVER",
            ),
            // Rejected within budget (e.g. served by the wrong backend): not "over".
            (
                phase(Some(900), Some(3_000), false),
                PhaseMark::Failed,
                "900ms (budget 3s) FAILED",
            ),
            (
                phase(Some(5_050), None, false),
                PhaseMark::Failed,
                "5.05s FAILED",
            ),
            (
                phase(None, Some(5_000), false),
                PhaseMark::Never,
                "never (budget 5s)",
            ),
            // A phase that never happened is never reported as fine.
            (phase(None, None, true), PhaseMark::Never, "never"),
            (
                phase(Some(125_000), Some(180_000), true),
                PhaseMark::Ok,
                "2m5s (budget 3m)",
            ),
        ];
        for (event, mark, property) in cases {
            assert_eq!(PhaseMark::of(&event), mark, "{event:?}");
            let timeline = Timeline {
                poll: Duration::from_millis(50),
                events: vec![event],
                unaffected: Vec::new(),
                resources: Vec::new(),
            };
            assert_eq!(
                timeline_properties(&timeline),
                [
                    "timeline.poll = 50ms".to_string(),
                    format!("timeline.recover = {property}")
                ]
            );
        }
    }

    #[test]
    fn values_render_compactly() {
        assert_eq!(render_value(&Value::Number(200.0)), "200");
        assert_eq!(render_value(&Value::Number(0.25)), "0.25");
        assert_eq!(render_value(&Value::Bytes(512)), "512 B");
        assert_eq!(render_value(&Value::Bytes(200 * 1024 * 1024)), "200.0 MiB");
        assert_eq!(
            render_value(&Value::Text("a\u{1b}b".into())),
            r#""a\u001bb""#
        );
    }
}
