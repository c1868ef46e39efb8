//! Circuit breaker for LLM API calls.

pub mod backend;

pub use backend::{
    BreakerBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    CircuitSnapshot, CircuitState, Permit,
};
