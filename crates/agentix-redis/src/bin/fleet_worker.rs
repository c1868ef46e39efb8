//! One worker of a fleet sharing breakers through Redis, for the multi-process tests.
//!
//! Usage: `agentix-redis-fleet-worker URL COMMAND [OPTIONS]`
//!
//! Commands:
//! - `run`: starts `--tasks` tasks; each admits a call and, when admitted, waits `--hold-ms`
//!   and records `--outcome` (`success`, `failure`, `release`, or `forget` to record nothing).
//!   With `--poll-ms`, a rejected task admits again after that many milliseconds until it is
//!   admitted or `--give-up-ms` has passed.
//! - `record`: records `--result` for the permit `--epoch`/`--probe`.
//! - `inspect`: prints the breaker's state.
//!
//! Common options: `--backend async|blocking`, `--tenant`, `--provider`, `--threshold`,
//! `--cooldown-ms`, `--lease-ms`. `--start-at-ms` (Unix time in milliseconds) makes the tasks
//! wait for that wall-clock time, so several processes admit together.
//!
//! Output, one line per event: `ready`, `admitted task=I epoch=E probe=true|false`,
//! `rejected task=I retry_after_ms=N`, `recorded task=I`, `gave-up task=I`,
//! `error task=I message=...`, `state state=S failures=N epoch=E retry_after_ms=N|none`.
//! Redis failures are returned as errors (fail-closed), never hidden by a local fallback.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentix_circuit_breaker::{
    BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult, CircuitState, Permit,
};
use agentix_core::{BoxError, TenantId};
use agentix_redis::{
    AsyncRedisCircuitBreakerBackend, RedisBackendOptions, RedisCircuitBreakerBackend,
    RedisFailurePolicy,
};
use tower_service::Service;

#[derive(Clone)]
enum Backend {
    Async(AsyncRedisCircuitBreakerBackend),
    Blocking(RedisCircuitBreakerBackend),
}

impl Backend {
    async fn send(&self, command: BreakerCommand) -> Result<BreakerReply, BoxError> {
        match self.clone() {
            Self::Async(mut backend) => backend.call(command).await,
            Self::Blocking(mut backend) => backend.call(command).await,
        }
    }
}

