//! A circuit breaker for synchronous code that runs without an async runtime.

use std::fmt;
use std::sync::Arc;

use agentix_core::{BoxError, TenantId};

use crate::backend::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerReply, CallResult, CircuitSnapshot, Permit,
};
use crate::config::BreakerConfig;
use crate::error::{AdmitError, ConfigError};
use crate::shared::Shared;

/// Applies a [`BreakerConfig`] to synchronous calls, through a [`BlockingBackend`].
///
/// It follows the same policy as [`crate::CircuitBreakerLayer`], and shares breakers with
/// it when both use one backend. Outcomes are reported explicitly on the
/// [`BlockingPermit`], or by [`BlockingCircuitBreaker::call`].
///
/// # Examples
///
/// ```
/// use agentix_circuit_breaker::{BlockingCircuitBreaker, BreakerConfig, InMemoryCircuitBreakerBackend};
///
/// let breaker = BlockingCircuitBreaker::new(
///     BreakerConfig::new("anthropic"),
///     InMemoryCircuitBreakerBackend::new(),
/// );
/// let permit = breaker.admit(None).expect("a new circuit is closed");
/// let status = 200; // send the request here
/// if status >= 500 {
///     permit.failure();
/// } else {
///     permit.success();
/// }
/// ```
pub struct BlockingCircuitBreaker<B> {
    backend: B,
    shared: Arc<Shared>,
}

/// Proof that [`BlockingCircuitBreaker::admit`] let a call through; report its outcome once.
///
/// Dropping a permit without reporting releases it: a probe's permit is freed for the
/// next caller, and an ordinary call records nothing.
#[must_use = "report the outcome with success(), failure() or release()"]
pub struct BlockingPermit<'a, B: BlockingBackend> {
    breaker: &'a BlockingCircuitBreaker<B>,
    key: BreakerKey,
    /// `None` when the breaker is disabled, or the backend failed and the call is unguarded.
    permit: Option<Permit>,
}

/// Why [`BlockingCircuitBreaker::call`] returned no value.
#[derive(Debug)]
pub enum BlockingCallError<E> {
    /// The breaker did not admit the call, so the closure did not run.
    Rejected(AdmitError),
    /// The closure ran and returned this error.
    Call(E),
}

impl<B: BlockingBackend> BlockingCircuitBreaker<B> {
    /// Creates a breaker that keeps its state in `backend`.
    ///
    /// # Panics
    ///
    /// Panics when [`BreakerConfig::validate`] rejects `config`; see [`Self::try_new`].
    pub fn new(config: BreakerConfig, backend: B) -> Self {
        match Self::try_new(config, backend) {
            Ok(breaker) => breaker,
            Err(error) => panic!("{error}"),
        }
    }

