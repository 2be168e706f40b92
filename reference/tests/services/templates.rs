use std::collections::BTreeMap;
use std::time::Duration;

use auditwall_reference::hub::{self, HubConfig, HubFault};
use auditwall_reference::model::{self, ModelConfig, ModelFault};
use auditwall_reference::router::{self, RouterConfig};
use auditwall_reference::templates::{render, RenderError, RenderErrorKind, TEMPLATES};
use auditwall_reference::watchdog::{self, WatchdogConfig};
use auditwall_reference::BoxError;
use serde_json::{json, Value};

use crate::common::{self, chat, client, content, get_json};

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn template(service: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|t| t.service == service)
        .map(|t| t.text)
        .unwrap_or_else(|| panic!("no template for {service}"))
}

#[test]
fn render_substitutes_every_placeholder() {
    let text = "a: ${x}\nb: \"${ports.router}\"\nc: ${x}${y-z}\n";
    let out = render(
        text,
        &values(&[
            ("x", "1"),
            ("ports.router", "8080"),
            ("y-z", "!"),
            ("unused", "?"),
        ]),
    );
    assert_eq!(out, Ok("a: 1\nb: \"8080\"\nc: 1!\n".to_owned()));
    assert_eq!(
        render("no placeholders", &values(&[])),
        Ok("no placeholders".to_owned())
    );
}

#[test]
fn a_doubled_dollar_escapes_a_placeholder_and_a_lone_dollar_stays() {
    let cases = [
        ("home: $${HOME}", "home: ${HOME}"),
        ("price: $5, $ and $$ stay", "price: $5, $ and $$ stay"),
        ("ends in $", "ends in $"),
        ("$${x}${x}", "${x}1"),
        ("$$${x}", "$${x}"),
        ("{{x}} is not a placeholder", "{{x}} is not a placeholder"),
    ];
    for (text, expected) in cases {
        assert_eq!(
            render(text, &values(&[("x", "1")])),
            Ok(expected.to_owned()),
            "{text}"
        );
    }
}

#[test]
fn render_errors_name_the_problem_and_where() {
    let cases = [
        (
            "a: 1\nurl: http://127.0.0.1:${ports.router}\n",
            RenderErrorKind::MissingVariable("ports.router".to_owned()),
            (2, 23),
            "line 2, column 23: no value for variable \"ports.router\"",
        ),
        (
            "x: ${oops\n",
            RenderErrorKind::Unclosed,
            (1, 4),
            "line 1, column 4: \"${\" is never closed with \"}\" on its line",
        ),
        (
            "a: 1\nx: \"${oops\"\ny: {}\n",
            RenderErrorKind::Unclosed,
            (2, 5),
            "line 2, column 5: \"${\" is never closed with \"}\" on its line",
        ),
        (
            "é: ${a b}",
            RenderErrorKind::BadName("a b".to_owned()),
            (1, 4),
            "line 1, column 4: \"a b\" is not a variable name (letters, digits, '_', '-', '.')",
        ),
        (
            "${ x }",
            RenderErrorKind::BadName(" x ".to_owned()),
            (1, 1),
            "line 1, column 1: \" x \" is not a variable name (letters, digits, '_', '-', '.')",
        ),
        (
            "${}",
            RenderErrorKind::BadName(String::new()),
            (1, 1),
            "line 1, column 1: \"\" is not a variable name (letters, digits, '_', '-', '.')",
        ),
    ];
    for (text, kind, (line, column), message) in cases {
        let error = render(text, &values(&[("x", "1")])).expect_err(text);
        assert_eq!(error, RenderError { kind, line, column }, "{text}");
        assert_eq!(error.to_string(), message);
    }
}

/// Every value the templates use: the five ports and the run directory.
fn ports(
    primary: u16,
    primary_proxy: u16,
    fallback: u16,
    router: u16,
    hub: u16,
    run_dir: &str,
) -> BTreeMap<String, String> {
    values(&[
        ("ports.model_primary", &primary.to_string()),
        ("ports.primary_proxy", &primary_proxy.to_string()),
        ("ports.model_fallback", &fallback.to_string()),
        ("ports.router", &router.to_string()),
        ("ports.hub", &hub.to_string()),
        ("paths.run_dir", run_dir),
    ])
}

