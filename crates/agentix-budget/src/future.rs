//! The response future that settles a call's reservation when the call ends.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use agentix_core::{BoxError, MeterUsage, UsageCallback};
use pin_project_lite::pin_project;

use crate::billing::BillingPolicy;
use crate::ledger::BudgetLedger;
use crate::settlement::Settlement;

pin_project! {
    /// Response future of [`TokenBudget`](crate::TokenBudget).
    ///
    /// Settles the call's reservation when the inner future completes; dropping it before
    /// then charges the whole reservation.
    pub struct ResponseFuture<F, L, M, B, Req>
    where
        L: BudgetLedger,
    {
        #[pin]
        state: State<F, L, M, B>,
        _request: PhantomData<fn(Req)>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, L, M, B>
    where
        L: BudgetLedger,
    {
        Admitted {
            #[pin]
            future: F,
            // `None` once settled.
            settlement: Option<Settlement<L>>,
            meter: M,
            billing: B,
        },
        Rejected {
            // `None` once returned.
            error: Option<BoxError>,
        },
    }
}

impl<F, L: BudgetLedger, M, B, Req> ResponseFuture<F, L, M, B, Req> {
    pub(crate) fn admitted(future: F, settlement: Settlement<L>, meter: M, billing: B) -> Self {
        Self {
            state: State::Admitted {
                future,
                settlement: Some(settlement),
                meter,
                billing,
            },
            _request: PhantomData,
        }
    }

    pub(crate) fn rejected(error: BoxError) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
            _request: PhantomData,
        }
    }
}

impl<F, Res, E, L, M, B, Req> Future for ResponseFuture<F, L, M, B, Req>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    L: BudgetLedger + Send + 'static,
    M: MeterUsage<Req, Res>,
    B: BillingPolicy<Res>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Rejected { error } => Poll::Ready(Err(error
                .take()
                .expect("ResponseFuture polled after completion"))),
            StateProj::Admitted {
                future,
                settlement,
                meter,
                billing,
            } => {
                assert!(
                    settlement.is_some(),
                    "ResponseFuture polled after completion"
                );
                let mut result = ready!(future.poll(cx));
                let settlement = settlement.take().expect("checked before polling");
                match &mut result {
                    Ok(response) => settle_response(settlement, response, meter, billing),
                    // NOTE: an error raised after the provider started generating (a timeout
                    // or a cut connection midway) may still be billed, but it is released here.
                    Err(_) => settlement.release(),
                }
                Poll::Ready(result.map_err(Into::into))
            }
        }
    }
}

/// Settles from the usage `response` reports, or, when it reports none yet (a stream), once
/// its usage is final.
fn settle_response<L, M, B, Req, Res>(
    settlement: Settlement<L>,
    response: &mut Res,
    meter: &M,
    billing: &B,
) where
    L: BudgetLedger + Send + 'static,
    M: MeterUsage<Req, Res>,
    B: BillingPolicy<Res>,
{
    let usage = meter.usage(response);
    if usage.is_some() {
        settlement.settle_usage(usage, || true);
        return;
    }
    // Reached only without usage, so the closed path with a usage report allocates nothing.
    let billed = billing.is_billed(response);
    let settle: UsageCallback = Box::new(move |usage| settlement.settle_usage(usage, || billed));
    if let Some(settle) = meter.defer_usage(response, settle) {
        settle(None);
    }
}

impl<F, L: BudgetLedger, M, B, Req> std::fmt::Debug for ResponseFuture<F, L, M, B, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
