//! Secrets from a wall's secrets file are sent to a real server that echoes them back; the
//! engine must hand reporters `[redacted]` wherever the secret would appear.

mod support;

use auditwall_harness::engine::failure_summary;
use auditwall_harness::result::{CheckResult, Verdict};
use auditwall_spec::Value;
use support::{result, run_dir, write, Server};

const TOKEN: &str = "tok-9f8e7d6c5b4a";

/// A wall whose secrets file (outside the wall) holds `secrets`, and whose only check sends
/// the headers `headers` (YAML flow map body) to the echo endpoint.
fn echo_wall(
    server: &Server,
    secrets: &str,
    check_extra: &str,
    headers: &str,
) -> (tempfile::TempDir, tempfile::TempDir) {
    let secrets_dir = tempfile::tempdir().expect("tempdir");
    let secrets_file = secrets_dir.path().join("secrets.yaml");
    std::fs::write(&secrets_file, secrets).expect("write secrets");
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        &format!(
            "name: secret-wall\nsettings: {{ timeout: 5s }}\nsecrets: {{ file: \"{}\" }}\n",
            secrets_file.display()
        ),
    );
    write(
        dir.path(),
        "probes/echo.yaml",
        &format!(
            r#"probes:
  - id: echo
{check_extra}    http: {{ url: "{}", headers: {{ {headers} }} }}
    expect:
      - "status == 200"
      - "body contains 'not-in-the-body'"
      - "json.you_sent == 'something else'"
      - "header.x-echo == 'something else'"
"#,
            server.url("/echo")
        ),
    );
    (dir, secrets_dir)
}

fn assert_redacted(r: &CheckResult, secret: &str) {
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    let message = failure_summary(&r.judgements).unwrap_or_default();
    assert!(message.contains("[redacted]"), "{message}");
    assert!(!message.contains(secret), "{message}");
    for j in r.judgements.iter().filter(|j| !j.passed) {
        let actual = j.actual.as_deref().unwrap_or_default();
        let reason = j.reason.as_deref().unwrap_or_default();
        assert!(actual.contains("[redacted]"), "{}: {actual}", j.condition);
        assert!(
            !actual.contains(secret) && !reason.contains(secret),
            "{j:?}"
        );
    }
    assert_eq!(
        r.observations.get("body"),
        Some(&Value::Text(r#"{"you_sent":"[redacted]"}"#.into()))
    );
    assert_eq!(
        r.observations.get("json"),
        Some(&Value::Json(serde_json::json!({"you_sent": "[redacted]"})))
    );
    let Some(Value::Map(headers)) = r.observations.get("header") else {
        panic!("no header map: {:?}", r.observations)
    };
    assert_eq!(
        headers.get("x-echo").map(String::as_str),
        Some("[redacted]")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_echoed_secret_is_redacted_in_observations_judgements_and_message() {
    let server = Server::start().await;
    let (dir, _secrets) = echo_wall(
        &server,
        &format!("TOKEN: \"{TOKEN}\"\n"),
        "",
        "x-token: \"${secret:TOKEN}\"",
    );
    let (summary, events) = run_dir(dir.path()).await;

    let r = result(&summary, "echo");
    assert_redacted(r, TOKEN);
    assert_eq!(
        failure_summary(&r.judgements).as_deref(),
        Some(
            "`body contains 'not-in-the-body'`: expected contains 'not-in-the-body', got \"{\"you_sent\":\"[redacted]\"}\"; \
             `json.you_sent == 'something else'`: expected == 'something else', got \"[redacted]\"; \
             `header.x-echo == 'something else'`: expected == 'something else', got \"[redacted]\""
        )
    );
    // Nothing a reporter can reach holds the secret.
    for event in &events {
        assert!(!format!("{event:?}").contains(TOKEN), "{event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_check_does_not_leak_the_secret_in_its_retry_event() {
    let server = Server::start().await;
    let (dir, _secrets) = echo_wall(
        &server,
        &format!("TOKEN: \"{TOKEN}\"\n"),
        "    retries: 1\n",
        "x-token: \"${secret:TOKEN}\"",
    );
    let (summary, events) = run_dir(dir.path()).await;

    assert_redacted(result(&summary, "echo"), TOKEN);
    for event in &events {
        assert!(!format!("{event:?}").contains(TOKEN), "{event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_a_description_is_redacted() {
    let server = Server::start().await;
    let (dir, _secrets) = echo_wall(
        &server,
        &format!("TOKEN: \"{TOKEN}\"\n"),
        "    description: \"sends ${secret:TOKEN} as x-token\"\n",
        "x-token: \"${secret:TOKEN}\"",
    );
    let (summary, events) = run_dir(dir.path()).await;

    let r = result(&summary, "echo");
    assert_eq!(
        r.description.as_deref(),
        Some("sends [redacted] as x-token")
    );
    for event in &events {
        assert!(!format!("{event:?}").contains(TOKEN), "{event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_that_contains_another_secret_is_redacted_whole() {
    let server = Server::start().await;
    let long = format!("{TOKEN}-and-the-private-tail");
    // `x-a` sorts (and so interpolates) before `x-token`: the short secret is collected first.
    let (dir, _secrets) = echo_wall(
        &server,
        &format!("SHORT: \"{TOKEN}\"\nLONG: \"{long}\"\n"),
        "",
        "x-a: \"${secret:SHORT}\", x-token: \"${secret:LONG}\"",
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "echo");
    assert_redacted(r, &long);
    assert!(
        !format!("{r:?}").contains("private-tail"),
        "part of the longer secret leaked: {:?}",
        r.observations.get("body")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_in_the_url_is_redacted_from_a_failure_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind loopback")
        .port();
    let secrets_dir = tempfile::tempdir().expect("tempdir");
    let secrets_file = secrets_dir.path().join("secrets.yaml");
    std::fs::write(&secrets_file, format!("TOKEN: \"{TOKEN}\"\n")).expect("write secrets");
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        &format!(
            "name: secret-wall\nsecrets: {{ file: \"{}\" }}\n",
            secrets_file.display()
        ),
    );
    write(
        dir.path(),
        "probes/a.yaml",
        &format!(
            "probes:\n  - id: gone\n    http: {{ url: \"http://127.0.0.1:{port}/x?key=${{secret:TOKEN}}\" }}\n"
        ),
    );
    let (summary, _) = run_dir(dir.path()).await;

    let r = result(&summary, "gone");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.message.as_deref(),
        Some(format!("connection refused: GET http://127.0.0.1:{port}/x?key=[redacted]").as_str())
    );
}
