//! The attempt count recorded in responses that took more than one attempt.

mod support;

use agentix_core::{Attempts, BoxError};
use support::{exact_config, request, status, Scripted, StatusClassifier};
use tower::{Layer, ServiceExt};

use agentix_retry::RetryLayer;

#[tokio::test(start_paused = true)]
async fn first_attempt_success_unmarked() {
    let inner = Scripted::responses([]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(response.extensions().get::<Attempts>(), None);
}

#[tokio::test(start_paused = true)]
async fn first_attempt_failure_unmarked() {
    let inner = Scripted::responses([status(400)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 400);
    assert_eq!(response.extensions().get::<Attempts>(), None);
}

#[tokio::test(start_paused = true)]
async fn success_after_retries_records_count() {
    let inner = Scripted::responses([status(503), status(429)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(3)));
}

#[tokio::test(start_paused = true)]
async fn exhausted_failure_records_count() {
    let inner = Scripted::responses([status(500), status(500)]);
    let service = RetryLayer::new(exact_config(2), StatusClassifier).layer(inner);

    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 500);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
}

#[tokio::test(start_paused = true)]
async fn error_after_retries_returned_unchanged() {
    let reset: BoxError = Box::new(std::io::Error::other("reset"));
    let inner = Scripted::new([Ok(status(503)), Err(reset), Err("closed".into())]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    let error = service
        .oneshot(request("{}"))
        .await
        .expect_err("the last error is returned");

    assert_eq!(error.to_string(), "closed");
}
