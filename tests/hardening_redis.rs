//! The Redis breaker backend under a failing Redis: killed, paused, flushed, slow, or with
//! garbage in the breaker keys. Each test runs its own `redis-server` on a free loopback
//! port and stops it on drop.

mod hardening_support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, ResilienceError};
use agentix_redis::{
    AsyncRedisCircuitBreakerBackend, RedisBackendOptions, RedisCircuitBreakerBackend,
};
use hardening_support::{MockProvider, Reply};
use serde_json::json;

/// The Redis key of the breaker of tenant `default` and provider `anthropic`.
const KEY: &str = "agentix:cb:{7:default|anthropic}";

struct Redis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("hardening-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "yes"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let redis = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Runs one command with `redis-cli` and returns its output.
    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn backend_options() -> RedisBackendOptions {
    RedisBackendOptions {
        command_timeout: Duration::from_millis(100),
        retry_backoff: Duration::from_millis(200),
        ..RedisBackendOptions::default()
    }
}

fn options(cooldown: f64) -> AgentixAgentOptions {
    AgentixAgentOptions {
        model: "claude-opus-4-20250514".into(),
        retry_max_attempts: 1,
        circuit_breaker_cooldown: cooldown,
        ..AgentixAgentOptions::default()
    }
}

async fn client(
    redis: &Redis,
    provider: &MockProvider,
    cooldown: f64,
) -> AgentixClient<MockProvider, AsyncRedisCircuitBreakerBackend> {
    let backend = AsyncRedisCircuitBreakerBackend::with_options(&redis.url(), backend_options())
        .await
        .unwrap();
    AgentixClient::builder(options(cooldown))
        .circuit_breaker_backend(backend)
        .build_with(provider.clone())
        .unwrap()
}

fn prompt() -> serde_json::Value {
    json!({"max_tokens": 16, "messages": [{"role": "user", "content": "ping"}]})
}

fn is_circuit_open(error: &AgentixError) -> bool {
    matches!(
        error,
        AgentixError::Resilience(ResilienceError::CircuitOpen(_))
    )
}

/// Sends `calls` calls, each bounded by 2 s, and returns the longest call and how many of
/// them the circuit rejected.
async fn run_calls(
    client: &AgentixClient<MockProvider, AsyncRedisCircuitBreakerBackend>,
    calls: usize,
) -> (Duration, usize) {
    let mut longest = Duration::ZERO;
    let mut rejected = 0;
    for _ in 0..calls {
        let start = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(2), client.create(prompt()))
            .await
            .expect("a call never hangs past the backend timeout");
        longest = longest.max(start.elapsed());
        if let Err(error) = result {
            if is_circuit_open(&error) {
                rejected += 1;
            }
        }
    }
    (longest, rejected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_still_cuts_off_provider() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(&redis, &provider, 60.0).await;
    run_calls(&client, 2).await;

    redis.signal("KILL");
    let (longest, rejected) = run_calls(&client, 20).await;
    assert!(
        longest < Duration::from_millis(500),
        "longest call {longest:?}"
    );
    assert!(
        rejected >= 14,
        "the local fallback opens the circuit: {rejected} rejected"
    );
    assert!(
        provider.calls() <= 2 + 6,
        "provider calls {}",
        provider.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_redis_never_hangs_calls() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(&redis, &provider, 60.0).await;
    run_calls(&client, 1).await;

    redis.signal("STOP");
    let (longest, rejected) = run_calls(&client, 20).await;
    redis.signal("CONT");
    assert!(
        longest < Duration::from_millis(500),
        "longest call {longest:?}"
    );
    assert!(
        rejected >= 14,
        "the local fallback opens the circuit: {rejected} rejected"
    );

    // Redis is back: its state (one failure) is used again, and calls keep working.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (longest, _) = run_calls(&client, 10).await;
    assert!(
        longest < Duration::from_millis(500),
        "longest call {longest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_keys_read_as_closed() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::ok());
    let client = client(&redis, &provider, 60.0).await;
    let garbage: Vec<Vec<&str>> = vec![
        vec!["SET", KEY, "\u{1}\u{2}not a hash"],
        vec!["RPUSH", KEY, "a", "b"],
        vec![
            "HSET", KEY, "version", "1", "state", "open", "failures", "x",
        ],
        vec!["HSET", KEY, "version", "2", "state", "closed"],
        vec![
            "HSET",
            KEY,
            "version",
            "1",
            "state",
            "open",
            "failures",
            "0",
            "epoch",
            "inf",
            "open_until_us",
            "nan",
            "probe_until_us",
            "-1",
        ],
        vec![
            "HSET",
            KEY,
            "version",
            "1",
            "state",
            "half",
            "failures",
            "0",
            "epoch",
            "1",
            "open_until_us",
            "0",
            "probe_until_us",
            "0",
        ],
    ];
    for command in garbage {
        redis.cli(&["DEL", KEY]);
        redis.cli(&command);
        let result = client.create(prompt()).await;
        assert!(result.is_ok(), "{command:?}: {:?}", result.err());
    }
}

/// A hash in the scripts' own format whose cooldown ends ten years from now, far beyond the
/// 60 s cooldown of the policy. A server clock that jumped back leaves such a hash, and so
/// does a replica promoted with a clock behind the old primary's. The scripts clamp the
/// cooldown to the policy's, so the circuit stays open for at most 60 s more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_until_beyond_cooldown_is_clamped() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::ok());
    let client = client(&redis, &provider, 60.0).await;
    let time = redis.cli(&["TIME"]);
    let seconds: u64 = time.lines().next().unwrap().trim().parse().unwrap();
    let ten_years = (seconds + 10 * 365 * 24 * 3600) * 1_000_000;
    redis.cli(&[
        "HSET",
        KEY,
        "version",
        "1",
        "state",
        "open",
        "failures",
        "5",
        "epoch",
        "1",
        "open_until_us",
        &ten_years.to_string(),
        "probe_until_us",
        "0",
    ]);

    let result = client.create(prompt()).await;
    match result {
        Err(AgentixError::Resilience(ResilienceError::CircuitOpen(open))) => assert!(
            open.retry_after <= Duration::from_secs(60),
            "a 60 s cooldown policy keeps the circuit open for another {:?}",
            open.retry_after
        ),
        other => panic!(
            "expected CircuitOpen for at most the cooldown, got {:?}",
            other.map(|response| response.status())
        ),
    }
    assert_eq!(provider.calls(), 0, "the open circuit shields the provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_mid_run_is_harmless() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(&redis, &provider, 0.2).await;
    let (_, rejected) = run_calls(&client, 8).await;
    assert_eq!(rejected, 3);

    redis.cli(&["FLUSHALL"]);
    provider.set_otherwise(Reply::ok());
    let (longest, rejected) = run_calls(&client, 5).await;
    assert_eq!(rejected, 0, "a flushed key reads as closed");
    assert!(longest < Duration::from_millis(500));
}

/// Redis is slow for a moment exactly when the cooldown ends. The admit times out on the
/// client, which falls back to its local breaker. Redis runs the script afterwards and
/// grants the probe to a caller that no longer waits for it. The backend still reads that late
/// reply and releases the probe, so the next call is not rejected for the whole probe lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_admit_releases_phantom_probe() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(&redis, &provider, 0.2).await;
    run_calls(&client, 5).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    provider.set_otherwise(Reply::ok());

    // Blocks Redis for 300 ms; the admit sent meanwhile waits behind it and times out.
    let sleeper = {
        let port = redis.port.to_string();
        std::thread::spawn(move || {
            Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port, "DEBUG", "SLEEP", "0.3"])
                .output()
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let during = client.create(prompt()).await;
    sleeper.join().unwrap();
    assert!(
        during.is_ok(),
        "the slow admit falls back and succeeds: {:?}",
        during.err()
    );

    // The backend tries Redis again after its retry backoff.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = client.create(prompt()).await;
    let state = redis.cli(&["HGETALL", KEY]);
    let detail = match &after {
        Err(AgentixError::Resilience(ResilienceError::CircuitOpen(open))) => {
            format!("rejected for another {:?}", open.retry_after)
        }
        _ => String::new(),
    };
    assert!(
        after.is_ok(),
        "the provider is healthy but the circuit is {detail}; Redis holds {state:?}"
    );
}

/// `Duration::MAX` means "never time out": the blocking backend clamps it to a day instead
/// of panicking on instant overflow. Nothing listens on port 1, and the connection pool keeps
/// trying until that day ends, so the command is left running in its own thread.
#[test]
fn blocking_backend_huge_timeout_does_not_panic() {
    let options = RedisBackendOptions {
        command_timeout: Duration::MAX,
        ..RedisBackendOptions::default()
    };
    let command = std::thread::spawn(move || {
        let backend = RedisCircuitBreakerBackend::with_options("redis://127.0.0.1:1/0", options)
            .expect("options validated");
        use agentix::layers::circuit_breaker::{
            BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy,
        };
        backend
            .execute(BreakerCommand::Admit {
                key: BreakerKey::new("t".into(), "anthropic"),
                policy: BreakerPolicy::default(),
            })
            .is_ok()
    });
    std::thread::sleep(Duration::from_millis(500));

    if command.is_finished() {
        assert!(
            command.join().is_ok(),
            "a huge command_timeout panics instead of waiting"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_backend_huge_timeout() {
    let redis = Redis::start();
    let options = RedisBackendOptions {
        command_timeout: Duration::MAX,
        ..RedisBackendOptions::default()
    };
    let backend = tokio::spawn({
        let url = redis.url();
        async move { AsyncRedisCircuitBreakerBackend::with_options(&url, options).await }
    })
    .await;
    assert!(backend.is_ok(), "creating the backend panicked");
}

#[test]
fn blocking_breaker_with_paused_redis() {
    use agentix::layers::circuit_breaker::{
        BlockingCallError, BlockingCircuitBreaker, BreakerConfig,
    };

    let redis = Redis::start();
    let backend =
        RedisCircuitBreakerBackend::with_options(&redis.url(), backend_options()).unwrap();
    let breaker = BlockingCircuitBreaker::new(BreakerConfig::default(), backend);
    let mut provider_calls = 0;
    let mut call = |breaker: &BlockingCircuitBreaker<RedisCircuitBreakerBackend>| {
        let start = Instant::now();
        let result = breaker.call(
            None,
            || {
                provider_calls += 1;
                Err::<(), _>("overloaded")
            },
            |_| true,
        );
        (
            start.elapsed(),
            matches!(result, Err(BlockingCallError::Rejected(_))),
        )
    };
    call(&breaker);

    redis.signal("STOP");
    let mut longest = Duration::ZERO;
    let mut rejected = 0;
    for _ in 0..20 {
        let (elapsed, was_rejected) = call(&breaker);
        longest = longest.max(elapsed);
        rejected += usize::from(was_rejected);
    }
    redis.signal("CONT");
    assert!(
        longest < Duration::from_millis(500),
        "longest call {longest:?}"
    );
    assert!(rejected >= 14, "{rejected} rejected");
    assert!(provider_calls <= 7, "{provider_calls} provider calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_probe_is_released_in_redis() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(&redis, &provider, 0.2).await;
    run_calls(&client, 5).await;
    tokio::time::sleep(Duration::from_millis(250)).await;

    provider.set_otherwise(Reply::ok().latency(Duration::from_secs(30)));
    let probe = {
        let client = client.clone();
        tokio::spawn(async move { client.create(prompt()).await })
    };
    while provider.calls() < 6 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    probe.abort();
    let _ = probe.await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    provider.set_otherwise(Reply::ok());
    let result = client.create(prompt()).await;
    assert!(
        result.is_ok(),
        "the next caller probes at once: {:?}",
        result.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_probe_across_workers() {
    let redis = Redis::start();
    let provider = MockProvider::new([], Reply::overloaded());
    let workers = [
        client(&redis, &provider, 0.2).await,
        client(&redis, &provider, 0.2).await,
        client(&redis, &provider, 0.2).await,
    ];
    run_calls(&workers[0], 5).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    provider.set_otherwise(Reply::ok().latency(Duration::from_millis(500)));

    let mut tasks = Vec::new();
    for worker in &workers {
        for _ in 0..50 {
            let worker = worker.clone();
            tasks.push(tokio::spawn(async move { worker.create(prompt()).await }));
        }
    }
    let mut served = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(error) => assert!(is_circuit_open(&error), "{error}"),
        }
    }
    assert_eq!(served, 1, "exactly one probe across three workers");
}
