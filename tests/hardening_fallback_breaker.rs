//! How the breaker, keyed `"{tenant}:{provider}"`, and a fallback model of the same provider
//! interact in `AgentixClient`, over real HTTP against agentix-sim.

use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, ResilienceError, ServedBy};
use agentix_sim::{SimServer, Step};
use serde_json::json;

const PRIMARY: &str = "claude-opus-4-20250514";
const FALLBACK: &str = "claude-sonnet-4-20250514";

fn client(sim: &SimServer) -> AgentixClient {
    let options = AgentixAgentOptions {
        model: PRIMARY.into(),
        fallback_model: Some(FALLBACK.into()),
        retry_base_delay: 0.001,
        retry_max_delay: 0.002,
        retry_jitter: 0.0,
        ..AgentixAgentOptions::default()
    };
    AgentixClient::builder(options)
        .base_url(sim.base_url())
        .api_key("k")
        .build()
        .unwrap()
}

fn prompt() -> serde_json::Value {
    json!({"max_tokens": 16, "messages": [{"role": "user", "content": "ping"}]})
}

/// A primary model is down while its fallback of the same provider is healthy. Both models
/// share the breaker key `"{tenant_id}:{provider}"`, so each call records three failures and
/// then the fallback's success on one key. The consecutive count never reaches the threshold
/// of five, so the circuit stays closed and every call tries the primary three times.
#[tokio::test]
async fn same_provider_fallback_shares_failure_count() {
    let sim = SimServer::start().await.unwrap();
    sim.script_repeat(PRIMARY, Step::error(529));
    let client = client(&sim);

    for _ in 0..10 {
        let response = client.create(prompt()).await.expect("the fallback serves");
        let served = response.extensions().get::<ServedBy>().unwrap();
        assert_eq!(&*served.model, FALLBACK);
    }

    assert_eq!(sim.requests(PRIMARY), 30, "three attempts per call");
    assert_eq!(sim.requests(FALLBACK), 10, "one fallback request per call");
}

/// Once the provider's circuit opens, the fallback model of the same provider is behind the
/// same open circuit, so a call fails with `CircuitOpen` and neither model is contacted.
#[tokio::test]
async fn open_circuit_rejects_same_provider_fallback() {
    let sim = SimServer::start().await.unwrap();
    sim.script_repeat(PRIMARY, Step::error(529));
    sim.script(FALLBACK, [Step::error(529), Step::error(529)]);
    let client = client(&sim);

    // Three primary attempts, then two fallback failures: five in a row open the circuit.
    let first = client.create(prompt()).await.unwrap_err();
    assert!(
        matches!(
            first,
            AgentixError::Api { .. } | AgentixError::Resilience(ResilienceError::CircuitOpen(_))
        ),
        "{first}"
    );
    assert_eq!(sim.requests(PRIMARY), 3);
    assert_eq!(sim.requests(FALLBACK), 2);

    // The fallback model is healthy now, but its circuit is the provider's.
    let second = client.create(prompt()).await.unwrap_err();
    assert!(
        matches!(
            second,
            AgentixError::Resilience(ResilienceError::CircuitOpen(_))
        ),
        "{second}"
    );
    assert_eq!(
        sim.requests(PRIMARY),
        3,
        "the open circuit shields the primary"
    );
    assert_eq!(
        sim.requests(FALLBACK),
        2,
        "the open circuit shields the fallback"
    );
}
