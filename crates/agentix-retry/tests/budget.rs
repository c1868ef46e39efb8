//! The retry budget: retries capped to a fraction of calls, refilled by time, per scope.

mod support;

use std::time::Duration;

use agentix_core::{Attempts, TenantId};
use support::{exact_config, request, status, Request, Scripted, StatusClassifier};
use tower::{Layer, ServiceExt};

use agentix_retry::{BudgetScope, RetryBudgetConfig, RetryConfig, RetryLayer};

/// Immediate retries, so that no time passes and the floor adds nothing during a test.
fn immediate(max_attempts: u32, budget: RetryBudgetConfig) -> RetryConfig {
    RetryConfig {
        base_delay: Duration::ZERO,
        budget: Some(budget),
        ..exact_config(max_attempts)
    }
}

/// Returns a budget that starts with `min_retries` tokens and refills too slowly to matter
/// in a test.
fn budget(retry_ratio: f64, min_retries: u32) -> RetryBudgetConfig {
    RetryBudgetConfig {
        retry_ratio,
        min_retries,
        period: Duration::from_secs(3600),
        capacity: 100,
        scope: BudgetScope::Shared,
    }
}

fn always_503() -> Scripted {
    Scripted::responses((0..1000).map(|_| status(503)))
}

fn tenant_request(tenant: &str) -> Request {
    let mut request = request("{}");
    request.extensions_mut().insert(TenantId::new(tenant));
    request
}

#[tokio::test(start_paused = true)]
async fn empty_budget_skips_retries() {
    let inner = always_503();
    let layer = RetryLayer::new(immediate(3, budget(0.0, 2)), StatusClassifier);

    let mut attempts = Vec::new();
    for _ in 0..4 {
        let before = inner.calls();
        let service = layer.layer(inner.clone());
        let response = service.oneshot(request("{}")).await.expect("a response");
        assert_eq!(response.status(), 503);
        attempts.push(inner.calls() - before);
    }

    assert_eq!(
        attempts,
        vec![3, 1, 1, 1],
        "the two starting tokens pay for the first call's retries only"
    );
}

