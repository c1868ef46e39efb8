//! The in-memory backend applies the breaker state machine command by command.

mod support;

use std::time::Duration;

use agentix_circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    CircuitState, InMemoryCircuitBreakerBackend, Permit,
};
use tokio::time::advance;
use tower::{Service, ServiceExt};

use support::{key, policy, COOLDOWN, LEASE};

fn admit(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey) -> BreakerReply {
    admit_with(backend, key, policy())
}

fn admit_with(
    backend: &InMemoryCircuitBreakerBackend,
    key: &BreakerKey,
    policy: BreakerPolicy,
) -> BreakerReply {
    backend
        .execute(BreakerCommand::Admit {
            key: key.clone(),
            policy,
        })
        .expect("the in-memory backend never fails")
}

fn admitted(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey) -> Permit {
    match admit(backend, key) {
        BreakerReply::Admitted(permit) => permit,
        other => panic!("expected an admission, got {other:?}"),
    }
}

fn rejected_for(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey) -> Duration {
    match admit(backend, key) {
        BreakerReply::Rejected { retry_after } => retry_after,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn record(
    backend: &InMemoryCircuitBreakerBackend,
    key: &BreakerKey,
    permit: Permit,
    result: CallResult,
) {
    let reply = backend
        .execute(BreakerCommand::Record {
            key: key.clone(),
            policy: policy(),
            permit,
            result,
        })
        .expect("the in-memory backend never fails");
    assert_eq!(reply, BreakerReply::Recorded);
}

fn state(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey) -> CircuitState {
    snapshot(backend, key).state
}

fn snapshot(
    backend: &InMemoryCircuitBreakerBackend,
    key: &BreakerKey,
) -> agentix_circuit_breaker::CircuitSnapshot {
    support::snapshot(backend, key)
}

/// Records `count` failures of calls admitted one after another.
fn fail(backend: &InMemoryCircuitBreakerBackend, key: &BreakerKey, count: u32) {
    for _ in 0..count {
        let permit = admitted(backend, key);
        record(backend, key, permit, CallResult::Failure);
    }
}

#[tokio::test(start_paused = true)]
async fn fifth_failure_opens() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");

    fail(&backend, &key, 4);
    assert_eq!(state(&backend, &key), CircuitState::Closed);
    assert_eq!(snapshot(&backend, &key).consecutive_failures, 4);

    fail(&backend, &key, 1);
    assert_eq!(state(&backend, &key), CircuitState::Open);
    assert_eq!(rejected_for(&backend, &key), COOLDOWN);
}

#[tokio::test(start_paused = true)]
async fn success_resets_failure_count() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");

    fail(&backend, &key, 4);
    let permit = admitted(&backend, &key);
    record(&backend, &key, permit, CallResult::Success);
    assert_eq!(snapshot(&backend, &key).consecutive_failures, 0);

    fail(&backend, &key, 4);
    assert_eq!(state(&backend, &key), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn released_call_changes_nothing_while_closed() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");

    fail(&backend, &key, 3);
    let permit = admitted(&backend, &key);
    record(&backend, &key, permit, CallResult::Released);
    assert_eq!(snapshot(&backend, &key).consecutive_failures, 3);
}

#[tokio::test(start_paused = true)]
async fn probe_waits_for_full_cooldown() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);

    advance(COOLDOWN - Duration::from_millis(1)).await;
    assert_eq!(rejected_for(&backend, &key), Duration::from_millis(1));

    advance(Duration::from_millis(1)).await;
    assert_eq!(state(&backend, &key), CircuitState::HalfOpen);
    assert!(admitted(&backend, &key).probe);
}

#[tokio::test(start_paused = true)]
async fn rejections_do_not_extend_cooldown() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);

    for _ in 0..10 {
        advance(COOLDOWN / 10 - Duration::from_millis(1)).await;
        rejected_for(&backend, &key);
    }
    advance(Duration::from_millis(10)).await;
    assert!(admitted(&backend, &key).probe);
}

#[tokio::test(start_paused = true)]
async fn only_one_probe_at_a_time() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    advance(COOLDOWN).await;

    let probe = admitted(&backend, &key);
    assert!(probe.probe);
    for _ in 0..10 {
        assert_eq!(rejected_for(&backend, &key), LEASE);
    }
}

#[tokio::test(start_paused = true)]
async fn probe_success_closes() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    advance(COOLDOWN).await;

    let probe = admitted(&backend, &key);
    record(&backend, &key, probe, CallResult::Success);
    assert_eq!(state(&backend, &key), CircuitState::Closed);
    assert_eq!(snapshot(&backend, &key).consecutive_failures, 0);
    assert!(!admitted(&backend, &key).probe);
}

