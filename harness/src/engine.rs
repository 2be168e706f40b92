//! Running a plan: bounded concurrency, per-check timeouts, retries (a pass on retry is
//! `flaky`), `needs` (a check whose dependency did not pass is `blocked`), disruptive checks one
//! at a time after the rest, and a whole-run deadline that still yields a complete summary.
//!
//! Every step is reported as an [`Event`] on the sink; the engine never formats output.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use auditwall_probes::{ProbeError, ProbeErrorKind, Prober};
use auditwall_spec::condition::Judgement;
use auditwall_spec::{render_duration, Calibration, Check, CheckKind, Observations, Value};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::calibrate::{Calibrator, Outcome};
use crate::drill::Drills;
use crate::event::Event;
use crate::plan::Plan;
use crate::result::{CheckResult, RunInfo, RunSummary, Verdict};
use crate::scenario::Scenarios;

/// Knobs for one run. `None` means "as the wall says".
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    pub deadline: Duration,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub allow_disruptive: bool,
    /// Pause between attempts of one check, so a retry does not hit the same transient state.
    pub retry_backoff: Duration,
    /// Notified to stop early (Ctrl-C, SIGTERM): running checks are cancelled — their
    /// processes killed — and the summary still lists every planned check.
    pub interrupt: Option<Arc<Notify>>,
    /// Runs calibration checks: the wall's calibration settings, base directory and today.
    pub calibrator: Arc<Calibrator>,
    /// Runs drills: the wall's checks, services, control API and the journal.
    pub drills: Arc<Drills>,
    /// Runs scenarios: the wall's checks and observers.
    pub scenarios: Arc<Scenarios>,
}

impl RunOptions {
    /// Options as the wall's settings say (no overrides, no interrupt, 200 ms between
    /// attempts), its drills journaled for `owner` — the process that owns the system.
    pub fn for_wall(wall: &auditwall_spec::Wall, owner: Option<u32>) -> RunOptions {
        RunOptions {
            jobs: wall.settings.jobs,
            deadline: wall.settings.deadline,
            timeout: None,
            retries: None,
            allow_disruptive: wall.settings.allow_disruptive,
            retry_backoff: Duration::from_millis(200),
            interrupt: None,
            calibrator: Arc::new(Calibrator::new(&wall.calibration)),
            drills: Arc::new(Drills::new(wall, crate::journal::default_path()).owned_by(owner)),
            scenarios: Arc::new(Scenarios::new(wall)),
        }
    }
}

/// Where events go. A `Vec`-collecting receiver makes engine tests trivial.
pub type EventSink = Sender<Event>;

const REDACTED: &str = "[redacted]";

/// Which checks may start: each check waits for its `needs`; a check becomes ready when the
/// last of them finishes. Linear in checks plus dependency edges, whatever the wall's size.
struct Schedule {
    results: Vec<Option<CheckResult>>,
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    /// Ready, neither disruptive nor a scenario, in plan order.
    ready: VecDeque<usize>,
    /// Ready disruptive checks and scenarios: each runs alone, after every plain check that
    /// can run.
    ready_disruptive: VecDeque<usize>,
}

impl Schedule {
    fn new(plan: &Plan) -> Schedule {
        let n = plan.checks.len();
        let mut schedule = Schedule {
            results: vec![None; n],
            waiting_on: plan.checks.iter().map(|p| p.needs.len()).collect(),
            dependents: vec![Vec::new(); n],
            ready: VecDeque::new(),
            ready_disruptive: VecDeque::new(),
        };
        for (i, p) in plan.checks.iter().enumerate() {
            for &d in &p.needs {
                schedule.dependents[d].push(i);
            }
            if p.needs.is_empty() {
                schedule.make_ready(plan, i);
            }
        }
        schedule
    }

    fn make_ready(&mut self, plan: &Plan, i: usize) {
        // Scenarios change shared state and judge "nothing else changed", so, like disruptive
        // checks, each runs alone (but needs no permission).
        let check = &plan.checks[i].check;
        if check.disruptive || check.suite == auditwall_spec::Suite::Scenarios {
            self.ready_disruptive.push_back(i);
        } else {
            self.ready.push_back(i);
        }
    }

    /// Records a result (redacted), reports it, and releases the checks that waited on it.
    fn finish(
        &mut self,
        plan: &Plan,
        sink: &EventSink,
        redactor: &Redactor,
        i: usize,
        mut result: CheckResult,
    ) {
        redactor.result(&mut result);
        let _ = sink.send(Event::CheckFinished {
            result: result.clone(),
        });
        self.results[i] = Some(result);
        for k in 0..self.dependents[i].len() {
            let dependent = self.dependents[i][k];
            self.waiting_on[dependent] -= 1;
            if self.waiting_on[dependent] == 0 {
                self.make_ready(plan, dependent);
            }
        }
    }

