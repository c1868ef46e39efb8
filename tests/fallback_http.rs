//! The fallback layer over real HTTP against the simulated providers: a target on another
//! provider's service, retries stacked inside, the context-length opt-in and `NoFallback`.

use std::sync::Arc;
use std::time::Duration;

use agentix_core::{BoxError, NoFallback, ServedBy};
use agentix_fallback::{
    ConfigError, Fallback, FallbackConfig, FallbackLayer, FallbackPolicy, FallbackTarget,
    FallbackTargets,
};
use agentix_http::{translate, HttpClient, LlmAdapter, LlmBody, Provider};
use agentix_retry::{RetryConfig, RetryLayer};
use agentix_sim::{Format, SimServer, Step};
use bytes::Bytes;
use tower::{Layer, Service, ServiceExt};

type Request = http::Request<Bytes>;
type Response = http::Response<LlmBody>;
type Target = FallbackTarget<Request, Response>;

const PRIMARY: &str = "claude-opus-4-1";
const OPENAI_MODEL: &str = "gpt-4o";

/// Builds an Anthropic Messages request for `model` with a system prompt.
fn anthropic_request(server: &SimServer, model: &str) -> Request {
    let body = serde_json::json!({
        "model": model,
        "system": "Answer in one sentence.",
        "max_tokens": 64,
        "temperature": 0.3,
        "messages": [{"role": "user", "content": "What does a circuit breaker do?"}],
    });
    Provider::Anthropic
        .request(&server.base_url(), "sk-ant-test", &body)
        .unwrap()
}

fn config(models: &[&str]) -> FallbackConfig {
    FallbackConfig {
        primary: Some(PRIMARY.into()),
        provider: Some(Provider::Anthropic.as_str().into()),
        models: models.iter().map(|&model| Arc::from(model)).collect(),
        ..FallbackConfig::default()
    }
}

/// Retries with a 1 ms base delay and no jitter, so a test spends no noticeable time waiting.
fn fast_retry() -> RetryLayer<LlmAdapter> {
    RetryLayer::new(
        RetryConfig {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            jitter: 0.0,
            ..RetryConfig::default()
        },
        LlmAdapter::new(),
    )
}

/// Creates a target for the OpenAI model on `openai`, reached through `service`, with the
/// Anthropic request translated.
fn openai_target<S>(openai: &SimServer, service: S) -> Target
where
    S: Service<Request, Response = Response, Error = BoxError> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let base_url = openai.base_url();
    Target::service(Provider::OpenAi.as_str(), OPENAI_MODEL, service).translate(
        move |request: &Request, model: &str| {
            translate::anthropic_to_openai(request, model, &base_url, "sk-oai-test")
                .map_err(BoxError::from)
        },
    )
}

async fn send<S>(service: &mut S, request: Request) -> Result<Response, BoxError>
where
    S: Service<Request, Response = Response, Error = BoxError>,
{
    service.ready().await?.call(request).await
}

fn served_by(response: &Response) -> Option<ServedBy> {
    response.extensions().get::<ServedBy>().cloned()
}

fn served(model: &str, position: usize, provider: &str) -> Option<ServedBy> {
    Some(ServedBy {
        model: model.into(),
        position,
        provider: Some(provider.into()),
    })
}

#[tokio::test]
async fn overloaded_anthropic_falls_back_to_openai() {
    let anthropic = SimServer::start().await.unwrap();
    let openai = SimServer::start().await.unwrap();
    anthropic.script(PRIMARY, [Step::error(529)]);
    let targets = vec![openai_target(&openai, HttpClient::new())];
    let mut service: Fallback<HttpClient, LlmAdapter, FallbackTargets<Request, Response>> =
        FallbackLayer::with_targets(config(&[]), targets, LlmAdapter::new())
            .layer(HttpClient::new());

    let response = send(&mut service, anthropic_request(&anthropic, PRIMARY))
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&response), served(OPENAI_MODEL, 1, "openai"));
    let body: serde_json::Value = serde_json::from_slice(response.body().as_bytes()).unwrap();
    assert_eq!(body["object"], "chat.completion");

    assert_eq!(anthropic.requests(PRIMARY), 1);
    assert_eq!(openai.requests_to(Format::OpenAi, OPENAI_MODEL), 1);
    assert_eq!(openai.total_requests(), 1);
    let sent = openai.last_request(OPENAI_MODEL).unwrap();
    assert_eq!(sent.path(), "/v1/chat/completions");
    assert_eq!(sent.headers()["authorization"], "Bearer sk-oai-test");
    assert!(sent.headers().get("x-api-key").is_none());
    let sent = sent.json().unwrap();
    assert_eq!(
        sent["messages"],
        serde_json::json!([
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "What does a circuit breaker do?"},
        ])
    );
    assert_eq!(sent["max_completion_tokens"], 64);
    assert_eq!(sent["temperature"], 0.3);
}

