//! The Markdown summary: what a person reads in a CI job summary or a release note.
//!
//! Owns: its layout and the escaping of user text into Markdown tables. Must not touch:
//! deciding exit codes; it states what the results say.

use auditwall_harness::result::{
    CheckResult, CoverageSummary, Finding, FindingStatus, ProofStatus, RunSummary, Timeline,
    Verdict,
};
use auditwall_spec::{render_duration, render_size};

use crate::format::{
    failed_judgements, full_name, headline, human_duration, judgement_line, overall_state,
    proof_counts, proof_fails, rfc3339, run_duration, since_fault, strip_ansi, PhaseMark,
};

/// Title with the wall and its overall state, run facts, a counts table, a table of every
/// check that did not pass cleanly (with reasons), every check's findings (diffs in fenced
/// `diff` blocks), every drill's measured timeline, the flaky checks, and (for a proved run)
/// every check's proof.
/// The coverage of the spec surface in one sentence (terminal and Markdown share it).
pub fn coverage_sentence(c: &CoverageSummary) -> String {
    format!(
        "Spec-surface coverage: {} of {} cells L4-green ({:.1}%); {} claimed by a scenario, {} blocked.",
        c.green,
        c.target(),
        c.percent(),
        c.claimed,
        c.blocked
    )
}

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
    if let Some(c) = &summary.coverage {
        md.push_str(&format!("\n{}\n", coverage_sentence(c)));
    }

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

    let with_findings: Vec<&CheckResult> = summary
        .results
        .iter()
        .filter(|r| !r.findings.is_empty())
        .collect();
    if !with_findings.is_empty() {
        md.push_str("\n## Findings\n");
        for r in with_findings {
            md.push_str(&format!(
                "\n### `{}` ({})\n",
                code(&full_name(r)),
                r.verdict
            ));
            for f in &r.findings {
                push_finding(&mut md, f);
            }
        }
    }

    let drills: Vec<(&CheckResult, &Timeline)> = summary
        .results
        .iter()
        .filter_map(|r| r.timeline.as_ref().map(|t| (r, t)))
        .collect();
    if !drills.is_empty() {
        md.push_str("\n## Drills\n");
        for (r, t) in drills {
            push_drill(&mut md, r, t);
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
    if let Some(counts) = proof_counts(summary) {
        push_proofs(&mut md, summary, &counts);
    }
    md
}

/// The counts, then one row per check with a proof: the fault, the status (bold when it fails
/// the run), when it turned red, and what the check said.
fn push_proofs(md: &mut String, summary: &RunSummary, counts: &str) {
    md.push_str(&format!(
        "\n## Proof\n\n{}.\n\n| check | severity | fault | proof | red after | detail |\n|---|---|---|---|---:|---|\n",
        inline(counts)
    ));
    for r in &summary.results {
        let Some(p) = &r.proof else {
            continue;
        };
        let status = match p.status {
            ProofStatus::Vacuous => "VACUOUS",
            other => other.as_str(),
        };
        let status = if proof_fails(r) {
            format!("**{status}**")
        } else {
            status.to_string()
        };
        md.push_str(&format!(
            "| `{}` | {} | {} | {status} | {} | {} |\n",
            code(&full_name(r)),
            r.severity,
            p.fault
                .as_deref()
                .map(|f| format!("`{}`", code(f)))
                .unwrap_or_default(),
            p.red_after.map(human_duration).unwrap_or_default(),
            cell(&p.detail)
        ));
    }
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

/// A paragraph `**status** `subject`: message`, then the diff of a finding that counts. A
/// waived finding's diff stays in the JSON report: it was looked at when the waiver was given.
fn push_finding(md: &mut String, f: &Finding) {
    md.push_str(&format!(
        "\n**{}** `{}`: {}\n",
        f.status.as_str(),
        code(&f.subject),
        // `<br>`, not a newline: a continuation line starting with `#` or `-` would turn
        // into a heading or a list.
        inline(&f.message).trim_end().replace('\n', "<br>")
    ));
    let diff = match &f.diff {
        Some(diff) if f.status != FindingStatus::Waived => diff,
        _ => return,
    };
    // Tabs are content in a diff (Makefiles, Go); every other control character is dropped.
    let diff = strip_ansi(diff, |c| !c.is_control() || c == '\n' || c == '\t');
    let fence = "`".repeat(longest_backtick_run(&diff).max(2) + 1);
    md.push_str(&format!("\n{fence}diff\n{diff}"));
    if !diff.ends_with('\n') {
        md.push('\n');
    }
    md.push_str(&fence);
    md.push('\n');
}

/// A heading, one table of phases (times since the fault), then a table of the checks that
/// had to stay green and one of resource peaks, each only when the drill recorded any.
fn push_drill(md: &mut String, r: &CheckResult, t: &Timeline) {
    md.push_str(&format!(
        "\n### `{}` ({})\n\nPolled every {}; times are since the fault was injected.\n\n\
         | phase | at | budget | ok | detail |\n|---|---:|---:|---|---|\n",
        code(&full_name(r)),
        r.verdict,
        render_duration(t.poll)
    ));
    for e in &t.events {
        let ok = match PhaseMark::of(e) {
            PhaseMark::Ok => "yes",
            PhaseMark::Over => "**over budget**",
            PhaseMark::Failed => "**failed**",
            PhaseMark::Never => "**never**",
        };
        md.push_str(&format!(
            "| {} | {} | {} | {ok} | {} |\n",
            cell(&e.phase),
            since_fault(e.at),
            e.budget.map(render_duration).unwrap_or_default(),
            cell(&e.detail)
        ));
    }
    if !t.unaffected.is_empty() {
        md.push_str("\n| had to stay green | polls | went red | detail |\n|---|---:|---:|---|\n");
        for u in &t.unaffected {
            let red = match u.red_at {
                Some(_) => format!("**{}**", since_fault(u.red_at)),
                None => "no".to_string(),
            };
            md.push_str(&format!(
                "| `{}` | {} | {red} | {} |\n",
                code(&u.check),
                u.polls,
                cell(u.detail.as_deref().unwrap_or_default())
            ));
        }
    }
    if !t.resources.is_empty() {
        md.push_str("\n| service | rss max | swap max | samples |\n|---|---:|---:|---:|\n");
        for p in &t.resources {
            md.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                code(&p.service),
                render_size(p.rss_max),
                render_size(p.swap_max),
                p.samples
            ));
        }
    }
}

/// A fence closes only on a backtick run at least as long as the opening one, so one longer
/// than any run in the text cannot be closed early by it.
fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
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
