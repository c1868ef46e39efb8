//! Outcome classification: what a call's result means for resilience decisions.
//!
//! A [`Classify`] implementation looks at a response or an error once and returns what happened.
//! Each layer then maps the [`Outcome`] to its own decision (retry, count against a breaker,
//! fall back), so the wire format is parsed in one place and the policies stay format-free.

use std::time::Duration;

use crate::BoxError;

/// The meaning of a finished call for the resilience layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider served the call.
    Success,
    /// The provider, or the way to it, failed.
    Failure(Failure),
    /// Agentix rejected the call locally; the provider was not called.
    Rejected(Rejection),
}

/// A rejection made by an Agentix layer rather than by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// A circuit breaker was open ([`crate::CircuitOpen`]).
    CircuitOpen,
    /// A token budget was spent ([`crate::BudgetExceeded`]).
    BudgetExceeded,
}

/// The kind of a provider failure, independent of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// 429, or a rate-limit error type.
    RateLimited,
    /// The provider is overloaded: Anthropic's 529 `overloaded_error`, or a 503.
    Overloaded,
    /// Any other 5xx, or an `api_error`.
    ServerError,
    /// The request or the connection timed out (408 included).
    Timeout,
    /// The connection failed or was reset before a complete response arrived.
    Connection,
    /// 409: a conflicting request, which providers ask clients to retry.
    Conflict,
    /// The prompt plus `max_tokens` does not fit the model's context window.
    ContextLengthExceeded,
    /// 400, 413, 422: the request itself is invalid.
    InvalidRequest,
    /// 401: the API key is missing or invalid.
    Authentication,
    /// 403: the key may not use this resource.
    Permission,
    /// 404: unknown model or endpoint.
    NotFound,
    /// The provider refused the content.
    ContentPolicy,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// Returns whether a call that failed this way is worth sending again unchanged.
    ///
    /// Transient kinds are: rate limited, overloaded, server error, timeout, connection and
    /// conflict. A server's `x-should-retry` hint overrides this; see [`Failure::is_retryable`].
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Overloaded
                | Self::ServerError
                | Self::Timeout
                | Self::Connection
                | Self::Conflict
        )
    }
}

/// A classified provider failure with the server's hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// The HTTP status, when the provider sent a response.
    pub status: Option<u16>,
    /// The server's delay hint (`retry-after-ms`, `retry-after`, rate-limit reset headers).
    pub retry_after: Option<Duration>,
    /// The server's `x-should-retry` header, when present.
    pub should_retry: Option<bool>,
}

impl Failure {
    /// Creates a failure of `kind` without status or hints.
    pub fn new(kind: FailureKind) -> Self {
        Self {
            kind,
            status: None,
            retry_after: None,
            should_retry: None,
        }
    }

    /// Returns whether the call may be retried: the server's `x-should-retry` when present,
    /// else [`FailureKind::is_transient`].
    pub fn is_retryable(&self) -> bool {
        self.should_retry
            .unwrap_or_else(|| self.kind.is_transient())
    }
}

/// Classifies the result of a call into an [`Outcome`].
///
/// Implementations must call [`crate::rejection_of`] on errors first, so that local
/// rejections are never mistaken for provider failures.
pub trait Classify<Res> {
    /// Classifies one result.
    fn classify(&self, result: Result<&Res, &BoxError>) -> Outcome;
}

impl<Res, C: Classify<Res> + ?Sized> Classify<Res> for std::sync::Arc<C> {
    fn classify(&self, result: Result<&Res, &BoxError>) -> Outcome {
        (**self).classify(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_retry_hint_overrides_kind() {
        let mut failure = Failure::new(FailureKind::InvalidRequest);
        assert!(!failure.is_retryable());
        failure.should_retry = Some(true);
        assert!(failure.is_retryable());

        let mut failure = Failure::new(FailureKind::Overloaded);
        assert!(failure.is_retryable());
        failure.should_retry = Some(false);
        assert!(!failure.is_retryable());
    }

    #[test]
    fn client_errors_are_not_transient() {
        for kind in [
            FailureKind::InvalidRequest,
            FailureKind::Authentication,
            FailureKind::Permission,
            FailureKind::NotFound,
            FailureKind::ContextLengthExceeded,
            FailureKind::ContentPolicy,
        ] {
            assert!(!kind.is_transient(), "{kind:?}");
        }
    }
}
