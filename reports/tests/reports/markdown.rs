use auditwall_harness::result::Verdict;
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
        .retain(|r| r.verdict == Verdict::Pass && !r.flaky);
    summary.deadline_exceeded = false;
    let md = render_markdown(&summary);
    assert!(md.starts_with("# auditwall: homelab — HEALTHY\n"));
    assert!(!md.contains("## Not passing") && !md.contains("## Flaky") && !md.contains("Deadline"));
}
