//! The service that checks and reserves a token budget before each call.

use std::task::{Context, Poll};

use agentix_core::{BoxError, MeterUsage, TenantScoped};
use tower_service::Service;

use crate::billing::{AlwaysBilled, BillingPolicy};
use crate::config::BudgetConfig;
use crate::error::ReserveError;
use crate::future::ResponseFuture;
use crate::ledger::BudgetLedger;
use crate::settlement::Settlement;

/// Rejects calls once their token budget is spent, and otherwise reserves tokens for each
/// call and settles them to the usage its response reports.
///
/// The reservation is taken in [`Service::call`], before the inner service is called. A
/// rejected call returns [`BudgetExceeded`](agentix_core::BudgetExceeded) (or the ledger's
/// [`ReserveError::Unavailable`] error) without calling the inner service. An admitted call
/// settles when its response future completes or is dropped:
///
/// | Result of the inner call                      | Charged                          |
/// |-----------------------------------------------|----------------------------------|
/// | response with usage                           | the usage's total, even above the reservation |
/// | response without usage, billed by the policy  | the whole reservation            |
/// | response without usage, not billed            | nothing (released)               |
/// | error                                         | nothing (released)               |
/// | future dropped before completion              | the whole reservation            |
///
/// An error releases the reservation because the provider bills nothing for a failed
/// request. A dropped future charges it because the provider may have started generating.
#[derive(Debug, Clone)]
pub struct TokenBudget<S, L, M, B = AlwaysBilled> {
    inner: S,
    ledger: L,
    meter: M,
    billing: B,
    config: BudgetConfig,
}

impl<S, L, M, B> TokenBudget<S, L, M, B> {
    /// Wraps `inner` in the budgets of `ledger`.
    pub fn new(inner: S, ledger: L, meter: M, billing: B, config: BudgetConfig) -> Self {
        Self {
            inner,
            ledger,
            meter,
            billing,
            config,
        }
    }

    /// Returns the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns the inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Returns the inner service, dropping the budget.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Returns the ledger.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }
}

impl<S, Req, L, M, B> Service<Req> for TokenBudget<S, L, M, B>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    Req: TenantScoped,
    L: BudgetLedger + Clone + Send + 'static,
    M: MeterUsage<Req, S::Response> + Clone,
    B: BillingPolicy<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, L, M, B, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let tenant = request.tenant().unwrap_or(&self.config.tenant);
        let estimate = self
            .meter
            .estimate(&request)
            .unwrap_or(self.config.default_reservation);

        match self.ledger.reserve(tenant, estimate) {
            Ok(reservation) => {
                let settlement = Settlement::new(self.ledger.clone(), reservation);
                // NOTE: the inner service was readied by `poll_ready` and a rejected call
                // leaves that readiness unused, which tower services allow.
                let future = self.inner.call(request);
                ResponseFuture::admitted(
                    future,
                    settlement,
                    self.meter.clone(),
                    self.billing.clone(),
                )
            }
            Err(ReserveError::Exceeded(error)) => {
                tracing::info!(
                    scope = %error.scope,
                    used = error.used,
                    limit = error.limit,
                    estimate,
                    "token budget exceeded; call rejected"
                );
                ResponseFuture::rejected(Box::new(error))
            }
            Err(ReserveError::Unavailable(error)) => {
                tracing::warn!(
                    tenant = %tenant,
                    estimate,
                    error = %error,
                    "token budget ledger unavailable; call rejected"
                );
                ResponseFuture::rejected(error)
            }
        }
    }
}
