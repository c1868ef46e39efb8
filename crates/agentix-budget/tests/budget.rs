//! Admission, settlement and rejection of one client-wide budget.

mod support;

use agentix_budget::{
    Admission, BilledOnSuccess, BudgetConfig, InMemoryLedger, LedgerConfig, TokenBudgetLayer,
};
use agentix_core::{rejection_of, Rejection, TenantId};
use support::{budget_exceeded, request, Provider, TestMeter};
use tower::{Layer, Service, ServiceExt};

fn default_tenant() -> TenantId {
    TenantId::new("default")
}

#[tokio::test]
async fn third_call_admitted_with_remainder_then_stop() {
    let ledger = InMemoryLedger::new(100);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    for expected_used in [40, 80, 120] {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request(Some(40), "40"))
            .await
            .expect("the budget is not spent yet");
        assert_eq!(response.status(), 200);
        assert_eq!(ledger.snapshot(&default_tenant()).used, expected_used);
    }

    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(40), "40"))
        .await
        .expect_err("120 of 100 tokens are used");
    let exceeded = budget_exceeded(&error);
    assert_eq!(exceeded.used, 120);
    assert_eq!(exceeded.limit, 100);
    assert_eq!(exceeded.scope, "client");
    assert_eq!(provider.calls(), 3);
}

#[tokio::test]
async fn strict_rejects_estimate_that_does_not_fit() {
    let config = LedgerConfig {
        admission: Admission::Strict,
        ..LedgerConfig::new(100)
    };
    let ledger = InMemoryLedger::with_config(config).unwrap();
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    for _ in 0..2 {
        service
            .ready()
            .await
            .unwrap()
            .call(request(Some(40), "40"))
            .await
            .unwrap();
    }
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(40), "40"))
        .await
        .expect_err("40 tokens do not fit into the 20 left");
    assert_eq!(budget_exceeded(&error).used, 80);

    // A call that fits is still admitted.
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(20), "20"))
        .await
        .unwrap();
    assert_eq!(provider.calls(), 3);
    assert_eq!(ledger.snapshot(&default_tenant()).used, 100);
}

#[tokio::test]
async fn rejection_never_calls_inner_and_names_numbers() {
    let ledger = InMemoryLedger::new(50);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger, TestMeter).layer(provider.clone());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "70"))
        .await
        .unwrap();
    assert_eq!(provider.calls(), 1);

    for _ in 0..5 {
        let error = service
            .ready()
            .await
            .unwrap()
            .call(request(Some(1), "1"))
            .await
            .expect_err("the budget is spent");
        assert_eq!(rejection_of(&error), Some(Rejection::BudgetExceeded));
        let message = error.to_string();
        assert!(message.contains("70 of 50"), "{message}");
        assert!(message.contains("client"), "{message}");
    }
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn zero_limit_rejects_first_call() {
    let provider = Provider::default();
    let mut service =
        TokenBudgetLayer::new(InMemoryLedger::new(0), TestMeter).layer(provider.clone());

    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(1), "1"))
        .await
        .expect_err("a zero budget admits nothing");
    assert_eq!(budget_exceeded(&error).used, 0);
    assert_eq!(budget_exceeded(&error).limit, 0);
    assert_eq!(provider.calls(), 0);
}

#[tokio::test]
async fn clones_share_one_budget() {
    let ledger = InMemoryLedger::new(100);
    let provider = Provider::default();
    let layer = TokenBudgetLayer::new(ledger.clone(), TestMeter);
    let mut first = layer.layer(provider.clone());
    let mut second = first.clone();
    let mut third = layer.layer(provider.clone());

    first
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "60"))
        .await
        .unwrap();
    second
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "60"))
        .await
        .unwrap();
    let error = third
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "1"))
        .await
        .expect_err("the clones spent 120 of 100");
    assert_eq!(budget_exceeded(&error).used, 120);
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn usage_above_estimate_is_charged_in_full() {
    let ledger = InMemoryLedger::new(1_000);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "900"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 900);
    assert_eq!(ledger.snapshot(&default_tenant()).reserved, 0);

    // 100 tokens are left, so this call reserves 100 and goes past the limit.
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(500), "300"))
        .await
        .unwrap();
    let snapshot = ledger.snapshot(&default_tenant());
    assert_eq!(snapshot.used, 1_200);
    assert_eq!(snapshot.reserved, 0);

    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(1), "1"))
        .await
        .expect_err("1,200 of 1,000 tokens are used");
    assert_eq!(budget_exceeded(&error).used, 1_200);
}

