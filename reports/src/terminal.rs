//! Live terminal output: one line per finished check, reasons under failures, a drill's
//! timeline under every drill that measured one, a summary; then, when the run proves its
//! checks, one line per negative control and a proof summary.
//!
//! Owns: the human, streaming view of the event stream. Must not touch: deciding exit codes,
//! reading the environment (the binary decides colour from isatty / NO_COLOR / CLICOLOR_FORCE
//! and passes a [`TermStyle`]), or writing from more than one thread (one owner, one writer).

use std::collections::BTreeMap;
use std::io::{self, Write};

use auditwall_harness::event::Event;
use auditwall_harness::prove::ProofEvent;
use auditwall_harness::result::{
    CheckResult, CoverageSummary, FindingStatus, ProofStatus, RunInfo, RunSummary, Verdict,
};

use crate::format::{
    failed_judgements, full_name, headline, human_duration, judgement_line, overall_state,
    proof_counts, proof_fails, proof_headline, render_value, run_duration, timeline_lines,
};

/// How the terminal reporter draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermStyle {
    /// ANSI colours on verdicts and the summary.
    pub color: bool,
    /// Also print every check's observations.
    pub verbose: bool,
    /// Redraw a one-line "running" status; only sensible on an interactive terminal.
    pub progress: bool,
}

impl TermStyle {
    /// Colour and progress on a terminal; plain, redraw-free lines on a pipe. The binary
    /// then clears `color` for NO_COLOR (or sets it for CLICOLOR_FORCE) itself.
    pub fn for_tty(is_tty: bool) -> TermStyle {
        TermStyle {
            color: is_tty,
            verbose: false,
            progress: is_tty,
        }
    }
}

/// Longest observation value shown in verbose mode; bodies can be megabytes.
const MAX_VALUE_CHARS: usize = 200;
/// Longest progress line: a line that wraps cannot be erased by a carriage return.
const MAX_PROGRESS_CHARS: usize = 70;
/// Most findings listed under one check: a whole directory of drift must not scroll the rest
/// of the run off the screen. The JSON report has every one.
const MAX_FINDINGS: usize = 50;
/// Most diff lines shown under one check, over all its findings together.
const MAX_DIFF_LINES: usize = 200;
/// Longest diff line shown: a minified file is one line, possibly of megabytes.
const MAX_DIFF_LINE_CHARS: usize = 300;

const BOLD: &str = "1";
const RED: &str = "31";
const RED_BOLD: &str = "1;31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const YELLOW_BOLD: &str = "1;33";
const BLUE: &str = "34";
const MAGENTA: &str = "35";
const CYAN: &str = "36";
const DIM: &str = "2";

/// Streams events to `out` as they arrive.
pub struct Terminal<W: Write> {
    out: W,
    style: TermStyle,
    planned: usize,
    finished: usize,
    /// Checks started and not yet finished, in start order (for the progress line).
    running: Vec<String>,
    /// Reasons of failed attempts, printed under the check once it finishes so that
    /// concurrent checks never interleave their lines.
    retries: BTreeMap<String, Vec<(u32, String)>>,
    progress_drawn: bool,
}

impl<W: Write> Terminal<W> {
    pub fn new(out: W, style: TermStyle) -> Self {
        Terminal {
            out,
            style,
            planned: 0,
            finished: 0,
            running: Vec::new(),
            retries: BTreeMap::new(),
            progress_drawn: false,
        }
    }

    pub fn on_event(&mut self, event: &Event) -> io::Result<()> {
        match event {
            Event::RunStarted { info } => {
                self.planned = info.planned;
                self.write_header(info)?;
                self.draw_progress()?;
            }
            Event::CheckStarted { id } => {
                self.running.push(id.clone());
                self.draw_progress()?;
            }
            Event::CheckRetrying {
                id,
                attempt,
                reason,
            } => {
                self.retries
                    .entry(id.clone())
                    .or_default()
                    .push((*attempt, reason.clone()));
            }
            Event::CheckFinished { result } => {
                self.clear_progress()?;
                if let Some(pos) = self.running.iter().position(|id| *id == result.id) {
                    self.running.remove(pos);
                }
                self.finished += 1;
                let retries = self.retries.remove(&result.id).unwrap_or_default();
                self.write_result(result, &retries)?;
                self.draw_progress()?;
            }
            Event::RunFinished { summary } => {
                self.clear_progress()?;
                self.running.clear();
                self.write_summary(summary)?;
            }
        }
        self.out.flush()
    }

