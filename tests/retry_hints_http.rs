//! Retry over real HTTP honours delay hints that change from response to response, timed on
//! tokio's paused clock.

use std::time::Duration;

use agentix::layers::retry::{RetryConfig, RetryLayer};
use agentix::{HttpClient, LlmAdapter, Provider};
use agentix_sim::{SimServer, Step};
use serde_json::json;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

const MODEL: &str = "claude-opus-4-20250514";

#[tokio::test(start_paused = true)]
async fn changing_hints_wait_then_stop_above_cap() {
    let sim = SimServer::start().await.unwrap();
    sim.script(
        MODEL,
        [
            Step::error(429).retry_after("1"),
            Step::error(429).retry_after("10"),
            Step::error(429).retry_after("40"),
        ],
    );
    let service = RetryLayer::new(
        RetryConfig {
            max_attempts: 5,
            jitter: 0.0,
            ..RetryConfig::default()
        },
        LlmAdapter::default(),
    )
    .layer(HttpClient::new());
    let request = Provider::Anthropic
        .request(
            &sim.base_url(),
            "test-key",
            &json!({"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap();

    let started = Instant::now();
    let response = service.oneshot(request).await.expect("a 429 response");

    assert_eq!(response.status(), 429, "the 40 s hint exceeds the 30 s cap");
    assert_eq!(sim.requests(MODEL), 3);
    // Backoff would wait 1 s then 2 s; the hints make it 1 s then 10 s.
    assert_eq!(started.elapsed(), Duration::from_secs(11));
}