    /// The first `needs` of check `i` that did not pass, if any.
    fn failed_need(&self, plan: &Plan, i: usize) -> Option<usize> {
        plan.checks[i].needs.iter().copied().find(|&d| {
            self.results[d]
                .as_ref()
                .is_some_and(|r| r.verdict != Verdict::Pass)
        })
    }

    /// Finishes check `i` as blocked by `dep`, a need that did not pass.
    fn finish_blocked(
        &mut self,
        plan: &Plan,
        sink: &EventSink,
        redactor: &Redactor,
        i: usize,
        dep: usize,
    ) {
        let dep_name = plan.checks[dep].name();
        let result = unrun(
            &plan.checks[i].check,
            Verdict::Blocked,
            Some(format!("blocked by {dep_name}")),
            Some(dep_name),
        );
        self.finish(plan, sink, redactor, i, result);
    }
}

/// Runs every planned check and returns the summary (also sent as `RunFinished`).
pub async fn run(
    plan: &Plan,
    mut info: RunInfo,
    secrets: &[String],
    opts: &RunOptions,
    prober: &Prober,
    sink: &EventSink,
) -> RunSummary {
    info.started_at = SystemTime::now();
    info.planned = plan.checks.len();
    let _ = sink.send(Event::RunStarted { info: info.clone() });

    let redactor = Arc::new(Redactor::new(secrets));
    let deadline = tokio::time::Instant::now() + opts.deadline;
    let jobs = opts.jobs.max(1);
    let mut schedule = Schedule::new(plan);
    let mut running: JoinSet<(usize, CheckResult)> = JoinSet::new();
    let mut running_disruptive = false;
    let mut deadline_exceeded = false;
    let mut interrupted = false;
    let mut task_index: HashMap<tokio::task::Id, usize> = HashMap::new();

    let start = |i: usize, running: &mut JoinSet<(usize, CheckResult)>| {
        let check = plan.checks[i].check.clone();
        let _ = sink.send(Event::CheckStarted {
            id: check.id.clone(),
        });
        let prober = prober.clone();
        let opts = opts.clone();
        let sink = sink.clone();
        let redactor = redactor.clone();
        let handle = running.spawn(async move {
            let mut result = execute(&check, &opts, &prober, &sink, &redactor).await;
            redactor.result(&mut result);
            (i, result)
        });
        handle.id()
    };

    loop {
        // Decide everything that can be decided now, and start what may start.
        loop {
            if let Some(&i) = schedule.ready.front() {
                if let Some(dep) = schedule.failed_need(plan, i) {
                    schedule.ready.pop_front();
                    schedule.finish_blocked(plan, sink, &redactor, i, dep);
                    continue;
                }
                if running_disruptive || running.len() >= jobs {
                    break;
                }
                schedule.ready.pop_front();
                task_index.insert(start(i, &mut running), i);
                continue;
            }
            let Some(&i) = schedule.ready_disruptive.front() else {
                break;
            };
            if let Some(dep) = schedule.failed_need(plan, i) {
                schedule.ready_disruptive.pop_front();
                schedule.finish_blocked(plan, sink, &redactor, i, dep);
                continue;
            }
            if plan.checks[i].check.disruptive && !opts.allow_disruptive {
                schedule.ready_disruptive.pop_front();
                let result = unrun(
                    &plan.checks[i].check,
                    Verdict::Skip,
                    Some("disruptive check: not allowed in this run (pass --allow-disruptive or set settings.allow_disruptive)".to_string()),
                    None,
                );
                schedule.finish(plan, sink, &redactor, i, result);
                continue;
            }
            // A disruptive check runs alone, once nothing else is running.
            if !running.is_empty() {
                break;
            }
            schedule.ready_disruptive.pop_front();
            running_disruptive = true;
            task_index.insert(start(i, &mut running), i);
        }
        if running.is_empty() {
            break;
        }
        let interrupted_now = async {
            match &opts.interrupt {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            next = tokio::time::timeout_at(deadline, running.join_next_with_id()) => next,
            _ = interrupted_now => {
                interrupted = true;
                running.abort_all();
                while running.join_next().await.is_some() {}
                break;
            }
        };
        match next {
            Ok(Some(Ok((_, (i, result))))) => {
                running_disruptive = false;
                // Already redacted inside the task.
                schedule.finish(plan, sink, &redactor, i, result);
            }
            Ok(Some(Err(join_error))) => {
                // A panicking probe is a harness bug; it must not take the run down with it.
                running_disruptive = false;
                if let Some(i) = task_index.get(&join_error.id()).copied() {
                    let result = unrun(
                        &plan.checks[i].check,
                        Verdict::Error,
                        Some("internal error: the check's task panicked".into()),
                        None,
                    );
                    schedule.finish(plan, sink, &redactor, i, result);
                }
            }
            Ok(None) => break,
            Err(_) => {
                deadline_exceeded = true;
                running.abort_all();
                while running.join_next().await.is_some() {}
                break;
            }
        }
    }

    let message = if interrupted {
        "run interrupted before this check finished".to_string()
    } else {
        format!(
            "run deadline of {} exceeded before this check finished",
            render_duration(opts.deadline)
        )
    };
    for i in 0..plan.checks.len() {
        if schedule.results[i].is_none() {
            let result = unrun(
                &plan.checks[i].check,
                Verdict::Error,
                Some(message.clone()),
                None,
            );
            schedule.finish(plan, sink, &redactor, i, result);
        }
    }
    let summary = RunSummary {
        info,
        finished_at: SystemTime::now(),
        results: schedule.results.into_iter().flatten().collect(),
        deadline_exceeded,
        interrupted,
        coverage: None,
    };
    let _ = sink.send(Event::RunFinished {
        summary: summary.clone(),
    });
    summary
}

/// A result for a check that never ran (blocked, skipped, cut by the deadline); also the
/// base that `execute` fills in with what it measured.
fn unrun(
    check: &Check,
    verdict: Verdict,
    message: Option<String>,
    blocked_by: Option<String>,
) -> CheckResult {
    CheckResult {
        id: check.id.clone(),
        suite: check.suite,
        severity: check.severity,
        tags: check.tags.clone(),
        description: check.description.clone(),
        origin: check.origin.clone(),
        verdict,
        flaky: false,
        attempts: 0,
        started_at: None,
        duration: Duration::ZERO,
        message,
        blocked_by,
        judgements: Vec::new(),
        observations: Observations::new(),
        findings: Vec::new(),
        timeline: None,
        proof: None,
    }
}

/// Runs one check with its retries.
pub async fn execute(
    check: &Check,
    opts: &RunOptions,
    prober: &Prober,
    sink: &EventSink,
    redactor: &Redactor,
) -> CheckResult {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let timeout = opts.timeout.unwrap_or(check.timeout);
    let probe = match &check.kind {
        CheckKind::Probe { probe, .. } => probe,
        CheckKind::Scenario(scenario) => {
            let outcome =
                match tokio::time::timeout(timeout, opts.scenarios.run(check, scenario, prober))
                    .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => crate::scenario::Outcome {
                        verdict: Verdict::Error,
                        message: Some(format!(
                            "scenario timed out after {}",
                            render_duration(timeout)
                        )),
                        observations: Observations::new(),
                    },
                };
            return CheckResult {
                attempts: 1,
                started_at: Some(started_at),
                duration: started.elapsed(),
                observations: outcome.observations,
                ..unrun(check, outcome.verdict, outcome.message, None)
            };
        }
        CheckKind::Drill(drill) => {
            let outcome = opts.drills.run(check, drill, prober, timeout).await;
            return CheckResult {
                attempts: 1,
                started_at: Some(started_at),
                duration: started.elapsed(),
                observations: outcome.observations,
                timeline: outcome.timeline,
                ..unrun(check, outcome.verdict, outcome.message, None)
            };
        }
        CheckKind::Calibration(cal) => {
            let outcome = calibrate(cal, &opts.calibrator, timeout).await;
            return CheckResult {
                attempts: 1,
                started_at: Some(started_at),
                duration: started.elapsed(),
                observations: outcome.observations,
                findings: outcome.findings,
                ..unrun(check, outcome.verdict, outcome.message, None)
            };
        }
    };
    let max_attempts = 1 + opts.retries.unwrap_or(check.retries);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The probe bounds itself by `timeout`; the outer bound catches a probe that does not.
        let outcome = match tokio::time::timeout(
            timeout.saturating_add(Duration::from_millis(500)),
            prober.run(probe, timeout),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(ProbeError {
                kind: ProbeErrorKind::Target,
                message: format!("timed out after {}", render_duration(timeout)),
            }),
        };
        let (verdict, message, judgements, observations) = judge(check, outcome);
        // A broken detector (`error`) does not heal on a retry; retrying would only hide it
        // longer.
        if verdict == Verdict::Pass || verdict == Verdict::Error || attempt >= max_attempts {
            let flaky = verdict == Verdict::Pass && attempt > 1;
            let message = if flaky {
                Some(format!("passed on attempt {attempt} of {max_attempts}"))
            } else {
                message
            };
            return CheckResult {
                flaky,
                attempts: attempt,
                started_at: Some(started_at),
                duration: started.elapsed(),
                judgements,
                observations,
                ..unrun(check, verdict, message, None)
            };
        }
        let mut reason = message
            .or_else(|| failure_summary(&judgements))
            .unwrap_or_default();
        redactor.text(&mut reason);
        let _ = sink.send(Event::CheckRetrying {
            id: check.id.clone(),
            attempt,
            reason,
        });
        tokio::time::sleep(opts.retry_backoff).await;
    }
}

