//! The JSON report against its published schema, with a small validator for exactly the
//! keywords the schema uses (it refuses any other keyword, so nothing is silently ignored).

use std::collections::BTreeSet;
use std::time::Duration;

use auditwall_harness::result::{RunSummary, Verdict};
use auditwall_reports::{write_json, JsonObservation, JsonReport};
use auditwall_spec::{Suite, Value as Observed};
use serde_json::{json, Value};

use crate::fixtures;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/report.schema.json");
    let text = std::fs::read_to_string(path).expect("docs/report.schema.json is readable");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn report(summary: &RunSummary) -> Value {
    let mut out = Vec::new();
    write_json(summary, &mut out).expect("JSON to a Vec");
    assert_eq!(out.last(), Some(&b'\n'));
    serde_json::from_slice(&out).expect("the report is JSON")
}

const KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "const",
    "enum",
    "minimum",
    "format",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "oneOf",
];

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_string()
    } else {
        format!("{path}.{segment}")
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/$defs/")
        .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
    &root["$defs"][name]
}

fn has_type(instance: &Value, ty: &str) -> bool {
    match ty {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "string" => instance.is_string(),
        "array" => instance.is_array(),
        "object" => instance.is_object(),
        "number" => instance.is_number(),
        "integer" => instance.is_u64() || instance.is_i64(),
        other => panic!("unsupported type {other}"),
    }
}

/// `2026-11-27T09:34:00.125Z`: the one timestamp shape the report promises.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    b.len() == 24
        && digits.iter().all(|&i| b[i].is_ascii_digit())
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c)
}

/// Validates `instance`; on success returns the schema paths it exercised with a value.
fn validate(
    root: &Value,
    schema: &Value,
    instance: &Value,
    path: &str,
) -> Result<BTreeSet<String>, String> {
    let rules = schema
        .as_object()
        .ok_or_else(|| format!("{path}: schema is not an object"))?;
    if let Some(k) = rules.keys().find(|k| !KEYWORDS.contains(&k.as_str())) {
        panic!("{path}: keyword {k} is not supported by this validator");
    }
    let mut seen = BTreeSet::new();
    if !instance.is_null() || rules.get("type") == Some(&json!("null")) {
        seen.insert(path.to_string());
    }
    if let Some(reference) = rules.get("$ref").and_then(Value::as_str) {
        seen.extend(validate(root, resolve(root, reference), instance, path)?);
    }
    if let Some(ty) = rules.get("type") {
        let ok = match ty {
            Value::String(t) => has_type(instance, t),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| has_type(instance, t)),
            _ => false,
        };
        if !ok {
            return Err(format!("{path}: {instance} is not of type {ty}"));
        }
    }
    if let Some(expected) = rules.get("const") {
        if instance != expected {
            return Err(format!("{path}: {instance} is not {expected}"));
        }
    }
    if let Some(Value::Array(options)) = rules.get("enum") {
        if !options.contains(instance) {
            return Err(format!("{path}: {instance} is not one of {options:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        rules.get("minimum").and_then(Value::as_f64),
        instance.as_f64(),
    ) {
        if n < min {
            return Err(format!("{path}: {n} < {min}"));
        }
    }
    if let (Some("date-time"), Some(s)) = (
        rules.get("format").and_then(Value::as_str),
        instance.as_str(),
    ) {
        if !is_timestamp(s) {
            return Err(format!("{path}: {s:?} is not a UTC RFC 3339 timestamp"));
        }
    }
    let constrains_objects = ["properties", "required", "additionalProperties"]
        .iter()
        .any(|k| rules.contains_key(*k));
    if let (true, Some(object)) = (constrains_objects, instance.as_object()) {
        for key in rules
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                return Err(format!("{path}: required {key} is missing"));
            }
        }
        for (key, value) in object {
            match (
                rules.get("properties").and_then(|p| p.get(key)),
                rules.get("additionalProperties"),
            ) {
                (Some(sub), _) => seen.extend(validate(root, sub, value, &join(path, key))?),
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{path}: {key} is not declared in the schema"))
                }
                (None, Some(sub @ Value::Object(_))) => {
                    seen.extend(validate(root, sub, value, &join(path, "*"))?)
                }
                (None, _) => panic!("{path}: object schema without additionalProperties"),
            }
        }
    }
    if let (Some(items), Some(array)) = (rules.get("items"), instance.as_array()) {
        for item in array {
            seen.extend(validate(root, items, item, &join(path, "[]"))?);
        }
    }
    if let Some(Value::Array(branches)) = rules.get("oneOf") {
        let matches: Vec<(usize, BTreeSet<String>)> = branches
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                validate(root, b, instance, &format!("{path}<{i}>"))
                    .ok()
                    .map(|s| (i, s))
            })
            .collect();
        match matches.as_slice() {
            [(_, branch_seen)] => seen.extend(branch_seen.iter().cloned()),
            _ => {
                return Err(format!(
                    "{path}: {instance} matches {} oneOf branches, not 1",
                    matches.len()
                ))
            }
        }
    }
    Ok(seen)
}

