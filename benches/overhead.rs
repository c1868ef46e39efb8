//! Per-call overhead of each Agentix layer, and of the whole stack, on the closed happy path.
//!
//! The inner service returns at once with a 200 and a small Anthropic body, so what is timed
//! is the layers' own work: classification, the breaker's admit and record, the budget's
//! reservation and settlement, the fallback's request copy. Every case sends the same
//! request through `oneshot` on a current-thread runtime; the bare inner service is the
//! baseline.
//!
//! Run with `cargo bench --bench overhead`.

use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix::layers::{budget, circuit_breaker, fallback, retry};
use agentix::{AgentixAgentOptions, AgentixClient, LlmAdapter, LlmBody};
use agentix_core::BoxError;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::{Layer, Service, ServiceExt};

const RESPONSE: &[u8] = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-opus-4-20250514","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"#;
const REQUEST: &[u8] = br#"{"model":"claude-opus-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}"#;

/// A provider that returns the same 200 response to every request at once.
#[derive(Clone)]
struct Instant200;

impl Service<http::Request<Bytes>> for Instant200 {
    type Response = http::Response<LlmBody>;
    type Error = BoxError;
    type Future = Ready<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Bytes>) -> Self::Future {
        ready(Ok(http::Response::new(LlmBody::full(Bytes::from_static(
            RESPONSE,
        )))))
    }
}

fn request() -> http::Request<Bytes> {
    http::Request::post("http://127.0.0.1/v1/messages")
        .header("content-type", "application/json")
        .body(Bytes::from_static(REQUEST))
        .expect("static request is valid")
}

fn bench_service<S>(c: &mut Criterion, runtime: &tokio::runtime::Runtime, name: &str, service: S)
where
    S: Service<http::Request<Bytes>> + Clone,
    S::Error: std::fmt::Debug,
{
    c.bench_function(name, |b| {
        b.to_async(runtime).iter(|| {
            let service = service.clone();
            async move {
                service
                    .oneshot(request())
                    .await
                    .expect("closed path succeeds")
            }
        })
    });
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let adapter = LlmAdapter::default();

    bench_service(c, &runtime, "bare", Instant200);

    let retry = retry::RetryLayer::new(retry::RetryConfig::default(), adapter);
    bench_service(c, &runtime, "retry", retry.layer(Instant200));

    let breaker = circuit_breaker::CircuitBreakerLayer::new(
        circuit_breaker::BreakerConfig::default(),
        circuit_breaker::InMemoryCircuitBreakerBackend::new(),
        adapter,
    );
    bench_service(c, &runtime, "circuit_breaker", breaker.layer(Instant200));

    let fallback = fallback::FallbackLayer::new(
        fallback::FallbackConfig {
            primary: Some(Arc::from("claude-opus-4-20250514")),
            models: vec![Arc::from("claude-sonnet-4-20250514")],
            ..fallback::FallbackConfig::default()
        },
        adapter,
    );
    bench_service(c, &runtime, "fallback", fallback.layer(Instant200));

    let budget = budget::TokenBudgetLayer::new(budget::InMemoryLedger::new(u64::MAX), adapter)
        .with_billing(budget::BilledOnSuccess);
    bench_service(c, &runtime, "token_budget", budget.layer(Instant200));

    let client = AgentixClient::builder(AgentixAgentOptions {
        model: "claude-opus-4-20250514".into(),
        fallback_model: Some("claude-sonnet-4-20250514".into()),
        max_tokens_budget: Some(u64::MAX),
        ..AgentixAgentOptions::default()
    })
    .build_with(Instant200)
    .expect("valid options");
    bench_service(c, &runtime, "full_stack", client);
}

criterion_group!(benches, overhead);
criterion_main!(benches);
