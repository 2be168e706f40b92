//! JUnit XML: one `testsuite` per suite, one `testcase` per check (`classname` = suite,
//! `name` = check id, so CI shows `suite::check_id` like nextest does).
//!
//! Owns: the mapping of verdicts onto JUnit elements and the sanitizing of every string that
//! reaches the XML. Must not touch: deciding exit codes or what counts as failure; the
//! verdicts arrive decided.

use std::io::Write;
use std::time::SystemTime;

use auditwall_harness::result::{CheckResult, Finding, ProofStatus, RunSummary, Verdict};
use auditwall_spec::Suite;
use junit_report::{OffsetDateTime, Report, TestCase, TestCaseBuilder, TestSuite};

use crate::error::{Kind, ReportError};
use crate::format::{
    clamped_unix, counted_findings, failed_judgements, headline, judgement_line, line_text,
    proof_fails, proof_headline, render_value, strip_ansi, timeline_lines, timeline_properties,
    waived_findings,
};

/// Writes the run as JUnit XML.
///
/// Failures and drifts become `<failure type="fail|drift">`, errors `<error type="error">`,
/// with the reason both in the `message` attribute (one line) and in the element text (full:
/// every failed judgement, and every finding that counts with its whole diff). Waived
/// findings go to `system-out`, so CI readers see what was let through. Skips and blocked
/// checks become `<skipped>`. A flaky pass stays a pass (JUnit consumers would otherwise hide
/// it among real failures) with a `flaky: passed on attempt N` note in its `system-out`,
/// beside the observations.
///
/// A drill's timeline goes into its `system-out` (pass or not) as `timeline.<phase> = …`
/// lines and the full timeline text, and a failing drill's failure text repeats the timeline
/// so CI shows the measured numbers. They are not `<properties>` elements: `junit-report`
/// 0.9 cannot write properties on a testcase.
///
/// A proved run adds a `proof = <status>: …` line to every testcase's `system-out`. A check
/// whose proof fails the run is a `<failure>` even though it passed: `type="vacuous"` for a
/// vacuous P0 check, `type="proof_error"` for a green check whose control could not be run.
pub fn write_junit(summary: &RunSummary, out: &mut impl Write) -> Result<(), ReportError> {
    let mut report = Report::new();
    for suite in Suite::ALL {
        let results: Vec<&CheckResult> = summary
            .results
            .iter()
            .filter(|r| r.suite == suite)
            .collect();
        if results.is_empty() {
            continue;
        }
        let mut ts = TestSuite::new(suite.as_str());
        ts.hostname = attr(&summary.info.host);
        ts.set_timestamp(timestamp(summary.info.started_at));
        ts.add_testcases(results.into_iter().map(testcase));
        report.add_testsuite(ts);
    }
    report.write_xml(out).map_err(|e| match e {
        junit_report::Error::Io(io) => ReportError::new(Kind::Write, io),
        junit_report::Error::Xml(xml) => ReportError::new(Kind::Junit, xml),
    })
}

fn testcase(r: &CheckResult) -> TestCase {
    let name = attr(&r.id);
    let time = seconds(r.duration);
    let mut builder = match r.verdict {
        Verdict::Pass => match &r.proof {
            Some(proof) if proof_fails(r) => {
                let kind = match proof.status {
                    ProofStatus::Vacuous => "vacuous",
                    _ => "proof_error",
                };
                let message = attr(&format!("{kind}: {}", proof_headline(proof)));
                let mut b = TestCaseBuilder::failure(&name, time, kind, &message);
                b.set_trace(&cdata(&format!("{}\nat {}\n", proof.detail, r.origin)));
                b
            }
            _ => TestCaseBuilder::success(&name, time),
        },
        Verdict::Fail | Verdict::Drift => {
            let mut b = TestCaseBuilder::failure(&name, time, r.verdict.as_str(), &message(r));
            b.set_trace(&cdata(&details(r)));
            b
        }
        Verdict::Error => {
            let mut b = TestCaseBuilder::error(&name, time, "error", &message(r));
            b.set_trace(&cdata(&details(r)));
            b
        }
        Verdict::Skip | Verdict::Blocked => {
            let mut b =
                TestCaseBuilder::skipped_with_cause(&name, r.verdict.as_str(), &attr(&headline(r)));
            b.testcase.time = time;
            b
        }
    };
    builder
        .set_classname(r.suite.as_str())
        .set_filepath(&attr(&r.origin.file));
    let out = system_out(r);
    if !out.is_empty() {
        builder.set_system_out(&cdata(&out));
    }
    builder.build()
}

