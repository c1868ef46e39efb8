//! The classification table of docs/classification.md, row by row, against agentix-sim over
//! real HTTP: for each provider response, whether retry re-sends it, whether the breaker counts
//! it, and whether fallback moves to the next model.

use std::sync::Arc;
use std::time::Duration;

use agentix::core::{Classify, FailureKind, Outcome};
use agentix::layers::{circuit_breaker, fallback, retry};
use agentix::{HttpClient, LlmAdapter, Provider};
use agentix_sim::{SimServer, Step};
use serde_json::json;
use tower::{Layer, ServiceExt};

const PRIMARY: &str = "primary-model";
const SECOND: &str = "second-model";

/// One row: a provider response and the decision of each layer.
struct Row {
    provider: Provider,
    answer: &'static str,
    step: fn() -> Step,
    kind: FailureKind,
    retried: bool,
    counted: bool,
    falls_back: bool,
}

const fn row(
    provider: Provider,
    answer: &'static str,
    step: fn() -> Step,
    kind: FailureKind,
    decisions: (bool, bool, bool),
) -> Row {
    Row {
        provider,
        answer,
        step,
        kind,
        retried: decisions.0,
        counted: decisions.1,
        falls_back: decisions.2,
    }
}

const YES: (bool, bool, bool) = (true, true, true);
const NO: (bool, bool, bool) = (false, false, false);

fn table() -> Vec<Row> {
    use FailureKind::*;
    use Provider::{Anthropic as A, OpenAi as O};
    vec![
        row(
            A,
            "400 invalid_request_error",
            || Step::error(400),
            InvalidRequest,
            NO,
        ),
        row(
            A,
            "400 prompt is too long",
            Step::context_length_exceeded,
            ContextLengthExceeded,
            NO,
        ),
        row(
            A,
            "401 authentication_error",
            || Step::error(401),
            Authentication,
            NO,
        ),
        row(
            A,
            "403 permission_error",
            || Step::error(403),
            Permission,
            NO,
        ),
        row(A, "404 not_found_error", || Step::error(404), NotFound, NO),
        row(
            A,
            "413 request_too_large",
            || Step::error(413),
            InvalidRequest,
            NO,
        ),
        row(
            A,
            "429 rate_limit_error",
            || Step::error(429),
            RateLimited,
            YES,
        ),
        row(A, "500 api_error", || Step::error(500), ServerError, YES),
        row(
            A,
            "529 overloaded_error",
            || Step::error(529),
            Overloaded,
            YES,
        ),
        row(
            A,
            "503 with x-should-retry: false",
            || Step::error(503).should_retry(false),
            Overloaded,
            (false, true, true),
        ),
        row(
            A,
            "400 with x-should-retry: true",
            || Step::error(400).should_retry(true),
            InvalidRequest,
            (true, false, false),
        ),
        row(
            A,
            "502 HTML page from a proxy",
            || Step::raw(502, "text/html", "<html>Bad Gateway</html>"),
            ServerError,
            YES,
        ),
        row(
            A,
            "connection closed without a response",
            Step::drop_connection,
            Connection,
            YES,
        ),
        row(
            O,
            "400 invalid_request_error",
            || Step::error(400),
            InvalidRequest,
            NO,
        ),
        row(
            O,
            "400 context_length_exceeded",
            Step::context_length_exceeded,
            ContextLengthExceeded,
            NO,
        ),
        row(
            O,
            "401 invalid_api_key",
            || Step::error(401),
            Authentication,
            NO,
        ),
        row(O, "403", || Step::error(403), Permission, NO),
        row(O, "404 model_not_found", || Step::error(404), NotFound, NO),
        row(
            O,
            "429 rate_limit_exceeded",
            || Step::error(429),
            RateLimited,
            YES,
        ),
        row(
            O,
            "429 insufficient_quota",
            || Step::error_typed(429, "insufficient_quota"),
            RateLimited,
            (false, true, true),
        ),
        row(O, "500 server_error", || Step::error(500), ServerError, YES),
        row(
            O,
            "503 service_unavailable",
            || Step::error(503),
            Overloaded,
            YES,
        ),
        row(
            O,
            "connection closed without a response",
            Step::drop_connection,
            Connection,
            YES,
        ),
    ]
}

fn request(sim: &SimServer, provider: Provider) -> http::Request<bytes::Bytes> {
    let body = json!({
        "model": PRIMARY,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    });
    provider
        .request(&sim.base_url(), "test-key", &body)
        .expect("valid request")
}

fn label(row: &Row) -> String {
    format!("{} {}", row.provider, row.answer)
}

#[tokio::test]
async fn each_answer_has_its_kind() {
    for row in table() {
        let sim = SimServer::start().await.unwrap();
        sim.script(PRIMARY, [(row.step)()]);

        let result = HttpClient::new().oneshot(request(&sim, row.provider)).await;

        match LlmAdapter::default().classify(result.as_ref()) {
            Outcome::Failure(failure) => assert_eq!(failure.kind, row.kind, "{}", label(&row)),
            other => panic!("{}: expected a failure, got {other:?}", label(&row)),
        }
    }
}

#[tokio::test]
async fn retry_resends_only_retryable_answers() {
    for row in table() {
        let sim = SimServer::start().await.unwrap();
        sim.script(PRIMARY, [(row.step)()]);
        let layer = retry::RetryLayer::new(
            retry::RetryConfig {
                base_delay: Duration::ZERO,
                jitter: 0.0,
                ..retry::RetryConfig::default()
            },
            LlmAdapter::default(),
        );

        let _ = layer
            .layer(HttpClient::new())
            .oneshot(request(&sim, row.provider))
            .await;

        let expected = if row.retried { 2 } else { 1 };
        assert_eq!(sim.requests(PRIMARY), expected, "{}", label(&row));
    }
}

#[tokio::test]
async fn breaker_counts_only_provider_failures() {
    for row in table() {
        let sim = SimServer::start().await.unwrap();
        sim.script(PRIMARY, [(row.step)()]);
        let mut config = circuit_breaker::BreakerConfig::default();
        config.policy.failure_threshold = 1;
        let service = circuit_breaker::CircuitBreakerLayer::new(
            config,
            circuit_breaker::InMemoryCircuitBreakerBackend::new(),
            LlmAdapter::default(),
        )
        .layer(HttpClient::new());

        let _ = service.clone().oneshot(request(&sim, row.provider)).await;
        let second = service.oneshot(request(&sim, row.provider)).await;

        let opened = matches!(&second, Err(error) if error.is::<agentix::CircuitOpen>());
        assert_eq!(opened, row.counted, "{}", label(&row));
    }
}

#[tokio::test]
async fn fallback_moves_on_only_from_transient_failures() {
    for row in table() {
        let sim = SimServer::start().await.unwrap();
        sim.script(PRIMARY, [(row.step)()]);
        let layer = fallback::FallbackLayer::new(
            fallback::FallbackConfig {
                primary: Some(Arc::from(PRIMARY)),
                models: vec![Arc::from(SECOND)],
                ..fallback::FallbackConfig::default()
            },
            LlmAdapter::default(),
        );

        let _ = layer
            .layer(HttpClient::new())
            .oneshot(request(&sim, row.provider))
            .await;

        let expected = u64::from(row.falls_back);
        assert_eq!(sim.requests(SECOND), expected, "{}", label(&row));
    }
}
