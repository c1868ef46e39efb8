//! Concurrency of the whole client: one probe among many callers, dropped probes, tenants,
//! budget exactness, and strict readiness with `ConcurrencyLimit(1)` around every layer.

mod hardening_support;

use std::sync::Arc;
use std::time::Duration;

use agentix::layers::{budget, circuit_breaker, fallback, retry};
use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, LlmAdapter, ResilienceError};
use bytes::Bytes;
use hardening_support::{success_body, MockProvider, Reply};
use serde_json::json;
use tower::limit::ConcurrencyLimit;
use tower::{Service, ServiceBuilder, ServiceExt};

const PRIMARY: &str = "claude-opus-4-20250514";
const FALLBACK: &str = "claude-sonnet-4-20250514";

fn options() -> AgentixAgentOptions {
    AgentixAgentOptions {
        model: PRIMARY.into(),
        retry_jitter: 0.0,
        retry_max_attempts: 1,
        ..AgentixAgentOptions::default()
    }
}

fn prompt() -> serde_json::Value {
    json!({"max_tokens": 16, "messages": [{"role": "user", "content": "ping"}]})
}

fn request() -> http::Request<Bytes> {
    let mut body = prompt();
    body["model"] = PRIMARY.into();
    agentix::Provider::Anthropic
        .request("http://127.0.0.1:9", "k", &body)
        .unwrap()
}

fn is_circuit_open(error: &AgentixError) -> bool {
    matches!(
        error,
        AgentixError::Resilience(ResilienceError::CircuitOpen(_))
    )
}

async fn open_circuit(client: &AgentixClient<MockProvider>) {
    for _ in 0..5 {
        client.create(prompt()).await.unwrap_err();
    }
    let error = client.create(prompt()).await.unwrap_err();
    assert!(is_circuit_open(&error), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_one_probe_among_many() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = AgentixClient::builder(AgentixAgentOptions {
        circuit_breaker_cooldown: 0.05,
        ..options()
    })
    .build_with(provider.clone())
    .unwrap();
    open_circuit(&client).await;
    tokio::time::sleep(Duration::from_millis(60)).await;

    provider.set_otherwise(Reply::ok().latency(Duration::from_millis(300)));
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client.create(prompt()).await
        }));
    }
    let mut served = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(error) => assert!(is_circuit_open(&error), "{error}"),
        }
    }
    assert_eq!(served, 1, "exactly one probe is served");
    assert_eq!(provider.calls(), 6, "five failures and one probe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_probe_frees_permit_at_once() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = AgentixClient::builder(AgentixAgentOptions {
        circuit_breaker_cooldown: 0.05,
        ..options()
    })
    .build_with(provider.clone())
    .unwrap();
    open_circuit(&client).await;
    tokio::time::sleep(Duration::from_millis(60)).await;

    provider.set_otherwise(Reply::ok().latency(Duration::from_secs(30)));
    let probe = {
        let client = client.clone();
        tokio::spawn(async move { client.create(prompt()).await })
    };
    while provider.calls() < 6 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    probe.abort();
    assert!(probe.await.unwrap_err().is_cancelled());

    provider.set_otherwise(Reply::ok());
    let result = tokio::time::timeout(Duration::from_secs(5), client.create(prompt()))
        .await
        .expect("no hang");
    assert!(
        result.is_ok(),
        "the next caller probes at once: {:?}",
        result.err()
    );
    assert_eq!(provider.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn tenants_do_not_share_circuits() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = AgentixClient::builder(options())
        .tenant_id("acme")
        .build_with(provider.clone())
        .unwrap();
    open_circuit(&client).await;

    provider.set_otherwise(Reply::ok());
    for tenant in ["globex", "acme:anthropic", "", "acme "] {
        let result = client.create_for_tenant(tenant, prompt()).await;
        assert!(result.is_ok(), "tenant {tenant:?}: {:?}", result.err());
    }
    let error = client.clone().create(prompt()).await.unwrap_err();
    assert!(
        is_circuit_open(&error),
        "a clone shares the circuit: {error}"
    );
}