#[tokio::test(start_paused = true)]
async fn probe_failure_reopens_for_full_cooldown() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    advance(COOLDOWN).await;

    let probe = admitted(&backend, &key);
    advance(Duration::from_secs(2)).await;
    record(&backend, &key, probe, CallResult::Failure);
    assert_eq!(state(&backend, &key), CircuitState::Open);
    assert_eq!(rejected_for(&backend, &key), COOLDOWN);

    advance(COOLDOWN - Duration::from_millis(1)).await;
    rejected_for(&backend, &key);
    advance(Duration::from_millis(1)).await;
    assert!(admitted(&backend, &key).probe);
}

#[tokio::test(start_paused = true)]
async fn released_probe_frees_permit_at_once() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    advance(COOLDOWN).await;

    let probe = admitted(&backend, &key);
    record(&backend, &key, probe, CallResult::Released);
    assert_eq!(state(&backend, &key), CircuitState::HalfOpen);

    let next = admitted(&backend, &key);
    assert!(next.probe);
    assert_ne!(next.epoch, probe.epoch);
}

#[tokio::test(start_paused = true)]
async fn expired_lease_frees_permit() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    advance(COOLDOWN).await;

    let hung = admitted(&backend, &key);
    advance(LEASE - Duration::from_millis(1)).await;
    assert_eq!(rejected_for(&backend, &key), Duration::from_millis(1));
    advance(Duration::from_millis(1)).await;

    let next = admitted(&backend, &key);
    assert!(next.probe);

    // The first probe's late success belongs to a past epoch.
    record(&backend, &key, hung, CallResult::Success);
    assert_eq!(state(&backend, &key), CircuitState::HalfOpen);
    rejected_for(&backend, &key);
}

