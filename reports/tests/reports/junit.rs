use auditwall_harness::result::{RunSummary, Verdict};
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
            ("calibration", vec!["router.config"]),
            ("drills", vec!["router.failover"]),
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
