use auditwall_harness::result::{FindingStatus, RunSummary, Verdict};
use auditwall_reports::write_junit;
use auditwall_spec::{Suite, Value};

use crate::fixtures;

fn junit(summary: &RunSummary) -> String {
    let mut out = Vec::new();
    write_junit(summary, &mut out).expect("JUnit to a Vec");
    String::from_utf8(out).expect("JUnit is UTF-8")
}

fn testcase<'a>(doc: &'a roxmltree::Document, name: &str) -> roxmltree::Node<'a, 'a> {
    doc.descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> roxmltree::Node<'a, 'a> {
    node.children()
        .find(|n| n.has_tag_name(tag))
        .unwrap_or_else(|| panic!("no <{tag}> in {:?}", node.attribute("name")))
}

#[test]
fn fixture_report_is_pinned() {
    insta::assert_snapshot!(junit(&fixtures::summary()));
}

#[test]
fn one_testsuite_per_suite_and_one_testcase_per_check() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let suites: Vec<(&str, Vec<&str>)> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|s| {
            let cases = s
                .children()
                .filter(|n| n.has_tag_name("testcase"))
                .map(|c| {
                    assert_eq!(c.attribute("classname"), s.attribute("name"));
                    c.attribute("name").unwrap_or_default()
                })
                .collect();
            (s.attribute("name").unwrap_or_default(), cases)
        })
        .collect();
    assert_eq!(
        suites,
        vec![
            (
                "probes",
                vec![
                    "router.health",
                    "router.chat",
                    "model.fallback.latency",
                    "hub.state",
                    "model.weights"
                ]
            ),
            (
                "calibration",
                vec!["router.config", "deployed.config", "hub.config"]
            ),
            (
                "drills",
                vec![
                    "router.failover",
                    "primary.failover",
                    "primary.kill",
                    "router.restart"
                ]
            ),
            ("scenarios", vec!["hub.goodnight"]),
        ]
    );
    assert_eq!(
        testcase(&doc, "router.chat").attribute("time"),
        Some("1.234")
    );
}

#[test]
fn reasons_are_inside_the_failure_and_error_elements() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");

    let failure = child(testcase(&doc, "router.chat"), "failure");
    assert_eq!(failure.attribute("type"), Some("fail"));
    assert_eq!(
        failure.attribute("message"),
        Some(
            "status == 200: expected 200, got 503; \
             json.choices[0].message.content contains '4': json.choices is missing (actual: <missing>)"
        )
    );
    assert_eq!(
        failure.text(),
        Some(
            "- status == 200: expected 200, got 503\n\
             - json.choices[0].message.content contains '4': json.choices is missing (actual: <missing>)\n\
             at walls/homelab/probes.yaml:12:3\n"
        )
    );

    let drift = child(testcase(&doc, "model.fallback.latency"), "failure");
    assert_eq!(drift.attribute("type"), Some("drift"));
    assert_eq!(
        drift.attribute("message"),
        Some("latency < 300ms: expected < 300ms, got 1.8s")
    );

    let error = child(testcase(&doc, "model.weights"), "error");
    assert_eq!(error.attribute("type"), Some("error"));
    assert!(error
        .text()
        .unwrap_or_default()
        .starts_with("cannot run command `sha256sum`"));

    let blocked = child(testcase(&doc, "hub.goodnight"), "skipped");
    assert_eq!(blocked.attribute("message"), Some("blocked by router.chat"));
    let skipped = child(testcase(&doc, "router.failover"), "skipped");
    assert_eq!(
        skipped.attribute("message"),
        Some("disruptive: run with --allow-disruptive")
    );
}

#[test]
fn a_flaky_pass_is_a_pass_with_a_visible_note() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let case = testcase(&doc, "hub.state");
    assert!(!case.children().any(|n| n.has_tag_name("failure")
        || n.has_tag_name("error")
        || n.has_tag_name("skipped")));
    assert_eq!(
        child(case, "system-out").text(),
        Some("flaky: passed on attempt 2\nbody = \"{\\\"door.front.locked\\\":true}\"\nstatus = 200\n")
    );
}

