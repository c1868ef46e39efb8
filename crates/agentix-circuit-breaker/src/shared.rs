//! State shared by every service and blocking breaker built from one config.

use std::sync::atomic::{AtomicBool, Ordering};

use agentix_core::{BoxError, CircuitOpen, Outcome, TenantId};

use crate::backend::{BreakerKey, CallResult};
use crate::circuit::duration_ms;
use crate::config::{BackendErrorPolicy, BreakerConfig};
use crate::error::BackendUnavailable;

/// The validated config, the key of requests without a tenant, and the backend's health.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: BreakerConfig,
    /// Built once, so a call without a tenant clones two `Arc`s instead of formatting a key.
    default_key: BreakerKey,
    /// Set while the backend fails, so an outage logs one warning rather than one per call.
    backend_down: AtomicBool,
}

impl Shared {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        let default_key = BreakerKey::new(config.tenant.clone(), config.provider.clone());
        Self {
            config,
            default_key,
            backend_down: AtomicBool::new(false),
        }
    }

    /// Returns whether the breaker is disabled and calls pass through without commands.
    pub(crate) fn is_disabled(&self) -> bool {
        self.config.policy.failure_threshold == 0
    }

    /// Returns the key of a call for `tenant`, or for the config's tenant when it is `None`.
    pub(crate) fn key_for(&self, tenant: Option<&TenantId>) -> BreakerKey {
        match tenant {
            Some(tenant) => BreakerKey::new(tenant.clone(), self.config.provider.clone()),
            None => self.default_key.clone(),
        }
    }

    /// Builds the rejection of a call at an open circuit.
    pub(crate) fn rejection(
        &self,
        key: &BreakerKey,
        retry_after: std::time::Duration,
    ) -> CircuitOpen {
        tracing::debug!(
            key = %key,
            retry_after_ms = duration_ms(retry_after),
            "circuit breaker rejected a call: circuit open"
        );
        CircuitOpen {
            key: key.to_string(),
            retry_after,
        }
    }

    /// Handles a failed admit: `None` lets the call through unguarded (fail open), `Some`
    /// is the error to fail it with (fail closed).
    pub(crate) fn admit_failed(
        &self,
        key: &BreakerKey,
        error: BoxError,
    ) -> Option<BackendUnavailable> {
        let first = !self.backend_down.swap(true, Ordering::Relaxed);
        match self.config.on_backend_error {
            BackendErrorPolicy::FailOpen => {
                if first {
                    tracing::warn!(
                        key = %key,
                        error = %error,
                        "circuit breaker backend failed; calls go to the provider unguarded \
                         and unrecorded until it recovers"
                    );
                } else {
                    tracing::debug!(key = %key, error = %error, "circuit breaker backend still failing");
                }
                None
            }
            BackendErrorPolicy::FailClosed => {
                if first {
                    tracing::warn!(
                        key = %key,
                        error = %error,
                        "circuit breaker backend failed; calls are rejected until it recovers"
                    );
                } else {
                    tracing::debug!(key = %key, error = %error, "circuit breaker backend still failing");
                }
                Some(BackendUnavailable {
                    key: key.to_string(),
                    source: error,
                })
            }
        }
    }

    /// Logs a failed record; the call's result is returned anyway.
    pub(crate) fn record_failed(&self, key: &BreakerKey, error: &BoxError) {
        if !self.backend_down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                key = %key,
                error = %error,
                "circuit breaker backend failed to record an outcome; returning the result anyway"
            );
        } else {
            tracing::debug!(key = %key, error = %error, "circuit breaker backend still failing");
        }
    }

    /// Clears the outage flag after a backend reply, logging the recovery once.
    pub(crate) fn backend_answered(&self, key: &BreakerKey) {
        // The load keeps the hot path free of writes to the shared flag.
        if self.backend_down.load(Ordering::Relaxed)
            && self.backend_down.swap(false, Ordering::Relaxed)
        {
            tracing::info!(key = %key, "circuit breaker backend recovered");
        }
    }
}

/// Maps a classified outcome to what the breaker records.
///
/// Transient failures (rate limited, overloaded, server error, timeout, connection,
/// conflict) count against the provider. Other provider failures, such as an invalid
/// request, a bad API key, an unknown model or a refused prompt, show that the provider is
/// up and responding. They record a success, which resets the failure count and closes a
/// probing circuit. A local rejection from an inner layer says nothing about the provider
/// and releases the permit.
pub(crate) fn call_result_of(outcome: &Outcome) -> CallResult {
    match outcome {
        Outcome::Success => CallResult::Success,
        Outcome::Failure(failure) if failure.kind.is_transient() => CallResult::Failure,
        Outcome::Failure(_) => CallResult::Success,
        Outcome::Rejected(_) => CallResult::Released,
    }
}

#[cfg(test)]
mod tests {
    use agentix_core::{Failure, FailureKind, Rejection};

    use super::*;

    #[test]
    fn transient_failures_count() {
        for kind in [
            FailureKind::RateLimited,
            FailureKind::Overloaded,
            FailureKind::ServerError,
            FailureKind::Timeout,
            FailureKind::Connection,
            FailureKind::Conflict,
        ] {
            let outcome = Outcome::Failure(Failure::new(kind));
            assert_eq!(call_result_of(&outcome), CallResult::Failure, "{kind:?}");
        }
    }

    #[test]
    fn answered_failures_record_success() {
        for kind in [
            FailureKind::InvalidRequest,
            FailureKind::Authentication,
            FailureKind::Permission,
            FailureKind::NotFound,
            FailureKind::ContextLengthExceeded,
            FailureKind::ContentPolicy,
            FailureKind::Other,
        ] {
            let outcome = Outcome::Failure(Failure::new(kind));
            assert_eq!(call_result_of(&outcome), CallResult::Success, "{kind:?}");
        }
    }

    #[test]
    fn local_rejections_release() {
        for rejection in [Rejection::CircuitOpen, Rejection::BudgetExceeded] {
            let outcome = Outcome::Rejected(rejection);
            assert_eq!(call_result_of(&outcome), CallResult::Released);
        }
    }
}
