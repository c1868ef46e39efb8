//! Properties of whole calls under extreme settings: attempts, delays, the deadline and the
//! budget stay within their bounds, on the paused tokio clock.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::{request, status, status_with_header, Response, Scripted, StatusClassifier};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

use agentix_retry::{BudgetScope, RetryBudgetConfig, RetryConfig, RetryLayer, MAX_RETRY_RATIO};

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (1u64..=86_400_000_000_000).prop_map(Duration::from_nanos),
        (0u64..=120).prop_map(Duration::from_secs),
    ]
}

fn budget() -> impl Strategy<Value = RetryBudgetConfig> {
    (
        prop_oneof![Just(0.0), Just(MAX_RETRY_RATIO), 0.0f64..3.0],
        prop_oneof![Just(0u32), Just(u32::MAX), 0u32..20],
        prop_oneof![
            Just(Duration::MAX),
            (1u64..=3_600_000_000_000).prop_map(Duration::from_nanos)
        ],
        prop_oneof![Just(1u32), Just(u32::MAX), 1u32..20],
    )
        .prop_map(
            |(retry_ratio, min_retries, period, capacity)| RetryBudgetConfig {
                retry_ratio,
                min_retries,
                period,
                capacity,
                scope: BudgetScope::Shared,
            },
        )
        .prop_filter("a budget that can refill", |budget| {
            budget.retry_ratio > 0.0 || budget.min_retries > 0
        })
}

fn config() -> impl Strategy<Value = RetryConfig> {
    (
        1u32..12,
        duration(),
        duration(),
        0.0f64..=1.0,
        proptest::option::of(duration().prop_filter("non-zero", |d| !d.is_zero())),
        proptest::option::of(budget()),
        any::<bool>(),
    )
        .prop_map(
            |(max_attempts, a, b, jitter, deadline, budget, cancel)| RetryConfig {
                max_attempts,
                base_delay: a.min(b),
                max_delay: a.max(b),
                jitter,
                deadline,
                // The scripted provider responds at once, so no attempt is in flight at the
                // deadline and cancelling must change nothing.
                cancel_at_deadline: cancel && deadline.is_some(),
                budget,
            },
        )
}

/// Failures, some with a `retry-after` hint in whole seconds.
fn script() -> impl Strategy<Value = Vec<Response>> {
    proptest::collection::vec(
        proptest::option::of(0u64..90).prop_map(|hint| match hint {
            Some(seconds) => status_with_header(503, "retry-after", &seconds.to_string()),
            None => status(503),
        }),
        12,
    )
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a paused runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn calls_stay_within_limits(config in config(), script in script()) {
        prop_assert_eq!(config.validate(), Ok(()));
        let runtime = paused_runtime();
        let inner = Scripted::responses(script);
        let (start, response) = runtime.block_on(async {
            let layer = RetryLayer::new(config.clone(), StatusClassifier);
            let start = Instant::now();
            let response = layer
                .layer(inner.clone())
                .oneshot(request("{}"))
                .await
                .expect("a response");
            (start, response)
        });

        let received = inner.received();
        let calls = received.len() as u32;
        prop_assert!(calls >= 1);
        prop_assert!(calls <= config.max_attempts);
        prop_assert_eq!(response.status(), 503);

        for gap in inner.gaps() {
            prop_assert!(gap <= config.max_delay, "gap {:?} above the cap", gap);
        }

        if let Some(deadline) = config.deadline {
            for retry in &received[1..] {
                let at = retry.at - start;
                prop_assert!(at < deadline, "a retry started at {:?}, deadline {:?}", at, deadline);
            }
        }

        if let Some(budget) = &config.budget {
            let elapsed = received.last().map_or(Duration::ZERO, |last| last.at - start);
            let start_tokens = f64::from(budget.min_retries.min(budget.capacity));
            let refilled = f64::from(budget.min_retries) * elapsed.as_secs_f64()
                / budget.period.as_secs_f64();
            let earned = start_tokens + budget.retry_ratio + refilled;
            let retries = f64::from(calls - 1);
            prop_assert!(
                retries <= earned * (1.0 + 1e-9),
                "{} retries, {} tokens earned",
                retries,
                earned
            );
        }
    }
}
