//! Fleet guarantees: several worker processes sharing breakers through one `redis-server`.
//!
//! Each worker is the `agentix-redis-fleet-worker` binary of this crate, talking to Redis
//! with its own connections; async and blocking workers are mixed. Cooldowns are hundreds
//! of milliseconds on the Redis clock, and the assertions compare counts and orderings.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentix_circuit_breaker::{
    BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CircuitSnapshot, CircuitState,
};
use agentix_redis::{AsyncRedisCircuitBreakerBackend, RedisBackendOptions, RedisFailurePolicy};
use support::RedisServer;

const WORKER: &str = env!("CARGO_BIN_EXE_agentix-redis-fleet-worker");

/// One line printed by a worker.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Ready,
    Admitted { task: u32, epoch: u64, probe: bool },
    Rejected { task: u32, retry_after_ms: u64 },
    Recorded { task: u32 },
    GaveUp { task: u32 },
    Error(String),
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("field {name} missing in {line:?}"))
}

fn parse(line: &str) -> Event {
    let number = |name: &str| -> u64 { field(line, name).parse().expect("a number") };
    let task = || u32::try_from(number("task")).expect("a task number");
    match line.split_whitespace().next() {
        Some("ready") => Event::Ready,
        Some("admitted") => Event::Admitted {
            task: task(),
            epoch: number("epoch"),
            probe: field(line, "probe") == "true",
        },
        Some("rejected") => Event::Rejected {
            task: task(),
            retry_after_ms: number("retry_after_ms"),
        },
        Some("recorded") => Event::Recorded { task: task() },
        Some("gave-up") => Event::GaveUp { task: task() },
        _ => Event::Error(line.to_owned()),
    }
}

/// Worker options shared by a test: the breaker's policy, as command-line options.
#[derive(Clone, Copy)]
struct Fleet<'a> {
    url: &'a str,
    threshold: u32,
    cooldown_ms: u64,
    lease_ms: u64,
}

impl Fleet<'_> {
    fn policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: self.threshold,
            cooldown: Duration::from_millis(self.cooldown_ms),
            probe_lease: Duration::from_millis(self.lease_ms),
        }
    }

    /// Starts one worker process running `command` with `extra` options.
    fn spawn(&self, command: &str, backend: &str, extra: &[&str]) -> Child {
        Command::new(WORKER)
            .arg(self.url)
            .arg(command)
            .args(["--backend", backend])
            .args(["--threshold", &self.threshold.to_string()])
            .args(["--cooldown-ms", &self.cooldown_ms.to_string()])
            .args(["--lease-ms", &self.lease_ms.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fleet worker")
    }

    /// Runs one worker to completion and returns its events.
    fn run(&self, command: &str, backend: &str, extra: &[&str]) -> Vec<Event> {
        finish(self.spawn(command, backend, extra))
    }
}

/// Waits for a worker and returns its events; a failed worker fails the test.
fn finish(child: Child) -> Vec<Event> {
    let output = child.wait_with_output().expect("wait for the fleet worker");
    assert!(
        output.status.success(),
        "a fleet worker failed: {:?}",
        output.status
    );
    let events: Vec<Event> = String::from_utf8(output.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(parse)
        .collect();
    let errors: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Error(_)))
        .collect();
    assert!(errors.is_empty(), "worker errors: {errors:?}");
    events
}

fn admitted(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Admitted { epoch, probe, .. } => Some((*epoch, *probe)),
            _ => None,
        })
        .collect()
}

fn rejected_count(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|event| matches!(event, Event::Rejected { .. }))
        .count()
}

fn unix_ms_in(delay: Duration) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now + delay).as_millis().to_string()
}

async fn observer(server: &RedisServer) -> AsyncRedisCircuitBreakerBackend {
    let options = RedisBackendOptions {
        on_redis_error: RedisFailurePolicy::FailClosed,
        ..RedisBackendOptions::default()
    };
    AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options)
        .await
        .unwrap()
}

/// Returns the key the workers use by default.
fn fleet_key() -> BreakerKey {
    BreakerKey::new("fleet".into(), "sim")
}

async fn inspect(
    backend: &AsyncRedisCircuitBreakerBackend,
    policy: BreakerPolicy,
) -> CircuitSnapshot {
    let command = BreakerCommand::Inspect {
        key: fleet_key(),
        policy,
    };
    match backend.execute(command).await.unwrap() {
        BreakerReply::State(snapshot) => snapshot,
        other => panic!("expected a state, got {other:?}"),
    }
}