#[test]
fn hostile_text_is_sanitized_and_still_parses() {
    let hostile =
        "nul\u{0} ansi\u{1b}[31mred\u{1b}[0m cdata]]>end <tag> & amp\u{FFFE}\u{FFFF}\u{8} ok";
    let clean = "nul ansired cdata]]>end <tag> & amp ok";

    let mut fail = fixtures::check(
        Suite::Probes,
        "id<&\"\u{1}x",
        Verdict::Fail,
        ("f]]>.yaml", 1),
    );
    fail.message = Some(hostile.into());
    fail.judgements = vec![fixtures::judgement(
        "body == 'x'",
        false,
        hostile,
        Some(hostile),
    )];
    fail.observations =
        fixtures::observations(vec![("body", Value::Text(format!("]]>{hostile}")))]);
    let mut summary = fixtures::summary();
    summary.info.host = "host\u{0}name".into();
    summary.results = vec![fail];

    let xml = junit(&summary);
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}') && !xml.contains('\u{FFFE}'));
    let doc = roxmltree::Document::parse(&xml).expect("sanitized JUnit must be well-formed XML");

    let case = testcase(&doc, "id<&\"x");
    let failure = child(case, "failure");
    assert_eq!(
        failure.attribute("message"),
        Some(format!("{clean}; body == 'x': {clean}").as_str())
    );
    assert_eq!(
        failure.text(),
        Some(format!("{clean}\n- body == 'x': {clean}\nat f]]>.yaml:1:3\n").as_str())
    );
    // Observations are JSON-encoded, so the control characters arrive as visible escapes.
    let out = child(case, "system-out").text().unwrap_or_default();
    assert!(
        out.starts_with("body = \"]]>nul\\u0000 ansi\\u001b[31mred"),
        "{out}"
    );
    assert_eq!(
        doc.descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .and_then(|n| n.attribute("hostname")),
        Some("hostname")
    );
}

#[test]
fn every_counted_finding_and_its_whole_diff_is_inside_the_failure() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let case = testcase(&doc, "deployed.config");
    let failure = child(case, "failure");
    assert_eq!(failure.attribute("type"), Some("drift"));
    assert_eq!(
        failure.attribute("message"),
        Some("4 of 7 deployed files drifted (1 waived); 1 could not be checked")
    );
    let d = "/srv/homelab/deployed";
    assert_eq!(
        failure.text(),
        Some(
            format!(
                "4 of 7 deployed files drifted (1 waived); 1 could not be checked\n\
                 drift  {d}/router.yaml: content differs from canonical templates/router.yaml.tmpl\n\
                 {}\
                 drift  {d}/hub.yaml: missing (canonical: templates/hub.yaml.tmpl)\n\
                 drift  {d}/conf.d/old-router.yaml: unmanaged file in managed directory {d}/conf.d\n\
                 waiver_expired  {d}/models.env: mode is 0644, expected 0600 (waiver expired 2026-11-01)\n\
                 error  {d}/secrets.env: cannot read {d}/secrets.env: Permission denied (os error 13)\n\
                 at walls/homelab/calibration.yaml:9:3\n",
                fixtures::ROUTER_DIFF
            )
            .as_str()
        )
    );
    assert_eq!(
        child(case, "system-out").text(),
        Some(
            format!(
                "waived  {d}/watchdog.yaml: content differs from canonical templates/watchdog.yaml.tmpl\n\
                 waived until 2026-12-31: restart backoff tuned for the slow fallback\n"
            )
            .as_str()
        )
    );
}

