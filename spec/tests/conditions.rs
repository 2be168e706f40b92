//! The condition language: every operator against every value type, budgets, missing paths
//! and how actual values are rendered for humans.

use std::time::Duration;

use auditwall_spec::*;

fn origin() -> Origin {
    Origin {
        file: "probes/a.yaml".into(),
        line: 3,
        column: 7,
    }
}

fn http_obs() -> Observations {
    let mut obs = Observations::new();
    obs.set("status", Value::Number(503.0));
    obs.set("latency", Value::Duration(Duration::from_millis(1200)));
    obs.set(
        "header",
        Value::Map(
            [
                ("content-type".to_string(), "application/json".to_string()),
                ("x-served-by".to_string(), "fallback".to_string()),
            ]
            .into(),
        ),
    );
    obs.set("body", Value::Text("hello world".into()));
    obs.set(
        "json",
        Value::Json(serde_json::json!({
            "choices": [{"message": {"content": "2+2 is 4"}}],
            "tags": ["a", "b", 1, true, null],
            "ok": false,
            "error": null,
            "n": 3.5,
            "thermostat.main.target": 19.5
        })),
    );
    obs.set("size", Value::Bytes(12_897_485));
    obs
}

fn process_obs() -> Observations {
    let mut obs = Observations::new();
    obs.set("running", Value::Bool(true));
    obs.set("exe_current", Value::Bool(false));
    obs.set("rss", Value::Bytes(150 << 20));
    obs.set(
        "uptime",
        Value::Duration(Duration::from_secs(3 * 3600 + 5 * 60)),
    );
    obs.set("pid", Value::Number(4242.0));
    obs.set("exe", Value::Text("/usr/bin/x".into()));
    obs
}

fn command_obs() -> Observations {
    let mut obs = Observations::new();
    obs.set("exit", Value::Number(2.0));
    obs.set("stdout", Value::Text("x".repeat(250)));
    obs.set("stderr", Value::Text(String::new()));
    obs.set("duration", Value::Duration(Duration::from_millis(350)));
    obs
}

/// (probe kind, condition, passed, actual, reason)
type Row = (
    &'static str,
    &'static str,
    bool,
    &'static str,
    Option<&'static str>,
);

