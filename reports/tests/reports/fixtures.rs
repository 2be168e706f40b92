//! Fixed run summaries for the reporter tests: every verdict, a flaky pass, a blocked check,
//! a fired deadline, every observation type, calibration findings of every status (one
//! with a real multi-line diff), and drill timelines (a clean pass, a phase over budget, a
//! recovery that never happened with a check that went red), and a proved run (every proof
//! status), at fixed instants so snapshots are stable.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auditwall_harness::event::Event;
use auditwall_harness::prove::ProofEvent;
use auditwall_harness::result::{
    CheckResult, Finding, FindingStatus, Proof, ProofStatus, ResourcePeak, RunInfo, RunSummary,
    Timeline, TimelineEvent, Unaffected, Verdict,
};
use auditwall_spec::condition::Judgement;
use auditwall_spec::{Observations, Origin, Severity, Suite, Value};

/// 2026-11-27T09:34:00Z
pub const STARTED: u64 = 1_795_772_040;

pub fn at(offset_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(STARTED) + Duration::from_millis(offset_ms)
}

pub fn info(planned: usize) -> RunInfo {
    RunInfo {
        run_id: "20261127T093400Z-1a2b3c".into(),
        wall: "homelab".into(),
        wall_source: "/srv/walls/homelab".into(),
        git_commit: Some("9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6".into()),
        profile_digest: "5d41402abc4b2a76b9719d911017c592ae2b5a1bf0b6c0e0f4a1b2c3d4e5f607".into(),
        profile_name: "studio".into(),
        host: "studio.local".into(),
        started_at: at(0),
        planned,
    }
}

pub fn check(suite: Suite, id: &str, verdict: Verdict, file_line: (&str, u32)) -> CheckResult {
    CheckResult {
        id: id.into(),
        suite,
        severity: Severity::P2,
        tags: Vec::new(),
        description: None,
        origin: Origin {
            file: file_line.0.into(),
            line: file_line.1,
            column: 3,
        },
        verdict,
        flaky: false,
        attempts: 1,
        started_at: Some(at(5)),
        duration: Duration::from_millis(12),
        message: None,
        blocked_by: None,
        judgements: Vec::new(),
        observations: Observations::new(),
        findings: Vec::new(),
        timeline: None,
        proof: None,
    }
}

pub fn judgement(condition: &str, passed: bool, actual: &str, reason: Option<&str>) -> Judgement {
    Judgement {
        condition: condition.into(),
        passed,
        actual: Some(actual.into()),
        budget: condition.starts_with("latency") || condition.starts_with("rss"),
        reason: reason.map(str::to_string),
    }
}

pub fn observations(values: Vec<(&str, Value)>) -> Observations {
    let mut obs = Observations::new();
    for (name, value) in values {
        obs.set(name, value);
    }
    obs
}

pub fn finding(
    subject: &str,
    kind: &str,
    status: FindingStatus,
    message: &str,
    diff: Option<&str>,
) -> Finding {
    Finding {
        subject: subject.into(),
        kind: kind.into(),
        status,
        message: message.into(),
        diff: diff.map(str::to_string),
    }
}

/// What the calibration suite writes for a deployed router config whose first fallback and
/// retry count were edited by hand, and which grew a debug switch.
pub const ROUTER_DIFF: &str = "\
--- templates/router.yaml.tmpl (canonical)
+++ /srv/homelab/deployed/router.yaml (deployed)
@@ -1,6 +1,6 @@
 listen: 127.0.0.1:18080
 fallback_urls:
-  - http://127.0.0.1:18081
+  - http://127.0.0.1:18099
   - http://127.0.0.1:18082
 timeout: 30s
-retries: 2
+retries: 5
@@ -12,3 +12,4 @@
 metrics:
   enabled: true
   path: /metrics
+debug: true
";

const WATCHDOG_DIFF: &str = "\
--- templates/watchdog.yaml.tmpl (canonical)
+++ /srv/homelab/deployed/watchdog.yaml (deployed)
@@ -3,1 +3,1 @@
-backoff: 2s
+backoff: 10s
";

