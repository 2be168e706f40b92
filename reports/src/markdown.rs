//! The Markdown summary: what a person reads in a CI job summary or a release note.
//!
//! Owns: its layout and the escaping of user text into Markdown tables. Must not touch:
//! deciding exit codes; it states what the results say.

use auditwall_harness::result::{CheckResult, RunSummary, Verdict};

use crate::format::{
    failed_judgements, full_name, headline, human_duration, judgement_line, overall_state, rfc3339,
    run_duration, strip_ansi,
};

/// Title with the wall and its overall state, run facts, a counts table, a table of every
/// check that did not pass cleanly (with reasons), and the flaky checks.
pub fn render_markdown(summary: &RunSummary) -> String {
    let info = &summary.info;
    let mut md = format!(
        "# auditwall: {} — {}\n\n",
        inline(&info.wall),
        overall_state(summary)
    );
    md.push_str(&format!(
        "Run `{}` of `{}` on `{}`, profile `{}` (`{}`), commit {}, started {}, took {}.\n\n",
        code(&info.run_id),
        code(&info.wall_source),
        code(&info.host),
        code(&info.profile_name),
        code(short_digest(&info.profile_digest)),
        info.git_commit
            .as_deref()
            .map(|c| format!("`{}`", code(c)))
            .unwrap_or_else(|| "unknown".to_string()),
        rfc3339(info.started_at),
        human_duration(run_duration(summary))
    ));
    if summary.deadline_exceeded {
        md.push_str(
            "> **Deadline exceeded.** The run stopped before every check finished; \
             unfinished checks are reported as `error`.\n\n",
        );
    }
    if summary.interrupted {
        md.push_str(
            "> **Interrupted.** The run was stopped before every check finished; \
             unfinished checks are reported as `error`.\n\n",
        );
    }

    md.push_str("| verdict | checks |\n|---|---:|\n");
    let verdicts = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Drift,
        Verdict::Error,
        Verdict::Skip,
        Verdict::Blocked,
    ];
    for v in verdicts {
        md.push_str(&format!("| {v} | {} |\n", summary.count(v)));
    }
    md.push_str(&format!(
        "| flaky (passed on retry) | {} |\n",
        summary.flaky()
    ));
    md.push_str(&format!("| **total** | **{}** |\n", summary.results.len()));

    let not_passing: Vec<&CheckResult> = summary
        .results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .collect();
    if !not_passing.is_empty() {
        md.push_str(
            "\n## Not passing\n\n| check | verdict | severity | reason |\n|---|---|---|---|\n",
        );
        for r in not_passing {
            md.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                code(&full_name(r)),
                r.verdict,
                r.severity,
                cell(&reason(r))
            ));
        }
    }

    let flaky: Vec<&CheckResult> = summary.results.iter().filter(|r| r.flaky).collect();
    if !flaky.is_empty() {
        md.push_str("\n## Flaky\n\n");
        for r in flaky {
            md.push_str(&format!(
                "- `{}` passed on attempt {}\n",
                code(&full_name(r)),
                r.attempts
            ));
        }
    }
    md
}

/// The whole message (for blocked checks: what blocked them) and every failed judgement,
/// each on its own line within the cell.
fn reason(r: &CheckResult) -> String {
    let mut lines: Vec<String> = match r.verdict {
        Verdict::Blocked => vec![headline(r)],
        _ => r.message.iter().cloned().collect(),
    };
    lines.extend(failed_judgements(r).map(judgement_line));
    if lines.is_empty() {
        lines.push(headline(r));
    }
    lines.join("\n")
}

fn short_digest(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

fn strip_controls(text: &str) -> String {
    strip_ansi(text, |c| !c.is_control() || c == '\n')
}

/// Text in a table cell: no pipes (they end the cell), no raw HTML, lines as `<br>`.
fn cell(text: &str) -> String {
    inline(text).replace('\n', "<br>")
}

/// Text outside code spans: HTML-escaped so a service's answer cannot inject markup.
fn inline(text: &str) -> String {
    strip_controls(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// Text inside a single-backtick code span: a backtick would end the span early, and a pipe
/// would still end a table cell.
fn code(text: &str) -> String {
    strip_controls(text)
        .replace('\n', " ")
        .replace('`', "'")
        .replace('|', "\\|")
}
