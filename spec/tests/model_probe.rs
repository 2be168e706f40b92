//! The `model` probe kind: what a golden-answer check loads into, and the exact message for
//! each malformed one.

mod common;

use auditwall_spec::*;
use common::{load, Input};

fn spec(text: &str) -> Input<'_> {
    Input {
        specs: vec![("probes/a.yaml", text.as_bytes())],
        profiles: vec![("base", "endpoints:\n  router: http://127.0.0.1:9\n")],
        ..Input::default()
    }
}

fn errors(text: &str) -> Vec<String> {
    match load(&spec(text)) {
        Ok(_) => vec!["<loaded without error>".to_string()],
        Err(errors) => errors,
    }
}

#[test]
fn a_full_model_check_loads_with_every_matcher() {
    let text = r#"probes:
  - id: router.golden
    model:
      url: "${endpoints.router}"
      model: primary
      served_by_header: X-Served-By
      repeat: 20
      prompts:
        - { ask: "What is 17*3?", expect: { contains: "51" } }
        - { ask: "2+2?", expect: { exact: "4" } }
        - { ask: "1/3?", expect: { number: { value: 0.333, tolerance: 0.001 } } }
        - { ask: "10-3?", expect: { regex: "^7$" } }
        - { ask: "json", expect: { json_shape: [name, age] } }
    expect: ["passes >= 19", "served_by == 'model-primary'", "latency < 2s"]
"#;
    let wall = load(&spec(text)).expect("loads");
    let check = &wall.checks[0];
    assert_eq!(check.kind_name(), "model");
    assert_eq!(check.expect().len(), 3);
    let Some(Probe::Model(m)) = check.probe() else {
        panic!("not a model probe: {:?}", check.kind)
    };
    assert_eq!(
        *m,
        ModelProbe {
            url: "http://127.0.0.1:9".to_string(),
            model: Some("primary".to_string()),
            served_by_header: "x-served-by".to_string(),
            repeat: 20,
            prompts: vec![
                GoldenPrompt {
                    ask: "What is 17*3?".to_string(),
                    expect: GoldenAnswer::Contains("51".to_string()),
                },
                GoldenPrompt {
                    ask: "2+2?".to_string(),
                    expect: GoldenAnswer::Exact("4".to_string()),
                },
                GoldenPrompt {
                    ask: "1/3?".to_string(),
                    expect: GoldenAnswer::Number {
                        value: 0.333,
                        tolerance: 0.001,
                    },
                },
                GoldenPrompt {
                    ask: "10-3?".to_string(),
                    expect: GoldenAnswer::Regex("^7$".to_string()),
                },
                GoldenPrompt {
                    ask: "json".to_string(),
                    expect: GoldenAnswer::JsonShape(vec!["name".to_string(), "age".to_string()]),
                },
            ],
        }
    );
}

#[test]
fn defaults_are_one_run_the_router_header_and_a_full_pass_rate() {
    let text = "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { number: { value: 4 } } }] }\n";
    let wall = load(&spec(text)).expect("loads");
    let check = &wall.checks[0];
    let Some(Probe::Model(m)) = check.probe() else {
        panic!("not a model probe: {:?}", check.kind)
    };
    assert_eq!(m.repeat, 1);
    assert_eq!(m.model, None);
    assert_eq!(m.served_by_header, DEFAULT_SERVED_BY_HEADER);
    assert_eq!(
        m.prompts[0].expect,
        GoldenAnswer::Number {
            value: 4.0,
            tolerance: 0.0
        }
    );
    let texts: Vec<&str> = check.expect().iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["pass_rate == 1"]);
}

#[test]
fn every_bad_model_check_has_its_exact_message() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "no prompts",
            "probes:\n  - id: m\n    model: { url: x, prompts: [] }\n",
            &["walls/x/probes/a.yaml:3:31: `prompts` is empty in check `m`: give at least one prompt"],
        ),
        (
            "prompts missing",
            "probes:\n  - id: m\n    model: { url: x }\n",
            &["walls/x/probes/a.yaml:3:14: missing key `prompts` in check `m`"],
        ),
        (
            "repeat 0",
            "probes:\n  - id: m\n    model: { url: x, repeat: 0, prompts: [{ ask: a, expect: { contains: '4' } }] }\n",
            &["walls/x/probes/a.yaml:3:30: bad `repeat` 0 in check `m`: must be 1 to 1000"],
        ),
        (
            "repeat over 1000",
            "probes:\n  - id: m\n    model: { url: x, repeat: 1001, prompts: [{ ask: a, expect: { contains: '4' } }] }\n",
            &["walls/x/probes/a.yaml:3:30: bad `repeat` 1001 in check `m`: must be 1 to 1000"],
        ),
        (
            "two matchers in one expect",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { contains: '4', exact: '4' } }] }\n",
            &["walls/x/probes/a.yaml:3:50: a prompt's `expect` needs exactly one of `exact`, `contains`, `regex`, `number`, `json_shape` in check `m`, found `exact`, `contains`"],
        ),
        (
            "no matcher",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: {} }] }\n",
            &["walls/x/probes/a.yaml:3:50: a prompt's `expect` needs exactly one of `exact`, `contains`, `regex`, `number`, `json_shape` in check `m`, found none"],
        ),
        (
            "bad regex",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { regex: '(4' } }] }\n",
            &["walls/x/probes/a.yaml:3:59: bad regex `(4` in check `m` (error: unclosed group)"],
        ),
        (
            "negative tolerance",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { number: { value: 4, tolerance: -1 } } }] }\n",
            &["walls/x/probes/a.yaml:3:83: bad `number` 4 ± -1 in check `m`: the value must be finite and the tolerance 0 or more"],
        ),
        (
            "empty json_shape",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { json_shape: [] } }] }\n",
            &["walls/x/probes/a.yaml:3:50: `json_shape` is empty in check `m`: name at least one key"],
        ),
        (
            "bad served_by_header",
            "probes:\n  - id: m\n    model: { url: x, served_by_header: \"x served\", prompts: [{ ask: a, expect: { contains: '4' } }] }\n",
            &["walls/x/probes/a.yaml:3:40: bad header name `x served` for `served_by_header` in check `m`: use letters, digits, `-` and `_`"],
        ),
        (
            "unknown matcher with did-you-mean",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { contain: '4' } }] }\n",
            &["walls/x/probes/a.yaml:3:52: unknown key `contain` in check `m` (did you mean `contains`?)"],
        ),
        (
            "condition on something a model probe does not measure",
            "probes:\n  - id: m\n    model: { url: x, prompts: [{ ask: a, expect: { contains: '4' } }] }\n    expect: [\"pass_rat == 1\"]\n",
            &["walls/x/probes/a.yaml:4:14: bad condition `pass_rat == 1`: `pass_rat` is not measured by model probes (did you mean `pass_rate`?)"],
        ),
        (
            "model beside another probe kind",
            "probes:\n  - id: m\n    tcp: { address: x }\n    model: { url: x, prompts: [{ ask: a, expect: { contains: '4' } }] }\n",
            &["walls/x/probes/a.yaml:2:5: more than one probe kind in check `m`: `tcp`, `model` (use exactly one of `http`, `tcp`, `process`, `port`, `file`, `command`, `model`)"],
        ),
    ];
    let mut mismatches = Vec::new();
    for (name, text, expected) in cases {
        let actual = errors(text);
        if actual != *expected {
            mismatches.push(format!(
                "{name}:\n  actual:   {actual:#?}\n  expected: {expected:#?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
