//! A scripted in-process provider for the hardening tests: a `tower::Service` that replies to
//! each call with the next queued reply and records when each call arrived.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use agentix::LlmBody;
use bytes::Bytes;
use tokio::time::Instant;

/// Anthropic's error body for an overloaded provider.
pub const OVERLOADED: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
/// Anthropic's error body for a rate limit.
pub const RATE_LIMITED: &str =
    r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;

/// Returns an Anthropic success body reporting `input` and `output` tokens.
pub fn success_body(input: u64, output: u64) -> String {
    format!(
        r#"{{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{{"type":"text","text":"hi"}}],"stop_reason":"end_turn","usage":{{"input_tokens":{input},"output_tokens":{output}}}}}"#
    )
}

/// One scripted reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
    /// Delay before the provider replies, on tokio's clock.
    pub latency: Duration,
}

impl Reply {
    pub fn ok() -> Self {
        Self::status(200, success_body(3, 5))
    }

    pub fn status(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            latency: Duration::ZERO,
        }
    }

    pub fn overloaded() -> Self {
        Self::status(529, OVERLOADED)
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

#[derive(Default)]
struct Script {
    queue: VecDeque<Reply>,
    /// Reply used once the queue is empty.
    otherwise: Option<Reply>,
    /// Arrival time of each call, measured from `start`.
    arrivals: Vec<Duration>,
    /// The `model` of each request body.
    models: Vec<String>,
}

/// A scripted provider; clones share the script.
#[derive(Clone)]
pub struct MockProvider {
    script: Arc<Mutex<Script>>,
    start: Instant,
}

impl MockProvider {
    /// Creates a provider that replies with `otherwise` once `queue` is empty.
    pub fn new(queue: impl IntoIterator<Item = Reply>, otherwise: Reply) -> Self {
        Self {
            script: Arc::new(Mutex::new(Script {
                queue: queue.into_iter().collect(),
                otherwise: Some(otherwise),
                ..Script::default()
            })),
            start: Instant::now(),
        }
    }

    pub fn calls(&self) -> usize {
        self.script.lock().unwrap().arrivals.len()
    }

    pub fn arrivals(&self) -> Vec<Duration> {
        self.script.lock().unwrap().arrivals.clone()
    }

    pub fn models(&self) -> Vec<String> {
        self.script.lock().unwrap().models.clone()
    }

    pub fn set_otherwise(&self, reply: Reply) {
        self.script.lock().unwrap().otherwise = Some(reply);
    }
}

fn build(reply: &Reply) -> http::Response<LlmBody> {
    let mut builder = http::Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    for (name, value) in &reply.headers {
        builder = builder.header(
            name.as_str(),
            http::HeaderValue::from_bytes(value).expect("scripted header value is valid"),
        );
    }
    builder
        .body(LlmBody::full(reply.body.clone()))
        .expect("scripted response is valid")
}

impl tower::Service<http::Request<Bytes>> for MockProvider {
    type Response = http::Response<LlmBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Bytes>) -> Self::Future {
        let reply = {
            let mut script = self.script.lock().unwrap();
            let elapsed = self.start.elapsed();
            script.arrivals.push(elapsed);
            let model = serde_json::from_slice::<serde_json::Value>(request.body())
                .ok()
                .and_then(|body| body.get("model").map(|model| model.to_string()))
                .unwrap_or_default();
            script.models.push(model);
            match script.queue.pop_front() {
                Some(reply) => reply,
                None => script.otherwise.clone().expect("a default reply"),
            }
        };
        Box::pin(async move {
            if !reply.latency.is_zero() {
                tokio::time::sleep(reply.latency).await;
            }
            Ok(build(&reply))
        })
    }
}