    /// Creates a breaker that keeps its state in `backend`.
    ///
    /// # Errors
    ///
    /// Returns the [`ConfigError`] of [`BreakerConfig::validate`].
    pub fn try_new(config: BreakerConfig, backend: B) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            backend,
            shared: Arc::new(Shared::new(config)),
        })
    }

    /// Returns the breaker's config.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// Asks whether a call for `tenant` (the config's tenant when `None`) may proceed.
    ///
    /// # Errors
    ///
    /// Returns [`AdmitError::CircuitOpen`] while the circuit is open or a probe runs, and
    /// [`AdmitError::BackendUnavailable`] when the backend fails and the policy is
    /// fail-closed. Under the default fail-open policy a failing backend admits the call
    /// with a permit that records nothing.
    pub fn admit(&self, tenant: Option<&TenantId>) -> Result<BlockingPermit<'_, B>, AdmitError> {
        let key = self.shared.key_for(tenant);
        if self.shared.is_disabled() {
            return Ok(self.permit(key, None));
        }

        let command = BreakerCommand::Admit {
            key: key.clone(),
            policy: self.shared.config.policy,
        };
        let error = match self.backend.execute(command) {
            Ok(BreakerReply::Admitted(permit)) => {
                self.shared.backend_answered(&key);
                return Ok(self.permit(key, Some(permit)));
            }
            Ok(BreakerReply::Rejected { retry_after }) => {
                self.shared.backend_answered(&key);
                return Err(AdmitError::CircuitOpen(
                    self.shared.rejection(&key, retry_after),
                ));
            }
            Ok(other) => format!("circuit breaker backend replied {other:?} to an admit").into(),
            Err(error) => error,
        };
        match self.shared.admit_failed(&key, error) {
            Some(error) => Err(AdmitError::BackendUnavailable(error)),
            None => Ok(self.permit(key, None)),
        }
    }

    /// Runs `call` if the breaker admits it, and records its outcome.
    ///
    /// `Ok` records a success. An error records a failure when `is_failure` returns true,
    /// and a success otherwise, because an error such as an invalid request still shows that
    /// the provider responded. A panic in `call` releases the permit.
    ///
    /// # Errors
    ///
    /// Returns [`BlockingCallError::Rejected`] without running `call` when the breaker does
    /// not admit it, and [`BlockingCallError::Call`] with the closure's own error.
    pub fn call<T, E>(
        &self,
        tenant: Option<&TenantId>,
        call: impl FnOnce() -> Result<T, E>,
        is_failure: impl FnOnce(&E) -> bool,
    ) -> Result<T, BlockingCallError<E>> {
        let permit = self.admit(tenant).map_err(BlockingCallError::Rejected)?;
        match call() {
            Ok(value) => {
                permit.success();
                Ok(value)
            }
            Err(error) => {
                if is_failure(&error) {
                    permit.failure();
                } else {
                    permit.success();
                }
                Err(BlockingCallError::Call(error))
            }
        }
    }

    /// Returns the state of the breaker for `tenant` (the config's tenant when `None`).
    ///
    /// # Errors
    ///
    /// Fails when the backend fails or replies with something other than a state.
    pub fn state(&self, tenant: Option<&TenantId>) -> Result<CircuitSnapshot, BoxError> {
        let command = BreakerCommand::Inspect {
            key: self.shared.key_for(tenant),
            policy: self.shared.config.policy,
        };
        match self.backend.execute(command)? {
            BreakerReply::State(snapshot) => Ok(snapshot),
            other => Err(format!("circuit breaker backend replied {other:?} to an inspect").into()),
        }
    }

    fn permit(&self, key: BreakerKey, permit: Option<Permit>) -> BlockingPermit<'_, B> {
        BlockingPermit {
            breaker: self,
            key,
            permit,
        }
    }
}

impl<B: BlockingBackend> BlockingPermit<'_, B> {
    /// Records that the provider served the call.
    pub fn success(mut self) {
        self.settle(CallResult::Success);
    }

    /// Records that the provider failed in a way the breaker counts.
    pub fn failure(mut self) {
        self.settle(CallResult::Failure);
    }

    /// Records nothing about the provider; a probe's permit is freed for the next caller.
    pub fn release(mut self) {
        self.settle(CallResult::Released);
    }

    /// Returns whether this call is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.permit.is_some_and(|permit| permit.probe)
    }

    /// Returns the key the call was admitted under.
    pub fn key(&self) -> &BreakerKey {
        &self.key
    }

    fn settle(&mut self, result: CallResult) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // Releasing an ordinary call changes nothing, so no command is sent for it.
        if result == CallResult::Released && !permit.probe {
            return;
        }
        let shared = &self.breaker.shared;
        let command = BreakerCommand::Record {
            key: self.key.clone(),
            policy: shared.config.policy,
            permit,
            result,
        };
        match self.breaker.backend.execute(command) {
            Ok(_) => shared.backend_answered(&self.key),
            Err(error) => shared.record_failed(&self.key, &error),
        }
    }
}

impl<B: BlockingBackend> Drop for BlockingPermit<'_, B> {
    fn drop(&mut self) {
        self.settle(CallResult::Released);
    }
}

impl<B: BlockingBackend> fmt::Debug for BlockingPermit<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPermit")
            .field("key", &self.key)
            .field("permit", &self.permit)
            .finish()
    }
}

impl<B: fmt::Debug> fmt::Debug for BlockingCircuitBreaker<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingCircuitBreaker")
            .field("backend", &self.backend)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for BlockingCallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(error) => error.fmt(f),
            Self::Call(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BlockingCallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(error) => Some(error),
            Self::Call(error) => Some(error),
        }
    }
}
