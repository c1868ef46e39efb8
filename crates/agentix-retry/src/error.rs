//! Errors in the retry options.

use std::fmt;
use std::time::Duration;

/// An invalid [`RetryConfig`](crate::RetryConfig) option, with the field and its value.
///
/// The retry service itself adds no error of its own: it returns the last attempt's result
/// unchanged.
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
}

impl ConfigError {
    /// Returns the name of the invalid field, as spelled in `RetryConfig`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ZeroMaxAttempts => "max_attempts",
            Self::BaseDelayAboveMaxDelay { .. } => "base_delay",
            Self::JitterOutOfRange { .. } => "jitter",
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
        }
    }
}

impl std::error::Error for ConfigError {}

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

        let jitter = ConfigError::JitterOutOfRange { jitter: 1.5 };
        assert_eq!(jitter.field(), "jitter");
        assert!(jitter.to_string().contains("`jitter` is 1.5"));
    }
}