/// A drifted calibration check with one finding of every status (and the common kinds).
pub fn drifted_calibration() -> CheckResult {
    let deployed = "/srv/homelab/deployed";
    let mut c = check(
        Suite::Calibration,
        "deployed.config",
        Verdict::Drift,
        ("walls/homelab/calibration.yaml", 9),
    );
    c.severity = Severity::P1;
    c.duration = Duration::from_millis(41);
    c.message = Some("4 of 7 deployed files drifted (1 waived); 1 could not be checked".into());
    c.findings = vec![
        finding(
            &format!("{deployed}/router.yaml"),
            "differs",
            FindingStatus::Drift,
            "content differs from canonical templates/router.yaml.tmpl",
            Some(ROUTER_DIFF),
        ),
        finding(
            &format!("{deployed}/hub.yaml"),
            "missing",
            FindingStatus::Drift,
            "missing (canonical: templates/hub.yaml.tmpl)",
            None,
        ),
        finding(
            &format!("{deployed}/conf.d/old-router.yaml"),
            "extra",
            FindingStatus::Drift,
            &format!("unmanaged file in managed directory {deployed}/conf.d"),
            None,
        ),
        finding(
            &format!("{deployed}/watchdog.yaml"),
            "differs",
            FindingStatus::Waived,
            "content differs from canonical templates/watchdog.yaml.tmpl\n\
             waived until 2026-12-31: restart backoff tuned for the slow fallback",
            Some(WATCHDOG_DIFF),
        ),
        finding(
            &format!("{deployed}/models.env"),
            "mode_differs",
            FindingStatus::WaiverExpired,
            "mode is 0644, expected 0600 (waiver expired 2026-11-01)",
            None,
        ),
        finding(
            &format!("{deployed}/secrets.env"),
            "unreadable",
            FindingStatus::Error,
            &format!("cannot read {deployed}/secrets.env: Permission denied (os error 13)"),
            None,
        ),
    ];
    c
}

pub fn event(
    phase: &str,
    at_ms: Option<u64>,
    budget_ms: Option<u64>,
    detail: &str,
) -> TimelineEvent {
    let at = at_ms.map(Duration::from_millis);
    let budget = budget_ms.map(Duration::from_millis);
    TimelineEvent {
        phase: phase.into(),
        at,
        budget,
        ok: match (at, budget) {
            (Some(at), Some(budget)) => at <= budget,
            (at, None) => at.is_some(),
            (None, Some(_)) => false,
        },
        detail: detail.into(),
    }
}

pub fn peak(service: &str, samples: u32, rss_max: u64, swap_max: u64) -> ResourcePeak {
    ResourcePeak {
        service: service.into(),
        samples,
        rss_max,
        swap_max,
    }
}

fn drill(id: &str, verdict: Verdict, line: u32, timeline: Timeline) -> CheckResult {
    let mut c = check(
        Suite::Drills,
        id,
        verdict,
        ("walls/homelab/drills.yaml", line),
    );
    c.severity = Severity::P0;
    c.timeline = Some(timeline);
    c
}

/// The primary stops; the router fails over within budget and is back on the primary after
/// the restore.
pub fn passing_drill() -> CheckResult {
    let mut detect = event(
        "detect",
        Some(112),
        Some(2_000),
        "model-primary.health red: connection refused",
    );
    // Measured instants carry microseconds; the JSON report keeps them.
    detect.at = Some(Duration::from_micros(112_250));
    let mut c = drill(
        "primary.failover",
        Verdict::Pass,
        14,
        Timeline {
            poll: Duration::from_millis(50),
            events: vec![
                event("fault", Some(0), None, "stop model-primary"),
                detect,
                event(
                    "recover",
                    Some(1_620),
                    Some(3_000),
                    "router.chat answered, served by model-fallback",
                ),
                event("restore", Some(1_700), None, "start model-primary"),
                event(
                    "steady",
                    Some(1_950),
                    Some(10_000),
                    "router.golden passed, served by model-primary",
                ),
            ],
            unaffected: vec![Unaffected {
                check: "hub.state".into(),
                polls: 24,
                red_at: None,
                detail: None,
            }],
            resources: vec![
                peak("model-primary", 40, 12_897_485, 0),
                peak("router", 40, 8_493_466, 0),
            ],
        },
    );
    c.duration = Duration::from_millis(2_410);
    c
}

