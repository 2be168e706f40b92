//! Running a Kitchen Loop scenario: arrange, L1 (the claim is well-formed against the observed
//! state), L2 (its services are up), L3 (the action answers per contract), L4 (the expected
//! changes appear within the window, nothing else changed — or, for a failure mode, nothing
//! changed at all), judged by every observer and their tribunal.
//!
//! Owns: snapshots, the per-observer delta judgement, the tribunal and the layer verdicts.
//! Must not touch: output (layers travel as observations and the message).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use auditwall_probes::Prober;
use auditwall_spec::{
    glob_match, render_duration, Check, Delta, HttpProbe, Observations, Observer, Probe, Scenario,
    Tribunal, Value, Wall,
};
use serde_json::Value as J;

use crate::drill::run_once;
use crate::engine::{failure_summary, judge};
use crate::result::Verdict;

/// How often L4 looks again while waiting for the changes.
const POLL: Duration = Duration::from_millis(50);
/// Bound on one observer read or one setup request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What scenarios need from the wall: the checks L2 runs and the observers L4 reads.
#[derive(Debug, Clone, Default)]
pub struct Scenarios {
    checks: HashMap<String, Check>,
    observers: BTreeMap<String, Observer>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub message: Option<String>,
    pub observations: Observations,
}

/// A flat state: key → value, plus where an event log stood when it was read.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    state: BTreeMap<String, J>,
    last_seq: u64,
}

impl Scenarios {
    pub fn new(wall: &Wall) -> Scenarios {
        Scenarios {
            checks: wall
                .checks
                .iter()
                .map(|c| (c.id.clone(), c.clone()))
                .collect(),
            observers: wall.observers.clone(),
        }
    }

    pub async fn run(&self, check: &Check, scenario: &Scenario, prober: &Prober) -> Outcome {
        let mut layers = Layers::default();
        let outcome = self.layers(check, scenario, prober, &mut layers).await;
        let mut observations = Observations::new();
        for (name, value) in [
            ("l1", &layers.l1),
            ("l2", &layers.l2),
            ("l3", &layers.l3),
            ("l4", &layers.l4),
        ] {
            observations.set(
                name,
                Value::Text(value.clone().unwrap_or_else(|| "not run".into())),
            );
        }
        let (verdict, message) = outcome;
        Outcome {
            verdict,
            message,
            observations,
        }
    }

    async fn layers(
        &self,
        check: &Check,
        scenario: &Scenario,
        prober: &Prober,
        layers: &mut Layers,
    ) -> (Verdict, Option<String>) {
        // Arrange.
        for (i, request) in scenario.setup.iter().enumerate() {
            if let Err(e) = request_ok(prober, request).await {
                return (
                    Verdict::Error,
                    Some(format!(
                        "setup step {} failed, nothing was judged: {e}",
                        i + 1
                    )),
                );
            }
        }
        // L1: the claim names state that exists, read by observers that answer.
        let delta = scenario.delta.as_ref();
        // Without a delta, L1 still reads the wall's state observers to find the entities.
        let observer_names: Vec<&String> = match delta {
            Some(d) => d.observers.iter().collect(),
            None => self
                .observers
                .iter()
                .filter(|(_, o)| matches!(o, Observer::State(_)))
                .map(|(n, _)| n)
                .collect(),
        };
        let mut before: Vec<(String, Snapshot)> = Vec::new();
        for name in &observer_names {
            match self.read(name, None, prober).await {
                Ok(s) => before.push(((*name).clone(), s)),
                Err(e) => {
                    layers.l1 = Some(format!("fail: {e}"));
                    return (
                        Verdict::Error,
                        Some(format!("L1: observer {name} could not be read: {e}")),
                    );
                }
            }
        }
        let base = before
            .iter()
            .find(|(n, _)| matches!(self.observers.get(n), Some(Observer::State(_))))
            .map(|(_, s)| s.state.clone());
        if base.is_none() && (delta.is_some() || !scenario.entities.is_empty()) {
            layers.l1 = Some("fail: no state observer".into());
            return (
                Verdict::Error,
                Some("L1: no `state` observer to snapshot (the delta must name one)".into()),
            );
        }
        let base = base.unwrap_or_default();
        let mut missing: Vec<String> = scenario
            .entities
            .iter()
            .filter(|glob| !base.keys().any(|k| glob_match(glob, k)))
            .map(|glob| format!("`{glob}`"))
            .collect();
        if let Some(d) = delta {
            for (glob, _, at) in &d.expect {
                if !base.keys().any(|k| glob_match(glob, k)) {
                    missing.push(format!("`{glob}` (delta path at {at})"));
                }
            }
        }
        if !missing.is_empty() {
            let text = format!(
                "matches nothing in the observed state: {}",
                missing.join(", ")
            );
            layers.l1 = Some(format!("fail: {text}"));
            return (Verdict::Error, Some(format!("L1: {text}")));
        }
        layers.l1 = Some("pass".into());
        // L2: the services the claim needs are up.
        for id in &scenario.execute {
            let Some(step) = self.checks.get(id) else {
                layers.l2 = Some(format!("fail: `{id}` is not in the wall"));
                return (
                    Verdict::Error,
                    Some(format!("L2: `{id}` is not in the wall")),
                );
            };
            let (verdict, reason, _) = run_once(step, prober, step.timeout).await;
            if verdict != Verdict::Pass {
                layers.l2 = Some(format!("fail: {id}: {reason}"));
                return (Verdict::Fail, Some(format!("L2: {id} is not up: {reason}")));
            }
        }
        layers.l2 = Some("pass".into());
        // L3: the action answers per its contract.
        let Some(act) = &scenario.act else {
            layers.l3 = Some("not attempted".into());
            layers.l4 = Some("incomplete".into());
            return (Verdict::Fail, Some("incomplete: L1–L2 passed but the scenario never acts, so L4 was never attempted".into()));
        };
        let act_check = Check {
            kind: auditwall_spec::CheckKind::Probe {
                probe: Probe::Http(act.http.clone()),
                expect: act.expect.clone(),
            },
            ..check.clone()
        };
        let timeout = act.http.timeout.unwrap_or(REQUEST_TIMEOUT);
        let outcome = prober.run(&Probe::Http(act.http.clone()), timeout).await;
        let (verdict, message, judgements, _) = judge(&act_check, outcome);
        if verdict != Verdict::Pass {
            let reason = message
                .or_else(|| failure_summary(&judgements))
                .unwrap_or_default();
            layers.l3 = Some(format!("fail: {reason}"));
            return (
                Verdict::Fail,
                Some(format!("L3: the action broke its contract: {reason}")),
            );
        }
        layers.l3 = Some("pass".into());
        // L4: the state delta, by every observer.
        let Some(delta) = delta else {
            layers.l4 = Some("incomplete".into());
            return (Verdict::Fail, Some("incomplete: L1–L3 passed but the scenario has no `delta`, so L4 was never attempted".into()));
        };
        let verdict = self.delta(delta, &before, &base, prober).await;
        match verdict {
            L4::Pass(detail) => {
                layers.l4 = Some(format!("pass: {detail}"));
                (Verdict::Pass, None)
            }
            L4::Fail(detail) => {
                layers.l4 = Some(format!("fail: {detail}"));
                (Verdict::Fail, Some(format!("L4: {detail} (L1–L3 passed)")))
            }
            L4::Disagree(detail) => {
                layers.l4 = Some(format!("disagree: {detail}"));
                (
                    Verdict::Fail,
                    Some(format!("L4 observers disagree: {detail} (L1–L3 passed)")),
                )
            }
        }
    }

