//! Readiness is delegated, and a readied service is the one called.

mod support;

use std::time::Duration;

use agentix_budget::{InMemoryLedger, TokenBudgetLayer};
use agentix_core::TenantId;
use support::{request, TestMeter};
use tower::limit::ConcurrencyLimit;
use tower::{service_fn, Layer, Service, ServiceExt};

/// Returns whether `service` is ready now, without waiting.
async fn is_ready_now<S: Service<support::Request>>(service: &mut S) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(service.poll_ready(cx).is_ready())).await
}

#[tokio::test(start_paused = true)]
async fn thousand_calls_through_concurrency_limit() {
    let ledger = InMemoryLedger::new(500);
    let inner = ConcurrencyLimit::new(service_fn(support::ready_ok), 1);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(inner);

    let mut admitted = 0;
    let mut rejected = 0;
    for _ in 0..1_000 {
        let call = service
            .ready()
            .await
            .expect("ready")
            .call(request(Some(1), "1"));
        let result = tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .expect("a call never hangs");
        match result {
            Ok(_) => admitted += 1,
            Err(error) => {
                assert!(error.is::<agentix_core::BudgetExceeded>(), "{error}");
                rejected += 1;
            }
        }
    }
    // Each admitted call reserves 1 and settles to the 1 token the inner service reports.
    assert_eq!(admitted, 500);
    assert_eq!(rejected, 500);
    assert_eq!(ledger.snapshot(&TenantId::new("default")).used, 500);
}

#[tokio::test(start_paused = true)]
async fn clone_is_readied_before_call() {
    let ledger = InMemoryLedger::new(1_000);
    let inner = ConcurrencyLimit::new(service_fn(support::ready_ok), 1);
    let service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(inner);

    for _ in 0..10 {
        let mut clone = service.clone();
        let response = clone
            .ready()
            .await
            .expect("ready")
            .call(request(Some(5), "1"))
            .await
            .expect("admitted");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(ledger.snapshot(&TenantId::new("default")).used, 10);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_waits_for_inner() {
    let (inner, mut handle) = tower_test::mock::pair::<support::Request, support::Response>();
    let ledger = InMemoryLedger::new(100);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(inner);

    handle.allow(0);
    assert!(!is_ready_now(&mut service).await, "inner has no capacity");

    handle.allow(1);
    let future = service
        .ready()
        .await
        .expect("ready")
        .call(request(Some(30), "ignored"));
    let (received, send) = handle.next_request().await.expect("the call reached inner");
    assert_eq!(received.body(), "30 ignored");
    assert_eq!(ledger.snapshot(&TenantId::new("default")).reserved, 30);
    send.send_response(http::Response::new("usage=12".to_owned()));
    future.await.expect("admitted");
    assert_eq!(ledger.snapshot(&TenantId::new("default")).used, 12);
}

#[tokio::test(start_paused = true)]
async fn inner_readiness_error_is_returned() {
    let (inner, mut handle) = tower_test::mock::pair::<support::Request, support::Response>();
    let mut service = TokenBudgetLayer::new(InMemoryLedger::new(100), TestMeter).layer(inner);

    handle.send_error(support::ProviderError);
    let error = service.ready().await.expect_err("inner failed to be ready");
    assert!(error.is::<support::ProviderError>(), "{error}");
}
