//! The circuit breaker service.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix_core::{BoxError, Classify, TenantScoped};
use tower_service::Service;

use crate::backend::BreakerBackend;
use crate::config::BreakerConfig;
use crate::error::ConfigError;
use crate::future::ResponseFuture;
use crate::shared::Shared;

/// Rejects calls to a provider that keeps failing, and lets one probe through after a
/// cooldown; see [`crate::CircuitBreakerLayer`].
///
/// Each call is admitted by the backend under the key `"{tenant}:{provider}"`, where the
/// tenant comes from the request ([`TenantScoped`]) or from [`BreakerConfig::tenant`]. A
/// rejected call fails with [`agentix_core::CircuitOpen`] and the inner service is not called.
/// An admitted call's result is classified and recorded, and returned once the backend
/// has recorded it.
pub struct CircuitBreaker<S, B, C> {
    inner: S,
    backend: B,
    classifier: C,
    shared: Arc<Shared>,
}

impl<S, B, C> CircuitBreaker<S, B, C> {
    /// Wraps `inner` with a breaker whose state lives in `backend`.
    ///
    /// # Panics
    ///
    /// Panics when [`BreakerConfig::validate`] rejects `config`; see [`Self::try_new`].
    pub fn new(inner: S, config: BreakerConfig, backend: B, classifier: C) -> Self {
        match Self::try_new(inner, config, backend, classifier) {
            Ok(service) => service,
            Err(error) => panic!("{error}"),
        }
    }

    /// Wraps `inner` with a breaker whose state lives in `backend`.
    ///
    /// # Errors
    ///
    /// Returns the [`ConfigError`] of [`BreakerConfig::validate`].
    pub fn try_new(
        inner: S,
        config: BreakerConfig,
        backend: B,
        classifier: C,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::from_shared(
            inner,
            backend,
            classifier,
            Arc::new(Shared::new(config)),
        ))
    }

    pub(crate) fn from_shared(inner: S, backend: B, classifier: C, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            backend,
            classifier,
            shared,
        }
    }

    /// Returns the breaker's config.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Returns the inner service, dropping the breaker.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, B, C> Service<Req> for CircuitBreaker<S, B, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    Req: TenantScoped,
    B: BreakerBackend,
    C: Classify<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, B, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let key = self.shared.key_for(request.tenant());
        if self.shared.is_disabled() {
            let future = self.inner.call(request);
            return ResponseFuture::unguarded(
                future,
                self.classifier.clone(),
                self.backend.clone(),
                key,
                self.shared.clone(),
            );
        }

        // The readied service goes into the future and a fresh clone stays here, which must
        // be readied before its own call (tower's `mem::replace` idiom).
        let clone = self.inner.clone();
        let readied = mem::replace(&mut self.inner, clone);
        ResponseFuture::admit(
            readied,
            request,
            self.classifier.clone(),
            self.backend.clone(),
            key,
            self.shared.clone(),
        )
    }
}

impl<S: Clone, B: Clone, C: Clone> Clone for CircuitBreaker<S, B, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            backend: self.backend.clone(),
            classifier: self.classifier.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, B: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("backend", &self.backend)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
