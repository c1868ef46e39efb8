//! Timing of the whole client under tokio's paused clock: the failure that opens the
//! circuit, the end of the cooldown, the retry schedule and delay hints.

mod hardening_support;

use std::time::Duration;

use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, ResilienceError, ServedBy};
use hardening_support::{MockProvider, Reply, RATE_LIMITED};
use serde_json::json;
use tokio::time::{advance, Instant};

const PRIMARY: &str = "claude-opus-4-20250514";
const FALLBACK: &str = "claude-sonnet-4-20250514";

fn options() -> AgentixAgentOptions {
    AgentixAgentOptions {
        model: PRIMARY.into(),
        retry_jitter: 0.0,
        ..AgentixAgentOptions::default()
    }
}

fn client(options: AgentixAgentOptions, provider: &MockProvider) -> AgentixClient<MockProvider> {
    AgentixClient::builder(options)
        .build_with(provider.clone())
        .expect("valid options")
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

fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value)
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_on_fifth_failure() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(
        AgentixAgentOptions {
            retry_max_attempts: 1,
            ..options()
        },
        &provider,
    );

    for call in 1..=5 {
        let error = client.create(prompt()).await.unwrap_err();
        assert!(
            matches!(error, AgentixError::Api { status: 529, .. }),
            "call {call}: {error}"
        );
        assert_eq!(provider.calls(), call, "call {call} reaches the provider");
    }
    let error = client.create(prompt()).await.unwrap_err();
    assert!(is_circuit_open(&error), "sixth call: {error}");
    assert_eq!(provider.calls(), 5, "the sixth call is not sent");
}

#[tokio::test(start_paused = true)]
async fn probe_waits_full_cooldown() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(
        AgentixAgentOptions {
            retry_max_attempts: 1,
            circuit_breaker_cooldown: 60.0,
            ..options()
        },
        &provider,
    );
    for _ in 0..5 {
        client.create(prompt()).await.unwrap_err();
    }

    advance(secs(59.999)).await;
    let error = client.create(prompt()).await.unwrap_err();
    assert!(is_circuit_open(&error), "at 59.999 s: {error}");
    if let AgentixError::Resilience(ResilienceError::CircuitOpen(open)) = &error {
        assert_eq!(open.retry_after, Duration::from_millis(1));
    }
    assert_eq!(provider.calls(), 5);

    advance(Duration::from_millis(1)).await;
    provider.set_otherwise(Reply::ok());
    client
        .create(prompt())
        .await
        .expect("the probe succeeds at 60 s");
    assert_eq!(provider.calls(), 6);
    client
        .create(prompt())
        .await
        .expect("the circuit is closed again");
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens_full_cooldown() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(
        AgentixAgentOptions {
            retry_max_attempts: 1,
            circuit_breaker_cooldown: 10.0,
            ..options()
        },
        &provider,
    );
    for _ in 0..5 {
        client.create(prompt()).await.unwrap_err();
    }
    advance(secs(10.0)).await;
    let error = client.create(prompt()).await.unwrap_err();
    assert!(matches!(error, AgentixError::Api { .. }), "probe: {error}");
    assert_eq!(provider.calls(), 6);

    advance(secs(9.999)).await;
    let error = client.create(prompt()).await.unwrap_err();
    assert!(is_circuit_open(&error), "{error}");
    advance(Duration::from_millis(1)).await;
    client.create(prompt()).await.unwrap_err();
    assert_eq!(
        provider.calls(),
        7,
        "second probe after a second full cooldown"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_schedule_is_exact_without_jitter() {
    let provider = MockProvider::new([], Reply::overloaded());
    let client = client(
        AgentixAgentOptions {
            retry_max_attempts: 8,
            circuit_breaker_failure_threshold: 0,
            ..options()
        },
        &provider,
    );
    client.create(prompt()).await.unwrap_err();
    let expected: Vec<Duration> = [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 61.0, 91.0]
        .into_iter()
        .map(secs)
        .collect();
    assert_eq!(provider.arrivals(), expected);
}

#[tokio::test(start_paused = true)]
async fn hint_above_cap_stops_at_once() {
    let provider = MockProvider::new(
        [Reply::status(429, RATE_LIMITED).header("retry-after", "31")],
        Reply::ok(),
    );
    let client = client(
        AgentixAgentOptions {
            fallback_model: Some(FALLBACK.into()),
            ..options()
        },
        &provider,
    );
    let start = Instant::now();
    let response = client.create(prompt()).await.expect("the fallback serves");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no wait for a hint above the cap"
    );
    assert_eq!(provider.calls(), 2);
    let served = response.extensions().get::<ServedBy>().unwrap();
    assert_eq!(&*served.model, FALLBACK);
}

