//! The layer admits, calls and records through a backend, keyed by tenant and provider.

mod support;

use std::time::Duration;

use agentix_circuit_breaker::{
    BackendErrorPolicy, BackendUnavailable, BreakerBackend, BreakerConfig, BreakerPolicy,
    CircuitBreaker, CircuitBreakerLayer, CircuitState, InMemoryCircuitBreakerBackend,
};
use agentix_core::{BoxError, BudgetExceeded, CircuitOpen};
use futures_util::FutureExt;
use tokio::time::{advance, timeout};
use tower::{Layer, Service, ServiceExt};

use support::{
    circuit_open, config, key, request, request_for, snapshot, Behavior, FlakyBackend, Provider,
    Request, Response, SlowBackend, StatusClassifier, COOLDOWN, LEASE,
};

type Breaker<B> = CircuitBreaker<Provider, B, StatusClassifier>;

fn breaker<B: BreakerBackend>(provider: &Provider, backend: B) -> Breaker<B> {
    CircuitBreakerLayer::new(config(), backend, StatusClassifier).layer(provider.clone())
}

fn breaker_with<B: BreakerBackend>(
    provider: &Provider,
    backend: B,
    config: BreakerConfig,
) -> Breaker<B> {
    CircuitBreakerLayer::new(config, backend, StatusClassifier).layer(provider.clone())
}

async fn send<B: BreakerBackend>(
    service: &mut Breaker<B>,
    request: Request,
) -> Result<Response, BoxError> {
    service.ready().await?.call(request).await
}

/// Sends `count` requests that the provider fails with 500, each reaching the provider.
async fn fail<B: BreakerBackend>(service: &mut Breaker<B>, provider: &Provider, count: usize) {
    provider.set(Behavior::Status(500));
    for _ in 0..count {
        let before = provider.calls();
        let response = send(service, request())
            .await
            .expect("the call is admitted");
        assert_eq!(response.status(), 500);
        assert_eq!(provider.calls(), before + 1);
    }
}

/// Sends one request whose provider call never completes, giving up after one second.
async fn send_hanging<B: BreakerBackend>(service: &mut Breaker<B>, provider: &Provider) {
    provider.set(Behavior::Hang);
    let sent = timeout(Duration::from_secs(1), send(service, request())).await;
    assert!(sent.is_err(), "a hanging call cannot complete");
}

type MockHandle = tower_test::mock::Handle<Request, Response>;
type SendResponse = tower_test::mock::SendResponse<Response>;

/// Returns the responder of the next call to reach the mock, failing rather than hanging
/// when no call comes.
async fn next_call(handle: &mut MockHandle) -> SendResponse {
    let (_, reply) = timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("a call reaches the provider")
        .expect("the mock is open");
    reply
}

#[tokio::test(start_paused = true)]
async fn fifth_failure_opens() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());

    fail(&mut service, &provider, 4).await;
    fail(&mut service, &provider, 1).await;
    assert_eq!(provider.calls(), 5);

    let error = send(&mut service, request()).await.unwrap_err();
    circuit_open(error);
    assert_eq!(provider.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn success_resets_streak() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());

    fail(&mut service, &provider, 4).await;
    provider.set(Behavior::Status(200));
    send(&mut service, request()).await.unwrap();
    fail(&mut service, &provider, 4).await;
    assert_eq!(provider.calls(), 9);

    fail(&mut service, &provider, 1).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
}