    /// Polls every observer until the tribunal is satisfied, or (for a conserving claim)
    /// through the whole window; judges the last reading of each.
    async fn delta(
        &self,
        delta: &Delta,
        before: &[(String, Snapshot)],
        base: &BTreeMap<String, J>,
        prober: &Prober,
    ) -> L4 {
        let started = Instant::now();
        let deadline = started + delta.within;
        // Bounded by the window: every iteration sleeps one poll or returns.
        loop {
            let polled = Instant::now();
            let mut verdicts: Vec<(String, Result<(), String>)> = Vec::new();
            for (name, snap) in before {
                let judged = match self.read(name, Some((base, snap.last_seq)), prober).await {
                    Ok(after) => judge_delta(delta, base, &after.state),
                    Err(e) => Err(format!("could not be read: {e}")),
                };
                verdicts.push((name.clone(), judged));
            }
            let passed = verdicts.iter().filter(|(_, v)| v.is_ok()).count();
            let needed = match delta.tribunal {
                Tribunal::All => verdicts.len(),
                Tribunal::AtLeast(k) => k,
            };
            let at = render_duration(started.elapsed());
            let conserve_running = delta.conserve && Instant::now() < deadline;
            if passed >= needed && !conserve_running {
                let names: Vec<&str> = verdicts
                    .iter()
                    .filter(|(_, v)| v.is_ok())
                    .map(|(n, _)| n.as_str())
                    .collect();
                let what = if delta.conserve {
                    "state conserved"
                } else {
                    "expected changes seen"
                };
                return L4::Pass(format!("{what} after {at} by {}", names.join(", ")));
            }
            // A conserving claim fails at the first change; an expecting one waits.
            let conserve_broken = delta.conserve && passed < needed;
            if conserve_broken || Instant::now() >= deadline {
                let detail: Vec<String> = verdicts
                    .iter()
                    .map(|(n, v)| match v {
                        Ok(()) => format!("{n}: as claimed"),
                        Err(e) => format!("{n}: {e}"),
                    })
                    .collect();
                let window = render_duration(delta.within);
                let detail = format!("{} (window {window})", detail.join("; "));
                return if passed > 0 {
                    L4::Disagree(detail)
                } else {
                    L4::Fail(detail)
                };
            }
            tokio::time::sleep_until((polled + POLL).into()).await;
        }
    }

