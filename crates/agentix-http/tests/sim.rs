//! `HttpClient` and `LlmAdapter` against the simulated provider over loopback HTTP.

use std::time::Duration;

use agentix_core::{Classify, Failure, FailureKind, MeterUsage, Outcome, RouteModel, Usage};
use agentix_http::{HttpClient, LlmAdapter, Provider, TransportError, TransportErrorKind};
use agentix_sim::{SimServer, Step};
use bytes::Bytes;
use tower::ServiceExt;

fn request_for(provider: Provider, server: &SimServer, model: &str) -> http::Request<Bytes> {
    let body = serde_json::json!({
        "model": model,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Tell me about circuit breakers."}],
    });
    let api_key = match provider {
        Provider::Anthropic => "sk-ant",
        Provider::OpenAi => "sk-oai",
    };
    provider
        .request(&server.base_url(), api_key, &body)
        .unwrap()
}

async fn classify_step(provider: Provider, step: Step) -> Outcome {
    let server = SimServer::start().await.unwrap();
    server.script("m", [step]);
    let result = HttpClient::new()
        .oneshot(request_for(provider, &server, "m"))
        .await;
    assert_eq!(server.requests("m"), 1);
    LlmAdapter::new().classify(result.as_ref())
}

fn expect_failure(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failure(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn reply_is_success_with_usage() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let server = SimServer::start().await.unwrap();
        server.script("m", [Step::ok().usage(21, 8)]);
        let request = request_for(provider, &server, "m");
        let estimate = LlmAdapter::new().estimate(&request);

        let response = HttpClient::new().oneshot(request).await.unwrap();

        let adapter = LlmAdapter::new();
        assert_eq!(
            adapter.classify(Ok(&response)),
            Outcome::Success,
            "{provider}"
        );
        let usage = adapter.usage(&response);
        let expected = Usage {
            input_tokens: 21,
            output_tokens: 8,
            ..Usage::default()
        };
        assert_eq!(usage, Some(expected), "{provider}");
        assert!(estimate.unwrap() >= 100, "{provider}");
    }
}

#[tokio::test]
async fn estimate_bounds_generated_usage() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let server = SimServer::start().await.unwrap();
        let request = request_for(provider, &server, "m");
        let estimate = LlmAdapter::new().estimate(&request).unwrap();

        let response = HttpClient::new().oneshot(request).await.unwrap();

        let usage = LlmAdapter::new()
            .usage(&response)
            .expect("the sim reports usage");
        assert!(usage.total() > 0, "{provider}");
        assert!(
            usage.total() <= estimate,
            "{provider}: {usage:?} > {estimate}"
        );
    }
}

#[tokio::test]
async fn requests_carry_provider_headers() {
    let server = SimServer::start().await.unwrap();
    HttpClient::new()
        .oneshot(request_for(Provider::Anthropic, &server, "claude"))
        .await
        .unwrap();
    HttpClient::new()
        .oneshot(request_for(Provider::OpenAi, &server, "gpt"))
        .await
        .unwrap();

    let anthropic = server.last_request("claude").unwrap();
    assert_eq!(anthropic.path(), "/v1/messages");
    assert_eq!(anthropic.headers()["x-api-key"], "sk-ant");
    assert_eq!(anthropic.headers()["anthropic-version"], "2023-06-01");
    let openai = server.last_request("gpt").unwrap();
    assert_eq!(openai.path(), "/v1/chat/completions");
    assert_eq!(openai.headers()["authorization"], "Bearer sk-oai");
}

#[tokio::test]
async fn error_statuses_classify_per_format() {
    let rows = [
        (Provider::Anthropic, 429, FailureKind::RateLimited),
        (Provider::Anthropic, 529, FailureKind::Overloaded),
        (Provider::Anthropic, 503, FailureKind::Overloaded),
        (Provider::Anthropic, 500, FailureKind::ServerError),
        (Provider::Anthropic, 504, FailureKind::Timeout),
        (Provider::Anthropic, 400, FailureKind::InvalidRequest),
        (Provider::Anthropic, 401, FailureKind::Authentication),
        (Provider::Anthropic, 403, FailureKind::Permission),
        (Provider::Anthropic, 404, FailureKind::NotFound),
        (Provider::Anthropic, 409, FailureKind::Conflict),
        (Provider::Anthropic, 413, FailureKind::InvalidRequest),
        (Provider::OpenAi, 429, FailureKind::RateLimited),
        (Provider::OpenAi, 503, FailureKind::Overloaded),
        (Provider::OpenAi, 500, FailureKind::ServerError),
        (Provider::OpenAi, 400, FailureKind::InvalidRequest),
        (Provider::OpenAi, 401, FailureKind::Authentication),
        (Provider::OpenAi, 404, FailureKind::NotFound),
    ];
    for (provider, status, expected) in rows {
        let failure = expect_failure(classify_step(provider, Step::error(status)).await);
        assert_eq!(failure.kind, expected, "{provider} {status}");
        assert_eq!(failure.status, Some(status), "{provider} {status}");
    }
}

