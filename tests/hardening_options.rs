//! Invalid options through serde and through each layer's config: a clear error naming the
//! value, or a documented safe default, never a panic.

use std::time::Duration;

use agentix::http::HttpClientConfig;
use agentix::layers::{budget, circuit_breaker, retry};
use agentix::{AgentixAgentOptions, HttpClient, LlmAdapter, Provider};
use agentix_sim::{SimServer, Step};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, ServiceExt};

fn parse(text: &str) -> Result<AgentixAgentOptions, String> {
    serde_json::from_str::<AgentixAgentOptions>(text).map_err(|error| error.to_string())
}

#[test]
fn serde_rejects_wrong_types_and_ranges() {
    let cases = [
        r#"{"model": "m", "retry_max_attempts": -1}"#,
        r#"{"model": "m", "retry_max_attempts": 4294967296}"#,
        r#"{"model": "m", "retry_max_attempts": 1.5}"#,
        r#"{"model": "m", "max_tokens_budget": -5}"#,
        r#"{"model": "m", "max_tokens_budget": 18446744073709551616}"#,
        r#"{"model": "m", "retry_base_delay": 1e400}"#,
        r#"{"model": "m", "retry_base_delay": "1"}"#,
        r#"{"model": 7}"#,
        r#"{"model": "m", "retry_jiter": 0.1}"#,
        r#"{"model": "m", "circuit_breaker_failure_threshold": null}"#,
    ];
    for text in cases {
        assert!(parse(text).is_err(), "{text} deserialized");
    }
}

#[test]
fn validate_names_each_bad_value() {
    let cases: Vec<(AgentixAgentOptions, &str)> = vec![
        (
            AgentixAgentOptions {
                retry_base_delay: f64::NAN,
                ..base()
            },
            "retry_base_delay",
        ),
        (
            AgentixAgentOptions {
                retry_max_delay: f64::INFINITY,
                ..base()
            },
            "retry_max_delay",
        ),
        (
            AgentixAgentOptions {
                retry_base_delay: -1.0,
                ..base()
            },
            "retry_base_delay",
        ),
        (
            AgentixAgentOptions {
                retry_max_delay: 1e300,
                ..base()
            },
            "retry_max_delay",
        ),
        (
            AgentixAgentOptions {
                circuit_breaker_cooldown: -0.0,
                ..base()
            },
            "circuit_breaker_cooldown",
        ),
        (
            AgentixAgentOptions {
                circuit_breaker_cooldown: f64::NEG_INFINITY,
                ..base()
            },
            "circuit_breaker_cooldown",
        ),
        (
            AgentixAgentOptions {
                retry_jitter: f64::NAN,
                ..base()
            },
            "retry_jitter",
        ),
        (
            AgentixAgentOptions {
                retry_jitter: -0.1,
                ..base()
            },
            "retry_jitter",
        ),
        (
            AgentixAgentOptions {
                retry_max_attempts: 0,
                ..base()
            },
            "retry_max_attempts",
        ),
        (
            AgentixAgentOptions {
                provider: "gemini".into(),
                ..base()
            },
            "provider",
        ),
        (
            AgentixAgentOptions {
                model: " \t".into(),
                ..base()
            },
            "model",
        ),
    ];
    for (options, field) in cases {
        let error = options.validate().expect_err(field);
        assert_eq!(error.field, field);
        assert!(error.to_string().contains(field), "{error}");
    }
}

fn base() -> AgentixAgentOptions {
    AgentixAgentOptions {
        model: "m".into(),
        ..AgentixAgentOptions::default()
    }
}

/// The options reject a zero cooldown, but a positive one below a nanosecond converts to a
/// zero `Duration` and passes.
#[test]
fn subnanosecond_cooldown_becomes_zero() {
    let options = AgentixAgentOptions {
        circuit_breaker_cooldown: 1e-12,
        ..base()
    };
    let converted = options.circuit_breaker_cooldown();
    assert!(
        options.validate().is_err() || !converted.is_zero(),
        "a cooldown of 1e-12 s passes validate() and becomes {converted:?}"
    );
}