    /// Reads an observer. An events observer is applied to `base` from `since` on (or, for a
    /// first read, only says where its log stands).
    async fn read(
        &self,
        name: &str,
        apply: Option<(&BTreeMap<String, J>, u64)>,
        prober: &Prober,
    ) -> Result<Snapshot, String> {
        let observer = self
            .observers
            .get(name)
            .ok_or_else(|| format!("unknown observer `{name}`"))?;
        let (url, events) = match observer {
            Observer::State(url) => (url, false),
            Observer::Events(url) => (url, true),
        };
        let json = get_json(prober, url).await?;
        if !events {
            let map = json
                .as_object()
                .ok_or_else(|| format!("{url} did not answer a JSON object"))?;
            return Ok(Snapshot {
                state: map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                last_seq: 0,
            });
        }
        let list = json
            .get("events")
            .and_then(J::as_array)
            .ok_or_else(|| format!("{url} did not answer {{\"events\": [...]}}"))?;
        let mut state = apply.map(|(base, _)| base.clone()).unwrap_or_default();
        let since = apply.map_or(u64::MAX, |(_, seq)| seq);
        let mut last_seq = 0;
        for e in list {
            let seq = e.get("seq").and_then(J::as_u64).unwrap_or(0);
            last_seq = last_seq.max(seq);
            if seq <= since {
                continue;
            }
            let entity = e.get("entity").and_then(J::as_str);
            let change = e.get("change");
            let attribute = change.and_then(|c| c.get("attribute")).and_then(J::as_str);
            let to = change.and_then(|c| c.get("to"));
            if let (Some(entity), Some(attribute), Some(to)) = (entity, attribute, to) {
                state.insert(format!("{entity}.{attribute}"), to.clone());
            }
        }
        Ok(Snapshot { state, last_seq })
    }
}

enum L4 {
    Pass(String),
    Fail(String),
    Disagree(String),
}

#[derive(Default)]
struct Layers {
    l1: Option<String>,
    l2: Option<String>,
    l3: Option<String>,
    l4: Option<String>,
}

/// One observer's judgement: every expected key has its value, at least one of them by a
/// change (a claim whose state was already there before the act proves nothing about the
/// act), and (unless `others: any`) every other key is as it was; a conserving claim wants
/// every key as it was.
fn judge_delta(
    delta: &Delta,
    before: &BTreeMap<String, J>,
    after: &BTreeMap<String, J>,
) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (glob, want, _) in &delta.expect {
        let mut matched = false;
        for (key, value) in after.iter().filter(|(k, _)| glob_match(glob, k)) {
            matched = true;
            if !same(value, want) {
                wrong.push(format!("{key} expected {want}, observed {value}"));
            }
        }
        if !matched {
            wrong.push(format!("{glob} matches nothing"));
        }
    }
    let expected = |key: &String| delta.expect.iter().any(|(g, _, _)| glob_match(g, key));
    let changed = after
        .iter()
        .any(|(k, v)| expected(k) && before.get(k).is_none_or(|was| !same(was, v)));
    if wrong.is_empty() && !delta.expect.is_empty() && !changed {
        wrong.push(
            "nothing it expects changed: every expected key already had its value before the act \
             (the act did nothing, or the setup did not arrange the state the claim starts from)"
                .to_string(),
        );
    }
    if delta.conserve || delta.others_unchanged {
        let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for key in keys {
            if expected(key) {
                continue;
            }
            let (was, now) = (before.get(key), after.get(key));
            if !matches!((was, now), (Some(a), Some(b)) if same(a, b)) {
                let show = |v: Option<&J>| v.map_or("absent".to_string(), J::to_string);
                wrong.push(format!(
                    "{key} changed from {} to {} (nothing else may change)",
                    show(was),
                    show(now)
                ));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join(", "))
    }
}

/// JSON equality where numbers compare by value (`19.5` and `19.50`, `1` and `1.0`).
fn same(a: &J, b: &J) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

async fn get_json(prober: &Prober, url: &str) -> Result<J, String> {
    let probe = Probe::Http(HttpProbe {
        method: "GET".into(),
        url: url.to_string(),
        headers: Default::default(),
        body: None,
        timeout: Some(REQUEST_TIMEOUT),
    });
    let obs = prober
        .run(&probe, REQUEST_TIMEOUT)
        .await
        .map_err(|e| e.message)?;
    match (obs.get("status"), obs.get("json")) {
        (Some(Value::Number(s)), Some(Value::Json(j))) if *s < 400.0 => Ok(j.clone()),
        (Some(Value::Number(s)), _) => Err(format!("{url} answered {s}")),
        _ => Err(format!("{url} did not answer JSON")),
    }
}

async fn request_ok(prober: &Prober, request: &HttpProbe) -> Result<(), String> {
    let timeout = request.timeout.unwrap_or(REQUEST_TIMEOUT);
    let obs = prober
        .run(&Probe::Http(request.clone()), timeout)
        .await
        .map_err(|e| e.message)?;
    match obs.get("status") {
        Some(Value::Number(s)) if *s < 400.0 => Ok(()),
        Some(Value::Number(s)) => {
            let body = match obs.get("body") {
                Some(Value::Text(t)) => t.clone(),
                _ => String::new(),
            };
            Err(format!(
                "{} {} answered {s}: {body}",
                request.method, request.url
            ))
        }
        _ => Err(format!("{} {} gave no status", request.method, request.url)),
    }
}
