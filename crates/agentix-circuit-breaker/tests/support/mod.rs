//! Shared fixtures: keys, a policy, a tiny HTTP classifier and test backends.
#![allow(dead_code)]

use std::future::{ready, Ready};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use agentix_circuit_breaker::{
    BreakerCommand, BreakerConfig, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    InMemoryCircuitBreakerBackend,
};
use agentix_core::{rejection_of, BoxError, Classify, Failure, FailureKind, Outcome, TenantId};
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

/// A backend that fails every command while `down` is set, and counts the commands.
#[derive(Clone, Default)]
pub struct FlakyBackend {
    pub inner: InMemoryCircuitBreakerBackend,
    pub down: Arc<AtomicBool>,
    pub admits: Arc<AtomicUsize>,
    pub records: Arc<AtomicUsize>,
    pub releases: Arc<AtomicUsize>,
}

impl FlakyBackend {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
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
}

impl Service<BreakerCommand> for FlakyBackend {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = Ready<Result<BreakerReply, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        match &command {
            BreakerCommand::Admit { .. } => {
                self.admits.fetch_add(1, Ordering::SeqCst);
            }
            BreakerCommand::Record { result, .. } => {
                self.records.fetch_add(1, Ordering::SeqCst);
                if *result == CallResult::Released {
                    self.releases.fetch_add(1, Ordering::SeqCst);
                }
            }
            BreakerCommand::Inspect { .. } => {}
        }
        if self.down.load(Ordering::SeqCst) {
            return ready(Err("breaker store unreachable".into()));
        }
        self.inner.call(command)
    }
}
