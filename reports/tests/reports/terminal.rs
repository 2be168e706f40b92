use auditwall_harness::event::Event;
use auditwall_harness::result::{FindingStatus, Verdict};
use auditwall_reports::{TermStyle, Terminal};
use auditwall_spec::Suite;

use crate::fixtures;

fn render(style: TermStyle, events: &[Event]) -> String {
    let mut out = Vec::new();
    let mut terminal = Terminal::new(&mut out, style);
    for event in events {
        terminal
            .on_event(event)
            .expect("writing to a Vec cannot fail");
    }
    String::from_utf8(out).expect("terminal output is UTF-8")
}

#[test]
fn every_verdict_in_plain_color_and_verbose_modes() {
    let events = fixtures::events();
    let plain = render(TermStyle::for_tty(false), &events);
    let color = render(
        TermStyle {
            color: true,
            verbose: false,
            progress: false,
        },
        &events,
    );
    let verbose = render(
        TermStyle {
            verbose: true,
            ..TermStyle::for_tty(false)
        },
        &events,
    );
    assert!(!plain.contains('\x1b') && !verbose.contains('\x1b'));
    // Escape bytes are shown as `␛` so the snapshot stays readable and diffable.
    let color = color.replace('\x1b', "␛");
    insta::assert_snapshot!(format!(
        "--- plain ---\n{plain}--- color ---\n{color}--- plain, verbose ---\n{verbose}"
    ));
}

#[test]
fn for_tty_colors_and_redraws_only_on_a_terminal() {
    assert_eq!(
        TermStyle::for_tty(true),
        TermStyle {
            color: true,
            verbose: false,
            progress: true
        }
    );
    assert_eq!(
        TermStyle::for_tty(false),
        TermStyle {
            color: false,
            verbose: false,
            progress: false
        }
    );
}

#[test]
fn progress_line_is_redrawn_and_erased_before_each_result() {
    let mut pass = fixtures::check(Suite::Probes, "a", Verdict::Pass, ("w.yaml", 1));
    pass.duration = std::time::Duration::from_millis(3);
    let events = vec![
        Event::RunStarted {
            info: fixtures::info(2),
        },
        Event::CheckStarted { id: "a".into() },
        Event::CheckStarted { id: "b".into() },
        Event::CheckFinished { result: pass },
    ];
    let style = TermStyle {
        color: false,
        ..TermStyle::for_tty(true)
    };
    assert_eq!(
        render(style, &events),
        "auditwall: wall homelab from /srv/walls/homelab, 2 checks planned (run 20261127T093400Z-1a2b3c)\n\
         \r\x1b[2K  [0/2]\
         \r\x1b[2K  [0/2] running a\
         \r\x1b[2K  [0/2] running a +1 more\
         \r\x1b[2K  PASS    probes::a                                  3ms\n\
         \r\x1b[2K  [1/2] running b"
    );
}

#[test]
fn text_from_the_system_under_test_cannot_repaint_a_pipe() {
    let mut fail = fixtures::check(Suite::Probes, "evil", Verdict::Fail, ("w.yaml", 1));
    fail.message = Some("\x1b[2J\x1b[31mcleared\rhidden\x07".into());
    fail.judgements = vec![fixtures::judgement(
        "body contains 'ok'",
        false,
        "\x1b[32mok?",
        Some("expected 'ok'"),
    )];
    let out = render(
        TermStyle::for_tty(false),
        &[Event::CheckFinished { result: fail }],
    );
    assert!(!out.contains('\x1b') && !out.contains('\r') && !out.contains('\x07'));
    assert_eq!(
        out,
        "  FAIL    probes::evil                              12ms  \\u{1b}[2J\\u{1b}[31mcleared\\u{d}hidden\\u{7}\n\
         \x20     - body contains 'ok': expected 'ok' (actual: \\u{1b}[32mok?)\n\
         \x20     at w.yaml:1:3\n"
    );
}

