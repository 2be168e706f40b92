//! Every malformed input gets one exact, located message: these pin the wording users see.

mod common;

use common::{load, Input};

struct Case {
    name: &'static str,
    input: Input<'static>,
    expected: &'static [&'static str],
}

fn spec(text: &'static str) -> Input<'static> {
    Input {
        specs: vec![("probes/a.yaml", text.as_bytes())],
        ..Input::default()
    }
}

fn root(text: &'static str) -> Input<'static> {
    Input {
        root: Some(text),
        ..Input::default()
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "unknown key with did-you-mean",
            input: spec("probes:\n  - id: router.chat\n    tcp: { address: \"127.0.0.1:1\" }\n    expct: [\"connected == true\"]\n"),
            expected: &[
                "walls/x/probes/a.yaml:4:5: unknown key `expct` in check `router.chat` (did you mean `expect`?)",
            ],
        },
        Case {
            name: "unknown top-level key",
            input: spec("drils:\n  - id: a\n"),
            expected: &[
                "walls/x/probes/a.yaml:1:1: unknown key `drils` at the top level (did you mean `drills`?)",
            ],
        },
        Case {
            name: "a misspelt suite key",
            input: spec("scenario: []\n"),
            expected: &[
                "walls/x/probes/a.yaml:1:1: unknown key `scenario` at the top level (did you mean `scenarios`?)",
            ],
        },
        Case {
            name: "wrong type: tags is a string",
            input: spec("probes:\n  - id: a\n    tags: fast\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:11: wrong type for `tags` in check `a`: expected a list, found `fast`",
            ],
        },
        Case {
            name: "wrong type: retries is text",
            input: spec("probes:\n  - id: a\n    retries: many\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:14: wrong type for `retries` in check `a`: expected a non-negative whole number, found `many`",
            ],
        },
        Case {
            name: "missing id",
            input: spec("probes:\n  - tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:2:5: missing key `id` in check #1",
            ],
        },
        Case {
            name: "empty id",
            input: spec("probes:\n  - id: \"\"\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:2:9: empty check id",
            ],
        },
        Case {
            name: "bad id characters",
            input: spec("probes:\n  - id: router chat\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:2:9: bad check id `router chat`: ids may only contain letters, digits, `.`, `_` and `-`",
            ],
        },
        Case {
            name: "duplicate id across files names both places",
            input: Input {
                specs: vec![
                    ("probes/a.yaml", b"probes:\n  - id: dup\n    tcp: { address: x }\n"),
                    ("probes/b.yaml", b"probes:\n  - id: other\n    tcp: { address: x }\n  - id: dup\n    tcp: { address: y }\n"),
                ],
                ..Input::default()
            },
            expected: &[
                "walls/x/probes/b.yaml:4:5: duplicate check id `dup` (first defined at walls/x/probes/a.yaml:2:5)",
            ],
        },
        Case {
            name: "unknown need with did-you-mean",
            input: spec("probes:\n  - id: model.health\n    tcp: { address: x }\n  - id: router.chat\n    needs: [modle.health]\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:5:13: check `router.chat` needs unknown check `modle.health` (did you mean `model.health`?)",
            ],
        },
        Case {
            name: "cycle a -> b -> a",
            input: spec("probes:\n  - id: a\n    needs: [b]\n    tcp: { address: x }\n  - id: b\n    needs: [a]\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:2:5: dependency cycle: a → b → a",
            ],
        },
        Case {
            name: "self need",
            input: spec("probes:\n  - id: a\n    needs: [a]\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:13: check `a` needs itself",
            ],
        },
        Case {
            name: "duration without unit",
            input: spec("probes:\n  - id: a\n    timeout: 5\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:14: bad duration `5` for `timeout` in check `a`: durations need a unit, e.g. 5s",
            ],
        },
        Case {
            name: "duration with unknown unit",
            input: spec("probes:\n  - id: a\n    timeout: 5 parsecs\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:14: bad duration `5 parsecs` for `timeout` in check `a`: unknown unit `parsecs` (use ms, s, m, h or d)",
            ],
        },
        Case {
            name: "negative duration",
            input: spec("probes:\n  - id: a\n    tcp: { address: x, timeout: -1s }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:33: bad duration `-1s` for `timeout` in check `a`: durations cannot be negative",
            ],
        },
        Case {
            name: "bad size",
            input: root("name: example\nprerequisites:\n  min_memory: 256 megs\n"),
            expected: &[
                "walls/x/wall.yaml:3:15: bad size `256 megs` for `min_memory` in `prerequisites`: unknown unit `megs` (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)",
            ],
        },
        Case {
            name: "two probe kinds",
            input: spec("probes:\n  - id: a\n    tcp: { address: x }\n    file: { path: /etc/hosts }\n"),
            expected: &[
                "walls/x/probes/a.yaml:2:5: more than one probe kind in check `a`: `tcp`, `file` (use exactly one of `http`, `tcp`, `process`, `port`, `file`, `command`, `model`)",
            ],
        },
        Case {
            name: "no probe kind",
            input: spec("probes:\n  - id: a\n    expect: [\"status == 200\"]\n"),
            expected: &[
                "walls/x/probes/a.yaml:2:5: no probe kind in check `a` (use exactly one of `http`, `tcp`, `process`, `port`, `file`, `command`, `model`)",
            ],
        },
        Case {
            name: "condition syntax",
            input: spec("probes:\n  - id: a\n    http: { url: \"http://127.0.0.1:1/\" }\n    expect: [\"status = 200\"]\n"),
            expected: &[
                "walls/x/probes/a.yaml:4:14: bad condition `status = 200`: unknown operator `=` (use one of ==, !=, <, <=, >, >=, contains, !contains, matches, exists, !exists)",
            ],
        },
        Case {
            name: "condition on an unknown root",
            input: spec("probes:\n  - id: a\n    http: { url: \"http://127.0.0.1:1/\" }\n    expect: [\"stauts == 200\"]\n"),
            expected: &[
                "walls/x/probes/a.yaml:4:14: bad condition `stauts == 200`: `stauts` is not measured by http probes (did you mean `status`?)",
            ],
        },
        Case {
            name: "condition type mismatch",
            input: spec("probes:\n  - id: a\n    http: { url: \"http://127.0.0.1:1/\" }\n    expect:\n      - \"latency < 'abc'\"\n      - latency < 5\n"),
            expected: &[
                "walls/x/probes/a.yaml:5:9: bad condition `latency < 'abc'`: `latency` is a duration but `'abc'` is text",
                "walls/x/probes/a.yaml:6:9: bad condition `latency < 5`: `latency` is a duration but `5` is a number (durations need a unit, e.g. 5s)",
            ],
        },
        Case {
            name: "bad regex",
            input: spec("probes:\n  - id: a\n    http: { url: \"http://127.0.0.1:1/\" }\n    expect: [\"body matches '('\"]\n"),
            expected: &[
                "walls/x/probes/a.yaml:4:14: bad condition `body matches '('`: bad regex `(` (error: unclosed group)",
            ],
        },
        Case {
            name: "unknown profile key",
            input: Input {
                specs: vec![("probes/a.yaml", b"probes:\n  - id: a\n    http: { url: \"${endpoints.routr}/v1\" }\n")],
                profiles: vec![("base", "endpoints:\n  router: http://127.0.0.1:8080\n")],
                ..Input::default()
            },
            expected: &[
                "walls/x/probes/a.yaml:3:18: unknown profile key `endpoints.routr` (did you mean `endpoints.router`?)",
            ],
        },
        Case {
            name: "unset env",
            input: spec("probes:\n  - id: a\n    file: { path: \"${env:AW_HOME}/x\" }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:19: environment variable `AW_HOME` is not set (in `${env:AW_HOME}`)",
            ],
        },
        Case {
            name: "unset secret",
            input: spec("probes:\n  - id: a\n    http:\n      url: http://127.0.0.1:1/\n      headers: { Authorization: \"Bearer ${secret:TOKEN}\" }\n"),
            expected: &[
                "walls/x/probes/a.yaml:5:33: secret `TOKEN` is not set (in `${secret:TOKEN}`)",
            ],
        },
        Case {
            name: "duplicate YAML key",
            input: spec("probes:\n  - id: a\n    tcp: { address: x }\n    id: b\n"),
            expected: &[
                "walls/x/probes/a.yaml:4:5: duplicate key `id`",
            ],
        },
        Case {
            name: "`no` is not a boolean",
            input: spec("probes:\n  - id: a\n    disruptive: no\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:17: wrong type for `disruptive` in check `a`: expected `true` or `false`, found `no`",
            ],
        },
        Case {
            name: "`on` is not a boolean in settings",
            input: root("name: example\nsettings:\n  allow_disruptive: on\n"),
            expected: &[
                "walls/x/wall.yaml:3:21: wrong type for `allow_disruptive` in `settings`: expected `true` or `false`, found `on`",
            ],
        },
        Case {
            name: "alias bomb",
            input: spec(concat!(
                "probes:\n  - id: a\n    http:\n      url: http://127.0.0.1:1/\n      json:\n",
                "        a: &a [x, x, x, x, x, x, x, x, x, x]\n",
                "        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
                "        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
                "        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
                "        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
                "        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
                "        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            )),
            expected: &[
                "walls/x/probes/a.yaml:6:28: aliases expand to too much data (is this an alias bomb?)",
            ],
        },
        Case {
            name: "10,000-deep nesting",
            input: Input {
                specs: vec![("probes/a.yaml", Box::leak(deep_nesting().into_boxed_slice()))],
                ..Input::default()
            },
            expected: &[
                "walls/x/probes/a.yaml:1:41: nesting is deeper than 32 levels",
            ],
        },
        Case {
            name: "python tag",
            input: spec("probes: !!python/object:os.system [\"rm -rf /\"]\n"),
            expected: &[
                "walls/x/probes/a.yaml:1:35: unsupported YAML tag `!!python/object:os.system` (tags are not allowed in walls)",
            ],
        },
        Case {
            name: "invalid UTF-8 names the offset",
            input: Input {
                specs: vec![("probes/a.yaml", b"probes:\n  - id: caf\xC3\x28\n")],
                ..Input::default()
            },
            expected: &[
                "walls/x/probes/a.yaml:2:12: invalid UTF-8 at byte offset 19",
            ],
        },
        Case {
            name: "over-size input",
            input: Input {
                specs: vec![("probes/a.yaml", Box::leak(vec![b'#'; auditwall_spec::MAX_SOURCE_BYTES + 1].into_boxed_slice()))],
                ..Input::default()
            },
            expected: &[
                "walls/x/probes/a.yaml (location unknown): file is too large (more than 1048576 bytes, the limit)",
            ],
        },
        Case {
            name: "retries 11",
            input: spec("probes:\n  - id: a\n    retries: 11\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:14: `retries` in check `a` must be between 0 and 10, got 11",
            ],
        },
        Case {
            name: "unknown key in settings",
            input: root("name: example\nsettings:\n  jbos: 4\n"),
            expected: &[
                "walls/x/wall.yaml:3:3: unknown key `jbos` in `settings` (did you mean `jobs`?)",
            ],
        },
        Case {
            name: "bad wall name",
            input: root("name: my wall\n"),
            expected: &[
                "walls/x/wall.yaml:1:7: bad wall name `my wall`: names may only contain letters, digits, `.`, `_` and `-`",
            ],
        },
        Case {
            name: "missing wall name",
            input: root("description: nameless\n"),
            expected: &[
                "walls/x/wall.yaml:1:1: missing key `name` at the top level",
            ],
        },
        Case {
            name: "process needs exactly one selector",
            input: spec("probes:\n  - id: a\n    process: { pid_file: /run/x.pid, name: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:14: `pid_file` and `name` cannot both be given in check `a`",
            ],
        },
        Case {
            name: "unknown severity",
            input: spec("probes:\n  - id: a\n    severity: P5\n    tcp: { address: x }\n"),
            expected: &[
                "walls/x/probes/a.yaml:3:15: unknown value `P5` for `severity` in check `a` (use one of `P0`, `P1`, `P2`, `P3`)",
            ],
        },
        Case {
            name: "empty profile value",
            input: Input {
                profiles: vec![("base", "endpoints:\n  router:\n")],
                ..Input::default()
            },
            expected: &[
                "walls/x/profiles/base.yaml:2:9: empty profile value; write \"\" if an empty string is meant",
            ],
        },
        Case {
            name: "errors from several files, sorted",
            input: Input {
                specs: vec![
                    ("probes/b.yaml", b"probes:\n  - id: b\n    timeout: 5\n    tcp: { address: x }\n"),
                    ("probes/a.yaml", b"probes:\n  - id: a\n    tcp: { address: x }\n    expect: [\"connected == 1\"]\n  - id: c\n    needs: [zzz]\n    tcp: { address: x }\n"),
                ],
                ..Input::default()
            },
            expected: &[
                "walls/x/probes/a.yaml:4:14: bad condition `connected == 1`: `connected` is a boolean but `1` is a number",
                "walls/x/probes/a.yaml:6:13: check `c` needs unknown check `zzz`",
                "walls/x/probes/b.yaml:3:14: bad duration `5` for `timeout` in check `b`: durations need a unit, e.g. 5s",
            ],
        },
        Case {
            name: "profile key with a dot",
            input: Input {
                profiles: vec![("base", "endpoints:\n  a.b: 1\n")],
                ..Input::default()
            },
            expected: &["walls/x/profiles/base.yaml:2:3: bad profile key `a.b`: keys may only contain letters, digits, `_` and `-`"],
        },
        Case {
            name: "bad HTTP method",
            input: spec("probes:\n  - id: a\n    http: { url: x, method: \"GE T\" }\n"),
            expected: &["walls/x/probes/a.yaml:3:29: bad HTTP method `GE T` in check `a`"],
        },
        Case {
            name: "spec file is a list, not a mapping",
            input: spec("- id: a\n"),
            expected: &["walls/x/probes/a.yaml:1:1: wrong type at the top level: expected a mapping, found `- id: a`"],
        },
        Case {
            name: "zero timeout",
            input: root("name: example\nsettings: { timeout: 0s }\n"),
            expected: &["walls/x/wall.yaml:2:22: bad duration `0s` for `timeout` in `settings`: must be more than 0"],
        },
        Case {
            name: "include escaping the wall directory",
            input: root("name: example\ninclude: [\"../other/**/*.yaml\"]\n"),
            expected: &["walls/x/wall.yaml:2:11: bad include pattern `../other/**/*.yaml`: patterns are relative to the wall directory and stay inside it"],
        },
        Case {
            name: "profile key that is a mapping",
            input: Input {
                specs: vec![("probes/a.yaml", b"probes:\n  - id: a\n    tcp: { address: \"${endpoints}\" }\n")],
                profiles: vec![("base", "endpoints:\n  router: 127.0.0.1:1\n")],
                ..Input::default()
            },
            expected: &["walls/x/probes/a.yaml:3:21: profile key `endpoints` is a mapping, not a value (e.g. `${endpoints.router}`)"],
        },
    ]
}

/// 10,000 nested flow sequences.
fn deep_nesting() -> Vec<u8> {
    let mut text = b"probes: ".to_vec();
    text.extend(std::iter::repeat_n(b'[', 10_000));
    text.extend(std::iter::repeat_n(b']', 10_000));
    text.push(b'\n');
    text
}

#[test]
fn every_bad_input_has_its_exact_message() {
    let mut mismatches = Vec::new();
    for case in cases() {
        let actual = match load(&case.input) {
            Ok(_) => vec!["<loaded without error>".to_string()],
            Err(errors) => errors,
        };
        if actual != case.expected {
            mismatches.push(format!(
                "{}:\n  actual:   {actual:#?}\n  expected: {:#?}",
                case.name, case.expected
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
