//! Configuration of a circuit breaker: its policy, its key and its backend-failure policy.

use std::sync::Arc;

use agentix_core::TenantId;

use crate::backend::BreakerPolicy;
use crate::error::ConfigError;

/// Options of [`crate::CircuitBreakerLayer`] and [`crate::BlockingCircuitBreaker`].
///
/// A call's breaker key is `"{tenant}:{provider}"`, where the tenant is the one the request
/// carries, or [`BreakerConfig::tenant`] when it carries none.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use agentix_circuit_breaker::{BackendErrorPolicy, BreakerConfig, BreakerPolicy};
///
/// let config = BreakerConfig {
///     policy: BreakerPolicy {
///         failure_threshold: 3,
///         cooldown: Duration::from_secs(30),
///         ..BreakerPolicy::default()
///     },
///     on_backend_error: BackendErrorPolicy::FailClosed,
///     ..BreakerConfig::new("openai")
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Threshold, cooldown and probe lease.
    pub policy: BreakerPolicy,
    /// The provider part of every key, such as `"anthropic"`.
    pub provider: Arc<str>,
    /// The tenant of requests that carry none; `"default"` unless set.
    pub tenant: TenantId,
    /// Policy for calls while the backend itself fails.
    pub on_backend_error: BackendErrorPolicy,
}

/// Policy for calls while the breaker backend fails (unreachable, timed out, corrupt data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BackendErrorPolicy {
    /// The call goes to the provider unguarded and its outcome is not recorded. A warning is
    /// logged once per outage, and the recovery once the backend responds again.
    #[default]
    FailOpen,
    /// The call fails with [`crate::BackendUnavailable`] and the provider is not called.
    FailClosed,
}

impl BreakerConfig {
    /// Tenant of requests that carry none, unless set otherwise.
    pub const DEFAULT_TENANT: &'static str = "default";

    /// Creates a config for `provider` with the default policy, tenant and backend-failure
    /// policy.
    pub fn new(provider: impl Into<Arc<str>>) -> Self {
        Self {
            policy: BreakerPolicy::default(),
            provider: provider.into(),
            tenant: TenantId::new(Self::DEFAULT_TENANT),
            on_backend_error: BackendErrorPolicy::default(),
        }
    }

    /// Checks the options, naming the first invalid field.
    ///
    /// A zero `cooldown` is valid: the circuit then lets one probe through at once after it
    /// opens, so calls go one at a time until one succeeds. A zero `failure_threshold` is
    /// valid and disables the breaker.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError`] when `provider` is empty, or `policy.probe_lease` is zero (a
    /// lease that expires at once would let every caller probe).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.provider.is_empty() {
            return Err(ConfigError::new(
                "provider",
                "must not be empty; it names the provider in every breaker key",
            ));
        }
        if self.policy.probe_lease.is_zero() {
            return Err(ConfigError::new(
                "policy.probe_lease",
                "must be greater than zero, or every caller after the cooldown would probe",
            ));
        }
        Ok(())
    }
}

impl Default for BreakerConfig {
    /// Returns the config for `"anthropic"`, the default provider of the Python API.
    fn default() -> Self {
        Self::new("anthropic")
    }
}
