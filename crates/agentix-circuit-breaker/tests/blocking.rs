//! The blocking breaker guards synchronous calls on threads without a runtime.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use agentix_circuit_breaker::{
    AdmitError, BackendErrorPolicy, BlockingBackend, BlockingCallError, BlockingCircuitBreaker,
    BreakerCommand, BreakerConfig, BreakerPolicy, BreakerReply, CircuitState,
    InMemoryCircuitBreakerBackend,
};
use agentix_core::{BoxError, CircuitOpen, TenantId};

use support::config;

/// Returns a config whose cooldown passes quickly in real time.
fn fast_config() -> BreakerConfig {
    BreakerConfig {
        policy: BreakerPolicy {
            failure_threshold: 3,
            cooldown: Duration::from_millis(50),
            probe_lease: Duration::from_secs(60),
        },
        ..config()
    }
}

fn open_error(error: AdmitError) -> CircuitOpen {
    match error {
        AdmitError::CircuitOpen(open) => open,
        other => panic!("expected CircuitOpen, got {other}"),
    }
}

/// Runs `test` on a plain thread, where no tokio runtime exists.
fn on_plain_thread(test: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        assert!(tokio::runtime::Handle::try_current().is_err());
        test();
    })
    .join()
    .expect("the test thread does not panic");
}

#[test]
fn third_failure_opens_on_plain_thread() {
    on_plain_thread(|| {
        let breaker =
            BlockingCircuitBreaker::new(fast_config(), InMemoryCircuitBreakerBackend::new());

        for _ in 0..3 {
            breaker.admit(None).expect("closed").failure();
        }
        let open = open_error(breaker.admit(None).unwrap_err());
        assert_eq!(open.key, "default:anthropic");
        assert!(open.retry_after <= Duration::from_millis(50));
        assert_eq!(breaker.state(None).unwrap().state, CircuitState::Open);
    });
}

#[test]
fn probe_after_cooldown_closes() {
    on_plain_thread(|| {
        let breaker =
            BlockingCircuitBreaker::new(fast_config(), InMemoryCircuitBreakerBackend::new());
        for _ in 0..3 {
            breaker.admit(None).unwrap().failure();
        }

        thread::sleep(Duration::from_millis(60));
        let probe = breaker.admit(None).expect("the cooldown has ended");
        assert!(probe.is_probe());
        open_error(breaker.admit(None).unwrap_err());

        probe.success();
        assert_eq!(breaker.state(None).unwrap().state, CircuitState::Closed);
        assert!(!breaker.admit(None).unwrap().is_probe());
    });
}

#[test]
fn dropped_probe_frees_permit() {
    on_plain_thread(|| {
        let breaker =
            BlockingCircuitBreaker::new(fast_config(), InMemoryCircuitBreakerBackend::new());
        for _ in 0..3 {
            breaker.admit(None).unwrap().failure();
        }
        thread::sleep(Duration::from_millis(60));

        let probe = breaker.admit(None).unwrap();
        assert!(probe.is_probe());
        drop(probe);

        let state = breaker.state(None).unwrap();
        assert_eq!(state.state, CircuitState::HalfOpen);
        assert_eq!(state.retry_after, None);
        assert_eq!(state.consecutive_failures, 3);
        assert!(breaker.admit(None).unwrap().is_probe());
    });
}

#[test]
fn panicking_call_releases_probe() {
    let breaker = Arc::new(BlockingCircuitBreaker::new(
        fast_config(),
        InMemoryCircuitBreakerBackend::new(),
    ));
    for _ in 0..3 {
        breaker.admit(None).unwrap().failure();
    }
    thread::sleep(Duration::from_millis(60));

    let shared = breaker.clone();
    let panicked = thread::spawn(move || {
        let _ = shared.call(
            None,
            || -> Result<(), ()> { panic!("provider client bug") },
            |_| true,
        );
    })
    .join();
    assert!(panicked.is_err());
    assert!(breaker.admit(None).unwrap().is_probe());
}

#[test]
fn call_records_outcomes() {
    on_plain_thread(|| {
        let breaker =
            BlockingCircuitBreaker::new(fast_config(), InMemoryCircuitBreakerBackend::new());
        let calls = AtomicUsize::new(0);
        let status_call = |status: u16| {
            calls.fetch_add(1, Ordering::SeqCst);
            if status < 400 {
                Ok(status)
            } else {
                Err(status)
            }
        };
        let is_failure = |status: &u16| *status >= 500 || *status == 429;

        // Client errors count as answers, not failures.
        for _ in 0..10 {
            let result = breaker.call(None, || status_call(400), is_failure);
            assert!(matches!(result, Err(BlockingCallError::Call(400))));
        }
        assert_eq!(breaker.state(None).unwrap().consecutive_failures, 0);

        for _ in 0..2 {
            breaker
                .call(None, || status_call(503), is_failure)
                .unwrap_err();
        }
        assert_eq!(
            breaker.call(None, || status_call(200), is_failure).unwrap(),
            200
        );
        assert_eq!(breaker.state(None).unwrap().consecutive_failures, 0);

        for _ in 0..3 {
            breaker
                .call(None, || status_call(429), is_failure)
                .unwrap_err();
        }
        let before = calls.load(Ordering::SeqCst);
        let rejected = breaker
            .call(None, || status_call(200), is_failure)
            .unwrap_err();
        assert!(matches!(
            rejected,
            BlockingCallError::Rejected(AdmitError::CircuitOpen(_))
        ));
        assert_eq!(calls.load(Ordering::SeqCst), before);
    });
}