/// Every path the schema declares, in the same notation [`validate`] reports.
fn declared(root: &Value, schema: &Value, path: &str, depth: usize, out: &mut BTreeSet<String>) {
    assert!(depth < 32, "schema nesting too deep at {path}");
    out.insert(path.to_string());
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        declared(root, resolve(root, reference), path, depth + 1, out);
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (key, sub) in props {
            declared(root, sub, &join(path, key), depth + 1, out);
        }
    }
    if let Some(sub @ Value::Object(_)) = schema.get("additionalProperties") {
        declared(root, sub, &join(path, "*"), depth + 1, out);
    }
    if let Some(items) = schema.get("items") {
        declared(root, items, &join(path, "[]"), depth + 1, out);
    }
    if let Some(Value::Array(branches)) = schema.get("oneOf") {
        for (i, b) in branches.iter().enumerate() {
            declared(root, b, &format!("{path}<{i}>"), depth + 1, out);
        }
    }
}

#[test]
fn fixture_report_is_pinned() {
    let mut out = Vec::new();
    write_json(&fixtures::summary(), &mut out).expect("JSON to a Vec");
    insta::assert_snapshot!(String::from_utf8(out).expect("the report is UTF-8"));
}

#[test]
fn report_and_schema_declare_exactly_the_same_fields() {
    let schema = schema();
    let mut exercised = BTreeSet::new();
    for summary in [fixtures::summary(), fixtures::proved_summary()] {
        exercised.extend(
            validate(&schema, &schema, &report(&summary), "")
                .unwrap_or_else(|e| panic!("report does not match docs/report.schema.json: {e}")),
        );
    }
    let mut all = BTreeSet::new();
    declared(&schema, &schema, "", 0, &mut all);
    let stale: Vec<&String> = all.difference(&exercised).collect();
    assert!(
        stale.is_empty(),
        "the schema declares fields the fixture reports never emit with a value \
         (remove them from the schema, or give a fixture such a value): {stale:?}"
    );
}

#[test]
fn a_run_with_no_checks_and_no_commit_matches_the_schema() {
    let mut summary = fixtures::summary();
    summary.results.clear();
    summary.info.git_commit = None;
    summary.deadline_exceeded = false;
    let value = report(&summary);
    let schema = schema();
    validate(&schema, &schema, &value, "").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value["state"], "SKIPPED");
    assert_eq!(value["git_commit"], Value::Null);
}