#[tokio::test(start_paused = true)]
async fn skipped_retry_returns_last_failure_unmarked() {
    let inner = always_503();
    let layer = RetryLayer::new(immediate(3, budget(0.0, 1)), StatusClassifier);
    layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    let response = layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(response.status(), 503);
    assert_eq!(
        response.extensions().get::<Attempts>(),
        None,
        "one attempt is recorded by absence"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_follow_ratio_of_calls() {
    let inner = always_503();
    let layer = RetryLayer::new(immediate(3, budget(0.5, 1)), StatusClassifier);

    let mut attempts = Vec::new();
    for _ in 0..6 {
        let before = inner.calls();
        let service = layer.layer(inner.clone());
        service.oneshot(request("{}")).await.expect("a response");
        attempts.push(inner.calls() - before);
    }

    // Balance before each call: 1, 0.5, 0, 0.5, 0, 0.5 tokens; each call adds 0.5.
    assert_eq!(attempts, vec![2, 2, 1, 2, 1, 2]);
    let retries = inner.calls() - 6;
    assert_eq!(
        retries, 4,
        "1 starting token + 6 calls * 0.5 = 4 whole tokens"
    );
}

#[tokio::test(start_paused = true)]
async fn successful_calls_refill_budget() {
    let inner = Scripted::responses([]);
    let layer = RetryLayer::new(immediate(2, budget(0.25, 0)), StatusClassifier);

    for _ in 0..4 {
        let response = layer
            .layer(inner.clone())
            .oneshot(request("{}"))
            .await
            .expect("a response");
        assert_eq!(response.status(), 200);
    }
    inner.push([Ok(status(503))]);

    let first = layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");
    assert_eq!(first.status(), 200, "four calls earned one retry");
    let calls = inner.calls();

    inner.push([Ok(status(503))]);
    let second = layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");
    assert_eq!(second.status(), 503, "the earned retry is spent");
    assert_eq!(inner.calls(), calls + 1);
}

#[tokio::test(start_paused = true)]
async fn floor_refills_with_time() {
    let config = RetryConfig {
        budget: Some(RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries: 1,
            period: Duration::from_secs(10),
            capacity: 1,
            scope: BudgetScope::Shared,
        }),
        ..exact_config(2)
    };
    let inner = always_503();
    let layer = RetryLayer::new(config, StatusClassifier);
    let call = |inner: &Scripted| layer.layer(inner.clone()).oneshot(request("{}"));

    call(&inner).await.expect("a response");
    assert_eq!(inner.calls(), 2, "the starting token pays one retry");

    // One second passed in the backoff delay; nine more make a full period.
    call(&inner).await.expect("a response");
    assert_eq!(inner.calls(), 3, "the floor has not refilled a token yet");

    tokio::time::advance(Duration::from_secs(9)).await;
    call(&inner).await.expect("a response");
    assert_eq!(inner.calls(), 5, "a period later the floor pays one retry");
}

#[tokio::test(start_paused = true)]
async fn layer_clones_and_services_share_budget() {
    let inner = always_503();
    let layer = RetryLayer::new(immediate(2, budget(0.0, 1)), StatusClassifier);
    let service = layer.clone().layer(inner.clone());

    service
        .clone()
        .oneshot(request("{}"))
        .await
        .expect("a response");
    assert_eq!(inner.calls(), 2);

    service.oneshot(request("{}")).await.expect("a response");
    layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");
    assert_eq!(inner.calls(), 4, "no token left for the later calls");
}

#[tokio::test(start_paused = true)]
async fn separate_layers_have_separate_budgets() {
    let inner = always_503();
    let config = immediate(2, budget(0.0, 1));
    for _ in 0..2 {
        let layer = RetryLayer::new(config.clone(), StatusClassifier);
        layer
            .layer(inner.clone())
            .oneshot(request("{}"))
            .await
            .expect("a response");
    }
    assert_eq!(inner.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn per_tenant_budgets_are_independent() {
    let config = immediate(
        2,
        RetryBudgetConfig {
            scope: BudgetScope::PerTenant { max_tenants: 16 },
            ..budget(0.0, 1)
        },
    );
    let inner = always_503();
    let layer = RetryLayer::new(config, StatusClassifier);
    let calls_for = |request: Request| {
        let inner = inner.clone();
        let service = layer.layer(inner.clone());
        async move {
            let before = inner.calls();
            service.oneshot(request).await.expect("a response");
            inner.calls() - before
        }
    };

    assert_eq!(calls_for(tenant_request("acme")).await, 2);
    assert_eq!(calls_for(tenant_request("acme")).await, 1, "acme is spent");
    assert_eq!(calls_for(tenant_request("globex")).await, 2);
    assert_eq!(calls_for(request("{}")).await, 2, "no tenant, own bucket");
    assert_eq!(calls_for(request("{}")).await, 1);
}

#[tokio::test(start_paused = true)]
async fn shared_scope_ignores_tenant() {
    let inner = always_503();
    let layer = RetryLayer::new(immediate(2, budget(0.0, 1)), StatusClassifier);

    for tenant in ["acme", "globex"] {
        layer
            .layer(inner.clone())
            .oneshot(tenant_request(tenant))
            .await
            .expect("a response");
    }
    assert_eq!(inner.calls(), 3, "one token for both tenants");
}

#[tokio::test(start_paused = true)]
async fn single_attempt_calls_deposit_nothing() {
    let inner = always_503();
    let one = RetryLayer::new(immediate(1, budget(1.0, 0)), StatusClassifier);
    for _ in 0..5 {
        one.layer(inner.clone())
            .oneshot(request("{}"))
            .await
            .expect("a response");
    }
    assert_eq!(inner.calls(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_never_overspend() {
    const CALLS: usize = 400;
    let retry_ratio = 0.25;
    let start = 3;
    let inner = Scripted::responses((0..CALLS * 3).map(|_| status(503)));
    let layer = RetryLayer::new(immediate(3, budget(retry_ratio, start)), StatusClassifier);

    let tasks: Vec<_> = (0..CALLS)
        .map(|_| tokio::spawn(layer.layer(inner.clone()).oneshot(request("{}"))))
        .collect();
    for task in tasks {
        task.await.expect("the task ran").expect("a response");
    }

    let retries = inner.calls() - CALLS;
    let earned = f64::from(start) + retry_ratio * CALLS as f64;
    assert!(
        retries as f64 <= earned,
        "{retries} retries but only {earned} tokens were earned"
    );
    // Every call deposits before its first retry, so at least the tokens of all but the
    // last few calls are spent.
    assert!(retries >= 90, "only {retries} retries ran");
}
