//! Redis failures: down at start, killed and restarted, paused, corrupt keys, fail-closed.
//!
//! These tests use the real clock: the backends bound each command by a real timeout, and
//! the assertions on time allow generous slack because the machine may be busy.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentix_circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    CircuitState, Permit,
};
use agentix_core::BoxError;
use agentix_redis::{
    encode_key, AsyncRedisCircuitBreakerBackend, RedisBackendError, RedisBackendOptions,
    RedisCircuitBreakerBackend, RedisFailurePolicy, DEFAULT_KEY_PREFIX,
};
use support::{free_port, RedisServer};

/// Bound on a command in these tests; slack is added for a busy machine.
const TIMEOUT: Duration = Duration::from_millis(200);
const SLACK: Duration = Duration::from_millis(800);
/// Epochs of the local fallback carry this bit; Redis epochs never do.
const LOCAL_EPOCH_BIT: u64 = 1 << 63;

fn policy() -> BreakerPolicy {
    BreakerPolicy {
        failure_threshold: 5,
        cooldown: Duration::from_secs(60),
        probe_lease: Duration::from_secs(60),
    }
}

fn options(retry_backoff: Duration) -> RedisBackendOptions {
    RedisBackendOptions {
        command_timeout: TIMEOUT,
        retry_backoff,
        ..RedisBackendOptions::default()
    }
}

fn admit(key: &BreakerKey) -> BreakerCommand {
    BreakerCommand::Admit {
        key: key.clone(),
        policy: policy(),
    }
}

fn record(key: &BreakerKey, permit: Permit, result: CallResult) -> BreakerCommand {
    BreakerCommand::Record {
        key: key.clone(),
        policy: policy(),
        permit,
        result,
    }
}

fn inspect(key: &BreakerKey) -> BreakerCommand {
    BreakerCommand::Inspect {
        key: key.clone(),
        policy: policy(),
    }
}

fn permit_of(reply: BreakerReply) -> Permit {
    match reply {
        BreakerReply::Admitted(permit) => permit,
        other => panic!("expected an admission, got {other:?}"),
    }
}

async fn timed(
    backend: &AsyncRedisCircuitBreakerBackend,
    command: BreakerCommand,
) -> Result<BreakerReply, BoxError> {
    let started = Instant::now();
    let reply = backend.execute(command).await;
    let elapsed = started.elapsed();
    assert!(elapsed < TIMEOUT + SLACK, "a command took {elapsed:?}");
    reply
}

fn timed_blocking(
    backend: &RedisCircuitBreakerBackend,
    command: BreakerCommand,
) -> Result<BreakerReply, BoxError> {
    let started = Instant::now();
    let reply = backend.execute(command);
    let elapsed = started.elapsed();
    assert!(
        elapsed < TIMEOUT + SLACK,
        "a blocking command took {elapsed:?}"
    );
    reply
}

/// Admits and records five failures, which opens a breaker with the default threshold.
async fn open_async(backend: &AsyncRedisCircuitBreakerBackend, key: &BreakerKey) {
    for _ in 0..5 {
        let permit = permit_of(timed(backend, admit(key)).await.unwrap());

        let reply = timed(backend, record(key, permit, CallResult::Failure)).await;
        assert_eq!(reply.unwrap(), BreakerReply::Recorded);
    }
}

fn open_blocking(backend: &RedisCircuitBreakerBackend, key: &BreakerKey) {
    for _ in 0..5 {
        let permit = permit_of(timed_blocking(backend, admit(key)).unwrap());
        let reply = timed_blocking(backend, record(key, permit, CallResult::Failure));
        assert_eq!(reply.unwrap(), BreakerReply::Recorded);
    }
}

