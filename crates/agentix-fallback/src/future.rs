//! The response future of [`Fallback`](crate::Fallback): one attempt per model of the chain.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use agentix_core::{
    BoxError, Classify, Outcome, RecordServedBy, ReplayRequest, RouteModel, ServedBy,
};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::service::Shared;
use crate::SetModelError;

pin_project! {
    /// Response future of [`Fallback`](crate::Fallback).
    ///
    /// Polls the current attempt. When its outcome falls back, the future readies the
    /// service for the next model and sends the next attempt.
    pub struct ResponseFuture<S, R, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future, Req>,
        chain: Chain<S, R, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, Req> {
        // An attempt is in flight.
        Called {
            #[pin]
            future: F,
        },
        // The next attempt's request is built, and the service is being readied.
        Readying {
            request: Option<Req>,
        },
    }
}

/// The progress of one call along the chain, and what it needs to move on.
struct Chain<S, R, Req> {
    shared: Arc<Shared<R>>,
    // The service for fallback attempts, `None` when the call cannot fall back.
    service: Option<S>,
    // The request as it came, kept to make each fallback attempt's copy.
    original: Option<Req>,
    // The primary model's name, when known.
    primary: Option<Arc<str>>,
    // The position in the chain of the attempt in flight, where 0 is the primary.
    position: usize,
    // The chain is not empty, but the request could not be copied.
    replay_failed: bool,
}

impl<S, R, Req> ResponseFuture<S, R, Req>
where
    S: Service<Req>,
{
    /// Creates a future that can fall back, from the primary's attempt, the service it was
    /// sent through and a copy of the request.
    pub(crate) fn with_fallback(
        future: S::Future,
        shared: Arc<Shared<R>>,
        service: S,
        original: Req,
    ) -> Self {
        let primary = shared.primary.clone();
        Self {
            state: State::Called { future },
            chain: Chain {
                shared,
                service: Some(service),
                original: Some(original),
                primary,
                position: 0,
                replay_failed: false,
            },
        }
    }

    /// Creates a future for the primary's attempt alone.
    pub(crate) fn single(
        future: S::Future,
        shared: Arc<Shared<R>>,
        primary: Option<Arc<str>>,
        replay_failed: bool,
    ) -> Self {
        Self {
            state: State::Called { future },
            chain: Chain {
                shared,
                service: None,
                original: None,
                primary,
                position: 0,
                replay_failed,
            },
        }
    }
}

impl<S, R, Req> Future for ResponseFuture<S, R, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: RecordServedBy,
    R: Classify<S::Response> + RouteModel<Req>,
    Req: ReplayRequest,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    let outcome = this.chain.shared.router.classify(result.as_ref());
                    if !this.chain.shared.policy.should_fall_back(&outcome) {
                        return Poll::Ready(this.chain.finish(result));
                    }
                    match this.chain.next_request(&outcome) {
                        Ok(Some(request)) => this.state.set(State::Readying {
                            request: Some(request),
                        }),
                        Ok(None) => return Poll::Ready(this.chain.finish(result)),
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                }
                StateProj::Readying { request } => {
                    let service = this
                        .chain
                        .service
                        .as_mut()
                        .expect("a call only falls back when it holds a service");
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(error.into()));
                    }
                    let request = request
                        .take()
                        .expect("a readying state holds its request until it is sent");
                    let future = service.call(request);
                    this.state.set(State::Called { future });
                }
            }
        }
    }
}

impl<S, R, Req> Chain<S, R, Req>
where
    R: RouteModel<Req>,
    Req: ReplayRequest,
{
    /// Returns the model of the attempt in flight, when known.
    fn current_model(&mut self) -> Option<Arc<str>> {
        match self.position {
            0 => self.primary_model(),
            position => Some(Arc::clone(&self.shared.models[position - 1])),
        }
    }

    /// Returns the primary model's name, reading it from the request the first time when
    /// the config does not name it.
    fn primary_model(&mut self) -> Option<Arc<str>> {
        if self.primary.is_none() {
            if let Some(original) = &self.original {
                self.primary = self.shared.router.model(original).map(Arc::from);
            }
        }
        self.primary.clone()
    }

    /// Builds the request for the next model after an outcome that falls back, and moves
    /// the chain to it.
    ///
    /// Returns `Ok(None)` when no model is left or the request cannot be copied, so the
    /// caller returns the current result.
    fn next_request(&mut self, outcome: &Outcome) -> Result<Option<Req>, BoxError> {
        let from = self.current_model();
        let from = from.as_deref().unwrap_or("unknown");

        if self.shared.models.is_empty() {
            return Ok(None);
        }
        if self.replay_failed {
            log_unreplayable(from, outcome);
            return Ok(None);
        }
        let Some(next) = self.next_position() else {
            tracing::warn!(
                model = from,
                position = self.position,
                reason = ?outcome,
                "every model of the fallback chain failed; returning the last result"
            );
            return Ok(None);
        };
        let Some(mut request) = self.copy_original(next) else {
            log_unreplayable(from, outcome);
            return Ok(None);
        };

        let model = Arc::clone(&self.shared.models[next - 1]);
        if let Err(source) = self.shared.router.set_model(&mut request, &model) {
            return Err(Box::new(SetModelError {
                model,
                position: next,
                source,
            }));
        }
        log_fallback(from, &model, next, outcome);
        self.position = next;
        Ok(Some(request))
    }

    /// Returns the position of the next model to try, skipping a chain entry that names
    /// the primary again.
    fn next_position(&mut self) -> Option<usize> {
        // NOTE: a configured primary is never in the chain (`validate` checks it), but a
        // primary read from the request can be, and it was already tried.
        let primary = self.primary_model();
        (self.position + 1..=self.shared.models.len())
            .find(|&position| Some(&self.shared.models[position - 1]) != primary.as_ref())
    }

    /// Returns the request for the attempt at `position`: a copy of the original, or the
    /// original itself for the last model of the chain.
    fn copy_original(&mut self, position: usize) -> Option<Req> {
        if position == self.shared.models.len() {
            return self.original.take();
        }
        let copy = self.original.as_ref().and_then(ReplayRequest::replay);
        // A request that was copied once but not twice still goes to this model, and the
        // chain ends after it.
        copy.or_else(|| self.original.take())
    }

    /// Records which model produced an `Ok` response and returns the result.
    fn finish<Res: RecordServedBy>(
        &mut self,
        result: Result<Res, BoxError>,
    ) -> Result<Res, BoxError> {
        let mut response = result?;
        if let Some(model) = self.current_model() {
            response.record_served_by(ServedBy {
                model,
                position: self.position,
            });
        }
        Ok(response)
    }
}

/// Logs a failure that would fall back but has no copy of the request to send.
fn log_unreplayable(model: &str, outcome: &Outcome) {
    tracing::warn!(
        model,
        reason = ?outcome,
        "cannot fall back: the request cannot be replayed; returning its result"
    );
}

/// Logs one fallback with both models and what triggered it.
fn log_fallback(from: &str, to: &str, position: usize, outcome: &Outcome) {
    match outcome {
        Outcome::Failure(failure) => tracing::warn!(
            from,
            to,
            position,
            kind = ?failure.kind,
            status = failure.status,
            "falling back to the next model after a provider failure"
        ),
        Outcome::Rejected(rejection) => tracing::warn!(
            from,
            to,
            position,
            rejection = ?rejection,
            "falling back to the next model after a local rejection"
        ),
        Outcome::Success => {
            debug_assert!(false, "a successful call never falls back");
        }
    }
}
