//! Calibration checks in spec files: templates rendered with the profile, canonical
//! directories expanded, waivers and `wall.yaml` settings — and every bad input's exact message.

mod common;

use std::time::Duration;

use auditwall_spec::*;
use common::{load, Input};

const ROOT: &str = "name: lab\ncalibration:\n  roots: [\"${paths.etc}\"]\n  max_file_size: 1MiB\n  diff_timeout: 200ms\n  ledger: /var/lib/aw/ledger.json\n";

const BASE: &str = "paths:\n  etc: /srv/etc\nports:\n  router: 8080\n";

const SPEC: &str = r#"calibration:
  - id: configs
    severity: P1
    tags: [config]
    files:
      - template: canonical/router.yaml.tmpl
        deployed: "${paths.etc}/router.yaml"
        mode: "0640"
      - source: canonical/motd
        deployed: "${paths.etc}/motd"
        managed: false
    dirs:
      - canonical: canonical/conf.d/
        deployed: "${paths.etc}/conf.d"
        include: ["*.conf"]
    waivers:
      - path: "${paths.etc}/motd"
        kind: differs
        reason: edited by the login banner tool
        expires: 2026-12-31
    canary: { fault: config-drift }
"#;

fn input(
    root: &'static str,
    spec: &'static str,
    files: Vec<(&'static str, &'static str)>,
) -> Input<'static> {
    Input {
        root: Some(root),
        specs: vec![("calibration/configs.yaml", spec.as_bytes())],
        profiles: vec![("base", BASE)],
        files,
        ..Input::default()
    }
}

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "canonical/router.yaml.tmpl",
            "listen: ${ports.router}\nliteral: $${kept}\n",
        ),
        ("canonical/motd", "welcome\n"),
        ("canonical/conf.d/a.conf", "a = 1\n"),
        ("canonical/conf.d/b.conf.tmpl", "port = ${ports.router}\n"),
    ]
}

#[test]
fn a_calibration_check_loads_with_templates_rendered_and_directories_expanded() {
    let wall = load(&input(ROOT, SPEC, files())).expect("valid wall");
    assert_eq!(wall.calibration.roots, vec!["/srv/etc".to_string()]);
    assert_eq!(wall.calibration.max_file_size, 1024 * 1024);
    assert_eq!(wall.calibration.diff_timeout, Duration::from_millis(200));
    assert_eq!(wall.calibration.ledger, "/var/lib/aw/ledger.json");
    assert_eq!(wall.calibration.backups, ".auditwall/calibration/backups");

    let [check] = wall.checks.as_slice() else {
        panic!("one check expected: {:?}", wall.checks)
    };
    assert_eq!(check.suite, Suite::Calibration);
    assert_eq!(check.kind_name(), "calibration");
    assert_eq!(check.retries, 0);
    assert_eq!(check.severity, Severity::P1);
    assert_eq!(
        check.canary.as_ref().map(|c| c.fault.as_str()),
        Some("config-drift")
    );
    let CheckKind::Calibration(cal) = &check.kind else {
        panic!("not a calibration check: {:?}", check.kind)
    };
    assert_eq!(
        cal.files[0].canonical,
        CanonicalSource::Text {
            name: "canonical/router.yaml.tmpl".into(),
            text: "listen: 8080\nliteral: ${kept}\n".into(),
        }
    );
    assert_eq!(cal.files[0].deployed, "/srv/etc/router.yaml");
    assert_eq!(cal.files[0].mode, Some(0o640));
    assert!(cal.files[0].managed);
    assert!(!cal.files[1].managed);
    assert_eq!(cal.dirs[0].canonical, "canonical/conf.d");
    assert_eq!(cal.dirs[0].deployed, "/srv/etc/conf.d");
    assert_eq!(cal.dirs[0].include, vec!["*.conf".to_string()]);
    let names: Vec<(&str, &CanonicalSource)> = cal.dirs[0]
        .files
        .iter()
        .map(|(n, s)| (n.as_str(), s))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "a.conf",
                &CanonicalSource::Text {
                    name: "canonical/conf.d/a.conf".into(),
                    text: "a = 1\n".into()
                }
            ),
            (
                "b.conf",
                &CanonicalSource::Text {
                    name: "canonical/conf.d/b.conf.tmpl".into(),
                    text: "port = 8080\n".into()
                }
            ),
        ]
    );
    let waiver = &cal.waivers[0];
    assert_eq!(waiver.path, "/srv/etc/motd");
    assert_eq!(waiver.kind.as_deref(), Some("differs"));
    assert_eq!(waiver.expires, "2026-12-31");
    assert_eq!(waiver.expires_at.line, 20);
}

#[test]
fn secrets_rendered_into_a_template_are_collected_for_redaction() {
    let mut inp = input(
        ROOT,
        "calibration:\n  - id: c\n    files:\n      - { template: t.tmpl, deployed: /srv/etc/t }\n",
        vec![("t.tmpl", "token: ${secret:API}\n")],
    );
    inp.secrets = vec![("API", "hunter2")];
    let wall = load(&inp).expect("valid wall");
    assert_eq!(wall.secrets, vec!["hunter2".to_string()]);
}

struct Case {
    name: &'static str,
    input: Input<'static>,
    expected: &'static [&'static str],
}