#[test]
fn layer_configs_accept_huge_durations_safely() {
    let retry = retry::RetryConfig {
        max_attempts: u32::MAX,
        base_delay: Duration::MAX,
        max_delay: Duration::MAX,
        jitter: 1.0,
        deadline: Some(Duration::MAX),
        cancel_at_deadline: true,
        ..retry::RetryConfig::default()
    };
    assert!(retry.validate().is_ok());
    let _layer = retry::RetryLayer::new(retry, LlmAdapter::default());

    let breaker = circuit_breaker::BreakerConfig {
        policy: circuit_breaker::BreakerPolicy {
            failure_threshold: u32::MAX,
            cooldown: Duration::MAX,
            probe_lease: Duration::MAX,
        },
        ..circuit_breaker::BreakerConfig::default()
    };
    assert!(breaker.validate().is_ok());

    let budget = budget::BudgetConfig {
        default_reservation: u64::MAX,
        ..budget::BudgetConfig::default()
    };
    assert!(budget.validate().is_ok());
}

#[tokio::test(start_paused = true)]
async fn breaker_with_max_cooldown_rejects_without_panic() {
    let backend = circuit_breaker::InMemoryCircuitBreakerBackend::new();
    let policy = circuit_breaker::BreakerPolicy {
        failure_threshold: 1,
        cooldown: Duration::MAX,
        probe_lease: Duration::MAX,
    };
    let key = circuit_breaker::BreakerKey::new("t".into(), "anthropic");
    use circuit_breaker::{BlockingBackend, BreakerCommand, BreakerReply, CallResult};
    let BreakerReply::Admitted(permit) = backend
        .execute(BreakerCommand::Admit {
            key: key.clone(),
            policy,
        })
        .unwrap()
    else {
        panic!("closed circuit admits");
    };
    backend
        .execute(BreakerCommand::Record {
            key: key.clone(),
            policy,
            permit,
            result: CallResult::Failure,
        })
        .unwrap();
    let reply = backend
        .execute(BreakerCommand::Admit { key, policy })
        .unwrap();
    assert!(matches!(reply, BreakerReply::Rejected { .. }), "{reply:?}");
}

/// `stream_idle_timeout` is documented as "None waits forever", and validate() only rejects
/// zero, so a very long timeout must behave like a long wait, not panic.
#[tokio::test]
async fn http_client_with_huge_timeouts() {
    let sim = SimServer::start().await.unwrap();
    sim.script_repeat("m", Step::ok());
    let config = HttpClientConfig {
        connect_timeout: Some(Duration::MAX),
        request_timeout: Some(Duration::MAX),
        pool_idle_timeout: Some(Duration::MAX),
        stream_idle_timeout: Some(Duration::MAX),
        ..HttpClientConfig::default()
    };
    assert!(config.validate().is_ok());
    let client = HttpClient::with_config(config).unwrap();
    let body = json!({"model": "m", "max_tokens": 8, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let request = Provider::Anthropic
        .request(&sim.base_url(), "k", &body)
        .unwrap();

    let outcome = tokio::spawn(async move {
        let response = client.oneshot(request).await.unwrap();
        response.into_body().collect().await.map(|_| ())
    })
    .await;
    assert!(
        outcome.is_ok(),
        "a streamed call with stream_idle_timeout = Duration::MAX panicked"
    );
}

#[tokio::test]
async fn budget_of_zero_and_max() {
    let sim = SimServer::start().await.unwrap();
    for limit in [0, u64::MAX] {
        let ledger = budget::InMemoryLedger::new(limit);
        let service =
            budget::TokenBudgetLayer::new(ledger, LlmAdapter::default()).layer(HttpClient::new());
        let body = json!({"model": "m", "max_tokens": u64::MAX,
                          "messages": [{"role": "user", "content": "hi"}]});
        let request = Provider::Anthropic
            .request(&sim.base_url(), "k", &body)
            .unwrap();
        let result = service.oneshot(request).await;
        assert_eq!(result.is_ok(), limit > 0, "limit {limit}");
    }
}