#[tokio::test(start_paused = true)]
async fn stale_success_cannot_close() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");

    let early = admitted(&backend, &key);
    fail(&backend, &key, 5);
    record(&backend, &key, early, CallResult::Success);
    assert_eq!(state(&backend, &key), CircuitState::Open);

    advance(COOLDOWN).await;
    let _probe = admitted(&backend, &key);
    record(&backend, &key, early, CallResult::Success);
    assert_eq!(state(&backend, &key), CircuitState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn stale_failure_cannot_count() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    advance(COOLDOWN).await;
    let probe = admitted(&backend, &key);
    record(&backend, &key, probe, CallResult::Success);

    // A call admitted before the circuit opened fails after it closed again.
    let before_open = Permit {
        epoch: probe.epoch - 2,
        probe: false,
    };
    record(&backend, &key, before_open, CallResult::Failure);
    assert_eq!(snapshot(&backend, &key).consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn zero_threshold_never_opens() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    let disabled = BreakerPolicy {
        failure_threshold: 0,
        ..policy()
    };

    for _ in 0..50 {
        let BreakerReply::Admitted(permit) = admit_with(&backend, &key, disabled) else {
            panic!("a disabled breaker admits every call");
        };
        let reply = backend
            .execute(BreakerCommand::Record {
                key: key.clone(),
                policy: disabled,
                permit,
                result: CallResult::Failure,
            })
            .unwrap();
        assert_eq!(reply, BreakerReply::Recorded);
    }
    assert_eq!(state(&backend, &key), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn zero_cooldown_allows_probe_at_once() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    let instant = BreakerPolicy {
        cooldown: Duration::ZERO,
        ..policy()
    };
    for _ in 0..5 {
        let BreakerReply::Admitted(permit) = admit_with(&backend, &key, instant) else {
            panic!("closed circuits admit");
        };
        backend
            .execute(BreakerCommand::Record {
                key: key.clone(),
                policy: instant,
                permit,
                result: CallResult::Failure,
            })
            .unwrap();
    }

    let BreakerReply::Admitted(probe) = admit_with(&backend, &key, instant) else {
        panic!("the first call after a zero cooldown probes");
    };
    assert!(probe.probe);
    assert!(matches!(
        admit_with(&backend, &key, instant),
        BreakerReply::Rejected { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn huge_cooldown_does_not_overflow() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    let forever = BreakerPolicy {
        failure_threshold: 1,
        cooldown: Duration::MAX,
        probe_lease: Duration::MAX,
    };
    let BreakerReply::Admitted(permit) = admit_with(&backend, &key, forever) else {
        panic!("closed circuits admit");
    };
    backend
        .execute(BreakerCommand::Record {
            key: key.clone(),
            policy: forever,
            permit,
            result: CallResult::Failure,
        })
        .unwrap();
    assert!(matches!(
        admit_with(&backend, &key, forever),
        BreakerReply::Rejected { retry_after } if retry_after > Duration::from_secs(365 * 24 * 3600)
    ));
}

#[tokio::test(start_paused = true)]
async fn tenants_are_independent() {
    let backend = InMemoryCircuitBreakerBackend::new();
    fail(&backend, &key("a"), 5);

    assert_eq!(state(&backend, &key("a")), CircuitState::Open);
    assert_eq!(state(&backend, &key("b")), CircuitState::Closed);
    assert!(!admitted(&backend, &key("b")).probe);
}

#[tokio::test(start_paused = true)]
async fn key_parts_are_not_confused() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let left = BreakerKey::new("a:b".into(), "c");
    let right = BreakerKey::new("a".into(), "b:c");
    fail(&backend, &left, 5);

    assert_eq!(state(&backend, &left), CircuitState::Open);
    assert_eq!(state(&backend, &right), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn clones_share_state() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let clone = backend.clone();
    fail(&clone, &key("acme"), 5);

    assert_eq!(state(&backend, &key("acme")), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn service_applies_commands_in_call() {
    let mut backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    for _ in 0..5 {
        let reply = backend
            .ready()
            .await
            .unwrap()
            .call(BreakerCommand::Admit {
                key: key.clone(),
                policy: policy(),
            })
            .await
            .unwrap();
        let BreakerReply::Admitted(permit) = reply else {
            panic!("closed circuits admit");
        };
        // The command takes effect in `call`, before its future is polled.
        let _unpolled = backend.call(BreakerCommand::Record {
            key: key.clone(),
            policy: policy(),
            permit,
            result: CallResult::Failure,
        });
    }
    assert_eq!(state(&backend, &key), CircuitState::Open);
}

#[test]
fn works_without_runtime() {
    let backend = InMemoryCircuitBreakerBackend::new();
    let key = key("acme");
    fail(&backend, &key, 5);
    assert!(rejected_for(&backend, &key) > Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn capacity_bounds_idle_keys() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(100);
    for tenant in 0..1_000 {
        let key = key(&format!("tenant-{tenant}"));
        let permit = admitted(&backend, &key);
        record(&backend, &key, permit, CallResult::Success);
        assert!(backend.len() <= 100, "{} keys stored", backend.len());
    }
}

#[tokio::test(start_paused = true)]
async fn eviction_keeps_failing_and_open_keys() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(10);
    fail(&backend, &key("open"), 5);
    fail(&backend, &key("failing"), 2);

    for tenant in 0..100 {
        admitted(&backend, &key(&format!("idle-{tenant}")));
    }

    assert!(backend.len() <= 10, "{} keys stored", backend.len());
    assert_eq!(state(&backend, &key("open")), CircuitState::Open);
    assert_eq!(snapshot(&backend, &key("failing")).consecutive_failures, 2);
}

#[tokio::test(start_paused = true)]
async fn eviction_drops_long_expired_open_keys() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(2);
    fail(&backend, &key("old"), 5);

    // One cooldown after the cooldown ended, the open key carries nothing worth keeping.
    advance(COOLDOWN * 2 - Duration::from_millis(1)).await;
    admitted(&backend, &key("x"));
    admitted(&backend, &key("y"));
    assert_eq!(state(&backend, &key("old")), CircuitState::HalfOpen);

    advance(Duration::from_millis(1)).await;
    admitted(&backend, &key("z"));
    assert_eq!(backend.len(), 1);
    assert_eq!(state(&backend, &key("old")), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn eviction_keeps_running_probe() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(1);
    fail(&backend, &key("probing"), 5);
    advance(COOLDOWN * 2).await;
    let probe = admitted(&backend, &key("probing"));
    assert!(probe.probe);

    advance(COOLDOWN).await;
    admitted(&backend, &key("other"));
    assert_eq!(state(&backend, &key("probing")), CircuitState::HalfOpen);
    rejected_for(&backend, &key("probing"));
}

#[tokio::test(start_paused = true)]
async fn evicted_key_ignores_old_permits() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(1);
    let key_a = key("a");
    let before = admitted(&backend, &key_a);
    fail(&backend, &key_a, 5);
    advance(COOLDOWN).await;
    let probe = admitted(&backend, &key_a);
    record(&backend, &key_a, probe, CallResult::Success);

    // "a" is closed and clean: inserting "b" evicts it.
    admitted(&backend, &key("b"));
    admitted(&backend, &key_a);
    assert!(snapshot(&backend, &key_a).epoch > probe.epoch);

    for stale in [before, probe] {
        record(&backend, &key_a, stale, CallResult::Failure);
    }
    assert_eq!(snapshot(&backend, &key_a).consecutive_failures, 0);
}

#[test]
fn debug_shows_size_not_keys() {
    let backend = InMemoryCircuitBreakerBackend::with_capacity(7);
    admitted(&backend, &key("secret-tenant"));
    let debug = format!("{backend:?}");
    assert!(debug.contains("capacity: 7"), "{debug}");
    assert!(!debug.contains("secret-tenant"), "{debug}");
    assert_eq!(backend.capacity(), 7);
    assert!(!backend.is_empty());
}
