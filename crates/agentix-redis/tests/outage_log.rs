//! Outage logging: one line when Redis is lost and one when it responds again.
//!
//! This test has its own binary because it installs a `tracing` subscriber for its thread,
//! and tests running in parallel in one process would share the callsites' cached interest.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentix_circuit_breaker::{BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply};
use agentix_redis::{AsyncRedisCircuitBreakerBackend, RedisBackendOptions};
use support::RedisServer;

/// Epochs of the local fallback carry this bit; Redis epochs never do.
const LOCAL_EPOCH_BIT: u64 = 1 << 63;

async fn admit_epoch(backend: &AsyncRedisCircuitBreakerBackend, key: &BreakerKey) -> u64 {
    let command = BreakerCommand::Admit {
        key: key.clone(),
        policy: BreakerPolicy::default(),
    };
    match backend
        .execute(command)
        .await
        .expect("local fallback never fails")
    {
        BreakerReply::Admitted(permit) => permit.epoch,
        other => panic!("expected an admission, got {other:?}"),
    }
}

/// A `tracing` writer collecting everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

#[tokio::test]
async fn outage_is_logged_once_at_start_and_end() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = RedisServer::start();
    let port = server.port();
    let options = RedisBackendOptions {
        command_timeout: Duration::from_millis(200),
        retry_backoff: Duration::from_millis(20),
        ..RedisBackendOptions::default()
    };
    let backend = AsyncRedisCircuitBreakerBackend::with_options(&server.url(), options)
        .await
        .unwrap();
    let key = BreakerKey::new("acme".into(), "anthropic");

    server.kill();
    for _ in 0..20 {
        assert_ne!(admit_epoch(&backend, &key).await & LOCAL_EPOCH_BIT, 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _server = RedisServer::start_on(port);
    let mut back = false;
    for _ in 0..250 {
        if admit_epoch(&backend, &key).await & LOCAL_EPOCH_BIT == 0 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(back, "Redis was never used again after the restart");
    for _ in 0..20 {
        assert_eq!(admit_epoch(&backend, &key).await & LOCAL_EPOCH_BIT, 0);
    }

    assert_eq!(captured.count("lost Redis"), 1, "outage start lines");
    assert_eq!(captured.count("reaches Redis again"), 1, "outage end lines");
}
