//! The http probe against real axum servers (and raw sockets for misbehaving ones) on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use auditwall_probes::{ProbeError, ProbeErrorKind, Prober};
use auditwall_spec::{HttpBody, HttpProbe, Probe, Value};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The listener is bound before this returns, so the server accepts connections at once:
/// no readiness wait is needed.
async fn serve() -> SocketAddr {
    let app = Router::new()
        .route(
            "/v1/models",
            get(|| async {
                (
                    [("x-served-by", "primary")],
                    Json(json!({"data": [{"id": "m1"}]})),
                )
            }),
        )
        .route(
            "/echo",
            post(|headers: HeaderMap, body: String| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                Json(json!({
                    "content_type": header("content-type"),
                    "token": header("x-token"),
                    "body": body,
                }))
            }),
        )
        .route("/text", get(|| async { "plain words" }))
        .route(
            "/broken",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({"success": false})),
                )
            }),
        )
        .route(
            "/login-wall",
            get(|| async { (StatusCode::FOUND, [("location", "/login")]) }),
        )
        .route("/login", get(|| async { "login page" }))
        .route("/big", get(|| async { "a".repeat(5 * 1024 * 1024) }))
        .route(
            "/twice",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.append("x-tag", HeaderValue::from_static("one"));
                headers.append("x-tag", HeaderValue::from_static("two"));
                (headers, "ok")
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

fn get_probe(url: String) -> Probe {
    Probe::Http(HttpProbe {
        method: "GET".into(),
        url,
        headers: BTreeMap::new(),
        body: None,
        timeout: None,
    })
}

async fn run(probe: &Probe) -> Result<auditwall_probes::Observations, ProbeError> {
    Prober::new().expect("prober").run(probe, TIMEOUT).await
}

#[tokio::test]
async fn get_observes_status_headers_json_body_and_size() {
    let addr = serve().await;
    let obs = run(&get_probe(format!("http://{addr}/v1/models")))
        .await
        .expect("probe runs");

    assert_eq!(obs.get("status"), Some(&Value::Number(200.0)));
    let Some(Value::Map(headers)) = obs.get("header") else {
        panic!("no header map: {obs:?}")
    };
    assert_eq!(
        headers.get("x-served-by").map(String::as_str),
        Some("primary")
    );
    assert_eq!(
        headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    let body = r#"{"data":[{"id":"m1"}]}"#;
    assert_eq!(obs.get("body"), Some(&Value::Text(body.into())));
    assert_eq!(
        obs.get("json"),
        Some(&Value::Json(json!({"data": [{"id": "m1"}]})))
    );
    assert_eq!(obs.get("size"), Some(&Value::Bytes(body.len() as u64)));
    assert!(
        matches!(obs.get("latency"), Some(Value::Duration(_))),
        "{obs:?}"
    );
}

#[tokio::test]
async fn post_json_body_reaches_the_server() {
    let addr = serve().await;
    let probe = Probe::Http(HttpProbe {
        method: "POST".into(),
        url: format!("http://{addr}/echo"),
        headers: BTreeMap::from([("X-Token".to_string(), "abc".to_string())]),
        body: Some(HttpBody::Json(
            json!({"messages": [{"role": "user", "content": "2+2?"}]}),
        )),
        timeout: None,
    });
    let obs = run(&probe).await.expect("probe runs");
    let Some(Value::Json(echo)) = obs.get("json") else {
        panic!("no json: {obs:?}")
    };
    assert_eq!(echo["content_type"], "application/json");
    assert_eq!(echo["token"], "abc");
    let sent: serde_json::Value =
        serde_json::from_str(echo["body"].as_str().unwrap_or("")).expect("server got JSON");
    assert_eq!(
        sent,
        json!({"messages": [{"role": "user", "content": "2+2?"}]})
    );
}

#[tokio::test]
async fn post_text_body_keeps_its_content_type() {
    let addr = serve().await;
    let probe = Probe::Http(HttpProbe {
        method: "POST".into(),
        url: format!("http://{addr}/echo"),
        headers: BTreeMap::from([("content-type".to_string(), "text/plain".to_string())]),
        body: Some(HttpBody::Text("ping".into())),
        timeout: None,
    });
    let obs = run(&probe).await.expect("probe runs");
    let Some(Value::Json(echo)) = obs.get("json") else {
        panic!("no json: {obs:?}")
    };
    assert_eq!(echo["content_type"], "text/plain");
    assert_eq!(echo["body"], "ping");
}

#[tokio::test]
async fn a_text_body_has_no_json_observation() {
    let addr = serve().await;
    let obs = run(&get_probe(format!("http://{addr}/text")))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("body"), Some(&Value::Text("plain words".into())));
    assert_eq!(obs.get("json"), None);
}

#[tokio::test]
async fn an_error_status_is_an_observation_not_an_error() {
    let addr = serve().await;
    let obs = run(&get_probe(format!("http://{addr}/broken")))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("status"), Some(&Value::Number(500.0)));
    assert_eq!(
        obs.get("json"),
        Some(&Value::Json(json!({"success": false})))
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let addr = serve().await;
    let obs = run(&get_probe(format!("http://{addr}/login-wall")))
        .await
        .expect("probe runs");
    assert_eq!(obs.get("status"), Some(&Value::Number(302.0)));
    let Some(Value::Map(headers)) = obs.get("header") else {
        panic!("no header map: {obs:?}")
    };
    assert_eq!(headers.get("location").map(String::as_str), Some("/login"));
    assert_eq!(obs.get("body"), Some(&Value::Text(String::new())));
}

#[tokio::test]
async fn repeated_headers_are_joined() {
    let addr = serve().await;
    let obs = run(&get_probe(format!("http://{addr}/twice")))
        .await
        .expect("probe runs");
    let Some(Value::Map(headers)) = obs.get("header") else {
        panic!("no header map: {obs:?}")
    };
    assert_eq!(headers.get("x-tag").map(String::as_str), Some("one, two"));
}

#[tokio::test]
async fn the_body_is_cut_at_4_mib_and_says_so() {
    let addr = serve().await;
    let obs = run(&get_probe(format!("http://{addr}/big")))
        .await
        .expect("probe runs");
    let cap = 4 * 1024 * 1024;
    assert_eq!(obs.get("size"), Some(&Value::Bytes(cap as u64)));
    let Some(Value::Text(body)) = obs.get("body") else {
        panic!("no body")
    };
    let marker = "\n[auditwall: body truncated at 4 MiB]";
    assert!(body.ends_with(marker), "no truncation marker");
    assert_eq!(body.len(), cap + marker.len());
}

#[tokio::test]
async fn connection_refused_names_method_and_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/v1/chat");
    let probe = Probe::Http(HttpProbe {
        method: "POST".into(),
        url: url.clone(),
        headers: BTreeMap::new(),
        body: Some(HttpBody::Json(json!({}))),
        timeout: None,
    });
    let err = run(&probe).await.expect_err("nothing listens");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    assert_eq!(err.to_string(), format!("connection refused: POST {url}"));
}