#[test]
fn every_template_renders_and_parses_into_its_config() {
    let values = ports(8101, 8104, 8102, 8100, 8103, "/srv/aw/run");
    let names: Vec<&str> = TEMPLATES.iter().map(|t| t.file_name).collect();
    assert_eq!(
        names,
        [
            "model-primary.yaml",
            "model-fallback.yaml",
            "router.yaml",
            "hub.yaml",
            "watchdog.yaml"
        ]
    );
    for t in TEMPLATES {
        let rendered = render(t.text, &values).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert!(!rendered.contains("${"), "{t}");
    }
    let render = |service| render(template(service), &values).expect("render");

    let primary: ModelConfig =
        serde_saphyr::from_str(&render("model-primary")).expect("model-primary");
    assert_eq!(primary, ModelConfig::new("ref-primary"));
    let fallback: ModelConfig =
        serde_saphyr::from_str(&render("model-fallback")).expect("model-fallback");
    assert_eq!(
        (
            fallback.model.as_str(),
            fallback.latency,
            fallback.cold_load,
            fallback.fault
        ),
        (
            "ref-fallback",
            Duration::from_millis(150),
            Duration::from_millis(1500),
            ModelFault::None
        )
    );
    let router: RouterConfig = serde_saphyr::from_str(&render("router")).expect("router");
    let urls: Vec<(&str, &str)> = router
        .fallback_urls
        .iter()
        .map(|b| (b.name.as_str(), b.url.as_str()))
        .collect();
    assert_eq!(
        urls,
        [
            ("model-primary", "http://127.0.0.1:8104"),
            ("model-fallback", "http://127.0.0.1:8102")
        ]
    );
    let hub: HubConfig = serde_saphyr::from_str(&render("hub")).expect("hub");
    assert_eq!(
        hub,
        HubConfig {
            fault: HubFault::None,
            state_file: "/srv/aw/run/hub-state.json".into(),
        }
    );
    let dog: WatchdogConfig = serde_saphyr::from_str(&render("watchdog")).expect("watchdog");
    let watched: Vec<(&str, &str)> = dog
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.health_url.as_str()))
        .collect();
    assert_eq!(
        watched,
        [
            ("model-primary", "http://127.0.0.1:8101/health"),
            ("model-fallback", "http://127.0.0.1:8102/health"),
            ("router", "http://127.0.0.1:8100/health"),
            ("hub", "http://127.0.0.1:8103/health"),
        ]
    );
}

#[test]
fn unknown_config_keys_are_errors() {
    let drifted = format!("{}\ntemperature: 0.7\n", template("model-primary"));
    let error = serde_saphyr::from_str::<ModelConfig>(&drifted).expect_err("unknown key");
    assert!(error.to_string().contains("temperature"), "{error}");
}

/// The whole reference system from its rendered canonical configs, on loopback.
#[tokio::test]
async fn rendered_templates_run_the_whole_reference_system() {
    let listeners = [
        common::listener().await,
        common::listener().await,
        common::listener().await,
        common::listener().await,
    ];
    let port = |i: usize| listeners[i].local_addr().expect("addr").port();
    let run_dir = tempfile::tempdir().expect("run dir");
    let run_path = run_dir.path().display().to_string();
    // No proxy here (that is the runtime's): the router reaches model-primary directly.
    let values = ports(port(0), port(0), port(1), port(2), port(3), &run_path);
    let parse = |service| render(template(service), &values).expect("render");
    let primary: ModelConfig = serde_saphyr::from_str(&parse("model-primary")).expect("parse");
    let fallback: ModelConfig = serde_saphyr::from_str(&parse("model-fallback")).expect("parse");
    let router_config: RouterConfig = serde_saphyr::from_str(&parse("router")).expect("parse");
    let hub_config: HubConfig = serde_saphyr::from_str(&parse("hub")).expect("parse");
    let mut dog_config: WatchdogConfig = serde_saphyr::from_str(&parse("watchdog")).expect("parse");
    dog_config.interval = Duration::from_millis(30);

    let [l0, l1, l2, l3] = listeners;
    let _primary = common::spawn_on(l0, |l| model::serve(primary, l));
    let _fallback = common::spawn_on(l1, |l| model::serve(fallback, l));
    let router = common::spawn_on(l2, |l| router::serve(router_config, l));
    let hub = common::spawn_on(l3, |l| hub::serve(hub_config, l));
    let no_restarts = |service: String| async move {
        Err::<(), BoxError>(format!("{service} must not need a restart").into())
    };
    let dog = common::spawn(|l| watchdog::serve(dog_config, l, no_restarts)).await;

    let response = chat(&client(), &router.url(""), "What is (3+4)*5?")
        .await
        .expect("chat");
    assert_eq!(
        response.headers()[auditwall_reference::router::SERVED_BY],
        "model-primary"
    );
    assert_eq!(
        content(&response.json::<Value>().await.expect("JSON")),
        "35"
    );

    let (status, _) =
        common::post_json(&client(), &hub.url("/automations/goodnight"), &json!({})).await;
    assert_eq!(status, 202);
    assert_eq!(
        get_json(&client(), &hub.url("/state")).await.1["door.front.locked"],
        true
    );
    assert!(
        run_dir.path().join("hub-state.json").is_file(),
        "the hub saved its state where the template says"
    );

    let states = common::eventually("every service HEALTHY", || async {
        let (_, body) = get_json(&client(), &dog.url("/status")).await;
        let states: Vec<Value> = body["services"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| json!([s["name"], s["state"], s["restarts"]]))
                    .collect()
            })
            .unwrap_or_default();
        states.iter().all(|s| s[1] == "HEALTHY").then_some(states)
    })
    .await;
    assert_eq!(
        states,
        vec![
            json!(["model-primary", "HEALTHY", 0]),
            json!(["model-fallback", "HEALTHY", 0]),
            json!(["router", "HEALTHY", 0]),
            json!(["hub", "HEALTHY", 0]),
        ]
    );
}
