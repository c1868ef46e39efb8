//! Exactness when calls run at the same time, and settlement of dropped futures.

mod support;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use agentix_budget::{InMemoryLedger, TokenBudgetLayer};
use agentix_core::TenantId;
use support::{budget_exceeded, request, Provider, TestMeter};
use tower::{Layer, Service, ServiceExt};

const TASKS: usize = 100;
const ESTIMATE: u64 = 10;

fn default_tenant() -> TenantId {
    TenantId::new("default")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_admit_at_most_k() {
    for admitted_max in [0_u64, 1, 7, 50, 99] {
        let ledger = InMemoryLedger::new(admitted_max * ESTIMATE);
        let provider = Provider::default();
        let service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

        let called = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let actual_sum = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let mut tasks = Vec::new();
        for index in 0..TASKS {
            let mut service = service.clone();
            let called = Arc::clone(&called);
            let admitted = Arc::clone(&admitted);
            let actual_sum = Arc::clone(&actual_sum);
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                // Actual usage differs per call and stays within the estimate.
                let actual = index as u64 % (ESTIMATE + 1);
                barrier.wait().await;
                let future = service
                    .ready()
                    .await
                    .unwrap()
                    .call(request(Some(ESTIMATE), &format!("wait:{actual}")));
                called.fetch_add(1, Ordering::SeqCst);
                match future.await {
                    Ok(_) => {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        actual_sum.fetch_add(actual, Ordering::SeqCst);
                    }
                    Err(error) => {
                        assert!(budget_exceeded(&error).used >= admitted_max * ESTIMATE);
                    }
                }
            }));
        }

        // Admitted calls wait at the gate until every call has reserved or been rejected,
        // so no settlement frees tokens for a later call.
        while called.load(Ordering::SeqCst) < TASKS {
            tokio::task::yield_now().await;
        }
        let in_flight = ledger.snapshot(&default_tenant());
        assert_eq!(in_flight.reserved, admitted_max * ESTIMATE);
        assert_eq!(in_flight.used, 0);
        provider.open_gate();
        for task in tasks {
            task.await.unwrap();
        }

        assert_eq!(admitted.load(Ordering::SeqCst) as u64, admitted_max);
        assert_eq!(provider.calls() as u64, admitted_max);
        let snapshot = ledger.snapshot(&default_tenant());
        assert_eq!(snapshot.used, actual_sum.load(Ordering::SeqCst));
        assert_eq!(snapshot.reserved, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_settling_calls_stay_consistent() {
    // Calls reserve and settle while others do, with usage above the estimate at times.
    let ledger = InMemoryLedger::new(5_000);
    let provider = Provider::default();
    let service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());
    let actual_sum = Arc::new(AtomicU64::new(0));

    let mut tasks = Vec::new();
    for index in 0..TASKS {
        let mut service = service.clone();
        let actual_sum = Arc::clone(&actual_sum);
        tasks.push(tokio::spawn(async move {
            for round in 0..20_u64 {
                let actual = (index as u64 + round) % 37;
                let result = service
                    .ready()
                    .await
                    .unwrap()
                    .call(request(Some(20), &actual.to_string()))
                    .await;
                if result.is_ok() {
                    actual_sum.fetch_add(actual, Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let snapshot = ledger.snapshot(&default_tenant());
    assert_eq!(snapshot.used, actual_sum.load(Ordering::SeqCst));
    assert_eq!(snapshot.reserved, 0);
    assert!(snapshot.used >= 5_000, "the budget is spent: {snapshot:?}");
    // Each call that started below the limit added at most 36 tokens more than it reserved,
    // and at most one call per task was in flight.
    assert!(snapshot.used < 5_000 + TASKS as u64 * 36, "{snapshot:?}");
}

#[tokio::test]
async fn dropped_futures_charge_reservation() {
    let ledger = InMemoryLedger::new(1_000);
    let provider = Provider::default();
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(provider.clone());

    // Never polled.
    let future = service
        .ready()
        .await
        .unwrap()
        .call(request(Some(100), "wait:5"));
    assert_eq!(ledger.snapshot(&default_tenant()).reserved, 100);
    drop(future);
    assert_eq!(ledger.snapshot(&default_tenant()).used, 100);
    assert_eq!(ledger.snapshot(&default_tenant()).reserved, 0);

    // Polled, pending at the gate, then dropped.
    let mut futures: Vec<_> = (0..3)
        .map(|_| service.call(request(Some(50), "wait:5")))
        .collect();
    for future in &mut futures {
        let poll = futures_poll_once(future).await;
        assert!(poll.is_none(), "the gate is closed");
    }
    assert_eq!(ledger.snapshot(&default_tenant()).reserved, 150);
    drop(futures);
    let snapshot = ledger.snapshot(&default_tenant());
    assert_eq!(snapshot.used, 250);
    assert_eq!(snapshot.reserved, 0);
    assert_eq!(provider.calls(), 4);
}

#[tokio::test]
async fn completed_future_settles_once() {
    let ledger = InMemoryLedger::new(1_000);
    let mut service = TokenBudgetLayer::new(ledger.clone(), TestMeter).layer(Provider::default());

    let mut future = Box::pin(service.ready().await.unwrap().call(request(Some(100), "7")));
    let result = (&mut future).await;
    assert!(result.is_ok());
    drop(future);

    let snapshot = ledger.snapshot(&default_tenant());
    assert_eq!(
        snapshot.used, 7,
        "dropping a completed future charges nothing more"
    );
    assert_eq!(snapshot.reserved, 0);
}

#[tokio::test]
async fn rejected_future_is_ready_at_once() {
    let ledger = InMemoryLedger::new(0);
    let mut service = TokenBudgetLayer::new(ledger, TestMeter).layer(Provider::default());

    let mut future = service.ready().await.unwrap().call(request(Some(1), "1"));
    let poll = futures_poll_once(&mut future).await;
    let error = poll
        .expect("a rejection is ready on the first poll")
        .unwrap_err();
    assert_eq!(budget_exceeded(&error).limit, 0);
}

/// Polls `future` once; `None` when it is pending.
async fn futures_poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
