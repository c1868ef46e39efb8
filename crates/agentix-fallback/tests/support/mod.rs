//! A tiny provider and router over `http::Request<String>` for the fallback tests.
//!
//! Request bodies are JSON-ish, `{"model":"NAME","prompt":"..."}`; the router finds the model
//! by plain string search. The provider replies to each model with a scripted reply and stores
//! every request it receives.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::{self, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use agentix_core::{
    rejection_of, BoxError, BudgetExceeded, CircuitOpen, Classify, Failure, FailureKind,
    FallbackOptOut, Outcome, RecordServedBy, ReplayRequest, RouteModel, ServedBy,
};
use tower::Service;

pub type Request = http::Request<String>;
pub type Response = http::Response<String>;

/// Builds a request for `model` with a header and a JSON-ish body.
pub fn request(model: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/v1/messages")
        .header("x-api-key", "test-key")
        .body(format!(r#"{{"model":"{model}","prompt":"hello"}}"#))
        .unwrap()
}

/// Returns the model a JSON-ish body names, if any.
pub fn model_of(body: &str) -> Option<&str> {
    let start = body.find(r#""model":""#)? + r#""model":""#.len();
    let end = start + body[start..].find('"')?;
    Some(&body[start..end])
}

/// Classifies by status and sets the model in the body; counts how often it reads a model.
#[derive(Clone, Default)]
pub struct Router {
    pub model_reads: Arc<AtomicUsize>,
}

impl Router {
    pub fn model_reads(&self) -> usize {
        self.model_reads.load(Ordering::SeqCst)
    }
}

impl Classify<Response> for Router {
    fn classify(&self, result: Result<&Response, &BoxError>) -> Outcome {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                if let Some(rejection) = rejection_of(error) {
                    return Outcome::Rejected(rejection);
                }
                return Outcome::Failure(Failure::new(FailureKind::Connection));
            }
        };
        let status = response.status().as_u16();
        let kind = match status {
            200..=299 => return Outcome::Success,
            400 if response.body().contains("context") => FailureKind::ContextLengthExceeded,
            400 | 413 | 422 => FailureKind::InvalidRequest,
            401 => FailureKind::Authentication,
            403 => FailureKind::Permission,
            404 => FailureKind::NotFound,
            408 => FailureKind::Timeout,
            409 => FailureKind::Conflict,
            429 => FailureKind::RateLimited,
            503 | 529 => FailureKind::Overloaded,
            500..=599 => FailureKind::ServerError,
            _ => FailureKind::Other,
        };
        let should_retry = response
            .headers()
            .get("x-should-retry")
            .map(|value| value == "true");
        Outcome::Failure(Failure {
            kind,
            status: Some(status),
            retry_after: None,
            should_retry,
        })
    }
}

impl RouteModel<Request> for Router {
    fn model(&self, request: &Request) -> Option<String> {
        self.model_reads.fetch_add(1, Ordering::SeqCst);
        model_of(request.body()).map(str::to_owned)
    }

    fn set_model(&self, request: &mut Request, model: &str) -> Result<(), BoxError> {
        let old = model_of(request.body())
            .ok_or("request body names no model")?
            .to_owned();
        let body = request.body().replace(
            &format!(r#""model":"{old}""#),
            &format!(r#""model":"{model}""#),
        );
        *request.body_mut() = body;
        Ok(())
    }
}

/// A scripted reply of the provider.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    StatusWithBody(u16, &'static str),
    StatusWithHeader(u16, &'static str, &'static str),
    CircuitOpen,
    BudgetExceeded,
    Connection(&'static str),
}

impl Reply {
    pub fn into_result(self, model: &str) -> Result<Response, BoxError> {
        let response = |status: u16, body: String| {
            http::Response::builder().status(status).body(body).unwrap()
        };
        match self {
            Reply::Status(status) => Ok(response(status, format!("answer from {model}"))),
            Reply::StatusWithBody(status, body) => Ok(response(status, body.to_owned())),
            Reply::StatusWithHeader(status, name, value) => {
                let mut reply = response(status, format!("answer from {model}"));
                reply.headers_mut().insert(name, value.parse().unwrap());
                Ok(reply)
            }
            Reply::CircuitOpen => Err(Box::new(CircuitOpen {
                key: "default:test".into(),
                retry_after: std::time::Duration::from_secs(30),
            })),
            Reply::BudgetExceeded => Err(Box::new(BudgetExceeded {
                scope: "client".into(),
                used: 100,
                limit: 100,
            })),
            Reply::Connection(message) => Err(format!("{message} ({model})").into()),
        }
    }
}

/// A provider that replies to each model with its scripted reply (200 when unscripted) and
/// stores the requests it receives. Clones share the script and the record.
#[derive(Clone, Default)]
pub struct Provider {
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    received: Arc<Mutex<Vec<Request>>>,
}

impl Provider {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn reply(self, model: &str, reply: Reply) -> Self {
        self.replies.lock().unwrap().insert(model.to_owned(), reply);
        self
    }

    /// Returns the models of the received requests, in order.
    pub fn models(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|request| model_of(request.body()).unwrap_or("").to_owned())
            .collect()
    }

    pub fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn answer(&self, request: Request) -> Result<Response, BoxError> {
        let model = model_of(request.body()).unwrap_or("").to_owned();
        self.received.lock().unwrap().push(request);
        let reply = self.replies.lock().unwrap().get(&model).cloned();
        reply.unwrap_or(Reply::Status(200)).into_result(&model)
    }
}

impl Service<Request> for Provider {
    type Response = Response;
    type Error = BoxError;
    type Future = Ready<Result<Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        future::ready(self.answer(request))
    }
}

/// Returns the `ServedBy` a response records.
pub fn served_by(response: &Response) -> Option<ServedBy> {
    response.extensions().get::<ServedBy>().cloned()
}

/// A request whose body can be copied a limited number of times, like a stream that is
/// buffered only up to a size. Copies share the count of copies left.
#[derive(Debug, Clone)]
pub struct OneShot {
    pub model: String,
    pub copies_left: Arc<AtomicUsize>,
}

impl OneShot {
    pub fn new(model: &str, copies: usize) -> Self {
        Self {
            model: model.to_owned(),
            copies_left: Arc::new(AtomicUsize::new(copies)),
        }
    }
}

impl ReplayRequest for OneShot {
    fn replay(&self) -> Option<Self> {
        let take_one = |left: usize| left.checked_sub(1);
        self.copies_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take_one)
            .ok()
            .map(|_| self.clone())
    }
}