async fn wait_half_open(backend: &AsyncRedisCircuitBreakerBackend, policy: BreakerPolicy) {
    for _ in 0..500 {
        if inspect(backend, policy).await.state == CircuitState::HalfOpen {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the circuit did not reach half-open within 5 s");
}

#[tokio::test]
async fn failures_add_up_across_workers() {
    let server = RedisServer::start();
    let url = server.url();
    let fleet = Fleet {
        url: &url,
        threshold: 5,
        cooldown_ms: 60_000,
        lease_ms: 60_000,
    };
    let backend = observer(&server).await;

    let first = fleet.spawn("run", "async", &["--tasks", "2", "--outcome", "failure"]);
    let second = fleet.spawn("run", "blocking", &["--tasks", "2", "--outcome", "failure"]);
    assert_eq!(admitted(&finish(first)).len(), 2);
    assert_eq!(admitted(&finish(second)).len(), 2);
    let snapshot = inspect(&backend, fleet.policy()).await;
    assert_eq!(snapshot.state, CircuitState::Closed);
    assert_eq!(snapshot.consecutive_failures, 4);

    let fifth = fleet.run("run", "async", &["--outcome", "failure"]);
    assert_eq!(admitted(&fifth).len(), 1);
    assert_eq!(
        inspect(&backend, fleet.policy()).await.state,
        CircuitState::Open
    );

    for backend_kind in ["async", "blocking"] {
        let late = fleet.run("run", backend_kind, &["--tasks", "10"]);
        assert!(admitted(&late).is_empty(), "{backend_kind}: {late:?}");
        assert_eq!(rejected_count(&late), 10, "{backend_kind}");
    }
}

#[tokio::test]
async fn one_probe_across_the_fleet() {
    let server = RedisServer::start();
    let url = server.url();
    let fleet = Fleet {
        url: &url,
        threshold: 1,
        cooldown_ms: 300,
        lease_ms: 60_000,
    };
    let backend = observer(&server).await;
    fleet.run("run", "async", &["--outcome", "failure"]);
    wait_half_open(&backend, fleet.policy()).await;

    // 4 processes x 50 tasks admit together; the probe never reports, so its lease holds.
    let start_at = unix_ms_in(Duration::from_millis(1500));
    let workers: Vec<Child> = ["async", "blocking", "async", "blocking"]
        .into_iter()
        .map(|kind| {
            fleet.spawn(
                "run",
                kind,
                &[
                    "--tasks",
                    "50",
                    "--outcome",
                    "forget",
                    "--start-at-ms",
                    &start_at,
                ],
            )
        })
        .collect();
    let events: Vec<Event> = workers.into_iter().flat_map(finish).collect();

    let admitted = admitted(&events);
    assert_eq!(admitted.len(), 1, "admitted: {admitted:?}");
    assert!(admitted[0].1, "the single admission is the probe");
    assert_eq!(rejected_count(&events), 199);
}

#[tokio::test]
async fn observers_never_extend_the_cooldown() {
    let server = RedisServer::start();
    let url = server.url();
    let cooldown_ms = 800;
    let fleet = Fleet {
        url: &url,
        threshold: 1,
        cooldown_ms,
        lease_ms: 60_000,
    };
    fleet.run("run", "async", &["--outcome", "failure"]);

    // Every task admits every 5 ms until admitted: rejections arrive all through the cooldown.
    let options = [
        "--tasks",
        "4",
        "--poll-ms",
        "5",
        "--give-up-ms",
        "8000",
        "--outcome",
        "success",
    ];
    let workers: Vec<Child> = ["async", "blocking", "async"]
        .into_iter()
        .map(|kind| fleet.spawn("run", kind, &options))
        .collect();
    let per_worker: Vec<Vec<Event>> = workers.into_iter().map(finish).collect();
    let events: Vec<&Event> = per_worker.iter().flatten().collect();

    let gave_up = events
        .iter()
        .filter(|event| matches!(event, Event::GaveUp { .. }))
        .count();
    assert_eq!(gave_up, 0, "the cooldown never ended for some tasks");
    let probes = events
        .iter()
        .filter(|event| matches!(event, Event::Admitted { probe: true, .. }))
        .count();
    assert_eq!(probes, 1, "one probe for the whole fleet");
    let admissions = events
        .iter()
        .filter(|event| matches!(event, Event::Admitted { .. }))
        .count();
    assert_eq!(
        admissions, 12,
        "every task is admitted once the probe closes the circuit"
    );
    let rejections = events
        .iter()
        .filter(|event| matches!(event, Event::Rejected { .. }))
        .count();
    assert!(
        rejections >= 120,
        "only {rejections} rejections during the cooldown"
    );

    // Within each task, the time left of the cooldown only decreases. Larger values are the
    // probe's lease, reported once the cooldown has ended.
    for events in &per_worker {
        for task in 0..4 {
            let cooldown_left: Vec<u64> = events
                .iter()
                .filter_map(|event| match event {
                    Event::Rejected {
                        task: of,
                        retry_after_ms,
                    } if *of == task && *retry_after_ms <= cooldown_ms => Some(*retry_after_ms),
                    _ => None,
                })
                .collect();
            assert!(
                cooldown_left.windows(2).all(|pair| pair[1] <= pair[0]),
                "task {task}: {cooldown_left:?}"
            );
        }
    }
}

#[tokio::test]
async fn released_probe_frees_the_permit_at_once() {
    let server = RedisServer::start();
    let url = server.url();
    let fleet = Fleet {
        url: &url,
        threshold: 1,
        cooldown_ms: 200,
        lease_ms: 60_000,
    };
    let backend = observer(&server).await;
    fleet.run("run", "async", &["--outcome", "failure"]);
    wait_half_open(&backend, fleet.policy()).await;

    let dropped = fleet.run("run", "blocking", &["--outcome", "release"]);
    let dropped = admitted(&dropped);
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].1, "the first worker held the probe");

    let next = fleet.run("run", "async", &["--outcome", "success"]);
    let next = admitted(&next);
    assert_eq!(
        next.len(),
        1,
        "the next worker is admitted without waiting for the lease"
    );
    assert!(next[0].1);
    assert!(next[0].0 > dropped[0].0);
    assert_eq!(
        inspect(&backend, fleet.policy()).await.state,
        CircuitState::Closed
    );
}

