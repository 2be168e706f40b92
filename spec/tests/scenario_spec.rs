//! Scenarios and the spec surface in spec files: the model they load into, the surface's
//! cells, and every bad input's exact message.

mod common;

use auditwall_spec::*;
use common::{load, Input};

const ROOT: &str = "name: lab\nobservers:\n  hub.state: { state: \"http://127.0.0.1:9/state\" }\n  hub.events: { events: \"http://127.0.0.1:9/events\" }\n";

const PROBES: &str =
    "probes:\n  - id: hub.health\n    http: { url: \"http://127.0.0.1:9/health\" }\n";

const SURFACE: &str = "surface:\n  dimensions:\n    entity: [light.kitchen, door.front]\n    action: [turn_on, lock, goodnight]\n    mode: [normal, refused]\n  rules:\n    - when: { action: [turn_on] }\n      require: { entity: [\"light.*\"] }\n    - when: { action: [lock] }\n      require: { entity: [\"door.*\"] }\n  blocked:\n    - cell: { entity: door.front, action: goodnight, mode: refused }\n      reason: not yet\n";

fn input(scenarios: &'static str) -> Input<'static> {
    Input {
        root: Some(ROOT),
        specs: vec![
            ("probes/p.yaml", PROBES.as_bytes()),
            ("scenarios/surface.yaml", SURFACE.as_bytes()),
            ("scenarios/s.yaml", scenarios.as_bytes()),
        ],
        ..Input::default()
    }
}

const GOODNIGHT: &str = "scenarios:\n  - id: goodnight\n    cell: { action: goodnight, mode: normal }\n    execute: [hub.health]\n    act:\n      http: { method: POST, url: \"http://127.0.0.1:9/automations/goodnight\" }\n      expect: [\"status == 202\"]\n    delta: { observers: [hub.state, hub.events], tribunal: 2 of 2, expect: { door.front.locked: true, \"light.*.on\": false }, within: 3s }\n";

#[test]
fn a_scenario_and_the_surface_load() {
    let wall = load(&input(GOODNIGHT)).expect("valid wall");
    let surface = wall.surface.as_ref().expect("surface");
    let cells = surface.cells();
    assert_eq!(cells.len(), 12);
    let valid: Vec<&Cell> = cells.iter().filter(|c| surface.is_valid(c)).collect();
    assert_eq!(
        valid.len(),
        8,
        "turn_on only for lights, lock only for doors"
    );
    assert_eq!(
        valid
            .iter()
            .filter(|c| surface.blocked(c).is_some())
            .count(),
        1
    );
    let check = wall
        .checks
        .iter()
        .find(|c| c.id == "goodnight")
        .expect("scenario");
    assert_eq!(check.suite, Suite::Scenarios);
    let CheckKind::Scenario(s) = &check.kind else {
        panic!("not a scenario: {:?}", check.kind)
    };
    let delta = s.delta.as_ref().expect("delta");
    assert_eq!(delta.tribunal, Tribunal::AtLeast(2));
    assert_eq!(delta.expect.len(), 2);
    assert!(delta.others_unchanged);
    assert_eq!(
        wall.observers.get("hub.events"),
        Some(&Observer::Events("http://127.0.0.1:9/events".into()))
    );
    assert!(glob_match("light.*.on", "light.kitchen.on"));
    assert!(!glob_match("light.*.on", "light.kitchen.brightness"));
    assert!(glob_match("**", "a.b.c"));
}

#[test]
fn every_bad_scenario_input_has_its_exact_message() {
    let cases: Vec<(&str, &'static str, &[&str])> = vec![
        (
            "a dimension value that does not exist",
            "scenarios:\n  - id: s\n    cell: { action: lokc }\n",
            &["walls/x/scenarios/s.yaml:3:21: `lokc` is not a value of dimension `action` (did you mean `lock`?)"],
        ),
        (
            "a dimension that does not exist",
            "scenarios:\n  - id: s\n    cell: { actoin: lock }\n",
            &["walls/x/scenarios/s.yaml:3:21: unknown dimension `actoin` (did you mean `action`?)"],
        ),
        (
            "a cell the rules exclude",
            "scenarios:\n  - id: s\n    cell: { entity: door.front, action: turn_on }\n",
            &["walls/x/scenarios/s.yaml:2:5: this scenario's cell is not a valid, unblocked cell of the surface (the surface's rules exclude it, or it is blocked)"],
        ),
        (
            "an unknown observer",
            "scenarios:\n  - id: s\n    act: { http: { url: \"http://127.0.0.1:9/x\" } }\n    delta: { observers: [hub.stat], expect: { a: 1 } }\n",
            &["walls/x/scenarios/s.yaml:4:26: unknown observer `hub.stat`: observers are declared under `observers:` in walls/x/wall.yaml (did you mean `hub.state`?)"],
        ),
        (
            "a delta with neither expect nor conserve",
            "scenarios:\n  - id: s\n    act: { http: { url: \"http://127.0.0.1:9/x\" } }\n    delta: { observers: [hub.state] }\n",
            &["walls/x/scenarios/s.yaml:4:12: `delta` in check `s` needs `expect` (the changes) or `conserve: true` (nothing may change)"],
        ),
        (
            "a tribunal that does not fit the observers",
            "scenarios:\n  - id: s\n    act: { http: { url: \"http://127.0.0.1:9/x\" } }\n    delta: { observers: [hub.state], tribunal: 2 of 3, expect: { a: 1 } }\n",
            &["walls/x/scenarios/s.yaml:4:48: bad `tribunal` `2 of 3` in check `s`: use `all` or `K of N` with N the number of observers (1)"],
        ),
        (
            "a delta without an act",
            "scenarios:\n  - id: s\n    delta: { observers: [hub.state], conserve: true }\n",
            &["walls/x/scenarios/s.yaml:2:5: scenario in check `s` has a `delta` but no `act` to cause it"],
        ),
        (
            "an execute step that is not a probe",
            "scenarios:\n  - id: s\n    execute: [hub.helth]\n",
            &["walls/x/scenarios/s.yaml:3:15: scenario step `hub.helth` is not a probe check of this wall (did you mean `hub.health`?)"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, expected) in cases {
        let got = match load(&input(text)) {
            Ok(_) => vec!["<loaded without error>".to_string()],
            Err(errors) => errors,
        };
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:#?}\n  got      {got:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn canary_fixtures_load_and_bad_ones_are_located() {
    let root = "name: lab\ndrills: { control: \"http://127.0.0.1:9\" }\nobservers:\n  hub.state: { state: \"http://127.0.0.1:9/state\" }\n";
    let with = |canaries: &'static str| Input {
        root: Some(Box::leak(root.to_string().into_boxed_str())),
        specs: vec![
            ("probes/p.yaml", PROBES.as_bytes()),
            ("scenarios/c.yaml", canaries.as_bytes()),
        ],
        ..Input::default()
    };
    let wall = load(&with(
        "canaries:\n  - { id: c1, tier: T3, target: hub.health, fault: success-false, expect: fail }\n",
    ))
    .expect("valid");
    assert_eq!(wall.canaries[0].tier, Tier::T3);
    assert_eq!(wall.canaries[0].expect, "fail");
    let errors = load(&with(
        "canaries:\n  - { id: c1, tier: T5, target: hub.helth, fault: x, expect: red }\n",
    ))
    .expect_err("bad canary");
    assert_eq!(
        errors,
        vec![
            "walls/x/scenarios/c.yaml:2:21: bad canary `tier` `T5` in canary `c1`: use T1, T2, T3 or T4",
            "walls/x/scenarios/c.yaml:2:62: bad canary `expect` `red` in canary `c1`: the verdict the target must get: pass, fail, drift or error",
        ]
    );
    let errors = load(&with(
        "canaries:\n  - { id: c2, tier: T1, target: hub.health, fault: x }\n",
    ))
    .expect_err("a canary without an expected verdict");
    assert_eq!(
        errors,
        vec!["walls/x/scenarios/c.yaml:2:45: missing key `expect`"]
    );
}
