use std::time::Duration;

use agentix_core::{BudgetExceeded, CircuitOpen, Rejection};

use super::*;

/// Returns a fixed "now", 2026-01-01T00:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn response(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Response<LlmBody> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(LlmBody::from(body.to_owned())).unwrap()
}

fn failure(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failure(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn kind_of(status: u16, body: &str) -> FailureKind {
    failure(classify_response(&response(status, body, &[]), now())).kind
}

fn anthropic_error(error_type: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "error": {"type": error_type, "message": message}})
        .to_string()
}

fn openai_error(error_type: Option<&str>, code: Option<&str>, message: &str) -> String {
    serde_json::json!({"error": {"type": error_type, "code": code, "message": message, "param": null}})
        .to_string()
}

#[test]
fn success_statuses() {
    for status in [200, 201, 204, 299] {
        let outcome = classify_response(&response(status, "{}", &[]), now());
        assert_eq!(outcome, Outcome::Success, "{status}");
    }
}

#[test]
fn status_rows_without_body() {
    let rows = [
        (408, FailureKind::Timeout),
        (409, FailureKind::Conflict),
        (429, FailureKind::RateLimited),
        (503, FailureKind::Overloaded),
        (529, FailureKind::Overloaded),
        (500, FailureKind::ServerError),
        (502, FailureKind::ServerError),
        (504, FailureKind::ServerError),
        (400, FailureKind::InvalidRequest),
        (413, FailureKind::InvalidRequest),
        (422, FailureKind::InvalidRequest),
        (401, FailureKind::Authentication),
        (403, FailureKind::Permission),
        (404, FailureKind::NotFound),
        (402, FailureKind::Other),
        (418, FailureKind::Other),
        (302, FailureKind::Other),
    ];
    for (status, expected) in rows {
        let failure = failure(classify_response(&response(status, "", &[]), now()));
        assert_eq!(failure.kind, expected, "status {status}");
        assert_eq!(failure.status, Some(status), "status {status}");
        assert_eq!(failure.retry_after, None, "status {status}");
        assert_eq!(failure.should_retry, None, "status {status}");
    }
}

#[test]
fn anthropic_error_type_rows() {
    let rows = [
        ("rate_limit_error", 429, FailureKind::RateLimited),
        ("overloaded_error", 529, FailureKind::Overloaded),
        ("api_error", 500, FailureKind::ServerError),
        ("timeout_error", 504, FailureKind::Timeout),
        ("invalid_request_error", 400, FailureKind::InvalidRequest),
        ("request_too_large", 413, FailureKind::InvalidRequest),
        ("authentication_error", 401, FailureKind::Authentication),
        ("permission_error", 403, FailureKind::Permission),
        ("not_found_error", 404, FailureKind::NotFound),
    ];
    for (error_type, status, expected) in rows {
        let body = anthropic_error(error_type, "something failed");
        assert_eq!(kind_of(status, &body), expected, "{error_type}");
    }
}

#[test]
fn body_type_wins_over_status() {
    // A known error type decides the kind even when the status maps to another one.
    let body = anthropic_error("overloaded_error", "Overloaded");
    let failure = failure(classify_response(&response(500, &body, &[]), now()));
    assert_eq!(failure.kind, FailureKind::Overloaded);
    assert_eq!(failure.status, Some(500));
}

#[test]
fn generic_types_defer_to_status() {
    let rows = [
        (
            anthropic_error("api_error", "x"),
            503,
            FailureKind::Overloaded,
        ),
        (
            anthropic_error("api_error", "x"),
            502,
            FailureKind::ServerError,
        ),
        (
            anthropic_error("invalid_request_error", "x"),
            409,
            FailureKind::Conflict,
        ),
        (
            anthropic_error("invalid_request_error", "x"),
            408,
            FailureKind::Timeout,
        ),
        (
            anthropic_error("invalid_request_error", "x"),
            418,
            FailureKind::InvalidRequest,
        ),
        (
            anthropic_error("api_error", "x"),
            418,
            FailureKind::ServerError,
        ),
        (
            openai_error(Some("server_error"), Some("service_unavailable"), "x"),
            503,
            FailureKind::Overloaded,
        ),
    ];
    for (body, status, expected) in rows {
        assert_eq!(kind_of(status, &body), expected, "{status} {body}");
    }
}

#[test]
fn anthropic_context_length_from_message() {
    let body = anthropic_error(
        "invalid_request_error",
        "prompt is too long: 208000 tokens > 200000 maximum",
    );
    assert_eq!(kind_of(400, &body), FailureKind::ContextLengthExceeded);

    let body = anthropic_error(
        "invalid_request_error",
        "input length and `max_tokens` exceed context limit: 197000 + 8192 > 200000",
    );
    assert_eq!(kind_of(400, &body), FailureKind::ContextLengthExceeded);
}

