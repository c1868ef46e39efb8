//! Properties of the backoff schedule over the whole input range.

use std::time::Duration;

use agentix_retry::{Backoff, RetryConfig, RetryLayer};
use proptest::prelude::*;

/// Computes `min(base * 2^(retry - 1), max)` by repeated doubling, independently of the
/// shift-based code under test.
fn doubled_until_cap(base: Duration, max: Duration, retry: u32) -> Duration {
    let mut delay = base.min(max);
    for _ in 1..retry {
        if delay.is_zero() || delay >= max {
            break;
        }
        delay = delay.checked_mul(2).map_or(max, |doubled| doubled.min(max));
    }
    delay
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..=u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..=3_600_000_000_000).prop_map(Duration::from_nanos),
        Just(Duration::ZERO),
        Just(Duration::MAX),
    ]
}

/// Base and max delays that pass `RetryConfig::validate`.
fn delays() -> impl Strategy<Value = (Duration, Duration)> {
    (duration(), duration()).prop_map(|(a, b)| (a.min(b), a.max(b)))
}

proptest! {
    #[test]
    fn delay_never_exceeds_cap(
        (base, max) in delays(),
        jitter in 0.0f64..=1.0,
        retry in any::<u32>(),
        sample in 0.0f64..1.0,
    ) {
        let config = RetryConfig { max_attempts: 3, base_delay: base, max_delay: max, jitter, ..RetryConfig::default() };
        prop_assert!(config.validate().is_ok());
        let backoff = Backoff::from(&config);

        let exact = backoff.exact_delay(retry);
        let jittered = backoff.jittered_delay(retry, sample);
        let random = backoff.delay(retry);

        prop_assert!(exact <= max);
        prop_assert!(jittered <= exact);
        prop_assert!(random <= exact);
    }

    #[test]
    fn exact_delay_matches_doubling(
        (base, max) in delays(),
        retry in prop_oneof![1u32..200, any::<u32>()],
    ) {
        let backoff = Backoff::new(base, max, 0.0);
        prop_assert_eq!(backoff.exact_delay(retry), doubled_until_cap(base, max, retry));
        prop_assert_eq!(backoff.delay(retry), backoff.exact_delay(retry));
    }

    #[test]
    fn exact_delay_never_decreases(
        (base, max) in delays(),
        retry in 1u32..u32::MAX,
    ) {
        let backoff = Backoff::new(base, max, 0.0);
        prop_assert!(backoff.exact_delay(retry + 1) >= backoff.exact_delay(retry));
    }

    #[test]
    fn jitter_cut_stays_within_fraction(
        (base, max) in delays(),
        jitter in 0.0f64..=1.0,
        retry in 1u32..100,
        sample in 0.0f64..1.0,
    ) {
        let backoff = Backoff::new(base, max, jitter);
        let exact = backoff.exact_delay(retry).as_nanos() as f64;
        let jittered = backoff.jittered_delay(retry, sample).as_nanos() as f64;

        // Relative tolerance for float rounding of the cut.
        let floor = exact * (1.0 - jitter) * (1.0 - 1e-12) - 1.0;
        prop_assert!(jittered >= floor, "{} below {}", jittered, floor);
    }

    #[test]
    fn invalid_jitter_rejected_by_layer(
        jitter in prop_oneof![
            Just(f64::NAN),
            (1.0f64..f64::MAX).prop_filter("above 1", |j| *j > 1.0),
            f64::MIN..0.0,
        ],
    ) {
        let config = RetryConfig { jitter, ..RetryConfig::default() };
        let error = RetryLayer::try_new(config, ()).expect_err("invalid jitter");
        prop_assert_eq!(error.field(), "jitter");
    }
}

#[test]
fn layer_rejects_each_invalid_field() {
    let cases = [
        (
            RetryConfig {
                max_attempts: 0,
                ..RetryConfig::default()
            },
            "max_attempts",
        ),
        (
            RetryConfig {
                base_delay: Duration::from_secs(60),
                ..RetryConfig::default()
            },
            "base_delay",
        ),
        (
            RetryConfig {
                jitter: -0.5,
                ..RetryConfig::default()
            },
            "jitter",
        ),
    ];
    for (config, field) in cases {
        let error = RetryLayer::try_new(config, ()).expect_err(field);
        assert_eq!(error.field(), field);
        assert!(error.to_string().contains(field), "{error}");
    }
}

#[test]
#[should_panic(expected = "`max_attempts` is 0")]
fn layer_new_panics_on_invalid_config() {
    let config = RetryConfig {
        max_attempts: 0,
        ..RetryConfig::default()
    };
    let _ = RetryLayer::new(config, ());
}
