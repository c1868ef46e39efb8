//! The layer that wraps a service in a token budget.

use tower_layer::Layer;

use crate::billing::AlwaysBilled;
use crate::config::BudgetConfig;
use crate::service::TokenBudget;

/// Wraps services in [`TokenBudget`], a hard stop on the total tokens of all their calls.
///
/// `L` is the ledger that keeps the budgets, `M` the meter that estimates requests and reads
/// usage from responses, and `B` the [`BillingPolicy`](crate::BillingPolicy) for responses
/// without usage.
///
/// # Examples
///
/// ```
/// use agentix_budget::{BilledOnSuccess, InMemoryLedger, TokenBudgetLayer};
/// use agentix_core::{MeterUsage, Usage};
///
/// #[derive(Clone)]
/// struct Meter;
///
/// impl MeterUsage<http::Request<String>, http::Response<String>> for Meter {
///     fn estimate(&self, request: &http::Request<String>) -> Option<u64> {
///         request.body().parse().ok()
///     }
///
///     fn usage(&self, response: &http::Response<String>) -> Option<Usage> {
///         let output_tokens = response.body().parse().ok()?;
///         Some(Usage { output_tokens, ..Usage::default() })
///     }
/// }
///
/// let layer = TokenBudgetLayer::new(InMemoryLedger::new(100_000), Meter)
///     .with_billing(BilledOnSuccess);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct TokenBudgetLayer<L, M, B = AlwaysBilled> {
    ledger: L,
    meter: M,
    billing: B,
    config: BudgetConfig,
}

impl<L, M> TokenBudgetLayer<L, M> {
    /// Creates a layer with the default [`BudgetConfig`] and [`AlwaysBilled`].
    pub fn new(ledger: L, meter: M) -> Self {
        Self {
            ledger,
            meter,
            billing: AlwaysBilled,
            config: BudgetConfig::default(),
        }
    }
}

impl<L, M, B> TokenBudgetLayer<L, M, B> {
    /// Replaces the options; check them first with [`BudgetConfig::validate`].
    pub fn with_config(mut self, config: BudgetConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the policy for responses that report no usage.
    pub fn with_billing<B2>(self, billing: B2) -> TokenBudgetLayer<L, M, B2> {
        TokenBudgetLayer {
            ledger: self.ledger,
            meter: self.meter,
            billing,
            config: self.config,
        }
    }

    /// Returns the ledger, shared by every service this layer builds.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }
}

impl<S, L, M, B> Layer<S> for TokenBudgetLayer<L, M, B>
where
    L: Clone,
    M: Clone,
    B: Clone,
{
    type Service = TokenBudget<S, L, M, B>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenBudget::new(
            inner,
            self.ledger.clone(),
            self.meter.clone(),
            self.billing.clone(),
            self.config.clone(),
        )
    }
}
