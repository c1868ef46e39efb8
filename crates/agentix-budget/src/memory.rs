//! The in-memory ledger: budgets of one process, shared by clones.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use agentix_core::{BudgetExceeded, TenantId};

use crate::config::{BudgetScope, LedgerConfig};
use crate::counters::Counters;
use crate::error::{ConfigError, ReserveError, TenantLimitReached};
use crate::ledger::{BudgetLedger, Reservation};

/// Budgets kept in this process; clones share them.
///
/// In [`BudgetScope::Client`] one budget covers every call, and admission is one
/// compare-exchange on an atomic counter, with no lock and no allocation. In
/// [`BudgetScope::PerTenant`] each tenant has its own budget of the full limit, found in a map
/// under a read lock.
///
/// # Tenant bound
///
/// The map contains at most `max_tenants` tenants. When a new tenant arrives at that bound, every
/// tenant that has used nothing and holds no reservation is evicted, because its budget is
/// the same as a fresh one. Tenants with usage are never evicted, since that would restart
/// their budget; when all of them have usage, a call of a new tenant is rejected with
/// [`TenantLimitReached`].
///
/// # Examples
///
/// ```
/// use agentix_budget::{BudgetLedger, InMemoryLedger};
/// use agentix_core::TenantId;
///
/// let ledger = InMemoryLedger::new(100);
/// let tenant = TenantId::new("default");
/// let reservation = ledger.reserve(&tenant, 40).expect("the budget is not spent");
/// ledger.settle(reservation, 25);
/// assert_eq!(ledger.snapshot(&tenant).used, 25);
/// ```
#[derive(Debug, Clone)]
pub struct InMemoryLedger {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: LedgerConfig,
    client: Counters,
    tenants: RwLock<HashMap<TenantId, Arc<TenantBudget>>>,
}

#[derive(Debug, Default)]
struct TenantBudget {
    counters: Counters,
}

/// Tokens an [`InMemoryLedger`] holds for one admitted call.
#[derive(Debug)]
pub struct InMemoryReservation {
    tokens: u64,
    /// The tenant's budget, or `None` for the client budget. Holding it keeps the tenant
    /// from being evicted while the call is in flight.
    tenant: Option<Arc<TenantBudget>>,
}

impl Reservation for InMemoryReservation {
    fn tokens(&self) -> u64 {
        self.tokens
    }
}

/// Tokens of one budget at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSnapshot {
    /// Tokens charged by settled calls.
    pub used: u64,
    /// Tokens held by calls in flight.
    pub reserved: u64,
    /// The budget's limit.
    pub limit: u64,
}

impl InMemoryLedger {
    /// Creates one client-wide budget of `limit` tokens with the capped admission rule.
    pub fn new(limit: u64) -> Self {
        Self::from_valid(LedgerConfig::new(limit))
    }

    /// Creates one budget of `limit` tokens per tenant, for at most
    /// [`DEFAULT_MAX_TENANTS`](crate::DEFAULT_MAX_TENANTS) tenants.
    pub fn per_tenant(limit: u64) -> Self {
        Self::from_valid(LedgerConfig {
            scope: BudgetScope::PerTenant,
            ..LedgerConfig::new(limit)
        })
    }

    /// Creates a ledger from options.
    ///
    /// # Errors
    ///
    /// Fails when [`LedgerConfig::validate`] does.
    pub fn with_config(config: LedgerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::from_valid(config))
    }

    fn from_valid(config: LedgerConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                client: Counters::default(),
                tenants: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// Returns the options of this ledger.
    pub fn config(&self) -> &LedgerConfig {
        &self.shared.config
    }

    /// Returns the budget covering calls of `tenant`: the client budget in client scope.
    ///
    /// Exact while no call settles at the same time; during a settlement the settled tokens
    /// may briefly count as reserved too.
    pub fn snapshot(&self, tenant: &TenantId) -> BudgetSnapshot {
        let (used, reserved) = match self.shared.config.scope {
            BudgetScope::Client => self.shared.client.snapshot(),
            BudgetScope::PerTenant => self
                .read_tenants()
                .get(tenant)
                .map_or((0, 0), |budget| budget.counters.snapshot()),
        };
        BudgetSnapshot {
            used,
            reserved,
            limit: self.shared.config.limit,
        }
    }

    /// Returns the number of tenants in the per-tenant map now.
    pub fn tenant_count(&self) -> usize {
        self.read_tenants().len()
    }

    fn read_tenants(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TenantId, Arc<TenantBudget>>> {
        // The map is consistent after any panic: no code panics between two of its updates.
        self.shared
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the budget of `tenant`, adding it when new.
    fn tenant_budget(&self, tenant: &TenantId) -> Result<Arc<TenantBudget>, TenantLimitReached> {
        if let Some(budget) = self.read_tenants().get(tenant) {
            return Ok(Arc::clone(budget));
        }

        let mut tenants = self
            .shared
            .tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(budget) = tenants.get(tenant) {
            return Ok(Arc::clone(budget));
        }
        let max_tenants = self.shared.config.max_tenants;
        if tenants.len() >= max_tenants {
            // A count of 1 means only the map holds the budget: no reservation can settle
            // into it, and none can be taken while this write lock is held.
            tenants.retain(|_, budget| {
                !(Arc::strong_count(budget) == 1 && budget.counters.is_unused())
            });
            tracing::debug!(
                max_tenants,
                kept = tenants.len(),
                "token budget evicted unused tenants"
            );
        }
        if tenants.len() >= max_tenants {
            return Err(TenantLimitReached {
                tenant: tenant.clone(),
                max_tenants,
            });
        }
        let budget = Arc::new(TenantBudget::default());
        tenants.insert(tenant.clone(), Arc::clone(&budget));
        Ok(budget)
    }

    fn counters<'a>(&'a self, reservation: &'a InMemoryReservation) -> &'a Counters {
        match &reservation.tenant {
            Some(budget) => &budget.counters,
            None => &self.shared.client,
        }
    }
}

impl BudgetLedger for InMemoryLedger {
    type Reservation = InMemoryReservation;

    fn reserve(
        &self,
        tenant: &TenantId,
        estimate: u64,
    ) -> Result<InMemoryReservation, ReserveError> {
        let config = &self.shared.config;
        let tenant_budget = match config.scope {
            BudgetScope::Client => None,
            BudgetScope::PerTenant => Some(
                self.tenant_budget(tenant)
                    .map_err(|error| ReserveError::Unavailable(Box::new(error)))?,
            ),
        };
        let counters = tenant_budget
            .as_ref()
            .map_or(&self.shared.client, |budget| &budget.counters);

        match counters.reserve(estimate, config.limit, config.admission) {
            Ok(tokens) => Ok(InMemoryReservation {
                tokens,
                tenant: tenant_budget,
            }),
            Err(used) => {
                let scope = match config.scope {
                    BudgetScope::Client => "client".to_owned(),
                    BudgetScope::PerTenant => format!("tenant:{tenant}"),
                };
                Err(ReserveError::Exceeded(BudgetExceeded {
                    scope,
                    used,
                    limit: config.limit,
                }))
            }
        }
    }

    fn settle(&self, reservation: InMemoryReservation, actual: u64) {
        self.counters(&reservation)
            .settle(reservation.tokens, actual);
    }

    fn release(&self, reservation: InMemoryReservation) {
        self.counters(&reservation).release(reservation.tokens);
    }
}
