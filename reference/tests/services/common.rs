//! Helpers shared by the integration tests: in-process services on 127.0.0.1:0 behind
//! guards that stop them on drop (even when a test panics), an HTTP client, and a bounded
//! poll for conditions that become true asynchronously.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A service running in-process. Binding happens before spawning, so it is ready to accept
/// connections by construction.
pub struct Running<T> {
    pub addr: SocketAddr,
    handle: Option<JoinHandle<T>>,
}

impl<T> Running<T> {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the service and waits until its listener and connections are gone.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
            let _ = handle.await;
        }
    }

    /// Waits (bounded) for the service to return on its own.
    pub async fn exit(mut self) -> T {
        let handle = self.handle.take().expect("service already stopped");
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("service did not exit within 10 s")
            .expect("service task failed")
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

pub async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback")
}

/// Spawns `serve(listener)` on a fresh loopback port.
pub async fn spawn<T, F>(serve: impl FnOnce(TcpListener) -> F) -> Running<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let listener = listener().await;
    spawn_on(listener, serve)
}

pub fn spawn_on<T, F>(listener: TcpListener, serve: impl FnOnce(TcpListener) -> F) -> Running<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let addr = listener.local_addr().expect("local addr");
    Running {
        addr,
        handle: Some(tokio::spawn(serve(listener))),
    }
}

/// A loopback address with nothing listening on it.
pub async fn closed_port() -> SocketAddr {
    listener().await.local_addr().expect("local addr")
}

pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("build client")
}

pub fn chat_body(prompt: &str) -> Value {
    json!({ "model": "any", "messages": [{ "role": "user", "content": prompt }] })
}

pub async fn chat(
    client: &reqwest::Client,
    base: &str,
    prompt: &str,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("{base}/v1/chat/completions"))
        .json(&chat_body(prompt))
        .send()
        .await
}

/// Chat at `base` answers "2+2?" right: what every healed service or lifted fault must leave.
pub async fn answers_two_plus_two(base: &str) {
    let body: Value = chat(&client(), base, "2+2?")
        .await
        .expect("chat")
        .json()
        .await
        .expect("JSON");
    assert_eq!(content(&body), "4");
}

pub fn content(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no content in {body}"))
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Polls `check` every 20 ms until it returns `Some`, for at most 10 s.
pub async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after 10 s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
