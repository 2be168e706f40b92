//! Running a drill: steady state first, the restore journaled durably, the fault in at t0,
//! detection and recovery polled against their budgets while resources are sampled, the
//! restore always run, and the steady state checked again.
//!
//! Owns: turning the spec's actions into concrete journal steps, the polling watchers, the
//! timeline and the drill's verdict. Must not touch: output (the timeline travels in the
//! result) or other checks' results (drill steps are run here, privately).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use auditwall_probes::{ProbeError, ProbeErrorKind, Prober};
use auditwall_spec::{
    render_duration, Action, Check, Drill, DrillSettings, Expectation, Observations, ServiceSpec,
    Value, Wall, DEFAULT_SERVED_BY_HEADER,
};
use tokio::sync::watch;

use crate::engine::{failure_summary, judge};
use crate::journal::{self, Step};
use crate::result::{ResourcePeak, Timeline, TimelineEvent, Unaffected, Verdict};

/// A late phase is still watched this long past its budget.
const LATE_GRACE: Duration = Duration::from_secs(10);

/// How long the steady state may take to hold before a drill gives up on injecting.
const SETTLE: Duration = Duration::from_secs(10);

/// A fault or restore action that does not finish in this long has failed.
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything drills need from the wall: the checks they poll, the services they act on,
/// the control API, and where the journal is.
/// `Default` is a wall with nothing for drills to use (every drill in it errors).
#[derive(Debug, Clone, Default)]
pub struct Drills {
    checks: HashMap<String, Check>,
    services: BTreeMap<String, ServiceSpec>,
    settings: DrillSettings,
    journal: PathBuf,
    base: PathBuf,
    owner: Option<u32>,
    /// Stop watching a phase at its budget instead of measuring how late it is.
    judge_only: bool,
}

/// What one drill produced, ready for a [`crate::result::CheckResult`].
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub message: Option<String>,
    pub timeline: Option<Timeline>,
    pub observations: Observations,
}

impl Drills {
    pub fn new(wall: &Wall, journal: PathBuf) -> Drills {
        Drills {
            checks: wall
                .checks
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            services: wall.services.clone(),
            settings: wall.drills.clone(),
            journal,
            base: std::env::current_dir().unwrap_or_default(),
            owner: None,
            judge_only: false,
        }
    }

    /// The process that owns the system under test, recorded with each journal entry.
    pub fn owned_by(self, owner: Option<u32>) -> Drills {
        Drills { owner, ..self }
    }

    /// Drills that stop watching a phase once its budget is missed: the verdict is the same,
    /// only the "how late" number is not measured. For negative controls, which need the red
    /// verdict and nothing more.
    pub fn judging_only(self) -> Drills {
        Drills {
            judge_only: true,
            ..self
        }
    }

    /// How long past t0 a phase is watched: well past its budget, so a late event is still
    /// measured (and reported with its number) instead of just "never" — unless judging only.
    fn patience(&self, within: Duration) -> Duration {
        if self.judge_only {
            within
        } else {
            (within * 3).max(within + LATE_GRACE)
        }
    }

