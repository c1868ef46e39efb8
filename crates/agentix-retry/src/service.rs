//! The retry service.

use std::mem;
use std::task::{Context, Poll};

use agentix_core::{BoxError, Classify, ReplayRequest};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::{Backoff, ConfigError, RetryConfig};

/// Retries calls whose result the classifier calls a retryable failure.
///
/// Each call gets up to [`RetryConfig::max_attempts`] attempts. Between attempts the service
/// waits the [`Backoff`] delay, or the server's delay hint when it is longer. The result of
/// the last attempt is returned unchanged, so a layer outside this one can classify it too.
///
/// Requests are copied with [`ReplayRequest::replay`]. The copy for an attempt is made before
/// the previous attempt is sent. A request whose `replay` returns `None` is sent once, and a
/// warning is logged if its failure would have been retried.
///
/// The inner service must be `Clone`: each call takes the readied service into its response
/// future and leaves a clone in its place, and every later attempt readies that service
/// with `poll_ready` before calling it.
#[derive(Debug, Clone)]
pub struct Retry<S, C> {
    inner: S,
    classifier: C,
    max_attempts: u32,
    backoff: Backoff,
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
    /// # Errors
    ///
    /// Returns the [`ConfigError`] of [`RetryConfig::validate`] when `config` is invalid.
    pub fn try_new(inner: S, config: RetryConfig, classifier: C) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            inner,
            classifier,
            max_attempts: config.max_attempts,
            backoff: Backoff::from(&config),
        })
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

impl<S, C, Req> Service<Req> for Retry<S, C>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classify<S::Response> + Clone,
    Req: ReplayRequest,
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

        // With one attempt allowed no copy is needed, so the request is never cloned.
        let next_request = if self.max_attempts > 1 {
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
            self.max_attempts,
            self.backoff,
        )
    }
}