fn plain_lines(result: auditwall_harness::result::CheckResult) -> Vec<String> {
    render(
        TermStyle::for_tty(false),
        &[Event::CheckFinished { result }],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn a_huge_drift_is_capped_per_check_and_points_at_the_json_report() {
    let wide = "x".repeat(1_000);
    let mut big = format!(
        "--- big.tmpl (canonical)\n+++ /srv/big.json (deployed)\n@@ -0,0 +1,247 @@\n+{wide}\n"
    );
    for i in 2..=247 {
        big.push_str(&format!("+line {i}\n"));
    }
    let small: String = (1..=30).map(|i| format!("+small {i}\n")).collect();
    let mut drift = fixtures::check(Suite::Calibration, "big", Verdict::Drift, ("w.yaml", 1));
    drift.message = Some("60 deployed files drifted".into());
    drift.findings = vec![
        fixtures::finding(
            "/srv/big.json",
            "differs",
            FindingStatus::Drift,
            "content differs",
            Some(&big),
        ),
        fixtures::finding(
            "/srv/second.yaml",
            "differs",
            FindingStatus::Drift,
            "content differs",
            Some(&small),
        ),
    ];
    for i in 3..=60 {
        drift.findings.push(fixtures::finding(
            &format!("/srv/f{i}.yaml"),
            "missing",
            FindingStatus::Drift,
            "missing (canonical: f.tmpl)",
            None,
        ));
    }

    let lines = plain_lines(drift);
    let expected_head = [
        "  DRIFT   calibration::big                          12ms  60 deployed files drifted"
            .to_string(),
        "      drift  /srv/big.json: content differs".to_string(),
        "        --- big.tmpl (canonical)".to_string(),
        "        +++ /srv/big.json (deployed)".to_string(),
        "        @@ -0,0 +1,247 @@".to_string(),
        format!("        +{}…", "x".repeat(299)),
        "        +line 2".to_string(),
    ];
    assert_eq!(lines[..7], expected_head);
    // 200 diff lines in all: 3 headers and the first 197 added lines.
    assert_eq!(lines[201], "        +line 197");
    assert_eq!(
        lines[202..205],
        [
            "        ... 50 more diff lines, see report.json",
            "      drift  /srv/second.yaml: content differs",
            "        ... 30 more diff lines, see report.json",
        ]
    );
    // Then the 48 other findings that fit the listing, one line each, and the rest counted.
    assert_eq!(
        lines[205],
        "      drift  /srv/f3.yaml: missing (canonical: f.tmpl)"
    );
    assert_eq!(
        lines[252],
        "      drift  /srv/f50.yaml: missing (canonical: f.tmpl)"
    );
    assert_eq!(
        lines[253..],
        [
            "      ... 10 more findings, see report.json",
            "      at w.yaml:1:3",
        ]
    );
}

#[test]
fn diff_lines_are_coloured_by_what_they_are_and_never_without_colour() {
    // Inside a hunk, `--- x` is a deleted line `-- x`, not a file header.
    let diff = "--- a.tmpl (canonical)\n+++ /srv/a.sql (deployed)\n@@ -1,2 +1,2 @@\n \
                keep\n--- old comment\n+-- new comment\n\\ No newline at end of file\n";
    let mut drift = fixtures::check(Suite::Calibration, "sql", Verdict::Drift, ("w.yaml", 1));
    drift.findings = vec![fixtures::finding(
        "/srv/a.sql",
        "differs",
        FindingStatus::Drift,
        "content differs",
        Some(diff),
    )];
    let style = TermStyle {
        color: true,
        verbose: false,
        progress: false,
    };
    let colored = render(
        style,
        &[Event::CheckFinished {
            result: drift.clone(),
        }],
    );
    let findings: Vec<&str> = colored.lines().skip(1).take(8).collect();
    assert_eq!(
        findings,
        [
            "      \x1b[33mdrift\x1b[0m  /srv/a.sql: content differs",
            "        \x1b[1m--- a.tmpl (canonical)\x1b[0m",
            "        \x1b[1m+++ /srv/a.sql (deployed)\x1b[0m",
            "        \x1b[36m@@ -1,2 +1,2 @@\x1b[0m",
            "         keep",
            "        \x1b[31m--- old comment\x1b[0m",
            "        \x1b[32m+-- new comment\x1b[0m",
            "        \\ No newline at end of file",
        ]
    );
    let plain = render(
        TermStyle::for_tty(false),
        &[Event::CheckFinished { result: drift }],
    );
    assert!(!plain.contains('\x1b'));
    assert!(plain.contains("\n        --- old comment\n        +-- new comment\n"));
}

#[test]
fn a_diff_cannot_repaint_the_terminal_and_crlf_drift_stays_visible() {
    let diff = "@@ -1,1 +1,1 @@\n-a: 1\n+a: 1\r\n+\x1b[2Jgone\n";
    let mut drift = fixtures::check(Suite::Calibration, "crlf", Verdict::Drift, ("w.yaml", 1));
    drift.findings = vec![fixtures::finding(
        "/srv/a\x1b[31m.yaml",
        "differs",
        FindingStatus::Drift,
        "content differs",
        Some(diff),
    )];
    assert_eq!(
        plain_lines(drift)[1..6],
        [
            "      drift  /srv/a\\u{1b}[31m.yaml: content differs",
            "        @@ -1,1 +1,1 @@",
            "        -a: 1",
            "        +a: 1\\u{d}",
            "        +\\u{1b}[2Jgone",
        ]
    );
}

#[test]
fn a_waived_finding_is_one_line_without_its_diff() {
    let mut failing = fixtures::drifted_calibration();
    failing
        .findings
        .retain(|f| f.status == FindingStatus::Waived);
    let lines = plain_lines(failing);
    assert_eq!(
        lines[1..4],
        [
            "      waived  /srv/homelab/deployed/watchdog.yaml: content differs from canonical templates/watchdog.yaml.tmpl",
            "        waived until 2026-12-31: restart backoff tuned for the slow fallback",
            "      at walls/homelab/calibration.yaml:9:3",
        ]
    );
}

#[test]
fn a_timeline_is_shown_under_a_passing_drill_without_verbose() {
    let lines = plain_lines(fixtures::passing_drill());
    assert_eq!(
        lines,
        [
            "  PASS    drills::primary.failover                  2.4s",
            "      timeline (poll 50ms):",
            "        fault      t+0ms              stop model-primary",
            "        detect     t+112ms   ≤ 2s     model-primary.health red: connection refused",
            "        recover    t+1.62s   ≤ 3s     router.chat answered, served by model-fallback",
            "        restore    t+1.70s            start model-primary",
            "        steady     t+1.95s   ≤ 10s    router.golden passed, served by model-primary",
            "        unaffected hub.state stayed green (24 polls)",
            "        resources  model-primary rss max 12.3MiB, swap max 0B (40 samples)",
            "        resources  router rss max 8.1MiB, swap max 0B (40 samples)",
        ]
    );
}

#[test]
fn a_failed_restore_is_marked_and_timeline_text_cannot_repaint_the_terminal() {
    let mut drill = fixtures::failed_drill();
    if let Some(t) = drill.timeline.as_mut() {
        t.events[3] = fixtures::event(
            "restore",
            Some(5_050),
            None,
            "start router: \x1b[2Jexit status 1\r",
        );
        t.events[3].ok = false;
        t.unaffected[0].check = "hub\x1b[31m.state".into();
    }
    let style = TermStyle {
        color: true,
        verbose: false,
        progress: false,
    };
    let out = render(style, &[Event::CheckFinished { result: drill }]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[5..8],
        [
            "        restore    \x1b[1;31mt+5.05s\x1b[0m            \x1b[1;31mFAILED\x1b[0m start router: \\u{1b}[2Jexit status 1\\u{d}",
            "        steady     t+5.60s   ≤ 10s    router.chat passed, served by model-primary",
            "        unaffected hub\\u{1b}[31m.state \x1b[1;31mwent red at t+340ms\x1b[0m (12 polls): status == 200: expected 200, got 503",
        ]
    );
}

fn render_proofs(style: TermStyle) -> String {
    let mut out = Vec::new();
    let mut terminal = Terminal::new(&mut out, style);
    for event in fixtures::proof_events() {
        terminal
            .on_proof(&event)
            .expect("writing to a Vec cannot fail");
    }
    String::from_utf8(out).expect("terminal output is UTF-8")
}

#[test]
fn every_proof_status_in_plain_color_and_verbose_modes() {
    let plain = render_proofs(TermStyle::for_tty(false));
    let color = render_proofs(TermStyle {
        color: true,
        verbose: false,
        progress: false,
    })
    .replace('\x1b', "␛");
    let verbose = render_proofs(TermStyle {
        verbose: true,
        ..TermStyle::for_tty(false)
    });
    assert!(!plain.contains('\x1b') && !verbose.contains('\x1b'));
    insta::assert_snapshot!(format!(
        "--- plain ---\n{plain}--- color ---\n{color}--- plain, verbose ---\n{verbose}"
    ));
}

#[test]
fn a_proven_and_a_vacuous_check_read_as_the_operator_needs() {
    let plain = render_proofs(TermStyle::for_tty(false));
    let lines: Vec<&str> = plain.lines().collect();
    assert!(lines.contains(
        &"  proven   probes::router.chat                    red after 3.0s under hang-chat"
    ));
    assert!(lines.contains(
        &"  VACUOUS  probes::hub.health                     stayed green under wrong-answer"
    ));
    assert_eq!(
        lines.last(),
        Some(&"  proof: 2 proven, 2 vacuous, 2 unproven, 2 error")
    );
    // Unproven checks are counted, not listed, unless verbose.
    assert!(!plain.contains("router.health"));
}

#[test]
fn the_proof_progress_line_names_the_fault_and_is_erased() {
    let style = TermStyle {
        color: false,
        ..TermStyle::for_tty(true)
    };
    let out = render_proofs(style);
    assert!(
        out.contains("\r\u{1b}[2K  [0/5] running router.chat under hang-chat"),
        "{out:?}"
    );
    assert!(
        out.contains("\r\u{1b}[2K  proven   probes::router.chat"),
        "{out:?}"
    );
    assert!(
        out.contains("[4/5] running watchdog.status under crash-loop"),
        "{out:?}"
    );
}

#[test]
fn coverage_is_one_line_after_the_summary() {
    let mut out = Vec::new();
    let mut terminal = Terminal::new(&mut out, TermStyle::for_tty(false));
    let c = auditwall_harness::result::CoverageSummary {
        valid: 115,
        blocked: 10,
        claimed: 42,
        green: 40,
    };
    terminal.coverage(&c).expect("write");
    drop(terminal);
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "  Spec-surface coverage: 40 of 105 cells L4-green (38.1%); 42 claimed by a scenario, 10 blocked.\n"
    );
}
