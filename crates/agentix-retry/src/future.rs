//! The response future of [`Retry`](crate::Retry): attempts, sleeps and readiness in turn.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use agentix_core::{Attempts, BoxError, Classify, Outcome, RecordAttempts, ReplayRequest};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::budget::TokenBucket;
use crate::policy::{self, Decision, Limits, Progress};
use crate::DeadlineExceeded;

pin_project! {
    /// The response future of [`Retry`](crate::Retry).
    ///
    /// It resolves to the result of the last attempt, unchanged apart from the error being
    /// boxed and, after more than one attempt, the [`Attempts`] recorded in a response: a
    /// response the classifier calls a failure is still an `Ok` response. The one error of
    /// its own is [`DeadlineExceeded`], with `cancel_at_deadline` set.
    pub struct ResponseFuture<S, C, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        // The timer that cancels the call at its deadline, with `cancel_at_deadline` only.
        #[pin]
        cancel_timer: Option<Sleep>,
        // The service that sent the current attempt; it is readied again before each retry.
        service: S,
        classifier: C,
        // The copy of the request for the next attempt, made before the current one was sent.
        next_request: Option<Req>,
        attempts: u32,
        limits: Limits,
        // The time after which no retry starts.
        deadline_at: Option<Instant>,
        // The bucket retries are withdrawn from, when the layer has a budget.
        bucket: Option<Arc<TokenBucket>>,
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
        limits: Limits,
        deadline_at: Option<Instant>,
        bucket: Option<Arc<TokenBucket>>,
    ) -> Self {
        let cancel_timer = match deadline_at {
            Some(at) if limits.cancel_at_deadline => Some(tokio::time::sleep_until(at)),
            _ => None,
        };
        Self {
            state: State::Calling { future },
            cancel_timer,
            service,
            classifier,
            next_request,
            attempts: 1,
            limits,
            deadline_at,
            bucket,
        }
    }
}

impl<S, C, Req> Future for ResponseFuture<S, C, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    S::Response: RecordAttempts,
    C: Classify<S::Response>,
    Req: ReplayRequest,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(timer) = this.cancel_timer.as_pin_mut() {
            if timer.poll(cx).is_ready() {
                let deadline = this
                    .limits
                    .deadline
                    .expect("a cancel timer is set only with a deadline");
                tracing::warn!(
                    attempts = *this.attempts,
                    deadline = ?deadline,
                    "retry deadline passed; cancelling the call"
                );
                return Poll::Ready(Err(Box::new(DeadlineExceeded {
                    deadline,
                    attempts: *this.attempts,
                })));
            }
        }
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    let outcome = this.classifier.classify(result.as_ref());

                    // The clock is read only when a deadline or a budget needs it.
                    let now =
                        (this.deadline_at.is_some() || this.bucket.is_some()).then(Instant::now);
                    let progress = Progress {
                        attempts: *this.attempts,
                        max_attempts: this.limits.max_attempts,
                        can_replay: this.next_request.is_some(),
                        time_left: this
                            .deadline_at
                            .zip(now)
                            .map(|(at, now)| at.saturating_duration_since(now)),
                    };
                    let delay = match policy::decide(&outcome, progress, &this.limits.backoff) {
                        Decision::Return => return Poll::Ready(finish(result, *this.attempts)),
                        Decision::RetryAfter(delay) => delay,
                    };
                    if let (Some(bucket), Some(now)) = (this.bucket.as_deref(), now) {
                        if !bucket.try_withdraw(now) {
                            log_budget_skip(bucket, now, *this.attempts, &outcome);
                            return Poll::Ready(finish(result, *this.attempts));
                        }
                    }

                    // A zero delay skips the timer, so immediate retries cost no timer tick.
                    if delay.is_zero() {
                        this.state.set(State::Readying);
                    } else {
                        this.state.set(State::Sleeping {
                            sleep: tokio::time::sleep(delay),
                        });
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    // NOTE: a readiness error ends the call with that error, because the
                    // service can take no further attempt. The failed attempt's result was
                    // already dropped when the retry was scheduled. For the same reason the
                    // deadline does not bound this wait: there is no result left to return.
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
                    if *this.attempts < this.limits.max_attempts {
                        *this.next_request = request.replay();
                    }
                    let future = this.service.call(request);
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

/// Returns the final result, with the attempt count recorded in a response that took more
/// than one attempt.
fn finish<Res: RecordAttempts>(
    mut result: Result<Res, BoxError>,
    attempts: u32,
) -> Result<Res, BoxError> {
    if attempts > 1 {
        if let Ok(response) = &mut result {
            response.record_attempts(Attempts(attempts));
        }
    }
    result
}

/// Logs a retry skipped because the budget is empty: a warning at most once per refill
/// period with the count of skips since the last one, and a debug event otherwise.
fn log_budget_skip(bucket: &TokenBucket, now: Instant, attempts: u32, outcome: &Outcome) {
    let (kind, status) = match outcome {
        Outcome::Failure(failure) => (Some(failure.kind), failure.status),
        _ => (None, None),
    };
    match bucket.note_skip(now) {
        Some(skipped) => tracing::warn!(
            key = bucket.key(),
            attempts,
            skipped,
            kind = ?kind,
            status,
            "retry budget is empty; returning the last failure without retrying"
        ),
        None => tracing::debug!(
            key = bucket.key(),
            attempts,
            kind = ?kind,
            status,
            "retry budget is empty; returning the last failure without retrying"
        ),
    }
}
