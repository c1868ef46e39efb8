//! Token budget with streamed responses that are dropped midway, over real HTTP against
//! agentix-sim.

use std::time::Duration;

use agentix::layers::budget::{BilledOnSuccess, InMemoryLedger, TokenBudgetLayer};
use agentix::{HttpClient, LlmAdapter, Provider, TenantId};
use agentix_sim::{SimServer, Step};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, ServiceExt};

const MODEL: &str = "claude-opus-4-20250514";

fn stream_request(sim: &SimServer, max_tokens: u64) -> http::Request<bytes::Bytes> {
    let body = json!({
        "model": MODEL,
        "max_tokens": max_tokens,
        "stream": true,
        "messages": [{"role": "user", "content": "ping"}],
    });
    Provider::Anthropic
        .request(&sim.base_url(), "k", &body)
        .unwrap()
}

fn snapshot(ledger: &InMemoryLedger) -> (u64, u64) {
    let snapshot = ledger.snapshot(&TenantId::new("default"));
    (snapshot.used, snapshot.reserved)
}

/// Many concurrent streams, each dropped after its first frame: every reservation must be
/// settled, none leaked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dropped_streams_settle() {
    let sim = SimServer::start().await.unwrap();
    sim.script_repeat(
        MODEL,
        Step::ok()
            .usage(30, 400)
            .event_interval(Duration::from_millis(5)),
    );
    let ledger = InMemoryLedger::new(10_000_000);
    let service = TokenBudgetLayer::new(ledger.clone(), LlmAdapter::default())
        .with_billing(BilledOnSuccess)
        .layer(HttpClient::new());

    let mut tasks = Vec::new();
    for index in 0..64 {
        let service = service.clone();
        let request = stream_request(&sim, 400);
        tasks.push(tokio::spawn(async move {
            let response = service.oneshot(request).await.unwrap();
            let mut body = response.into_body();
            if index % 2 == 0 {
                let _ = body.frame().await;
            }
            drop(body);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (_, reserved) = snapshot(&ledger);
    assert_eq!(reserved, 0, "every dropped stream settled its reservation");
}

/// A stream dropped after its first content event is charged the usage reported so far:
/// Anthropic's `message_start` reports 1 output token, and the real output count arrives
/// only in the final `message_delta`. The provider keeps generating (and billing) what
/// `max_tokens` allows, but the budget charges a few tokens, so the hard stop lets far more
/// calls through than the limit pays for.
#[tokio::test]
async fn dropped_stream_charges_one_output_token() {
    let sim = SimServer::start().await.unwrap();
    sim.script_repeat(
        MODEL,
        Step::ok()
            .usage(30, 400)
            .event_interval(Duration::from_millis(5)),
    );
    let limit = 1_000;
    let ledger = InMemoryLedger::new(limit);
    let service = TokenBudgetLayer::new(ledger.clone(), LlmAdapter::default())
        .with_billing(BilledOnSuccess)
        .layer(HttpClient::new());

    let mut admitted = 0;
    while admitted < 100 {
        let Ok(response) = service.clone().oneshot(stream_request(&sim, 400)).await else {
            break;
        };
        admitted += 1;
        let mut body = response.into_body();
        let _ = body.frame().await;
        drop(body);
    }
    let (used, _) = snapshot(&ledger);
    // Each call may spend 30 + 400 tokens; the limit pays for about two of them.
    assert!(
        admitted <= 3,
        "{admitted} calls admitted under a {limit}-token budget, charged {used} tokens in all"
    );
}