/// The fallback's cold load makes the recovery late: drift, with the measured number.
pub fn late_drill() -> CheckResult {
    let mut c = drill(
        "primary.kill",
        Verdict::Drift,
        30,
        Timeline {
            poll: Duration::from_millis(50),
            events: vec![
                event("fault", Some(0), None, "kill model-primary (SIGKILL)"),
                event(
                    "detect",
                    Some(96),
                    Some(2_000),
                    "model-primary.health red: connection refused",
                ),
                event(
                    "recover",
                    Some(4_210),
                    Some(3_000),
                    "router.chat answered, served by model-fallback",
                ),
                event("restore", Some(4_300), None, "start model-primary"),
                event(
                    "steady",
                    Some(4_900),
                    Some(10_000),
                    "router.golden passed, served by model-primary",
                ),
            ],
            unaffected: vec![Unaffected {
                check: "model-fallback.health".into(),
                polls: 1,
                red_at: None,
                detail: Some("slowest answer 3.9s".into()),
            }],
            resources: vec![peak("model-fallback", 85, 1_288_490_189, 67_108_864)],
        },
    );
    c.duration = Duration::from_millis(5_020);
    c.message = Some("recover took 4.2s, budget 3s".into());
    c
}

/// The watchdog's circuit breaker suppresses the one restart that was needed: the router
/// never comes back on its own, and a check that had to stay green goes red.
pub fn failed_drill() -> CheckResult {
    let mut c = drill(
        "router.restart",
        Verdict::Fail,
        46,
        Timeline {
            poll: Duration::from_millis(100),
            events: vec![
                event("fault", Some(0), None, "kill router"),
                event(
                    "detect",
                    Some(80),
                    Some(2_000),
                    "router.health red: connection refused",
                ),
                event(
                    "recover",
                    None,
                    Some(5_000),
                    "watchdog did not restart router: circuit breaker open after 3 restarts",
                ),
                event("restore", Some(5_050), None, "start router"),
                event(
                    "steady",
                    Some(5_600),
                    Some(10_000),
                    "router.chat passed, served by model-primary",
                ),
            ],
            unaffected: vec![Unaffected {
                check: "hub.state".into(),
                polls: 12,
                red_at: Some(Duration::from_millis(340)),
                detail: Some("status == 200: expected 200, got 503".into()),
            }],
            resources: vec![peak("watchdog", 1, 3_355_443, 0)],
        },
    );
    c.duration = Duration::from_millis(5_700);
    c.message = Some("recover never happened within 5s".into());
    c
}