#[tokio::test]
async fn lost_probe_loses_its_lease() {
    let server = RedisServer::start();
    let url = server.url();
    let fleet = Fleet {
        url: &url,
        threshold: 1,
        cooldown_ms: 200,
        lease_ms: 500,
    };
    let backend = observer(&server).await;
    fleet.run("run", "async", &["--outcome", "failure"]);
    wait_half_open(&backend, fleet.policy()).await;

    let lost = admitted(&fleet.run("run", "async", &["--outcome", "forget"]));
    assert_eq!(lost.len(), 1);
    assert!(lost[0].1);

    let waiting = fleet.run(
        "run",
        "blocking",
        &[
            "--poll-ms",
            "10",
            "--give-up-ms",
            "10000",
            "--outcome",
            "success",
        ],
    );
    assert!(
        rejected_count(&waiting) >= 1,
        "the lease held others back first"
    );
    let replacement = admitted(&waiting);
    assert_eq!(replacement.len(), 1);
    assert!(replacement[0].1, "the replacement is a probe");
    assert!(replacement[0].0 > lost[0].0);
    assert_eq!(
        inspect(&backend, fleet.policy()).await.state,
        CircuitState::Closed
    );

    // The lost probe's failure, arriving late, cannot re-open the circuit.
    let epoch = lost[0].0.to_string();
    fleet.run(
        "record",
        "async",
        &["--epoch", &epoch, "--probe", "true", "--result", "failure"],
    );
    assert_eq!(
        inspect(&backend, fleet.policy()).await.state,
        CircuitState::Closed
    );
}

#[tokio::test]
async fn stale_success_cannot_close_a_later_open() {
    let server = RedisServer::start();
    let url = server.url();
    let fleet = Fleet {
        url: &url,
        threshold: 2,
        cooldown_ms: 60_000,
        lease_ms: 60_000,
    };
    let backend = observer(&server).await;

    // The slow worker is admitted while the circuit is closed and reports success late.
    let mut slow = fleet.spawn(
        "run",
        "blocking",
        &["--outcome", "success", "--hold-ms", "1500"],
    );
    let mut lines = BufReader::new(slow.stdout.take().unwrap()).lines();
    let mut slow_events = Vec::new();
    for line in lines.by_ref() {
        let event = parse(&line.unwrap());
        let done = matches!(event, Event::Admitted { .. });
        slow_events.push(event);
        if done {
            break;
        }
    }
    let slow_permit = admitted(&slow_events);
    assert_eq!(slow_permit.len(), 1);

    let failing = fleet.run("run", "async", &["--tasks", "2", "--outcome", "failure"]);
    assert_eq!(admitted(&failing).len(), 2);
    let opened = inspect(&backend, fleet.policy()).await;
    assert_eq!(opened.state, CircuitState::Open);
    assert!(opened.epoch > slow_permit[0].0);

    slow_events.extend(lines.map(|line| parse(&line.unwrap())));
    assert!(slow.wait().unwrap().success());
    assert!(
        slow_events.contains(&Event::Recorded { task: 0 }),
        "{slow_events:?}"
    );
    let after = inspect(&backend, fleet.policy()).await;
    assert_eq!(
        after.state,
        CircuitState::Open,
        "a stale success closed the circuit"
    );
    assert_eq!(after.epoch, opened.epoch);
}
