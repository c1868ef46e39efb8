//! Errors in the retry options, and the error of a call cancelled at its deadline.

use std::fmt;
use std::time::Duration;

use crate::budget::MAX_RETRY_RATIO;

/// An invalid [`RetryConfig`](crate::RetryConfig) option, with the field and its value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_attempts` is 0, so not even the first call could be made.
    ZeroMaxAttempts,
    /// `base_delay` is longer than `max_delay`.
    BaseDelayAboveMaxDelay {
        /// The configured base delay.
        base_delay: Duration,
        /// The configured cap.
        max_delay: Duration,
    },
    /// `jitter` is NaN or outside `0.0..=1.0`.
    JitterOutOfRange {
        /// The configured jitter.
        jitter: f64,
    },
    /// `deadline` is zero, so no retry could ever start.
    ZeroDeadline,
    /// `cancel_at_deadline` is set but `deadline` is `None`.
    CancelWithoutDeadline,
    /// `budget.retry_ratio` is NaN or outside `0.0..=MAX_RETRY_RATIO`.
    RetryRatioOutOfRange {
        /// The configured ratio.
        retry_ratio: f64,
    },
    /// `budget.period` is zero.
    ZeroBudgetPeriod,
    /// `budget.capacity` is 0, so the bucket could never hold a token.
    ZeroBudgetCapacity,
    /// `budget.min_retries` and `budget.retry_ratio` are both 0, so the bucket is never
    /// refilled and no retry could ever run.
    BudgetNeverRefills,
    /// `budget.scope` is per tenant with `max_tenants` 0.
    ZeroMaxTenants,
}

impl ConfigError {
    /// Returns the name of the invalid field, as spelled in `RetryConfig`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ZeroMaxAttempts => "max_attempts",
            Self::BaseDelayAboveMaxDelay { .. } => "base_delay",
            Self::JitterOutOfRange { .. } => "jitter",
            Self::ZeroDeadline => "deadline",
            Self::CancelWithoutDeadline => "cancel_at_deadline",
            Self::RetryRatioOutOfRange { .. } => "budget.retry_ratio",
            Self::ZeroBudgetPeriod => "budget.period",
            Self::ZeroBudgetCapacity => "budget.capacity",
            Self::BudgetNeverRefills => "budget.min_retries",
            Self::ZeroMaxTenants => "budget.scope",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroMaxAttempts => f.write_str(
                "invalid retry config: `max_attempts` is 0; set it to 1 or more \
                 (it counts the first call, so 1 disables retries)",
            ),
            Self::BaseDelayAboveMaxDelay {
                base_delay,
                max_delay,
            } => write!(
                f,
                "invalid retry config: `base_delay` ({:.3} s) is longer than `max_delay` \
                 ({:.3} s); lower `base_delay` or raise `max_delay`",
                base_delay.as_secs_f64(),
                max_delay.as_secs_f64()
            ),
            Self::JitterOutOfRange { jitter } => write!(
                f,
                "invalid retry config: `jitter` is {jitter}; it must be a fraction \
                 from 0.0 (exact schedule) to 1.0"
            ),
            Self::ZeroDeadline => f.write_str(
                "invalid retry config: `deadline` is 0 s, so no retry could start; \
                 set a positive deadline, or `None` for no deadline",
            ),
            Self::CancelWithoutDeadline => f.write_str(
                "invalid retry config: `cancel_at_deadline` is set but `deadline` is `None`; \
                 set a deadline, or leave `cancel_at_deadline` false",
            ),
            Self::RetryRatioOutOfRange { retry_ratio } => write!(
                f,
                "invalid retry config: `budget.retry_ratio` is {retry_ratio}; it must be a \
                 number of tokens per call from 0.0 to {MAX_RETRY_RATIO}"
            ),
            Self::ZeroBudgetPeriod => f.write_str(
                "invalid retry config: `budget.period` is 0 s; set the period over which \
                 `budget.min_retries` tokens are refilled (10 s by default)",
            ),
            Self::ZeroBudgetCapacity => f.write_str(
                "invalid retry config: `budget.capacity` is 0, so no retry could ever run; \
                 set it to 1 or more, or set `budget` to `None` for no budget",
            ),
            Self::BudgetNeverRefills => f.write_str(
                "invalid retry config: `budget.min_retries` and `budget.retry_ratio` are both \
                 0, so the budget never allows a retry; raise either, or set `max_attempts` to 1",
            ),
            Self::ZeroMaxTenants => f.write_str(
                "invalid retry config: `budget.scope` is per tenant with `max_tenants` 0; \
                 set it to 1 or more, or use the shared scope",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A call cancelled because its [`deadline`](crate::RetryConfig::deadline) passed, returned
/// only when [`cancel_at_deadline`](crate::RetryConfig::cancel_at_deadline) is set.
///
/// Otherwise the retry service adds no error of its own: it returns the last attempt's
/// result unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineExceeded {
    /// The configured deadline, counted from the call.
    pub deadline: Duration,
    /// Attempts sent before the deadline, including one cancelled in flight.
    pub attempts: u32,
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retry deadline of {:.3} s exceeded after {} attempt(s); the call was cancelled \
             (raise `deadline`, or unset `cancel_at_deadline` to let the last attempt finish)",
            self.deadline.as_secs_f64(),
            self.attempts
        )
    }
}

impl std::error::Error for DeadlineExceeded {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_field_and_value() {
        let zero = ConfigError::ZeroMaxAttempts;
        assert_eq!(zero.field(), "max_attempts");
        assert!(zero.to_string().contains("`max_attempts` is 0"));

        let delays = ConfigError::BaseDelayAboveMaxDelay {
            base_delay: Duration::from_millis(1500),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(delays.field(), "base_delay");
        assert!(delays.to_string().contains("`base_delay` (1.500 s)"));
        assert!(delays.to_string().contains("`max_delay` (1.000 s)"));

        let cancel = ConfigError::CancelWithoutDeadline;
        assert_eq!(cancel.field(), "cancel_at_deadline");
        assert!(cancel.to_string().contains("`deadline` is `None`"));

        let jitter = ConfigError::JitterOutOfRange { jitter: 1.5 };
        assert_eq!(jitter.field(), "jitter");
        assert!(jitter.to_string().contains("`jitter` is 1.5"));
    }

    #[test]
    fn deadline_message_names_deadline_and_attempts() {
        let exceeded = DeadlineExceeded {
            deadline: Duration::from_millis(2500),
            attempts: 2,
        };
        let message = exceeded.to_string();
        assert!(message.contains("2.500 s"), "{message}");
        assert!(message.contains("after 2 attempt(s)"), "{message}");
    }
}
