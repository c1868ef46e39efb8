//! Config validation names the invalid field; constructors enforce it.

mod support;

use std::time::Duration;

use agentix_circuit_breaker::{
    BackendErrorPolicy, BreakerConfig, BreakerPolicy, CircuitBreaker, CircuitBreakerLayer,
    InMemoryCircuitBreakerBackend,
};

use support::{Behavior, Provider, StatusClassifier};

fn with_policy(policy: BreakerPolicy) -> BreakerConfig {
    BreakerConfig {
        policy,
        ..BreakerConfig::new("openai")
    }
}

#[test]
fn defaults_match_python_api() {
    let config = BreakerConfig::default();
    assert_eq!(config.policy.failure_threshold, 5);
    assert_eq!(config.policy.cooldown, Duration::from_secs(60));
    assert_eq!(
        config.policy.probe_lease,
        BreakerPolicy::DEFAULT_PROBE_LEASE
    );
    assert_eq!(config.tenant.as_str(), "default");
    assert_eq!(&*config.provider, "anthropic");
    assert_eq!(config.on_backend_error, BackendErrorPolicy::FailOpen);
    assert!(config.validate().is_ok());
}

#[test]
fn zero_probe_lease_is_invalid() {
    let config = with_policy(BreakerPolicy {
        probe_lease: Duration::ZERO,
        ..BreakerPolicy::default()
    });
    let error = config.validate().unwrap_err();
    assert_eq!(error.field(), "policy.probe_lease");
    assert!(
        error.to_string().contains("`policy.probe_lease`"),
        "{error}"
    );
}

#[test]
fn empty_provider_is_invalid() {
    let error = BreakerConfig::new("").validate().unwrap_err();
    assert_eq!(error.field(), "provider");
}

#[test]
fn zero_cooldown_and_threshold_are_valid() {
    let config = with_policy(BreakerPolicy {
        failure_threshold: 0,
        cooldown: Duration::ZERO,
        ..BreakerPolicy::default()
    });
    assert!(config.validate().is_ok());
}

#[test]
fn layer_try_new_rejects_invalid_config() {
    let error = CircuitBreakerLayer::try_new(
        BreakerConfig::new(""),
        InMemoryCircuitBreakerBackend::new(),
        StatusClassifier,
    )
    .unwrap_err();
    assert_eq!(error.field(), "provider");

    let service = CircuitBreaker::try_new(
        Provider::new(Behavior::Status(200)),
        BreakerConfig::new(""),
        InMemoryCircuitBreakerBackend::new(),
        StatusClassifier,
    );
    assert!(service.is_err());
}

#[test]
#[should_panic(expected = "policy.probe_lease")]
fn layer_new_panics_on_invalid_config() {
    let config = with_policy(BreakerPolicy {
        probe_lease: Duration::ZERO,
        ..BreakerPolicy::default()
    });
    let _ = CircuitBreakerLayer::new(
        config,
        InMemoryCircuitBreakerBackend::new(),
        StatusClassifier,
    );
}
