//! Test doubles for the retry layer: a small status-code classifier, a scripted inner
//! service that records what it receives, and a request that cannot be replayed.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use agentix_core::{
    rejection_of, BoxError, Classify, Failure, FailureKind, Outcome, ReplayRequest, TenantId,
    TenantScoped,
};
use agentix_retry::RetryConfig;
use tokio::time::Instant;
use tower::Service;

pub type Request = http::Request<String>;
pub type Response = http::Response<String>;

/// Retry options with the exact schedule (no jitter): 1 s, 2 s, 4 s, ... capped at 30 s.
pub fn exact_config(max_attempts: u32) -> RetryConfig {
    RetryConfig {
        max_attempts,
        jitter: 0.0,
        ..RetryConfig::default()
    }
}

pub fn request(body: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/v1/messages")
        .header("x-api-key", "test-key")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .expect("a valid test request")
}

pub fn status(code: u16) -> Response {
    http::Response::builder()
        .status(code)
        .body(format!("status {code}"))
        .expect("a valid test response")
}

pub fn status_with_header(code: u16, name: &str, value: &str) -> Response {
    http::Response::builder()
        .status(code)
        .header(name, value)
        .body(format!("status {code}"))
        .expect("a valid test response")
}

/// Classifies plain HTTP statuses, `retry-after` in seconds and `x-should-retry`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusClassifier;

impl Classify<Response> for StatusClassifier {
    fn classify(&self, result: Result<&Response, &BoxError>) -> Outcome {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                return match rejection_of(error) {
                    Some(rejection) => Outcome::Rejected(rejection),
                    None => Outcome::Failure(Failure::new(FailureKind::Connection)),
                }
            }
        };
        let code = response.status().as_u16();
        if response.status().is_success() {
            return Outcome::Success;
        }
        let kind = match code {
            408 => FailureKind::Timeout,
            409 => FailureKind::Conflict,
            429 => FailureKind::RateLimited,
            503 | 529 => FailureKind::Overloaded,
            500..=599 => FailureKind::ServerError,
            400 | 413 | 422 => FailureKind::InvalidRequest,
            401 => FailureKind::Authentication,
            403 => FailureKind::Permission,
            404 => FailureKind::NotFound,
            _ => FailureKind::Other,
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        let mut failure = Failure::new(kind);
        failure.status = Some(code);
        failure.retry_after = header("retry-after")
            .and_then(|value| value.parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        failure.should_retry = header("x-should-retry").and_then(|value| match value {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        Outcome::Failure(failure)
    }
}

/// A request wrapper whose body cannot be replayed, like a one-shot stream.
#[derive(Debug)]
pub struct OneShot(pub Request);

impl ReplayRequest for OneShot {
    fn replay(&self) -> Option<Self> {
        None
    }
}

impl TenantScoped for OneShot {
    fn tenant(&self) -> Option<&TenantId> {
        self.0.tenant()
    }
}

/// Gives the scripted service access to the HTTP request inside a test request type.
pub trait AsHttp {
    fn as_http(&self) -> &Request;
}

impl AsHttp for Request {
    fn as_http(&self) -> &Request {
        self
    }
}

impl AsHttp for OneShot {
    fn as_http(&self) -> &Request {
        &self.0
    }
}

/// What the scripted service received in one call.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body: String,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Result<Response, BoxError>>,
    received: Vec<Received>,
}

/// An inner service that returns scripted results and records every call.
///
/// Once the script is empty it returns 200 responses. Like tower's own services it panics when
/// `call` is made on an instance that was not readied first, and each clone starts not
/// ready, so a test fails if the retry layer calls a clone it did not ready.
#[derive(Clone)]
pub struct Scripted {
    shared: Arc<Mutex<Shared>>,
    ready: bool,
}

impl Scripted {
    pub fn new(script: impl IntoIterator<Item = Result<Response, BoxError>>) -> Self {
        let shared = Shared {
            script: script.into_iter().collect(),
            received: Vec::new(),
        };
        Self {
            shared: Arc::new(Mutex::new(shared)),
            ready: false,
        }
    }

    /// Creates a service whose script contains responses only.
    pub fn responses(responses: impl IntoIterator<Item = Response>) -> Self {
        Self::new(responses.into_iter().map(Ok))
    }

    /// Appends results to the script shared by all clones.
    pub fn push(&self, results: impl IntoIterator<Item = Result<Response, BoxError>>) {
        self.shared.lock().unwrap().script.extend(results);
    }

    pub fn calls(&self) -> usize {
        self.shared.lock().unwrap().received.len()
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// Returns the gaps between consecutive calls.
    pub fn gaps(&self) -> Vec<Duration> {
        let received = self.received();
        received
            .windows(2)
            .map(|pair| pair[1].at - pair[0].at)
            .collect()
    }
}

impl<R: AsHttp> Service<R> for Scripted {
    type Response = Response;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        assert!(
            self.ready,
            "Scripted called without poll_ready: a clone must be readied before it is called"
        );
        self.ready = false;

        let request = request.as_http();
        let mut shared = self.shared.lock().unwrap();
        shared.received.push(Received {
            at: Instant::now(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
            body: request.body().clone(),
        });
        let result = shared.script.pop_front().unwrap_or_else(|| Ok(status(200)));
        std::future::ready(result)
    }
}

/// Readies `service` with `ready().await`, then calls it, as a caller of a tower service does.
pub async fn ready_and_call<S>(service: &mut S, request: Request) -> Result<S::Response, S::Error>
where
    S: Service<Request>,
{
    tower::ServiceExt::<Request>::ready(service)
        .await?
        .call(request)
        .await
}
