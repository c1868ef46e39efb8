//! The retry service.

use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix_core::{BoxError, Classify, RecordAttempts, ReplayRequest, TenantScoped};
use tokio::time::Instant;
use tower_service::Service;

use crate::budget::Budgets;
use crate::future::ResponseFuture;
use crate::policy::Limits;
use crate::{ConfigError, RetryConfig};

/// Retries calls whose result the classifier calls a retryable failure.
///
/// Each call gets up to [`RetryConfig::max_attempts`] attempts. Between attempts the service
/// waits the [`Backoff`](crate::Backoff) delay, or the server's delay hint when it is longer.
/// The result of the last attempt is returned unchanged, so a layer outside this one can
/// classify it too. A response returned after more than one attempt records
/// [`Attempts`](agentix_core::Attempts); a response without it took one attempt.
///
/// Requests are copied with [`ReplayRequest::replay`]. The copy for an attempt is made before
/// the previous attempt is sent. A request whose `replay` returns `None` is sent once, and a
/// warning is logged if its failure would have been retried. The request's tenant
/// ([`TenantScoped`]) is read only when the budget is kept per tenant.
///
/// The inner service must be `Clone`: each call takes the readied service into its response
/// future and leaves a clone in its place, and every later attempt readies that service
/// with `poll_ready` before calling it. Clones of the service share its retry budget.
#[derive(Debug, Clone)]
pub struct Retry<S, C> {
    inner: S,
    classifier: C,
    limits: Limits,
    budgets: Option<Arc<Budgets>>,
}

impl<S, C> Retry<S, C> {
    /// Wraps `inner` with the retry options and the classifier that judges each result.
    ///
    /// # Panics
    ///
    /// Panics when `config` fails [`RetryConfig::validate`]; use [`Retry::try_new`] to get
    /// the error instead.
    pub fn new(inner: S, config: RetryConfig, classifier: C) -> Self {
        match Self::try_new(inner, config, classifier) {
            Ok(retry) => retry,
            Err(error) => panic!("{error}"),
        }
    }

    /// Wraps `inner` with the retry options and the classifier that judges each result.
    ///
    /// The service gets a retry budget of its own when `config` has one. Services made by
    /// one [`RetryLayer`](crate::RetryLayer) share the layer's budget instead.
    ///
    /// # Errors
    ///
    /// Returns the [`ConfigError`] of [`RetryConfig::validate`] when `config` is invalid.
    pub fn try_new(inner: S, config: RetryConfig, classifier: C) -> Result<Self, ConfigError> {
        config.validate()?;
        let budgets = new_budgets(&config);
        Ok(Self::from_parts(inner, &config, classifier, budgets))
    }

    /// Wraps `inner` with validated options and an existing budget.
    pub(crate) fn from_parts(
        inner: S,
        config: &RetryConfig,
        classifier: C,
        budgets: Option<Arc<Budgets>>,
    ) -> Self {
        Self {
            inner,
            classifier,
            limits: Limits::from(config),
            budgets,
        }
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
}

/// Creates the budget of validated options, if they have one.
pub(crate) fn new_budgets(config: &RetryConfig) -> Option<Arc<Budgets>> {
    config
        .budget
        .as_ref()
        .map(|budget| Arc::new(Budgets::new(budget, Instant::now())))
}

impl<S, C, Req> Service<Req> for Retry<S, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    S::Response: RecordAttempts,
    C: Classify<S::Response> + Clone,
    Req: ReplayRequest + TenantScoped,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, C, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The readied service goes into the future and the clone stays here, to be readied
        // by the next `poll_ready`.
        let clone = self.inner.clone();
        let mut service = mem::replace(&mut self.inner, clone);

        // With one attempt allowed there is nothing to copy or budget, and nothing to time
        // unless the deadline cancels calls, so such a call costs no clone of the request and
        // no atomic update. A deadline too far away to represent counts as none.
        let retries_allowed = self.limits.max_attempts > 1;
        let deadline_at = match self.limits.deadline {
            Some(deadline) if retries_allowed || self.limits.cancel_at_deadline => {
                Instant::now().checked_add(deadline)
            }
            _ => None,
        };
        let bucket = match &self.budgets {
            Some(budgets) if retries_allowed => {
                let bucket = budgets.bucket_for(request.tenant());
                bucket.deposit();
                Some(bucket)
            }
            _ => None,
        };
        let next_request = if retries_allowed {
            request.replay()
        } else {
            None
        };
        let future = service.call(request);

        ResponseFuture::new(
            future,
            service,
            self.classifier.clone(),
            next_request,
            self.limits,
            deadline_at,
            bucket,
        )
    }
}
