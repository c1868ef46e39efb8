//! A tiny meter and inner service over `http::Request<String>` / `http::Response<String>`.
//!
//! A request body reads `"{estimate} {reply}"`, where `estimate` is a number or `-` for a
//! request without a bound, and `reply` selects the inner service's response:
//!
//! - a number `n`: 200 with usage `n`;
//! - `none`: 200 without usage;
//! - `status:{code}`: that status without usage;
//! - `status:{code}:{n}`: that status with usage `n`;
//! - `error`: an inner error;
//! - `wait:{n}`: wait for the gate, then 200 with usage `n`.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix_core::{BoxError, MeterUsage, TenantId, Usage};
use tokio::sync::Semaphore;

pub type Request = http::Request<String>;
pub type Response = http::Response<String>;

/// Reads the estimate from the request body and the usage from the response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestMeter;

impl MeterUsage<Request, Response> for TestMeter {
    fn estimate(&self, request: &Request) -> Option<u64> {
        let estimate = request.body().split(' ').next().expect("a body");
        if estimate == "-" {
            None
        } else {
            Some(estimate.parse().expect("a numeric estimate"))
        }
    }

    fn usage(&self, response: &Response) -> Option<Usage> {
        let total: u64 = response.body().strip_prefix("usage=")?.parse().ok()?;
        // Spread the total over every kind, so the layer must sum them all.
        let quarter = total / 4;
        Some(Usage {
            input_tokens: total - 3 * quarter,
            output_tokens: quarter,
            cache_creation_input_tokens: quarter,
            cache_read_input_tokens: quarter,
        })
    }
}

/// Builds a request that estimates `estimate` tokens and requests `reply`.
pub fn request(estimate: Option<u64>, reply: &str) -> Request {
    let estimate = estimate.map_or_else(|| "-".to_owned(), |value| value.to_string());
    http::Request::new(format!("{estimate} {reply}"))
}

/// Builds a request like [`request`] for `tenant`.
pub fn tenant_request(tenant: &str, estimate: Option<u64>, reply: &str) -> Request {
    let mut request = request(estimate, reply);
    request.extensions_mut().insert(TenantId::new(tenant));
    request
}

/// The inner service, which responds as the request body selects and counts its calls.
#[derive(Debug, Clone)]
pub struct Provider {
    calls: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl Default for Provider {
    fn default() -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            gate: Arc::new(Semaphore::new(0)),
        }
    }
}

impl Provider {
    /// Returns how many calls reached this provider and its clones.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lets every waiting and future `wait:` reply through.
    pub fn open_gate(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }
}

#[derive(Debug)]
pub struct ProviderError;

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}

impl std::error::Error for ProviderError {}

fn respond(status: u16, usage: Option<u64>) -> Response {
    let body = usage.map_or_else(String::new, |usage| format!("usage={usage}"));
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).expect("a valid status");
    response
}

impl tower::Service<Request> for Provider {
    type Response = Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let reply = request
            .body()
            .split(' ')
            .nth(1)
            .expect("a reply")
            .to_owned();
        let gate = Arc::clone(&self.gate);
        Box::pin(async move {
            let parts: Vec<&str> = reply.split(':').collect();
            match parts.as_slice() {
                ["none"] => Ok(respond(200, None)),
                ["error"] => Err(Box::new(ProviderError) as BoxError),
                ["status", code] => Ok(respond(code.parse().unwrap(), None)),
                ["status", code, usage] => {
                    Ok(respond(code.parse().unwrap(), Some(usage.parse().unwrap())))
                }
                ["wait", usage] => {
                    let _permit = gate.acquire().await.expect("the gate is never closed");
                    Ok(respond(200, Some(usage.parse().unwrap())))
                }
                [usage] => Ok(respond(200, Some(usage.parse().unwrap()))),
                _ => panic!("unknown reply `{reply}`"),
            }
        })
    }
}

/// Returns the `BudgetExceeded` inside `error`, or panics naming the error.
pub fn budget_exceeded(error: &BoxError) -> &agentix_core::BudgetExceeded {
    error
        .downcast_ref::<agentix_core::BudgetExceeded>()
        .unwrap_or_else(|| panic!("expected BudgetExceeded, got `{error}`"))
}

/// Returns a 200 response with usage 1 at once; the inner service of readiness tests.
pub fn ready_ok(_request: Request) -> std::future::Ready<Result<Response, Infallible>> {
    std::future::ready(Ok(respond(200, Some(1))))
}