#[test]
fn the_validator_rejects_undeclared_and_mistyped_fields() {
    let schema = schema();
    let good = report(&fixtures::summary());
    type Breaker = fn(&mut Value);
    let cases: [(&str, Breaker); 9] = [
        ("checks.[]: extra is not declared in the schema", |v| {
            v["checks"][0]["extra"] = json!(1)
        }),
        ("duration_ms: \"12\" is not of type \"integer\"", |v| v["duration_ms"] = json!("12")),
        ("started_at: \"2026-11-27 09:34:00\" is not a UTC RFC 3339 timestamp", |v| {
            v["started_at"] = json!("2026-11-27 09:34:00")
        }),
        ("checks.[].observations.*: {\"type\":\"bytes\",\"value\":-1} matches 0 oneOf branches, not 1", |v| {
            v["checks"][0]["observations"]["status"] = json!({"type": "bytes", "value": -1})
        }),
        ("checks.[].findings.[].status: \"ok\" is not one of [String(\"drift\"), String(\"error\"), String(\"waived\"), String(\"waiver_expired\")]", |v| {
            v["checks"][6]["findings"][0]["status"] = json!("ok")
        }),
        ("checks.[].findings.[]: required diff is missing", |v| {
            v["checks"][6]["findings"][1].as_object_mut().map(|o| o.remove("diff"));
        }),
        ("checks.[].timeline: \"none\" matches 0 oneOf branches, not 1", |v| {
            v["checks"][0]["timeline"] = json!("none")
        }),
        ("checks.[].timeline: {\"poll_ms\":50.0} matches 0 oneOf branches, not 1", |v| {
            v["checks"][9]["timeline"] = json!({"poll_ms": 50.0})
        }),
        (": required counts is missing", |v| {
            v.as_object_mut().map(|o| o.remove("counts"));
        }),
    ];
    for (expected, break_it) in cases {
        let mut bad = good.clone();
        break_it(&mut bad);
        assert_eq!(
            validate(&schema, &schema, &bad, ""),
            Err(expected.to_string())
        );
    }
}

#[test]
fn every_object_in_the_schema_is_closed() {
    fn walk(schema: &Value, path: &str) {
        if let Some(object) = schema.as_object() {
            if object.get("type") == Some(&json!("object")) {
                assert!(
                    object.contains_key("additionalProperties"),
                    "{path}: an object schema must say additionalProperties"
                );
            }
            for (key, sub) in object {
                walk(sub, &join(path, key));
            }
        } else if let Some(array) = schema.as_array() {
            for (i, sub) in array.iter().enumerate() {
                walk(sub, &join(path, &i.to_string()));
            }
        }
    }
    let schema = schema();
    assert_eq!(schema["additionalProperties"], json!(false));
    walk(&schema, "");
}

#[test]
fn observations_keep_their_units() {
    let cases = [
        (
            Observed::Duration(Duration::from_micros(11_840)),
            json!({"type": "duration", "value": 11.84}),
        ),
        (
            Observed::Number(f64::NAN),
            json!({"type": "number", "value": null}),
        ),
        (
            Observed::Bytes(157_286_400),
            json!({"type": "bytes", "value": 157_286_400u64}),
        ),
        (Observed::Null, json!({"type": "null", "value": null})),
    ];
    for (value, expected) in cases {
        let encoded = serde_json::to_value(JsonObservation::from(&value)).expect("serializable");
        assert_eq!(encoded, expected);
    }
}

