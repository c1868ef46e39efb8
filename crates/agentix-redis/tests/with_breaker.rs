//! The Redis backends under the circuit breaker's own front ends: the tower layer and the
//! blocking breaker for threads without a runtime.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agentix_circuit_breaker::{
    BackendErrorPolicy, BlockingBackend, BlockingCircuitBreaker, BreakerBackend, BreakerCommand,
    BreakerConfig, BreakerKey, BreakerPolicy, BreakerReply, CircuitBreakerLayer, CircuitState,
};
use agentix_core::{
    BoxError, CircuitOpen, Classify, Failure, FailureKind, Outcome, TenantId, TenantScoped,
};
use agentix_redis::{AsyncRedisCircuitBreakerBackend, RedisCircuitBreakerBackend};
use support::RedisServer;
use tower::{service_fn, Layer, Service, ServiceExt};

/// A request that names its tenant, and whether the provider should never reply to it.
#[derive(Clone)]
struct Call {
    tenant: TenantId,
    hang: bool,
}

impl TenantScoped for Call {
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// Classifies every error as a server error.
#[derive(Clone)]
struct ErrorsFail;

impl Classify<()> for ErrorsFail {
    fn classify(&self, result: Result<&(), &BoxError>) -> Outcome {
        match result {
            Ok(()) => Outcome::Success,
            Err(_) => Outcome::Failure(Failure::new(FailureKind::ServerError)),
        }
    }
}

fn assert_breaker_backend<B: BreakerBackend>(_: &B) {}

fn config(cooldown: Duration) -> BreakerConfig {
    BreakerConfig {
        policy: BreakerPolicy {
            failure_threshold: 5,
            cooldown,
            probe_lease: Duration::from_secs(60),
        },
        on_backend_error: BackendErrorPolicy::FailClosed,
        ..BreakerConfig::new("anthropic")
    }
}

type CallFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A provider that fails every call, or never replies to calls marked `hang`.
fn failing_provider(
    calls: Arc<AtomicUsize>,
) -> impl Service<Call, Response = (), Error = BoxError, Future = CallFuture> + Clone {
    service_fn(move |call: Call| -> CallFuture {
        calls.fetch_add(1, Ordering::SeqCst);
        if call.hang {
            Box::pin(std::future::pending())
        } else {
            Box::pin(async { Err::<(), BoxError>("provider failed".into()) })
        }
    })
}

#[tokio::test]
async fn layer_opens_circuit_in_redis() {
    let server = RedisServer::start();
    let backend = AsyncRedisCircuitBreakerBackend::new(&server.url())
        .await
        .unwrap();
    assert_breaker_backend(&backend);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer =
        CircuitBreakerLayer::new(config(Duration::from_secs(60)), backend.clone(), ErrorsFail);
    let mut service = layer.layer(failing_provider(calls.clone()));
    let call = Call {
        tenant: "acme".into(),
        hang: false,
    };

    for _ in 0..5 {
        let error = service
            .ready()
            .await
            .unwrap()
            .call(call.clone())
            .await
            .unwrap_err();
        assert!(error.downcast_ref::<CircuitOpen>().is_none());
    }
    let error = service
        .ready()
        .await
        .unwrap()
        .call(call.clone())
        .await
        .unwrap_err();
    assert!(error.downcast_ref::<CircuitOpen>().is_some(), "{error}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "an open circuit never calls the provider"
    );

    // A second client on the blocking backend gets the same open circuit.
    let blocking = RedisCircuitBreakerBackend::new(&server.url()).unwrap();
    assert_breaker_backend(&blocking);
    let mut other = CircuitBreakerLayer::new(config(Duration::from_secs(60)), blocking, ErrorsFail)
        .layer(failing_provider(calls.clone()));
    let error = other.ready().await.unwrap().call(call).await.unwrap_err();
    assert!(error.downcast_ref::<CircuitOpen>().is_some(), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn layer_dropped_probe_is_released() {
    let server = RedisServer::start();
    let backend = AsyncRedisCircuitBreakerBackend::new(&server.url())
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let config = config(Duration::from_millis(200));
    let policy = config.policy;
    let mut service = CircuitBreakerLayer::new(config, backend.clone(), ErrorsFail)
        .layer(failing_provider(calls.clone()));
    let failing = Call {
        tenant: "acme".into(),
        hang: false,
    };
    for _ in 0..5 {
        let _ = service.ready().await.unwrap().call(failing.clone()).await;
    }

    let key = BreakerKey::new("acme".into(), "anthropic");
    let inspect = || BreakerCommand::Inspect {
        key: key.clone(),
        policy,
    };
    for _ in 0..500 {
        if let BreakerReply::State(snapshot) = backend.execute(inspect()).await.unwrap() {
            if snapshot.state == CircuitState::HalfOpen {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The provider never replies to the probe, so the caller gives up and drops it.
    let hanging = Call {
        tenant: "acme".into(),
        hang: true,
    };
    let probe = service.ready().await.unwrap().call(hanging);
    let timed_out = tokio::time::timeout(Duration::from_millis(200), probe).await;
    assert!(timed_out.is_err(), "the hanging probe finished");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "the probe reached the provider"
    );

    // The release runs in the background, and the next caller gets the probe well before the
    // 60 s lease would have ended.
    let mut probed_again = false;
    for _ in 0..100 {
        let result = service.ready().await.unwrap().call(failing.clone()).await;
        if !matches!(&result, Err(error) if error.downcast_ref::<CircuitOpen>().is_some()) {
            probed_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(probed_again, "the dropped probe kept its permit");
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[test]
fn blocking_breaker_counts_failures_from_many_threads() {
    let server = RedisServer::start();
    let backend = RedisCircuitBreakerBackend::new(&server.url()).unwrap();
    let config = BreakerConfig {
        policy: BreakerPolicy {
            failure_threshold: 1_000,
            ..BreakerPolicy::default()
        },
        ..config(Duration::from_secs(60))
    };
    let policy = config.policy;
    let breaker = Arc::new(BlockingCircuitBreaker::new(config, backend.clone()));
    let tenant = TenantId::new("acme");

    let threads: Vec<_> = (0..8)
        .map(|_| {
            let breaker = Arc::clone(&breaker);
            let tenant = tenant.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    breaker
                        .admit(Some(&tenant))
                        .expect("closed circuit")
                        .failure();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("worker thread");
    }

    let inspect = BreakerCommand::Inspect {
        key: BreakerKey::new(tenant, "anthropic"),
        policy,
    };
    match backend.execute(inspect).unwrap() {
        BreakerReply::State(snapshot) => {
            assert_eq!(snapshot.state, CircuitState::Closed);
            assert_eq!(snapshot.consecutive_failures, 200, "a failure was lost");
        }
        other => panic!("expected a state, got {other:?}"),
    }
}

#[test]
fn blocking_breaker_opens_without_runtime() {
    let server = RedisServer::start();
    let backend = RedisCircuitBreakerBackend::new(&server.url()).unwrap();
    let breaker = BlockingCircuitBreaker::new(config(Duration::from_secs(60)), backend);

    for _ in 0..5 {
        breaker.admit(None).expect("closed circuit").failure();
    }
    assert!(breaker.admit(None).is_err(), "the circuit did not open");
    assert_eq!(breaker.state(None).unwrap().state, CircuitState::Open);
}
