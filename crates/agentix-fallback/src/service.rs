//! The fallback service: sends a call to the primary model, then down the chain.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix_core::{BoxError, Classify, FallbackOptOut, RecordServedBy, ReplayRequest, RouteModel};
use tower_service::Service;

use crate::future::{Blocked, ResponseFuture};
use crate::target::{NoTargets, TargetList};
use crate::{ConfigError, FallbackConfig, FallbackPolicy, FallbackTarget, FallbackTargets};

/// The validated chain and the router, shared by a layer and all its services.
#[derive(Debug)]
pub(crate) struct Shared<R, T> {
    pub(crate) router: R,
    pub(crate) primary: Option<Arc<str>>,
    pub(crate) provider: Option<Arc<str>>,
    pub(crate) models: Box<[Arc<str>]>,
    pub(crate) policy: FallbackPolicy,
    pub(crate) targets: T,
}

impl<R> Shared<R, NoTargets> {
    pub(crate) fn new(config: FallbackConfig, router: R) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::from_parts(config, router, NoTargets))
    }
}

impl<R, Req, Res> Shared<R, FallbackTargets<Req, Res>> {
    pub(crate) fn with_targets(
        config: FallbackConfig,
        targets: Vec<FallbackTarget<Req, Res>>,
        router: R,
    ) -> Result<Self, ConfigError> {
        config.validate_with_targets(&targets)?;
        Ok(Self::from_parts(
            config,
            router,
            FallbackTargets::new(targets),
        ))
    }
}

impl<R, T> Shared<R, T> {
    fn from_parts(config: FallbackConfig, router: R, targets: T) -> Self {
        Self {
            router,
            primary: config.primary,
            provider: config.provider,
            models: config.models.into_boxed_slice(),
            policy: config.policy,
            targets,
        }
    }

    /// Returns the number of chain entries after the primary: models, then targets.
    pub(crate) fn chain_len<Req, Res>(&self) -> usize
    where
        T: TargetList<Req, Res>,
    {
        self.models.len() + self.targets.targets().len()
    }
}

/// Re-sends a failed call with the next model of a chain.
///
/// The request goes to the inner service as it is, for the primary model. When the
/// [`FallbackPolicy`] selects the outcome for a fallback, the service takes a copy of the
/// original request and sets the next model with [`RouteModel::set_model`]. The copy goes
/// through the future's own clone of the inner service, readied before each attempt. After
/// the models of [`FallbackConfig::models`] come the [`FallbackTarget`]s, if any, each
/// through the inner service or its own service. Each entry of the chain is tried at most
/// once per call. When every entry has failed, the last result is returned: an error
/// response stays `Ok` (with the model recorded), and an error stays the error.
///
/// Every `Ok` response returned records which model produced it with
/// [`RecordServedBy`], as an [`agentix_core::ServedBy`] whose position is 0 for the
/// primary and `i` for the `i`-th entry of the chain, with the entry's provider. A
/// response of the primary is recorded only when its name is known: from
/// [`FallbackConfig::primary`], or else read from the request.
///
/// # Requests that opt out
///
/// A request that carries [`agentix_core::NoFallback`] ([`FallbackOptOut`]) goes to the
/// primary alone, and its result is returned whatever it is.
///
/// # Requests that cannot be replayed
///
/// The copy for a fallback is made with [`ReplayRequest::replay`] before the primary is
/// called. A request that returns `None` is sent once, and a failure that would have
/// fallen back is returned with a warning in the log.
///
/// # Errors
///
/// Besides the inner service's errors, a call fails with [`crate::SetModelError`] when the
/// router cannot set a fallback model on the request.
pub struct Fallback<S, R, T = NoTargets> {
    inner: S,
    shared: Arc<Shared<R, T>>,
}

impl<S, R> Fallback<S, R> {
    /// Wraps `inner` with a fallback chain.
    ///
    /// # Panics
    ///
    /// Panics with the [`ConfigError`] message when `config` is invalid.
    /// [`Fallback::try_new`] returns the error instead.
    pub fn new(inner: S, config: FallbackConfig, router: R) -> Self {
        match Self::try_new(inner, config, router) {
            Ok(service) => service,
            Err(error) => panic!("{error}"),
        }
    }

    /// Wraps `inner` with a fallback chain, or returns why `config` is invalid.
    ///
    /// # Errors
    ///
    /// Returns the first problem [`FallbackConfig::validate`] finds.
    pub fn try_new(inner: S, config: FallbackConfig, router: R) -> Result<Self, ConfigError> {
        Ok(Self::from_shared(
            inner,
            Arc::new(Shared::new(config, router)?),
        ))
    }
}

impl<S, R, T> Fallback<S, R, T> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<R, T>>) -> Self {
        Self { inner, shared }
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Returns the router that classifies results and sets the model of a request.
    pub fn router(&self) -> &R {
        &self.shared.router
    }

    /// Returns the models tried after the primary, in order.
    pub fn models(&self) -> &[Arc<str>] {
        &self.shared.models
    }

    /// Returns the provider of the primary and of the models.
    pub fn provider(&self) -> Option<&Arc<str>> {
        self.shared.provider.as_ref()
    }

    /// Returns the targets tried after the models.
    pub fn targets(&self) -> &T {
        &self.shared.targets
    }

    /// Returns the policy that decides which outcomes fall back.
    pub fn policy(&self) -> &FallbackPolicy {
        &self.shared.policy
    }
}

impl<S, R, T, Req> Service<Req> for Fallback<S, R, T>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    S::Response: RecordServedBy,
    R: Classify<S::Response> + RouteModel<Req>,
    T: TargetList<Req, S::Response>,
    Req: ReplayRequest + FallbackOptOut,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, R, Req, T>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let shared = Arc::clone(&self.shared);

        let has_chain = shared.chain_len::<Req, S::Response>() > 0;
        let opted_out = has_chain && request.fallback_disabled();
        let original = if has_chain && !opted_out {
            request.replay()
        } else {
            None
        };

        match original {
            Some(original) => {
                // The readied service goes into the future, which readies it again before
                // each fallback attempt; `self` keeps an unreadied clone.
                let clone = self.inner.clone();
                let mut service = mem::replace(&mut self.inner, clone);
                let future = service.call(request);
                ResponseFuture::with_fallback(future, shared, service, original)
            }
            None => {
                // Without a copy of the request, its model has to be read before it is sent.
                let primary = match &shared.primary {
                    Some(primary) => Some(Arc::clone(primary)),
                    None => shared.router.model(&request).map(Arc::from),
                };
                let blocked = if opted_out {
                    Some(Blocked::OptedOut)
                } else if has_chain {
                    Some(Blocked::Unreplayable)
                } else {
                    None
                };
                let future = self.inner.call(request);
                ResponseFuture::single(future, shared, primary, blocked)
            }
        }
    }
}

impl<S: Clone, R, T> Clone for Fallback<S, R, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, R: fmt::Debug, T: fmt::Debug> fmt::Debug for Fallback<S, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .finish()
    }
}
