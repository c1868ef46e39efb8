//! Token budget for LLM API calls: a hard stop on total tokens, exact under concurrency.
//!
//! [`TokenBudgetLayer`] wraps a service so that the total tokens of all its calls (input,
//! output, cache creation and cache read, as [`Usage::total`](agentix_core::Usage::total)
//! sums them) stop at a limit, the `max_tokens_budget` of the Python Agentix API. Once the
//! budget is spent, calls fail at once with [`BudgetExceeded`](agentix_core::BudgetExceeded)
//! and never reach the inner service. The layer and its clones share one budget.
//!
//! # Why reserve before the call
//!
//! A check of `used < limit` alone lets every call that starts while the budget still has
//! room through together: with a budget nearly spent, a hundred concurrent calls would all
//! pass and spend a hundred times what was left. The layer therefore reserves what a call can
//! spend (the meter's [`estimate`](agentix_core::MeterUsage::estimate), its `max_tokens` plus
//! its input) before calling the inner service, and the reservation counts against the budget
//! at once. When the response arrives, the call settles to the usage it reports.
//!
//! # Admission rule
//!
//! A call is rejected when `used + reserved >= limit`. Otherwise it reserves
//! `min(estimate, limit - used - reserved)`. With [`Admission::Strict`] it is rejected unless
//! the whole estimate fits. The real usage may exceed the reservation: `used` then goes past
//! the limit and every later call is rejected. With a limit of 100 and calls that each
//! estimate and use 40 tokens, the third call is admitted with 20 tokens reserved, uses 40,
//! and leaves `used` at 120, so the fourth is rejected.
//!
//! A request without an estimate reserves [`BudgetConfig::default_reservation`] (4,096
//! tokens by default). How each kind of result settles is listed on [`TokenBudget`].
//!
//! # Ledgers and scopes
//!
//! Budgets live in a [`BudgetLedger`]. [`InMemoryLedger`] keeps them in this process, one for
//! the client ([`BudgetScope::Client`], lock-free) or one per tenant
//! ([`BudgetScope::PerTenant`], the tenant read through
//! [`TenantScoped`](agentix_core::TenantScoped) from the request, or
//! [`BudgetConfig::tenant`]). A ledger shared across workers implements the same trait.
//!
//! # No budget
//!
//! The layer always enforces a limit. A client without `max_tokens_budget` leaves the layer
//! out of its stack (for example with `tower::util::option_layer`) rather than using a huge
//! limit, which would still cost two atomic updates per call.
//!
//! # Streams
//!
//! Settlement happens in one place, [`Settlement`], a guard that settles once, by a method
//! call or on drop. A streamed response body can carry it and settle when the stream
//! ends or is dropped.

mod billing;
mod config;
mod counters;
mod error;
mod future;
mod layer;
mod ledger;
mod memory;
mod service;
mod settlement;

pub use billing::{AlwaysBilled, BilledOnSuccess, BillingPolicy};
pub use config::{
    Admission, BudgetConfig, BudgetScope, LedgerConfig, DEFAULT_MAX_TENANTS, DEFAULT_RESERVATION,
};
pub use error::{ConfigError, ReserveError, TenantLimitReached};
pub use future::ResponseFuture;
pub use layer::TokenBudgetLayer;
pub use ledger::{BudgetLedger, Reservation};
pub use memory::{BudgetSnapshot, InMemoryLedger, InMemoryReservation};
pub use service::TokenBudget;
pub use settlement::Settlement;