#[test]
fn openai_code_rows() {
    let rows = [
        (
            Some("invalid_request_error"),
            Some("context_length_exceeded"),
            400,
            FailureKind::ContextLengthExceeded,
        ),
        (
            Some("requests"),
            Some("rate_limit_exceeded"),
            429,
            FailureKind::RateLimited,
        ),
        (
            Some("tokens"),
            Some("rate_limit_exceeded"),
            429,
            FailureKind::RateLimited,
        ),
        (
            Some("insufficient_quota"),
            Some("insufficient_quota"),
            429,
            FailureKind::RateLimited,
        ),
        (
            Some("invalid_request_error"),
            Some("invalid_api_key"),
            401,
            FailureKind::Authentication,
        ),
        (
            Some("invalid_request_error"),
            Some("model_not_found"),
            404,
            FailureKind::NotFound,
        ),
        (
            Some("invalid_request_error"),
            Some("content_policy_violation"),
            400,
            FailureKind::ContentPolicy,
        ),
        (Some("server_error"), None, 500, FailureKind::ServerError),
        (
            Some("invalid_request_error"),
            None,
            400,
            FailureKind::InvalidRequest,
        ),
    ];
    for (error_type, code, status, expected) in rows {
        let body = openai_error(error_type, code, "failed");
        assert_eq!(kind_of(status, &body), expected, "{error_type:?} {code:?}");
    }
}

#[test]
fn openai_context_length_from_message() {
    let body = openai_error(
        Some("invalid_request_error"),
        None,
        "This model's maximum context length is 8192 tokens.",
    );
    assert_eq!(kind_of(400, &body), FailureKind::ContextLengthExceeded);
}

#[test]
fn insufficient_quota_is_not_retryable() {
    let body = openai_error(
        Some("insufficient_quota"),
        Some("insufficient_quota"),
        "quota",
    );
    let failure = failure(classify_response(&response(429, &body, &[]), now()));
    assert_eq!(failure.kind, FailureKind::RateLimited);
    assert_eq!(failure.should_retry, Some(false));
    assert!(!failure.is_retryable());
}

#[test]
fn explicit_should_retry_overrides_quota_rule() {
    let body = openai_error(
        Some("insufficient_quota"),
        Some("insufficient_quota"),
        "quota",
    );
    let response = response(429, &body, &[("x-should-retry", "true")]);
    assert_eq!(
        failure(classify_response(&response, now())).should_retry,
        Some(true)
    );
}

#[test]
fn unknown_error_types_fall_back_to_status() {
    let rows = [
        (
            anthropic_error("brand_new_error", "?"),
            503,
            FailureKind::Overloaded,
        ),
        (
            anthropic_error("billing_error", "?"),
            402,
            FailureKind::Other,
        ),
        (
            openai_error(Some("mystery"), Some("mystery_code"), "?"),
            429,
            FailureKind::RateLimited,
        ),
        (openai_error(None, None, "?"), 500, FailureKind::ServerError),
        (
            r#"{"error":{"code":42}}"#.to_owned(),
            401,
            FailureKind::Authentication,
        ),
    ];
    for (body, status, expected) in rows {
        assert_eq!(kind_of(status, &body), expected, "{body}");
    }
}

#[test]
fn malformed_error_bodies_fall_back_to_status() {
    let bodies = [
        "",
        "<html>Bad Gateway</html>",
        "{",
        "null",
        "[]",
        r#"{"error":"plain string"}"#,
        r#"{"type":"error"}"#,
        r#"{"type":"error","error":{"type":7}}"#,
        r#"{"detail":"not found"}"#,
    ];
    for body in bodies {
        assert_eq!(kind_of(502, body), FailureKind::ServerError, "{body:?}");
        assert_eq!(kind_of(404, body), FailureKind::NotFound, "{body:?}");
    }
}

#[test]
fn invalid_utf8_body_falls_back_to_status() {
    let response = Response::builder()
        .status(529)
        .body(LlmBody::from(vec![0xff, 0xfe, b'{']))
        .unwrap();
    assert_eq!(
        failure(classify_response(&response, now())).kind,
        FailureKind::Overloaded
    );
}