#[test]
fn a_pass_with_a_waived_finding_stays_a_pass_and_shows_the_waiver() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let case = testcase(&doc, "hub.config");
    assert!(!case.children().any(|n| n.has_tag_name("failure")
        || n.has_tag_name("error")
        || n.has_tag_name("skipped")));
    assert_eq!(
        child(case, "system-out").text(),
        Some(
            "waived  /srv/homelab/deployed/hub-automations.yaml: \
             content differs from canonical templates/hub-automations.yaml.tmpl\n"
        )
    );
}

#[test]
fn a_hostile_diff_is_sanitized_and_reads_back_whole() {
    let diff = "--- a (canonical)\n+++ b (deployed)\n@@ -1,1 +1,2 @@\n\
                -x: \"]]>\"\n+x: \"]]>\u{7}\u{1b}[31mred\u{1b}[0m\"\n+y: ]]]]>\u{0}\n";
    let clean = "--- a (canonical)\n+++ b (deployed)\n@@ -1,1 +1,2 @@\n\
                 -x: \"]]>\"\n+x: \"]]>red\"\n+y: ]]]]>\n";
    let mut drift = fixtures::check(Suite::Calibration, "c", Verdict::Drift, ("c.yaml", 1));
    drift.findings = vec![fixtures::finding(
        "/srv/x.yaml",
        "differs",
        FindingStatus::Drift,
        "content differs from canonical x.tmpl",
        Some(diff),
    )];
    let mut summary = fixtures::summary();
    summary.results = vec![drift];

    let xml = junit(&summary);
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{7}') && !xml.contains('\u{1b}'));
    let doc = roxmltree::Document::parse(&xml).expect("sanitized JUnit must be well-formed XML");
    let failure = child(testcase(&doc, "c"), "failure");
    // No check message: the one-line summary is the first finding.
    assert_eq!(
        failure.attribute("message"),
        Some("/srv/x.yaml: content differs from canonical x.tmpl")
    );
    assert_eq!(
        failure.text(),
        Some(
            format!(
                "drift  /srv/x.yaml: content differs from canonical x.tmpl\n{clean}at c.yaml:1:3\n"
            )
            .as_str()
        )
    );
}

/// The timeline text exactly as the terminal prints it without colour, one line each.
const RESTART_TIMELINE: &str = "\
timeline (poll 100ms):
  fault      t+0ms              kill router
  detect     t+80ms    ≤ 2s     router.health red: connection refused
  recover    never     ≤ 5s     watchdog did not restart router: circuit breaker open after 3 restarts
  restore    t+5.05s            start router
  steady     t+5.60s   ≤ 10s    router.chat passed, served by model-primary
  unaffected hub.state went red at t+340ms (12 polls): status == 200: expected 200, got 503
  resources  watchdog rss max 3.2MiB, swap max 0B (1 sample)
";

#[test]
fn a_failing_drill_shows_its_measured_timeline_in_the_failure_and_in_system_out() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let case = testcase(&doc, "router.restart");
    let failure = child(case, "failure");
    assert_eq!(failure.attribute("type"), Some("fail"));
    assert_eq!(
        failure.attribute("message"),
        Some("recover never happened within 5s")
    );
    assert_eq!(
        failure.text(),
        Some(
            format!(
                "recover never happened within 5s\n{RESTART_TIMELINE}at walls/homelab/drills.yaml:46:3\n"
            )
            .as_str()
        )
    );
    // junit-report 0.9 cannot write <properties> on a testcase: the same facts are
    // property-style lines in system-out, before the timeline text.
    assert!(!case.children().any(|n| n.has_tag_name("properties")));
    assert_eq!(
        child(case, "system-out").text(),
        Some(
            format!(
                "timeline.poll = 100ms\n\
                 timeline.fault = 0ms\n\
                 timeline.detect = 80ms (budget 2s)\n\
                 timeline.recover = never (budget 5s)\n\
                 timeline.restore = 5.05s\n\
                 timeline.steady = 5.60s (budget 10s)\n\
                 {RESTART_TIMELINE}"
            )
            .as_str()
        )
    );
}

