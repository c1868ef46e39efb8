//! `AgentixError`: everything a caller of an [`crate::AgentixClient`] can get back.

use std::time::Duration;

use agentix_core::{BoxError, BudgetExceeded, CircuitOpen, FailureKind};

/// A call that did not produce a successful response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentixError {
    /// Agentix stopped the call itself; the counterpart of Python's `AgentixResilienceError`.
    #[error(transparent)]
    Resilience(#[from] ResilienceError),
    /// The provider returned an error status after every retry and fallback.
    #[error("{provider} returned {status} ({kind:?}) from model `{model}`: {message}")]
    Api {
        /// The provider name from the options.
        provider: String,
        /// The model that returned the error.
        model: String,
        /// The HTTP status.
        status: u16,
        /// The classified kind.
        kind: FailureKind,
        /// The provider's error message, or the start of a non-JSON body.
        message: String,
        /// The provider's delay hint, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The provider could not be reached or did not respond in time.
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),
    /// The options are invalid.
    #[error(transparent)]
    InvalidOptions(#[from] crate::OptionsError),
    /// The request could not be built or rewritten (not JSON, say).
    #[error("invalid request: {0}")]
    InvalidRequest(#[source] BoxError),
}

/// A call stopped by an Agentix layer before it reached the provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResilienceError {
    /// The circuit for this tenant and provider is open.
    #[error(transparent)]
    CircuitOpen(#[from] CircuitOpen),
    /// The token budget is spent.
    #[error(transparent)]
    BudgetExceeded(#[from] BudgetExceeded),
    /// The breaker's state backend failed and the breaker is set to fail closed.
    #[error(transparent)]
    BackendUnavailable(BoxError),
}

impl AgentixError {
    /// Returns whether Agentix stopped the call itself (circuit open, budget spent, breaker
    /// backend down with fail-closed), as Python's `AgentixResilienceError` does.
    pub fn is_resilience(&self) -> bool {
        matches!(self, Self::Resilience(_))
    }

    /// Converts a layer's boxed error by downcasting to the types the layers raise.
    pub fn from_layer_error(error: BoxError) -> Self {
        let error = match error.downcast::<CircuitOpen>() {
            Ok(open) => return ResilienceError::CircuitOpen(*open).into(),
            Err(other) => other,
        };
        let error = match error.downcast::<BudgetExceeded>() {
            Ok(spent) => return ResilienceError::BudgetExceeded(*spent).into(),
            Err(other) => other,
        };
        if error.is::<agentix_circuit_breaker::BackendUnavailable>() {
            return ResilienceError::BackendUnavailable(error).into();
        }
        if error.is::<agentix_fallback::SetModelError>() {
            return Self::InvalidRequest(error);
        }
        Self::Transport(error)
    }
}
