//! A secret from the environment (`AUDITWALL_SECRET_<NAME>`) wins over the secrets file and
//! is redacted like any other. Alone in its own test binary: it sets an environment variable,
//! which must not race with other threads reading the environment.

mod support;

use auditwall_harness::result::Verdict;
use auditwall_spec::Value;
use support::{load_dir, result, run_dir, write, Server};

const NAME: &str = "HARNESS_TEST_ENV_TOKEN";
const FROM_ENV: &str = "env-secret-5e4d3c2b1a";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_environment_secret_overrides_the_file_and_is_redacted() {
    std::env::set_var(format!("AUDITWALL_SECRET_{NAME}"), FROM_ENV);
    let server = Server::start().await;
    let secrets_dir = tempfile::tempdir().expect("tempdir");
    let secrets_file = secrets_dir.path().join("secrets.yaml");
    std::fs::write(&secrets_file, format!("{NAME}: from-the-file\n")).expect("write secrets");
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "wall.yaml",
        &format!(
            "name: env-secret\nsecrets: {{ file: \"{}\" }}\n",
            secrets_file.display()
        ),
    );
    write(
        dir.path(),
        "probes/a.yaml",
        &format!(
            "probes:\n  - id: echo\n    http: {{ url: \"{}\", headers: {{ x-token: \"${{secret:{NAME}}}\" }} }}\n    expect: [\"body contains 'nope'\"]\n",
            server.url("/echo")
        ),
    );

    assert_eq!(load_dir(dir.path()).wall.secrets, [FROM_ENV]);
    let (summary, events) = run_dir(dir.path()).await;

    let r = result(&summary, "echo");
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.observations.get("body"),
        Some(&Value::Text(r#"{"you_sent":"[redacted]"}"#.into()))
    );
    for event in &events {
        assert!(!format!("{event:?}").contains(FROM_ENV), "{event:?}");
    }
}