#[tokio::test]
async fn context_length_is_recognised() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let failure =
            expect_failure(classify_step(provider, Step::context_length_exceeded()).await);
        assert_eq!(
            failure.kind,
            FailureKind::ContextLengthExceeded,
            "{provider}"
        );
        assert!(!failure.is_retryable(), "{provider}");
    }
}

#[tokio::test]
async fn insufficient_quota_is_not_retried() {
    let step = Step::error_typed(429, "insufficient_quota");
    let failure = expect_failure(classify_step(Provider::OpenAi, step).await);
    assert_eq!(failure.kind, FailureKind::RateLimited);
    assert_eq!(failure.should_retry, Some(false));
}

#[tokio::test]
async fn delay_hints_arrive_over_http() {
    let step = Step::error(529).retry_after("2").should_retry(true);
    let failure = expect_failure(classify_step(Provider::Anthropic, step).await);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(2)));
    assert_eq!(failure.should_retry, Some(true));

    let step = Step::error(429).retry_after("30").retry_after_ms(250);
    let failure = expect_failure(classify_step(Provider::OpenAi, step).await);
    assert_eq!(failure.retry_after, Some(Duration::from_millis(250)));

    let step = Step::error(429).retry_after("-3");
    let failure = expect_failure(classify_step(Provider::OpenAi, step).await);
    assert_eq!(failure.retry_after, None);
}

#[tokio::test]
async fn html_error_page_falls_back_to_status() {
    let step = Step::raw(502, "text/html", "<html><body>Bad Gateway</body></html>");
    let failure = expect_failure(classify_step(Provider::Anthropic, step).await);
    assert_eq!(failure.kind, FailureKind::ServerError);
    assert_eq!(failure.status, Some(502));
}

#[tokio::test]
async fn dropped_connection_is_connection_failure() {
    let server = SimServer::start().await.unwrap();
    server.script("m", [Step::drop_connection()]);

    let error = HttpClient::new()
        .oneshot(request_for(Provider::Anthropic, &server, "m"))
        .await
        .unwrap_err();

    let transport = error
        .downcast_ref::<TransportError>()
        .expect("a TransportError");
    assert_eq!(transport.kind(), TransportErrorKind::Closed);
    let failure = expect_failure(LlmAdapter::new().classify(Err(&error)));
    assert_eq!(failure.kind, FailureKind::Connection);
    assert!(failure.is_retryable());
}

#[tokio::test]
async fn cut_body_is_body_read_failure() {
    let server = SimServer::start().await.unwrap();
    server.script("m", [Step::cut_after(0)]);

    let error = HttpClient::new()
        .oneshot(request_for(Provider::OpenAi, &server, "m"))
        .await
        .unwrap_err();

    let transport = error
        .downcast_ref::<TransportError>()
        .expect("a TransportError");
    assert_eq!(transport.kind(), TransportErrorKind::BodyRead);
}

#[tokio::test(start_paused = true)]
async fn slow_reply_hits_request_timeout() {
    let server = SimServer::start().await.unwrap();
    server.script("m", [Step::ok().latency(Duration::from_secs(30))]);
    let client = HttpClient::builder()
        .request_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();

    let error = client
        .oneshot(request_for(Provider::Anthropic, &server, "m"))
        .await
        .unwrap_err();

    let failure = expect_failure(LlmAdapter::new().classify(Err(&error)));
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert!(error.to_string().contains("/v1/messages"), "{error}");
}

#[tokio::test]
async fn set_model_reroutes_request() {
    let server = SimServer::start().await.unwrap();
    let adapter = LlmAdapter::new();
    let mut request = request_for(Provider::Anthropic, &server, "primary");
    assert_eq!(adapter.model(&request).as_deref(), Some("primary"));

    adapter.set_model(&mut request, "fallback").unwrap();
    let response = HttpClient::new().oneshot(request).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(server.requests("primary"), 0);
    assert_eq!(server.requests("fallback"), 1);
    let sent = server.last_request("fallback").unwrap().json().unwrap();
    assert_eq!(sent["max_tokens"], 100);
    assert_eq!(sent["messages"][0]["role"], "user");
}
