//! The response future of [`crate::CircuitBreaker`]: admit, call, record.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use agentix_core::{BoxError, Classify};
use futures_util::task::noop_waker_ref;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::backend::{
    BreakerBackend, BreakerCommand, BreakerKey, BreakerReply, CallResult, Permit,
};
use crate::shared::{call_result_of, Shared};

pin_project! {
    /// Response future of [`crate::CircuitBreaker`].
    ///
    /// It sends an admit command to the backend, calls the inner service, classifies the
    /// result and waits for the backend to record it before returning the result.
    pub struct ResponseFuture<S, Req, B, C>
    where
        S: Service<Req>,
        B: BreakerBackend,
    {
        #[pin]
        state: State<S::Future, B::CommandFuture>,
        // The readied inner service and the request, until the call is admitted.
        service: Option<S>,
        request: Option<Req>,
        classifier: C,
        admission: Admission<B>,
        // The result of the inner call while its outcome is recorded.
        output: Option<Result<S::Response, BoxError>>,
        call_result: CallResult,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, BF> {
        // Waiting for the backend to be ready for the admit.
        ReadyingAdmit,
        Admitting { #[pin] future: BF },
        Calling { #[pin] future: F },
        // Waiting for the backend to be ready for the record.
        ReadyingRecord,
        Recording { #[pin] future: BF },
        Done,
    }
}

/// The backend, the key and the permit of one call; releases an unsettled probe on drop.
pub(crate) struct Admission<B: BreakerBackend> {
    backend: B,
    key: BreakerKey,
    shared: Arc<Shared>,
    /// The call's permit; `None` before admission and for unguarded calls.
    permit: Option<Permit>,
    /// Whether dropping must release the permit: a probe whose outcome is not yet recorded.
    release_on_drop: bool,
}

impl<S, Req, B, C> ResponseFuture<S, Req, B, C>
where
    S: Service<Req>,
    B: BreakerBackend,
{
    /// Creates a future that admits the call before calling `service`.
    pub(crate) fn admit(
        service: S,
        request: Req,
        classifier: C,
        backend: B,
        key: BreakerKey,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            state: State::ReadyingAdmit,
            service: Some(service),
            request: Some(request),
            classifier,
            admission: Admission::new(backend, key, shared),
            output: None,
            call_result: CallResult::Released,
        }
    }

    /// Creates a future for a call that is already made and is not recorded.
    pub(crate) fn unguarded(
        future: S::Future,
        classifier: C,
        backend: B,
        key: BreakerKey,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            state: State::Calling { future },
            service: None,
            request: None,
            classifier,
            admission: Admission::new(backend, key, shared),
            output: None,
            call_result: CallResult::Released,
        }
    }
}

impl<S, Req, B, C> Future for ResponseFuture<S, Req, B, C>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    B: BreakerBackend,
    C: Classify<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::ReadyingAdmit => {
                    let admission = &mut *this.admission;
                    match ready!(admission.backend.poll_ready(cx)) {
                        Ok(()) => {
                            let command = BreakerCommand::Admit {
                                key: admission.key.clone(),
                                policy: admission.shared.config.policy,
                            };
                            let future = admission.backend.call(command);
                            this.state.set(State::Admitting { future });
                        }
                        Err(error) => {
                            if let Some(error) =
                                admission.shared.admit_failed(&admission.key, error)
                            {
                                this.state.set(State::Done);
                                return Poll::Ready(Err(error.into()));
                            }
                            let future = call_inner(this.service, this.request);
                            this.state.set(State::Calling { future });
                        }
                    }
                }
                StateProj::Admitting { future } => {
                    let reply = ready!(future.poll(cx));
                    let admission = &mut *this.admission;
                    match reply {
                        Ok(BreakerReply::Admitted(permit)) => {
                            admission.shared.backend_answered(&admission.key);
                            admission.permit = Some(permit);
                            admission.release_on_drop = permit.probe;
                        }
                        Ok(BreakerReply::Rejected { retry_after }) => {
                            admission.shared.backend_answered(&admission.key);
                            // Dropping the readied service frees what it reserved (a
                            // concurrency permit, say) without calling it.
                            this.service.take();
                            this.request.take();
                            this.state.set(State::Done);
                            let error = admission.shared.rejection(&admission.key, retry_after);
                            return Poll::Ready(Err(error.into()));
                        }
                        Ok(other) => {
                            let error = unexpected_reply(&other);
                            if let Some(error) =
                                admission.shared.admit_failed(&admission.key, error)
                            {
                                this.state.set(State::Done);
                                return Poll::Ready(Err(error.into()));
                            }
                        }
                        Err(error) => {
                            if let Some(error) =
                                admission.shared.admit_failed(&admission.key, error)
                            {
                                this.state.set(State::Done);
                                return Poll::Ready(Err(error.into()));
                            }
                        }
                    }
                    let future = call_inner(this.service, this.request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    if this.admission.permit.is_none() {
                        this.state.set(State::Done);
                        return Poll::Ready(result);
                    }
                    *this.call_result = call_result_of(&this.classifier.classify(result.as_ref()));
                    *this.output = Some(result);
                    this.state.set(State::ReadyingRecord);
                }
                StateProj::ReadyingRecord => {
                    let admission = &mut *this.admission;
                    match ready!(admission.backend.poll_ready(cx)) {
                        Ok(()) => {
                            let future =
                                admission.backend.call(admission.record(*this.call_result));
                            this.state.set(State::Recording { future });
                        }
                        Err(error) => {
                            admission.shared.record_failed(&admission.key, &error);
                            this.state.set(State::Done);
                            return Poll::Ready(take_output(this.output));
                        }
                    }
                }
                StateProj::Recording { future } => {
                    let reply = ready!(future.poll(cx));
                    let admission = &mut *this.admission;
                    match reply {
                        Ok(_) => {
                            admission.shared.backend_answered(&admission.key);
                            admission.release_on_drop = false;
                        }
                        // NOTE: a probe stays marked for release, so dropping this future
                        // retries freeing its permit; a stale release is ignored.
                        Err(error) => admission.shared.record_failed(&admission.key, &error),
                    }
                    this.state.set(State::Done);
                    return Poll::Ready(take_output(this.output));
                }
                StateProj::Done => panic!("circuit breaker ResponseFuture polled after completion"),
            }
        }
    }
}

