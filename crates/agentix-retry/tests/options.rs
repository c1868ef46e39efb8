//! Validation of the deadline and budget options: each invalid field is named.

use std::time::Duration;

use agentix_retry::{BudgetScope, RetryBudgetConfig, RetryConfig, RetryLayer, MAX_RETRY_RATIO};

fn with_budget(budget: RetryBudgetConfig) -> RetryConfig {
    RetryConfig {
        budget: Some(budget),
        ..RetryConfig::default()
    }
}

#[test]
fn defaults_have_no_deadline_or_budget() {
    let config = RetryConfig::default();
    assert_eq!(config.deadline, None);
    assert!(!config.cancel_at_deadline);
    assert_eq!(config.budget, None);
}

#[test]
fn default_budget_is_valid() {
    let budget = RetryBudgetConfig::default();
    assert_eq!(budget.retry_ratio, 0.2);
    assert_eq!(budget.min_retries, 10);
    assert_eq!(budget.period, Duration::from_secs(10));
    assert_eq!(budget.capacity, 100);
    assert_eq!(budget.scope, BudgetScope::Shared);
    assert!(with_budget(budget).validate().is_ok());
}

#[test]
fn boundary_values_accepted() {
    let cases = [
        RetryConfig {
            deadline: Some(Duration::from_nanos(1)),
            ..RetryConfig::default()
        },
        RetryConfig {
            deadline: Some(Duration::MAX),
            ..RetryConfig::default()
        },
        with_budget(RetryBudgetConfig {
            retry_ratio: 0.0,
            ..RetryBudgetConfig::default()
        }),
        with_budget(RetryBudgetConfig {
            retry_ratio: MAX_RETRY_RATIO,
            capacity: u32::MAX,
            ..RetryBudgetConfig::default()
        }),
        with_budget(RetryBudgetConfig {
            min_retries: 0,
            ..RetryBudgetConfig::default()
        }),
        with_budget(RetryBudgetConfig {
            period: Duration::from_nanos(1),
            min_retries: u32::MAX,
            ..RetryBudgetConfig::default()
        }),
        with_budget(RetryBudgetConfig {
            scope: BudgetScope::PerTenant { max_tenants: 1 },
            ..RetryBudgetConfig::default()
        }),
    ];
    for config in cases {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
    }
}

#[test]
fn each_invalid_field_named() {
    let cases = [
        (
            RetryConfig {
                deadline: Some(Duration::ZERO),
                ..RetryConfig::default()
            },
            "deadline",
        ),
        (
            RetryConfig {
                cancel_at_deadline: true,
                ..RetryConfig::default()
            },
            "cancel_at_deadline",
        ),
        (
            with_budget(RetryBudgetConfig {
                retry_ratio: -0.1,
                ..RetryBudgetConfig::default()
            }),
            "budget.retry_ratio",
        ),
        (
            with_budget(RetryBudgetConfig {
                retry_ratio: f64::NAN,
                ..RetryBudgetConfig::default()
            }),
            "budget.retry_ratio",
        ),
        (
            with_budget(RetryBudgetConfig {
                retry_ratio: f64::INFINITY,
                ..RetryBudgetConfig::default()
            }),
            "budget.retry_ratio",
        ),
        (
            with_budget(RetryBudgetConfig {
                retry_ratio: MAX_RETRY_RATIO * 1.01,
                ..RetryBudgetConfig::default()
            }),
            "budget.retry_ratio",
        ),
        (
            with_budget(RetryBudgetConfig {
                period: Duration::ZERO,
                ..RetryBudgetConfig::default()
            }),
            "budget.period",
        ),
        (
            with_budget(RetryBudgetConfig {
                capacity: 0,
                ..RetryBudgetConfig::default()
            }),
            "budget.capacity",
        ),
        (
            with_budget(RetryBudgetConfig {
                retry_ratio: 0.0,
                min_retries: 0,
                ..RetryBudgetConfig::default()
            }),
            "budget.min_retries",
        ),
        (
            with_budget(RetryBudgetConfig {
                scope: BudgetScope::PerTenant { max_tenants: 0 },
                ..RetryBudgetConfig::default()
            }),
            "budget.scope",
        ),
    ];
    for (config, field) in cases {
        let error = RetryLayer::try_new(config, ()).expect_err(field);
        assert_eq!(error.field(), field);
        let message = error.to_string();
        let last_part = field.rsplit('.').next().expect("a field name");
        assert!(message.contains(last_part), "{message}");
        assert!(message.starts_with("invalid retry config"), "{message}");
    }
}
