//! Retry options: how many attempts, and how long to wait between them.

use std::time::Duration;

use crate::budget::MAX_RETRY_RATIO;
use crate::error::ConfigError;
#[cfg(doc)]
use crate::DeadlineExceeded;
use crate::{BudgetScope, RetryBudgetConfig};

/// The default fraction by which a delay may be shortened at random.
///
/// Jitter spreads out clients that failed at the same moment, such as every worker behind one
/// rate limit, so that their retries do not arrive in lockstep. With 0.2 each delay falls
/// between 80 % and 100 % of the documented schedule (0.8–1 s, 1.6–2 s, 3.2–4 s), so waits stay
/// close to the schedule users configure and are never longer than it.
pub const DEFAULT_JITTER: f64 = 0.2;

/// Options of the retry layer.
///
/// Delays follow an exponential schedule: the wait before retry `n` (1 for the first retry)
/// is `base_delay * 2^(n - 1)`, capped at `max_delay`, then shortened at random by up to
/// `jitter` of itself. A server's delay hint replaces a shorter computed delay.
///
/// Two limits across calls and time are off by default: a [`deadline`](Self::deadline) for
/// the whole logical call, and a [`budget`](Self::budget) that caps retries to a fraction of
/// calls.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use agentix_retry::RetryConfig;
///
/// let config = RetryConfig {
///     max_attempts: 5,
///     jitter: 0.0,
///     ..RetryConfig::default()
/// };
/// assert_eq!(config.base_delay, Duration::from_secs(1));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Number of attempts in all, the first call included; 1 disables retries. Default 3.
    pub max_attempts: u32,
    /// Delay before the first retry, doubled for each later one. Default 1 s.
    ///
    /// Zero is valid and makes every retry immediate.
    pub base_delay: Duration,
    /// Cap on the computed delay, and the longest server delay hint the layer waits for.
    /// Default 30 s.
    pub max_delay: Duration,
    /// Fraction of each delay, in `0.0..=1.0`, by which it may be shortened at random.
    /// 0.0 gives the exact schedule. Default [`DEFAULT_JITTER`].
    pub jitter: f64,
    /// Time from the first attempt after which no retry starts. Default `None`, no deadline.
    ///
    /// A retry is scheduled only when its delay ends before the deadline; otherwise the
    /// last result is returned at once. An attempt in flight when the deadline passes runs
    /// to its end unless [`cancel_at_deadline`](Self::cancel_at_deadline) is set.
    pub deadline: Option<Duration>,
    /// Whether the deadline also cancels the attempt in flight, or the wait for the inner
    /// service to become ready, and fails the call with [`DeadlineExceeded`]. Default false.
    ///
    /// Off by default so that a slow response that arrives after the deadline is still
    /// returned rather than thrown away after it was paid for. Requires a `deadline`.
    pub cancel_at_deadline: bool,
    /// The retry budget shared by the calls of the layer. Default `None`, no budget.
    ///
    /// Off by default because a budget makes the number of attempts a call gets depend on
    /// the traffic of the whole client: a call may be sent once although attempts remain.
    /// Without it every call keeps the documented schedule, which is what a single process
    /// or a test expects. Turn it on for a fleet that shares a provider, where the budget
    /// keeps an outage from multiplying the load by `max_attempts`.
    pub budget: Option<RetryBudgetConfig>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: DEFAULT_JITTER,
            deadline: None,
            cancel_at_deadline: false,
            budget: None,
        }
    }
}

impl RetryConfig {
    /// Checks that the options describe a usable schedule.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the first invalid field. The options are invalid
    /// when `max_attempts` is 0, when `base_delay` is longer than `max_delay`, when `jitter`
    /// is NaN or outside `0.0..=1.0`, when `deadline` is zero, or when `cancel_at_deadline`
    /// is set without a `deadline`. A budget field can be invalid too; [`ConfigError`] lists
    /// each case.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroMaxAttempts);
        }
        if self.base_delay > self.max_delay {
            return Err(ConfigError::BaseDelayAboveMaxDelay {
                base_delay: self.base_delay,
                max_delay: self.max_delay,
            });
        }
        // NOTE: `contains` is false for NaN, so NaN is rejected here too.
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(ConfigError::JitterOutOfRange {
                jitter: self.jitter,
            });
        }
        if self.deadline == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroDeadline);
        }
        if self.cancel_at_deadline && self.deadline.is_none() {
            return Err(ConfigError::CancelWithoutDeadline);
        }
        match &self.budget {
            Some(budget) => validate_budget(budget),
            None => Ok(()),
        }
    }
}

fn validate_budget(budget: &RetryBudgetConfig) -> Result<(), ConfigError> {
    // NOTE: `contains` is false for NaN, so NaN is rejected here too.
    if !(0.0..=MAX_RETRY_RATIO).contains(&budget.retry_ratio) {
        return Err(ConfigError::RetryRatioOutOfRange {
            retry_ratio: budget.retry_ratio,
        });
    }
    if budget.period.is_zero() {
        return Err(ConfigError::ZeroBudgetPeriod);
    }
    if budget.capacity == 0 {
        return Err(ConfigError::ZeroBudgetCapacity);
    }
    if budget.min_retries == 0 && budget.retry_ratio == 0.0 {
        return Err(ConfigError::BudgetNeverRefills);
    }
    if budget.scope == (BudgetScope::PerTenant { max_tenants: 0 }) {
        return Err(ConfigError::ZeroMaxTenants);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_matches_documented_values() {
        let config = RetryConfig::default();
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.base_delay, Duration::from_secs(1));
        assert_eq!(config.max_delay, Duration::from_secs(30));
        assert_eq!(config.jitter, DEFAULT_JITTER);
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn zero_attempts_rejected() {
        let config = RetryConfig {
            max_attempts: 0,
            ..RetryConfig::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::ZeroMaxAttempts));
    }

    #[test]
    fn one_attempt_accepted() {
        let config = RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn zero_delays_accepted() {
        let config = RetryConfig {
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            ..RetryConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn base_equal_to_max_accepted() {
        let config = RetryConfig {
            base_delay: Duration::from_secs(30),
            ..RetryConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn base_above_max_rejected() {
        let config = RetryConfig {
            base_delay: Duration::from_secs(31),
            ..RetryConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::BaseDelayAboveMaxDelay {
                base_delay: Duration::from_secs(31),
                max_delay: Duration::from_secs(30),
            })
        );
    }

    #[test]
    fn jitter_bounds_accepted() {
        for jitter in [0.0, 0.5, 1.0] {
            let config = RetryConfig {
                jitter,
                ..RetryConfig::default()
            };
            assert_eq!(config.validate(), Ok(()), "jitter {jitter}");
        }
    }

    #[test]
    fn jitter_outside_unit_interval_rejected() {
        for jitter in [-0.1, 1.01, f64::INFINITY, f64::NEG_INFINITY] {
            let config = RetryConfig {
                jitter,
                ..RetryConfig::default()
            };
            assert_eq!(
                config.validate(),
                Err(ConfigError::JitterOutOfRange { jitter }),
                "jitter {jitter}"
            );
        }
    }

    #[test]
    fn jitter_nan_rejected() {
        let config = RetryConfig {
            jitter: f64::NAN,
            ..RetryConfig::default()
        };
        let error = config.validate().expect_err("NaN jitter must be rejected");
        assert_eq!(error.field(), "jitter");
        assert!(matches!(error, ConfigError::JitterOutOfRange { jitter } if jitter.is_nan()));
    }
}