/// Calls the readied inner service with the request, both taken out of the future.
fn call_inner<S: Service<Req>, Req>(
    service: &mut Option<S>,
    request: &mut Option<Req>,
) -> S::Future {
    let mut service = service
        .take()
        .expect("the readied inner service is called at most once");
    let request = request.take().expect("the request is sent at most once");
    service.call(request)
}

fn take_output<T>(output: &mut Option<T>) -> T {
    output
        .take()
        .expect("the inner result is stored before it is recorded")
}

fn unexpected_reply(reply: &BreakerReply) -> BoxError {
    format!("circuit breaker backend replied {reply:?} to an admit").into()
}

impl<B: BreakerBackend> Admission<B> {
    pub(crate) fn new(backend: B, key: BreakerKey, shared: Arc<Shared>) -> Self {
        Self {
            backend,
            key,
            shared,
            permit: None,
            release_on_drop: false,
        }
    }

    fn record(&self, result: CallResult) -> BreakerCommand {
        BreakerCommand::Record {
            key: self.key.clone(),
            policy: self.shared.config.policy,
            permit: self.permit.expect("only admitted calls are recorded"),
            result,
        }
    }
}

impl<B: BreakerBackend> Drop for Admission<B> {
    /// Releases the permit of a probe whose future was dropped before its outcome was
    /// recorded, so the next caller may probe at once instead of waiting for the lease.
    fn drop(&mut self) {
        if !self.release_on_drop {
            return;
        }
        let command = self.record(CallResult::Released);
        tracing::debug!(key = %self.key, "circuit breaker probe dropped; releasing its permit");
        release(
            self.backend.clone(),
            command,
            self.key.clone(),
            self.shared.clone(),
        );
    }
}

/// Sends `command` without an async context: applied at once when the backend is ready and
/// its future completes on the first poll, otherwise spawned on the current tokio runtime.
fn release<B: BreakerBackend>(
    mut backend: B,
    command: BreakerCommand,
    key: BreakerKey,
    shared: Arc<Shared>,
) {
    let mut cx = Context::from_waker(noop_waker_ref());
    match backend.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {
            // Boxed because it may have to outlive this call; this runs only for dropped probes.
            let mut future = Box::pin(backend.call(command));
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(_)) => shared.backend_answered(&key),
                Poll::Ready(Err(error)) => shared.record_failed(&key, &error),
                Poll::Pending => spawn_or_warn(&key.clone(), async move {
                    match future.await {
                        Ok(_) => shared.backend_answered(&key),
                        Err(error) => shared.record_failed(&key, &error),
                    }
                }),
            }
        }
        Poll::Ready(Err(error)) => shared.record_failed(&key, &error),
        Poll::Pending => spawn_or_warn(&key.clone(), async move {
            let sent = match poll_fn(|cx| backend.poll_ready(cx)).await {
                Ok(()) => backend.call(command).await,
                Err(error) => Err(error),
            };
            match sent {
                Ok(_) => shared.backend_answered(&key),
                Err(error) => shared.record_failed(&key, &error),
            }
        }),
    }
}

fn spawn_or_warn(key: &BreakerKey, task: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
        }
        Err(_) => tracing::warn!(
            key = %key,
            "circuit breaker could not release a dropped probe outside a tokio runtime; \
             its lease frees the permit when it expires"
        ),
    }
}

impl<S, Req, B, C> fmt::Debug for ResponseFuture<S, Req, B, C>
where
    S: Service<Req>,
    B: BreakerBackend,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("key", &self.admission.key)
            .field("permit", &self.admission.permit)
            .finish_non_exhaustive()
    }
}
