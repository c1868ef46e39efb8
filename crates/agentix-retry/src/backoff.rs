//! The delay schedule between attempts: exponential, capped, with downward jitter.
//!
//! This module is the only place that computes retry delays. The exact delay before retry
//! `n` (1 for the first retry) is `min(base_delay * 2^(n - 1), max_delay)`, computed in
//! integer nanoseconds with saturation, so any `n` up to `u32::MAX` and any durations give
//! a result without overflow or panic.
//!
//! # Jitter
//!
//! Jitter only ever shortens a delay: the delay used is `exact * (1 - jitter * u)` with `u`
//! drawn uniformly from `[0, 1)`. So a delay stays within `[exact * (1 - jitter), exact]`,
//! never exceeds `max_delay`, and a jitter of 0.0 gives the exact schedule (1 s, 2 s, 4 s,
//! ... with the defaults). Shortening rather than stretching keeps the cap a true upper
//! bound on every wait the layer computes.

use std::time::Duration;

use crate::RetryConfig;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// An exponential backoff schedule with a cap and downward jitter.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use agentix_retry::Backoff;
///
/// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0.0);
/// assert_eq!(backoff.delay(1), Duration::from_secs(1));
/// assert_eq!(backoff.delay(3), Duration::from_secs(4));
/// assert_eq!(backoff.delay(10), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base_delay: Duration,
    max_delay: Duration,
    jitter: f64,
}

impl Backoff {
    /// Creates a schedule from a base delay, a cap and a jitter fraction.
    ///
    /// The schedule never panics on its inputs: a `base_delay` above `max_delay` is capped
    /// like any other delay, a NaN jitter counts as 0.0 and any other jitter is clamped to
    /// `0.0..=1.0`. [`RetryConfig::validate`] rejects such values before they reach here.
    pub fn new(base_delay: Duration, max_delay: Duration, jitter: f64) -> Self {
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        Self {
            base_delay,
            max_delay,
            jitter,
        }
    }

    /// Returns the cap on every computed delay.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Returns the delay before retry `retry` without jitter: `min(base * 2^(retry - 1), max)`.
    ///
    /// `retry` counts from 1 for the first retry; 0 is treated as 1.
    pub fn exact_delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1);
        let base = self.base_delay.as_nanos();
        let cap = self.max_delay.as_nanos();

        // A shift that would push set bits out of the u128 means the product is larger than
        // any Duration, so it saturates and the cap applies.
        let scaled = if base == 0 {
            0
        } else if exponent >= u128::BITS || base > (u128::MAX >> exponent) {
            u128::MAX
        } else {
            base << exponent
        };
        duration_from_nanos(scaled.min(cap))
    }

    /// Returns the delay before retry `retry`, shortened by a random jitter drawn from the
    /// thread-local `fastrand` generator.
    pub fn delay(&self, retry: u32) -> Duration {
        self.jittered_delay(retry, fastrand::f64())
    }

    /// Returns the delay before retry `retry`, shortened by `jitter * sample` of itself.
    ///
    /// `sample` is the random draw in `[0, 1)`. Values outside `0.0..=1.0` are clamped, and
    /// NaN counts as 0.0. The result lies in `[exact * (1 - jitter), exact]` up to float
    /// rounding of a few nanoseconds on the lower bound, and never exceeds `exact`.
    pub fn jittered_delay(&self, retry: u32, sample: f64) -> Duration {
        let exact = self.exact_delay(retry);
        let sample = if sample.is_nan() {
            0.0
        } else {
            sample.clamp(0.0, 1.0)
        };
        let nanos = exact.as_nanos();

        // Float-to-integer `as` casts saturate and the fraction lies in 0.0..=1.0, so the cut
        // is never negative. `saturating_sub` absorbs a cut rounded above `nanos`.
        let cut = (nanos as f64 * (self.jitter * sample)) as u128;
        duration_from_nanos(nanos.saturating_sub(cut))
    }
}

impl From<&RetryConfig> for Backoff {
    fn from(config: &RetryConfig) -> Self {
        Self::new(config.base_delay, config.max_delay, config.jitter)
    }
}

/// Converts nanoseconds that come from a `Duration` (or are smaller) back to a `Duration`.
fn duration_from_nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / NANOS_PER_SEC)
        .expect("nanoseconds bounded by a Duration have whole seconds that fit in u64");
    // The remainder is below 1e9, so it always fits in u32.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    #[test]
    fn schedule_doubles_then_caps() {
        let backoff = Backoff::new(secs(1), secs(30), 0.0);
        let delays: Vec<_> = (1..=8).map(|retry| backoff.delay(retry)).collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 16, 30, 30, 30].map(secs).to_vec(),
            "exact schedule with jitter 0"
        );
    }

    #[test]
    fn retry_zero_counts_as_first() {
        let backoff = Backoff::new(secs(1), secs(30), 0.0);
        assert_eq!(backoff.exact_delay(0), secs(1));
    }

    #[test]
    fn huge_retry_numbers_saturate_at_cap() {
        let backoff = Backoff::new(Duration::from_nanos(1), Duration::MAX, 0.0);
        assert_eq!(backoff.exact_delay(u32::MAX), Duration::MAX);
        assert_eq!(backoff.exact_delay(129), Duration::MAX);
        assert_eq!(backoff.exact_delay(41), Duration::from_nanos(1 << 40));
    }

    #[test]
    fn zero_base_gives_immediate_retries() {
        let backoff = Backoff::new(Duration::ZERO, secs(30), 1.0);
        assert_eq!(backoff.delay(1), Duration::ZERO);
        assert_eq!(backoff.delay(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn jitter_shortens_within_fraction() {
        let backoff = Backoff::new(secs(10), secs(100), 0.2);
        assert_eq!(backoff.jittered_delay(1, 0.0), secs(10));
        assert_eq!(backoff.jittered_delay(1, 0.5), secs(9));
        assert_eq!(backoff.jittered_delay(1, 1.0), secs(8));
    }

    #[test]
    fn jitter_of_max_duration_does_not_panic() {
        let backoff = Backoff::new(Duration::MAX, Duration::MAX, 1.0);
        assert!(backoff.jittered_delay(u32::MAX, 0.999_999) <= Duration::MAX);
        assert_eq!(backoff.jittered_delay(1, 0.0), Duration::MAX);
    }

    #[test]
    fn out_of_range_inputs_are_clamped() {
        let nan = Backoff::new(secs(10), secs(100), f64::NAN);
        assert_eq!(
            nan.jittered_delay(1, 0.9),
            secs(10),
            "NaN jitter counts as 0"
        );

        let wide = Backoff::new(secs(10), secs(100), 7.0);
        assert_eq!(wide.jittered_delay(1, 0.5), secs(5), "jitter clamps to 1");

        let narrow = Backoff::new(secs(10), secs(100), 0.5);
        assert_eq!(narrow.jittered_delay(1, f64::NAN), secs(10));
        assert_eq!(narrow.jittered_delay(1, -3.0), secs(10));
        assert_eq!(narrow.jittered_delay(1, 3.0), secs(5));

        let inverted = Backoff::new(secs(60), secs(30), 0.0);
        assert_eq!(inverted.delay(1), secs(30), "base above cap is capped");
    }
}
