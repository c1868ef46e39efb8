//! Per-tenant budgets and the bound on tracked tenants.

mod support;

use agentix_budget::{
    BudgetConfig, BudgetLedger, BudgetScope, InMemoryLedger, LedgerConfig, ReserveError,
    TenantLimitReached, TokenBudgetLayer,
};
use agentix_core::{rejection_of, TenantId};
use support::{budget_exceeded, request, tenant_request, Provider, TestMeter};
use tower::{Layer, Service, ServiceExt};

#[tokio::test]
async fn tenant_budgets_are_independent() {
    let ledger = InMemoryLedger::per_tenant(100);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("acme", Some(10), "150"))
        .await
        .unwrap();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("acme", Some(10), "1"))
        .await
        .expect_err("acme spent 150 of 100");
    let exceeded = budget_exceeded(&error);
    assert_eq!(exceeded.scope, "tenant:acme");
    assert_eq!(exceeded.used, 150);
    assert_eq!(exceeded.limit, 100);
    assert!(error.to_string().contains("tenant:acme"), "{error}");

    // Another tenant, and requests without a tenant, still have their full budgets.
    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("globex", Some(10), "90"))
        .await
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "80"))
        .await
        .unwrap();

    assert_eq!(ledger.snapshot(&TenantId::new("acme")).used, 150);
    assert_eq!(ledger.snapshot(&TenantId::new("globex")).used, 90);
    assert_eq!(ledger.snapshot(&TenantId::new("default")).used, 80);
    assert_eq!(ledger.snapshot(&TenantId::new("unknown")).used, 0);
    assert_eq!(provider.calls(), 3);
}

#[tokio::test]
async fn request_without_tenant_uses_configured_tenant() {
    let ledger = InMemoryLedger::per_tenant(100);
    let config = BudgetConfig {
        tenant: TenantId::new("customer-abc"),
        ..BudgetConfig::default()
    };
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter)
        .with_config(config)
        .layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "100"))
        .await
        .unwrap();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("customer-abc", Some(10), "1"))
        .await
        .expect_err("the client tenant's budget is spent");
    assert_eq!(budget_exceeded(&error).scope, "tenant:customer-abc");
    assert_eq!(ledger.snapshot(&TenantId::new("default")).used, 0);
}

#[tokio::test]
async fn client_scope_ignores_tenant() {
    let ledger = InMemoryLedger::new(100);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("acme", Some(10), "100"))
        .await
        .unwrap();
    let error = service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("globex", Some(10), "1"))
        .await
        .expect_err("one budget covers every tenant");
    assert_eq!(budget_exceeded(&error).scope, "client");
    assert_eq!(ledger.tenant_count(), 0);
}

fn bounded_ledger(max_tenants: usize) -> InMemoryLedger {
    InMemoryLedger::with_config(LedgerConfig {
        scope: BudgetScope::PerTenant,
        max_tenants,
        ..LedgerConfig::new(100)
    })
    .unwrap()
}

#[tokio::test]
async fn full_tenant_table_rejects_new_tenant() {
    let ledger = bounded_ledger(2);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    for tenant in ["a", "b"] {
        service
            .ready()
            .await
            .unwrap()
            .call(tenant_request(tenant, Some(10), "5"))
            .await
            .unwrap();
    }
    let error = service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("c", Some(10), "5"))
        .await
        .expect_err("both tracked tenants have usage");
    let full = error
        .downcast_ref::<TenantLimitReached>()
        .unwrap_or_else(|| panic!("expected TenantLimitReached, got `{error}`"));
    assert_eq!(full.tenant, TenantId::new("c"));
    assert_eq!(full.max_tenants, 2);
    assert_eq!(rejection_of(&error), None);
    assert!(error.to_string().contains("max_tenants"), "{error}");
    assert_eq!(provider.calls(), 2);

    // Known tenants keep their budgets.
    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("a", Some(10), "5"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&TenantId::new("a")).used, 10);
    assert_eq!(ledger.tenant_count(), 2);
}

#[tokio::test]
async fn unused_tenants_are_evicted_at_bound() {
    let ledger = bounded_ledger(2);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(Provider::default());

    // `a` has usage; `b` only had a failed call, whose reservation was released.
    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("a", Some(10), "5"))
        .await
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("b", Some(10), "error"))
        .await
        .expect_err("the provider fails");
    assert_eq!(ledger.tenant_count(), 2);

    service
        .ready()
        .await
        .unwrap()
        .call(tenant_request("c", Some(10), "7"))
        .await
        .expect("`b` is unused, so it makes room");
    assert_eq!(ledger.tenant_count(), 2);
    assert_eq!(ledger.snapshot(&TenantId::new("a")).used, 5);
    assert_eq!(ledger.snapshot(&TenantId::new("c")).used, 7);
}

#[tokio::test]
async fn tenant_with_reservation_is_not_evicted() {
    let ledger = bounded_ledger(1);
    let tenant_a = TenantId::new("a");

    // A zero-token reservation leaves the counters at zero, yet the call is in flight.
    let reservation = ledger.reserve(&tenant_a, 0).expect("a fresh budget");
    match ledger.reserve(&TenantId::new("b"), 10) {
        Err(ReserveError::Unavailable(error)) => assert!(error.is::<TenantLimitReached>()),
        other => panic!("expected a full tenant table, got {other:?}"),
    }

    // The in-flight call settles into the budget that is still tracked.
    ledger.settle(reservation, 30);
    assert_eq!(ledger.snapshot(&tenant_a).used, 30);
}