/// Compares files off the async threads, bounded by the check's timeout (the diff has its
/// own time cap; the timeout also covers slow disks and huge directories).
async fn calibrate(cal: &Calibration, calibrator: &Arc<Calibrator>, timeout: Duration) -> Outcome {
    let cal = cal.clone();
    let calibrator = calibrator.clone();
    let task = tokio::task::spawn_blocking(move || calibrator.check(&cal));
    let error = |message: String| Outcome {
        verdict: Verdict::Error,
        message: Some(message),
        findings: Vec::new(),
        observations: Observations::new(),
    };
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => error(format!("calibration failed: {e}")),
        Err(_) => error(format!(
            "calibration timed out after {}",
            render_duration(timeout)
        )),
    }
}

/// Turns what a probe measured into a verdict: a broken contract is `fail`, a missed budget
/// alone is `drift`, a probe that could not run is `error`, an unreachable target is `fail`.
pub fn judge(
    check: &Check,
    outcome: Result<Observations, ProbeError>,
) -> (Verdict, Option<String>, Vec<Judgement>, Observations) {
    let observations = match outcome {
        Ok(o) => o,
        Err(e) => {
            let verdict = match e.kind {
                ProbeErrorKind::Target => Verdict::Fail,
                ProbeErrorKind::Detector => Verdict::Error,
            };
            return (verdict, Some(e.message), Vec::new(), Observations::new());
        }
    };
    let judgements: Vec<Judgement> = check
        .expect()
        .iter()
        .map(|c| c.evaluate(&observations))
        .collect();
    let failed: Vec<&Judgement> = judgements.iter().filter(|j| !j.passed).collect();
    let verdict = if failed.iter().any(|j| !j.budget) {
        Verdict::Fail
    } else if !failed.is_empty() {
        Verdict::Drift
    } else {
        Verdict::Pass
    };
    // The failed judgements are the reason; a probe that also says what went wrong (a model
    // probe quoting each wrong answer) gets that quoted too, so no one needs `-v` to see it.
    let message = match observations.get("failures") {
        Some(Value::Text(f)) if verdict != Verdict::Pass && !f.is_empty() => {
            let summary = failure_summary(&judgements).unwrap_or_default();
            Some(format!("{summary}; {}", f.replace('\n', "; ")))
        }
        _ => None,
    };
    (verdict, message, judgements, observations)
}

