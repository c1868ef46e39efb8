//! Cost of the Redis breaker backends against a local `redis-server` started by the bench.
//!
//! Measures admits per second for one worker (sequential commands) and for 16 concurrent
//! admits on one multiplexed connection, and counts the round trips of one admit and one
//! record from `INFO commandstats` (client commands only; the commands a script runs
//! inside Redis are no round trips).
//!
//! Run: `cargo bench -p agentix-redis --bench redis_roundtrips`

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use agentix_circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
};
use agentix_redis::{AsyncRedisCircuitBreakerBackend, RedisBackendOptions, RedisFailurePolicy};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::RedisServer;

/// Commands the breaker scripts run inside Redis, and the INFO the bench itself sends.
const NOT_ROUND_TRIPS: &[&str] = &[
    "time", "hmget", "hset", "pexpire", "exists", "del", "type", "info",
];

fn options() -> RedisBackendOptions {
    RedisBackendOptions {
        on_redis_error: RedisFailurePolicy::FailClosed,
        ..RedisBackendOptions::default()
    }
}

fn key() -> BreakerKey {
    BreakerKey::new("bench".into(), "anthropic")
}

fn admit() -> BreakerCommand {
    BreakerCommand::Admit {
        key: key(),
        policy: BreakerPolicy::default(),
    }
}

fn record(result: CallResult) -> BreakerCommand {
    BreakerCommand::Record {
        key: key(),
        policy: BreakerPolicy::default(),
        permit: agentix_circuit_breaker::Permit {
            epoch: 0,
            probe: false,
        },
        result,
    }
}

/// Returns the `calls` of every command in `INFO commandstats`.
fn command_calls(server: &RedisServer) -> HashMap<String, u64> {
    let info = server.cli(&["INFO", "commandstats"]);
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .split(',')
                .find_map(|part| part.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// Counts the client commands (round trips) of `count` runs of `command`.
fn round_trips(server: &RedisServer, count: u64, mut command: impl FnMut()) -> f64 {
    let before = command_calls(server);
    for _ in 0..count {
        command();
    }
    let after = command_calls(server);
    let total: u64 = after
        .iter()
        .filter(|(name, _)| !NOT_ROUND_TRIPS.contains(&name.as_str()))
        .map(|(name, calls)| calls - before.get(name).copied().unwrap_or(0))
        .sum();
    total as f64 / count as f64
}

fn bench(c: &mut Criterion) {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let async_backend = runtime
        .block_on(AsyncRedisCircuitBreakerBackend::with_options(
            &server.url(),
            options(),
        ))
        .unwrap();
    let blocking =
        agentix_redis::RedisCircuitBreakerBackend::with_options(&server.url(), options()).unwrap();

    // Warm both backends so the scripts are loaded and the connections open.
    for _ in 0..3 {
        runtime.block_on(async_backend.execute(admit())).unwrap();
        blocking.execute(admit()).unwrap();
    }
    let admit_async = round_trips(&server, 1000, || {
        runtime.block_on(async_backend.execute(admit())).unwrap();
    });
    let admit_blocking = round_trips(&server, 1000, || {
        blocking.execute(admit()).unwrap();
    });
    let record_failure = round_trips(&server, 1000, || {
        // Keep the count below the threshold: a failure, then a success that resets it.
        blocking.execute(record(CallResult::Failure)).unwrap();
        blocking.execute(record(CallResult::Success)).unwrap();
    }) / 2.0;
    println!("round trips per admit (async): {admit_async:.3}");
    println!("round trips per admit (blocking): {admit_blocking:.3}");
    println!("round trips per record: {record_failure:.3}");

    let mut group = c.benchmark_group("redis_breaker");
    group.throughput(Throughput::Elements(1));
    group.bench_function("admit_async_closed", |b| {
        b.to_async(&runtime)
            .iter(|| async { async_backend.execute(admit()).await.unwrap() });
    });
    group.bench_function("admit_blocking_closed", |b| {
        b.iter(|| blocking.execute(admit()).unwrap());
    });
    group.bench_function("record_failure_blocking", |b| {
        b.iter(|| {
            let reply = blocking.execute(record(CallResult::Failure)).unwrap();
            blocking.execute(record(CallResult::Success)).unwrap();
            reply
        });
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("admit_async_16_concurrent", |b| {
        b.to_async(&runtime).iter(|| async {
            let admits = (0..16).map(|_| {
                let backend = async_backend.clone();
                async move { backend.execute(admit()).await }
            });
            for reply in futures_join_all(admits).await {
                assert!(matches!(reply.unwrap(), BreakerReply::Admitted(_)));
            }
        });
    });
    group.finish();
    drop(server);
}

/// Awaits all futures concurrently, by spawning each on the runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