/// Accepts connections, reads the request, sends `preamble` and then nothing more while
/// holding the connection open: the "health is fine, chat hangs" server.
async fn silent_server(preamble: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..4 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            // Bounded: a probe's GET request is far smaller than 64 reads.
            for _ in 0..64 {
                match socket.read(&mut buf).await {
                    Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                    _ => break,
                }
                if request.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let _ = socket.write_all(preamble).await;
            held.push(socket);
        }
    });
    addr
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_waiting_for_headers() {
    let addr = silent_server(b"").await;
    let url = format!("http://{addr}/v1/chat/completions");
    let err = Prober::new()
        .expect("prober")
        .run(&get_probe(url.clone()), Duration::from_millis(300))
        .await
        .expect_err("no answer");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    assert_eq!(
        err.message,
        format!("timed out after 300ms waiting for response headers from {url}")
    );
}

#[tokio::test]
async fn a_body_that_stalls_times_out_reading_the_body() {
    let addr = silent_server(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello").await;
    let url = format!("http://{addr}/stream");
    let err = Prober::new()
        .expect("prober")
        .run(&get_probe(url.clone()), Duration::from_millis(300))
        .await
        .expect_err("body never completes");
    assert_eq!(err.kind, ProbeErrorKind::Target);
    assert_eq!(
        err.message,
        format!("timed out after 300ms reading the body from {url} (status 200, 5 bytes received)")
    );
}

#[tokio::test]
async fn the_probe_timeout_wins_when_it_is_shorter() {
    let addr = silent_server(b"").await;
    let url = format!("http://{addr}/slow");
    let probe = Probe::Http(HttpProbe {
        method: "GET".into(),
        url: url.clone(),
        headers: BTreeMap::new(),
        body: None,
        timeout: Some(Duration::from_millis(200)),
    });
    let err = run(&probe).await.expect_err("no answer");
    assert_eq!(
        err.message,
        format!("timed out after 200ms waiting for response headers from {url}")
    );
}

#[tokio::test]
async fn a_broken_probe_is_a_detector_error() {
    let cases = [
        ("GET", "ftp://127.0.0.1/file", "unsupported URL scheme \"ftp\" in ftp://127.0.0.1/file: http probes speak http and https only"),
        ("GET", "not a url", "invalid URL \"not a url\": relative URL without a base"),
        ("GE T", "http://127.0.0.1:9/", "invalid HTTP method \"GE T\""),
    ];
    for (method, url, message) in cases {
        let probe = Probe::Http(HttpProbe {
            method: method.into(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            timeout: None,
        });
        let err = run(&probe).await.expect_err(url);
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ProbeErrorKind::Detector, message),
            "{url}"
        );
    }
    let probe = Probe::Http(HttpProbe {
        method: "GET".into(),
        url: "http://127.0.0.1:9/".into(),
        headers: BTreeMap::from([("bad header".to_string(), "x".to_string())]),
        body: None,
        timeout: None,
    });
    let err = run(&probe).await.expect_err("bad header");
    assert_eq!(
        (err.kind, err.message.as_str()),
        (
            ProbeErrorKind::Detector,
            "invalid HTTP header name \"bad header\""
        )
    );
}

#[tokio::test]
async fn clones_share_one_connection_pool() {
    let addr = serve().await;
    let prober = Prober::new().expect("prober");
    let clone = prober.clone();
    let probe = get_probe(format!("http://{addr}/peer"));
    let first = prober.run(&probe, TIMEOUT).await.expect("first probe");
    let second = clone.run(&probe, TIMEOUT).await.expect("second probe");
    // The same client port means the second request reused the first one's connection.
    assert_eq!(first.get("body"), second.get("body"));
    assert!(matches!(first.get("body"), Some(Value::Text(peer)) if peer.starts_with("127.0.0.1:")));
}