/// One check per verdict, plus a flaky pass, a check cut off by the deadline, a drifted
/// calibration check, a passing one whose only drift is waived, and three drills that ran.
pub fn results() -> Vec<CheckResult> {
    let probes = "walls/homelab/probes.yaml";

    let mut health = check(Suite::Probes, "router.health", Verdict::Pass, (probes, 4));
    health.severity = Severity::P0;
    health.tags = vec!["router".into(), "fast".into()];
    health.judgements = vec![judgement("status == 200", true, "200", None)];
    health.observations = observations(vec![
        ("status", Value::Number(200.0)),
        ("latency", Value::Duration(Duration::from_micros(11_840))),
    ]);

    let mut chat = check(Suite::Probes, "router.chat", Verdict::Fail, (probes, 12));
    chat.severity = Severity::P0;
    chat.description = Some("A real chat completion through the router".into());
    chat.tags = vec!["router".into()];
    chat.duration = Duration::from_millis(1_234);
    chat.attempts = 2;
    chat.judgements = vec![
        judgement("status == 200", false, "503", Some("expected 200, got 503")),
        judgement(
            "json.choices[0].message.content contains '4'",
            false,
            "<missing>",
            Some("json.choices is missing"),
        ),
        judgement("latency < 2s", true, "1.2s", None),
    ];
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_string(), "application/json".to_string());
    headers.insert("x-served-by".to_string(), "none".to_string());
    chat.observations = observations(vec![
        ("status", Value::Number(503.0)),
        ("latency", Value::Duration(Duration::from_millis(1_234))),
        ("header", Value::Map(headers)),
        (
            "json",
            Value::Json(serde_json::json!({"error": {"message": "no backend available"}})),
        ),
        ("size", Value::Bytes(48)),
    ]);

    let mut fallback = check(
        Suite::Probes,
        "model.fallback.latency",
        Verdict::Drift,
        (probes, 30),
    );
    fallback.severity = Severity::P1;
    fallback.duration = Duration::from_millis(1_815);
    fallback.judgements = vec![
        judgement("status == 200", true, "200", None),
        judgement(
            "latency < 300ms",
            false,
            "1.8s",
            Some("expected < 300ms, got 1.8s"),
        ),
    ];
    fallback.observations = observations(vec![
        ("status", Value::Number(200.0)),
        ("latency", Value::Duration(Duration::from_millis(1_812))),
    ]);

    let mut hub = check(Suite::Probes, "hub.state", Verdict::Pass, (probes, 41));
    hub.flaky = true;
    hub.attempts = 2;
    hub.duration = Duration::from_millis(2_050);
    hub.observations = observations(vec![
        ("status", Value::Number(200.0)),
        ("body", Value::Text("{\"door.front.locked\":true}".into())),
    ]);

    let mut disk = check(Suite::Probes, "model.weights", Verdict::Error, (probes, 52));
    disk.severity = Severity::P1;
    disk.attempts = 1;
    disk.duration = Duration::from_micros(830);
    disk.message = Some(
        "cannot run command `sha256sum`: No such file or directory (os error 2)\n\
         the detector is broken, not the system"
            .into(),
    );
    disk.observations = observations(vec![
        ("exit", Value::Null),
        ("stderr", Value::Text(String::new())),
    ]);

    let mut config = check(
        Suite::Calibration,
        "router.config",
        Verdict::Error,
        ("walls/homelab/calibration.yaml", 2),
    );
    config.attempts = 0;
    config.started_at = None;
    config.duration = Duration::ZERO;
    config.message = Some("not finished before the run deadline (5m00s)".into());

    let drifted = drifted_calibration();

    let mut waived = check(
        Suite::Calibration,
        "hub.config",
        Verdict::Pass,
        ("walls/homelab/calibration.yaml", 20),
    );
    waived.duration = Duration::from_millis(8);
    waived.findings = vec![finding(
        "/srv/homelab/deployed/hub-automations.yaml",
        "differs",
        FindingStatus::Waived,
        "content differs from canonical templates/hub-automations.yaml.tmpl",
        Some(
            "--- templates/hub-automations.yaml.tmpl (canonical)\n\
             +++ /srv/homelab/deployed/hub-automations.yaml (deployed)\n\
             @@ -1,1 +1,1 @@\n\
             -goodnight_at: \"23:00\"\n\
             +goodnight_at: \"23:30\"\n",
        ),
    )];

    let mut failover = check(
        Suite::Drills,
        "router.failover",
        Verdict::Skip,
        ("walls/homelab/drills.yaml", 1),
    );
    failover.attempts = 0;
    failover.started_at = None;
    failover.duration = Duration::ZERO;
    failover.message = Some("disruptive: run with --allow-disruptive".into());

    let mut goodnight = check(
        Suite::Scenarios,
        "hub.goodnight",
        Verdict::Blocked,
        ("walls/homelab/scenarios.yaml", 7),
    );
    goodnight.attempts = 0;
    goodnight.started_at = None;
    goodnight.duration = Duration::ZERO;
    goodnight.blocked_by = Some("router.chat".into());
    goodnight.observations = observations(vec![
        ("rss", Value::Bytes(157_286_400)),
        ("ratio", Value::Number(0.25)),
        ("locked", Value::Bool(false)),
    ]);

    vec![
        health,
        chat,
        fallback,
        hub,
        disk,
        config,
        drifted,
        waived,
        failover,
        passing_drill(),
        late_drill(),
        failed_drill(),
        goodnight,
    ]
}

pub fn summary() -> RunSummary {
    let results = results();
    RunSummary {
        info: info(results.len()),
        finished_at: at(3_412),
        results,
        deadline_exceeded: true,
        interrupted: false,
        coverage: Some(auditwall_harness::result::CoverageSummary {
            valid: 115,
            blocked: 10,
            claimed: 42,
            green: 41,
        }),
    }
}

/// The event stream an engine would emit for [`summary`], including retries.
pub fn events() -> Vec<Event> {
    let summary = summary();
    let mut events = vec![Event::RunStarted {
        info: summary.info.clone(),
    }];
    for result in &summary.results {
        if result.attempts > 0 {
            events.push(Event::CheckStarted {
                id: result.id.clone(),
            });
        }
        if result.attempts == 2 {
            events.push(Event::CheckRetrying {
                id: result.id.clone(),
                attempt: 1,
                reason: "connection reset by peer".into(),
            });
        }
        events.push(Event::CheckFinished {
            result: result.clone(),
        });
    }
    events.push(Event::RunFinished { summary });
    events
}