    /// The run's spec-surface coverage, one line after the summary.
    pub fn coverage(&mut self, c: &CoverageSummary) -> io::Result<()> {
        writeln!(self.out, "  {}", crate::markdown::coverage_sentence(c))
    }

    /// The proving phase, after the run: a header, one line per check whose negative control
    /// ran or could not run (unproven checks only in verbose mode: they are counted anyway),
    /// what the check said under its fault, and the proof counts.
    pub fn on_proof(&mut self, event: &ProofEvent) -> io::Result<()> {
        match event {
            ProofEvent::Started { controls } => {
                self.planned = *controls;
                self.finished = 0;
                let line = format!(
                    "proof: running {} negative control{}, one at a time",
                    controls,
                    if *controls == 1 { "" } else { "s" }
                );
                writeln!(self.out)?;
                writeln!(self.out, "{}", self.paint(DIM, &line))?;
            }
            ProofEvent::Proving { id, fault } => {
                self.running = vec![format!("{id} under {fault}")];
                self.draw_progress()?;
            }
            ProofEvent::Proved { result } => {
                self.clear_progress()?;
                // Only a check whose control ran was `Proving`: it alone counts as progress.
                if !self.running.is_empty() {
                    self.running.clear();
                    self.finished += 1;
                }
                self.write_proof(result)?;
            }
            ProofEvent::Finished { summary } => {
                self.clear_progress()?;
                self.running.clear();
                if let Some(counts) = proof_counts(summary) {
                    let failed = summary.results.iter().any(proof_fails);
                    let color = if failed { RED_BOLD } else { GREEN };
                    writeln!(self.out)?;
                    writeln!(self.out, "  {}", self.paint(color, &counts))?;
                }
            }
        }
        self.out.flush()
    }