    pub fn journal(&self) -> &Path {
        &self.journal
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn pid(&self, service: &str) -> Result<i32, String> {
        let file = self
            .services
            .get(service)
            .and_then(|s| s.pid_file.as_deref())
            .ok_or_else(|| format!("service `{service}` has no pid_file"))?;
        let path = self.resolve(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.trim()
            .parse::<i32>()
            .ok()
            .filter(|p| *p > 1)
            .ok_or_else(|| format!("{} does not hold a pid: {:?}", path.display(), text.trim()))
    }

    fn control(&self, path: &str, body: String) -> Result<Step, String> {
        let base = self
            .settings
            .control
            .as_deref()
            .ok_or("the wall has no `drills.control`")?;
        Ok(Step::Post {
            url: format!("{}{path}", base.trim_end_matches('/')),
            body,
        })
    }

    /// The concrete step for an action, resolved now (a pid, a file's current content).
    fn step(&self, action: &Action) -> Result<Step, String> {
        let service = |name: &str| self.services.get(name).cloned().unwrap_or_default();
        match action {
            Action::Stop(s) => match service(s).stop {
                Some(argv) => Ok(Step::Command { argv }),
                None => self.control(&format!("/services/{s}/stop"), "{}".into()),
            },
            Action::Start(s) => match service(s).start {
                Some(argv) => Ok(Step::Command { argv }),
                None => self.control(&format!("/services/{s}/start"), "{}".into()),
            },
            Action::Kill(s) => Ok(Step::Signal {
                pid: self.pid(s)?,
                signal: libc::SIGKILL,
                name: "SIGKILL".into(),
            }),
            Action::Pause(s) => Ok(Step::Signal {
                pid: self.pid(s)?,
                signal: libc::SIGSTOP,
                name: "SIGSTOP".into(),
            }),
            Action::Resume(s) => Ok(Step::Signal {
                pid: self.pid(s)?,
                signal: libc::SIGCONT,
                name: "SIGCONT".into(),
            }),
            Action::Proxy(mode) => {
                self.control("/proxy", serde_json::json!({ "mode": mode }).to_string())
            }
            Action::Mode(mode) => {
                self.control("/fault", serde_json::json!({ "mode": mode }).to_string())
            }
            Action::Replace { file, with } => Ok(Step::Write {
                path: self.resolve(file),
                contents: with.clone().into_bytes(),
            }),
            Action::PutBack { file } => {
                let path = self.resolve(file);
                let contents = std::fs::read(&path).map_err(|e| {
                    format!("cannot save {} before replacing it: {e}", path.display())
                })?;
                Ok(Step::Write { path, contents })
            }
            Action::Command { run, .. } => Ok(Step::Command { argv: run.clone() }),
        }
    }

    /// Runs one drill. `timeout` caps the whole drill; the restore runs even when it is hit.
    pub async fn run(
        &self,
        check: &Check,
        drill: &Drill,
        prober: &Prober,
        timeout: Duration,
    ) -> Outcome {
        let fail = |verdict: Verdict, message: String| Outcome {
            verdict,
            message: Some(message),
            timeline: None,
            observations: Observations::new(),
        };
        // 1. The steady state must hold, or the drill would measure a system already broken.
        // A system still settling (a watchdog finishing an earlier restart) gets a bounded
        // while to get there.
        let settle = SETTLE.min(timeout);
        let settled_by = Instant::now() + settle;
        for id in &drill.steady {
            let Some(step) = self.checks.get(id) else {
                return fail(
                    Verdict::Error,
                    format!("steady-state check `{id}` is not in the wall"),
                );
            };
            // Bounded by `settled_by`: every iteration sleeps one poll or returns.
            loop {
                let (verdict, reason, _) = self.once(step, prober, step.timeout).await;
                if verdict == Verdict::Pass {
                    break;
                }
                if Instant::now() >= settled_by {
                    return fail(
                        Verdict::Fail,
                        format!(
                            "steady state does not hold before the fault (waited {}), so none was injected: {id}: {reason}",
                            render_duration(settle)
                        ),
                    );
                }
                tokio::time::sleep(drill.poll).await;
            }
        }
        // 2. Resolve both steps before anything changes, and journal the restore durably.
        let fault = match self.step(&drill.fault) {
            Ok(step) => step,
            Err(e) => {
                return fail(
                    Verdict::Error,
                    format!("cannot prepare the fault `{}`: {e}", drill.fault.describe()),
                )
            }
        };
        let restore_action = drill.restore.clone();
        let restore = match restore_action.as_ref().map(|a| self.step(a)).transpose() {
            Ok(step) => step,
            Err(e) => return fail(Verdict::Error, format!("cannot prepare the restore: {e}")),
        };
        let journal_id = match &restore {
            Some(step) => match journal::append(
                &self.journal,
                &check.id,
                &drill.fault.describe(),
                self.owner,
                step.clone(),
            ) {
                Ok(id) => Some(id),
                Err(e) => return fail(Verdict::Error, format!("no fault injected: {e}")),
            },
            None => None,
        };
        // 3. t0: the fault goes in.
        let t0 = Instant::now();
        let t0_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let hard_stop = t0 + timeout;
        let injected = fault.run(prober, ACTION_TIMEOUT).await;
        let mut events = vec![TimelineEvent {
            phase: "fault".into(),
            at: Some(Duration::ZERO),
            budget: None,
            ok: injected.is_ok(),
            detail: match &injected {
                Ok(_) => drill.fault.describe(),
                Err(e) => format!("{} failed: {e}", drill.fault.describe()),
            },
        }];
        let mut unaffected = Vec::new();
        let mut resources = Vec::new();
        if injected.is_ok() {
            // 4. Watch: detection, recovery, the checks that must stay green, resources.
            let (done_tx, done_rx) = watch::channel(false);
            let watcher = |e: &Expectation, want_red: bool| {
                let check = self.checks.get(&e.check).cloned();
                let e = e.clone();
                let prober = prober.clone();
                let poll = drill.poll;
                async move {
                    let deadline = (t0 + self.patience(e.within)).min(hard_stop);
                    match check {
                        Some(check) => {
                            wait_for(&check, &e, want_red, &prober, poll, t0, deadline).await
                        }
                        None => (None, format!("`{}` is not in the wall", e.check)),
                    }
                }
            };
            let detect = drill.detect.as_ref().map(|e| watcher(e, true));
            let recover = drill.recover.as_ref().map(|e| watcher(e, false));
            let unaffected_tasks: Vec<_> = drill
                .unaffected
                .iter()
                .filter_map(|id| self.checks.get(id).cloned())
                .map(|c| {
                    tokio::spawn(stay_green(
                        c,
                        prober.clone(),
                        drill.poll,
                        t0,
                        done_rx.clone(),
                    ))
                })
                .collect();
            let sampler = tokio::spawn(sample(
                self.clone(),
                drill.watch.clone(),
                drill.poll,
                done_rx.clone(),
            ));
            // Both watchers poll concurrently from t0, so neither delays the other's timestamp.
            let (detect, recover) = tokio::join!(
                async {
                    match detect {
                        Some(f) => Some(f.await),
                        None => None,
                    }
                },
                async {
                    match recover {
                        Some(f) => Some(f.await),
                        None => None,
                    }
                }
            );
            let _ = done_tx.send(true);
            let mut unaffected_results = Vec::new();
            for task in unaffected_tasks {
                if let Ok(u) = task.await {
                    unaffected_results.push(u);
                }
            }
            let samples = sampler.await.unwrap_or_default();
            for (phase, expectation, result) in [
                ("detect", &drill.detect, detect),
                ("recover", &drill.recover, recover),
            ] {
                if let (Some(e), Some((at, detail))) = (expectation, result) {
                    events.push(TimelineEvent {
                        phase: phase.into(),
                        at,
                        budget: Some(e.within),
                        ok: at.is_some_and(|at| at <= e.within),
                        detail,
                    });
                }
            }
            unaffected = unaffected_results;
            resources = samples;
        }
        // 5. The restore always runs (and the journal entry goes only once it worked).
        let mut restore_error = None;
        let mut restored_at = None;
        if let Some(step) = &restore {
            let started = t0.elapsed();
            match step.run(prober, ACTION_TIMEOUT).await {
                Ok(_) => {
                    restored_at = Some(t0.elapsed());
                    if let Some(id) = journal_id {
                        if let Err(e) = journal::remove(&self.journal, id) {
                            restore_error = Some(format!("restored, but {e}"));
                        }
                    }
                }
                Err(e) => restore_error = Some(e),
            }
            events.push(TimelineEvent {
                phase: "restore".into(),
                at: restored_at.or(Some(started)),
                budget: None,
                ok: restore_error.is_none(),
                detail: match &restore_error {
                    None => restore_action
                        .as_ref()
                        .map(Action::describe)
                        .unwrap_or_default(),
                    Some(e) => format!("FAILED: {e}"),
                },
            });
        }
        // 6. Steady again: nothing sticky.
        if let (Some(e), None) = (&drill.after, &restore_error) {
            let from = restored_at.unwrap_or_else(|| t0.elapsed());
            let deadline =
                (t0 + from + self.patience(e.within)).min(hard_stop.max(t0 + from + e.within));
            let (at, detail) = match self.checks.get(&e.check) {
                Some(check) => wait_for(check, e, false, prober, drill.poll, t0, deadline).await,
                None => (None, format!("`{}` is not in the wall", e.check)),
            };
            events.push(TimelineEvent {
                phase: "steady".into(),
                at,
                budget: Some(from + e.within),
                ok: at.is_some_and(|at| at <= from + e.within),
                detail,
            });
        }
        let (verdict, message) = judge_drill(
            &events,
            &unaffected,
            &injected,
            restore_error.as_deref(),
            &drill.fault,
        );
        let mut observations = Observations::new();
        observations.set("poll", Value::Duration(drill.poll));
        // Wall-clock t0, so the timeline can be laid against the system's own logs.
        observations.set("t0_unix_ms", Value::Number(t0_unix_ms));
        for e in &events {
            if let Some(at) = e.at {
                observations.set(&format!("t_{}", e.phase), Value::Duration(at));
            }
        }
        Outcome {
            verdict,
            message,
            timeline: Some(Timeline {
                poll: drill.poll,
                events,
                unaffected,
                resources,
            }),
            observations,
        }
    }

    /// Runs one check once, the way the engine would, and says how it went.
    async fn once(
        &self,
        check: &Check,
        prober: &Prober,
        timeout: Duration,
    ) -> (Verdict, String, Observations) {
        run_once(check, prober, timeout).await
    }
}

pub(crate) async fn run_once(
    check: &Check,
    prober: &Prober,
    timeout: Duration,
) -> (Verdict, String, Observations) {
    let Some(probe) = check.probe() else {
        return (
            Verdict::Error,
            format!("`{}` is not a probe check", check.id),
            Observations::new(),
        );
    };
    let outcome = match tokio::time::timeout(
        timeout + Duration::from_millis(500),
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
    let reason = message
        .or_else(|| failure_summary(&judgements))
        .unwrap_or_else(|| "passed".to_string());
    (verdict, reason, observations)
}

/// Who served, as the router says: the model probe's `served_by`, else the header.
fn served_by(obs: &Observations) -> Option<String> {
    match obs.get("served_by") {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => match obs.get("header") {
            Some(Value::Map(m)) => m.get(DEFAULT_SERVED_BY_HEADER).cloned(),
            _ => None,
        },
    }
}

/// Polls `check` every `poll` until it is red (`want_red`) or passes (served by the right
/// backend, if one is named), or `deadline`. Returns when that was, since t0, and what was seen.
async fn wait_for(
    check: &Check,
    e: &Expectation,
    want_red: bool,
    prober: &Prober,
    poll: Duration,
    t0: Instant,
    deadline: Instant,
) -> (Option<Duration>, String) {
    let mut last = String::from("never polled");
    // Bounded by the deadline: every iteration ends at or after its poll interval.
    loop {
        let started = Instant::now();
        if started >= deadline {
            let waited = render_duration(deadline.saturating_duration_since(t0));
            return (None, format!("not seen within {waited}: {last}"));
        }
        // A recovering request may legitimately take long (a failover waits out a timeout),
        // so it may use the time left; detection uses the check's own timeout, as a monitor would.
        let timeout = if want_red {
            check.timeout
        } else {
            deadline
                .saturating_duration_since(started)
                .max(Duration::from_millis(1))
        };
        let (verdict, reason, obs) = run_once(check, prober, timeout).await;
        let at = t0.elapsed();
        if want_red && verdict != Verdict::Pass {
            return (Some(at), format!("{} red: {reason}", check.id));
        }
        if !want_red && verdict == Verdict::Pass {
            let who = served_by(&obs);
            match (&e.served_by, &who) {
                (Some(want), Some(got)) if want != got => {
                    last = format!("{} passed but was served by {got}", check.id);
                }
                (Some(_), None) => last = format!("{} passed but no backend was named", check.id),
                _ => {
                    let by = who.map(|w| format!(", served by {w}")).unwrap_or_default();
                    return (Some(at), format!("{} passed{by}", check.id));
                }
            }
        } else if want_red {
            last = format!("{} stayed green", check.id);
        } else {
            last = format!("{} still red: {reason}", check.id);
        }
        tokio::time::sleep_until((started + poll).into()).await;
    }
}

/// Polls a check that must stay green until `done`; records the first time it was red.
async fn stay_green(
    check: Check,
    prober: Prober,
    poll: Duration,
    t0: Instant,
    mut done: watch::Receiver<bool>,
) -> Unaffected {
    let mut polls = 0;
    // Bounded: the drill's watchers end by their deadlines and then set `done`.
    while !*done.borrow() {
        let started = Instant::now();
        let (verdict, reason, _) = run_once(&check, &prober, check.timeout).await;
        polls += 1;
        if verdict != Verdict::Pass {
            return Unaffected {
                check: check.id.clone(),
                polls,
                red_at: Some(t0.elapsed()),
                detail: Some(reason),
            };
        }
        tokio::select! {
            _ = tokio::time::sleep_until((started + poll).into()) => {}
            _ = done.changed() => {}
        }
    }
    Unaffected {
        check: check.id,
        polls,
        red_at: None,
        detail: None,
    }
}

/// Samples the watched services' memory every `poll` until `done` (pids re-read each time:
/// a restarted service has a new one).
async fn sample(
    drills: Drills,
    services: Vec<String>,
    poll: Duration,
    mut done: watch::Receiver<bool>,
) -> Vec<ResourcePeak> {
    let mut peaks: Vec<ResourcePeak> = services
        .iter()
        .map(|s| ResourcePeak {
            service: s.clone(),
            samples: 0,
            rss_max: 0,
            swap_max: 0,
        })
        .collect();
    if peaks.is_empty() {
        return peaks;
    }
    let interval = poll.max(Duration::from_millis(20));
    while !*done.borrow() {
        for peak in &mut peaks {
            if let Some((rss, swap)) = drills.pid(&peak.service).ok().and_then(memory) {
                peak.samples += 1;
                peak.rss_max = peak.rss_max.max(rss);
                peak.swap_max = peak.swap_max.max(swap);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = done.changed() => {}
        }
    }
    peaks
}

/// VmRSS and VmSwap of a process, bytes.
fn memory(pid: i32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmSwap:").unwrap_or(0)))
}

fn judge_drill(
    events: &[TimelineEvent],
    unaffected: &[Unaffected],
    injected: &Result<String, String>,
    restore_error: Option<&str>,
    fault: &Action,
) -> (Verdict, Option<String>) {
    if let Some(e) = restore_error {
        return (
            Verdict::Error,
            Some(format!(
                "RESTORE FAILED, the system is still broken ({} is in effect): {e}; the restore stays in the drill journal (`auditwall recover` retries it)",
                fault.describe()
            )),
        );
    }
    if let Err(e) = injected {
        return (
            Verdict::Error,
            Some(format!("the fault could not be injected: {e}")),
        );
    }
    let mut red = Vec::new();
    let mut over = Vec::new();
    for e in events.iter().filter(|e| e.budget.is_some()) {
        let budget = e.budget.map(render_duration).unwrap_or_default();
        match e.at {
            None => red.push(format!(
                "{} never happened (budget {budget}): {}",
                e.phase, e.detail
            )),
            Some(at) if !e.ok => over.push(format!(
                "{} took {}, over its budget of {budget}: {}",
                e.phase,
                render_duration(at),
                e.detail
            )),
            Some(_) => {}
        }
    }
    for u in unaffected {
        if let Some(at) = u.red_at {
            red.push(format!(
                "{} went red at {} but had to stay green: {}",
                u.check,
                render_duration(at),
                u.detail.as_deref().unwrap_or("")
            ));
        }
    }
    if !red.is_empty() {
        red.extend(over);
        (Verdict::Fail, Some(red.join("; ")))
    } else if !over.is_empty() {
        (Verdict::Drift, Some(over.join("; ")))
    } else {
        (Verdict::Pass, None)
    }
}
