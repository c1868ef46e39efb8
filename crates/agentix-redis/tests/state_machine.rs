//! The breaker state machine as the Redis scripts apply it, against a real `redis-server`.
//!
//! Cooldowns run on the Redis server's clock, so these tests use the real tokio clock (a
//! paused clock would fire the command timeouts at once) and short cooldowns. Timing
//! assertions compare orderings and counts, never tight durations.

mod support;

use std::time::Duration;

use agentix_circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    CircuitSnapshot, CircuitState, Permit,
};
use agentix_redis::{
    encode_key, AsyncRedisCircuitBreakerBackend, RedisBackendOptions, RedisCircuitBreakerBackend,
    RedisFailurePolicy, DEFAULT_KEY_PREFIX,
};
use support::RedisServer;
use tower::{Service, ServiceExt};

fn key(tenant: &str) -> BreakerKey {
    BreakerKey::new(tenant.into(), "anthropic")
}

fn policy(threshold: u32, cooldown_ms: u64, lease_ms: u64) -> BreakerPolicy {
    BreakerPolicy {
        failure_threshold: threshold,
        cooldown: Duration::from_millis(cooldown_ms),
        probe_lease: Duration::from_millis(lease_ms),
    }
}

fn fail_closed() -> RedisBackendOptions {
    RedisBackendOptions {
        on_redis_error: RedisFailurePolicy::FailClosed,
        ..RedisBackendOptions::default()
    }
}

async fn backend(server: &RedisServer) -> AsyncRedisCircuitBreakerBackend {
    AsyncRedisCircuitBreakerBackend::with_options(&server.url(), fail_closed())
        .await
        .expect("backend")
}

async fn send<S>(backend: &mut S, command: BreakerCommand) -> BreakerReply
where
    S: Service<BreakerCommand, Response = BreakerReply, Error = agentix_core::BoxError>,
{
    backend
        .ready()
        .await
        .expect("ready")
        .call(command)
        .await
        .expect("command")
}

async fn admit<S>(backend: &mut S, key: &BreakerKey, policy: BreakerPolicy) -> BreakerReply
where
    S: Service<BreakerCommand, Response = BreakerReply, Error = agentix_core::BoxError>,
{
    send(
        backend,
        BreakerCommand::Admit {
            key: key.clone(),
            policy,
        },
    )
    .await
}

async fn record<S>(
    backend: &mut S,
    key: &BreakerKey,
    policy: BreakerPolicy,
    permit: Permit,
    result: CallResult,
) where
    S: Service<BreakerCommand, Response = BreakerReply, Error = agentix_core::BoxError>,
{
    let reply = send(
        backend,
        BreakerCommand::Record {
            key: key.clone(),
            policy,
            permit,
            result,
        },
    )
    .await;
    assert_eq!(reply, BreakerReply::Recorded);
}

async fn inspect<S>(backend: &mut S, key: &BreakerKey, policy: BreakerPolicy) -> CircuitSnapshot
where
    S: Service<BreakerCommand, Response = BreakerReply, Error = agentix_core::BoxError>,
{
    match send(
        backend,
        BreakerCommand::Inspect {
            key: key.clone(),
            policy,
        },
    )
    .await
    {
        BreakerReply::State(snapshot) => snapshot,
        other => panic!("expected a state, got {other:?}"),
    }
}

fn permit_of(reply: BreakerReply) -> Permit {
    match reply {
        BreakerReply::Admitted(permit) => permit,
        other => panic!("expected an admission, got {other:?}"),
    }
}

/// Admits and records one failure.
async fn fail_once<S>(backend: &mut S, key: &BreakerKey, policy: BreakerPolicy)
where
    S: Service<BreakerCommand, Response = BreakerReply, Error = agentix_core::BoxError>,
{
    let permit = permit_of(admit(backend, key, policy).await);
    record(backend, key, policy, permit, CallResult::Failure).await;
}

