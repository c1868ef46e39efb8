//! Options of the layer and of the in-memory ledger.

use agentix_core::TenantId;

use crate::error::ConfigError;

/// Tokens reserved for a request whose meter gives no estimate, unless configured.
pub const DEFAULT_RESERVATION: u64 = 4_096;

/// Tenants the in-memory ledger tracks at most in [`BudgetScope::PerTenant`], unless
/// configured.
pub const DEFAULT_MAX_TENANTS: usize = 10_000;

/// Options of [`TokenBudgetLayer`](crate::TokenBudgetLayer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Tokens reserved for a request whose meter returns no estimate (no `max_tokens`).
    ///
    /// Default [`DEFAULT_RESERVATION`] (4,096). A call that spends more is still charged its
    /// real usage when it settles, but until then concurrent calls see only this much of it.
    /// `u64::MAX` reserves all that is left, so unbounded calls never overlap.
    pub default_reservation: u64,
    /// Tenant of requests that carry none in their extensions. Default `"default"`.
    pub tenant: TenantId,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            default_reservation: DEFAULT_RESERVATION,
            tenant: TenantId::new("default"),
        }
    }
}

impl BudgetConfig {
    /// Checks the options.
    ///
    /// # Errors
    ///
    /// Fails on a zero `default_reservation`, because concurrent calls without an estimate
    /// would then all pass the check together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.default_reservation == 0 {
            return Err(ConfigError::new(
                "default_reservation",
                "must be at least 1 token, or concurrent calls without an estimate all pass the check",
            ));
        }
        Ok(())
    }
}

/// Coverage of one budget: the whole client, or one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BudgetScope {
    /// One budget for every call through the client and its clones.
    #[default]
    Client,
    /// One budget of the full limit per tenant.
    PerTenant,
}

/// How much of a call's estimate must fit into what is left of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Admission {
    /// Admit any call while the budget is not spent, and reserve
    /// `min(estimate, limit - used - reserved)`. The last admitted call may go past the limit
    /// when it settles, after which every call is rejected.
    #[default]
    Capped,
    /// Admit a call only when its whole estimate fits into `limit - used - reserved`.
    Strict,
}

/// Options of [`InMemoryLedger`](crate::InMemoryLedger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// The hard stop on total tokens of each budget (`max_tokens_budget`). A limit of 0
    /// rejects every call.
    pub limit: u64,
    /// Coverage of one budget. Default [`BudgetScope::Client`].
    pub scope: BudgetScope,
    /// Admission rule. Default [`Admission::Capped`].
    pub admission: Admission,
    /// Tenants tracked at most in [`BudgetScope::PerTenant`]; unused in client scope.
    /// Default [`DEFAULT_MAX_TENANTS`] (10,000).
    pub max_tenants: usize,
}

impl LedgerConfig {
    /// Creates the options of one client-wide budget of `limit` tokens.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            scope: BudgetScope::Client,
            admission: Admission::Capped,
            max_tenants: DEFAULT_MAX_TENANTS,
        }
    }

    /// Checks the options.
    ///
    /// # Errors
    ///
    /// Fails on a zero `max_tenants` in [`BudgetScope::PerTenant`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.scope == BudgetScope::PerTenant && self.max_tenants == 0 {
            return Err(ConfigError::new(
                "max_tenants",
                "must be at least 1 in per-tenant scope",
            ));
        }
        Ok(())
    }
}
