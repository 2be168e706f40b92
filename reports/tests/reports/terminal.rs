use auditwall_harness::event::Event;
use auditwall_harness::result::Verdict;
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
