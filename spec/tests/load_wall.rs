//! Good paths: a full wall loads into the expected model, with defaults, profile layers,
//! interpolation and secrets.

mod common;

use std::time::Duration;

use auditwall_spec::*;
use common::{load, Input, WALL_DIR};

const ROOT: &str = r#"
name: home-lab
description: "the lab"
include: ["probes/**/*.yaml"]
settings: { timeout: 3s, retries: 1, deadline: 2m, jobs: 4, allow_disruptive: true }
prerequisites:
  commands: [curl]
  ports_free: ["${endpoints.host}:18080"]
  files: ["${env:HOME}/.config"]
  min_memory: 256MiB
secrets: { file: "${env:HOME}/.config/auditwall/secrets.yaml" }
"#;

const BASE: &str = r#"
endpoints:
  host: 127.0.0.1
  router: http://127.0.0.1:8080
  model: http://127.0.0.1:8081
model: { name: small, ports: [8081, 8082] }
"#;

const OVERLAY: &str = r#"
endpoints:
  router: http://127.0.0.1:9090
model: { ports: [9091] }
"#;

const PROBES: &str = r#"
probes:
  - id: model.health
    severity: P1
    tags: [fast]
    http: { url: "${endpoints.model}/health" }
  - id: router.chat
    description: "chat answers arithmetic via ${endpoints.router}"
    severity: P0
    tags: [llm, slow]
    needs: [model.health]
    timeout: 2s
    retries: 2
    disruptive: false
    http:
      method: post
      url: "${endpoints.router}/v1/chat/completions"
      headers: { Authorization: "Bearer ${secret:TOKEN}" }
      json: { model: "${model.name}", stream: no, n: 1, messages: [{ role: user, content: "2+2?" }] }
      timeout: 1500ms
    expect:
      - status == 200
      - "json.choices[0].message.content contains '4'"
      - latency < 2s
      - "header.X-Served-By == '${secret:TOKEN}'"
  - id: router.port
    tcp: { address: "${endpoints.host}:8080", timeout: 1s }
  - id: router.process
    process: { pid_file: /run/router.pid, exe: /usr/bin/router }
  - id: model.process
    process: { name: "model-server --port \\d+" }
  - id: router.owner
    port: { address: "127.0.0.1:8080", owner: "router" }
  - id: plain.port
    port: { address: "127.0.0.1:8081" }
  - id: hosts
    file: { path: /etc/hosts }
  - id: echo
    command: { run: [echo, "$${not.interpolated}", "${env:HOME}"], env: { LANG: C }, cwd: /tmp }
"#;

fn full_input() -> Input<'static> {
    Input {
        root: Some(ROOT),
        specs: vec![("probes/lab.yaml", PROBES.as_bytes())],
        profiles: vec![("base", BASE), ("ci", OVERLAY)],
        env: vec![("HOME", "/home/op")],
        secrets: vec![("TOKEN", "s3cr3t")],
        files: Vec::new(),
    }
}

fn texts(check: &Check) -> Vec<&str> {
    check.expect().iter().map(|c| c.text.as_str()).collect()
}