impl FallbackOptOut for OneShot {
    fn fallback_disabled(&self) -> bool {
        false
    }
}

impl RouteModel<OneShot> for Router {
    fn model(&self, request: &OneShot) -> Option<String> {
        self.model_reads.fetch_add(1, Ordering::SeqCst);
        Some(request.model.clone())
    }

    fn set_model(&self, request: &mut OneShot, model: &str) -> Result<(), BoxError> {
        request.model = model.to_owned();
        Ok(())
    }
}

/// A plain response type for `OneShot` calls.
#[derive(Debug, Default)]
pub struct PlainResponse {
    pub status: u16,
    pub served_by: Option<ServedBy>,
}

impl RecordServedBy for PlainResponse {
    fn record_served_by(&mut self, served: ServedBy) {
        self.served_by = Some(served);
    }
}

impl Classify<PlainResponse> for Router {
    fn classify(&self, result: Result<&PlainResponse, &BoxError>) -> Outcome {
        match result {
            Ok(reply) if reply.status < 400 => Outcome::Success,
            Ok(reply) => Outcome::Failure(Failure {
                status: Some(reply.status),
                ..Failure::new(FailureKind::Overloaded)
            }),
            Err(_) => Outcome::Failure(Failure::new(FailureKind::Connection)),
        }
    }
}