fn one(spec: &'static str, files: Vec<(&'static str, &'static str)>) -> Input<'static> {
    input(ROOT, spec, files)
}

#[test]
fn every_bad_calibration_input_has_its_exact_message() {
    let cases = vec![
        Case {
            name: "template variable missing from the profile",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { template: t.tmpl, deployed: /srv/etc/t }\n",
                vec![("t.tmpl", "a: 1\nport: ${ports.routr}\n")],
            ),
            expected: &["walls/x/t.tmpl:2:7: unknown profile key `ports.routr` (did you mean `ports.router`?)"],
        },
        Case {
            name: "unterminated placeholder in a template",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { template: t.tmpl, deployed: /srv/etc/t }\n",
                vec![("t.tmpl", "port: ${ports.router\nnext: 1\n")],
            ),
            expected: &["walls/x/t.tmpl:1:7: unterminated `${`"],
        },
        Case {
            name: "template that does not exist",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { template: nope.tmpl, deployed: /srv/etc/t }\n",
                vec![],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:21: template `nope.tmpl` does not exist in the wall in check `c`"],
        },
        Case {
            name: "canonical file that does not exist",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { source: gone, deployed: /srv/etc/t }\n",
                vec![],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:19: canonical file `gone` does not exist in the wall in check `c`"],
        },
        Case {
            name: "canonical directory that does not exist",
            input: one(
                "calibration:\n  - id: c\n    dirs:\n      - { canonical: etc, deployed: /srv/etc }\n",
                vec![],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:22: canonical directory `etc` does not exist in the wall in check `c`"],
        },
        Case {
            name: "canonical path escaping the wall",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { source: ../secrets, deployed: /srv/etc/t }\n",
                vec![],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:19: bad canonical path `../secrets` in check `c`: canonical sources live in the wall; use a path relative to the wall directory"],
        },
        Case {
            name: "both template and source",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { template: t.tmpl, source: t.tmpl, deployed: /srv/etc/t }\n",
                vec![("t.tmpl", "x\n")],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:9: `template` and `source` cannot both be given in check `c`"],
        },
        Case {
            name: "neither template nor source",
            input: one("calibration:\n  - id: c\n    files:\n      - { deployed: /srv/etc/t }\n", vec![]),
            expected: &["walls/x/calibration/configs.yaml:4:9: one of `template` or `source` is required in check `c`"],
        },
        Case {
            name: "nothing to calibrate",
            input: one("calibration:\n  - id: c\n    severity: P1\n", vec![]),
            expected: &["walls/x/calibration/configs.yaml:2:5: nothing to calibrate in check `c` (give `files:` or `dirs:` (or both))"],
        },
        Case {
            name: "bad mode",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { source: m, deployed: /srv/etc/m, mode: rw-r--r-- }\n",
                vec![("m", "x\n")],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:50: bad mode `rw-r--r--` in check `c`: expected octal permission bits like \"0644\" (quote it)"],
        },
        Case {
            name: "two canonical files deploy the same name",
            input: one(
                "calibration:\n  - id: c\n    dirs:\n      - { canonical: etc, deployed: /srv/etc }\n",
                vec![("etc/a.conf", "x\n"), ("etc/a.conf.tmpl", "y\n")],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:22: `etc/a.conf.tmpl` and `etc/a.conf` would both deploy `a.conf` in check `c`"],
        },
        Case {
            name: "empty waiver reason",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { source: m, deployed: /srv/etc/m }\n    waivers:\n      - { path: /srv/etc/m, reason: \"\", expires: 2026-01-01 }\n",
                vec![("m", "x\n")],
            ),
            expected: &["walls/x/calibration/configs.yaml:6:37: empty waiver `reason` in check `c`: say why the drift is acceptable"],
        },
        Case {
            name: "unknown key in a file entry",
            input: one(
                "calibration:\n  - id: c\n    files:\n      - { source: m, deployed: /srv/etc/m, owner: root }\n",
                vec![("m", "x\n")],
            ),
            expected: &["walls/x/calibration/configs.yaml:4:44: unknown key `owner` in check `c`"],
        },
        Case {
            name: "calibration checks need roots",
            input: input(
                "name: lab\n",
                "calibration:\n  - id: c\n    files:\n      - { source: m, deployed: /srv/etc/m }\n",
                vec![("m", "x\n")],
            ),
            expected: &["walls/x/calibration/configs.yaml:2:5: calibration check `c` needs `calibration.roots` in walls/x/wall.yaml (list the directories deployed files may be in: calibration reads and writes nowhere else)"],
        },
        Case {
            name: "bad diff timeout in wall.yaml",
            input: input(
                "name: lab\ncalibration:\n  roots: [/srv]\n  diff_timeout: soon\n",
                "calibration:\n  - id: c\n    files:\n      - { source: m, deployed: /srv/etc/m }\n",
                vec![("m", "x\n")],
            ),
            expected: &["walls/x/wall.yaml:4:17: bad duration `soon` for `diff_timeout` in `calibration`: expected a number followed by a unit, e.g. 5s"],
        },
        Case {
            name: "unknown key in wall.yaml calibration",
            input: input(
                "name: lab\ncalibration:\n  root: [/srv]\n",
                "calibration: []\n",
                vec![],
            ),
            expected: &["walls/x/wall.yaml:3:3: unknown key `root` in `calibration` (did you mean `roots`?)"],
        },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let got = match load(&case.input) {
            Ok(_) => vec!["<loaded without error>".to_string()],
            Err(errors) => errors,
        };
        let expected: Vec<String> = case.expected.iter().map(|s| s.to_string()).collect();
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {expected:#?}\n  got      {got:#?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
