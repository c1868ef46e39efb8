//! Circuit breaker for LLM API calls.

pub mod backend;

pub use backend::{
    BlockingBackend, BreakerBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply,
    CallResult, CircuitSnapshot, CircuitState, Permit,
};
