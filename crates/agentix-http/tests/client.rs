//! `HttpClient` and `LlmAdapter` over real loopback HTTP, against small local servers.

mod support;

use std::time::Duration;

use agentix_core::{Classify, FailureKind, MeterUsage, Outcome, Usage};
use agentix_http::{anthropic, openai, HttpClient, LlmAdapter, TransportError, TransportErrorKind};
use support::Reply;
use tower::ServiceExt;

fn anthropic_body() -> serde_json::Value {
    serde_json::json!({
        "model": "claude-test",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    })
}

fn transport_error(error: &agentix_core::BoxError) -> &TransportError {
    error
        .downcast_ref::<TransportError>()
        .unwrap_or_else(|| panic!("expected a TransportError, got {error:?}"))
}

fn failure_kind(outcome: Outcome) -> FailureKind {
    match outcome {
        Outcome::Failure(failure) => failure.kind,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn success_reads_whole_body_and_usage() {
    let reply = Reply::new(
        200,
        r#"{"id":"msg_1","type":"message","usage":{"input_tokens":11,"output_tokens":4}}"#,
    )
    .header("content-type", "application/json");
    let server = support::serve(reply).await;

    let request =
        anthropic::messages_request(&server.base_url(), "key", &anthropic_body()).unwrap();
    let response = HttpClient::new().oneshot(request).await.unwrap();

    let adapter = LlmAdapter::new();
    assert_eq!(response.status(), 200);
    assert_eq!(adapter.classify(Ok(&response)), Outcome::Success);
    let expected = Usage {
        input_tokens: 11,
        output_tokens: 4,
        ..Usage::default()
    };
    assert_eq!(adapter.usage(&response), Some(expected));
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn error_status_is_a_response_with_hints() {
    let reply = Reply::new(
        429,
        r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
    )
    .header("retry-after-ms", "1500")
    .header("x-should-retry", "true");
    let server = support::serve(reply).await;

    let body = serde_json::json!({"model": "gpt-test", "messages": []});
    let request = openai::chat_request(&server.base_url(), "key", &body).unwrap();
    let response = HttpClient::new().oneshot(request).await.unwrap();

    match LlmAdapter::new().classify(Ok(&response)) {
        Outcome::Failure(failure) => {
            assert_eq!(failure.kind, FailureKind::RateLimited);
            assert_eq!(failure.status, Some(429));
            assert_eq!(failure.retry_after, Some(Duration::from_millis(1500)));
            assert_eq!(failure.should_retry, Some(true));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_connect_error() {
    let addr = support::closed_port().await;
    let base_url = format!("http://{addr}");
    let request = anthropic::messages_request(&base_url, "sk-secret", &anthropic_body()).unwrap();

    let error = HttpClient::new().oneshot(request).await.unwrap_err();

    let transport = transport_error(&error);
    assert_eq!(transport.kind(), TransportErrorKind::Connect);
    let message = error.to_string();
    assert!(
        message.contains(&format!("{addr}/v1/messages")),
        "{message}"
    );
    assert!(!message.contains("sk-secret"), "{message}");
    let outcome = LlmAdapter::new().classify(Err(&error));
    assert_eq!(failure_kind(outcome), FailureKind::Connection);
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out() {
    let server = support::silent().await;
    let client = HttpClient::builder()
        .request_timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let request = anthropic::messages_request(&server.base_url(), "k", &anthropic_body()).unwrap();

    let error = client.oneshot(request).await.unwrap_err();

    assert_eq!(transport_error(&error).kind(), TransportErrorKind::Timeout);
    assert!(error.to_string().contains("after 5.000 s"), "{error}");
    let outcome = LlmAdapter::new().classify(Err(&error));
    assert_eq!(failure_kind(outcome), FailureKind::Timeout);
}

#[tokio::test]
async fn hang_up_before_response_is_closed() {
    let server = support::hang_up().await;
    let request = anthropic::messages_request(&server.base_url(), "k", &anthropic_body()).unwrap();

    let error = HttpClient::new().oneshot(request).await.unwrap_err();

    assert_eq!(transport_error(&error).kind(), TransportErrorKind::Closed);
    let outcome = LlmAdapter::new().classify(Err(&error));
    assert_eq!(failure_kind(outcome), FailureKind::Connection);
}

#[tokio::test]
async fn truncated_body_is_body_read_error() {
    let server = support::truncated_body().await;
    let request = anthropic::messages_request(&server.base_url(), "k", &anthropic_body()).unwrap();

    let error = HttpClient::new().oneshot(request).await.unwrap_err();

    assert_eq!(transport_error(&error).kind(), TransportErrorKind::BodyRead);
    let outcome = LlmAdapter::new().classify(Err(&error));
    assert_eq!(failure_kind(outcome), FailureKind::Connection);
}

#[tokio::test]
async fn https_to_plain_server_fails_handshake() {
    let server = support::serve(Reply::new(200, "{}")).await;
    let base_url = format!("https://{}", server.addr);
    let request = anthropic::messages_request(&base_url, "k", &anthropic_body()).unwrap();

    let error = HttpClient::new().oneshot(request).await.unwrap_err();

    assert_eq!(transport_error(&error).kind(), TransportErrorKind::Connect);
    assert!(error.to_string().contains("https://127.0.0.1"), "{error}");
    assert_eq!(server.request_count(), 0, "no HTTP request got through");
}

#[tokio::test]
async fn oversized_success_body_is_not_retryable() {
    let server = support::serve(Reply::new(200, "x".repeat(2048))).await;
    let client = HttpClient::builder()
        .max_response_bytes(1024)
        .build()
        .unwrap();
    let request = anthropic::messages_request(&server.base_url(), "k", &anthropic_body()).unwrap();

    let error = client.oneshot(request).await.unwrap_err();

    let transport = transport_error(&error);
    assert_eq!(transport.kind(), TransportErrorKind::BodyTooLarge);
    assert_eq!(transport.status(), Some(http::StatusCode::OK));
    assert!(
        error.to_string().contains("length limit exceeded"),
        "{error}"
    );
    let outcome = LlmAdapter::new().classify(Err(&error));
    match outcome {
        Outcome::Failure(failure) => {
            assert_eq!(failure.kind, FailureKind::Other);
            assert_eq!(failure.status, Some(200));
            assert!(!failure.is_retryable(), "the provider served the call");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_error_body_is_body_read_error() {
    let server = support::serve(Reply::new(500, "x".repeat(2048))).await;
    let client = HttpClient::builder()
        .max_response_bytes(1024)
        .build()
        .unwrap();
    let request = anthropic::messages_request(&server.base_url(), "k", &anthropic_body()).unwrap();

    let error = client.oneshot(request).await.unwrap_err();

    let transport = transport_error(&error);
    assert_eq!(transport.kind(), TransportErrorKind::BodyRead);
    assert_eq!(transport.status(), None);
    let outcome = LlmAdapter::new().classify(Err(&error));
    assert_eq!(failure_kind(outcome), FailureKind::Connection);
}

#[tokio::test]
async fn clones_share_the_connection_pool() {
    let server = support::serve(Reply::new(200, "{}")).await;
    let client = HttpClient::new();
    for _ in 0..3 {
        let request =
            anthropic::messages_request(&server.base_url(), "k", &anthropic_body()).unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(server.request_count(), 3);
    assert_eq!(
        server.connection_count(),
        1,
        "the clones reuse one pooled connection"
    );
}
