//! The response future of [`Fallback`](crate::Fallback): one attempt per entry of the chain.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use agentix_core::{BoxError, Classify, RecordServedBy, ReplayRequest, RouteModel};
use pin_project_lite::pin_project;
use tower::util::BoxCloneSyncService;
use tower_service::Service;

pub(crate) use crate::chain::Blocked;
use crate::chain::{Chain, Next};
use crate::service::Shared;
use crate::target::{NoTargets, TargetList};

/// The future of an attempt sent through a target's own service.
type TargetFuture<Res> = Pin<Box<dyn Future<Output = Result<Res, BoxError>> + Send>>;

pin_project! {
    /// Response future of [`Fallback`](crate::Fallback).
    ///
    /// Polls the current attempt. When its outcome falls back, the future readies the
    /// service of the next entry and sends the next attempt.
    pub struct ResponseFuture<S, R, Req, T = NoTargets>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future, Req, S::Response>,
        chain: Chain<S, R, T, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, Req, Res> {
        // An attempt is in flight on the inner service.
        Called {
            #[pin]
            future: F,
        },
        // The next attempt's request is built, and the inner service is being readied.
        Readying {
            request: Option<Req>,
        },
        // An attempt is in flight on a target's own service.
        CalledTarget {
            future: TargetFuture<Res>,
        },
        // The next attempt's request is built, and the target's service is being readied.
        ReadyingTarget {
            service: BoxCloneSyncService<Req, Res, BoxError>,
            request: Option<Req>,
        },
    }
}

impl<S, R, Req, T> ResponseFuture<S, R, Req, T>
where
    S: Service<Req>,
{
    /// Creates a future that can fall back, from the primary's attempt, the service it was
    /// sent through and a copy of the request.
    pub(crate) fn with_fallback(
        future: S::Future,
        shared: Arc<Shared<R, T>>,
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
                blocked: None,
            },
        }
    }

    /// Creates a future for the primary's attempt alone; `blocked` is the reason a non-empty
    /// chain is not used.
    pub(crate) fn single(
        future: S::Future,
        shared: Arc<Shared<R, T>>,
        primary: Option<Arc<str>>,
        blocked: Option<Blocked>,
    ) -> Self {
        Self {
            state: State::Called { future },
            chain: Chain {
                shared,
                service: None,
                original: None,
                primary,
                position: 0,
                blocked,
            },
        }
    }
}

impl<S, R, Req, T> Future for ResponseFuture<S, R, Req, T>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: RecordServedBy,
    R: Classify<S::Response> + RouteModel<Req>,
    T: TargetList<Req, S::Response>,
    Req: ReplayRequest,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let result = match this.state.as_mut().project() {
                StateProj::Called { future } => ready!(future.poll(cx)).map_err(Into::into),
                StateProj::CalledTarget { future } => ready!(future.as_mut().poll(cx)),
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
                    continue;
                }
                StateProj::ReadyingTarget { service, request } => {
                    ready!(service.poll_ready(cx))?;
                    let request = request
                        .take()
                        .expect("a readying state holds its request until it is sent");
                    let future = service.call(request);
                    this.state.set(State::CalledTarget { future });
                    continue;
                }
            };

            let outcome = this.chain.shared.router.classify(result.as_ref());
            if !this.chain.shared.policy.should_fall_back(&outcome) {
                return Poll::Ready(this.chain.finish(result));
            }
            match this.chain.next_request(&outcome) {
                Ok(Some(Next::Inner(request))) => this.state.set(State::Readying {
                    request: Some(request),
                }),
                Ok(Some(Next::Target(service, request))) => this.state.set(State::ReadyingTarget {
                    service,
                    request: Some(request),
                }),
                Ok(None) => return Poll::Ready(this.chain.finish(result)),
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}