#[test]
fn a_drill_over_budget_is_marked_and_a_passing_drill_keeps_its_numbers() {
    let xml = junit(&fixtures::summary());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");

    let late = testcase(&doc, "primary.kill");
    let failure = child(late, "failure");
    assert_eq!(failure.attribute("type"), Some("drift"));
    let text = failure.text().unwrap_or_default();
    assert!(
        text.contains(
            "\n  recover    t+4.21s   ≤ 3s     OVER router.chat answered, served by model-fallback\n"
        ),
        "{text}"
    );
    let out = child(late, "system-out").text().unwrap_or_default();
    assert!(
        out.contains("\ntimeline.recover = 4.21s (budget 3s) OVER\n"),
        "{out}"
    );

    let pass = testcase(&doc, "primary.failover");
    assert!(!pass.children().any(|n| n.has_tag_name("failure")
        || n.has_tag_name("error")
        || n.has_tag_name("skipped")));
    let out = child(pass, "system-out").text().unwrap_or_default();
    assert!(
        out.starts_with(
            "timeline.poll = 50ms\ntimeline.fault = 0ms\ntimeline.detect = 112ms (budget 2s)\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("  resources  router rss max 8.1MiB, swap max 0B (40 samples)\n"));
}

#[test]
fn hostile_timeline_text_is_sanitized_and_still_parses() {
    let mut drill = fixtures::failed_drill();
    if let Some(t) = drill.timeline.as_mut() {
        t.events[2].detail = "refused ]]> \u{1b}[31mred\u{1b}[0m\u{0} <b>&".into();
        t.unaffected[0].check = "hub]]>\u{7}".into();
    }
    let mut summary = fixtures::summary();
    summary.results = vec![drill];
    let xml = junit(&summary);
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}') && !xml.contains('\u{7}'));
    let doc = roxmltree::Document::parse(&xml).expect("sanitized JUnit must be well-formed XML");
    let text = child(testcase(&doc, "router.restart"), "failure")
        .text()
        .unwrap_or_default();
    assert!(
        text.contains("  recover    never     ≤ 5s     refused ]]> red <b>&\n"),
        "{text}"
    );
    assert!(
        text.contains("  unaffected hub]]> went red at t+340ms"),
        "{text}"
    );
}

#[test]
fn a_vacuous_p0_check_and_a_proof_error_fail_in_junit_and_the_rest_are_noted() {
    let xml = junit(&fixtures::proved_summary());
    insta::assert_snapshot!(xml.clone());
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");

    let vacuous = child(testcase(&doc, "hub.health"), "failure");
    assert_eq!(vacuous.attribute("type"), Some("vacuous"));
    assert_eq!(
        vacuous.attribute("message"),
        Some("vacuous: stayed green under wrong-answer")
    );
    assert_eq!(
        vacuous.text(),
        Some(
            "green on all 312 polls over 20s with `wrong-answer` on: this check cannot fail\n\
             at walls/homelab/probes.yaml:50:3\n"
        )
    );
    let stuck = child(testcase(&doc, "watchdog.status"), "failure");
    assert_eq!(stuck.attribute("type"), Some("proof_error"));

    // A vacuous P2 check passes, with the proof in its output.
    let minor = testcase(&doc, "model.models");
    assert!(minor.children().all(|n| !n.has_tag_name("failure")));
    assert_eq!(
        child(minor, "system-out").text(),
        Some("proof = vacuous: stayed green under hang-chat\n")
    );
    assert_eq!(
        child(testcase(&doc, "router.chat"), "system-out").text(),
        Some("proof = proven: red after 3.0s under hang-chat\n")
    );
    // A check red in the run fails for its verdict, not a second time for its proof.
    let red = child(testcase(&doc, "hub.action"), "failure");
    assert_eq!(red.attribute("type"), Some("fail"));
}
