//! Circuit breaker for LLM API calls.
//!
//! [`CircuitBreakerLayer`] stops calls to a provider after a run of consecutive failures,
//! so a struggling provider gets time to recover and callers fail fast with
//! [`agentix_core::CircuitOpen`] instead of waiting on timeouts. After a cooldown, exactly one
//! probe call goes through: its success closes the circuit, its failure opens it again.
//!
//! Breakers are keyed by tenant and provider, `"{tenant}:{provider}"`, so one tenant's
//! failures never trip another's circuit.
//!
//! # Backends
//!
//! The state lives in a backend, itself a `tower::Service` of [`BreakerCommand`]s (see
//! [`backend`]), so tower middleware such as a timeout can wrap it.
//! [`InMemoryCircuitBreakerBackend`] keeps it in process memory, shared by the clones of
//! one client; the `agentix-redis` crate shares it across processes.
//!
//! # Synchronous code
//!
//! [`BlockingCircuitBreaker`] applies the same policy to closures on threads without an
//! async runtime, through a [`BlockingBackend`].

pub mod backend;
mod blocking;
mod circuit;
mod config;
mod error;
mod future;
mod layer;
mod memory;
mod service;
mod shared;

pub use backend::{
    BlockingBackend, BreakerBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply,
    CallResult, CircuitSnapshot, CircuitState, Permit,
};
pub use blocking::{BlockingCallError, BlockingCircuitBreaker, BlockingPermit};
pub use config::{BackendErrorPolicy, BreakerConfig};
pub use error::{AdmitError, BackendUnavailable, ConfigError};
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use memory::InMemoryCircuitBreakerBackend;
pub use service::CircuitBreaker;
