//! Errors of the ledger and of the options.

use std::fmt;

use agentix_core::{BoxError, BudgetExceeded, TenantId};

/// Reason a ledger did not reserve tokens for a call.
#[derive(Debug)]
pub enum ReserveError {
    /// The budget is spent; the layer returns the [`BudgetExceeded`] to the caller.
    Exceeded(BudgetExceeded),
    /// The ledger could not decide, such as a full tenant table or an unreachable shared
    /// store. The layer rejects the call with this error.
    Unavailable(BoxError),
}

impl From<BudgetExceeded> for ReserveError {
    fn from(error: BudgetExceeded) -> Self {
        Self::Exceeded(error)
    }
}

/// A call of a new tenant rejected because the per-tenant ledger is full.
///
/// Every tracked tenant has usage or a reservation, so none can be evicted. The provider was
/// not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLimitReached {
    /// The tenant of the rejected call.
    pub tenant: TenantId,
    /// The configured maximum of tenants.
    pub max_tenants: usize,
}

impl fmt::Display for TenantLimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token budget ledger already tracks {} tenants with usage, so tenant `{}` was \
             rejected; the provider was not called (raise `max_tenants`)",
            self.max_tenants, self.tenant
        )
    }
}

impl std::error::Error for TenantLimitReached {}

/// An invalid option, named by its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    reason: &'static str,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }

    /// Returns the name of the invalid field.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid budget option `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}