#[test]
fn tenants_are_independent() {
    on_plain_thread(|| {
        let breaker =
            BlockingCircuitBreaker::new(fast_config(), InMemoryCircuitBreakerBackend::new());
        let a = TenantId::new("a");
        let b = TenantId::new("b");
        for _ in 0..3 {
            breaker.admit(Some(&a)).unwrap().failure();
        }

        let open = open_error(breaker.admit(Some(&a)).unwrap_err());
        assert_eq!(open.key, "a:anthropic");
        breaker.admit(Some(&b)).unwrap().success();
        breaker.admit(None).unwrap().success();
    });
}

#[test]
fn one_probe_across_threads() {
    let breaker = Arc::new(BlockingCircuitBreaker::new(
        fast_config(),
        InMemoryCircuitBreakerBackend::new(),
    ));
    for _ in 0..3 {
        breaker.admit(None).unwrap().failure();
    }
    thread::sleep(Duration::from_millis(60));

    let barrier = Arc::new(Barrier::new(16));
    let probes = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (breaker, barrier, probes) = (breaker.clone(), barrier.clone(), probes.clone());
            thread::spawn(move || {
                let admitted = breaker.admit(None);
                if let Ok(permit) = &admitted {
                    assert!(permit.is_probe());
                    probes.fetch_add(1, Ordering::SeqCst);
                }
                // Every thread requests admission before any probe reports its outcome.
                barrier.wait();
                if let Ok(permit) = admitted {
                    permit.failure();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(probes.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.state(None).unwrap().state, CircuitState::Open);
}

#[test]
fn zero_threshold_sends_no_commands() {
    struct Counting(Arc<AtomicUsize>);
    impl BlockingBackend for Counting {
        fn execute(&self, _command: BreakerCommand) -> Result<BreakerReply, BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("a disabled breaker sends no commands".into())
        }
    }

    let config = BreakerConfig {
        policy: BreakerPolicy {
            failure_threshold: 0,
            ..BreakerPolicy::default()
        },
        on_backend_error: BackendErrorPolicy::FailClosed,
        ..config()
    };
    let commands = Arc::new(AtomicUsize::new(0));
    let breaker = BlockingCircuitBreaker::new(config, Counting(commands.clone()));
    for _ in 0..10 {
        breaker.admit(None).unwrap().failure();
    }
    assert_eq!(commands.load(Ordering::SeqCst), 0);
}

struct Down;

impl BlockingBackend for Down {
    fn execute(&self, _command: BreakerCommand) -> Result<BreakerReply, BoxError> {
        Err("breaker store unreachable".into())
    }
}

#[test]
fn failing_backend_fails_open() {
    let breaker = BlockingCircuitBreaker::new(config(), Down);
    for _ in 0..10 {
        let value = breaker.call(None, || Err::<(), u16>(503), |_| true);
        assert!(matches!(value, Err(BlockingCallError::Call(503))));
    }
}

#[test]
fn failing_backend_fails_closed() {
    let config = BreakerConfig {
        on_backend_error: BackendErrorPolicy::FailClosed,
        tenant: "acme".into(),
        ..config()
    };
    let breaker = BlockingCircuitBreaker::new(config, Down);
    let error = breaker.admit(None).unwrap_err();
    let AdmitError::BackendUnavailable(unavailable) = &error else {
        panic!("expected BackendUnavailable, got {error}");
    };
    assert_eq!(unavailable.key, "acme:anthropic");
    assert!(error.to_string().contains("breaker store unreachable"));
    assert!(error
        .into_inner()
        .is::<agentix_circuit_breaker::BackendUnavailable>());
}

#[test]
fn invalid_config_is_rejected() {
    let config = BreakerConfig {
        policy: BreakerPolicy {
            probe_lease: Duration::ZERO,
            ..BreakerPolicy::default()
        },
        ..config()
    };
    let error =
        BlockingCircuitBreaker::try_new(config, InMemoryCircuitBreakerBackend::new()).unwrap_err();
    assert_eq!(error.field(), "policy.probe_lease");
}
