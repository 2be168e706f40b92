//! `verify --prove`: every check's negative control, run after the normal run, one check at a
//! time. A check that passed and declares `canary: { fault: NAME }` has that fault switched on
//! through the wall's control API (`POST {drills.control}/fault {"mode": NAME}`), is polled until
//! it turns red (`proven`) or the patience runs out (`vacuous`: it cannot fail), and the fault
//! is cleared (`{"mode": "none"}`) before the next one. The clear is journaled durably before
//! the fault goes in, so an auditwall killed mid-proof leaves it to `auditwall recover`.
//!
//! Owns: deciding each check's [`Proof`] and the [`ProofEvent`] stream of the proving phase.
//! Must not touch: output (events only), the engine's run or the verdicts it decided (proving
//! only fills in `proof`), and faults other than the check's own canary and `none`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auditwall_probes::Prober;
use auditwall_spec::{render_duration, CanaryFixture, Check, CheckKind, Tier, Wall};
use tokio::sync::Notify;

use crate::calibrate::Calibrator;
use crate::drill::{run_once, Drills};
use crate::engine::Redactor;
use crate::journal::{self, Step};
use crate::result::{CheckResult, FindingStatus, Proof, ProofStatus, RunSummary, Verdict};
use crate::scenario::Scenarios;

/// How often a check is polled while proving.
pub const POLL: Duration = Duration::from_millis(50);

