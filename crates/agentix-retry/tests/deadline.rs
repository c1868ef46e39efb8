//! The overall deadline of a logical call, on the paused tokio clock.

mod support;

use std::time::Duration;

use agentix_core::BoxError;
use support::{
    exact_config, request, status, status_with_header, Request, Response, Scripted,
    StatusClassifier,
};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};

use agentix_retry::{DeadlineExceeded, RetryConfig, RetryLayer};

fn secs(value: u64) -> Duration {
    Duration::from_secs(value)
}

fn with_deadline(max_attempts: u32, deadline: Duration) -> RetryConfig {
    RetryConfig {
        deadline: Some(deadline),
        ..exact_config(max_attempts)
    }
}

/// Returns a provider that responds 503 after `latency` and counts its calls.
fn slow_503(
    latency: Duration,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl tower::Service<Request, Response = Response, Error = BoxError, Future = impl Send> + Clone
{
    service_fn(move |_request: Request| {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            tokio::time::sleep(latency).await;
            Ok::<_, BoxError>(status(503))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn retry_ending_after_deadline_not_started() {
    // Schedule 1 s, 2 s: the second retry would start at 3 s, after the 2.5 s deadline.
    let inner = Scripted::responses((0..5).map(|_| status(503)));
    let layer = RetryLayer::new(
        with_deadline(5, Duration::from_millis(2500)),
        StatusClassifier,
    );

    let start = Instant::now();
    let response = layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(response.status(), 503);
    assert_eq!(inner.calls(), 2);
    assert_eq!(
        start.elapsed(),
        secs(1),
        "the last failure is returned at once"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_ending_exactly_at_deadline_not_started() {
    let inner = Scripted::responses((0..5).map(|_| status(503)));
    let layer = RetryLayer::new(with_deadline(5, secs(3)), StatusClassifier);

    layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(inner.calls(), 2, "a retry at 3 s would have no time left");
}

#[tokio::test(start_paused = true)]
async fn deadline_counts_attempt_latency() {
    let calls = std::sync::Arc::default();
    let inner = slow_503(secs(2), std::sync::Arc::clone(&calls));
    let layer = RetryLayer::new(with_deadline(5, secs(5)), StatusClassifier);

    let start = Instant::now();
    let response = layer
        .layer(inner)
        .oneshot(request("{}"))
        .await
        .expect("a response");

    // Attempt 1 ends at 2 s, the retry starts at 3 s and ends at 5 s; a second retry would
    // start at 7 s.
    assert_eq!(response.status(), 503);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn attempt_in_flight_not_cancelled() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Response>();
    let layer = RetryLayer::new(with_deadline(3, secs(3)), StatusClassifier);
    handle.allow(1);

    let start = Instant::now();
    let call = tokio::spawn(layer.layer(mock).oneshot(request("{}")));
    let (_, respond) = handle.next_request().await.expect("the first attempt");
    tokio::time::sleep(secs(10)).await;
    assert!(!call.is_finished(), "the attempt runs past the deadline");
    respond.send_response(status(200));

    let response = call.await.expect("the task ran").expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(start.elapsed(), secs(10));
}

#[tokio::test(start_paused = true)]
async fn failure_after_deadline_returned_without_retry() {
    let calls = std::sync::Arc::default();
    let inner = slow_503(secs(10), std::sync::Arc::clone(&calls));
    let layer = RetryLayer::new(with_deadline(3, secs(3)), StatusClassifier);

    let start = Instant::now();
    let response = layer
        .layer(inner)
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(response.status(), 503);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(start.elapsed(), secs(10));
}

#[tokio::test(start_paused = true)]
async fn hint_beyond_deadline_returns_at_once() {
    let inner = Scripted::responses([status_with_header(429, "retry-after", "10")]);
    let layer = RetryLayer::new(with_deadline(3, secs(5)), StatusClassifier);

    let start = Instant::now();
    let response = layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(response.status(), 429);
    assert_eq!(inner.calls(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn deadline_measured_per_call() {
    let inner = Scripted::responses((0..4).map(|_| status(503)));
    let service = RetryLayer::new(with_deadline(2, secs(2)), StatusClassifier).layer(inner.clone());

    service
        .clone()
        .oneshot(request("{}"))
        .await
        .expect("a response");
    tokio::time::advance(secs(60)).await;
    service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(inner.calls(), 4, "each call gets its own deadline");
}

#[tokio::test(start_paused = true)]
async fn huge_deadline_behaves_as_none() {
    let inner = Scripted::responses((0..3).map(|_| status(503)));
    let layer = RetryLayer::new(with_deadline(3, Duration::MAX), StatusClassifier);

    let start = Instant::now();
    layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(inner.calls(), 3);
    assert_eq!(start.elapsed(), secs(3));
}

fn cancelling(max_attempts: u32, deadline: Duration) -> RetryConfig {
    RetryConfig {
        cancel_at_deadline: true,
        ..with_deadline(max_attempts, deadline)
    }
}

fn deadline_error(error: &BoxError) -> DeadlineExceeded {
    *error
        .downcast_ref::<DeadlineExceeded>()
        .unwrap_or_else(|| panic!("expected DeadlineExceeded, got {error}"))
}

#[tokio::test(start_paused = true)]
async fn cancel_fails_attempt_in_flight() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Response>();
    let layer = RetryLayer::new(cancelling(3, secs(3)), StatusClassifier);
    handle.allow(1);

    let start = Instant::now();
    let call = tokio::spawn(layer.layer(mock).oneshot(request("{}")));
    let (_, _respond) = handle.next_request().await.expect("the first attempt");

    let error = call
        .await
        .expect("the task ran")
        .expect_err("the call is cancelled");
    assert_eq!(
        deadline_error(&error),
        DeadlineExceeded {
            deadline: secs(3),
            attempts: 1
        }
    );
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn cancel_counts_retried_attempts() {
    let calls = std::sync::Arc::default();
    let inner = slow_503(secs(2), std::sync::Arc::clone(&calls));
    let layer = RetryLayer::new(cancelling(5, secs(4)), StatusClassifier);

    let start = Instant::now();
    let error = layer
        .layer(inner)
        .oneshot(request("{}"))
        .await
        .expect_err("the call is cancelled");

    // Attempt 1 ends at 2 s and the retry starts at 3 s, in flight at the 4 s deadline.
    assert_eq!(deadline_error(&error).attempts, 2);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), secs(4));
    assert!(error.to_string().contains("4.000 s"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn cancel_ends_wait_for_readiness() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Response>();
    let layer = RetryLayer::new(cancelling(3, secs(5)), StatusClassifier);
    handle.allow(1);

    let start = Instant::now();
    let call = tokio::spawn(layer.layer(mock).oneshot(request("{}")));
    let (_, respond) = handle.next_request().await.expect("the first attempt");
    respond.send_response(status(503));

    let error = call
        .await
        .expect("the task ran")
        .expect_err("the call is cancelled");
    assert_eq!(deadline_error(&error).attempts, 1);
    assert_eq!(start.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn cancel_applies_to_single_attempt() {
    let calls = std::sync::Arc::default();
    let inner = slow_503(secs(10), std::sync::Arc::clone(&calls));
    let layer = RetryLayer::new(cancelling(1, secs(3)), StatusClassifier);

    let error = layer
        .layer(inner)
        .oneshot(request("{}"))
        .await
        .expect_err("the call is cancelled");

    assert_eq!(deadline_error(&error).attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn cancel_leaves_timely_results_alone() {
    let inner = Scripted::responses([status(503)]);
    let layer = RetryLayer::new(cancelling(3, secs(3)), StatusClassifier);

    let start = Instant::now();
    let response = layer
        .layer(inner.clone())
        .oneshot(request("{}"))
        .await
        .expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 2);
    assert_eq!(start.elapsed(), secs(1));
}
