//! Readiness: every attempt goes to a service that was readied for it.

mod support;

use std::time::Duration;

use agentix_core::BoxError;
use support::{
    exact_config, ready_and_call, request, status, Response, Scripted, StatusClassifier,
};
use tower::limit::ConcurrencyLimit;
use tower::{Layer, ServiceExt};

use agentix_retry::{RetryConfig, RetryLayer};

#[tokio::test(start_paused = true)]
async fn concurrency_limit_thousand_sequential_calls() {
    let inner = Scripted::responses([]);
    let limited = ConcurrencyLimit::new(inner.clone(), 1);
    let mut service = RetryLayer::new(exact_config(3), StatusClassifier).layer(limited);

    for call in 0..1_000 {
        let response = ready_and_call(&mut service, request("{}"))
            .await
            .expect("a response");
        assert_eq!(response.status(), 200, "call {call}");
    }
    assert_eq!(inner.calls(), 1_000);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_with_retries() {
    let inner = Scripted::responses([]);
    let limited = ConcurrencyLimit::new(inner.clone(), 1);
    let config = RetryConfig {
        base_delay: Duration::from_millis(10),
        ..exact_config(3)
    };
    let mut service = RetryLayer::new(config, StatusClassifier).layer(limited);

    for call in 0..1_000 {
        // Each call fails once, then succeeds on its retry.
        inner.push([Ok(status(503))]);
        let response = ready_and_call(&mut service, request("{}"))
            .await
            .expect("a response");
        assert_eq!(response.status(), 200, "call {call}");
    }
    assert_eq!(inner.calls(), 2_000);
}

#[tokio::test(start_paused = true)]
async fn clones_are_readied_before_calls() {
    // `Scripted` panics when an instance is called without `poll_ready`, and each clone
    // starts not ready.
    let inner = Scripted::responses([status(503), status(503)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let mut first = service.clone();
    let mut second = service.clone();
    let response = ready_and_call(&mut first, request("{}"))
        .await
        .expect("a response");
    assert_eq!(response.status(), 200);

    let response = ready_and_call(&mut second, request("{}"))
        .await
        .expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_waits_for_inner_readiness() {
    let (mock, mut handle) = tower_test::mock::pair::<support::Request, Response>();
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(mock);
    handle.allow(1);

    let call = tokio::spawn(service.oneshot(request("{}")));

    let (_, respond) = handle.next_request().await.expect("the first attempt");
    respond.send_response(status(503));

    // The backoff delay is 1 s, but the inner service admits nothing more yet.
    let waited = tokio::time::timeout(Duration::from_secs(10), handle.next_request()).await;
    assert!(
        waited.is_err(),
        "no attempt may be sent before the service is ready"
    );
    assert!(!call.is_finished());

    handle.allow(1);
    let (retried, respond) = handle.next_request().await.expect("the retry");
    assert_eq!(retried.body(), "{}");
    respond.send_response(status(200));

    let response = call.await.expect("the task ran").expect("a response");
    assert_eq!(response.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn readiness_error_ends_the_call() {
    let (mock, mut handle) = tower_test::mock::pair::<support::Request, Response>();
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(mock);
    handle.allow(1);

    let call = tokio::spawn(service.oneshot(request("{}")));

    let (_, respond) = handle.next_request().await.expect("the first attempt");
    respond.send_response(status(503));
    tokio::time::sleep(Duration::from_secs(2)).await;
    handle.send_error(std::io::Error::other("inner service closed"));

    let error: BoxError = call
        .await
        .expect("the task ran")
        .expect_err("the readiness error is returned");
    assert_eq!(error.to_string(), "inner service closed");
}