/// Admits until an admission comes from Redis, for up to about 2 s.
async fn uses_redis_again(backend: &AsyncRedisCircuitBreakerBackend, key: &BreakerKey) -> bool {
    for _ in 0..100 {
        let permit = permit_of(timed(backend, admit(key)).await.unwrap());
        if permit.epoch & LOCAL_EPOCH_BIT == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn redis_down_at_start_uses_local_breaker() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let backend =
        AsyncRedisCircuitBreakerBackend::with_options(&url, options(Duration::from_secs(1)))
            .await
            .expect("an unreachable server is no construction error");
    let key = BreakerKey::new("acme".into(), "anthropic");

    open_async(&backend, &key).await;
    assert!(matches!(
        timed(&backend, admit(&key)).await.unwrap(),
        BreakerReply::Rejected { .. }
    ));
}

#[tokio::test]
async fn blocking_backend_down_at_start_uses_local_breaker() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let backend = RedisCircuitBreakerBackend::with_options(&url, options(Duration::from_secs(1)))
        .expect("an unreachable server is no construction error");
    let key = BreakerKey::new("acme".into(), "anthropic");

    tokio::task::spawn_blocking(move || {
        open_blocking(&backend, &key);
        assert!(matches!(
            timed_blocking(&backend, admit(&key)).unwrap(),
            BreakerReply::Rejected { .. }
        ));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn restarted_server_is_used_again() {
    let mut server = RedisServer::start();
    let port = server.port();
    let backend = AsyncRedisCircuitBreakerBackend::with_options(
        &server.url(),
        options(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let local = BreakerKey::new("during-outage".into(), "anthropic");
    let shared = BreakerKey::new("shared".into(), "anthropic");

    server.kill();
    // The local fallback still cuts a failing provider off during the outage.
    open_async(&backend, &local).await;
    assert!(matches!(
        timed(&backend, admit(&local)).await.unwrap(),
        BreakerReply::Rejected { .. }
    ));

    let server = RedisServer::start_on(port);
    let other =
        RedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::ZERO)).unwrap();
    let opener = other.clone();
    let shared_key = shared.clone();
    tokio::task::spawn_blocking(move || open_blocking(&opener, &shared_key))
        .await
        .unwrap();

    // Once its backoff ends, the first backend reads the breaker the other one opened.
    let mut rejected = false;
    for _ in 0..100 {
        if let BreakerReply::Rejected { .. } = timed(&backend, admit(&shared)).await.unwrap() {
            rejected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        rejected,
        "the shared open breaker was never seen after the restart"
    );
    match timed(&backend, inspect(&shared)).await.unwrap() {
        BreakerReply::State(snapshot) => {
            assert_eq!(snapshot.state, CircuitState::Open);
            assert_eq!(
                snapshot.epoch & LOCAL_EPOCH_BIT,
                0,
                "epoch of the local breaker"
            );
        }
        other => panic!("expected a state, got {other:?}"),
    }
}

#[tokio::test]
async fn paused_server_calls_return_within_timeout() {
    let server = RedisServer::start();
    let backend =
        AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::ZERO))
            .await
            .unwrap();
    let blocking =
        RedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::ZERO)).unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");
    permit_of(timed(&backend, admit(&key)).await.unwrap());
    let warm = blocking.clone();
    let warm_key = key.clone();
    tokio::task::spawn_blocking(move || {
        permit_of(timed_blocking(&warm, admit(&warm_key)).unwrap())
    })
    .await
    .unwrap();

    server.pause();
    for _ in 0..3 {
        let permit = permit_of(timed(&backend, admit(&key)).await.unwrap());
        assert_ne!(
            permit.epoch & LOCAL_EPOCH_BIT,
            0,
            "served by the local fallback"
        );
    }
    let paused = blocking.clone();
    let paused_key = key.clone();
    tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            let permit = permit_of(timed_blocking(&paused, admit(&paused_key)).unwrap());
            assert_ne!(
                permit.epoch & LOCAL_EPOCH_BIT,
                0,
                "served by the local fallback"
            );
        }
    })
    .await
    .unwrap();

    server.resume();
    let mut back = false;
    for _ in 0..100 {
        let permit = permit_of(timed(&backend, admit(&key)).await.unwrap());
        if permit.epoch & LOCAL_EPOCH_BIT == 0 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        back,
        "the async backend never used Redis again after the pause"
    );
    let resumed_key = key.clone();
    let back = tokio::task::spawn_blocking(move || {
        (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let permit = permit_of(timed_blocking(&blocking, admit(&resumed_key)).unwrap());
            permit.epoch & LOCAL_EPOCH_BIT == 0
        })
    })
    .await
    .unwrap();
    assert!(
        back,
        "the blocking backend never used Redis again after the pause"
    );
}

