//! Which results are retried: failure kinds, server hints, local rejections, errors.

mod support;

use std::time::Duration;

use agentix_core::{BoxError, BudgetExceeded, CircuitOpen};
use support::{exact_config, request, status, status_with_header, Scripted, StatusClassifier};
use tower::{Layer, ServiceExt};

use agentix_retry::RetryLayer;

#[tokio::test(start_paused = true)]
async fn transient_statuses_retried() {
    for code in [408, 409, 429, 500, 502, 503, 504, 529] {
        let inner = Scripted::responses([status(code)]);
        let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

        let response = service.oneshot(request("{}")).await.expect("a response");

        assert_eq!(response.status(), 200, "status {code}");
        assert_eq!(inner.calls(), 2, "status {code}");
    }
}

#[tokio::test(start_paused = true)]
async fn client_errors_not_retried() {
    for code in [400, 401, 403, 404, 413, 422] {
        let inner = Scripted::responses([status(code)]);
        let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

        let response = service.oneshot(request("{}")).await.expect("a response");

        assert_eq!(response.status(), code, "status {code}");
        assert_eq!(inner.calls(), 1, "status {code}");
    }
}

#[tokio::test(start_paused = true)]
async fn should_retry_false_stops_503() {
    let inner = Scripted::responses([status_with_header(503, "x-should-retry", "false")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 503);
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn should_retry_true_retries_400() {
    let inner = Scripted::responses([status_with_header(400, "x-should-retry", "true")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn circuit_open_not_retried() {
    let open: BoxError = Box::new(CircuitOpen {
        key: "default:anthropic".into(),
        retry_after: Duration::from_secs(5),
    });
    let inner = Scripted::new([Err(open)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let error = service
        .oneshot(request("{}"))
        .await
        .expect_err("the rejection is returned");

    let open = error
        .downcast_ref::<CircuitOpen>()
        .expect("the error is still a CircuitOpen");
    assert_eq!(open.key, "default:anthropic");
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn budget_exceeded_not_retried() {
    let spent: BoxError = Box::new(BudgetExceeded {
        scope: "client".into(),
        used: 100,
        limit: 100,
    });
    let inner = Scripted::new([Err(spent)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let error = service
        .oneshot(request("{}"))
        .await
        .expect_err("the rejection is returned");

    assert!(error.is::<BudgetExceeded>(), "unexpected error: {error}");
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn connection_errors_retried_then_returned() {
    let errors = (0..3).map(|attempt| -> Result<_, BoxError> {
        Err(Box::new(std::io::Error::other(format!("reset {attempt}"))))
    });
    let inner = Scripted::new(errors);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let error = service
        .oneshot(request("{}"))
        .await
        .expect_err("the last error is returned");

    let io = error
        .downcast_ref::<std::io::Error>()
        .expect("the error keeps its type");
    assert_eq!(
        io.to_string(),
        "reset 2",
        "the last attempt's error is returned"
    );
    assert_eq!(inner.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn rejection_after_failure_stops() {
    let open: BoxError = Box::new(CircuitOpen {
        key: "default:openai".into(),
        retry_after: Duration::from_secs(60),
    });
    let inner = Scripted::new([Ok(status(503)), Err(open)]);
    let service = RetryLayer::new(exact_config(5), StatusClassifier).layer(inner.clone());

    let error = service
        .oneshot(request("{}"))
        .await
        .expect_err("the rejection is returned");

    assert!(error.is::<CircuitOpen>(), "unexpected error: {error}");
    assert_eq!(inner.calls(), 2);
}
