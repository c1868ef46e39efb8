//! Loopback HTTP client helpers shared by the integration tests.

#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use agentix_sim::SimServer;

pub const MESSAGES: &str = "/v1/messages";
pub const CHAT: &str = "/v1/chat/completions";

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn http2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// A response read to its end.
#[derive(Debug)]
pub struct Received {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("body is UTF-8")
    }
}

/// Error of a request whose connection failed or whose body ended early.
pub type RequestError = Box<dyn std::error::Error + Send + Sync>;

/// Sends a request with `method`, `path`, extra headers and a raw body.
pub async fn send_raw(
    client: &HttpClient,
    server: &SimServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<Received, RequestError> {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.base_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into()))?;
    let response = client.request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Received {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    })
}

/// Sends a JSON body with `POST` and the format's usual headers.
pub async fn post(
    client: &HttpClient,
    server: &SimServer,
    path: &str,
    body: &Value,
) -> Result<Received, RequestError> {
    let headers: &[(&str, &str)] = if path == MESSAGES {
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-ant-test"),
            ("anthropic-version", "2023-06-01"),
        ]
    } else {
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-test"),
        ]
    };
    send_raw(client, server, "POST", path, headers, body.to_string()).await
}

/// Sends a request that must complete, panicking on a transport error.
pub async fn post_ok(
    client: &HttpClient,
    server: &SimServer,
    path: &str,
    body: &Value,
) -> Received {
    post(client, server, path, body)
        .await
        .expect("request to the simulated provider completes")
}

/// Builds a valid Anthropic Messages request body.
pub fn anthropic_body(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello, simulated world!"}],
    })
}

/// Builds a valid OpenAI Chat Completions request body.
pub fn openai_body(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "Hello, simulated world!"}],
    })
}