fn proved(
    suite: Suite,
    id: &str,
    severity: Severity,
    verdict: Verdict,
    line: u32,
    proof: Proof,
) -> CheckResult {
    let mut c = check(suite, id, verdict, ("walls/homelab/probes.yaml", line));
    c.severity = severity;
    c.proof = Some(proof);
    c
}

fn proof(
    fault: Option<&str>,
    status: ProofStatus,
    red_after_us: Option<u64>,
    detail: &str,
) -> Proof {
    Proof {
        fault: fault.map(str::to_string),
        status,
        red_after: red_after_us.map(Duration::from_micros),
        detail: detail.into(),
    }
}

/// A run with `--prove`: one check for every proof status, a vacuous check at P0 (fails the
/// run) and at P2 (does not), a check that was red in the run, and a control that never
/// came back green.
pub fn proved_summary() -> RunSummary {
    let results = vec![
        proved(
            Suite::Probes,
            "router.chat",
            Severity::P0,
            Verdict::Pass,
            12,
            proof(
                Some("hang-chat"),
                ProofStatus::Proven,
                Some(3_021_250),
                "timed out after 3s",
            ),
        ),
        proved(
            Suite::Probes,
            "hub.health",
            Severity::P0,
            Verdict::Pass,
            50,
            proof(
                Some("wrong-answer"),
                ProofStatus::Vacuous,
                None,
                "green on all 312 polls over 20s with `wrong-answer` on: this check cannot fail",
            ),
        ),
        proved(
            Suite::Probes,
            "model.models",
            Severity::P2,
            Verdict::Pass,
            61,
            proof(
                Some("hang-chat"),
                ProofStatus::Vacuous,
                None,
                "green on all 380 polls over 20s with `hang-chat` on: this check cannot fail",
            ),
        ),
        proved(
            Suite::Probes,
            "router.health",
            Severity::P1,
            Verdict::Pass,
            4,
            proof(
                None,
                ProofStatus::Unproven,
                None,
                "no negative control declared (`canary: { fault: NAME }`)",
            ),
        ),
        proved(
            Suite::Probes,
            "hub.action",
            Severity::P0,
            Verdict::Fail,
            70,
            proof(
                Some("success-false"),
                ProofStatus::Error,
                None,
                "cannot prove a check that is not green (it was fail in the run)",
            ),
        ),
        proved(
            Suite::Calibration,
            "reference.configs",
            Severity::P1,
            Verdict::Pass,
            9,
            proof(
                Some("config-drift"),
                ProofStatus::Proven,
                Some(41_800),
                "1 of 5 deployed files drifted",
            ),
        ),
        proved(
            Suite::Probes,
            "watchdog.status",
            Severity::P0,
            Verdict::Pass,
            90,
            proof(
                Some("crash-loop"),
                ProofStatus::Error,
                None,
                "turned red after 2.1s under `crash-loop`, but NOT GREEN AGAIN within 20s after `crash-loop` was cleared: fail: `body !contains 'BLOCKED'` does not hold",
            ),
        ),
        proved(
            Suite::Drills,
            "router.failover",
            Severity::P0,
            Verdict::Pass,
            1,
            proof(
                None,
                ProofStatus::Unproven,
                None,
                "no negative control declared (`canary: { fault: NAME }`)",
            ),
        ),
    ];
    RunSummary {
        info: info(results.len()),
        finished_at: at(3_412),
        results,
        deadline_exceeded: false,
        interrupted: false,
        coverage: None,
    }
}

/// The proving phase's events for [`proved_summary`], as the prover sends them.
pub fn proof_events() -> Vec<ProofEvent> {
    let summary = proved_summary();
    let mut events = vec![ProofEvent::Started { controls: 5 }];
    for result in &summary.results {
        let ran = result.verdict == Verdict::Pass
            && result.proof.as_ref().is_some_and(|p| p.fault.is_some());
        if ran {
            events.push(ProofEvent::Proving {
                id: result.id.clone(),
                fault: result
                    .proof
                    .as_ref()
                    .and_then(|p| p.fault.clone())
                    .unwrap_or_default(),
            });
        }
        events.push(ProofEvent::Proved {
            result: result.clone(),
        });
    }
    events.push(ProofEvent::Finished { summary });
    events
}