#[tokio::test]
async fn fail_closed_returns_errors_within_timeout() {
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let options = RedisBackendOptions {
        on_redis_error: RedisFailurePolicy::FailClosed,
        ..options(Duration::from_secs(5))
    };
    let backend = AsyncRedisCircuitBreakerBackend::with_options(&url, options.clone())
        .await
        .unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");

    let error = timed(&backend, admit(&key)).await.unwrap_err();
    let error = error
        .downcast_ref::<RedisBackendError>()
        .expect("a RedisBackendError");
    assert!(
        matches!(error, RedisBackendError::Unavailable { .. }),
        "{error}"
    );

    let blocking = RedisCircuitBreakerBackend::with_options(&url, options).unwrap();
    tokio::task::spawn_blocking(move || {
        let error = timed_blocking(&blocking, admit(&key)).unwrap_err();
        let error = error
            .downcast_ref::<RedisBackendError>()
            .expect("a RedisBackendError");
        assert!(
            matches!(
                error,
                RedisBackendError::Pool { .. }
                    | RedisBackendError::Redis { .. }
                    | RedisBackendError::TimedOut { .. }
            ),
            "{error}"
        );
        // Within the backoff, Redis is not tried again.
        let error = timed_blocking(&blocking, admit(&key)).unwrap_err();
        assert!(matches!(
            error.downcast_ref::<RedisBackendError>(),
            Some(RedisBackendError::Unavailable { .. })
        ));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn corrupt_keys_reset_to_closed() {
    let server = RedisServer::start();
    let backend =
        AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::ZERO))
            .await
            .unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");
    let redis_key = String::from_utf8(encode_key(DEFAULT_KEY_PREFIX, &key)).unwrap();
    let valid = [
        "version",
        "1",
        "state",
        "open",
        "failures",
        "5",
        "epoch",
        "7",
        "open_until_us",
        "9000000000000000",
        "probe_until_us",
        "0",
    ];

    // Each case writes foreign data, or spoils one field of a valid open breaker.
    let foreign: Vec<(&str, Vec<&str>)> = vec![
        ("string", vec!["SET", &redis_key, "garbage"]),
        ("list", vec!["RPUSH", &redis_key, "a", "b"]),
        (
            "foreign hash",
            vec!["HSET", &redis_key, "owner", "someone-else"],
        ),
    ];
    let spoiled: Vec<(&str, Vec<&str>)> = vec![
        ("wrong version", vec!["HSET", &redis_key, "version", "2"]),
        ("unknown state", vec!["HSET", &redis_key, "state", "half"]),
        ("text count", vec!["HSET", &redis_key, "failures", "abc"]),
        ("negative epoch", vec!["HSET", &redis_key, "epoch", "-1"]),
        (
            "fractional count",
            vec!["HSET", &redis_key, "failures", "1.5"],
        ),
        ("huge epoch", vec!["HSET", &redis_key, "epoch", "1e300"]),
        ("missing field", vec!["HDEL", &redis_key, "probe_until_us"]),
    ];
    let cases = foreign
        .into_iter()
        .map(|(name, write)| (name, write, false))
        .chain(spoiled.into_iter().map(|(name, write)| (name, write, true)));
    for (name, corruption, starts_valid) in cases {
        server.cli(&["DEL", &redis_key]);
        if starts_valid {
            let mut write = vec!["HSET", redis_key.as_str()];
            write.extend(valid);
            server.cli(&write);
            assert!(matches!(
                backend.execute(admit(&key)).await.unwrap(),
                BreakerReply::Rejected { .. }
            ));
        }
        server.cli(&corruption);

        let permit = permit_of(backend.execute(admit(&key)).await.unwrap());
        assert!(!permit.probe, "{name}");
        assert_eq!(permit.epoch, 0, "{name}: a reset breaker starts at epoch 0");
        match backend.execute(inspect(&key)).await.unwrap() {
            BreakerReply::State(snapshot) => {
                assert_eq!(snapshot.state, CircuitState::Closed, "{name}");
                assert_eq!(snapshot.consecutive_failures, 0, "{name}");
            }
            other => panic!("{name}: expected a state, got {other:?}"),
        }
        let reply = backend
            .execute(record(&key, permit, CallResult::Failure))
            .await
            .unwrap();
        assert_eq!(reply, BreakerReply::Recorded, "{name}");
        assert_eq!(server.cli(&["HGET", &redis_key, "failures"]), "1", "{name}");
    }
}

#[tokio::test]
async fn local_permits_are_recorded_locally_after_recovery() {
    let mut server = RedisServer::start();
    let port = server.port();
    let backend = AsyncRedisCircuitBreakerBackend::with_options(
        &server.url(),
        options(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");

    server.kill();
    let mut local_permits = Vec::new();
    for _ in 0..5 {
        let permit = permit_of(timed(&backend, admit(&key)).await.unwrap());
        assert_ne!(permit.epoch & LOCAL_EPOCH_BIT, 0);
        local_permits.push(permit);
    }

    let server = RedisServer::start_on(port);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for permit in local_permits {
        let reply = timed(&backend, record(&key, permit, CallResult::Failure)).await;
        assert_eq!(reply.unwrap(), BreakerReply::Recorded);
    }
    assert_eq!(
        server.cli(&["DBSIZE"]),
        "0",
        "local outcomes never reach Redis"
    );
}

#[tokio::test]
async fn invalid_url_is_rejected() {
    let error = AsyncRedisCircuitBreakerBackend::new("not a url")
        .await
        .unwrap_err();
    assert!(matches!(error, RedisBackendError::InvalidUrl(_)), "{error}");
    let error = RedisCircuitBreakerBackend::new("http://127.0.0.1:1/").unwrap_err();
    assert!(matches!(error, RedisBackendError::InvalidUrl(_)), "{error}");
}

#[tokio::test]
async fn invalid_options_are_rejected() {
    let options = RedisBackendOptions {
        key_prefix: "tenant{".to_owned(),
        ..RedisBackendOptions::default()
    };
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let error = AsyncRedisCircuitBreakerBackend::with_options(&url, options.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RedisBackendError::InvalidOption {
                field: "key_prefix",
                ..
            }
        ),
        "{error}"
    );
    let error = RedisCircuitBreakerBackend::with_options(&url, options).unwrap_err();
    assert!(
        matches!(
            error,
            RedisBackendError::InvalidOption {
                field: "key_prefix",
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn slow_server_calls_return_within_timeout() {
    let server = RedisServer::start();
    let backend =
        AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::ZERO))
            .await
            .unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");
    permit_of(timed(&backend, admit(&key)).await.unwrap());

    let sleeper = server.sleep_in_background(1.5);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let permit = permit_of(timed(&backend, admit(&key)).await.unwrap());
        assert_ne!(
            permit.epoch & LOCAL_EPOCH_BIT,
            0,
            "served by the local fallback"
        );
    }
    tokio::task::spawn_blocking(move || sleeper.join().unwrap())
        .await
        .unwrap();

    assert!(
        uses_redis_again(&backend, &key).await,
        "Redis is never used again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_under_load_never_fails_a_call() {
    let mut server = RedisServer::start();
    let port = server.port();
    let backend = AsyncRedisCircuitBreakerBackend::with_options(
        &server.url(),
        options(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let blocking =
        RedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::from_millis(50)))
            .unwrap();
    let stop = Arc::new(AtomicBool::new(false));

    let mut workers = Vec::new();
    for task in 0..4 {
        let backend = backend.clone();
        let stop = Arc::clone(&stop);
        let key = BreakerKey::new(format!("async-{task}").into(), "anthropic");
        workers.push(tokio::spawn(async move {
            let mut commands = 0;
            while !stop.load(Ordering::Relaxed) {
                if let BreakerReply::Admitted(permit) = timed(&backend, admit(&key)).await.unwrap()
                {
                    timed(&backend, record(&key, permit, CallResult::Success))
                        .await
                        .unwrap();
                }
                commands += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            commands
        }));
    }
    let blocking_stop = Arc::clone(&stop);
    let blocking_worker = tokio::task::spawn_blocking(move || {
        let key = BreakerKey::new("blocking".into(), "anthropic");
        let mut commands = 0;
        while !blocking_stop.load(Ordering::Relaxed) {
            if let BreakerReply::Admitted(permit) = timed_blocking(&blocking, admit(&key)).unwrap()
            {
                timed_blocking(&blocking, record(&key, permit, CallResult::Success)).unwrap();
            }
            commands += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        commands
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = RedisServer::start_on(port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);

    for worker in workers {
        assert!(worker.await.unwrap() > 10, "an async worker stalled");
    }
    assert!(
        blocking_worker.await.unwrap() > 10,
        "the blocking worker stalled"
    );

    let key = BreakerKey::new("after".into(), "anthropic");
    assert!(
        uses_redis_again(&backend, &key).await,
        "Redis is never used again"
    );
    drop(server);
}

/// An admit that times out while Redis is blocked still runs on the server once it wakes.
/// When that late admit takes the half-open probe, the backend releases it, so the next
/// admit gets the probe instead of a rejection for the whole probe lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_admit_releases_late_probe() {
    let server = RedisServer::start();
    let backend =
        AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options(Duration::ZERO))
            .await
            .unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");
    let short_cooldown = BreakerPolicy {
        cooldown: Duration::from_millis(100),
        ..policy()
    };
    let admit = BreakerCommand::Admit {
        key: key.clone(),
        policy: short_cooldown,
    };
    for _ in 0..5 {
        let permit = permit_of(timed(&backend, admit.clone()).await.unwrap());
        let failure = BreakerCommand::Record {
            key: key.clone(),
            policy: short_cooldown,
            permit,
            result: CallResult::Failure,
        };
        assert_eq!(
            timed(&backend, failure).await.unwrap(),
            BreakerReply::Recorded
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;

    let sleeper = server.sleep_in_background(0.5);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let during = permit_of(timed(&backend, admit.clone()).await.unwrap());
    assert_ne!(
        during.epoch & LOCAL_EPOCH_BIT,
        0,
        "the timed-out admit is served by the local fallback"
    );
    tokio::task::spawn_blocking(move || sleeper.join().unwrap())
        .await
        .unwrap();

    let mut last = None;
    for _ in 0..100 {
        let reply = timed(&backend, admit.clone()).await.unwrap();
        if let BreakerReply::Admitted(permit) = reply {
            if permit.epoch & LOCAL_EPOCH_BIT == 0 {
                assert!(permit.probe, "the first Redis admission is the probe");
                return;
            }
        }
        last = Some(reply);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the late probe is never released; last reply {last:?}, Redis holds {}",
        server.cli(&[
            "HGETALL",
            &String::from_utf8_lossy(&encode_key(DEFAULT_KEY_PREFIX, &key))
        ])
    );
}