struct Args {
    url: String,
    command: String,
    options: HashMap<String, String>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut raw = std::env::args().skip(1);
        let url = raw.next().ok_or("missing URL")?;
        let command = raw.next().ok_or("missing command")?;
        let mut options = HashMap::new();
        while let Some(name) = raw.next() {
            let name = name
                .strip_prefix("--")
                .ok_or_else(|| format!("expected an option, found {name:?}"))?
                .to_owned();
            let value = raw
                .next()
                .ok_or_else(|| format!("missing value of --{name}"))?;
            options.insert(name, value);
        }
        Ok(Self {
            url,
            command,
            options,
        })
    }

    fn text<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.options.get(name).map_or(default, String::as_str)
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.options.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| format!("--{name} must be a whole number, got {value:?}")),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fleet worker: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args = Args::parse()?;
    let options = RedisBackendOptions {
        on_redis_error: RedisFailurePolicy::FailClosed,
        command_timeout: Duration::from_secs(2),
        ..RedisBackendOptions::default()
    };
    let backend = match args.text("backend", "async") {
        "async" => Backend::Async(
            AsyncRedisCircuitBreakerBackend::with_options(&args.url, options)
                .await
                .map_err(|error| error.to_string())?,
        ),
        "blocking" => Backend::Blocking(
            RedisCircuitBreakerBackend::with_options(&args.url, options)
                .map_err(|error| error.to_string())?,
        ),
        other => return Err(format!("unknown backend {other:?}")),
    };

    let key = BreakerKey::new(
        TenantId::new(args.text("tenant", "fleet")),
        args.text("provider", "sim"),
    );
    let policy = BreakerPolicy {
        failure_threshold: u32::try_from(args.number("threshold", 5)?)
            .map_err(|_| "--threshold is too large")?,
        cooldown: Duration::from_millis(args.number("cooldown-ms", 60_000)?),
        probe_lease: Duration::from_millis(args.number("lease-ms", 120_000)?),
    };

    match args.command.as_str() {
        "run" => run_tasks(&args, backend, key, policy).await,
        "record" => {
            let permit = Permit {
                epoch: args.number("epoch", 0)?,
                probe: args.text("probe", "false") == "true",
            };
            let result = call_result(args.text("result", "success"))?
                .ok_or("--result forget records nothing")?;
            let command = BreakerCommand::Record {
                key,
                policy,
                permit,
                result,
            };
            match backend.send(command).await {
                Ok(_) => println!("recorded task=0"),
                Err(error) => println!("error task=0 message={error}"),
            }
            Ok(())
        }
        "inspect" => {
            match backend.send(BreakerCommand::Inspect { key, policy }).await {
                Ok(BreakerReply::State(snapshot)) => {
                    let state = match snapshot.state {
                        CircuitState::Closed => "closed",
                        CircuitState::Open => "open",
                        CircuitState::HalfOpen => "half-open",
                    };
                    let retry_after = snapshot
                        .retry_after
                        .map_or_else(|| "none".to_owned(), |after| after.as_millis().to_string());
                    println!(
                        "state state={state} failures={} epoch={} retry_after_ms={retry_after}",
                        snapshot.consecutive_failures, snapshot.epoch
                    );
                }
                Ok(other) => println!("error task=0 message=unexpected reply {other:?}"),
                Err(error) => println!("error task=0 message={error}"),
            }
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Parses an outcome; `forget` is `None`.
fn call_result(name: &str) -> Result<Option<CallResult>, String> {
    match name {
        "success" => Ok(Some(CallResult::Success)),
        "failure" => Ok(Some(CallResult::Failure)),
        "release" => Ok(Some(CallResult::Released)),
        "forget" => Ok(None),
        other => Err(format!("unknown outcome {other:?}")),
    }
}

async fn run_tasks(
    args: &Args,
    backend: Backend,
    key: BreakerKey,
    policy: BreakerPolicy,
) -> Result<(), String> {
    let tasks = args.number("tasks", 1)?;
    let outcome = call_result(args.text("outcome", "success"))?;
    let hold = Duration::from_millis(args.number("hold-ms", 0)?);
    let poll = args
        .options
        .get("poll-ms")
        .map(|_| args.number("poll-ms", 0))
        .transpose()?;
    let give_up = Duration::from_millis(args.number("give-up-ms", 10_000)?);
    let start_at = args
        .options
        .get("start-at-ms")
        .map(|_| args.number("start-at-ms", 0))
        .transpose()?;

    println!("ready");
    if let Some(start_at) = start_at {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|error| error.to_string())?;
        let start = Duration::from_millis(start_at);
        if let Some(wait) = start.checked_sub(now) {
            tokio::time::sleep(wait).await;
        }
    }

    let mut handles = Vec::new();
    for task in 0..tasks {
        let backend = backend.clone();
        let key = key.clone();
        handles.push(tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            loop {
                let admit = BreakerCommand::Admit {
                    key: key.clone(),
                    policy,
                };
                match backend.send(admit).await {
                    Ok(BreakerReply::Admitted(permit)) => {
                        println!(
                            "admitted task={task} epoch={} probe={}",
                            permit.epoch, permit.probe
                        );
                        tokio::time::sleep(hold).await;
                        if let Some(result) = outcome {
                            let record = BreakerCommand::Record {
                                key: key.clone(),
                                policy,
                                permit,
                                result,
                            };
                            match backend.send(record).await {
                                Ok(_) => println!("recorded task={task}"),
                                Err(error) => println!("error task={task} message={error}"),
                            }
                        }
                        return;
                    }
                    Ok(BreakerReply::Rejected { retry_after }) => {
                        println!(
                            "rejected task={task} retry_after_ms={}",
                            retry_after.as_millis()
                        );
                    }
                    Ok(other) => {
                        println!("error task={task} message=unexpected reply {other:?}");
                        return;
                    }
                    Err(error) => {
                        println!("error task={task} message={error}");
                        return;
                    }
                }
                match poll {
                    Some(poll) if started.elapsed() < give_up => {
                        tokio::time::sleep(Duration::from_millis(poll)).await;
                    }
                    Some(_) => {
                        println!("gave-up task={task}");
                        return;
                    }
                    None => return,
                }
            }
        }));
    }
    for handle in handles {
        handle.await.map_err(|error| error.to_string())?;
    }
    Ok(())
}
