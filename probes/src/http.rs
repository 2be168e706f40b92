//! The `http` probe: one request, the whole answer measured.
//!
//! Owns: building the request from an [`HttpProbe`], reading the answer within one deadline,
//! and naming precisely which phase failed (connect, response headers, body).
//! Must not touch: judging the answer (a 500 is an observation, not an error).
//!
//! `latency` runs from sending the request to the last body byte read. A body over 4 MiB is
//! cut there: `size` is then the bytes kept, `body` ends with a visible truncation marker,
//! and `json` is absent (a cut document would parse wrongly or not at all).

use std::collections::BTreeMap;
use std::time::Duration;

use auditwall_spec::{HttpBody, HttpProbe, Observations, Value};
use tokio::time::Instant;

use auditwall_spec::render_duration;

use crate::ProbeError;

/// Bodies beyond this are cut: a probe reads answers, not downloads.
const BODY_CAP: usize = 4 * 1024 * 1024;

/// Appended to a cut body so every report shows that the text is incomplete.
const BODY_TRUNCATED: &str = "\n[auditwall: body truncated at 4 MiB]";

pub(crate) async fn run(
    client: &reqwest::Client,
    probe: &HttpProbe,
    timeout: Duration,
) -> Result<Observations, ProbeError> {
    let timeout = probe.timeout.map_or(timeout, |own| own.min(timeout));
    let request = build(client, probe)?;
    let method = request.method().clone();
    let url = request.url().to_string();
    let start = Instant::now();
    let deadline = start + timeout;

    let mut response = match tokio::time::timeout_at(deadline, client.execute(request)).await {
        Err(_) => {
            return Err(ProbeError::target(format!(
                "timed out after {} waiting for response headers from {url}",
                render_duration(timeout)
            )))
        }
        Ok(Err(e)) => return Err(request_error(&e, &method, &url)),
        Ok(Ok(response)) => response,
    };

    let status = response.status().as_u16();
    let headers = header_map(response.headers());

    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => {
                return Err(ProbeError::target(format!(
                    "timed out after {} reading the body from {url} (status {status}, {} bytes received)",
                    render_duration(timeout),
                    body.len()
                )))
            }
            Ok(Err(e)) => {
                return Err(ProbeError::target(format!(
                    "connection failed while reading the body: {method} {url}: {}",
                    root_cause(&e)
                )))
            }
            Ok(Ok(chunk)) => chunk,
        };
        let Some(chunk) = chunk else { break };
        let room = BODY_CAP - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    let latency = start.elapsed();

    let mut obs = Observations::new();
    obs.set("status", Value::Number(f64::from(status)));
    obs.set("latency", Value::Duration(latency));
    obs.set("header", Value::Map(headers));
    obs.set("size", Value::Bytes(body.len() as u64));
    if !truncated {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) {
            obs.set("json", Value::Json(json));
        }
    }
    let mut text = String::from_utf8_lossy(&body).into_owned();
    if truncated {
        text.push_str(BODY_TRUNCATED);
    }
    obs.set("body", Value::Text(text));
    Ok(obs)
}

/// Everything wrong with the probe's own configuration is caught here, before any I/O,
/// so it is reported as a broken detector rather than a red system.
fn build(client: &reqwest::Client, probe: &HttpProbe) -> Result<reqwest::Request, ProbeError> {
    let url = reqwest::Url::parse(&probe.url)
        .map_err(|e| ProbeError::detector(format!("invalid URL {:?}: {e}", probe.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProbeError::detector(format!(
            "unsupported URL scheme {:?} in {url}: http probes speak http and https only",
            url.scheme()
        )));
    }
    let method = reqwest::Method::from_bytes(probe.method.as_bytes())
        .map_err(|_| ProbeError::detector(format!("invalid HTTP method {:?}", probe.method)))?;
    let mut builder = client.request(method, url);
    for (name, value) in &probe.headers {
        let header_name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ProbeError::detector(format!("invalid HTTP header name {name:?}")))?;
        let header_value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| ProbeError::detector(format!("invalid value for HTTP header {name:?}")))?;
        builder = builder.header(header_name, header_value);
    }
    builder = match &probe.body {
        // `json` keeps a content-type the spec set itself and adds application/json otherwise.
        Some(HttpBody::Json(value)) => builder.json(value),
        Some(HttpBody::Text(text)) => builder.body(text.clone()),
        None => builder,
    };
    builder.build().map_err(|e| {
        ProbeError::detector(format!(
            "cannot build the request to {}: {}",
            probe.url,
            root_cause(&e)
        ))
    })
}

fn request_error(e: &reqwest::Error, method: &reqwest::Method, url: &str) -> ProbeError {
    if e.is_builder() {
        return ProbeError::detector(format!(
            "cannot build the request: {method} {url}: {}",
            root_cause(e)
        ));
    }
    let io_kind = io_error_kind(e);
    let message = match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => {
            format!("connection refused: {method} {url}")
        }
        Some(std::io::ErrorKind::ConnectionReset) => format!("connection reset: {method} {url}"),
        _ if e.is_connect() => format!("cannot connect: {method} {url}: {}", root_cause(e)),
        _ => format!("request failed: {method} {url}: {}", root_cause(e)),
    };
    ProbeError::target(message)
}

fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = err.source();
    }
    None
}

/// The innermost cause is the one that names what happened ("Name or service not known");
/// the outer layers only repeat the URL.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Repeated headers are joined with ", " as HTTP allows; names are already lowercase.
fn header_map(headers: &reqwest::header::HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_string())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    map
}
