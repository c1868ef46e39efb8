//! The response future of [`Retry`](crate::Retry): attempts, sleeps and readiness in turn.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use agentix_core::{BoxError, Classify, ReplayRequest};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::policy::{self, Decision, Progress};
use crate::Backoff;

pin_project! {
    /// The response future of [`Retry`](crate::Retry).
    ///
    /// It resolves to the result of the last attempt, unchanged apart from the error being
    /// boxed: a response the classifier calls a failure is still an `Ok` response.
    pub struct ResponseFuture<S, C, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        // The service that sent the current attempt; it is readied again before each retry.
        service: S,
        classifier: C,
        // The copy of the request for the next attempt, made before the current one was sent.
        next_request: Option<Req>,
        attempts: u32,
        max_attempts: u32,
        backoff: Backoff,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // An attempt is in flight.
        Calling {
            #[pin]
            future: F,
        },
        // Waiting out the delay before the next attempt.
        Sleeping {
            #[pin]
            sleep: Sleep,
        },
        // Waiting for the service to accept the next attempt.
        Readying,
    }
}

impl<S, C, Req> ResponseFuture<S, C, Req>
where
    S: Service<Req>,
{
    /// Wraps the first attempt, already sent by `service`.
    pub(crate) fn new(
        future: S::Future,
        service: S,
        classifier: C,
        next_request: Option<Req>,
        max_attempts: u32,
        backoff: Backoff,
    ) -> Self {
        Self {
            state: State::Calling { future },
            service,
            classifier,
            next_request,
            attempts: 1,
            max_attempts,
            backoff,
        }
    }
}

impl<S, C, Req> Future for ResponseFuture<S, C, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response>,
    Req: ReplayRequest,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    let outcome = this.classifier.classify(result.as_ref());
                    let progress = Progress {
                        attempts: *this.attempts,
                        max_attempts: *this.max_attempts,
                        can_replay: this.next_request.is_some(),
                    };
                    match policy::decide(&outcome, progress, this.backoff) {
                        Decision::Return => return Poll::Ready(result),
                        // A zero delay skips the timer, so immediate retries cost no timer tick.
                        Decision::RetryAfter(delay) if delay.is_zero() => {
                            this.state.set(State::Readying);
                        }
                        Decision::RetryAfter(delay) => {
                            this.state.set(State::Sleeping {
                                sleep: tokio::time::sleep(delay),
                            });
                        }
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    // NOTE: a readiness error ends the call with that error, because the
                    // service can take no further attempt. The failed attempt's result was
                    // already dropped when the retry was scheduled.
                    if let Err(error) = ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error.into()));
                    }
                    let request = this
                        .next_request
                        .take()
                        .expect("a retry is scheduled only when a copy of the request exists");
                    *this.attempts += 1;

                    // Copy the request for the attempt after this one before sending it, so a
                    // copy always exists before the request it came from is consumed.
                    if *this.attempts < *this.max_attempts {
                        *this.next_request = request.replay();
                    }
                    let future = this.service.call(request);
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}