/// One line naming every failed condition and why, e.g.
/// ``"`status == 200`: expected == 200, got 503"``; `None` when every condition held.
pub fn failure_summary(judgements: &[Judgement]) -> Option<String> {
    let failed: Vec<String> = judgements
        .iter()
        .filter(|j| !j.passed)
        .map(|j| match &j.reason {
            Some(r) => format!("`{}`: {r}", j.condition),
            None => format!("`{}` does not hold", j.condition),
        })
        .collect();
    (!failed.is_empty()).then(|| failed.join("; "))
}

/// Replaces every secret value with `[redacted]` before anything leaves the engine.
pub struct Redactor {
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: &[String]) -> Redactor {
        let mut secrets: Vec<String> = secrets.iter().filter(|s| !s.is_empty()).cloned().collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn text(&self, s: &mut String) {
        for secret in &self.secrets {
            if s.contains(secret.as_str()) {
                *s = s.replace(secret.as_str(), REDACTED);
            }
        }
    }

    pub fn result(&self, result: &mut CheckResult) {
        if self.secrets.is_empty() {
            return;
        }
        let scrub = |s: &mut String| self.text(s);
        if let Some(m) = result.message.as_mut() {
            scrub(m);
        }
        if let Some(d) = result.description.as_mut() {
            scrub(d);
        }
        for j in &mut result.judgements {
            j.actual.as_mut().map(scrub);
            j.reason.as_mut().map(scrub);
        }
        for value in result.observations.values.values_mut() {
            redact_value(value, &scrub);
        }
        for f in &mut result.findings {
            scrub(&mut f.subject);
            scrub(&mut f.message);
            f.diff.as_mut().map(scrub);
        }
    }
}

fn redact_value(value: &mut Value, scrub: &dyn Fn(&mut String)) {
    match value {
        Value::Text(s) => scrub(s),
        Value::Map(m) => m.values_mut().for_each(scrub),
        Value::Json(j) => redact_json(j, scrub),
        _ => {}
    }
}

fn redact_json(value: &mut serde_json::Value, scrub: &dyn Fn(&mut String)) {
    match value {
        serde_json::Value::String(s) => scrub(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| redact_json(v, scrub)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| redact_json(v, scrub)),
        _ => {}
    }
}
