//! Retry budgets: a cap on retries as a fraction of calls, so that an outage does not
//! multiply the load on a provider.
//!
//! # Why a budget as well as a maximum number of attempts
//!
//! `max_attempts` bounds the retries of one call, but not the retries of a whole client.
//! When a provider fails for everyone at once, every call of every worker retries, and a
//! fleet configured for 3 attempts sends up to three times its usual traffic to a provider
//! that is already failing. A budget ties retries to the traffic that earns them: each call
//! deposits [`RetryBudgetConfig::retry_ratio`] tokens into a bucket, each retry withdraws one,
//! and a retry that finds the bucket empty is skipped. In a healthy period retries are rare
//! and the bucket fills up to its capacity, so a call still gets all its attempts. In an outage the retries
//! drop to about `retry_ratio` of the calls, plus a small floor.
//!
//! The floor, [`RetryBudgetConfig::min_retries`] per [`RetryBudgetConfig::period`], refills the
//! bucket with time alone, so that a client with little traffic can still retry. The bucket
//! never contains more than [`RetryBudgetConfig::capacity`] tokens, which bounds the burst of
//! retries that a long healthy period can save up.
//!
//! # Arithmetic
//!
//! Balances are integers in millionths of a token, updated with compare-and-swap loops on one
//! atomic, so concurrent calls never create or lose tokens and the hot path takes no lock.
//! The floor is computed from the time elapsed since the bucket was created, so refills
//! add up exactly however often they run. Tokens are lost only when a deposit or refill
//! would take the balance above the capacity.

mod bucket;
mod registry;

use std::time::Duration;

pub(crate) use bucket::TokenBucket;
pub(crate) use registry::Budgets;

/// Options of a retry budget.
///
/// # Examples
///
/// ```
/// use agentix_retry::{RetryBudgetConfig, RetryConfig};
///
/// let config = RetryConfig {
///     budget: Some(RetryBudgetConfig::default()),
///     ..RetryConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudgetConfig {
    /// Tokens each call deposits when it is first sent; a retry costs one token. Default 0.2,
    /// so in an outage about one retry is allowed per five calls, on top of the floor.
    ///
    /// Finite, from 0.0 to [`MAX_RETRY_RATIO`].
    pub retry_ratio: f64,
    /// Number of retries the bucket refills per [`period`](Self::period) with no traffic at all,
    /// and the balance a new bucket starts with. Default 10.
    pub min_retries: u32,
    /// The period over which [`min_retries`](Self::min_retries) tokens are refilled, evenly.
    /// Default 10 s, so the floor is one retry per second.
    pub period: Duration,
    /// Maximum number of tokens in the bucket, and so of retries that can run back to back
    /// after a healthy period. Default 100.
    pub capacity: u32,
    /// The grouping of calls into buckets. Default [`BudgetScope::Shared`].
    pub scope: BudgetScope,
}

/// The largest accepted [`RetryBudgetConfig::retry_ratio`]: a thousand retries per call, far
/// above any useful setting, so the token arithmetic stays far from overflow.
pub const MAX_RETRY_RATIO: f64 = 1000.0;

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            retry_ratio: 0.2,
            min_retries: 10,
            period: Duration::from_secs(10),
            capacity: 100,
            scope: BudgetScope::Shared,
        }
    }
}

/// The grouping of calls into buckets: the calls of one group draw from the same bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetScope {
    /// One bucket for every call of the layer and of all services it wraps. The hot path
    /// then touches one atomic and takes no lock.
    #[default]
    Shared,
    /// One bucket per tenant, read with
    /// [`TenantScoped::tenant`](agentix_core::TenantScoped::tenant), so one tenant's outage
    /// does not spend the retries of the others.
    ///
    /// Calls without a tenant share one bucket. A call looks its bucket up under a read lock.
    /// At most `max_tenants` buckets are kept. When the map is full, a new tenant takes the
    /// place of an idle bucket whose balance is back at its starting value. A new tenant
    /// that finds no such bucket shares the bucket of calls without a tenant.
    PerTenant {
        /// Maximum number of tenant buckets kept at once; at least 1.
        max_tenants: usize,
    },
}