/// One line: the message (if any) and every failed judgement with its actual value.
fn message(r: &CheckResult) -> String {
    let mut parts: Vec<String> = r
        .message
        .iter()
        .flat_map(|m| m.lines())
        .map(str::to_string)
        .collect();
    parts.extend(failed_judgements(r).map(judgement_line));
    if parts.is_empty() {
        parts.push(headline(r));
    }
    attr(&parts.join("; "))
}

/// The full reason, one fact per line, ending with where the check was written.
fn details(r: &CheckResult) -> String {
    let mut text = String::new();
    if let Some(message) = &r.message {
        text.push_str(message);
        text.push('\n');
    }
    for j in failed_judgements(r) {
        text.push_str(&format!("- {}\n", judgement_line(j)));
    }
    for f in counted_findings(r) {
        text.push_str(&finding_line(f));
        // The diff as is, unindented, so it can be copied out of CI and applied.
        if let Some(diff) = &f.diff {
            text.push_str(diff);
            if !diff.ends_with('\n') {
                text.push('\n');
            }
        }
    }
    push_timeline(&mut text, r);
    text.push_str(&format!("at {}\n", r.origin));
    text
}

/// The timeline as the terminal prints it, without colour, one line each.
fn push_timeline(text: &mut String, r: &CheckResult) {
    for line in r.timeline.iter().flat_map(timeline_lines) {
        text.push_str(&line_text(&line));
        text.push('\n');
    }
}

/// `drift  /srv/router.yaml: content differs from canonical\n`, without the diff.
fn finding_line(f: &Finding) -> String {
    format!("{}  {}: {}\n", f.status.as_str(), f.subject, f.message)
}

fn system_out(r: &CheckResult) -> String {
    let mut text = String::new();
    if r.flaky {
        text.push_str(&format!("flaky: passed on attempt {}\n", r.attempts));
    }
    if let Some(proof) = &r.proof {
        text.push_str(&format!(
            "proof = {}: {}\n",
            proof.status.as_str(),
            proof_headline(proof)
        ));
    }
    for f in waived_findings(r) {
        text.push_str(&finding_line(f));
    }
    for property in r.timeline.iter().flat_map(timeline_properties) {
        text.push_str(&property);
        text.push('\n');
    }
    push_timeline(&mut text, r);
    for (name, value) in &r.observations.values {
        text.push_str(&format!("{name} = {}\n", render_value(value)));
    }
    text
}

/// Time offsets beyond this are clamped: `junit-report` sums test times and panics on
/// overflow, and no check runs for 136 years.
const MAX_CASE_SECONDS: u64 = u32::MAX as u64;

fn seconds(d: std::time::Duration) -> junit_report::Duration {
    let secs = d.as_secs().min(MAX_CASE_SECONDS);
    junit_report::Duration::new(secs as i64, d.subsec_nanos() as i32)
}

fn timestamp(t: SystemTime) -> OffsetDateTime {
    let (secs, millis) = clamped_unix(t);
    let nanos = i128::from(secs) * 1_000_000_000 + i128::from(millis) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A character XML 1.0 can carry at all (tab, newline, carriage return, and everything from
/// U+0020 up except U+FFFE and U+FFFF; Rust `char`s are never surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn strip_invalid(text: &str) -> String {
    strip_ansi(text, is_xml_char)
}

/// Attribute text: valid characters only, on one line (parsers fold newlines in attributes
/// to spaces anyway; doing it here keeps what CI shows equal to what we wrote).
fn attr(text: &str) -> String {
    strip_invalid(text).replace(['\r', '\n', '\t'], " ")
}

/// CDATA text: valid characters only, and every `]]>` split across two CDATA sections
/// (`]]` ends one, `>` starts the next), so the text reads back unchanged.
fn cdata(text: &str) -> String {
    strip_invalid(text).replace("]]>", "]]]]><![CDATA[>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_what_xml_cannot_carry() {
        assert_eq!(
            strip_invalid("a\u{0}b\u{1b}[31mred\u{1b}[0m\u{7}\u{FFFE}\u{FFFF}\t\n\r<&"),
            "abred\t\n\r<&"
        );
    }

    #[test]
    fn an_unterminated_escape_sequence_eats_only_the_rest() {
        assert_eq!(strip_invalid("ok\u{1b}[31"), "ok");
        assert_eq!(strip_invalid("ok\u{1b}x"), "okx");
    }

    #[test]
    fn cdata_splits_the_terminator_across_two_sections() {
        assert_eq!(cdata("a]]>b"), "a]]]]><![CDATA[>b");
    }
}