#[test]
fn every_operator_against_every_value_type() {
    let rows: Vec<Row> = vec![
        // numbers
        ("http", "status == 503", true, "503", None),
        (
            "http",
            "status == 200",
            false,
            "503",
            Some("expected == 200, got 503"),
        ),
        ("http", "status != 200", true, "503", None),
        // a quoted key may hold dots
        (
            "http",
            "json['thermostat.main.target'] == 19.5",
            true,
            "19.5",
            None,
        ),
        (
            "http",
            "json[\"thermostat.main.target\"] < 19",
            false,
            "19.5",
            Some("expected < 19, got 19.5"),
        ),
        (
            "http",
            "status < 400",
            false,
            "503",
            Some("expected < 400, got 503"),
        ),
        ("http", "status <= 503", true, "503", None),
        ("http", "status > 499", true, "503", None),
        (
            "http",
            "status >= 504",
            false,
            "503",
            Some("expected >= 504, got 503"),
        ),
        ("http", "status exists", true, "503", None),
        (
            "http",
            "status !exists",
            false,
            "503",
            Some("expected `status` not to exist, got 503"),
        ),
        // durations
        ("http", "latency < 2s", true, "1.2s", None),
        (
            "http",
            "latency < 300ms",
            false,
            "1.2s",
            Some("expected < 300ms, got 1.2s"),
        ),
        ("http", "latency >= 1200ms", true, "1.2s", None),
        ("http", "latency == 1.2s", true, "1.2s", None),
        ("process", "uptime > 1h", true, "3h5m", None),
        ("command", "duration <= 350ms", true, "350ms", None),
        // sizes, against sizes and plain numbers of bytes
        ("http", "size < 20MiB", true, "12.3MiB", None),
        (
            "http",
            "size < 10MB",
            false,
            "12.3MiB",
            Some("expected < 9.5MiB, got 12.3MiB"),
        ),
        ("http", "size == 12897485", true, "12.3MiB", None),
        ("process", "rss < 200MiB", true, "150MiB", None),
        (
            "process",
            "rss > 1GiB",
            false,
            "150MiB",
            Some("expected > 1GiB, got 150MiB"),
        ),
        // booleans
        ("process", "running == true", true, "true", None),
        (
            "process",
            "exe_current == true",
            false,
            "false",
            Some("expected == true, got false"),
        ),
        ("process", "exe_current != true", true, "false", None),
        // text
        (
            "http",
            "body == 'hello world'",
            true,
            "\"hello world\"",
            None,
        ),
        ("http", "body != \"hello\"", true, "\"hello world\"", None),
        (
            "http",
            "body contains 'world'",
            true,
            "\"hello world\"",
            None,
        ),
        (
            "http",
            "body contains 'moon'",
            false,
            "\"hello world\"",
            Some("expected contains 'moon', got \"hello world\""),
        ),
        (
            "http",
            "body !contains 'moon'",
            true,
            "\"hello world\"",
            None,
        ),
        (
            "http",
            "body matches '^hel+o\\s'",
            true,
            "\"hello world\"",
            None,
        ),
        (
            "http",
            "body matches '^world'",
            false,
            "\"hello world\"",
            Some("expected matches '^world', got \"hello world\""),
        ),
        ("http", "body < 'zebra'", true, "\"hello world\"", None),
        (
            "process",
            "exe == '/usr/bin/x'",
            true,
            "\"/usr/bin/x\"",
            None,
        ),
        ("command", "stderr == ''", true, "\"\"", None),
        // headers: case-insensitive names, map contains by key
        (
            "http",
            "header.Content-Type contains 'json'",
            true,
            "\"application/json\"",
            None,
        ),
        (
            "http",
            "header.x-served-by == 'primary'",
            false,
            "\"fallback\"",
            Some("expected == 'primary', got \"fallback\""),
        ),
        (
            "http",
            "header contains 'X-Served-By'",
            true,
            "{\"content-type\":\"application/json\",\"x-served-by\":\"fallback\"}",
            None,
        ),
        (
            "http",
            "header.retry-after exists",
            false,
            "<missing>",
            Some("expected `header.retry-after` exists, but it is missing"),
        ),
        (
            "http",
            "header.retry-after !exists",
            true,
            "<missing>",
            None,
        ),
        // JSON: scalars, arrays by element, objects by key
        (
            "http",
            "json.choices[0].message.content contains '4'",
            true,
            "\"2+2 is 4\"",
            None,
        ),
        ("http", "json.n > 3", true, "3.5", None),
        ("http", "json.n == 3.5", true, "3.5", None),
        ("http", "json.ok == false", true, "false", None),
        ("http", "json.error == null", true, "null", None),
        ("http", "json.error exists", true, "null", None),
        (
            "http",
            "json.tags contains 'b'",
            true,
            "[\"a\",\"b\",1,true,null]",
            None,
        ),
        (
            "http",
            "json.tags contains 1",
            true,
            "[\"a\",\"b\",1,true,null]",
            None,
        ),
        (
            "http",
            "json.tags contains true",
            true,
            "[\"a\",\"b\",1,true,null]",
            None,
        ),
        (
            "http",
            "json.tags !contains 'z'",
            true,
            "[\"a\",\"b\",1,true,null]",
            None,
        ),
        (
            "http",
            "json.choices[0] contains 'message'",
            true,
            "{\"message\":{\"content\":\"2+2 is 4\"}}",
            None,
        ),
        (
            "http",
            "json.choices[0] !contains 'message'",
            false,
            "{\"message\":{\"content\":\"2+2 is 4\"}}",
            Some("expected !contains 'message', got {\"message\":{\"content\":\"2+2 is 4\"}}"),
        ),
        ("http", "json.tags[1] == 'b'", true, "\"b\"", None),
        (
            "http",
            "json.n == '3.5'",
            false,
            "3.5",
            Some("expected == '3.5', got 3.5"),
        ),
        (
            "http",
            "json.n < 'x'",
            false,
            "3.5",
            Some("expected < 'x', got 3.5 (a number cannot be compared with text)"),
        ),
        (
            "http",
            "json.ok contains 'f'",
            false,
            "false",
            Some("expected contains 'f', got false (a boolean cannot be compared with text)"),
        ),
        (
            "http",
            "json.n matches '3'",
            false,
            "3.5",
            Some("expected matches '3', got 3.5 (a number cannot be compared with text)"),
        ),
        // missing paths fail with <missing>, except !exists
        (
            "http",
            "json.choices[5].message == 'x'",
            false,
            "<missing>",
            Some("expected `json.choices[5].message` == 'x', but it is missing"),
        ),
        ("http", "json.nope !exists", true, "<missing>", None),
        (
            "http",
            "json.n.deeper == 1",
            false,
            "<missing>",
            Some("expected `json.n.deeper` == 1, but it is missing"),
        ),
        (
            "tcp",
            "connected == true",
            false,
            "<missing>",
            Some("expected `connected` == true, but it is missing"),
        ),
        // long text is cut at 200 characters
        (
            "command",
            "exit == 0",
            false,
            "2",
            Some("expected == 0, got 2"),
        ),
    ];
    let mut failures = Vec::new();
    for (kind, text, passed, actual, reason) in rows {
        let obs = match kind {
            "process" => process_obs(),
            "command" => command_obs(),
            _ => http_obs(),
        };
        let cond = match parse_condition(text, kind, origin()) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{text}: did not parse: {e}"));
                continue;
            }
        };
        let j = cond.evaluate(&obs);
        let got = (j.passed, j.actual.as_deref(), j.reason.as_deref());
        if got != (passed, Some(actual), reason) || j.condition != text {
            failures.push(format!("{text}: got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn budgets_are_latency_duration_and_rss() {
    for (kind, text, budget) in [
        ("http", "latency < 2s", true),
        ("command", "duration < 2s", true),
        ("process", "rss < 2GiB", true),
        ("http", "status == 200", false),
        ("http", "size < 2GiB", false),
        ("process", "uptime > 1m", false),
    ] {
        let cond = parse_condition(text, kind, origin()).unwrap();
        assert_eq!(cond.is_budget(), budget, "{text}");
        assert_eq!(cond.evaluate(&Observations::new()).budget, budget, "{text}");
    }
}

#[test]
fn long_text_is_truncated_when_rendered() {
    let cond = parse_condition("stdout contains 'y'", "command", origin()).unwrap();
    let j = cond.evaluate(&command_obs());
    let expected = format!("\"{}…\"", "x".repeat(200));
    assert_eq!(j.actual.as_deref(), Some(expected.as_str()));
    assert_eq!(
        j.reason,
        Some(format!("expected contains 'y', got {expected}"))
    );
}

#[test]
fn values_render_for_humans() {
    let cases = [
        (Value::Null, "null"),
        (Value::Bool(true), "true"),
        (Value::Number(200.0), "200"),
        (Value::Number(-0.25), "-0.25"),
        (Value::Text("a\"b".into()), "\"a\"b\""),
        (Value::Duration(Duration::from_millis(350)), "350ms"),
        (Value::Duration(Duration::from_millis(1234)), "1.2s"),
        (Value::Duration(Duration::from_secs(90)), "1m30s"),
        (Value::Bytes(512), "512B"),
        (Value::Bytes(12_897_485), "12.3MiB"),
        (
            Value::Json(serde_json::json!({"a": [1, 2]})),
            "{\"a\":[1,2]}",
        ),
    ];
    for (value, rendered) in cases {
        assert_eq!(render_value(&value), rendered);
    }
}

#[test]
fn parse_errors_are_located_and_exact() {
    let cases = [
        ("", "http", "bad condition ``: empty condition"),
        ("status", "http", "bad condition `status`: missing operator (use one of ==, !=, <, <=, >, >=, contains, !contains, matches, exists, !exists)"),
        ("status ==", "http", "bad condition `status ==`: missing value after `==`"),
        ("status == abc", "http", "bad condition `status == abc`: bad value `abc`: quote text, e.g. 'abc'"),
        ("status == 'x", "http", "bad condition `status == 'x`: missing closing ' in `'x`"),
        ("body == 'x' y", "http", "bad condition `body == 'x' y`: unexpected `y` after the closing quote"),
        ("json exists 1", "http", "bad condition `json exists 1`: `exists` takes no value, found `1`"),
        ("json.[0] == 1", "http", "bad condition `json.[0] == 1`: bad path `json.[0]`: expected a key after `.`"),
        ("json[x] == 1", "http", "bad condition `json[x] == 1`: bad path `json[x]`: `[x]` is not an index"),
        ("json[0 == 1", "http", "bad condition `json[0 == 1`: bad path `json[0`: missing `]`"),
        ("json['a.b == 1", "http", "bad condition `json['a.b == 1`: bad path `json['a.b`: a quoted key needs `']` after it"),
        ("status.code == 1", "http", "bad condition `status.code == 1`: `status` has no fields"),
        ("header.a.b == 'x'", "http", "bad condition `header.a.b == 'x'`: `header` takes one name, e.g. `header.content-type`"),
        ("rss < 5 parsecs", "process", "bad condition `rss < 5 parsecs`: bad value `5 parsecs`: not a number, a duration (e.g. 2s) or a size (e.g. 200MiB)"),
        ("rss < 2s", "process", "bad condition `rss < 2s`: `rss` is a size but `2s` is a duration"),
        ("latency contains 'x'", "http", "bad condition `latency contains 'x'`: `contains` needs text, but `latency` is a duration"),
        ("running < true", "process", "bad condition `running < true`: `<` cannot order booleans; use == or !="),
        ("body matches 5", "http", "bad condition `body matches 5`: `matches` needs a quoted regex, found `5`"),
        ("json.n < true", "http", "bad condition `json.n < true`: `<` cannot order a boolean"),
        ("status == 200", "gopher", "bad condition `status == 200`: unknown probe kind `gopher`"),
        ("latency < 2s", "file", "bad condition `latency < 2s`: `latency` is not measured by file probes (file probes measure `exists`, `mode`, `size`, `sha256`, `age`)"),
    ];
    let mut failures = Vec::new();
    for (text, kind, message) in cases {
        match parse_condition(text, kind, origin()) {
            Ok(_) => failures.push(format!("{text}: parsed")),
            Err(e) => {
                let expected = format!("probes/a.yaml:3:7: {message}");
                if e.to_string() != expected || e.kind != SpecErrorKind::BadCondition {
                    failures.push(format!("{text}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
