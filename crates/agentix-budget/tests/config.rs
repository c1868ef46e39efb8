//! Validation of the options.

use agentix_budget::{
    Admission, BudgetConfig, BudgetScope, InMemoryLedger, LedgerConfig, DEFAULT_MAX_TENANTS,
    DEFAULT_RESERVATION,
};
use agentix_core::TenantId;

#[test]
fn defaults_are_documented_values() {
    let config = BudgetConfig::default();
    assert_eq!(config.default_reservation, DEFAULT_RESERVATION);
    assert_eq!(config.default_reservation, 4_096);
    assert_eq!(config.tenant, TenantId::new("default"));
    assert!(config.validate().is_ok());

    let ledger = LedgerConfig::new(100);
    assert_eq!(ledger.limit, 100);
    assert_eq!(ledger.scope, BudgetScope::Client);
    assert_eq!(ledger.admission, Admission::Capped);
    assert_eq!(ledger.max_tenants, DEFAULT_MAX_TENANTS);
    assert!(ledger.validate().is_ok());
}

#[test]
fn zero_default_reservation_is_invalid() {
    let config = BudgetConfig {
        default_reservation: 0,
        ..BudgetConfig::default()
    };
    let error = config
        .validate()
        .expect_err("zero lets unbounded calls pass together");
    assert_eq!(error.field(), "default_reservation");
    assert!(error.to_string().contains("default_reservation"), "{error}");
}

#[test]
fn zero_max_tenants_is_invalid_per_tenant() {
    let config = LedgerConfig {
        scope: BudgetScope::PerTenant,
        max_tenants: 0,
        ..LedgerConfig::new(100)
    };
    let error = InMemoryLedger::with_config(config).expect_err("no tenant would fit");
    assert_eq!(error.field(), "max_tenants");

    // Client scope never uses the tenant table.
    let config = LedgerConfig {
        max_tenants: 0,
        ..LedgerConfig::new(100)
    };
    assert!(InMemoryLedger::with_config(config).is_ok());
}

#[test]
fn ledger_keeps_its_config() {
    let ledger = InMemoryLedger::per_tenant(7);
    assert_eq!(ledger.config().scope, BudgetScope::PerTenant);
    assert_eq!(ledger.config().limit, 7);
    assert_eq!(ledger.clone().config(), ledger.config());
}
