//! `AgentixAgentOptions`: defaults, deserialization and validation.

use std::time::Duration;

use agentix::AgentixAgentOptions;

fn valid() -> AgentixAgentOptions {
    AgentixAgentOptions {
        model: "claude-opus-4-20250514".into(),
        ..AgentixAgentOptions::default()
    }
}

#[test]
fn defaults_match_python_api() {
    let options = AgentixAgentOptions::default();
    assert_eq!(options.retry_max_attempts, 3);
    assert_eq!(options.retry_base_delay(), Duration::from_secs(1));
    assert_eq!(options.retry_max_delay(), Duration::from_secs(30));
    assert_eq!(options.circuit_breaker_failure_threshold, 5);
    assert_eq!(options.circuit_breaker_cooldown(), Duration::from_secs(60));
    assert_eq!(options.fallback_model, None);
    assert_eq!(options.max_tokens_budget, None);
    assert_eq!(options.provider, "anthropic");
}

#[test]
fn deserializes_float_seconds() {
    let options: AgentixAgentOptions = serde_json::from_str(
        r#"{"provider": "openai", "model": "gpt-4o", "retry_base_delay": 0.25,
            "retry_max_delay": 2.5, "circuit_breaker_cooldown": 0.5,
            "max_tokens_budget": 100000, "fallback_model": "gpt-4o-mini"}"#,
    )
    .unwrap();
    options.validate().unwrap();
    assert_eq!(options.retry_base_delay(), Duration::from_millis(250));
    assert_eq!(options.retry_max_delay(), Duration::from_millis(2500));
    assert_eq!(
        options.circuit_breaker_cooldown(),
        Duration::from_millis(500)
    );
    assert_eq!(options.max_tokens_budget, Some(100_000));
}

#[test]
fn unknown_field_is_rejected() {
    let error = serde_json::from_str::<AgentixAgentOptions>(r#"{"retry_max_attempt": 3}"#)
        .expect_err("misspelt field");
    assert!(error.to_string().contains("retry_max_attempt"), "{error}");
}

#[test]
fn negative_count_is_a_parse_error() {
    let error = serde_json::from_str::<AgentixAgentOptions>(r#"{"retry_max_attempts": -1}"#)
        .expect_err("negative attempts");
    assert!(error.to_string().contains("-1"), "{error}");
}

#[test]
fn invalid_values_name_field_and_value() {
    let cases: Vec<(AgentixAgentOptions, &str, &str)> = vec![
        (
            AgentixAgentOptions {
                retry_max_delay: 0.0,
                ..valid()
            },
            "retry_base_delay",
            "retry_max_delay = 0",
        ),
        (
            AgentixAgentOptions {
                max_tokens_budget: Some(0),
                ..valid()
            },
            "max_tokens_budget",
            "0",
        ),
        (
            AgentixAgentOptions {
                circuit_breaker_cooldown: 1e-12,
                ..valid()
            },
            "circuit_breaker_cooldown",
            "0.000000000001",
        ),
        (
            AgentixAgentOptions {
                retry_max_attempts: 0,
                ..valid()
            },
            "retry_max_attempts",
            "0",
        ),
        (
            AgentixAgentOptions {
                retry_base_delay: -0.5,
                ..valid()
            },
            "retry_base_delay",
            "-0.5",
        ),
        (
            AgentixAgentOptions {
                retry_base_delay: f64::NAN,
                ..valid()
            },
            "retry_base_delay",
            "NaN",
        ),
        (
            AgentixAgentOptions {
                retry_max_delay: f64::INFINITY,
                ..valid()
            },
            "retry_max_delay",
            "inf",
        ),
        (
            AgentixAgentOptions {
                retry_base_delay: 40.0,
                ..valid()
            },
            "retry_base_delay",
            "40",
        ),
        (
            AgentixAgentOptions {
                retry_max_delay: 1e9,
                ..valid()
            },
            "retry_max_delay",
            "1000000000",
        ),
        (
            AgentixAgentOptions {
                circuit_breaker_cooldown: 0.0,
                ..valid()
            },
            "circuit_breaker_cooldown",
            "0",
        ),
        (
            AgentixAgentOptions {
                circuit_breaker_cooldown: -3.0,
                ..valid()
            },
            "circuit_breaker_cooldown",
            "-3",
        ),
        (
            AgentixAgentOptions {
                retry_jitter: 1.5,
                ..valid()
            },
            "retry_jitter",
            "1.5",
        ),
        (
            AgentixAgentOptions {
                retry_jitter: f64::NAN,
                ..valid()
            },
            "retry_jitter",
            "NaN",
        ),
        (
            AgentixAgentOptions {
                provider: "gemini".into(),
                ..valid()
            },
            "provider",
            "gemini",
        ),
        (
            AgentixAgentOptions {
                model: String::new(),
                ..valid()
            },
            "model",
            "\"\"",
        ),
        (
            AgentixAgentOptions {
                fallback_model: Some("claude-opus-4-20250514".into()),
                ..valid()
            },
            "fallback_model",
            "claude-opus-4-20250514",
        ),
    ];

    for (options, field, value) in cases {
        let error = options.validate().expect_err(field);
        assert_eq!(error.field, field);
        let message = error.to_string();
        assert!(message.contains(field), "{message}");
        assert!(message.contains(value), "{message}");
    }
}

#[test]
fn zero_base_delay_and_threshold_are_valid() {
    let options = AgentixAgentOptions {
        retry_base_delay: 0.0,
        circuit_breaker_failure_threshold: 0,
        retry_jitter: 0.0,
        ..valid()
    };
    options.validate().unwrap();
}
