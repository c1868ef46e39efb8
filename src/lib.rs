//! Resilience middleware for LLM API calls: retry, circuit breaker, fallback model routing
//! and a token budget, as independent `tower` layers.
//!
//! [`AgentixClient`] stacks the four layers in their documented order around an HTTP client
//! for the Anthropic Messages and OpenAI Chat Completions APIs, configured by
//! [`AgentixAgentOptions`] with the names and defaults of the Python Agentix API. Each layer
//! is also usable alone, from its own crate re-exported here, around any `tower::Service`.
//!
//! # Layer order
//!
//! ```text
//! TokenBudget -> Fallback -> Retry -> CircuitBreaker -> provider client
//! ```
//!
//! - The budget is checked and reserved once per logical call and settled from the usage the
//!   final response reports.
//! - Fallback sits outside retry: a fallback model is used only after the primary has failed
//!   all its retries, or at once when the primary's circuit is open.
//! - Retry sits outside the breaker, so the breaker admits and records every attempt, and a
//!   circuit that opens in the middle of a retry sequence stops it.

mod client;
mod error;
mod options;
mod tenant;

pub use agentix_core as core;
pub use agentix_core::{BudgetExceeded, CircuitOpen, FailureKind, ServedBy, TenantId, Usage};
pub use agentix_http as http;
pub use agentix_http::{HttpClient, LlmAdapter, LlmBody, Provider};

pub use client::{AgentixClient, AgentixClientBuilder, ResponseFuture, DEFAULT_TENANT};
pub use error::{AgentixError, ResilienceError};
pub use options::{AgentixAgentOptions, OptionsError};
pub use tenant::{SetTenant, SetTenantLayer};

/// The layers, for stacking by hand with `tower::ServiceBuilder`.
pub mod layers {
    pub use agentix_budget as budget;
    pub use agentix_circuit_breaker as circuit_breaker;
    pub use agentix_fallback as fallback;
    pub use agentix_retry as retry;
}

/// Circuit-breaker backends, named as in the Python API's `agentix.resilience`.
pub mod resilience {
    pub use agentix_circuit_breaker::{
        BlockingCircuitBreaker, BreakerBackend, InMemoryCircuitBreakerBackend,
    };
    #[cfg(feature = "redis")]
    pub use agentix_redis::{
        AsyncRedisCircuitBreakerBackend, RedisBackendError, RedisBackendOptions,
        RedisCircuitBreakerBackend, RedisFailurePolicy,
    };

    pub use crate::error::ResilienceError as AgentixResilienceError;
}

/// Compiles the README's examples as doc tests, so the guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
