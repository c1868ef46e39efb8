//! Timing of retries on the paused tokio clock: backoff schedule, cap and server hints.

mod support;

use std::time::Duration;

use support::{exact_config, request, status, status_with_header, Scripted, StatusClassifier};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

use agentix_retry::{RetryConfig, RetryLayer};

fn secs(value: u64) -> Duration {
    Duration::from_secs(value)
}

#[tokio::test(start_paused = true)]
async fn exact_schedule_then_gives_up() {
    let inner = Scripted::responses([status(503), status(503), status(503)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 503, "the last failure is returned as is");
    assert_eq!(inner.calls(), 3);
    assert_eq!(inner.gaps(), vec![secs(1), secs(2)]);
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn success_after_retry_is_returned() {
    let inner = Scripted::responses([status(529)]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 2);
    assert_eq!(start.elapsed(), secs(1));
}

#[tokio::test(start_paused = true)]
async fn delays_cap_at_max_delay() {
    let inner = Scripted::responses((0..10).map(|_| status(500)));
    let service = RetryLayer::new(exact_config(10), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 500);
    assert_eq!(inner.calls(), 10);
    let expected: Vec<_> = [1, 2, 4, 8, 16, 30, 30, 30, 30].map(secs).to_vec();
    assert_eq!(inner.gaps(), expected);
    assert_eq!(start.elapsed(), secs(151));
}

#[tokio::test(start_paused = true)]
async fn single_attempt_never_retries() {
    let inner = Scripted::responses([status(503)]);
    let service = RetryLayer::new(exact_config(1), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 503);
    assert_eq!(inner.calls(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn zero_base_delay_retries_immediately() {
    let config = RetryConfig {
        base_delay: Duration::ZERO,
        ..exact_config(4)
    };
    let inner = Scripted::responses([status(503), status(429), status(500)]);
    let service = RetryLayer::new(config, StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 4);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn jitter_only_shortens_delays() {
    let config = RetryConfig {
        jitter: 0.5,
        ..exact_config(4)
    };
    let inner = Scripted::responses((0..4).map(|_| status(503)));
    let service = RetryLayer::new(config, StatusClassifier).layer(inner.clone());

    service.oneshot(request("{}")).await.expect("a response");

    let gaps = inner.gaps();
    assert_eq!(gaps.len(), 3);
    for (gap, exact) in gaps.into_iter().zip([1, 2, 4].map(secs)) {
        assert!(gap <= exact, "gap {gap:?} above exact delay {exact:?}");
        assert!(gap >= exact / 2, "gap {gap:?} below half of {exact:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn hint_longer_than_backoff_waited_in_full() {
    let inner = Scripted::responses([status_with_header(429, "retry-after", "2")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 2);
    assert_eq!(inner.gaps(), vec![secs(2)]);
    assert_eq!(start.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn hint_shorter_than_backoff_uses_backoff() {
    let inner = Scripted::responses([status(503), status_with_header(429, "retry-after", "0.5")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(inner.calls(), 3);
    assert_eq!(inner.gaps(), vec![secs(1), secs(2)]);
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn hint_above_cap_stops_at_once() {
    let inner = Scripted::responses([status_with_header(429, "retry-after", "31")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "31");
    assert_eq!(inner.calls(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn hint_equal_to_cap_is_waited() {
    let inner = Scripted::responses([status_with_header(503, "retry-after", "30")]);
    let service = RetryLayer::new(exact_config(3), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 200);
    assert_eq!(inner.calls(), 2);
    assert_eq!(start.elapsed(), secs(30));
}

/// Three 429 responses whose hints grow from call to call: 1 s, 10 s, then 40 s.
fn growing_hints() -> Scripted {
    Scripted::responses([
        status_with_header(429, "retry-after", "1"),
        status_with_header(429, "retry-after", "10"),
        status_with_header(429, "retry-after", "40"),
    ])
}

#[tokio::test(start_paused = true)]
async fn changing_hints_waited_until_one_exceeds_cap() {
    let inner = growing_hints();
    let service = RetryLayer::new(exact_config(5), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers()["retry-after"],
        "40",
        "the 40 s failure is returned"
    );
    assert_eq!(inner.calls(), 3);
    assert_eq!(inner.gaps(), vec![secs(1), secs(10)]);
    assert_eq!(start.elapsed(), secs(11));
}

#[tokio::test(start_paused = true)]
async fn changing_hints_override_jitter() {
    // Jitter only shortens the backoff delay (at most 1 s, then 2 s), so each hint, being
    // at least as long, sets the wait exactly.
    let config = RetryConfig {
        jitter: 1.0,
        ..exact_config(5)
    };
    let inner = growing_hints();
    let service = RetryLayer::new(config, StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.headers()["retry-after"], "40");
    assert_eq!(inner.calls(), 3);
    assert_eq!(inner.gaps(), vec![secs(1), secs(10)]);
    assert_eq!(start.elapsed(), secs(11));
}

#[tokio::test(start_paused = true)]
async fn changing_hints_end_at_max_attempts() {
    let inner = growing_hints();
    let service = RetryLayer::new(exact_config(2), StatusClassifier).layer(inner.clone());

    let start = Instant::now();
    let response = service.oneshot(request("{}")).await.expect("a response");

    assert_eq!(response.headers()["retry-after"], "10");
    assert_eq!(inner.calls(), 2);
    assert_eq!(start.elapsed(), secs(1));
}
