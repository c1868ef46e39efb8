//! The circuit breaker layer.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::config::BreakerConfig;
use crate::error::ConfigError;
use crate::service::CircuitBreaker;
use crate::shared::Shared;

/// Wraps services in a [`CircuitBreaker`].
///
/// Every service built from one layer shares the layer's backend, so calls through any of
/// them count against the same breakers, and a backend outage is logged once for all.
///
/// # Examples
///
/// ```
/// use agentix_circuit_breaker::{BreakerConfig, CircuitBreakerLayer, InMemoryCircuitBreakerBackend};
/// use agentix_core::{BoxError, Classify, Outcome};
///
/// #[derive(Clone)]
/// struct AlwaysSucceeds;
///
/// impl Classify<String> for AlwaysSucceeds {
///     fn classify(&self, _result: Result<&String, &BoxError>) -> Outcome {
///         Outcome::Success
///     }
/// }
///
/// let layer = CircuitBreakerLayer::new(
///     BreakerConfig::new("anthropic"),
///     InMemoryCircuitBreakerBackend::new(),
///     AlwaysSucceeds,
/// );
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<B, C> {
    backend: B,
    classifier: C,
    shared: Arc<Shared>,
}

impl<B, C> CircuitBreakerLayer<B, C> {
    /// Creates a layer that keeps breaker state in `backend` and classifies results with
    /// `classifier`.
    ///
    /// # Panics
    ///
    /// Panics when [`BreakerConfig::validate`] rejects `config`; see [`Self::try_new`].
    pub fn new(config: BreakerConfig, backend: B, classifier: C) -> Self {
        match Self::try_new(config, backend, classifier) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Creates a layer that keeps breaker state in `backend` and classifies results with
    /// `classifier`.
    ///
    /// # Errors
    ///
    /// Returns the [`ConfigError`] of [`BreakerConfig::validate`].
    pub fn try_new(config: BreakerConfig, backend: B, classifier: C) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            backend,
            classifier,
            shared: Arc::new(Shared::new(config)),
        })
    }

    /// Returns the layer's config.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }
}

impl<S, B: Clone, C: Clone> Layer<S> for CircuitBreakerLayer<B, C> {
    type Service = CircuitBreaker<S, B, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::from_shared(
            inner,
            self.backend.clone(),
            self.classifier.clone(),
            self.shared.clone(),
        )
    }
}

impl<B: fmt::Debug, C> fmt::Debug for CircuitBreakerLayer<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("backend", &self.backend)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