#[test]
fn full_wall_with_every_probe_kind_loads_into_the_model() {
    let wall = load(&full_input()).unwrap();
    assert_eq!(wall.name, "home-lab");
    assert_eq!(wall.description.as_deref(), Some("the lab"));
    assert_eq!(
        wall.settings,
        Settings {
            timeout: Duration::from_secs(3),
            retries: 1,
            deadline: Duration::from_secs(120),
            jobs: 4,
            allow_disruptive: true,
        }
    );
    assert_eq!(
        wall.prerequisites,
        Prerequisites {
            commands: vec!["curl".into()],
            ports_free: vec!["127.0.0.1:18080".into()],
            ports_used: vec![],
            files: vec!["/home/op/.config".into()],
            min_memory: Some(256 << 20),
        }
    );
    let ids: Vec<&str> = wall.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "model.health",
            "router.chat",
            "router.port",
            "router.process",
            "model.process",
            "router.owner",
            "plain.port",
            "hosts",
            "echo"
        ]
    );
    let c = &wall.checks;

    let chat = &c[1];
    assert_eq!(chat.suite, Suite::Probes);
    assert_eq!(
        chat.description.as_deref(),
        Some("chat answers arithmetic via http://127.0.0.1:9090")
    );
    assert_eq!(chat.severity, Severity::P0);
    assert_eq!(chat.tags, ["llm", "slow"]);
    assert_eq!(chat.needs, ["model.health"]);
    assert_eq!(chat.timeout, Duration::from_secs(2));
    assert_eq!(chat.retries, 2);
    assert!(!chat.disruptive);
    assert_eq!(
        *chat.probe().unwrap(),
        Probe::Http(HttpProbe {
            method: "POST".into(),
            url: "http://127.0.0.1:9090/v1/chat/completions".into(),
            headers: [("Authorization".to_string(), "Bearer s3cr3t".to_string())].into(),
            body: Some(HttpBody::Json(serde_json::json!({
                "model": "small",
                "stream": "no",
                "n": 1,
                "messages": [{"role": "user", "content": "2+2?"}]
            }))),
            timeout: Some(Duration::from_millis(1500)),
        })
    );
    assert_eq!(
        texts(chat),
        [
            "status == 200",
            "json.choices[0].message.content contains '4'",
            "latency < 2s",
            "header.X-Served-By == '${secret:TOKEN}'"
        ]
    );
    assert_eq!(
        chat.expect()[3].path.segments,
        [condition::Segment::Key("x-served-by".into())]
    );
    assert_eq!(
        chat.expect()[3].expected,
        Some(condition::Literal::Text("s3cr3t".into()))
    );
    assert_eq!(
        chat.origin,
        Origin {
            file: format!("{WALL_DIR}/probes/lab.yaml"),
            line: 7,
            column: 5
        }
    );
    assert_eq!(chat.expect()[0].origin.line, 22);

    assert_eq!(
        *c[2].probe().unwrap(),
        Probe::Tcp(TcpProbe {
            address: "127.0.0.1:8080".into(),
            timeout: Some(Duration::from_secs(1)),
        })
    );
    assert_eq!(
        *c[3].probe().unwrap(),
        Probe::Process(ProcessProbe {
            selector: ProcessSelector::PidFile("/run/router.pid".into()),
            exe: Some("/usr/bin/router".into()),
        })
    );
    assert_eq!(
        *c[4].probe().unwrap(),
        Probe::Process(ProcessProbe {
            selector: ProcessSelector::Name("model-server --port \\d+".into()),
            exe: None,
        })
    );
    assert_eq!(
        *c[5].probe().unwrap(),
        Probe::Port(PortProbe {
            address: "127.0.0.1:8080".into(),
            owner: Some("router".into()),
            owner_pid_file: None,
        })
    );
    assert_eq!(
        *c[7].probe().unwrap(),
        Probe::File(FileProbe {
            path: "/etc/hosts".into()
        })
    );
    assert_eq!(
        *c[8].probe().unwrap(),
        Probe::Command(CommandProbe {
            program: "echo".into(),
            args: vec!["${not.interpolated}".into(), "/home/op".into()],
            env: [("LANG".to_string(), "C".to_string())].into(),
            cwd: Some("/tmp".into()),
        })
    );
    assert_eq!(wall.secrets, ["s3cr3t"]);
}

#[test]
fn defaults_fill_what_a_check_leaves_out() {
    let wall = load(&full_input()).unwrap();
    let health = &wall.checks[0];
    assert_eq!(health.severity, Severity::P1);
    assert_eq!(health.timeout, Duration::from_secs(3), "settings.timeout");
    assert_eq!(health.retries, 1, "settings.retries");
    assert!(!health.disruptive);
    assert_eq!(
        *health.probe().unwrap(),
        Probe::Http(HttpProbe {
            method: "GET".into(),
            url: "http://127.0.0.1:8081/health".into(),
            headers: Default::default(),
            body: None,
            timeout: None,
        })
    );
    let contracts: Vec<Vec<&str>> = wall.checks.iter().map(texts).collect();
    assert_eq!(contracts[0], ["status < 400"]);
    assert_eq!(contracts[2], ["connected == true"]);
    assert_eq!(contracts[3], ["running == true", "exe_current == true"]);
    assert_eq!(contracts[4], ["running == true"]);
    assert_eq!(contracts[5], ["listening == true", "owner_matches == true"]);
    assert_eq!(contracts[6], ["listening == true"]);
    assert_eq!(contracts[7], ["exists == true"]);
    assert_eq!(contracts[8], ["exit == 0"]);

    let bare = load(&Input {
        specs: vec![(
            "probes/a.yaml",
            b"probes:\n  - id: a\n    tcp: { address: x }\n",
        )],
        ..Input::default()
    })
    .unwrap();
    assert_eq!(bare.settings, Settings::default());
    assert_eq!(bare.checks[0].severity, Severity::P2);
    assert_eq!(bare.checks[0].timeout, Duration::from_secs(10));
    assert_eq!(bare.checks[0].retries, 0);
    assert!(bare.secrets.is_empty());
}

#[test]
fn root_defaults_and_include() {
    let src = decode_source("wall.yaml", b"name: x\n").unwrap();
    let root = parse_root(&src).unwrap();
    assert_eq!(root.include, DEFAULT_INCLUDE);
    assert_eq!(root.description, None);
    let src = decode_source("wall.yaml", ROOT.as_bytes()).unwrap();
    assert_eq!(parse_root(&src).unwrap().include, ["probes/**/*.yaml"]);
}