    fn write_proof(&mut self, r: &CheckResult) -> io::Result<()> {
        let Some(proof) = &r.proof else {
            return Ok(());
        };
        let (label, color) = match proof.status {
            ProofStatus::Proven => ("proven", GREEN),
            ProofStatus::Vacuous => ("VACUOUS", RED_BOLD),
            ProofStatus::Error => ("ERROR", MAGENTA),
            ProofStatus::Unproven => ("unproven", DIM),
        };
        if proof.status == ProofStatus::Unproven && !self.style.verbose {
            return Ok(());
        }
        writeln!(
            self.out,
            "  {} {:<38} {}",
            self.paint(color, &format!("{label:<8}")),
            clean(&full_name(r)),
            clean(&proof_headline(proof))
        )?;
        // Proven and vacuous lines say what happened; the detail says what the check said.
        if matches!(proof.status, ProofStatus::Proven | ProofStatus::Vacuous) {
            for text in proof.detail.lines() {
                writeln!(self.out, "      {}", clean(text))?;
            }
        } else {
            for text in proof.detail.lines().skip(1) {
                writeln!(self.out, "      {}", clean(text))?;
            }
        }
        Ok(())
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.style.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn write_header(&mut self, info: &RunInfo) -> io::Result<()> {
        let line = format!(
            "auditwall: wall {} from {}, {} planned (run {})",
            clean(&info.wall),
            clean(&info.wall_source),
            checks(info.planned),
            clean(&info.run_id)
        );
        writeln!(self.out, "{}", self.paint(DIM, &line))
    }

    fn write_result(&mut self, r: &CheckResult, retries: &[(u32, String)]) -> io::Result<()> {
        let (label, color) = match r.verdict {
            Verdict::Pass if r.flaky => ("FLAKY", YELLOW_BOLD),
            Verdict::Pass => ("PASS", GREEN),
            Verdict::Fail => ("FAIL", RED_BOLD),
            Verdict::Drift => ("DRIFT", YELLOW),
            Verdict::Error => ("ERROR", MAGENTA),
            Verdict::Skip => ("SKIP", DIM),
            Verdict::Blocked => ("BLOCKED", BLUE),
        };
        // A check that never ran has no duration worth showing.
        let duration = if r.attempts == 0 {
            String::new()
        } else {
            human_duration(r.duration)
        };
        let mut line = format!(
            "  {} {:<38} {}",
            self.paint(color, &format!("{label:<7}")),
            clean(&full_name(r)),
            self.paint(DIM, &format!("{duration:>7}"))
        );
        let reason = headline(r);
        if !reason.is_empty() {
            line.push_str("  ");
            line.push_str(&clean(&reason));
        }
        writeln!(self.out, "{line}")?;

        let explains_failure = matches!(r.verdict, Verdict::Fail | Verdict::Drift | Verdict::Error);
        if explains_failure {
            // The headline showed the first message line; the rest belongs underneath.
            let rest = r.message.as_deref().unwrap_or_default().lines().skip(1);
            for text in rest {
                writeln!(self.out, "      {}", clean(text))?;
            }
            for j in failed_judgements(r) {
                let mark = self.paint(color, "-");
                writeln!(self.out, "      {mark} {}", clean(&judgement_line(j)))?;
            }
        }
        // A passing check lists its (waived) findings too, but only as one line each: it is
        // the failing ones whose diffs the operator has to read.
        self.write_findings(r, explains_failure)?;
        // Always, not only in verbose mode or on failure: a drill that passed with a second
        // to spare and one that passed with a millisecond to spare must not look the same.
        if let Some(timeline) = &r.timeline {
            for spans in timeline_lines(timeline) {
                let line: String = spans
                    .iter()
                    .map(|s| {
                        let text = clean(&s.text);
                        if s.bad {
                            self.paint(RED_BOLD, &text)
                        } else {
                            text
                        }
                    })
                    .collect();
                writeln!(self.out, "      {line}")?;
            }
        }
        if r.verdict != Verdict::Pass || r.flaky {
            for (attempt, reason) in retries {
                let reason = clean(reason.lines().next().unwrap_or_default());
                writeln!(self.out, "      attempt {attempt} failed: {reason}")?;
            }
            let at = self.paint(DIM, &format!("at {}", clean(&r.origin.to_string())));
            writeln!(self.out, "      {at}")?;
        }
        if self.style.verbose {
            for (name, value) in &r.observations.values {
                let value = truncate(&clean(&render_value(value)), MAX_VALUE_CHARS);
                writeln!(self.out, "      {} = {value}", clean(name))?;
            }
        }
        Ok(())
    }

    /// One line per finding (`status  subject: message`), then, if `with_diffs`, the diff of
    /// each finding that counts toward the verdict, within the per-check caps.
    fn write_findings(&mut self, r: &CheckResult, with_diffs: bool) -> io::Result<()> {
        let mut diff_budget = MAX_DIFF_LINES;
        for f in r.findings.iter().take(MAX_FINDINGS) {
            let color = match f.status {
                FindingStatus::Drift | FindingStatus::WaiverExpired => YELLOW,
                FindingStatus::Error => MAGENTA,
                FindingStatus::Waived => DIM,
            };
            let status = self.paint(color, f.status.as_str());
            let mut message = f.message.split_terminator('\n');
            let first = message.next().unwrap_or_default();
            writeln!(
                self.out,
                "      {status}  {}: {}",
                clean(&f.subject),
                clean(first)
            )?;
            for line in message {
                writeln!(self.out, "        {}", clean(line))?;
            }
            let diff = match &f.diff {
                Some(diff) if with_diffs && f.status != FindingStatus::Waived => diff,
                _ => continue,
            };
            // Split on '\n' only: `lines()` would also eat a '\r', and a file that changed
            // to CRLF line endings must show that it did (as `\u{d}`).
            let mut lines = diff.split_terminator('\n');
            let mut in_header = true;
            for line in lines.by_ref().take(diff_budget) {
                diff_budget -= 1;
                let text = truncate(&clean(line), MAX_DIFF_LINE_CHARS);
                let text = match diff_color(line, &mut in_header) {
                    Some(code) => self.paint(code, &text),
                    None => text,
                };
                writeln!(self.out, "        {text}")?;
            }
            let hidden = lines.count();
            if hidden > 0 {
                let note = self.paint(
                    DIM,
                    &format!("... {hidden} more diff lines, see report.json"),
                );
                writeln!(self.out, "        {note}")?;
            }
        }
        let unlisted = r.findings.len().saturating_sub(MAX_FINDINGS);
        if unlisted > 0 {
            let note = self.paint(
                DIM,
                &format!("... {unlisted} more findings, see report.json"),
            );
            writeln!(self.out, "      {note}")?;
        }
        Ok(())
    }

    fn write_summary(&mut self, s: &RunSummary) -> io::Result<()> {
        let state = overall_state(s);
        let color = match state {
            "FAILED" => RED_BOLD,
            "DRIFT" | "BLOCKED" => YELLOW,
            "HEALTHY" => GREEN,
            _ => DIM,
        };
        let counts = format!(
            "{} in {}: {} pass ({} flaky), {} fail, {} drift, {} error, {} skip, {} blocked",
            checks(s.results.len()),
            human_duration(run_duration(s)),
            s.count(Verdict::Pass),
            s.flaky(),
            s.count(Verdict::Fail),
            s.count(Verdict::Drift),
            s.count(Verdict::Error),
            s.count(Verdict::Skip),
            s.count(Verdict::Blocked),
        );
        writeln!(self.out)?;
        writeln!(self.out, "  {}  {counts}", self.paint(color, state))?;
        if s.deadline_exceeded {
            let line = "DEADLINE EXCEEDED: the run stopped before every check finished; \
                        unfinished checks are reported as ERROR";
            writeln!(self.out, "  {}", self.paint(RED_BOLD, line))?;
        }
        if s.interrupted {
            let line = "INTERRUPTED: the run was stopped before every check finished; \
                        unfinished checks are reported as ERROR";
            writeln!(self.out, "  {}", self.paint(RED_BOLD, line))?;
        }
        Ok(())
    }

    fn draw_progress(&mut self) -> io::Result<()> {
        if !self.style.progress {
            return Ok(());
        }
        let mut line = format!("  [{}/{}]", self.finished, self.planned);
        if let Some(first) = self.running.first() {
            line.push_str(" running ");
            line.push_str(&clean(first));
            if self.running.len() > 1 {
                line.push_str(&format!(" +{} more", self.running.len() - 1));
            }
        }
        let line = truncate(&line, MAX_PROGRESS_CHARS);
        write!(self.out, "\r\x1b[2K{}", self.paint(DIM, &line))?;
        self.progress_drawn = true;
        Ok(())
    }

    fn clear_progress(&mut self) -> io::Result<()> {
        if self.progress_drawn {
            write!(self.out, "\r\x1b[2K")?;
            self.progress_drawn = false;
        }
        Ok(())
    }
}

/// The colour of one unified-diff line. File headers are only recognised before the first
/// hunk: inside a hunk, `--- x` is a deleted line that happened to start with `-- x`.
fn diff_color(line: &str, in_header: &mut bool) -> Option<&'static str> {
    if line.starts_with("@@") {
        *in_header = false;
        return Some(CYAN);
    }
    if *in_header && (line.starts_with("--- ") || line.starts_with("+++ ")) {
        return Some(BOLD);
    }
    match line.as_bytes().first() {
        Some(b'+') if !*in_header => Some(GREEN),
        Some(b'-') if !*in_header => Some(RED),
        _ => None,
    }
}

/// Shows control characters as escapes, so text from the system under test (a body with
/// ANSI codes, a stray carriage return) can neither repaint nor hide part of the terminal.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `1 check`, `14 checks`.
fn checks(n: usize) -> String {
    format!("{n} check{}", if n == 1 { "" } else { "s" })
}
