use auditwall_harness::result::{FindingStatus, Verdict};
use auditwall_reports::render_markdown;
use auditwall_spec::Suite;

use crate::fixtures;

#[test]
fn fixture_summary_is_pinned() {
    insta::assert_snapshot!(render_markdown(&fixtures::summary()));
}

#[test]
fn table_cells_cannot_be_broken_by_the_system_under_test() {
    let mut fail = fixtures::check(Suite::Probes, "a|b`c", Verdict::Fail, ("w.yaml", 1));
    fail.message = Some("got <script>x</script> | & \u{1b}[31mred\nsecond line".into());
    let mut summary = fixtures::summary();
    summary.results = vec![fail];
    let md = render_markdown(&summary);
    let row = md
        .lines()
        .find(|l| l.starts_with("| `probes::"))
        .expect("a row for the failing check");
    assert_eq!(
        row,
        "| `probes::a\\|b'c` | fail | P2 | got &lt;script&gt;x&lt;/script&gt; \\| &amp; red<br>second line |"
    );
}

#[test]
fn an_all_green_run_has_no_failure_sections() {
    let mut summary = fixtures::summary();
    summary
        .results
        .retain(|r| r.verdict == Verdict::Pass && !r.flaky && r.findings.is_empty());
    summary.deadline_exceeded = false;
    let md = render_markdown(&summary);
    assert!(md.starts_with("# auditwall: homelab — HEALTHY\n"));
    assert!(
        !md.contains("## Not passing")
            && !md.contains("## Findings")
            && !md.contains("## Flaky")
            && !md.contains("Deadline")
    );
}

#[test]
fn a_diff_containing_a_fence_gets_a_longer_fence() {
    let diff = "--- README.md.tmpl (canonical)\n+++ /srv/README.md (deployed)\n@@ -1,3 +1,3 @@\n \
                ```yaml\n-port: 1\n+port: 2\n ```\n";
    let mut drift = fixtures::check(Suite::Calibration, "docs", Verdict::Drift, ("c.yaml", 1));
    drift.findings = vec![fixtures::finding(
        "/srv/README.md",
        "differs",
        FindingStatus::Drift,
        "content differs from canonical README.md.tmpl\n# not a heading <b>",
        Some(diff),
    )];
    let mut summary = fixtures::summary();
    summary.results = vec![drift];
    let md = render_markdown(&summary);
    let findings = md
        .split_once("## Findings\n")
        .map(|(_, rest)| rest)
        .expect("a findings section");
    assert_eq!(
        findings,
        format!(
            "\n### `calibration::docs` (drift)\n\n\
             **drift** `/srv/README.md`: content differs from canonical README.md.tmpl<br># not a heading &lt;b&gt;\n\n\
             ````diff\n{diff}````\n"
        )
    );
}

#[test]
fn a_diff_block_keeps_tabs_and_drops_other_control_characters() {
    let diff = "@@ -1,1 +1,1 @@\n-\tall:\n+\tall: \x1b[31mbuild\x07\r\n";
    let mut drift = fixtures::check(Suite::Calibration, "make", Verdict::Drift, ("c.yaml", 1));
    drift.findings = vec![fixtures::finding(
        "/srv/Makefile",
        "differs",
        FindingStatus::Drift,
        "content differs",
        Some(diff),
    )];
    let mut summary = fixtures::summary();
    summary.results = vec![drift];
    assert!(render_markdown(&summary)
        .contains("```diff\n@@ -1,1 +1,1 @@\n-\tall:\n+\tall: build\n```\n"));
}

#[test]
fn drill_tables_cannot_be_broken_by_the_system_under_test() {
    let mut drill = fixtures::failed_drill();
    if let Some(t) = drill.timeline.as_mut() {
        t.events.truncate(3);
        t.events[2].detail = "no | <b>backend</b>\nsecond".into();
        t.unaffected[0].check = "hub`state|x".into();
        t.resources.clear();
    }
    let mut summary = fixtures::summary();
    summary.results = vec![drill];
    let md = render_markdown(&summary);
    let drills = md
        .split_once("## Drills\n")
        .map(|(_, rest)| rest)
        .expect("a drills section");
    assert_eq!(
        drills,
        "\n### `drills::router.restart` (fail)\n\n\
         Polled every 100ms; times are since the fault was injected.\n\n\
         | phase | at | budget | ok | detail |\n|---|---:|---:|---|---|\n\
         | fault | t+0ms |  | yes | kill router |\n\
         | detect | t+80ms | 2s | yes | router.health red: connection refused |\n\
         | recover | never | 5s | **never** | no \\| &lt;b&gt;backend&lt;/b&gt;<br>second |\n\
         \n| had to stay green | polls | went red | detail |\n|---|---:|---:|---|\n\
         | `hub'state\\|x` | 12 | **t+340ms** | status == 200: expected 200, got 503 |\n"
    );
}

#[test]
fn a_proved_run_has_a_proof_table() {
    let md = render_markdown(&fixtures::proved_summary());
    insta::assert_snapshot!(md.clone());
    assert!(md.contains("\n## Proof\n\nproof: 2 proven, 2 vacuous, 2 unproven, 2 error.\n"));
    assert!(md.contains(
        "| `probes::hub.health` | P0 | `wrong-answer` | **VACUOUS** |  | green on all 312 polls over 20s with `wrong-answer` on: this check cannot fail |"
    ));
    assert!(md.contains("| `probes::model.models` | P2 | `hang-chat` | VACUOUS |  |"));
    assert!(md.contains(
        "| `probes::router.chat` | P0 | `hang-chat` | proven | 3.0s | timed out after 3s |"
    ));
    // A run that did not prove has no such section.
    assert!(!render_markdown(&fixtures::summary()).contains("## Proof"));
}