/// Waits until the cooldown has ended on the server's clock.
async fn wait_half_open<S>(backend: &mut S, key: &BreakerKey, policy: BreakerPolicy)
where
    S: Service<BreakerCommand, Response = BreakerReply, Error = agentix_core::BoxError>,
{
    for _ in 0..500 {
        if inspect(backend, key, policy).await.state == CircuitState::HalfOpen {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the circuit did not reach half-open within 5 s");
}

#[tokio::test]
async fn fifth_failure_opens_the_circuit() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(5, 60_000, 60_000);

    for _ in 0..4 {
        fail_once(&mut backend, &key, policy).await;
    }
    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.state, CircuitState::Closed);
    assert_eq!(snapshot.consecutive_failures, 4);

    fail_once(&mut backend, &key, policy).await;
    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.state, CircuitState::Open);
    let retry_after = snapshot
        .retry_after
        .expect("open circuits report retry_after");
    assert!(retry_after <= Duration::from_secs(60), "{retry_after:?}");

    match admit(&mut backend, &key, policy).await {
        BreakerReply::Rejected { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn success_resets_the_failure_count() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(3, 60_000, 60_000);

    fail_once(&mut backend, &key, policy).await;
    fail_once(&mut backend, &key, policy).await;
    let permit = permit_of(admit(&mut backend, &key, policy).await);
    record(&mut backend, &key, policy, permit, CallResult::Success).await;
    fail_once(&mut backend, &key, policy).await;
    fail_once(&mut backend, &key, policy).await;

    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.state, CircuitState::Closed);
    assert_eq!(snapshot.consecutive_failures, 2);
}

#[tokio::test]
async fn threshold_zero_never_opens_or_writes() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(0, 60_000, 60_000);

    for _ in 0..20 {
        fail_once(&mut backend, &key, policy).await;
    }
    assert!(matches!(
        admit(&mut backend, &key, policy).await,
        BreakerReply::Admitted(Permit { probe: false, .. })
    ));
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Closed
    );
    assert_eq!(server.cli(&["DBSIZE"]), "0");
}

#[tokio::test]
async fn threshold_one_opens_on_first_failure() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1, 60_000, 60_000);

    fail_once(&mut backend, &key, policy).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Open
    );
}

#[tokio::test]
async fn rejected_admits_never_extend_the_cooldown() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1, 10_000, 60_000);
    fail_once(&mut backend, &key, policy).await;

    let before = inspect(&mut backend, &key, policy)
        .await
        .retry_after
        .unwrap();
    let mut previous = before;
    for _ in 0..50 {
        match admit(&mut backend, &key, policy).await {
            BreakerReply::Rejected { retry_after } => {
                assert!(
                    retry_after <= previous,
                    "{retry_after:?} after {previous:?}"
                );
                previous = retry_after;
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    let after = inspect(&mut backend, &key, policy)
        .await
        .retry_after
        .unwrap();
    assert!(after < before, "{after:?} is not below {before:?}");
}

#[tokio::test]
async fn cooldown_end_admits_one_probe() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1, 200, 60_000);
    fail_once(&mut backend, &key, policy).await;
    let opened_epoch = inspect(&mut backend, &key, policy).await.epoch;
    wait_half_open(&mut backend, &key, policy).await;

    let probe = permit_of(admit(&mut backend, &key, policy).await);
    assert!(probe.probe);
    assert!(probe.epoch > opened_epoch);
    for _ in 0..10 {
        match admit(&mut backend, &key, policy).await {
            BreakerReply::Rejected { retry_after } => {
                assert!(
                    retry_after > Duration::from_secs(30),
                    "lease left: {retry_after:?}"
                );
            }
            other => panic!("a second probe was admitted: {other:?}"),
        }
    }
    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.state, CircuitState::HalfOpen);
    assert!(snapshot.retry_after.is_some());

    record(&mut backend, &key, policy, probe, CallResult::Success).await;
    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.state, CircuitState::Closed);
    assert!(snapshot.epoch > probe.epoch);
    let next = permit_of(admit(&mut backend, &key, policy).await);
    assert!(!next.probe);
}

#[tokio::test]
async fn failed_probe_reopens_for_another_cooldown() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1, 200, 60_000);
    fail_once(&mut backend, &key, policy).await;
    wait_half_open(&mut backend, &key, policy).await;

    let probe = permit_of(admit(&mut backend, &key, policy).await);
    record(&mut backend, &key, policy, probe, CallResult::Failure).await;

    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.state, CircuitState::Open);
    assert!(snapshot.epoch > probe.epoch);
    assert!(matches!(
        admit(&mut backend, &key, policy).await,
        BreakerReply::Rejected { .. }
    ));
    wait_half_open(&mut backend, &key, policy).await;
    assert!(permit_of(admit(&mut backend, &key, policy).await).probe);
}

