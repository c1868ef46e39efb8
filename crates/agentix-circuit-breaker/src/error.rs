//! Errors the circuit breaker raises itself.
//!
//! A rejected call fails with [`agentix_core::CircuitOpen`], shared by every layer so that
//! retry and fallback recognise it. The errors here cover a failing backend and invalid
//! options.

use std::fmt;

use agentix_core::{BoxError, CircuitOpen};

/// A call failed because the breaker backend failed and the policy is
/// [`crate::BackendErrorPolicy::FailClosed`]; the provider was not called.
#[derive(Debug)]
pub struct BackendUnavailable {
    /// The breaker key, `"{tenant}:{provider}"`.
    pub key: String,
    /// The backend's error.
    pub source: BoxError,
}

impl fmt::Display for BackendUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit breaker backend failed for `{}`: {}; the provider was not called \
             (the breaker fails closed)",
            self.key, self.source
        )
    }
}

impl std::error::Error for BackendUnavailable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// An invalid [`crate::BreakerConfig`] field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    reason: &'static str,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }

    /// Returns the path of the invalid field, such as `"policy.probe_lease"`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid circuit breaker config: `{}` {}",
            self.field, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// Why [`crate::BlockingCircuitBreaker::admit`] did not admit a call.
#[derive(Debug)]
pub enum AdmitError {
    /// The circuit is open, or a probe is running.
    CircuitOpen(CircuitOpen),
    /// The backend failed and the policy is fail-closed.
    BackendUnavailable(BackendUnavailable),
}

impl fmt::Display for AdmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CircuitOpen(error) => error.fmt(f),
            Self::BackendUnavailable(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for AdmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::CircuitOpen(error) => Some(error),
            Self::BackendUnavailable(error) => Some(error),
        }
    }
}

impl AdmitError {
    /// Returns the inner error boxed, so callers downcast to `CircuitOpen` or
    /// `BackendUnavailable` as they do with the layer's errors.
    pub fn into_inner(self) -> BoxError {
        match self {
            Self::CircuitOpen(error) => Box::new(error),
            Self::BackendUnavailable(error) => Box::new(error),
        }
    }
}