#[tokio::test(start_paused = true)]
async fn open_circuit_rejects_without_calling() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    for _ in 0..5 {
        send(&mut service, request_for("acme")).await.unwrap();
    }

    advance(Duration::from_secs(10)).await;
    for _ in 0..20 {
        let open = circuit_open(send(&mut service, request_for("acme")).await.unwrap_err());
        assert_eq!(open.key, "acme:anthropic");
        assert_eq!(open.retry_after, COOLDOWN - Duration::from_secs(10));
    }
    assert_eq!(provider.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn requests_without_tenant_use_config_tenant() {
    let provider = Provider::new(Behavior::Status(500));
    let config = BreakerConfig {
        tenant: "client-7".into(),
        ..config()
    };
    let mut service = breaker_with(&provider, InMemoryCircuitBreakerBackend::new(), config);
    fail(&mut service, &provider, 5).await;

    let open = circuit_open(send(&mut service, request()).await.unwrap_err());
    assert_eq!(open.key, "client-7:anthropic");
}

#[tokio::test(start_paused = true)]
async fn probe_waits_for_full_cooldown() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    fail(&mut service, &provider, 5).await;

    advance(COOLDOWN - Duration::from_millis(1)).await;
    let open = circuit_open(send(&mut service, request()).await.unwrap_err());
    assert_eq!(open.retry_after, Duration::from_millis(1));
    assert_eq!(provider.calls(), 5);

    advance(Duration::from_millis(1)).await;
    provider.set(Behavior::Status(200));
    send(&mut service, request()).await.unwrap();
    assert_eq!(provider.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn probe_success_closes() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    fail(&mut service, &provider, 5).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
    advance(COOLDOWN).await;

    provider.set(Behavior::Status(200));
    for _ in 0..10 {
        send(&mut service, request()).await.unwrap();
    }
    assert_eq!(provider.calls(), 15);
}

#[tokio::test(start_paused = true)]
async fn probe_failure_reopens_for_full_cooldown() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    fail(&mut service, &provider, 5).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
    advance(COOLDOWN).await;

    fail(&mut service, &provider, 1).await;
    let open = circuit_open(send(&mut service, request()).await.unwrap_err());
    assert_eq!(open.retry_after, COOLDOWN);

    advance(COOLDOWN - Duration::from_millis(1)).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
    advance(Duration::from_millis(1)).await;
    fail(&mut service, &provider, 1).await;
    assert_eq!(provider.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_one_of_fifty() {
    let provider = Provider::new(Behavior::Status(500));
    let backend = FlakyBackend::default();
    let mut service = breaker(&provider, backend.clone());
    fail(&mut service, &provider, 5).await;
    advance(COOLDOWN).await;
    let records_before = backend.records();

    provider.set(Behavior::Hang);
    let callers: Vec<_> = (0..50)
        .map(|_| tokio::spawn(service.clone().oneshot(request())))
        .collect();

    let mut probe = None;
    let mut rejected = 0;
    for mut caller in callers {
        match timeout(Duration::from_secs(1), &mut caller).await {
            Ok(joined) => {
                circuit_open(joined.expect("the caller does not panic").unwrap_err());
                rejected += 1;
            }
            Err(_) => {
                assert!(
                    probe.is_none(),
                    "a second caller is hanging in the provider"
                );
                probe = Some(caller);
            }
        }
    }
    assert_eq!(rejected, 49);
    assert_eq!(provider.calls(), 6);

    // Dropping the probe's future frees the permit at once and records no outcome.
    let probe = probe.expect("one caller probes");
    probe.abort();
    assert!(probe.await.unwrap_err().is_cancelled());
    assert_eq!(backend.records() - records_before, 1);
    assert_eq!(backend.releases(), 1);
    let state = backend.snapshot(&key("default"));
    assert_eq!(state.state, CircuitState::HalfOpen);
    assert_eq!(state.retry_after, None);
    assert_eq!(state.consecutive_failures, 5);

    send_hanging(&mut service, &provider).await;
    assert_eq!(provider.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn hung_probe_loses_lease() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    fail(&mut service, &provider, 5).await;
    advance(COOLDOWN).await;

    provider.set(Behavior::Hang);
    let hung = tokio::spawn(service.clone().oneshot(request()));
    tokio::task::yield_now().await;
    assert_eq!(provider.calls(), 6);
    provider.set(Behavior::Status(200));

    advance(LEASE - Duration::from_millis(1)).await;
    let open = circuit_open(send(&mut service, request()).await.unwrap_err());
    assert_eq!(open.retry_after, Duration::from_millis(1));

    advance(Duration::from_millis(1)).await;
    send(&mut service, request()).await.unwrap();
    assert_eq!(provider.calls(), 7);
    hung.abort();
}

#[tokio::test(start_paused = true)]
async fn dropped_ordinary_call_records_nothing() {
    let provider = Provider::new(Behavior::Hang);
    let backend = FlakyBackend::default();
    let mut service = breaker(&provider, backend.clone());

    send_hanging(&mut service, &provider).await;
    assert_eq!(backend.admits(), 1);
    assert_eq!(backend.records(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropped_probe_release_is_spawned_when_pending() {
    let provider = Provider::new(Behavior::Status(500));
    let backend = SlowBackend::default();
    let mut service = breaker(&provider, backend.clone());
    fail(&mut service, &provider, 5).await;
    advance(COOLDOWN).await;

    send_hanging(&mut service, &provider).await;
    assert_eq!(provider.calls(), 6);

    // The release runs on the runtime; once it has, the next caller probes.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    let state = snapshot(&backend.inner, &key("default"));
    assert_eq!(state.state, CircuitState::HalfOpen);
    assert_eq!(state.retry_after, None);
}

#[tokio::test(start_paused = true)]
async fn result_waits_for_record() {
    let provider = Provider::new(Behavior::Status(500));
    let backend = SlowBackend::default();
    let mut service = breaker(&provider, backend.clone());

    for expected in 1..=3 {
        send(&mut service, request()).await.unwrap();
        let state = snapshot(&backend.inner, &key("default"));
        assert_eq!(state.consecutive_failures, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn call_admitted_before_opening_cannot_close() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Response>();
    let backend = InMemoryCircuitBreakerBackend::new();
    let layer = CircuitBreakerLayer::new(config(), backend.clone(), StatusClassifier);
    let service = layer.layer(mock);

    let early = tokio::spawn(service.clone().oneshot(request()));
    let early_reply = next_call(&mut handle).await;

    for _ in 0..5 {
        let failing = tokio::spawn(service.clone().oneshot(request()));
        let reply = next_call(&mut handle).await;
        reply.send_response(support::response(503));
        failing.await.unwrap().unwrap();
    }
    assert_eq!(
        snapshot(&backend, &key("default")).state,
        CircuitState::Open
    );

    early_reply.send_response(support::response(200));
    early.await.unwrap().unwrap();
    assert_eq!(
        snapshot(&backend, &key("default")).state,
        CircuitState::Open
    );
}

#[tokio::test(start_paused = true)]
async fn tenants_are_independent() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    for _ in 0..5 {
        send(&mut service, request_for("a")).await.unwrap();
    }
    circuit_open(send(&mut service, request_for("a")).await.unwrap_err());

    provider.set(Behavior::Status(200));
    send(&mut service, request_for("b")).await.unwrap();
    send(&mut service, request()).await.unwrap();
    assert_eq!(provider.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn services_from_one_layer_share_state() {
    let provider = Provider::new(Behavior::Status(500));
    let other = Provider::new(Behavior::Status(200));
    let layer = CircuitBreakerLayer::new(
        config(),
        InMemoryCircuitBreakerBackend::new(),
        StatusClassifier,
    );
    let mut first = layer.layer(provider.clone());
    let mut second = layer.layer(other.clone());

    fail(&mut first, &provider, 5).await;
    circuit_open(send(&mut second, request()).await.unwrap_err());
    assert_eq!(other.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn clones_share_state() {
    let provider = Provider::new(Behavior::Status(500));
    let service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    let mut clone = service.clone();
    fail(&mut clone, &provider, 5).await;

    let rejected = service.oneshot(request()).await.unwrap_err();
    circuit_open(rejected);
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_failures() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());

    for status in [400, 401, 403, 404, 413, 422] {
        fail(&mut service, &provider, 4).await;
        provider.set(Behavior::Status(status));
        for _ in 0..10 {
            let response = send(&mut service, request()).await.unwrap();
            assert_eq!(response.status(), status);
        }
    }
    fail(&mut service, &provider, 4).await;
    assert_eq!(provider.calls(), 7 * 4 + 6 * 10);

    fail(&mut service, &provider, 1).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
}

#[tokio::test(start_paused = true)]
async fn client_error_closes_probing_circuit() {
    let provider = Provider::new(Behavior::Status(500));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());
    fail(&mut service, &provider, 5).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
    advance(COOLDOWN).await;

    provider.set(Behavior::Status(401));
    send(&mut service, request()).await.unwrap();
    fail(&mut service, &provider, 4).await;
    assert_eq!(provider.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn local_rejections_are_not_failures() {
    fn circuit_open_error() -> BoxError {
        Box::new(CircuitOpen {
            key: "inner:anthropic".into(),
            retry_after: Duration::from_secs(1),
        })
    }
    fn budget_error() -> BoxError {
        Box::new(BudgetExceeded {
            scope: "client".into(),
            used: 10,
            limit: 10,
        })
    }

    let provider = Provider::new(Behavior::Status(500));
    let backend = InMemoryCircuitBreakerBackend::new();
    let mut service = breaker(&provider, backend.clone());

    fail(&mut service, &provider, 4).await;
    for build in [circuit_open_error as fn() -> BoxError, budget_error] {
        provider.set(Behavior::Error(build));
        for _ in 0..10 {
            send(&mut service, request()).await.unwrap_err();
        }
    }
    assert_eq!(snapshot(&backend, &key("default")).consecutive_failures, 4);

    // As a probe, a local rejection releases the permit for the next caller.
    fail(&mut service, &provider, 1).await;
    advance(COOLDOWN).await;
    provider.set(Behavior::Error(budget_error));
    let error = send(&mut service, request()).await.unwrap_err();
    assert!(error.is::<BudgetExceeded>());
    let state = snapshot(&backend, &key("default"));
    assert_eq!(state.state, CircuitState::HalfOpen);
    assert_eq!(state.retry_after, None);
}

#[tokio::test(start_paused = true)]
async fn transport_errors_are_failures() {
    fn reset() -> BoxError {
        Box::new(std::io::Error::other("connection reset"))
    }
    let provider = Provider::new(Behavior::Error(reset));
    let mut service = breaker(&provider, InMemoryCircuitBreakerBackend::new());

    for _ in 0..5 {
        let error = send(&mut service, request()).await.unwrap_err();
        assert!(error.is::<std::io::Error>());
    }
    circuit_open(send(&mut service, request()).await.unwrap_err());
}

#[tokio::test(start_paused = true)]
async fn zero_threshold_never_opens() {
    let provider = Provider::new(Behavior::Status(500));
    let backend = FlakyBackend::default();
    let config = BreakerConfig {
        policy: BreakerPolicy {
            failure_threshold: 0,
            ..support::policy()
        },
        ..config()
    };
    let mut service = breaker_with(&provider, backend.clone(), config);

    for _ in 0..100 {
        send(&mut service, request()).await.unwrap();
    }
    assert_eq!(provider.calls(), 100);
    assert_eq!(backend.admits(), 0);
    assert_eq!(backend.records(), 0);
}

#[tokio::test(start_paused = true)]
async fn failing_backend_fails_open_by_default() {
    let provider = Provider::new(Behavior::Status(500));
    let backend = FlakyBackend::default();
    let mut service = breaker(&provider, backend.clone());
    backend.set_down(true);

    for _ in 0..20 {
        let response = send(&mut service, request()).await.unwrap();
        assert_eq!(response.status(), 500);
    }
    assert_eq!(provider.calls(), 20);
    assert_eq!(backend.records(), 0);

    // Once the backend responds again, calls are guarded and recorded.
    backend.set_down(false);
    fail(&mut service, &provider, 5).await;
    circuit_open(send(&mut service, request()).await.unwrap_err());
}

#[tokio::test(start_paused = true)]
async fn failing_backend_fails_closed_when_configured() {
    let provider = Provider::new(Behavior::Status(200));
    let backend = FlakyBackend::default();
    let config = BreakerConfig {
        tenant: "acme".into(),
        on_backend_error: BackendErrorPolicy::FailClosed,
        ..config()
    };
    let mut service = breaker_with(&provider, backend.clone(), config);
    backend.set_down(true);

    let error = send(&mut service, request()).await.unwrap_err();
    let unavailable = error
        .downcast::<BackendUnavailable>()
        .expect("a BackendUnavailable error");
    assert_eq!(unavailable.key, "acme:anthropic");
    assert_eq!(unavailable.source.to_string(), "breaker store unreachable");
    assert!(unavailable.to_string().contains("acme:anthropic"));
    assert_eq!(provider.calls(), 0);

    backend.set_down(false);
    send(&mut service, request()).await.unwrap();
    assert_eq!(provider.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn failing_record_still_returns_result() {
    let provider = Provider::new(Behavior::Status(503));
    let backend = FlakyBackend::default();
    let mut service = breaker(&provider, backend.clone());
    backend
        .fail_records
        .store(true, std::sync::atomic::Ordering::SeqCst);

    for _ in 0..10 {
        let response = send(&mut service, request()).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    assert_eq!(backend.records(), 10);
    assert_eq!(backend.snapshot(&key("default")).consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limited_inner_stays_ready() {
    for status in [200, 500] {
        let provider = Provider::new(Behavior::Status(status));
        let limited = tower::limit::ConcurrencyLimit::new(provider.clone(), 1);
        let mut service = CircuitBreakerLayer::new(
            config(),
            InMemoryCircuitBreakerBackend::new(),
            StatusClassifier,
        )
        .layer(limited);

        for _ in 0..1_000 {
            let ready = timeout(Duration::from_secs(1), service.ready())
                .await
                .expect("the permit of the previous call was returned")
                .unwrap();
            let _ = ready.call(request()).await;
        }
        let expected_calls = if status == 200 { 1_000 } else { 5 };
        assert_eq!(provider.calls(), expected_calls);
    }
}

#[tokio::test(start_paused = true)]
async fn readied_inner_moves_into_future() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Response>();
    let mut service = CircuitBreakerLayer::new(
        config(),
        InMemoryCircuitBreakerBackend::new(),
        StatusClassifier,
    )
    .layer(mock);

    // The mock panics when a service is called without being readied first.
    for _ in 0..3 {
        let call = service.ready().await.unwrap().call(request());
        let clone_call = service.clone().oneshot(request());
        let both = tokio::spawn(async move { (call.await, clone_call.await) });
        for _ in 0..2 {
            let reply = next_call(&mut handle).await;
            reply.send_response(support::response(200));
        }
        let (first, second) = both.await.unwrap();
        first.unwrap();
        second.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn unready_inner_keeps_breaker_unready() {
    let (mock, mut handle) = tower_test::mock::pair::<Request, Response>();
    let mut service = breaker_for_mock(mock);
    handle.allow(0);

    assert!(service.ready().now_or_never().is_none());
    handle.allow(1);
    service.ready().await.unwrap();
}

fn breaker_for_mock(
    mock: tower_test::mock::Mock<Request, Response>,
) -> CircuitBreaker<
    tower_test::mock::Mock<Request, Response>,
    InMemoryCircuitBreakerBackend,
    StatusClassifier,
> {
    CircuitBreakerLayer::new(
        config(),
        InMemoryCircuitBreakerBackend::new(),
        StatusClassifier,
    )
    .layer(mock)
}

#[test]
fn dropped_probe_released_without_runtime() {
    std::thread::spawn(|| {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let provider = Provider::new(Behavior::Status(500));
        let backend = InMemoryCircuitBreakerBackend::new();
        let config = BreakerConfig {
            policy: BreakerPolicy {
                cooldown: Duration::ZERO,
                ..support::policy()
            },
            ..config()
        };
        let mut service = breaker_with(&provider, backend.clone(), config);
        let send_now = |service: &mut Breaker<InMemoryCircuitBreakerBackend>| {
            service.call(request()).now_or_never()
        };

        for _ in 0..5 {
            send_now(&mut service).expect("completes at once").unwrap();
        }
        provider.set(Behavior::Hang);
        assert!(
            send_now(&mut service).is_none(),
            "the probe hangs and is dropped"
        );
        assert_eq!(provider.calls(), 6);

        let state = snapshot(&backend, &key("default"));
        assert_eq!(state.state, CircuitState::HalfOpen);
        assert_eq!(state.retry_after, None);
    })
    .join()
    .expect("the test thread does not panic");
}