#[tokio::test]
async fn released_probe_frees_the_permit_at_once() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1, 200, 60_000);
    fail_once(&mut backend, &key, policy).await;
    wait_half_open(&mut backend, &key, policy).await;

    let first = permit_of(admit(&mut backend, &key, policy).await);
    record(&mut backend, &key, policy, first, CallResult::Released).await;
    let second = permit_of(admit(&mut backend, &key, policy).await);
    assert!(second.probe);
    assert!(second.epoch > first.epoch);

    // The released probe's epoch has passed, so its late success changes nothing.
    record(&mut backend, &key, policy, first, CallResult::Success).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::HalfOpen
    );
}

#[tokio::test]
async fn expired_lease_grants_a_new_probe() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1, 100, 300);
    fail_once(&mut backend, &key, policy).await;
    wait_half_open(&mut backend, &key, policy).await;

    let lost = permit_of(admit(&mut backend, &key, policy).await);
    assert!(matches!(
        admit(&mut backend, &key, policy).await,
        BreakerReply::Rejected { .. }
    ));
    let mut replacement = None;
    for _ in 0..300 {
        if let BreakerReply::Admitted(permit) = admit(&mut backend, &key, policy).await {
            replacement = Some(permit);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let replacement = replacement.expect("a new probe after the lease ended");
    assert!(replacement.probe);
    assert!(replacement.epoch > lost.epoch);

    record(&mut backend, &key, policy, lost, CallResult::Success).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::HalfOpen
    );
    record(&mut backend, &key, policy, replacement, CallResult::Success).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Closed
    );
}

#[tokio::test]
async fn stale_success_cannot_close_a_later_open() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(2, 60_000, 60_000);

    let early = permit_of(admit(&mut backend, &key, policy).await);
    fail_once(&mut backend, &key, policy).await;
    fail_once(&mut backend, &key, policy).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Open
    );

    record(&mut backend, &key, policy, early, CallResult::Success).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Open
    );
    // A forged probe flag on the stale permit changes nothing either.
    let forged = Permit {
        probe: true,
        ..early
    };
    record(&mut backend, &key, policy, forged, CallResult::Success).await;
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Open
    );
}

#[tokio::test]
async fn blocking_and_async_backends_share_state() {
    let server = RedisServer::start();
    let mut async_backend = backend(&server).await;
    let mut blocking_service =
        RedisCircuitBreakerBackend::with_options(&server.url(), fail_closed()).unwrap();
    let blocking = blocking_service.clone();
    let key = key("acme");
    let policy = policy(5, 60_000, 60_000);

    let thread_key = key.clone();
    std::thread::spawn(move || {
        for _ in 0..3 {
            let admit = BreakerCommand::Admit {
                key: thread_key.clone(),
                policy,
            };
            let permit = permit_of(blocking.execute(admit).unwrap());
            let record = BreakerCommand::Record {
                key: thread_key.clone(),
                policy,
                permit,
                result: CallResult::Failure,
            };
            assert_eq!(blocking.execute(record).unwrap(), BreakerReply::Recorded);
        }
    })
    .join()
    .unwrap();

    assert_eq!(
        inspect(&mut async_backend, &key, policy)
            .await
            .consecutive_failures,
        3
    );
    fail_once(&mut blocking_service, &key, policy).await;
    fail_once(&mut async_backend, &key, policy).await;

    assert_eq!(
        inspect(&mut blocking_service, &key, policy).await.state,
        CircuitState::Open
    );
    assert!(matches!(
        admit(&mut blocking_service, &key, policy).await,
        BreakerReply::Rejected { .. }
    ));
    assert!(matches!(
        admit(&mut async_backend, &key, policy).await,
        BreakerReply::Rejected { .. }
    ));
}

#[tokio::test]
async fn tenants_with_separators_are_separate_breakers() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let left = BreakerKey::new("a:b".into(), "c");
    let right = BreakerKey::new("a".into(), "b:c");
    let policy = policy(1, 60_000, 60_000);

    fail_once(&mut backend, &left, policy).await;
    assert_eq!(
        inspect(&mut backend, &left, policy).await.state,
        CircuitState::Open
    );
    assert_eq!(
        inspect(&mut backend, &right, policy).await.state,
        CircuitState::Closed
    );
    assert_eq!(server.cli(&["DBSIZE"]), "1");
}

