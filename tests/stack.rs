//! The whole stack through `AgentixClient`, over real HTTP against agentix-sim, in both wire
//! formats.

use std::time::Duration;

use agentix::{
    AgentixAgentOptions, AgentixClient, AgentixError, FailureKind, ResilienceError, ServedBy,
};
use agentix_sim::{SimServer, Step};
use serde_json::json;

const CLAUDE: &str = "claude-opus-4-20250514";
const CLAUDE_FALLBACK: &str = "claude-sonnet-4-20250514";
const GPT: &str = "gpt-4o";
const GPT_FALLBACK: &str = "gpt-4o-mini";

/// Default policy with delays short enough for real-time HTTP tests.
fn options(provider: &str, model: &str) -> AgentixAgentOptions {
    AgentixAgentOptions {
        provider: provider.into(),
        model: model.into(),
        retry_base_delay: 0.01,
        retry_max_delay: 0.05,
        retry_jitter: 0.0,
        circuit_breaker_cooldown: 60.0,
        ..AgentixAgentOptions::default()
    }
}

fn client(sim: &SimServer, options: AgentixAgentOptions) -> AgentixClient {
    AgentixClient::builder(options)
        .base_url(sim.base_url())
        .api_key("test-key")
        .build()
        .expect("valid options")
}

fn prompt() -> serde_json::Value {
    json!({"max_tokens": 32, "messages": [{"role": "user", "content": "ping"}]})
}

#[tokio::test]
async fn anthropic_overloaded_twice_then_served() {
    let sim = SimServer::start().await.unwrap();
    sim.script(CLAUDE, [Step::error(529), Step::error(529)]);

    let response = client(&sim, options("anthropic", CLAUDE))
        .create(prompt())
        .await
        .expect("third attempt succeeds");

    assert_eq!(response.status(), 200);
    assert_eq!(sim.requests(CLAUDE), 3);
}

#[tokio::test]
async fn openai_rate_limited_then_served() {
    let sim = SimServer::start().await.unwrap();
    sim.script(
        GPT,
        [
            Step::error(429).header("retry-after-ms", "20"),
            Step::error(503),
        ],
    );

    let response = client(&sim, options("openai", GPT))
        .create(prompt())
        .await
        .expect("third attempt succeeds");

    assert_eq!(response.status(), 200);
    assert_eq!(sim.requests(GPT), 3);
}

#[tokio::test]
async fn invalid_request_is_sent_once() {
    for (provider, model) in [("anthropic", CLAUDE), ("openai", GPT)] {
        let sim = SimServer::start().await.unwrap();
        sim.script(model, [Step::error(400)]);

        let error = client(&sim, options(provider, model))
            .create(prompt())
            .await
            .expect_err("400 is returned");

        match error {
            AgentixError::Api { status, kind, .. } => {
                assert_eq!(status, 400, "{provider}");
                assert_eq!(kind, FailureKind::InvalidRequest, "{provider}");
            }
            other => panic!("{provider}: expected an API error, got {other:?}"),
        }
        assert_eq!(sim.requests(model), 1, "{provider}");
    }
}