#[tokio::test(start_paused = true)]
async fn budget_is_exact_under_concurrency() {
    let limit = 1_000;
    let provider = MockProvider::new(
        [],
        Reply::status(200, success_body(4, 6)).latency(Duration::from_secs(1)),
    );
    let client = AgentixClient::builder(AgentixAgentOptions {
        max_tokens_budget: Some(limit),
        ..options()
    })
    .build_with(provider.clone())
    .unwrap();

    let estimate = 16 + request().body().len() as u64;
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.create(prompt()).await }));
    }
    let mut served = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(AgentixError::Resilience(ResilienceError::BudgetExceeded(spent))) => {
                assert!(spent.used >= limit, "rejected below the limit: {spent}");
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    let expected = limit.div_ceil(estimate) as usize;
    assert_eq!(served, expected, "estimate {estimate}");
    assert_eq!(provider.calls(), expected);

    // Every call settled to 10 tokens, so the budget has room again.
    let used = 10 * expected as u64;
    let more = (limit - used).div_ceil(estimate) as usize;
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.create(prompt()).await }));
    }
    let served_again = futures_count(tasks).await;
    assert_eq!(served_again, more);
}

async fn futures_count(
    tasks: Vec<tokio::task::JoinHandle<Result<http::Response<agentix::LlmBody>, AgentixError>>>,
) -> usize {
    let mut served = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            served += 1;
        }
    }
    served
}

/// Alternates failures and successes so that retries, fallbacks, open circuits and
/// rejections all go through the limited services.
fn mixed_provider() -> MockProvider {
    let mut replies = Vec::new();
    for index in 0..4_000 {
        replies.push(match index % 7 {
            0 | 3 => Reply::overloaded(),
            5 => Reply::status(400, "not json at all"),
            _ => Reply::ok(),
        });
    }
    MockProvider::new(replies, Reply::ok())
}

#[tokio::test(start_paused = true)]
async fn limit_one_around_whole_client() {
    let provider = mixed_provider();
    let client = AgentixClient::builder(AgentixAgentOptions {
        retry_max_attempts: 3,
        retry_base_delay: 0.0,
        retry_max_delay: 0.0,
        fallback_model: Some(FALLBACK.into()),
        circuit_breaker_failure_threshold: 2,
        circuit_breaker_cooldown: 0.001,
        max_tokens_budget: Some(u64::MAX),
        ..options()
    })
    .build_with(ConcurrencyLimit::new(provider.clone(), 1))
    .unwrap();
    let mut service = ConcurrencyLimit::new(client, 1);

    for index in 0..1_000 {
        let call = async {
            let ready = service.ready().await?;
            ready.call(request()).await
        };
        let result = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap_or_else(|_| panic!("call {index} hung"));
        if let Err(error) = result {
            assert!(
                is_circuit_open(&error),
                "call {index}: unexpected error {error}"
            );
        }
        tokio::time::advance(Duration::from_millis(2)).await;
    }
    assert!(provider.calls() >= 1_000);
}

#[tokio::test(start_paused = true)]
async fn limit_one_around_every_layer() {
    let provider = mixed_provider();
    let adapter = LlmAdapter::default();
    let retry_config = retry::RetryConfig {
        max_attempts: 3,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        jitter: 0.0,
        ..retry::RetryConfig::default()
    };
    let breaker_config = circuit_breaker::BreakerConfig {
        policy: circuit_breaker::BreakerPolicy {
            failure_threshold: 2,
            cooldown: Duration::from_millis(1),
            ..circuit_breaker::BreakerPolicy::default()
        },
        ..circuit_breaker::BreakerConfig::default()
    };
    let fallback_config = fallback::FallbackConfig {
        primary: Some(Arc::from(PRIMARY)),
        models: vec![Arc::from(FALLBACK)],
        ..fallback::FallbackConfig::default()
    };
    let mut service = ServiceBuilder::new()
        .concurrency_limit(1)
        .layer(budget::TokenBudgetLayer::new(
            budget::InMemoryLedger::new(u64::MAX),
            adapter,
        ))
        .concurrency_limit(1)
        .layer(fallback::FallbackLayer::new(fallback_config, adapter))
        .concurrency_limit(1)
        .layer(retry::RetryLayer::new(retry_config, adapter))
        .concurrency_limit(1)
        .layer(circuit_breaker::CircuitBreakerLayer::new(
            breaker_config,
            circuit_breaker::InMemoryCircuitBreakerBackend::new(),
            adapter,
        ))
        .concurrency_limit(1)
        .service(provider.clone());

    for index in 0..1_000 {
        let call = async {
            let ready = service.ready().await?;
            ready.call(request()).await
        };
        let result = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap_or_else(|_| panic!("call {index} hung"));
        if let Err(error) = result {
            assert!(
                error.is::<agentix::CircuitOpen>(),
                "call {index}: unexpected error {error}"
            );
        }
        tokio::time::advance(Duration::from_millis(2)).await;
    }
    assert!(provider.calls() >= 1_000);
}
