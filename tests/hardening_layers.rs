//! Layer-level hardening: tenant floods against the in-memory breaker, non-JSON requests
//! through fallback and budget, and a circuit that opens in the middle of a retry sequence.

mod hardening_support;

use std::sync::Arc;
use std::time::Duration;

use agentix::layers::circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    InMemoryCircuitBreakerBackend,
};
use agentix::layers::{budget, fallback};
use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, LlmAdapter, ResilienceError};
use bytes::Bytes;
use hardening_support::{MockProvider, Reply};
use tower::{Layer, ServiceExt};

fn key(tenant: &str) -> BreakerKey {
    BreakerKey::new(tenant.into(), "anthropic")
}

fn admit(
    backend: &InMemoryCircuitBreakerBackend,
    key: &BreakerKey,
    policy: BreakerPolicy,
) -> BreakerReply {
    backend
        .execute(BreakerCommand::Admit {
            key: key.clone(),
            policy,
        })
        .unwrap()
}

fn fail(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey, policy: BreakerPolicy) {
    if let BreakerReply::Admitted(permit) = admit(backend, key, policy) {
        backend
            .execute(BreakerCommand::Record {
                key: key.clone(),
                policy,
                permit,
                result: CallResult::Failure,
            })
            .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn tenant_flood_keeps_open_circuit() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(8);
    let policy = BreakerPolicy {
        failure_threshold: 2,
        ..BreakerPolicy::default()
    };
    let victim = key("victim");
    fail(&backend, &victim, policy);
    fail(&backend, &victim, policy);
    let half = key("half");
    fail(&backend, &half, policy);

    for index in 0..10_000 {
        admit(&backend, &key(&format!("flood-{index}")), policy);
    }
    assert!(
        matches!(
            admit(&backend, &victim, policy),
            BreakerReply::Rejected { .. }
        ),
        "an open circuit survives a flood of new tenants"
    );
    fail(&backend, &half, policy);
    assert!(
        matches!(
            admit(&backend, &half, policy),
            BreakerReply::Rejected { .. }
        ),
        "a failure count survives a flood of new tenants"
    );
    assert!(
        backend.len() < 100,
        "idle tenants are evicted: {} keys",
        backend.len()
    );
}

fn raw_request(body: &'static [u8]) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:9/v1/messages")
        .header("content-type", "application/json")
        .body(Bytes::from_static(body))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn non_json_request_through_fallback_and_budget() {
    let provider = MockProvider::new([], Reply::overloaded());
    let adapter = LlmAdapter::default();
    let ledger = budget::InMemoryLedger::new(10_000);
    let service = budget::TokenBudgetLayer::new(ledger.clone(), adapter).layer(
        fallback::FallbackLayer::new(
            fallback::FallbackConfig {
                primary: Some(Arc::from("primary")),
                models: vec![Arc::from("secondary")],
                ..fallback::FallbackConfig::default()
            },
            adapter,
        )
        .layer(provider.clone()),
    );

    for body in [
        &b"not json"[..],
        b"",
        b"[1,2,3]",
        b"\xff\xfe",
        b"{\"model\":",
    ] {
        let body: &'static [u8] = Box::leak(body.to_vec().into_boxed_slice());
        let error = service
            .clone()
            .oneshot(raw_request(body))
            .await
            .expect_err("the fallback model cannot be set");
        let message = error.to_string();
        assert!(message.contains("secondary"), "{message}");
    }
    let snapshot = ledger.snapshot(&"default".into());
    assert_eq!(snapshot.reserved, 0, "every reservation was settled");
    assert_eq!(snapshot.used, 0, "failed calls are not charged");
}

#[tokio::test(start_paused = true)]
async fn circuit_opening_mid_retry_stops_retries() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = AgentixClient::builder(AgentixAgentOptions {
        model: "m".into(),
        retry_max_attempts: 10,
        retry_jitter: 0.0,
        circuit_breaker_failure_threshold: 4,
        ..AgentixAgentOptions::default()
    })
    .build_with(provider.clone())
    .unwrap();
    let start = tokio::time::Instant::now();
    let error = client
        .create(serde_json::json!({"max_tokens": 8, "messages": []}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AgentixError::Resilience(ResilienceError::CircuitOpen(_))
        ),
        "{error}"
    );
    assert_eq!(provider.calls(), 4);
    // Delays 1, 2 and 4 s before attempts 2 to 4, then a fifth attempt is rejected after 8 s.
    assert_eq!(start.elapsed(), Duration::from_secs(15));
}