/// How long a check may take to turn red under its fault, to be green before it, and to be
/// green again after the clear. Long enough for a crash loop: the watchdog has to give up
/// (three restarts with backoff) before the service is reported BLOCKED.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Switching a fault on or off that takes longer than this has failed. `none` restarts
/// whatever a fault left dead or stale, which is the slowest thing the control API does.
const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the proving phase reports as it goes; the binary renders it (the engine's
/// [`crate::event::Event`] stream has ended by then).
#[derive(Debug, Clone)]
pub enum ProofEvent {
    /// Proving begins; `controls` negative controls will be run (the other checks are decided
    /// without touching the system).
    Started { controls: usize },
    /// The fault of check `id` is about to go in.
    Proving { id: String, fault: String },
    /// One check's proof is decided (`result.proof` is set), in plan order.
    Proved { result: CheckResult },
    /// Every check has its proof.
    Finished { summary: RunSummary },
}

pub type ProofSink = Sender<ProofEvent>;

/// Everything proving needs from the wall: the checks, the control API, the journal.
pub struct Prover {
    checks: HashMap<String, Check>,
    control: Option<String>,
    journal: PathBuf,
    owner: Option<u32>,
    calibrator: Arc<Calibrator>,
    scenarios: Scenarios,
    drills: Drills,
    redactor: Redactor,
    interrupt: Option<Arc<Notify>>,
    poll: Duration,
    patience: Duration,
}

/// How long a true-negative fixture watches its target stay green under the fault.
const TRUE_NEGATIVE_WATCH: Duration = Duration::from_secs(3);

/// What one tiered canary fixture showed.
#[derive(Debug, Clone)]
pub struct FixtureOutcome {
    pub id: String,
    pub tier: Tier,
    /// The target got the verdict it must (a red one, or stayed green for a true negative).
    pub caught: bool,
    pub detail: String,
}

/// How one check is to be proven, decided before anything is switched on.
enum Plan {
    Decided(Proof),
    Control { fault: String, control: String },
}

/// What polling a check for a state saw.
enum Polled {
    /// Seen, this long after the start of the wait, with what the check said.
    Seen(Duration, String),
    /// Not seen before the patience ran out.
    Never {
        last_verdict: Verdict,
        last: String,
        polls: u32,
    },
    Interrupted,
}

impl Prover {
    pub fn new(wall: &Wall, journal: PathBuf, calibrator: Arc<Calibrator>) -> Prover {
        Prover {
            checks: wall
                .checks
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            control: wall.drills.control.clone(),
            drills: Drills::new(wall, journal.clone()).judging_only(),
            journal,
            owner: None,
            calibrator,
            scenarios: Scenarios::new(wall),
            redactor: Redactor::new(&wall.secrets),
            interrupt: None,
            poll: POLL,
            patience: PATIENCE,
        }
    }

    /// The process that owns the system under test, recorded with each journal entry (once
    /// it is gone, so is the fault).
    pub fn owned_by(self, owner: Option<u32>) -> Prover {
        Prover {
            owner,
            drills: self.drills.clone().owned_by(owner),
            ..self
        }
    }

    /// Notified to stop early (Ctrl-C, SIGTERM): the fault that is on is cleared first.
    pub fn interrupted_by(self, interrupt: Option<Arc<Notify>>) -> Prover {
        Prover { interrupt, ..self }
    }

    /// Overrides [`POLL`] and [`PATIENCE`].
    pub fn timing(self, poll: Duration, patience: Duration) -> Prover {
        Prover {
            poll,
            patience,
            ..self
        }
    }

    /// Fills in every result's `proof`, in plan order, running at most one negative control at
    /// a time. A check that does not come back green after its fault was cleared stops the
    /// proving (the system is no longer the one the run saw); an interrupt stops it too and
    /// marks the summary interrupted.
    pub async fn prove(
        &self,
        mut summary: RunSummary,
        prober: &Prober,
        sink: &ProofSink,
    ) -> RunSummary {
        let plans: Vec<Plan> = summary.results.iter().map(|r| self.plan(r)).collect();
        let controls = plans
            .iter()
            .filter(|p| matches!(p, Plan::Control { .. }))
            .count();
        let _ = sink.send(ProofEvent::Started { controls });
        // A fault still owed from an earlier run means the system is not the one to prove on.
        let mut stopped = match journal::pending(&self.journal) {
            Ok(owed) if owed.is_empty() => None,
            Ok(_) => Some(format!(
                "not proven: an earlier fault is still owed in the drill journal {} (`auditwall recover`)",
                self.journal.display()
            )),
            Err(e) => Some(format!("not proven: {e}")),
        };
        for (result, plan) in summary.results.iter_mut().zip(plans) {
            let mut proof = match plan {
                Plan::Decided(proof) => proof,
                Plan::Control { fault, .. } if stopped.is_some() => Proof {
                    fault: Some(fault),
                    status: ProofStatus::Error,
                    red_after: None,
                    detail: stopped.clone().unwrap_or_default(),
                },
                Plan::Control { fault, control } => {
                    let _ = sink.send(ProofEvent::Proving {
                        id: result.id.clone(),
                        fault: fault.clone(),
                    });
                    let (proof, stop) = match self.checks.get(&result.id) {
                        Some(check) => self.run_control(check, &fault, &control, prober).await,
                        None => (error(&fault, "not in the wall".into()), None),
                    };
                    if let Some(Stop::Interrupted) = stop {
                        summary.interrupted = true;
                    }
                    stopped = stop.map(|s| s.reason(&result.id));
                    proof
                }
            };
            self.redactor.text(&mut proof.detail);
            result.proof = Some(proof);
            let _ = sink.send(ProofEvent::Proved {
                result: result.clone(),
            });
        }
        let _ = sink.send(ProofEvent::Finished {
            summary: summary.clone(),
        });
        summary
    }

    fn plan(&self, r: &CheckResult) -> Plan {
        let check = self.checks.get(&r.id);
        let fault = check
            .and_then(|c| c.canary.as_ref())
            .map(|c| c.fault.clone());
        let decided = |status, detail: &str| {
            Plan::Decided(Proof {
                fault: fault.clone(),
                status,
                red_after: None,
                detail: detail.to_string(),
            })
        };
        if r.verdict == Verdict::Skip {
            return decided(
                ProofStatus::Unproven,
                "not run, so not proven (disruptive checks need --allow-disruptive)",
            );
        }
        let Some(fault) = fault.clone() else {
            return decided(
                ProofStatus::Unproven,
                "no negative control declared (`canary: { fault: NAME }`)",
            );
        };
        if r.verdict != Verdict::Pass {
            return decided(
                ProofStatus::Error,
                &format!(
                    "cannot prove a check that is not green (it was {} in the run)",
                    r.verdict
                ),
            );
        }
        match &self.control {
            Some(control) => Plan::Control {
                fault,
                control: control.clone(),
            },
            None => decided(
                ProofStatus::Error,
                &format!(
                    "the wall declares no `drills.control`, so the canary fault `{fault}` cannot be switched on"
                ),
            ),
        }
    }

    /// Green first, the clear journaled, the fault on, polled until red, the clear always run,
    /// green again. Returns the proof, and why proving must stop, if it must.
    async fn run_control(
        &self,
        check: &Check,
        fault: &str,
        control: &str,
        prober: &Prober,
    ) -> (Proof, Option<Stop>) {
        let patience = render_duration(self.patience);
        // 1. Green now, or a red under the fault would prove nothing (the system may still be
        // settling from the previous check's fault).
        match self.until(check, false, prober).await {
            Polled::Seen(..) => {}
            Polled::Never { last, .. } => {
                return (
                    error(
                        fault,
                        format!("not green before its fault went in (waited {patience}): {last}"),
                    ),
                    None,
                )
            }
            Polled::Interrupted => {
                return (
                    error(fault, "proving interrupted; no fault went in".into()),
                    Some(Stop::Interrupted),
                )
            }
        }
        // 2. The clear is durable before the fault goes in.
        let url = format!("{}/fault", control.trim_end_matches('/'));
        let step = |mode: &str| Step::Post {
            url: url.clone(),
            body: serde_json::json!({ "mode": mode }).to_string(),
        };
        let clear = step("none");
        let entry = match journal::append(
            &self.journal,
            &check.id,
            &format!("canary {fault}"),
            self.owner,
            clear.clone(),
        ) {
            Ok(entry) => entry,
            Err(e) => {
                return (
                    error(fault, format!("no fault switched on: {e}")),
                    Some(Stop::Journal),
                )
            }
        };
        // 3. The fault goes in, and the check is watched.
        let injected = step(fault).run(prober, ACTION_TIMEOUT).await;
        let watched = match &injected {
            Ok(_) => Some(self.until(check, true, prober).await),
            Err(_) => None,
        };
        // 4. The clear always runs; the journal entry goes only once it worked.
        if let Err(e) = clear.run(prober, ACTION_TIMEOUT).await {
            return (
                error(
                    fault,
                    format!(
                        "CLEAR FAILED, the system is still broken (canary `{fault}` is on): {e}; the clear stays in the drill journal (`auditwall recover` retries it)"
                    ),
                ),
                Some(Stop::Cleared),
            );
        }
        if let Err(e) = journal::remove(&self.journal, entry) {
            return (
                error(fault, format!("cleared, but {e}")),
                Some(Stop::Journal),
            );
        }
        // 5. What the control showed.
        let (proof, interrupted) = match (injected, watched) {
            (Err(e), _) => (
                error(fault, format!("the fault `{fault}` could not be switched on: {e}")),
                false,
            ),
            (Ok(_), Some(Polled::Seen(at, reason))) => (
                Proof {
                    fault: Some(fault.to_string()),
                    status: ProofStatus::Proven,
                    red_after: Some(at),
                    detail: reason,
                },
                false,
            ),
            (
                Ok(_),
                Some(Polled::Never {
                    last_verdict: Verdict::Pass,
                    polls,
                    ..
                }),
            ) => (
                Proof {
                    fault: Some(fault.to_string()),
                    status: ProofStatus::Vacuous,
                    red_after: None,
                    detail: format!(
                        "green on all {polls} polls over {patience} with `{fault}` on: this check cannot fail"
                    ),
                },
                false,
            ),
            (Ok(_), Some(Polled::Never { last, .. })) => (
                error(
                    fault,
                    format!("could not run under `{fault}`, which proves nothing: {last}"),
                ),
                false,
            ),
            (Ok(_), Some(Polled::Interrupted) | None) => (
                error(fault, "proving interrupted; the fault was cleared".into()),
                true,
            ),
        };
        if interrupted {
            return (proof, Some(Stop::Interrupted));
        }
        // 6. Green again, or the next proof would run on a system the run never saw.
        match self.until(check, false, prober).await {
            Polled::Seen(..) => (proof, None),
            Polled::Never { last, .. } => {
                let red = match proof.red_after {
                    Some(at) => format!(
                        "turned red after {} under `{fault}`, but ",
                        render_duration(at)
                    ),
                    None => String::new(),
                };
                (
                    error(
                        fault,
                        format!(
                            "{red}NOT GREEN AGAIN within {patience} after `{fault}` was cleared: {last}"
                        ),
                    ),
                    Some(Stop::NotGreen),
                )
            }
            Polled::Interrupted => (proof, Some(Stop::Interrupted)),
        }
    }

    /// Runs one tiered canary fixture: with its fault on, does its target get the verdict it
    /// must? A red expectation (`fail`, `drift`) is caught when the target turns red (the
    /// same control as `--prove`); `pass` (a T4 true negative) is caught when the target stays
    /// green for the whole watch. The fault is cleared (journaled first) either way.
    pub async fn fixture(&self, fixture: &CanaryFixture, prober: &Prober) -> FixtureOutcome {
        let outcome = |caught: bool, detail: String| FixtureOutcome {
            id: fixture.id.clone(),
            tier: fixture.tier,
            caught,
            detail,
        };
        let Some(check) = self.checks.get(&fixture.target) else {
            return outcome(
                false,
                format!("target `{}` is not in the wall", fixture.target),
            );
        };
        let Some(control) = self.control.clone() else {
            return outcome(false, "the wall has no `drills.control`".into());
        };
        if fixture.expect != "pass" {
            let (proof, _) = self
                .run_control(check, &fixture.fault, &control, prober)
                .await;
            return match proof.status {
                ProofStatus::Proven => outcome(true, format!("caught: {}", proof.detail)),
                _ => outcome(false, format!("ESCAPED: {}", proof.detail)),
            };
        }
        // A true negative: the check must not cry wolf while the unrelated fault is on.
        if let Polled::Never { last, .. } = self.until(check, false, prober).await {
            return outcome(false, format!("not green before the fault went in: {last}"));
        }
        let url = format!("{}/fault", control.trim_end_matches('/'));
        let step = |mode: &str| Step::Post {
            url: url.clone(),
            body: serde_json::json!({ "mode": mode }).to_string(),
        };
        let clear = step("none");
        let entry = match journal::append(
            &self.journal,
            &check.id,
            &format!("canary {}", fixture.fault),
            self.owner,
            clear.clone(),
        ) {
            Ok(entry) => entry,
            Err(e) => return outcome(false, format!("no fault switched on: {e}")),
        };
        let watched = match step(&fixture.fault).run(prober, ACTION_TIMEOUT).await {
            Ok(_) => {
                let watch = Prover {
                    patience: self.patience.min(TRUE_NEGATIVE_WATCH),
                    ..self.clone_settings()
                };
                Ok(watch.until(check, true, prober).await)
            }
            Err(e) => Err(e),
        };
        let cleared = clear.run(prober, ACTION_TIMEOUT).await;
        if cleared.is_ok() {
            let _ = journal::remove(&self.journal, entry);
        }
        let _ = self.until(check, false, prober).await;
        match (watched, cleared) {
            (_, Err(e)) => outcome(
                false,
                format!("CLEAR FAILED (the fault stays in the journal): {e}"),
            ),
            (Err(e), _) => outcome(false, format!("the fault could not be switched on: {e}")),
            (Ok(Polled::Seen(at, reason)), _) => outcome(
                false,
                format!(
                    "ESCAPED: turned red after {} under `{}`, a false alarm: {reason}",
                    render_duration(at),
                    fixture.fault
                ),
            ),
            (Ok(Polled::Never { polls, .. }), _) => outcome(
                true,
                format!("stayed green on {polls} polls under `{}`", fixture.fault),
            ),
            (Ok(Polled::Interrupted), _) => outcome(false, "interrupted".into()),
        }
    }

    fn clone_settings(&self) -> Prover {
        Prover {
            checks: self.checks.clone(),
            control: self.control.clone(),
            journal: self.journal.clone(),
            owner: self.owner,
            calibrator: self.calibrator.clone(),
            scenarios: self.scenarios.clone(),
            drills: self.drills.clone(),
            redactor: Redactor::new(&[]),
            interrupt: self.interrupt.clone(),
            poll: self.poll,
            patience: self.patience,
        }
    }

    /// Polls `check` every `poll` until it is red (`want_red`: fail or drift; a check that
    /// cannot run is not red) or passes, for at most the patience.
    async fn until(&self, check: &Check, want_red: bool, prober: &Prober) -> Polled {
        let start = Instant::now();
        let deadline = start + self.patience;
        let mut polls = 0;
        // Bounded by `deadline`: every iteration polls once (bounded by the check's timeout)
        // and then sleeps until the next poll or returns.
        loop {
            let started = Instant::now();
            // An interrupt that is already in wins over a poll that happens to be ready too.
            let (verdict, reason) = tokio::select! {
                biased;
                _ = self.interrupted() => return Polled::Interrupted,
                polled = self.once(check, prober) => polled,
            };
            polls += 1;
            let red = matches!(verdict, Verdict::Fail | Verdict::Drift);
            if (want_red && red) || (!want_red && verdict == Verdict::Pass) {
                return Polled::Seen(start.elapsed(), reason);
            }
            if Instant::now() >= deadline {
                return Polled::Never {
                    last_verdict: verdict,
                    last: format!("{verdict}: {reason}"),
                    polls,
                };
            }
            tokio::select! {
                biased;
                _ = self.interrupted() => return Polled::Interrupted,
                _ = tokio::time::sleep_until((started + self.poll).into()) => {}
            }
        }
    }

    /// Runs a check once, as the engine would (no retries), and says how it went. A drill runs
    /// whole, its own fault and restore included: under its canary, the recovery it measures
    /// must fail.
    async fn once(&self, check: &Check, prober: &Prober) -> (Verdict, String) {
        if let CheckKind::Drill(drill) = &check.kind {
            let outcome = self.drills.run(check, drill, prober, check.timeout).await;
            return (
                outcome.verdict,
                outcome.message.unwrap_or_else(|| "passed".to_string()),
            );
        }
        if check.probe().is_some() {
            let (verdict, reason, _) = run_once(check, prober, check.timeout).await;
            return (verdict, reason);
        }
        if let CheckKind::Scenario(scenario) = &check.kind {
            let run = self.scenarios.run(check, scenario, prober);
            return match tokio::time::timeout(check.timeout, run).await {
                Ok(outcome) => (
                    outcome.verdict,
                    outcome.message.unwrap_or_else(|| "passed".to_string()),
                ),
                Err(_) => (
                    Verdict::Error,
                    format!(
                        "scenario timed out after {}",
                        render_duration(check.timeout)
                    ),
                ),
            };
        }
        let CheckKind::Calibration(cal) = &check.kind else {
            return (Verdict::Error, format!("`{}` cannot be polled", check.id));
        };
        let cal = cal.clone();
        let calibrator = self.calibrator.clone();
        let task = tokio::task::spawn_blocking(move || calibrator.check(&cal));
        match tokio::time::timeout(check.timeout, task).await {
            Ok(Ok(outcome)) => {
                let reason = outcome
                    .message
                    .or_else(|| {
                        outcome
                            .findings
                            .iter()
                            .find(|f| f.status != FindingStatus::Waived)
                            .map(|f| format!("{}: {}", f.subject, f.message))
                    })
                    .unwrap_or_else(|| "passed".to_string());
                (outcome.verdict, reason)
            }
            Ok(Err(e)) => (Verdict::Error, format!("calibration failed: {e}")),
            Err(_) => (
                Verdict::Error,
                format!(
                    "calibration timed out after {}",
                    render_duration(check.timeout)
                ),
            ),
        }
    }

    async fn interrupted(&self) {
        match &self.interrupt {
            Some(notify) => notify.notified().await,
            None => std::future::pending().await,
        }
    }
}

/// Why proving stopped after a check.
enum Stop {
    Interrupted,
    /// The fault could not be cleared: the system is still broken.
    Cleared,
    /// The journal could not be written: a fault must never go in without its clear on disk.
    Journal,
    /// The check did not come back green after the clear.
    NotGreen,
}

impl Stop {
    /// The detail every later check's proof carries.
    fn reason(&self, id: &str) -> String {
        match self {
            Stop::Interrupted => "not proven: proving was interrupted".to_string(),
            Stop::Cleared => {
                format!("not proven: proving stopped because the fault of `{id}` could not be cleared")
            }
            Stop::Journal => {
                format!("not proven: proving stopped because the drill journal failed at `{id}`")
            }
            Stop::NotGreen => format!(
                "not proven: proving stopped because `{id}` did not come back green after its fault was cleared"
            ),
        }
    }
}

fn error(fault: &str, detail: String) -> Proof {
    Proof {
        fault: Some(fault.to_string()),
        status: ProofStatus::Error,
        red_after: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    //! Against a real HTTP server on loopback with a control API of its own: `/answer` is
    //! right unless the `wrong` fault is on, `/health` never changes, `stuck` is a fault
    //! that `none` does not clear, and `numb` (until `none`) keeps `/answer` right whatever
    //! the mode: the negative control of a drill whose fault is `wrong`.

    use std::path::Path;
    use std::sync::Mutex;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use axum::{Json, Router};

    use super::*;
    use crate::load::{self, LoadOptions, LoadedWall, WallSource};

    #[derive(Default)]
    struct System {
        mode: String,
        numb: bool,
        /// Every mode the control API was asked for, in order.
        asked: Vec<String>,
    }

    type Shared = Arc<Mutex<System>>;

    /// Binds before returning, so it accepts connections at once. Runs on the test's runtime
    /// and ends with it.
    async fn serve() -> (String, Shared) {
        let system: Shared = Arc::default();
        async fn answer(State(s): State<Shared>) -> Json<serde_json::Value> {
            let wrong = s
                .lock()
                .is_ok_and(|s| !s.numb && (s.mode == "wrong" || s.mode == "stuck"));
            Json(serde_json::json!({ "answer": if wrong { 5 } else { 4 } }))
        }
        async fn fault(State(s): State<Shared>, body: String) -> (StatusCode, String) {
            // Read as text, as the reference system's control API does: the journal's steps
            // send a JSON body without naming its type.
            let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let mode = body["mode"].as_str().unwrap_or_default().to_string();
            let Ok(mut s) = s.lock() else {
                return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into());
            };
            s.asked.push(mode.clone());
            match mode.as_str() {
                "none" if s.mode == "stuck" => (StatusCode::OK, "cleared (not really)".into()),
                "numb" => {
                    s.numb = true;
                    (StatusCode::OK, "ok".into())
                }
                "none" | "wrong" | "stuck" | "harmless" => {
                    s.numb &= mode != "none";
                    s.mode = mode;
                    (StatusCode::OK, "ok".into())
                }
                _ => (
                    StatusCode::BAD_REQUEST,
                    format!("unknown fault mode `{mode}`"),
                ),
            }
        }
        let app = Router::new()
            .route("/answer", get(answer))
            .route("/health", get(|| async { "ok" }))
            .route("/fault", post(fault))
            .with_state(system.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), system)
    }

    fn probe(id: &str, url: &str, path: &str, expect: &str, canary: Option<&str>) -> String {
        let canary = canary
            .map(|f| format!("\n    canary: {{ fault: {f} }}"))
            .unwrap_or_default();
        format!(
            "  - id: {id}\n    severity: P0\n    http: {{ url: \"{url}{path}\" }}\n    expect: [\"{expect}\"]{canary}\n"
        )
    }

    fn load_wall(dir: &Path, control: Option<&str>, probes: &[String]) -> LoadedWall {
        load_wall_with_drills(dir, control, probes, None)
    }

    fn load_wall_with_drills(
        dir: &Path,
        control: Option<&str>,
        probes: &[String],
        drills: Option<&str>,
    ) -> LoadedWall {
        let root = match control {
            Some(url) => format!("name: t\ndrills:\n  control: \"{url}\"\n"),
            None => "name: t\n".to_string(),
        };
        let wall = dir.join("wall");
        std::fs::create_dir_all(wall.join("probes")).expect("wall dir");
        std::fs::write(wall.join("wall.yaml"), root).expect("wall.yaml");
        std::fs::write(
            wall.join("probes/p.yaml"),
            format!("probes:\n{}", probes.concat()),
        )
        .expect("probes");
        if let Some(drills) = drills {
            std::fs::create_dir_all(wall.join("drills")).expect("drills dir");
            std::fs::write(wall.join("drills/d.yaml"), drills).expect("drills");
        }
        load::load(&WallSource::Dir(wall), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("the test wall does not load:\n{e}"))
    }

    /// The run's results as the engine would have them (each check judged once, by the same
    /// polling the proofs use), then proved; returns the summary and the events.
    async fn run_and_prove(
        loaded: &LoadedWall,
        journal: &Path,
        interrupt: Option<Arc<Notify>>,
    ) -> (RunSummary, Vec<ProofEvent>) {
        let calibrator = Arc::new(Calibrator::new(&loaded.wall.calibration));
        let prober = Prober::new().expect("prober");
        let drills = Drills::new(&loaded.wall, journal.to_path_buf());
        let mut results = Vec::new();
        for check in &loaded.wall.checks {
            let verdict = match &check.kind {
                CheckKind::Drill(drill) => {
                    drills
                        .run(check, drill, &prober, check.timeout)
                        .await
                        .verdict
                }
                _ => run_once(check, &prober, check.timeout).await.0,
            };
            results.push(CheckResult {
                id: check.id.clone(),
                suite: check.suite,
                severity: check.severity,
                tags: check.tags.clone(),
                description: None,
                origin: check.origin.clone(),
                verdict,
                flaky: false,
                attempts: 1,
                started_at: None,
                duration: Duration::ZERO,
                message: None,
                blocked_by: None,
                judgements: Vec::new(),
                observations: Default::default(),
                findings: Vec::new(),
                timeline: None,
                proof: None,
            });
        }
        let summary = RunSummary {
            info: load::run_info(loaded, None),
            finished_at: std::time::SystemTime::now(),
            results,
            deadline_exceeded: false,
            interrupted: false,
            coverage: None,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let prover = Prover::new(&loaded.wall, journal.to_path_buf(), calibrator)
            .interrupted_by(interrupt)
            .timing(Duration::from_millis(20), Duration::from_millis(600));
        let summary = prover.prove(summary, &prober, &tx).await;
        drop(tx);
        (summary, rx.into_iter().collect())
    }

    fn proof<'a>(summary: &'a RunSummary, id: &str) -> &'a Proof {
        summary
            .results
            .iter()
            .find(|r| r.id == id)
            .and_then(|r| r.proof.as_ref())
            .unwrap_or_else(|| panic!("no proof for {id}: {summary:#?}"))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_drill_is_proven_when_its_canary_breaks_what_it_measures() {
        let (url, system) = serve().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let drill = "drills:\n  - id: flip\n    severity: P0\n    steady: [answer]\n    fault: { mode: wrong }\n    detect: { check: answer, within: 300ms }\n    restore: { undo: true }\n    after: { check: answer, within: 1s }\n    canary: { fault: numb }\n";
        let loaded = load_wall_with_drills(
            dir.path(),
            Some(&url),
            &[probe("answer", &url, "/answer", "json.answer == 4", None)],
            Some(drill),
        );
        let journal = dir.path().join("journal.json");
        let (summary, _) = run_and_prove(&loaded, &journal, None).await;
        let flip = proof(&summary, "flip");
        assert_eq!(flip.status, ProofStatus::Proven, "{flip:?}");
        assert_eq!(flip.fault.as_deref(), Some("numb"));
        assert!(
            flip.detail.contains("answer") && flip.detail.contains("300ms"),
            "the drill's own failure is the proof's detail: {flip:?}"
        );
        // The run's drill, then: green before (a whole drill, its restore `none` included),
        // the canary, the red drill, its restore, the prover's clear, green again.
        let asked = system.lock().map(|s| s.asked.clone()).unwrap_or_default();
        assert_eq!(
            asked,
            ["wrong", "none", "wrong", "none", "numb", "wrong", "none", "none", "wrong", "none"]
        );
        assert!(!journal.exists());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_check_is_proven_vacuous_unproven_or_not_provable() {
        let (url, system) = serve().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = load_wall(
            dir.path(),
            Some(&url),
            &[
                probe("answer", &url, "/answer", "json.answer == 4", Some("wrong")),
                probe("health", &url, "/health", "status == 200", Some("harmless")),
                probe("plain", &url, "/health", "status == 200", None),
                probe("red", &url, "/answer", "json.answer == 7", Some("wrong")),
                probe("typo", &url, "/answer", "json.answer == 4", Some("wrnog")),
            ],
        );
        let journal = dir.path().join("journal.json");
        let (summary, events) = run_and_prove(&loaded, &journal, None).await;

        let answer = proof(&summary, "answer");
        assert_eq!(answer.status, ProofStatus::Proven, "{answer:?}");
        assert_eq!(answer.fault.as_deref(), Some("wrong"));
        assert!(answer.red_after.is_some());
        assert_eq!(answer.detail, "`json.answer == 4`: expected == 4, got 5");

        let health = proof(&summary, "health");
        assert_eq!(health.status, ProofStatus::Vacuous, "{health:?}");
        assert!(health.detail.starts_with("green on all "), "{health:?}");
        assert!(
            health
                .detail
                .ends_with(" polls over 600ms with `harmless` on: this check cannot fail"),
            "{health:?}"
        );

        assert_eq!(
            proof(&summary, "plain"),
            &Proof {
                fault: None,
                status: ProofStatus::Unproven,
                red_after: None,
                detail: "no negative control declared (`canary: { fault: NAME }`)".into()
            }
        );
        assert_eq!(
            proof(&summary, "red").detail,
            "cannot prove a check that is not green (it was fail in the run)"
        );
        let typo = proof(&summary, "typo");
        assert_eq!(typo.status, ProofStatus::Error);
        assert!(
            typo.detail
                .starts_with("the fault `wrnog` could not be switched on: "),
            "{typo:?}"
        );
        assert!(
            typo.detail.contains("unknown fault mode `wrnog`"),
            "{typo:?}"
        );

        // One at a time, each cleared (the rejected one too), nothing owed, nothing left on.
        let asked = system.lock().map(|s| s.asked.clone()).unwrap_or_default();
        assert_eq!(
            asked,
            ["wrong", "none", "harmless", "none", "wrnog", "none"]
        );
        assert!(!journal.exists());
        assert_eq!(
            system.lock().map(|s| s.mode.clone()).ok().as_deref(),
            Some("none")
        );
        assert!(!summary.interrupted);

        // The stream: started, one `Proving` per control, one `Proved` per check, finished.
        let names: Vec<String> = events
            .iter()
            .map(|e| match e {
                ProofEvent::Started { controls } => format!("started {controls}"),
                ProofEvent::Proving { id, fault } => format!("proving {id} {fault}"),
                ProofEvent::Proved { result } => format!("proved {}", result.id),
                ProofEvent::Finished { .. } => "finished".to_string(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "started 3",
                "proving answer wrong",
                "proved answer",
                "proving health harmless",
                "proved health",
                "proved plain",
                "proved red",
                "proving typo wrnog",
                "proved typo",
                "finished"
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_check_that_does_not_come_back_green_stops_the_proving() {
        let (url, system) = serve().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = load_wall(
            dir.path(),
            Some(&url),
            &[
                probe("first", &url, "/answer", "json.answer == 4", Some("stuck")),
                probe("second", &url, "/answer", "json.answer == 4", Some("wrong")),
            ],
        );
        let journal = dir.path().join("journal.json");
        let (summary, _) = run_and_prove(&loaded, &journal, None).await;
        let first = proof(&summary, "first");
        assert_eq!(first.status, ProofStatus::Error);
        assert!(
            first.detail.contains(
                "NOT GREEN AGAIN within 600ms after `stuck` was cleared: fail: `json.answer == 4`: expected == 4, got 5"
            ),
            "{first:?}"
        );
        assert_eq!(
            proof(&summary, "second").detail,
            "not proven: proving stopped because `first` did not come back green after its fault was cleared"
        );
        let asked = system.lock().map(|s| s.asked.clone()).unwrap_or_default();
        assert_eq!(asked, ["stuck", "none"], "the second fault never went in");
        assert!(
            !journal.exists(),
            "the clear itself worked: nothing is owed"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_wall_without_a_control_api_cannot_prove_its_canaries() {
        let (url, system) = serve().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = load_wall(
            dir.path(),
            None,
            &[probe(
                "answer",
                &url,
                "/answer",
                "json.answer == 4",
                Some("wrong"),
            )],
        );
        let (summary, _) = run_and_prove(&loaded, &dir.path().join("journal.json"), None).await;
        assert_eq!(
            proof(&summary, "answer"),
            &Proof {
                fault: Some("wrong".into()),
                status: ProofStatus::Error,
                red_after: None,
                detail: "the wall declares no `drills.control`, so the canary fault `wrong` cannot be switched on".into()
            }
        );
        assert!(system.lock().is_ok_and(|s| s.asked.is_empty()));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_owed_journal_entry_or_an_interrupt_switches_nothing_on() {
        let (url, system) = serve().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = load_wall(
            dir.path(),
            Some(&url),
            &[probe(
                "answer",
                &url,
                "/answer",
                "json.answer == 4",
                Some("wrong"),
            )],
        );
        let journal = dir.path().join("journal.json");

        let interrupt = Arc::new(Notify::new());
        interrupt.notify_one();
        let (summary, _) = run_and_prove(&loaded, &journal, Some(interrupt)).await;
        assert!(summary.interrupted);
        assert_eq!(
            proof(&summary, "answer").detail,
            "proving interrupted; no fault went in"
        );

        let step = Step::Post {
            url: format!("{url}/fault"),
            body: r#"{"mode":"none"}"#.into(),
        };
        journal::append(&journal, "earlier", "canary wrong", None, step).expect("journal");
        let (summary, _) = run_and_prove(&loaded, &journal, None).await;
        let owed = proof(&summary, "answer");
        assert_eq!(owed.status, ProofStatus::Error);
        assert!(
            owed.detail
                .starts_with("not proven: an earlier fault is still owed in the drill journal "),
            "{owed:?}"
        );
        assert!(system.lock().is_ok_and(|s| s.asked.is_empty()));
    }
}
