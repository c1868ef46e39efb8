//! The buckets of a layer: one shared bucket, or one per tenant in a bounded map.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use agentix_core::TenantId;
use tokio::time::Instant;

use super::bucket::{BucketSettings, TokenBucket};
use super::{BudgetScope, RetryBudgetConfig};

/// The retry budget of a layer and of every service it wraps.
#[derive(Debug)]
pub(crate) struct Budgets {
    settings: BucketSettings,
    /// The bucket of every call in the shared scope, and of calls without a tenant otherwise.
    shared: Arc<TokenBucket>,
    /// Tenant buckets, present in the per-tenant scope only.
    tenants: Option<TenantBuckets>,
}

#[derive(Debug)]
struct TenantBuckets {
    max_tenants: usize,
    map: RwLock<HashMap<TenantId, Arc<TokenBucket>>>,
}

impl Budgets {
    /// Creates the buckets for validated options; refills are measured from `origin`.
    pub(crate) fn new(config: &RetryBudgetConfig, origin: Instant) -> Self {
        let settings = BucketSettings::from_config(config);
        let tenants = match config.scope {
            BudgetScope::Shared => None,
            BudgetScope::PerTenant { max_tenants } => Some(TenantBuckets {
                max_tenants,
                map: RwLock::new(HashMap::new()),
            }),
        };
        Self {
            settings,
            shared: Arc::new(TokenBucket::new(settings, None, origin)),
            tenants,
        }
    }

    /// Returns the bucket a call for `tenant` draws from, creating it if needed.
    ///
    /// In the shared scope, and for a known tenant, this takes no write lock and allocates
    /// nothing. `tenant` is read only in the per-tenant scope.
    pub(crate) fn bucket_for(&self, tenant: Option<&TenantId>) -> Arc<TokenBucket> {
        let (Some(tenants), Some(tenant)) = (&self.tenants, tenant) else {
            return Arc::clone(&self.shared);
        };
        let known = tenants
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        match known {
            Some(bucket) => bucket,
            None => self.insert(tenants, tenant, Instant::now()),
        }
    }

    /// Returns the number of tenant buckets kept.
    #[cfg(test)]
    pub(crate) fn tenant_count(&self) -> usize {
        self.tenants.as_ref().map_or(0, |tenants| {
            tenants
                .map
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
        })
    }

    fn insert(&self, tenants: &TenantBuckets, tenant: &TenantId, now: Instant) -> Arc<TokenBucket> {
        let mut map = tenants.map.write().unwrap_or_else(PoisonError::into_inner);
        // Another task may have inserted the tenant between the read and the write lock.
        if let Some(bucket) = map.get(tenant) {
            return Arc::clone(bucket);
        }
        if map.len() >= tenants.max_tenants && !evict_idle(&mut map, now) {
            tracing::debug!(
                tenant = %tenant,
                max_tenants = tenants.max_tenants,
                "retry budget map is full and no bucket is idle; the tenant shares the bucket of calls without a tenant"
            );
            return Arc::clone(&self.shared);
        }
        let bucket = Arc::new(TokenBucket::new(self.settings, Some(tenant.clone()), now));
        map.insert(tenant.clone(), Arc::clone(&bucket));
        bucket
    }
}

/// Removes one bucket that no call references and whose balance is back at its starting value,
/// and returns whether it found one.
///
/// Replacing such a bucket with a new one creates no tokens, because a new bucket starts
/// with that same balance. The caller has the write lock, so no call can take a new
/// reference to a bucket while the counts are read.
fn evict_idle(map: &mut HashMap<TenantId, Arc<TokenBucket>>, now: Instant) -> bool {
    let idle = map
        .iter()
        .find(|(_, bucket)| {
            Arc::strong_count(bucket) == 1 && bucket.balance_at(now) >= bucket.start_micros()
        })
        .map(|(tenant, _)| tenant.clone());
    match idle {
        Some(tenant) => {
            map.remove(&tenant);
            true
        }
        None => false,
    }
}
