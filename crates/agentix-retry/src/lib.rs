//! Retry middleware for LLM API calls: exponential backoff with jitter that honours server
//! delay hints.
//!
//! [`RetryLayer`] wraps a service in [`Retry`], which sends a call again when its result is a
//! transient failure: a rate limit (429), overload (503, Anthropic's 529), another 5xx, a
//! timeout, a dropped connection or a conflict (409). It never retries invalid requests,
//! authentication or permission errors, unknown models (400, 401, 403, 404, 413) or local
//! rejections such as an open circuit or a spent token budget.
//!
//! The request type must implement [`ReplayRequest`](agentix_core::ReplayRequest) and
//! [`TenantScoped`](agentix_core::TenantScoped), and the response type
//! [`RecordAttempts`](agentix_core::RecordAttempts); `http::Request` and `http::Response`
//! implement all three.
//!
//! # Decisions
//!
//! A classifier `C: Classify<Response>` from `agentix-core` reads each result once, and the
//! layer maps its [`Outcome`](agentix_core::Outcome) as follows:
//!
//! - `Success` and `Rejected` are returned at once.
//! - A `Failure` is retried when [`Failure::is_retryable`](agentix_core::Failure::is_retryable)
//!   returns true (the server's `x-should-retry` header overrides the kind) and attempts remain.
//! - A server delay hint (`retry-after`, `retry-after-ms`) longer than
//!   [`RetryConfig::max_delay`] ends the call at once, so an outer layer such as a fallback
//!   can move on instead of waiting. A shorter hint is waited in full: the delay is the
//!   longer of the hint and the backoff delay.
//! - With a [`RetryConfig::deadline`], measured from the call, a retry is scheduled only when
//!   its delay ends before the deadline. Otherwise the last result is returned at once.
//! - With a [`RetryConfig::budget`], a retry that passed every check above withdraws a token
//!   from the budget; when the budget is empty the last result is returned at once.
//!
//! The result of the last attempt is returned unchanged: a 503 response stays an `Ok`
//! response and an error stays the same error, boxed, so outer layers can classify it. The
//! only addition is the attempt count: a response returned after more than one attempt
//! records [`Attempts`](agentix_core::Attempts) through
//! [`RecordAttempts`](agentix_core::RecordAttempts), which `http::Response` implements by
//! inserting it into its extensions. A response without it took one attempt, so the
//! common case costs no insert.
//!
//! # Schedule
//!
//! With the defaults a call gets 3 attempts, with delays of 1 s and 2 s before the retries,
//! doubling up to a 30 s cap. [`Backoff`] documents the formula and the jitter, which only
//! shortens delays, by up to [`DEFAULT_JITTER`] of each by default.
//!
//! # Deadline
//!
//! [`RetryConfig::deadline`] (off by default) bounds when a retry may start, counted from
//! the call. By default an attempt already in flight when the deadline passes is not
//! cancelled, and its result is returned whatever it is, so a slow success is never thrown
//! away. With [`RetryConfig::cancel_at_deadline`] the deadline also cancels that attempt, or
//! the wait for the inner service to become ready, and the call fails with
//! [`DeadlineExceeded`], which names the deadline and the attempts sent.
//!
//! # Retry budget
//!
//! [`RetryConfig::budget`] (off by default) caps retries to a fraction of calls with a
//! token bucket shared by every service of the layer, or kept per tenant; the [`budget`
//! options](RetryBudgetConfig) explain the bucket and its defaults. It is off by default
//! because it makes the attempts a call gets depend on the traffic of the whole client,
//! which a single process or a test does not expect; a fleet that shares a provider should
//! turn it on. With the budget on, a call takes no lock and allocates nothing in the shared
//! scope; the per-tenant scope adds a read-locked map lookup.
//!
//! # Replaying requests
//!
//! Each attempt sends a copy made with
//! [`ReplayRequest::replay`](agentix_core::ReplayRequest::replay), made before the previous
//! attempt is sent. A request that cannot be replayed (`replay` returns `None`, as for a
//! one-shot body stream) is sent once, and the layer logs a warning when its failure would
//! have been retried.
//!
//! # Streams
//!
//! The layer decides on the response as the inner service returns it, so a streamed body is
//! retried only if the stream fails before a response is returned. A stream that breaks
//! later reaches the caller as a body error, never retried, because its first bytes may
//! already have been passed on. How early a failing stream is caught therefore depends on
//! the inner client: `agentix-http`'s client returns a streamed response only once its
//! first content event has arrived, so an error event or a dropped connection before any
//! content is retried like a failed non-streamed call.
//!
//! # Placement
//!
//! Put the layer outside a circuit breaker, so that the breaker admits and records every
//! attempt: a circuit that opens during a retry sequence rejects the next attempt with
//! `CircuitOpen`, and that rejection ends the sequence at once. Put it inside a fallback
//! layer, so that a fallback model is tried only after the primary has used all its
//! attempts or returned a delay hint above the cap.
//!
//! # Examples
//!
//! ```
//! use agentix_core::{BoxError, Classify, Failure, FailureKind, Outcome};
//! use agentix_retry::{RetryConfig, RetryLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! /// Treats 5xx responses and errors as retryable server failures.
//! #[derive(Clone)]
//! struct ServerErrors;
//!
//! impl Classify<http::Response<String>> for ServerErrors {
//!     fn classify(&self, result: Result<&http::Response<String>, &BoxError>) -> Outcome {
//!         match result {
//!             Ok(response) if !response.status().is_server_error() => Outcome::Success,
//!             _ => Outcome::Failure(Failure::new(FailureKind::ServerError)),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let client = service_fn(|request: http::Request<String>| async move {
//!     Ok::<_, BoxError>(http::Response::new(request.into_body()))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryConfig::default(), ServerErrors))
//!     .service(client);
//!
//! let response = service.oneshot(http::Request::new("hello".to_owned())).await?;
//! assert_eq!(response.body(), "hello");
//! # Ok(())
//! # }
//! ```
//!
//! # Logging
//!
//! Each retry logs a `WARN` event with the attempt number, the delay, the failure kind and
//! the status. Giving up after the last attempt, or on a request that cannot be replayed,
//! logs a `WARN` event. A delay hint above the cap, or a retry that would start after the
//! deadline, logs an `INFO` event, and a call cancelled at its deadline a `WARN` event. A
//! retry skipped because the budget is empty logs a `WARN` event with the budget key and the
//! count of skips at most once per budget period, and a `DEBUG` event otherwise. No event
//! carries a request or response body.

mod backoff;
mod budget;
mod config;
mod error;
mod future;
mod layer;
mod policy;
mod service;

pub use backoff::Backoff;
pub use budget::{BudgetScope, RetryBudgetConfig, MAX_RETRY_RATIO};
pub use config::{RetryConfig, DEFAULT_JITTER};
pub use error::{ConfigError, DeadlineExceeded};
pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use service::Retry;
