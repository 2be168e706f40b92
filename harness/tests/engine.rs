//! The engine against real things: an axum server on loopback, real commands, real files.
//! Verdicts, messages, retries, timeouts, the deadline, concurrency bounds, disruptive checks
//! and the event stream are asserted from what the server and the engine actually did.

mod support;

use std::collections::HashMap;
use std::net::TcpListener;

use auditwall_harness::engine::failure_summary;
use auditwall_harness::event::Event;
use auditwall_harness::load::{self, LoadOptions, WallSource};
use auditwall_harness::result::Verdict;
use support::{options, result, run_dir, run_loaded, wall, Server};

/// A port with nothing listening: bound by the OS, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_healthy_wall_passes_every_check_on_the_first_attempt() {
    let server = Server::start().await;
    let dir = wall("  timeout: 5s", "");
    let file = dir.path().join("wall.yaml");
    support::write(
        dir.path(),
        "probes/checks.yaml",
        &format!(
            r#"probes:
  - id: api
    http: {{ url: "{}" }}
    expect: ["status == 200", "json.ok == true"]
  - id: shell
    command: {{ run: [sh, -c, "echo hello"] }}
    expect: ["exit == 0", "stdout contains 'hello'"]
  - id: config
    file: {{ path: "{}" }}
"#,
            server.url("/ok"),
            file.display()
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    assert_eq!(summary.results.len(), 3);
    assert_eq!(summary.count(Verdict::Pass), 3, "{:#?}", summary.results);
    for r in &summary.results {
        assert_eq!(r.attempts, 1, "{}", r.id);
        assert!(!r.flaky, "{}", r.id);
        assert_eq!(r.message, None, "{}", r.id);
        assert!(r.judgements.iter().all(|j| j.passed), "{}", r.id);
    }
    assert!(!summary.deadline_exceeded);
    assert_eq!(summary.info.planned, 3);
    let ids: Vec<&str> = summary.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["api", "shell", "config"], "results keep plan order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_contract_fails_naming_the_condition_and_the_actual_value() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: broken\n    http: {{ url: \"{}\" }}\n    expect: [\"status == 200\"]\n",
            server.url("/status/503")
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "broken");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.message, None, "the judgements are the whole reason");
    assert_eq!(
        failure_summary(&r.judgements).as_deref(),
        Some("`status == 200`: expected == 200, got 503")
    );
    assert_eq!(r.judgements.len(), 1);
    assert!(!r.judgements[0].passed);
    assert_eq!(r.judgements[0].actual.as_deref(), Some("503"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missed_budget_alone_is_drift_not_fail() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: slow\n    http: {{ url: \"{}\" }}\n    expect: [\"status == 200\", \"latency < 1ms\"]\n",
            server.url("/slow")
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "slow");
    assert_eq!(r.verdict, Verdict::Drift, "{r:#?}");
    let message = failure_summary(&r.judgements).unwrap_or_default();
    assert!(
        message.starts_with("`latency < 1ms`: expected < 1ms, got "),
        "{message}"
    );
    assert!(r.judgements[0].passed, "the contract itself holds");
    assert!(!r.judgements[1].passed && r.judgements[1].budget);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_contract_outranks_a_missed_budget() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: both\n    http: {{ url: \"{}\" }}\n    expect: [\"status == 201\", \"latency < 1ms\"]\n",
            server.url("/slow")
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "both");
    assert_eq!(r.verdict, Verdict::Fail);
    let message = failure_summary(&r.judgements).unwrap_or_default();
    assert!(
        message.starts_with("`status == 201`: expected == 201, got 200; `latency < 1ms`: "),
        "every failed condition is listed, in order: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_connection_is_a_failed_target() {
    let port = closed_port();
    let dir = wall(
        "  timeout: 5s",
        &format!("  - id: gone\n    http: {{ url: \"http://127.0.0.1:{port}/health\" }}\n"),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "gone");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.message.as_deref(),
        Some(format!("connection refused: GET http://127.0.0.1:{port}/health").as_str())
    );
    assert!(r.judgements.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_program_that_does_not_exist_is_a_broken_detector() {
    let dir = wall(
        "  timeout: 5s",
        "  - id: detector\n    command: { run: [/nonexistent/auditwall-no-such-tool, --version] }\n",
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "detector");
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(
        r.message.as_deref(),
        Some("program not found: /nonexistent/auditwall-no-such-tool")
    );
    assert_eq!(r.verdict.state(), "FAILED");
}

/// Regression: a check whose detector is broken was retried like a failing one, although a
/// missing program cannot heal between attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_detector_is_not_retried() {
    let dir = wall(
        "  timeout: 5s\n  retries: 3",
        "  - id: detector\n    command: { run: [/nonexistent/auditwall-no-such-tool] }\n",
    );
    let (summary, events) = run_dir(dir.path()).await;

    let r = result(&summary, "detector");
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(r.attempts, 1);
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::CheckRetrying { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_dependency_blocks_its_dependents_which_never_run() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            r#"  - id: dep
    http: {{ url: "{}" }}
  - id: dependent
    needs: [dep]
    http: {{ url: "{}" }}
  - id: transitive
    needs: [dependent]
    http: {{ url: "{}" }}
"#,
            server.url("/fail/dep"),
            server.url("/count/dependent"),
            server.url("/count/transitive"),
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    assert_eq!(result(&summary, "dep").verdict, Verdict::Fail);
    assert_eq!(server.hits("dep"), 1);

    let r = result(&summary, "dependent");
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(r.blocked_by.as_deref(), Some("probes::dep"));
    assert_eq!(r.message.as_deref(), Some("blocked by probes::dep"));
    assert_eq!(r.attempts, 0);
    assert_eq!(r.started_at, None);
    assert_eq!(r.verdict.state(), "BLOCKED");

    let t = result(&summary, "transitive");
    assert_eq!(t.verdict, Verdict::Blocked);
    assert_eq!(t.blocked_by.as_deref(), Some("probes::dependent"));

    assert_eq!(server.hits("dependent"), 0, "a blocked check must not run");
    assert_eq!(server.hits("transitive"), 0, "a blocked check must not run");
    let started: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::CheckStarted { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["dep"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_passing_dependency_lets_its_dependent_run() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: dep\n    http: {{ url: \"{}\" }}\n  - id: dependent\n    needs: [dep]\n    http: {{ url: \"{}\" }}\n",
            server.url("/count/dep"),
            server.url("/count/dependent"),
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    assert_eq!(summary.count(Verdict::Pass), 2, "{:#?}", summary.results);
    assert_eq!(server.hits("dependent"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pass_on_retry_is_flaky_and_the_retry_is_announced() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: wobbly\n    retries: 2\n    http: {{ url: \"{}\" }}\n    expect: [\"status == 200\"]\n",
            server.url("/flaky/wobbly")
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    let r = result(&summary, "wobbly");
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(r.flaky);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.message.as_deref(), Some("passed on attempt 2 of 3"));
    assert_eq!(summary.flaky(), 1);
    assert_eq!(server.hits("wobbly"), 2);

    let retries: Vec<(&str, u32, &str)> = events
        .iter()
        .filter_map(|e| match e {
            Event::CheckRetrying {
                id,
                attempt,
                reason,
            } => Some((id.as_str(), *attempt, reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [("wobbly", 1, "`status == 200`: expected == 200, got 503")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exhausted_retries_fail_after_retries_plus_one_attempts() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s\n  retries: 2",
        &format!(
            "  - id: down\n    http: {{ url: \"{}\" }}\n    expect: [\"status == 200\"]\n",
            server.url("/fail/down")
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    let r = result(&summary, "down");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(!r.flaky);
    assert_eq!(r.attempts, 3);
    assert_eq!(server.hits("down"), 3, "every attempt reached the server");
    assert_eq!(
        failure_summary(&r.judgements).as_deref(),
        Some("`status == 200`: expected == 200, got 503")
    );
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::CheckRetrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2], "no retry event after the last attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_retries_option_overrides_the_wall() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s\n  retries: 3",
        &format!(
            "  - id: down\n    http: {{ url: \"{}\" }}\n",
            server.url("/fail/down")
        ),
    );
    let loaded = support::load_dir(dir.path());
    let mut opts = options(&loaded);
    opts.retries = Some(0);
    let (summary, _) = run_loaded(&loaded, &opts).await;

    assert_eq!(result(&summary, "down").attempts, 1);
    assert_eq!(server.hits("down"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_check_that_never_answers_fails_at_its_timeout() {
    let server = Server::start().await;
    let url = server.url("/hang");
    let dir = wall(
        "  timeout: 5s",
        &format!("  - id: hung\n    timeout: 300ms\n    http: {{ url: \"{url}\" }}\n"),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "hung");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.message.as_deref(),
        Some(format!("timed out after 300ms waiting for response headers from {url}").as_str())
    );
    assert!(!summary.deadline_exceeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_run_deadline_cuts_hanging_checks_and_still_reports_every_check() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 30s\n  deadline: 500ms",
        &format!(
            r#"  - id: quick
    http: {{ url: "{}" }}
  - id: hung
    http: {{ url: "{}" }}
  - id: after-hung
    needs: [hung]
    http: {{ url: "{}" }}
"#,
            server.url("/ok"),
            server.url("/hang"),
            server.url("/count/after-hung"),
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    assert!(summary.deadline_exceeded);
    let ids: Vec<&str> = summary.results.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["quick", "hung", "after-hung"]);
    assert_eq!(result(&summary, "quick").verdict, Verdict::Pass);
    let message = "run deadline of 500ms exceeded before this check finished";
    for id in ["hung", "after-hung"] {
        let r = result(&summary, id);
        assert_eq!(r.verdict, Verdict::Error, "{id}");
        assert_eq!(r.message.as_deref(), Some(message), "{id}");
        assert_eq!(r.attempts, 0, "{id}");
    }
    assert_eq!(server.hits("after-hung"), 0);
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::CheckFinished { .. }))
        .count();
    assert_eq!(
        finished, 3,
        "every planned check gets exactly one CheckFinished"
    );
    assert!(
        matches!(events.last(), Some(Event::RunFinished { summary }) if summary.deadline_exceeded)
    );
}

/// `count` checks hitting `/track`; the first `gate` of them wait until `gate` requests are
/// in flight, the rest only hold their 100 ms.
fn tracked_wall(server: &Server, jobs: usize, gate: usize, count: usize) -> tempfile::TempDir {
    let checks: String = (0..count)
        .map(|i| {
            let wait_for = if i < gate { gate } else { 1 };
            format!(
                "  - id: c{i}\n    http: {{ url: \"{}\" }}\n",
                server.url(&format!("/track/c{i}/{wait_for}"))
            )
        })
        .collect();
    wall(&format!("  timeout: 5s\n  jobs: {jobs}"), &checks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_bounds_how_many_checks_run_at_once() {
    let server = Server::start().await;
    // The first two checks are held until both are in flight, so two provably run together;
    // every request is held 100 ms, so a third would show up if the engine let it start.
    let dir = tracked_wall(&server, 2, 2, 6);
    let (summary, _) = run_dir(dir.path()).await;

    assert_eq!(summary.count(Verdict::Pass), 6, "{:#?}", summary.results);
    let seen = server.seen();
    assert_eq!(seen.arrivals.len(), 6);
    assert_eq!(seen.max_in_flight, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enough_jobs_run_every_check_at_once() {
    let server = Server::start().await;
    // Each request is held until all six are in flight: only an engine that runs six at once
    // reaches six.
    let dir = tracked_wall(&server, 6, 6, 6);
    let (summary, _) = run_dir(dir.path()).await;

    assert_eq!(summary.count(Verdict::Pass), 6, "{:#?}", summary.results);
    assert_eq!(server.seen().max_in_flight, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disruptive_checks_are_skipped_with_a_reason_unless_allowed() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: drill\n    disruptive: true\n    http: {{ url: \"{}\" }}\n  - id: after-drill\n    needs: [drill]\n    http: {{ url: \"{}\" }}\n",
            server.url("/count/drill"),
            server.url("/count/after-drill"),
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "drill");
    assert_eq!(r.verdict, Verdict::Skip);
    assert_eq!(
        r.message.as_deref(),
        Some("disruptive check: not allowed in this run (pass --allow-disruptive or set settings.allow_disruptive)")
    );
    assert_eq!(r.attempts, 0);
    assert_eq!(server.hits("drill"), 0);
    let after = result(&summary, "after-drill");
    assert_eq!(after.verdict, Verdict::Blocked);
    assert_eq!(after.blocked_by.as_deref(), Some("probes::drill"));
    assert_eq!(server.hits("after-drill"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allowed_disruptive_checks_run_alone_after_the_rest() {
    let server = Server::start().await;
    let track = |name: &str, gate: usize| server.url(&format!("/track/{name}/{gate}"));
    // The disruptive checks come first in the wall; the normal ones hold until all three are in
    // flight, so they provably run together while the disruptive ones must not join them.
    let dir = wall(
        "  timeout: 5s\n  jobs: 8\n  allow_disruptive: true",
        &format!(
            r#"  - id: disruptive-a
    disruptive: true
    http: {{ url: "{}" }}
  - id: n1
    http: {{ url: "{}" }}
  - id: n2
    http: {{ url: "{}" }}
  - id: disruptive-b
    disruptive: true
    http: {{ url: "{}" }}
  - id: n3
    http: {{ url: "{}" }}
"#,
            track("disruptive-a", 1),
            track("n1", 3),
            track("n2", 3),
            track("disruptive-b", 1),
            track("n3", 3),
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    assert_eq!(summary.count(Verdict::Pass), 5, "{:#?}", summary.results);
    let seen = server.seen();
    assert!(
        !seen.overlap,
        "a disruptive check shared the system: {:?}",
        seen.arrivals
    );
    assert_eq!(seen.max_in_flight, 3, "the normal checks ran together");
    assert_eq!(seen.arrivals.len(), 5);
    let mut normal_first: Vec<&str> = seen.arrivals[..3].iter().map(String::as_str).collect();
    normal_first.sort_unstable();
    assert_eq!(normal_first, ["n1", "n2", "n3"], "{:?}", seen.arrivals);

    // In the event stream too: no disruptive check starts while anything else is running.
    let mut running = 0usize;
    for e in &events {
        match e {
            Event::CheckStarted { id } => {
                if id.contains("disruptive") {
                    assert_eq!(running, 0, "{id} started beside another check");
                }
                running += 1;
            }
            Event::CheckFinished { .. } => running = running.saturating_sub(1),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_stream_opens_and_closes_the_run_and_finishes_each_check_once() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s\n  jobs: 3",
        &format!(
            r#"  - id: a
    http: {{ url: "{}" }}
  - id: b
    http: {{ url: "{}" }}
  - id: c
    needs: [b]
    http: {{ url: "{}" }}
  - id: d
    command: {{ run: [sh, -c, "exit 3"] }}
  - id: e
    disruptive: true
    file: {{ path: /nonexistent/auditwall-file }}
"#,
            server.url("/ok"),
            server.url("/fail/b"),
            server.url("/count/c"),
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    assert!(matches!(events.first(), Some(Event::RunStarted { info }) if info.planned == 5));
    assert!(matches!(events.last(), Some(Event::RunFinished { .. })));
    let run_events = events
        .iter()
        .filter(|e| matches!(e, Event::RunStarted { .. } | Event::RunFinished { .. }))
        .count();
    assert_eq!(run_events, 2);

    // position of each CheckStarted / CheckFinished, by `suite::id`
    let mut started: HashMap<String, usize> = HashMap::new();
    let mut finished: HashMap<String, Vec<usize>> = HashMap::new();
    for (pos, e) in events.iter().enumerate() {
        match e {
            Event::CheckStarted { id } => {
                assert!(
                    started.insert(id.clone(), pos).is_none(),
                    "{id} started twice"
                );
            }
            // Starts and results name a check by the same id.
            Event::CheckFinished { result } => {
                finished.entry(result.id.clone()).or_default().push(pos)
            }
            _ => {}
        }
    }
    let mut names: Vec<&String> = finished.keys().collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    for (name, positions) in &finished {
        assert_eq!(
            positions.len(),
            1,
            "{name} finished {} times",
            positions.len()
        );
    }
    for (name, start) in &started {
        assert!(
            start < &finished[name][0],
            "{name} finished before it started"
        );
    }
    let mut ran: Vec<&str> = started.keys().map(String::as_str).collect();
    ran.sort_unstable();
    assert_eq!(
        ran,
        ["a", "b", "d"],
        "blocked and skipped checks never start"
    );

    let verdicts: Vec<(&str, Verdict)> = summary
        .results
        .iter()
        .map(|r| (r.id.as_str(), r.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("a", Verdict::Pass),
            ("b", Verdict::Fail),
            ("c", Verdict::Blocked),
            ("d", Verdict::Fail),
            ("e", Verdict::Skip),
        ]
    );
    assert_eq!(
        failure_summary(&result(&summary, "d").judgements).as_deref(),
        Some("`exit == 0`: expected == 0, got 3")
    );
}

/// Regression: a deadline or timeout the spec accepted could overflow `now + duration` and
/// panic the run; durations are now capped at load, with a located error.
#[test]
fn a_huge_deadline_or_timeout_is_a_located_spec_error_not_a_panic() {
    for (settings, key) in [
        ("  deadline: 200000000000000d", "deadline"),
        ("  timeout: 200000000000000d", "timeout"),
    ] {
        let dir = wall(
            settings,
            "  - id: shell\n    command: { run: [\"true\"] }\n",
        );
        let err = load::load(
            &WallSource::Dir(dir.path().to_path_buf()),
            &LoadOptions::default(),
        )
        .expect_err("a 200000000000000-day duration must not load");
        let message = err.to_string();
        assert!(
            message.contains("duration is too large (at most 366d)"),
            "{key}: {message}"
        );
        assert!(
            message.contains("wall.yaml:"),
            "{key}: the error names the file: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_timeout_option_overrides_the_checks_own_timeout() {
    let server = Server::start().await;
    let url = server.url("/hang");
    let dir = wall(
        "  timeout: 30s",
        &format!("  - id: hung\n    timeout: 20s\n    http: {{ url: \"{url}\" }}\n"),
    );
    let loaded = support::load_dir(dir.path());
    let mut opts = options(&loaded);
    opts.timeout = Some(std::time::Duration::from_millis(300));
    let (summary, _) = run_loaded(&loaded, &opts).await;

    assert_eq!(
        result(&summary, "hung").message.as_deref(),
        Some(format!("timed out after 300ms waiting for response headers from {url}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_still_queued_at_the_deadline_never_start() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 30s\n  deadline: 300ms\n  jobs: 1",
        &format!(
            "  - id: hung\n    http: {{ url: \"{}\" }}\n  - id: queued\n    http: {{ url: \"{}\" }}\n",
            server.url("/hang"),
            server.url("/count/queued"),
        ),
    );
    let (summary, events) = run_dir(dir.path()).await;

    assert!(summary.deadline_exceeded);
    let r = result(&summary, "queued");
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(
        r.message.as_deref(),
        Some("run deadline of 300ms exceeded before this check finished")
    );
    assert_eq!(server.hits("queued"), 0);
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::CheckStarted { id } if id == "queued")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drifting_dependency_blocks_too() {
    let server = Server::start().await;
    let dir = wall(
        "  timeout: 5s",
        &format!(
            "  - id: slow\n    http: {{ url: \"{}\" }}\n    expect: [\"latency < 1ms\"]\n  - id: after\n    needs: [slow]\n    http: {{ url: \"{}\" }}\n",
            server.url("/slow"),
            server.url("/count/after"),
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    assert_eq!(result(&summary, "slow").verdict, Verdict::Drift);
    let r = result(&summary, "after");
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(r.blocked_by.as_deref(), Some("probes::slow"));
    assert_eq!(server.hits("after"), 0);
}
