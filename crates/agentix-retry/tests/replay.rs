//! How requests are copied for each attempt.

mod support;

use support::{exact_config, request, status, OneShot, Scripted, StatusClassifier};
use tower::{Layer, ServiceExt};

use agentix_retry::RetryLayer;

#[tokio::test(start_paused = true)]
async fn replays_are_byte_identical() {
    let inner = Scripted::responses([status(503), status(500)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());
    let body = r#"{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[]}"#;

    let response = service.oneshot(request(body)).await.expect("a response");

    assert_eq!(response.status(), 200);
    let received = inner.received();
    assert_eq!(received.len(), 3);
    let original = request(body);
    for (attempt, copy) in received.iter().enumerate() {
        assert_eq!(copy.method, original.method(), "attempt {attempt}");
        assert_eq!(&copy.uri, original.uri(), "attempt {attempt}");
        assert_eq!(&copy.headers, original.headers(), "attempt {attempt}");
        assert_eq!(copy.body.as_bytes(), body.as_bytes(), "attempt {attempt}");
    }
}

#[tokio::test(start_paused = true)]
async fn non_replayable_request_sent_once() {
    let inner = Scripted::responses([status(503)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let response = service
        .oneshot(OneShot(request("{}")))
        .await
        .expect("a response");

    assert_eq!(response.status(), 503, "the first result is returned");
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn non_replayable_success_returned() {
    let inner = Scripted::responses([]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let response = service
        .oneshot(OneShot(request("{}")))
        .await
        .expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 1);
}
