//! Per-route tenant scoping: a layer that tags requests with a [`TenantId`].

use std::task::{Context, Poll};

use agentix_core::TenantId;
use tower::{Layer, Service};

/// Inserts a fixed [`TenantId`] into every request's extensions.
///
/// Put it on the routes of one tenant in an axum or tonic application, then copy the
/// extension onto the outgoing LLM request (or call
/// [`crate::AgentixClient::create_for_tenant`]): the breaker and the budget of that call then
/// use the route's tenant instead of the client's. A request that already carries a
/// `TenantId` keeps it.
#[derive(Debug, Clone)]
pub struct SetTenantLayer {
    tenant: TenantId,
}

impl SetTenantLayer {
    /// Tags requests with `tenant`.
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        Self {
            tenant: tenant.into(),
        }
    }
}

impl<S> Layer<S> for SetTenantLayer {
    type Service = SetTenant<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetTenant {
            inner,
            tenant: self.tenant.clone(),
        }
    }
}

/// Service of [`SetTenantLayer`].
#[derive(Debug, Clone)]
pub struct SetTenant<S> {
    inner: S,
    tenant: TenantId,
}

impl<S, B> Service<http::Request<B>> for SetTenant<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if request.extensions().get::<TenantId>().is_none() {
            request.extensions_mut().insert(self.tenant.clone());
        }
        self.inner.call(request)
    }
}