#[test]
fn report_model_follows_the_summary() {
    let summary = fixtures::summary();
    let model = JsonReport::from(&summary);
    assert_eq!(model.schema_version, 1);
    assert_eq!(model.started_at, "2026-11-27T09:34:00.000Z");
    assert_eq!(model.finished_at, "2026-11-27T09:34:03.412Z");
    assert_eq!(model.duration_ms, 3_412);
    assert_eq!(model.state, "FAILED");
    assert_eq!(
        (
            model.counts.total,
            model.counts.pass,
            model.counts.error,
            model.counts.flaky
        ),
        (13, 4, 2, 1)
    );
    let drifted = model
        .checks
        .iter()
        .find(|c| c.id == "deployed.config")
        .expect("fixture has a drifted calibration check");
    let statuses: Vec<(&str, &str, bool)> = drifted
        .findings
        .iter()
        .map(|f| (f.kind.as_str(), f.status.as_str(), f.diff.is_some()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("differs", "drift", true),
            ("missing", "drift", false),
            ("extra", "drift", false),
            ("differs", "waived", true),
            ("mode_differs", "waiver_expired", false),
            ("unreadable", "error", false),
        ]
    );
    assert_eq!(
        drifted.findings[0].diff.as_deref(),
        Some(fixtures::ROUTER_DIFF)
    );
    assert!(model.checks[0].findings.is_empty());
    let blocked = model
        .checks
        .iter()
        .find(|c| c.verdict == Verdict::Blocked.as_str())
        .expect("fixture has a blocked check");
    assert_eq!(
        (blocked.state.as_str(), blocked.blocked_by.as_deref()),
        ("BLOCKED", Some("router.chat"))
    );
    assert_eq!(blocked.suite, Suite::Scenarios.as_str());
}

#[test]
fn a_drill_timeline_keeps_its_units_and_says_null_for_what_never_happened() {
    let value = report(&fixtures::summary());
    let checks = value["checks"].as_array().expect("checks");
    let timeline = |id: &str| {
        checks
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["timeline"].clone())
            .unwrap_or_else(|| panic!("no check {id}"))
    };
    assert_eq!(timeline("router.health"), Value::Null);
    assert_eq!(timeline("router.failover"), Value::Null);
    assert_eq!(
        timeline("primary.failover")["events"][1],
        json!({"phase": "detect", "at_ms": 112.25, "budget_ms": 2000.0, "ok": true,
               "detail": "model-primary.health red: connection refused"})
    );
    assert_eq!(
        timeline("router.restart"),
        json!({
            "poll_ms": 100.0,
            "events": [
                {"phase": "fault", "at_ms": 0.0, "budget_ms": null, "ok": true, "detail": "kill router"},
                {"phase": "detect", "at_ms": 80.0, "budget_ms": 2000.0, "ok": true,
                 "detail": "router.health red: connection refused"},
                {"phase": "recover", "at_ms": null, "budget_ms": 5000.0, "ok": false,
                 "detail": "watchdog did not restart router: circuit breaker open after 3 restarts"},
                {"phase": "restore", "at_ms": 5050.0, "budget_ms": null, "ok": true, "detail": "start router"},
                {"phase": "steady", "at_ms": 5600.0, "budget_ms": 10000.0, "ok": true,
                 "detail": "router.chat passed, served by model-primary"}
            ],
            "unaffected": [
                {"check": "hub.state", "polls": 12, "red_at_ms": 340.0,
                 "detail": "status == 200: expected 200, got 503"}
            ],
            "resources": [
                {"service": "watchdog", "samples": 1, "rss_max_bytes": 3_355_443u64, "swap_max_bytes": 0}
            ]
        })
    );
}

#[test]
fn a_proved_report_is_pinned() {
    let mut out = Vec::new();
    write_json(&fixtures::proved_summary(), &mut out).expect("JSON to a Vec");
    insta::assert_snapshot!(String::from_utf8(out).expect("the report is UTF-8"));
}

#[test]
fn a_proof_carries_its_fault_status_time_and_detail() {
    let value = report(&fixtures::proved_summary());
    assert_eq!(
        value["checks"][0]["proof"],
        json!({
            "fault": "hang-chat",
            "status": "proven",
            "red_after_ms": 3021.25,
            "detail": "timed out after 3s"
        })
    );
    assert_eq!(value["checks"][3]["proof"]["fault"], Value::Null);
    assert_eq!(value["checks"][3]["proof"]["status"], "unproven");
    // A run that did not prove says so with `null`, never a missing key.
    let plain = report(&fixtures::summary());
    assert_eq!(plain["checks"][0]["proof"], Value::Null);
}