#[test]
fn hints_are_read_from_headers() {
    let response = response(
        529,
        &anthropic_error("overloaded_error", "Overloaded"),
        &[("retry-after", "3"), ("x-should-retry", "false")],
    );
    let failure = failure(classify_response(&response, now()));
    assert_eq!(failure.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(failure.should_retry, Some(false));
}

#[test]
fn reset_headers_apply_to_rate_limits_only() {
    let headers = [
        ("x-ratelimit-reset-requests", "20s"),
        ("x-ratelimit-remaining-requests", "0"),
    ];
    let limited = failure(classify_response(&response(429, "", &headers), now()));
    assert_eq!(limited.retry_after, Some(Duration::from_secs(20)));

    let server_error = failure(classify_response(&response(500, "", &headers), now()));
    assert_eq!(server_error.retry_after, None);
}

#[test]
fn retry_after_wins_over_reset_headers() {
    let headers = [
        ("retry-after", "2"),
        ("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:50Z"),
    ];
    let failure = failure(classify_response(&response(429, "", &headers), now()));
    assert_eq!(failure.retry_after, Some(Duration::from_secs(2)));
}

#[test]
fn errors_check_rejections_first() {
    let open: BoxError = Box::new(CircuitOpen {
        key: "default:anthropic".into(),
        retry_after: Duration::from_secs(1),
    });
    let spent: BoxError = Box::new(BudgetExceeded {
        scope: "client".into(),
        used: 5,
        limit: 5,
    });
    assert_eq!(
        classify_error(&open),
        Outcome::Rejected(Rejection::CircuitOpen)
    );
    assert_eq!(
        classify_error(&spent),
        Outcome::Rejected(Rejection::BudgetExceeded)
    );
}

#[test]
fn transport_error_kinds() {
    let rows = [
        (TransportErrorKind::Connect, FailureKind::Connection),
        (TransportErrorKind::Closed, FailureKind::Connection),
        (TransportErrorKind::BodyRead, FailureKind::Connection),
        (TransportErrorKind::Timeout, FailureKind::Timeout),
    ];
    for (transport, expected) in rows {
        let error: BoxError = Box::new(TransportError::new(
            transport,
            "POST http://h/".into(),
            None,
        ));
        let failure = failure(classify_error(&error));
        assert_eq!(failure.kind, expected, "{transport:?}");
        assert_eq!(failure.status, None);
    }
}

#[test]
fn oversized_success_body_is_not_transient() {
    let error: BoxError = Box::new(TransportError::body_too_large(
        "POST http://h/".into(),
        http::StatusCode::OK,
        None,
    ));

    let failure = failure(classify_error(&error));

    assert_eq!(failure.kind, FailureKind::Other);
    assert_eq!(failure.status, Some(200));
    assert!(!failure.is_retryable());
}

#[derive(Debug)]
struct Wrapper(BoxError);

impl std::fmt::Display for Wrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wrapped")
    }
}

impl StdError for Wrapper {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.0)
    }
}

#[test]
fn wrapped_transport_error_is_found() {
    let inner: BoxError = Box::new(TransportError::timed_out(
        "POST http://h/".into(),
        Duration::from_secs(1),
    ));
    let error: BoxError = Box::new(Wrapper(inner));
    assert_eq!(failure(classify_error(&error)).kind, FailureKind::Timeout);
}

#[test]
fn io_errors_are_connection_or_timeout() {
    let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    let timed_out: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut));
    assert_eq!(
        failure(classify_error(&reset)).kind,
        FailureKind::Connection
    );
    assert_eq!(
        failure(classify_error(&timed_out)).kind,
        FailureKind::Timeout
    );
}

#[tokio::test(start_paused = true)]
async fn tokio_elapsed_is_timeout() {
    let elapsed = tokio::time::timeout(Duration::from_millis(1), std::future::pending::<()>())
        .await
        .unwrap_err();
    let error: BoxError = Box::new(elapsed);
    assert_eq!(failure(classify_error(&error)).kind, FailureKind::Timeout);
}

#[test]
fn unknown_errors_are_other() {
    let error: BoxError = "something else".into();
    assert_eq!(failure(classify_error(&error)).kind, FailureKind::Other);
}

#[test]
fn classify_trait_uses_both_paths() {
    let adapter = LlmAdapter::new();
    let ok = response(200, "{}", &[]);
    assert_eq!(adapter.classify(Ok(&ok)), Outcome::Success);
    let error: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
    assert_eq!(
        failure(adapter.classify(Err(&error))).kind,
        FailureKind::Connection
    );
}

#[test]
fn stream_error_kinds() {
    let provider_error = |error_type: &str, message: &str| StreamErrorKind::ProviderError {
        error_type: error_type.to_owned(),
        message: message.to_owned(),
    };
    let cases = [
        (StreamErrorKind::Interrupted, FailureKind::Connection),
        (StreamErrorKind::IdleTimeout, FailureKind::Timeout),
        (StreamErrorKind::Malformed, FailureKind::Other),
        (
            provider_error("overloaded_error", "Overloaded"),
            FailureKind::Overloaded,
        ),
        (
            provider_error("rate_limit_exceeded", "slow down"),
            FailureKind::RateLimited,
        ),
        (
            provider_error("server_error", "boom"),
            FailureKind::ServerError,
        ),
        (
            provider_error(
                "invalid_request_error",
                "prompt is too long: 9 tokens > 8 maximum",
            ),
            FailureKind::ContextLengthExceeded,
        ),
        (
            provider_error("something_new", ""),
            FailureKind::ServerError,
        ),
    ];
    for (kind, expected) in cases {
        let error: BoxError = Box::new(StreamError::new(kind.clone(), 10, "detail"));
        assert_eq!(failure(classify_error(&error)).kind, expected, "{kind:?}");
    }
}

#[test]
fn streamed_success_is_success() {
    let chunks = http_body_util::Full::new(bytes::Bytes::from_static(b"data: [DONE]\n\n"));
    let response = Response::new(LlmBody::sse(chunks, None, 1024));
    assert_eq!(classify_response(&response, now()), Outcome::Success);
}