/// Sends one call whose first attempt is a 429 carrying `headers`, and returns when the
/// second attempt arrived, or `None` when there was none.
async fn second_attempt_after(headers: &[(&str, &[u8])]) -> Option<Duration> {
    let mut first = Reply::status(429, RATE_LIMITED);
    for (name, value) in headers {
        first = first.header(name, value);
    }
    let provider = MockProvider::new([first], Reply::ok());
    let client = client(
        AgentixAgentOptions {
            retry_max_attempts: 2,
            ..options()
        },
        &provider,
    );
    let _ = client.create(prompt()).await;
    provider.arrivals().get(1).copied()
}

/// One delay-hint case: its name, the response headers and the expected second-attempt time.
type HintCase<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, Option<Duration>);

#[tokio::test(start_paused = true)]
async fn odd_retry_after_values() {
    let far_past: &[u8] = b"Thu, 01 Jan 1970 00:00:00 GMT";
    let far_future: &[u8] = b"Fri, 31 Dec 9999 23:59:59 GMT";
    let cases: Vec<HintCase> = vec![
        ("negative", vec![("retry-after", b"-3")], Some(secs(1.0))),
        (
            "negative zero",
            vec![("retry-after", b"-0")],
            Some(secs(1.0)),
        ),
        ("fractional", vec![("retry-after", b"1.5")], Some(secs(1.5))),
        ("NaN", vec![("retry-after", b"NaN")], Some(secs(1.0))),
        ("inf", vec![("retry-after", b"inf")], Some(secs(1.0))),
        ("plus sign", vec![("retry-after", b"+2")], Some(secs(1.0))),
        ("exponent", vec![("retry-after", b"2e0")], Some(secs(2.0))),
        ("enormous", vec![("retry-after", b"1e999")], None),
        ("many digits", vec![("retry-after", &[b'9'; 400])], None),
        (
            "date in the far past",
            vec![("retry-after", far_past)],
            Some(secs(1.0)),
        ),
        (
            "date in the far future",
            vec![("retry-after", far_future)],
            None,
        ),
        (
            "non-UTF-8",
            vec![("retry-after", b"\xff\xfe2")],
            Some(secs(1.0)),
        ),
        // tokio's timer has millisecond resolution and rounds a sleep up.
        (
            "fractional ms",
            vec![("retry-after-ms", b"2500.5")],
            Some(secs(2.501)),
        ),
        (
            "negative ms",
            vec![("retry-after-ms", b"-100")],
            Some(secs(1.0)),
        ),
        (
            "invalid ms falls to seconds",
            vec![("retry-after-ms", b"soon"), ("retry-after", b"2")],
            Some(secs(2.0)),
        ),
        (
            "duplicated header uses the first",
            vec![("retry-after", b"2"), ("retry-after", b"100")],
            Some(secs(2.0)),
        ),
        (
            "equal to the cap",
            vec![("retry-after", b"30")],
            Some(secs(30.0)),
        ),
    ];
    for (name, headers, expected) in cases {
        let actual = second_attempt_after(&headers).await;
        assert_eq!(actual, expected, "{name}");
    }
}