#[tokio::test]
async fn retries_exhausted_return_last_error() {
    let sim = SimServer::start().await.unwrap();
    sim.script(CLAUDE, std::iter::repeat_n(Step::error(500), 3));

    let error = client(&sim, options("anthropic", CLAUDE))
        .create(prompt())
        .await
        .expect_err("every attempt fails");

    assert!(
        matches!(
            error,
            AgentixError::Api {
                status: 500,
                kind: FailureKind::ServerError,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(sim.requests(CLAUDE), 3);
}

#[tokio::test]
async fn dropped_connection_is_retried() {
    let sim = SimServer::start().await.unwrap();
    sim.script(CLAUDE, [Step::drop_connection()]);

    let response = client(&sim, options("anthropic", CLAUDE))
        .create(prompt())
        .await
        .expect("second attempt succeeds");

    assert_eq!(response.status(), 200);
    assert_eq!(sim.requests(CLAUDE), 2);
}

#[tokio::test]
async fn circuit_opens_at_fifth_failure_and_fails_fast() {
    let sim = SimServer::start().await.unwrap();
    sim.script(GPT, std::iter::repeat_n(Step::error(500), 20));
    let client = client(&sim, options("openai", GPT));

    // 3 attempts fail, then 2 more reach the threshold of 5 and the 3rd attempt is rejected.
    assert!(client.create(prompt()).await.is_err());
    let error = client.create(prompt()).await.expect_err("circuit opens");
    assert_eq!(sim.requests(GPT), 5);
    assert!(matches!(
        error,
        AgentixError::Resilience(ResilienceError::CircuitOpen(_))
    ));

    let error = client.create(prompt()).await.expect_err("circuit is open");
    match error {
        AgentixError::Resilience(ResilienceError::CircuitOpen(open)) => {
            assert_eq!(open.key, "default:openai");
            assert!(open.retry_after > Duration::from_secs(50));
        }
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
    assert_eq!(
        sim.requests(GPT),
        5,
        "an open circuit never calls the provider"
    );
}

#[tokio::test]
async fn fallback_serves_after_primary_retries() {
    for (provider, primary, fallback) in [
        ("anthropic", CLAUDE, CLAUDE_FALLBACK),
        ("openai", GPT, GPT_FALLBACK),
    ] {
        let sim = SimServer::start().await.unwrap();
        sim.script(primary, std::iter::repeat_n(Step::error(529), 3));
        let client = client(
            &sim,
            AgentixAgentOptions {
                fallback_model: Some(fallback.into()),
                ..options(provider, primary)
            },
        );

        let response = client.create(prompt()).await.expect("fallback serves");

        let served = response.extensions().get::<ServedBy>().expect("ServedBy");
        assert_eq!(&*served.model, fallback, "{provider}");
        assert!(served.is_fallback());
        assert_eq!(sim.requests(primary), 3, "{provider}");
        assert_eq!(sim.requests(fallback), 1, "{provider}");
    }
}

#[tokio::test]
async fn no_fallback_after_authentication_error() {
    let sim = SimServer::start().await.unwrap();
    sim.script(CLAUDE, [Step::error(401)]);
    let client = client(
        &sim,
        AgentixAgentOptions {
            fallback_model: Some(CLAUDE_FALLBACK.into()),
            ..options("anthropic", CLAUDE)
        },
    );

    let error = client.create(prompt()).await.expect_err("401 is returned");

    assert!(matches!(
        error,
        AgentixError::Api {
            status: 401,
            kind: FailureKind::Authentication,
            ..
        }
    ));
    assert_eq!(sim.requests(CLAUDE), 1);
    assert_eq!(sim.requests(CLAUDE_FALLBACK), 0);
}

#[tokio::test]
async fn budget_stops_calls_before_the_provider() {
    for (provider, model) in [("anthropic", CLAUDE), ("openai", GPT)] {
        let sim = SimServer::start().await.unwrap();
        let client = client(
            &sim,
            AgentixAgentOptions {
                max_tokens_budget: Some(60),
                ..options(provider, model)
            },
        );

        let mut served = 0;
        let error = loop {
            match client.create(prompt()).await {
                Ok(_) => served += 1,
                Err(error) => break error,
            }
            assert!(served < 100, "{provider}: the budget never stopped calls");
        };

        match error {
            AgentixError::Resilience(ResilienceError::BudgetExceeded(spent)) => {
                assert_eq!(spent.limit, 60);
                assert!(spent.used >= 60, "{provider}: {spent:?}");
            }
            other => panic!("{provider}: expected BudgetExceeded, got {other:?}"),
        }
        assert!(served >= 1, "{provider}");
        assert_eq!(
            sim.requests(model),
            served,
            "{provider}: rejected calls never reach it"
        );
    }
}

#[tokio::test]
async fn budget_rejection_is_not_retried_or_routed() {
    let sim = SimServer::start().await.unwrap();
    let client = client(
        &sim,
        AgentixAgentOptions {
            max_tokens_budget: Some(1),
            fallback_model: Some(CLAUDE_FALLBACK.into()),
            ..options("anthropic", CLAUDE)
        },
    );

    client.create(prompt()).await.expect("first call fits");
    let error = client.create(prompt()).await.expect_err("budget spent");

    assert!(matches!(
        error,
        AgentixError::Resilience(ResilienceError::BudgetExceeded(_))
    ));
    assert_eq!(sim.requests(CLAUDE), 1);
    assert_eq!(sim.requests(CLAUDE_FALLBACK), 0);
}

#[tokio::test]
async fn tenant_circuit_leaves_other_tenant_untouched() {
    let sim = SimServer::start().await.unwrap();
    let client = client(
        &sim,
        AgentixAgentOptions {
            retry_max_attempts: 1,
            ..options("anthropic", CLAUDE)
        },
    );

    sim.script(CLAUDE, std::iter::repeat_n(Step::error(503), 5));
    for _ in 0..5 {
        assert!(client
            .create_for_tenant("tenant-a", prompt())
            .await
            .is_err());
    }

    let error = client
        .create_for_tenant("tenant-a", prompt())
        .await
        .expect_err("tenant-a's circuit is open");
    match error {
        AgentixError::Resilience(ResilienceError::CircuitOpen(open)) => {
            assert_eq!(open.key, "tenant-a:anthropic");
        }
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
    let response = client
        .create_for_tenant("tenant-b", prompt())
        .await
        .expect("tenant-b is untouched");
    assert_eq!(response.status(), 200);
    assert_eq!(sim.requests(CLAUDE), 6);
}

#[tokio::test]
async fn options_are_validated_at_build() {
    let error = AgentixClient::builder(AgentixAgentOptions {
        model: CLAUDE.into(),
        retry_base_delay: -1.0,
        ..AgentixAgentOptions::default()
    })
    .build()
    .err()
    .expect("negative delay is rejected");

    let message = error.to_string();
    assert!(message.contains("retry_base_delay"), "{message}");
    assert!(message.contains("-1"), "{message}");
}