#[tokio::test]
async fn missing_usage_charges_reservation() {
    let ledger = InMemoryLedger::new(1_000);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(70), "none"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 70);

    // The default policy charges even an error status without usage.
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(30), "status:529"))
        .await
        .unwrap();
    assert_eq!(response.status(), 529);
    assert_eq!(ledger.snapshot(&default_tenant()).used, 100);
}

#[tokio::test]
async fn missing_usage_without_estimate_charges_default() {
    let ledger = InMemoryLedger::new(100_000);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(request(None, "none"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 4_096);

    let config = BudgetConfig {
        default_reservation: 250,
        ..BudgetConfig::default()
    };
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter)
        .with_config(config)
        .layer(Provider::default());
    service
        .ready()
        .await
        .unwrap()
        .call(request(None, "none"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 4_346);
}

#[tokio::test]
async fn error_status_released_under_billed_on_success() {
    let ledger = InMemoryLedger::new(1_000);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter)
        .with_billing(BilledOnSuccess)
        .layer(Provider::default());

    for status in ["status:429", "status:529", "status:500", "status:400"] {
        service
            .ready()
            .await
            .unwrap()
            .call(request(Some(70), status))
            .await
            .unwrap();
        assert_eq!(ledger.snapshot(&default_tenant()).used, 0, "{status}");
        assert_eq!(ledger.snapshot(&default_tenant()).reserved, 0, "{status}");
    }

    // A 2xx without usage is still charged, and an error status with usage settles to it.
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(70), "none"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 70);
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(70), "status:500:12"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 82);
}

#[tokio::test]
async fn billing_policy_can_be_closure() {
    let ledger = InMemoryLedger::new(1_000);
    let never_billed = |_: &support::Response| false;
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter)
        .with_billing(never_billed)
        .layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(70), "none"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 0);
}

#[tokio::test]
async fn inner_error_releases_reservation() {
    let ledger = InMemoryLedger::new(100);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    for _ in 0..10 {
        let error = service
            .ready()
            .await
            .unwrap()
            .call(request(Some(100), "error"))
            .await
            .expect_err("the provider fails");
        assert!(error.is::<support::ProviderError>(), "{error}");
        assert_eq!(rejection_of(&error), None);
    }
    let snapshot = ledger.snapshot(&default_tenant());
    assert_eq!(snapshot.used, 0);
    assert_eq!(snapshot.reserved, 0);
    assert_eq!(provider.calls(), 10);

    // The released budget still admits a call that needs all of it.
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(100), "100"))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 100);
}

#[tokio::test]
async fn max_estimate_and_limit_do_not_overflow() {
    let ledger = InMemoryLedger::new(u64::MAX);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    // The first call reserves the whole budget while it waits, so a second one is rejected.
    let waiting = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(u64::MAX), "wait:30"));
    assert_eq!(ledger.snapshot(&default_tenant()).reserved, u64::MAX);
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(u64::MAX), "1"))
        .await
        .expect_err("the first call holds the whole budget");
    assert_eq!(budget_exceeded(&error).used, u64::MAX);
    assert_eq!(budget_exceeded(&error).limit, u64::MAX);

    provider.open_gate();
    waiting.await.unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, 30);
    assert_eq!(ledger.snapshot(&default_tenant()).reserved, 0);

    // What is left is reserved, and usage that saturates leaves the budget spent.
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(u64::MAX), &format!("{}", u64::MAX)))
        .await
        .unwrap();
    assert_eq!(ledger.snapshot(&default_tenant()).used, u64::MAX);
    let error = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(0), "0"))
        .await
        .expect_err("the saturated budget is spent");
    assert_eq!(budget_exceeded(&error).used, u64::MAX);
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn zero_estimate_admitted_until_spent() {
    let ledger = InMemoryLedger::new(10);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(0), "6"))
        .await
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(0), "6"))
        .await
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(0), "6"))
        .await
        .expect_err("12 of 10 tokens are used");
    assert_eq!(provider.calls(), 2);
}
