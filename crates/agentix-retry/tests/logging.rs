//! Log events of the retry layer: the numbers are present, bodies are not.

mod support;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{exact_config, request, status, status_with_header, Scripted, StatusClassifier};
use tower::{Layer, ServiceExt};
use tracing_subscriber::fmt::MakeWriter;

use agentix_retry::{BudgetScope, RetryBudgetConfig, RetryConfig, RetryLayer};

/// A `MakeWriter` that appends every formatted event to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("logs are UTF-8")
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

#[tokio::test(start_paused = true)]
async fn retry_event_names_attempt_delay_kind_status() {
    let (captured, _guard) = capture();
    let inner = Scripted::responses([status_with_header(503, "x-request-id", "req_1")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    service
        .oneshot(request(r#"{"prompt":"secret prompt"}"#))
        .await
        .expect("a response");

    let logs = captured.text();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("retrying failed call"), "{logs}");
    assert!(logs.contains("attempt=2"), "{logs}");
    assert!(logs.contains("max_attempts=3"), "{logs}");
    assert!(logs.contains("delay=1s"), "{logs}");
    assert!(logs.contains("kind=Overloaded"), "{logs}");
    assert!(logs.contains("status=503"), "{logs}");
    assert!(
        !logs.contains("secret prompt"),
        "a request body was logged: {logs}"
    );
    assert!(
        !logs.contains("status 503"),
        "a response body was logged: {logs}"
    );
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_logged() {
    let (captured, _guard) = capture();
    let inner = Scripted::responses([
        status_with_header(500, "x-request-id", "req_1"),
        status_with_header(500, "x-request-id", "req_2"),
    ]);
    let service = RetryLayer::new(exact_config(2), StatusClassifier).layer(inner);

    service.oneshot(request("{}")).await.expect("a response");

    let logs = captured.text();
    assert!(logs.contains("retries exhausted"), "{logs}");
    assert!(logs.contains("attempts=2"), "{logs}");
    assert!(logs.contains("kind=ServerError"), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn hint_above_cap_logged() {
    let (captured, _guard) = capture();
    let inner = Scripted::responses([status_with_header(429, "retry-after", "120")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    service.oneshot(request("{}")).await.expect("a response");

    let logs = captured.text();
    assert!(logs.contains("INFO"), "{logs}");
    assert!(logs.contains("exceeds max_delay"), "{logs}");
    assert!(logs.contains("retry_after=120s"), "{logs}");
    assert!(logs.contains("max_delay=30s"), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn non_replayable_retry_skip_logged() {
    let (captured, _guard) = capture();
    let inner = Scripted::responses([status_with_header(503, "x-request-id", "req_1")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner);

    service
        .oneshot(support::OneShot(request("{}")))
        .await
        .expect("a response");

    let logs = captured.text();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("cannot be replayed"), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn budget_skip_warns_once_per_period() {
    let (captured, _guard) = capture();
    let config = RetryConfig {
        base_delay: Duration::ZERO,
        budget: Some(RetryBudgetConfig {
            retry_ratio: 0.0,
            min_retries: 1,
            period: Duration::from_secs(3600),
            capacity: 1,
            scope: BudgetScope::Shared,
        }),
        ..exact_config(2)
    };
    let inner = Scripted::responses((0..10).map(|_| status(503)));
    let layer = RetryLayer::new(config, StatusClassifier);

    // The first call spends the only token; the next three find the budget empty.
    for _ in 0..4 {
        layer
            .layer(inner.clone())
            .oneshot(request("{}"))
            .await
            .expect("a response");
    }

    let logs = captured.text();
    let skips: Vec<_> = logs
        .lines()
        .filter(|line| line.contains("retry budget is empty"))
        .collect();
    assert_eq!(skips.len(), 3, "{logs}");
    assert!(skips[0].contains("WARN"), "{logs}");
    assert!(skips[0].contains("key=\"shared\""), "{logs}");
    assert!(skips[0].contains("skipped=1"), "{logs}");
    assert!(skips[0].contains("kind=Some(Overloaded)"), "{logs}");
    assert!(skips[0].contains("status=503"), "{logs}");
    for line in &skips[1..] {
        assert!(
            line.contains("DEBUG"),
            "later skips are debug events: {logs}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn deadline_stop_logged() {
    let (captured, _guard) = capture();
    let config = RetryConfig {
        deadline: Some(Duration::from_millis(500)),
        ..exact_config(3)
    };
    let inner = Scripted::responses([status(503)]);
    let service = RetryLayer::new(config, StatusClassifier).layer(inner);

    service.oneshot(request("{}")).await.expect("a response");

    let logs = captured.text();
    assert!(logs.contains("INFO"), "{logs}");
    assert!(logs.contains("after the deadline"), "{logs}");
    assert!(logs.contains("delay=1s"), "{logs}");
    assert!(logs.contains("time_left=500ms"), "{logs}");
}
