//! Fallback and streams over real HTTP: an error event before any content moves to the next
//! model, while an error after content reaches the caller as a typed stream error.

use std::sync::Arc;

use agentix::core::{NoFallback, ServedBy};
use agentix::http::{StreamError, StreamErrorKind};
use agentix::layers::fallback::{FallbackConfig, FallbackLayer};
use agentix::{HttpClient, LlmAdapter, Provider};
use agentix_sim::{SimServer, Step};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, ServiceExt};

const PRIMARY: &str = "claude-opus-4-20250514";
const SECOND: &str = "claude-sonnet-4-20250514";

fn stream_request(sim: &SimServer) -> http::Request<bytes::Bytes> {
    let body = json!({
        "model": PRIMARY,
        "max_tokens": 64,
        "stream": true,
        "messages": [{"role": "user", "content": "Tell me a story"}],
    });
    Provider::Anthropic
        .request(&sim.base_url(), "test-key", &body)
        .expect("valid request")
}

fn fallback_layer() -> FallbackLayer<LlmAdapter> {
    FallbackLayer::new(
        FallbackConfig {
            primary: Some(Arc::from(PRIMARY)),
            models: vec![Arc::from(SECOND)],
            ..FallbackConfig::default()
        },
        LlmAdapter::default(),
    )
}

#[tokio::test]
async fn error_before_content_falls_back() {
    let sim = SimServer::start().await.unwrap();
    sim.script(PRIMARY, [Step::error_in_stream(0, 529)]);

    let response = fallback_layer()
        .layer(HttpClient::new())
        .oneshot(stream_request(&sim))
        .await
        .expect("the second model serves");

    let served = response.extensions().get::<ServedBy>().expect("ServedBy");
    assert_eq!(&*served.model, SECOND);
    assert!(response.body().is_stream());
    response
        .into_body()
        .collect()
        .await
        .expect("the second model's stream completes");
    assert_eq!(sim.requests(PRIMARY), 1);
    assert_eq!(sim.requests(SECOND), 1);
}

#[tokio::test]
async fn error_after_content_reaches_caller() {
    let sim = SimServer::start().await.unwrap();
    sim.script(PRIMARY, [Step::error_in_stream(4, 529)]);

    let response = fallback_layer()
        .layer(HttpClient::new())
        .oneshot(stream_request(&sim))
        .await
        .expect("the stream starts");
    let error = response
        .into_body()
        .collect()
        .await
        .expect_err("the stream fails midway");

    let stream_error = error
        .downcast_ref::<StreamError>()
        .expect("a typed stream error");
    assert!(
        matches!(stream_error.kind(), StreamErrorKind::ProviderError { .. }),
        "{stream_error:?}"
    );
    assert_eq!(
        sim.requests(SECOND),
        0,
        "content was delivered: no fallback"
    );
}

#[tokio::test]
async fn opt_out_holds_for_stream_errors() {
    let sim = SimServer::start().await.unwrap();
    sim.script(PRIMARY, [Step::error_in_stream(0, 529)]);
    let mut request = stream_request(&sim);
    request.extensions_mut().insert(NoFallback);

    let response = fallback_layer()
        .layer(HttpClient::new())
        .oneshot(request)
        .await
        .expect("the early error comes back as a response");

    assert_eq!(response.status(), 529);
    assert_eq!(sim.requests(SECOND), 0);
}
