//! Shared fixtures: keys, a policy, a tiny HTTP classifier and test backends.
#![allow(dead_code)]

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use agentix_circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerConfig, BreakerKey, BreakerPolicy, BreakerReply,
    CallResult, CircuitSnapshot, InMemoryCircuitBreakerBackend,
};
use agentix_core::{
    rejection_of, BoxError, CircuitOpen, Classify, Failure, FailureKind, Outcome, TenantId,
};
use tower::Service;

pub const PROVIDER: &str = "anthropic";
pub const COOLDOWN: Duration = Duration::from_secs(60);
pub const LEASE: Duration = Duration::from_secs(90);

pub type Request = http::Request<String>;
pub type Response = http::Response<String>;

/// Returns the key of `tenant` calling the test provider.
pub fn key(tenant: &str) -> BreakerKey {
    BreakerKey::new(TenantId::new(tenant), PROVIDER)
}

/// Returns the test policy: 5 failures, [`COOLDOWN`], [`LEASE`].
pub fn policy() -> BreakerPolicy {
    BreakerPolicy {
        failure_threshold: 5,
        cooldown: COOLDOWN,
        probe_lease: LEASE,
    }
}

/// Returns a config for the test provider with the test policy and tenant "default".
pub fn config() -> BreakerConfig {
    BreakerConfig {
        policy: policy(),
        ..BreakerConfig::new(PROVIDER)
    }
}

/// Returns a request without a tenant.
pub fn request() -> Request {
    http::Request::new(String::from("{}"))
}

/// Returns a request scoped to `tenant`.
pub fn request_for(tenant: &str) -> Request {
    let mut request = request();
    request.extensions_mut().insert(TenantId::new(tenant));
    request
}

/// Returns a response with `status`.
pub fn response(status: u16) -> Response {
    http::Response::builder()
        .status(status)
        .body(String::new())
        .expect("a valid status")
}

/// Classifies by status code: 2xx succeeds, everything else fails with the matching kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatusClassifier;

impl Classify<Response> for StatusClassifier {
    fn classify(&self, result: Result<&Response, &BoxError>) -> Outcome {
        match result {
            Ok(response) if response.status().is_success() => Outcome::Success,
            Ok(response) => {
                let status = response.status().as_u16();
                let kind = match status {
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
                Outcome::Failure(Failure {
                    status: Some(status),
                    ..Failure::new(kind)
                })
            }
            Err(error) => match rejection_of(error) {
                Some(rejection) => Outcome::Rejected(rejection),
                None => Outcome::Failure(Failure::new(FailureKind::Connection)),
            },
        }
    }
}

/// A backend that fails admits or records on demand, and counts the commands it gets.
#[derive(Clone, Default)]
pub struct FlakyBackend {
    pub inner: InMemoryCircuitBreakerBackend,
    pub fail_admits: Arc<AtomicBool>,
    pub fail_records: Arc<AtomicBool>,
    pub admits: Arc<AtomicUsize>,
    pub records: Arc<AtomicUsize>,
    pub releases: Arc<AtomicUsize>,
}

impl FlakyBackend {
    pub fn set_down(&self, down: bool) {
        self.fail_admits.store(down, Ordering::SeqCst);
        self.fail_records.store(down, Ordering::SeqCst);
    }

    pub fn admits(&self) -> usize {
        self.admits.load(Ordering::SeqCst)
    }

    pub fn records(&self) -> usize {
        self.records.load(Ordering::SeqCst)
    }

    pub fn releases(&self) -> usize {
        self.releases.load(Ordering::SeqCst)
    }

    /// Returns the state of `key` under the test policy.
    pub fn snapshot(&self, key: &BreakerKey) -> CircuitSnapshot {
        snapshot(&self.inner, key)
    }
}

impl Service<BreakerCommand> for FlakyBackend {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = Ready<Result<BreakerReply, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        let failing = match &command {
            BreakerCommand::Admit { .. } => {
                self.admits.fetch_add(1, Ordering::SeqCst);
                &self.fail_admits
            }
            BreakerCommand::Record { result, .. } => {
                self.records.fetch_add(1, Ordering::SeqCst);
                if *result == CallResult::Released {
                    self.releases.fetch_add(1, Ordering::SeqCst);
                }
                &self.fail_records
            }
            BreakerCommand::Inspect { .. } => &self.fail_admits,
        };
        if failing.load(Ordering::SeqCst) {
            return ready(Err("breaker store unreachable".into()));
        }
        self.inner.call(command)
    }
}

/// A backend whose commands complete only after their future yields once to the runtime.
///
/// It stands for a networked store: a command applies when its future is first polled,
/// and that poll returns `Pending`.
#[derive(Clone, Default)]
pub struct SlowBackend {
    pub inner: InMemoryCircuitBreakerBackend,
}

impl Service<BreakerCommand> for SlowBackend {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<BreakerReply, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        let mut inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::yield_now().await;
            inner.call(command).await
        })
    }
}

/// Returns the state of `key` under the test policy.
pub fn snapshot(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey) -> CircuitSnapshot {
    match backend
        .execute(BreakerCommand::Inspect {
            key: key.clone(),
            policy: policy(),
        })
        .expect("the in-memory backend never fails")
    {
        BreakerReply::State(snapshot) => snapshot,
        other => panic!("expected a state, got {other:?}"),
    }
}

/// What [`Provider`] does with each call.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Responds with this status.
    Status(u16),
    /// Fails with the error this function builds.
    Error(fn() -> BoxError),
    /// Never completes.
    Hang,
}

/// A provider stand-in that counts its calls and follows the configured [`Behavior`].
#[derive(Clone)]
pub struct Provider {
    calls: Arc<AtomicUsize>,
    behavior: Arc<Mutex<Behavior>>,
}

impl Provider {
    pub fn new(behavior: Behavior) -> Self {
        Self {
            calls: Arc::default(),
            behavior: Arc::new(Mutex::new(behavior)),
        }
    }

    pub fn set(&self, behavior: Behavior) {
        *self.behavior.lock().unwrap() = behavior;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Request> for Provider {
    type Response = Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.behavior.lock().unwrap().clone() {
            Behavior::Status(status) => Box::pin(ready(Ok(response(status)))),
            Behavior::Error(build) => Box::pin(ready(Err(build()))),
            Behavior::Hang => Box::pin(std::future::pending()),
        }
    }
}

/// Returns the `CircuitOpen` inside `error`, or panics naming what it was.
pub fn circuit_open(error: BoxError) -> CircuitOpen {
    match error.downcast::<CircuitOpen>() {
        Ok(open) => *open,
        Err(other) => panic!("expected CircuitOpen, got {other}"),
    }
}
