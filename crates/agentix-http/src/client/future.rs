//! The response future of [`HttpClient`](crate::HttpClient).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use agentix_core::BoxError;
use http::Response;

use crate::LlmBody;

pub(crate) type BoxedExchange =
    Pin<Box<dyn Future<Output = Result<Response<LlmBody>, BoxError>> + Send + 'static>>;

/// The future returned by [`HttpClient`](crate::HttpClient): one request, its response head and
/// its whole body, under the request timeout.
// NOTE: the exchange is boxed. It awaits a connection, the network and the body, so one
// allocation per call is small next to its I/O, and it spares naming hyper-util's future types.
// Layers stay unboxed.
pub struct ResponseFuture {
    inner: BoxedExchange,
}

impl ResponseFuture {
    pub(crate) fn new(inner: BoxedExchange) -> Self {
        Self { inner }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<LlmBody>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