#[tokio::test]
async fn creating_backends_and_closed_traffic_write_nothing() {
    let server = RedisServer::start();
    let mut async_backend = backend(&server).await;
    let mut blocking = RedisCircuitBreakerBackend::new(&server.url()).unwrap();
    let key = key("acme");
    let policy = policy(5, 60_000, 60_000);

    for _ in 0..5 {
        let permit = permit_of(admit(&mut async_backend, &key, policy).await);
        record(
            &mut async_backend,
            &key,
            policy,
            permit,
            CallResult::Success,
        )
        .await;
        let permit = permit_of(admit(&mut blocking, &key, policy).await);
        record(&mut blocking, &key, policy, permit, CallResult::Released).await;
    }
    inspect(&mut blocking, &key, policy).await;
    assert_eq!(server.cli(&["DBSIZE"]), "0");
}

#[tokio::test]
async fn writes_set_a_ttl_covering_cooldown_and_lease() {
    let server = RedisServer::start();
    let options = RedisBackendOptions {
        idle_ttl: Duration::from_secs(10),
        ..fail_closed()
    };
    let mut backend = AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options)
        .await
        .unwrap();
    let key = key("acme");
    let redis_key = String::from_utf8(encode_key(DEFAULT_KEY_PREFIX, &key)).unwrap();

    fail_once(&mut backend, &key, policy(5, 1_000, 1_000)).await;
    let ttl: i64 = server.cli(&["PTTL", &redis_key]).parse().unwrap();
    assert!(ttl > 5_000 && ttl <= 10_000, "idle TTL: {ttl} ms");

    fail_once(&mut backend, &key, policy(5, 30_000, 30_000)).await;
    let ttl: i64 = server.cli(&["PTTL", &redis_key]).parse().unwrap();
    assert!(
        ttl > 50_000 && ttl <= 60_000,
        "cooldown plus lease: {ttl} ms"
    );
}

#[tokio::test]
async fn expired_key_reads_closed_and_ignores_old_permits() {
    let server = RedisServer::start();
    let options = RedisBackendOptions {
        idle_ttl: Duration::from_millis(1),
        ..fail_closed()
    };
    let mut backend = AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options)
        .await
        .unwrap();
    let key = key("acme");
    let policy = policy(1, 100, 100);
    fail_once(&mut backend, &key, policy).await;
    wait_half_open(&mut backend, &key, policy).await;
    let old_probe = permit_of(admit(&mut backend, &key, policy).await);

    // The TTL is cooldown plus lease (200 ms): wait for the key to expire.
    let redis_key = String::from_utf8(encode_key(DEFAULT_KEY_PREFIX, &key)).unwrap();
    for _ in 0..300 {
        if server.cli(&["EXISTS", &redis_key]) == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.cli(&["EXISTS", &redis_key]), "0");
    assert_eq!(
        inspect(&mut backend, &key, policy).await.state,
        CircuitState::Closed
    );

    // The key opens again under an epoch above every earlier one.
    fail_once(&mut backend, &key, policy).await;
    let reopened = inspect(&mut backend, &key, policy).await;
    assert_eq!(reopened.state, CircuitState::Open);
    assert!(reopened.epoch > old_probe.epoch);
}

#[tokio::test]
async fn flushed_scripts_are_loaded_again() {
    let server = RedisServer::start();
    let mut backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(5, 60_000, 60_000);

    fail_once(&mut backend, &key, policy).await;
    server.cli(&["SCRIPT", "FLUSH"]);
    fail_once(&mut backend, &key, policy).await;
    assert_eq!(
        inspect(&mut backend, &key, policy)
            .await
            .consecutive_failures,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_are_all_counted() {
    let server = RedisServer::start();
    let backend = backend(&server).await;
    let key = key("acme");
    let policy = policy(1_000, 60_000, 60_000);

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let mut backend = backend.clone();
            let key = key.clone();
            tokio::spawn(async move { fail_once(&mut backend, &key, policy).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let mut backend = backend;
    let snapshot = inspect(&mut backend, &key, policy).await;
    assert_eq!(snapshot.consecutive_failures, 200, "a failure was lost");
}