#[test]
fn two_layer_profile_merges_key_by_key_and_lists_replace() {
    let layer = |name: &str, text: &str| {
        parse_profile_layer(
            name,
            &decode_source(&format!("profiles/{name}.yaml"), text.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let profile = Profile::merge(vec![layer("base", BASE), layer("ci", OVERLAY)]);
    assert_eq!(
        profile.get("endpoints.router").as_deref(),
        Some("http://127.0.0.1:9090")
    );
    assert_eq!(
        profile.get("endpoints.model").as_deref(),
        Some("http://127.0.0.1:8081")
    );
    assert_eq!(profile.get("model.ports").as_deref(), Some("[9091]"));
    assert_eq!(profile.get("endpoints"), None, "mappings are not values");
    assert_eq!(profile.get("nope.nope"), None);
    let entries: Vec<(String, String, String)> = profile.entries();
    let as_str: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(k, v, l)| (k.as_str(), v.as_str(), l.as_str()))
        .collect();
    assert_eq!(
        as_str,
        [
            ("endpoints.host", "127.0.0.1", "base"),
            ("endpoints.model", "http://127.0.0.1:8081", "base"),
            ("endpoints.router", "http://127.0.0.1:9090", "ci"),
            ("model.name", "small", "base"),
            ("model.ports", "[9091]", "ci"),
        ]
    );
    assert_eq!(
        profile.canonical(),
        concat!(
            "endpoints.host = \"127.0.0.1\"\n",
            "endpoints.model = \"http://127.0.0.1:8081\"\n",
            "endpoints.router = \"http://127.0.0.1:9090\"\n",
            "model.name = \"small\"\n",
            "model.ports = \"[9091]\"\n",
        )
    );
    // A scalar overlay replaces a whole mapping, and a mapping replaces a scalar.
    let replaced = Profile::merge(vec![
        layer("base", BASE),
        layer("flat", "endpoints: none\nmodel: { name: big }\n"),
    ]);
    assert_eq!(replaced.get("endpoints").as_deref(), Some("none"));
    assert_eq!(replaced.get("endpoints.router"), None);
    assert_eq!(replaced.get("model.ports").as_deref(), Some("[8081,8082]"));
    let empty = layer("empty", "");
    assert_eq!(Profile::merge(vec![empty]).entries(), vec![]);
}

#[test]
fn secrets_file_is_interpolated_and_parsed() {
    let root_src = decode_source("walls/x/wall.yaml", ROOT.as_bytes()).unwrap();
    let root = parse_root(&root_src).unwrap();
    let lookups = common::Lookups {
        env: [("HOME".to_string(), "/home/op".to_string())].into(),
        secrets: Default::default(),
    };
    assert_eq!(
        root.secrets_file(&Profile::default(), &lookups)
            .unwrap()
            .as_deref(),
        Some("/home/op/.config/auditwall/secrets.yaml")
    );
    let no_home = common::Lookups {
        env: Default::default(),
        secrets: Default::default(),
    };
    assert_eq!(
        root.secrets_file(&Profile::default(), &no_home)
            .unwrap_err()
            .to_string(),
        "walls/x/wall.yaml:11:18: environment variable `HOME` is not set (in `${env:HOME}`)"
    );
    let secrets =
        parse_secrets(&decode_source("s.yaml", b"TOKEN: abc\nPIN: 1234\n").unwrap()).unwrap();
    assert_eq!(secrets.get("TOKEN").map(String::as_str), Some("abc"));
    assert_eq!(secrets.get("PIN").map(String::as_str), Some("1234"));
    assert!(parse_secrets(&decode_source("s.yaml", b"").unwrap())
        .unwrap()
        .is_empty());
    assert_eq!(
        parse_secrets(&decode_source("s.yaml", b"TOKEN: [a]\n").unwrap())
            .unwrap_err()
            .to_string(),
        "s.yaml:1:8: wrong type for `TOKEN`: expected a string, found `[a]`"
    );
}

#[test]
fn a_bom_is_accepted() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(b"probes:\n  - id: a\n    tcp: { address: x }\n");
    let wall = load(&Input {
        specs: vec![("probes/a.yaml", Box::leak(bytes.into_boxed_slice()))],
        ..Input::default()
    })
    .unwrap();
    assert_eq!(wall.checks[0].id, "a");
    assert_eq!(wall.checks[0].origin.line, 2);
}

#[test]
fn truncated_prefixes_never_panic() {
    let mut outcomes = (0, 0);
    for i in 0..PROBES.len() {
        let input = Input {
            specs: vec![("probes/lab.yaml", &PROBES.as_bytes()[..i])],
            ..full_input()
        };
        match load(&input) {
            Ok(_) => outcomes.0 += 1,
            Err(errors) => {
                assert!(!errors.is_empty());
                outcomes.1 += 1;
            }
        }
        let root = decode_source("wall.yaml", &ROOT.as_bytes()[..i.min(ROOT.len())]);
        let _ = root.and_then(|r| parse_root(&r));
        let layer = decode_source("p.yaml", &BASE.as_bytes()[..i.min(BASE.len())]);
        let _ = layer.and_then(|l| parse_profile_layer("base", &l));
    }
    // Both kinds of outcome occur, so the loop really exercised the error paths.
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
}
