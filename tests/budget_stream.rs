//! The token budget settles streamed responses from the usage their events report.

use agentix::core::{MeterUsage, TenantId};
use agentix::layers::budget::{BilledOnSuccess, InMemoryLedger, TokenBudgetLayer};
use agentix::{HttpClient, LlmAdapter, Provider};
use agentix_sim::{SimServer, Step};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, ServiceExt};

const MODEL: &str = "claude-opus-4-20250514";

fn stream_request(sim: &SimServer, provider: Provider) -> http::Request<bytes::Bytes> {
    let mut body = json!({
        "model": MODEL,
        "max_tokens": 64,
        "stream": true,
        "messages": [{"role": "user", "content": "Tell me a story"}],
    });
    if provider == Provider::OpenAi {
        body["stream_options"] = json!({"include_usage": true});
    }
    provider
        .request(&sim.base_url(), "test-key", &body)
        .expect("valid request")
}

fn used(ledger: &InMemoryLedger) -> (u64, u64) {
    let snapshot = ledger.snapshot(&TenantId::new("default"));
    (snapshot.used, snapshot.reserved)
}

#[tokio::test]
async fn completed_stream_is_charged_its_usage() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let sim = SimServer::start().await.unwrap();
        sim.script(MODEL, [Step::ok().usage(30, 12)]);
        let ledger = InMemoryLedger::new(10_000);
        let service = TokenBudgetLayer::new(ledger.clone(), LlmAdapter::default())
            .with_billing(BilledOnSuccess)
            .layer(HttpClient::new());

        let response = service
            .oneshot(stream_request(&sim, provider))
            .await
            .unwrap();
        assert!(response.body().is_stream(), "{provider}");
        let (_, reserved) = used(&ledger);
        assert!(
            reserved > 0,
            "{provider}: the reservation is held while streaming"
        );

        let body = response
            .into_body()
            .collect()
            .await
            .expect("complete stream");
        assert!(!body.to_bytes().is_empty());

        assert_eq!(used(&ledger), (42, 0), "{provider}");
    }
}

#[tokio::test]
async fn dropped_stream_is_charged_its_reservation() {
    let sim = SimServer::start().await.unwrap();
    sim.script(MODEL, [Step::ok().usage(30, 12)]);
    let ledger = InMemoryLedger::new(10_000);
    let service = TokenBudgetLayer::new(ledger.clone(), LlmAdapter::default())
        .with_billing(BilledOnSuccess)
        .layer(HttpClient::new());

    let response = service
        .oneshot(stream_request(&sim, Provider::Anthropic))
        .await
        .unwrap();
    let (_, reserved) = used(&ledger);
    drop(response);

    // The usage so far undercounts the output of a cut stream, so the reservation is charged.
    assert_eq!(used(&ledger), (reserved, 0));
}

#[tokio::test]
async fn buffered_response_is_unchanged() {
    let sim = SimServer::start().await.unwrap();
    sim.script(MODEL, [Step::ok().usage(7, 5)]);
    let ledger = InMemoryLedger::new(10_000);
    let service = TokenBudgetLayer::new(ledger.clone(), LlmAdapter::default())
        .with_billing(BilledOnSuccess)
        .layer(HttpClient::new());
    let request = Provider::Anthropic
        .request(
            &sim.base_url(),
            "test-key",
            &json!({"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap();

    let response = service.oneshot(request).await.unwrap();

    let reported =
        MeterUsage::<http::Request<bytes::Bytes>, _>::usage(&LlmAdapter::default(), &response);
    assert_eq!(reported.map(|usage| usage.total()), Some(12));
    assert_eq!(used(&ledger), (12, 0));
}
