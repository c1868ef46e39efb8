//! Several worker processes share one circuit breaker through Redis.
//!
//! Run with `cargo run --example redis_workers --features redis`. The parent process starts
//! `redis-server` on a free loopback port (or uses `REDIS_URL`), starts agentix-sim with a
//! model that fails its first requests, and runs three copies of itself as workers. Every
//! worker calls the model in a loop through an `AgentixClient` whose breaker state lives in
//! Redis, and prints when it finds the circuit open, which worker's call was the probe, and
//! when the circuit closed again.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentix::layers::circuit_breaker::{
    BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CircuitState,
};
use agentix::resilience::AsyncRedisCircuitBreakerBackend;
use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, ResilienceError, TenantId};
use agentix_sim::{SimServer, Step};
use serde_json::json;
use tower::ServiceExt;

const MODEL: &str = "claude-opus-4-20250514";
const WORKERS: usize = 3;
const RUN_FOR: Duration = Duration::from_millis(3500);
const COOLDOWN: Duration = Duration::from_secs(1);
const TENANT: &str = "fleet-demo";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let [_, _, id, redis_url, sim_url] = args.as_slice() else {
            return Err("usage: redis_workers worker ID REDIS_URL SIM_URL".into());
        };
        return worker(id, redis_url, sim_url).await;
    }

    let (redis_url, _redis) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = LocalRedis::start()?;
            (server.url(), Some(server))
        }
    };
    let sim = SimServer::start().await?;
    // The provider fails until it has been down long enough for the circuit to open.
    sim.script_repeat(MODEL, Step::error(500));
    println!("redis at {redis_url}, agentix-sim at {}", sim.base_url());
    println!("{WORKERS} workers share one breaker: threshold 5, cooldown 1 s\n");

    let exe = std::env::current_exe()?;
    let children: Vec<Child> = (1..=WORKERS)
        .map(|id| {
            Command::new(&exe)
                .args(["worker", &id.to_string(), &redis_url, &sim.base_url()])
                .stdout(Stdio::inherit())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    // It recovers before the cooldown ends. Its first response takes 300 ms, so the other
    // workers find the circuit half-open while the probe is in flight.
    tokio::time::sleep(Duration::from_millis(600)).await;
    sim.clear_script(MODEL);
    sim.script(MODEL, [Step::ok().latency(Duration::from_millis(300))]);

    for mut child in children {
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        if !status.success() {
            return Err(format!("a worker exited with {status}").into());
        }
    }
    println!(
        "\nthe provider received {} requests in all",
        sim.requests(MODEL)
    );
    Ok(())
}

/// The result a worker got on its previous call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Served,
    Failed,
    Open,
}

/// Reads the shared breaker's state without changing it.
async fn state(
    backend: &AsyncRedisCircuitBreakerBackend,
    key: &BreakerKey,
) -> Result<CircuitState, Box<dyn std::error::Error>> {
    let command = BreakerCommand::Inspect {
        key: key.clone(),
        policy: BreakerPolicy {
            cooldown: COOLDOWN,
            ..BreakerPolicy::default()
        },
    };
    match backend
        .clone()
        .oneshot(command)
        .await
        .map_err(|error| error.to_string())?
    {
        BreakerReply::State(snapshot) => Ok(snapshot.state),
        other => Err(format!("unexpected reply to Inspect: {other:?}").into()),
    }
}

async fn worker(
    id: &str,
    redis_url: &str,
    sim_url: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let backend = AsyncRedisCircuitBreakerBackend::new(redis_url).await?;
    let key = BreakerKey::new(TenantId::new(TENANT), "anthropic");
    let client = AgentixClient::builder(AgentixAgentOptions {
        model: MODEL.into(),
        retry_max_attempts: 1,
        circuit_breaker_cooldown: COOLDOWN.as_secs_f64(),
        ..AgentixAgentOptions::default()
    })
    .tenant_id(TENANT)
    .circuit_breaker_backend(backend.clone())
    .base_url(sim_url)
    .build()?;

    let started = Instant::now();
    let mut seen = Seen::Served;
    let mut saw_probe_wait = false;
    while started.elapsed() < RUN_FOR {
        let at = started.elapsed().as_millis();
        let body = json!({"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
        let before = state(&backend, &key).await?;
        let now = match client.create(body).await {
            Ok(_) if seen == Seen::Open && before == CircuitState::HalfOpen => {
                let at = started.elapsed().as_millis();
                println!("+{at:>5} ms  worker {id}: its call was the probe and succeeded: circuit closed");
                Seen::Served
            }
            Ok(_) => {
                if seen == Seen::Open {
                    println!("+{at:>5} ms  worker {id}: circuit closed, calls go through again");
                }
                Seen::Served
            }
            Err(AgentixError::Resilience(ResilienceError::CircuitOpen(open))) => {
                if seen != Seen::Open {
                    println!(
                        "+{at:>5} ms  worker {id}: circuit `{}` is open, probe in {} ms",
                        open.key,
                        open.retry_after.as_millis()
                    );
                } else if before == CircuitState::HalfOpen && !saw_probe_wait {
                    println!("+{at:>5} ms  worker {id}: rejected, another worker holds the probe");
                    saw_probe_wait = true;
                }
                Seen::Open
            }
            Err(error) => {
                println!("+{at:>5} ms  worker {id}: call failed: {error}");
                Seen::Failed
            }
        };
        seen = now;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A `redis-server` on a free loopback port, stopped on drop.
struct LocalRedis {
    child: Child,
    port: u16,
}

impl LocalRedis {
    fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!("failed to start redis-server (install it, or set REDIS_URL): {error}")
            })?;
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(
                    format!("redis-server did not listen on port {port} within 5 s").into(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