#[tokio::test]
async fn primary_503_then_fallback_400_returns_400() {
    let anthropic = SimServer::start().await.unwrap();
    let openai = SimServer::start().await.unwrap();
    anthropic.script_repeat(PRIMARY, Step::error(503));
    openai.script(OPENAI_MODEL, [Step::error(400)]);
    let targets = vec![openai_target(
        &openai,
        fast_retry().layer(HttpClient::new()),
    )];
    let mut service = FallbackLayer::with_targets(config(&[]), targets, LlmAdapter::new())
        .layer(fast_retry().layer(HttpClient::new()));

    let response = send(&mut service, anthropic_request(&anthropic, PRIMARY))
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(served_by(&response), served(OPENAI_MODEL, 1, "openai"));
    assert_eq!(anthropic.total_requests(), 3, "the primary's retries");
    assert_eq!(
        openai.total_requests(),
        1,
        "a 400 is neither retried nor passed on"
    );
}

#[tokio::test]
async fn both_unauthorized_calls_once() {
    let anthropic = SimServer::start().await.unwrap();
    let openai = SimServer::start().await.unwrap();
    anthropic.script_repeat(PRIMARY, Step::error(401));
    openai.script_repeat(OPENAI_MODEL, Step::error(401));
    let targets = vec![openai_target(
        &openai,
        fast_retry().layer(HttpClient::new()),
    )];
    let mut service = FallbackLayer::with_targets(config(&[]), targets, LlmAdapter::new())
        .layer(fast_retry().layer(HttpClient::new()));

    let response = send(&mut service, anthropic_request(&anthropic, PRIMARY))
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(served_by(&response), served(PRIMARY, 0, "anthropic"));
    assert_eq!(anthropic.total_requests(), 1);
    assert_eq!(openai.total_requests(), 0);
}

#[tokio::test]
async fn no_fallback_request_stays_on_primary() {
    let anthropic = SimServer::start().await.unwrap();
    let openai = SimServer::start().await.unwrap();
    anthropic.script(PRIMARY, [Step::error(529)]);
    let targets = vec![openai_target(&openai, HttpClient::new())];
    let mut service = FallbackLayer::with_targets(config(&[]), targets, LlmAdapter::new())
        .layer(HttpClient::new());
    let mut request = anthropic_request(&anthropic, PRIMARY);
    request.extensions_mut().insert(NoFallback);

    let response = send(&mut service, request).await.unwrap();

    assert_eq!(response.status(), 529);
    assert_eq!(served_by(&response), served(PRIMARY, 0, "anthropic"));
    assert_eq!(anthropic.total_requests(), 1);
    assert_eq!(openai.total_requests(), 0);
}

#[tokio::test]
async fn untranslatable_request_returns_primary_failure() {
    let anthropic = SimServer::start().await.unwrap();
    let openai = SimServer::start().await.unwrap();
    anthropic.script(PRIMARY, [Step::error(529)]);
    let targets = vec![openai_target(&openai, HttpClient::new())];
    let mut service = FallbackLayer::with_targets(config(&[]), targets, LlmAdapter::new())
        .layer(HttpClient::new());
    let body = serde_json::json!({
        "model": PRIMARY,
        "max_tokens": 64,
        "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    });
    let request = Provider::Anthropic
        .request(&anthropic.base_url(), "sk-ant-test", &body)
        .unwrap();

    let response = send(&mut service, request).await.unwrap();

    assert_eq!(response.status(), 529);
    assert_eq!(served_by(&response), served(PRIMARY, 0, "anthropic"));
    assert_eq!(openai.total_requests(), 0);
}

#[tokio::test]
async fn context_length_falls_back_only_when_opted_in() {
    const SMALL: &str = "claude-haiku-small";
    const LARGE: &str = "claude-sonnet-1m";

    for opted_in in [false, true] {
        let anthropic = SimServer::start().await.unwrap();
        anthropic.script(SMALL, [Step::context_length_exceeded()]);
        let fallback = FallbackConfig {
            primary: Some(SMALL.into()),
            policy: FallbackPolicy {
                on_context_length: opted_in,
                ..FallbackPolicy::default()
            },
            ..config(&[LARGE])
        };
        let mut service = FallbackLayer::new(fallback, LlmAdapter::new())
            .layer(fast_retry().layer(HttpClient::new()));

        let response = send(&mut service, anthropic_request(&anthropic, SMALL))
            .await
            .unwrap();

        assert_eq!(
            anthropic.requests(SMALL),
            1,
            "never retried (opted in: {opted_in})"
        );
        if opted_in {
            assert_eq!(response.status(), 200);
            assert_eq!(anthropic.requests(LARGE), 1);
            assert_eq!(served_by(&response), served(LARGE, 1, "anthropic"));
        } else {
            assert_eq!(response.status(), 400);
            assert_eq!(anthropic.requests(LARGE), 0);
            assert_eq!(served_by(&response), served(SMALL, 0, "anthropic"));
        }
    }
}

#[tokio::test]
async fn duplicate_target_is_rejected_by_name() {
    let openai = SimServer::start().await.unwrap();
    let targets = vec![
        openai_target(&openai, HttpClient::new()),
        Target::service("openai", "gpt-4o-mini", HttpClient::new()),
        openai_target(&openai, HttpClient::new()),
    ];

    let error = FallbackLayer::try_with_targets(config(&[]), targets, LlmAdapter::new())
        .map(|_| ())
        .unwrap_err();

    assert_eq!(
        error,
        ConfigError::DuplicateTarget {
            provider: "openai".into(),
            model: OPENAI_MODEL.into(),
            field: "targets[2]".into(),
        }
    );
    assert!(error.to_string().contains("`openai/gpt-4o`"), "{error}");
    assert_eq!(openai.total_requests(), 0);
}
