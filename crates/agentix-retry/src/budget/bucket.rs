//! A lock-free token bucket, counted in millionths of a token.

use std::sync::atomic::{AtomicU64, Ordering};

use agentix_core::TenantId;
use tokio::time::Instant;

use super::RetryBudgetConfig;

/// Millionths of a token in one token, the unit of every balance.
pub(crate) const MICROS_PER_TOKEN: u64 = 1_000_000;

/// The `last_warning` value of a bucket that has not warned yet.
const NEVER: u64 = u64::MAX;

/// The amounts of a bucket, in millionths of a token, derived once from the options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketSettings {
    /// Most the balance may hold.
    pub(crate) capacity: u64,
    /// Added by each call when it is first sent.
    pub(crate) deposit: u64,
    /// The balance of a new bucket.
    pub(crate) start: u64,
    /// Refilled over each `period_nanos`, evenly.
    pub(crate) refill_per_period: u128,
    /// The refill period in nanoseconds; never 0 once the options are validated.
    pub(crate) period_nanos: u128,
}

impl BucketSettings {
    /// Converts validated options to integer amounts.
    pub(crate) fn from_config(config: &RetryBudgetConfig) -> Self {
        let capacity = u64::from(config.capacity) * MICROS_PER_TOKEN;
        // `validate` bounds the ratio to 0.0..=MAX_RETRY_RATIO, so the product fits in u64;
        // the `as` cast saturates should it not.
        let deposit = (config.retry_ratio * MICROS_PER_TOKEN as f64).round() as u64;
        let refill_per_period = u128::from(config.min_retries) * u128::from(MICROS_PER_TOKEN);
        Self {
            capacity,
            deposit,
            start: (u64::from(config.min_retries) * MICROS_PER_TOKEN).min(capacity),
            refill_per_period,
            // A zero period is rejected by `validate`; 1 keeps the division defined anyway.
            period_nanos: config.period.as_nanos().max(1),
        }
    }
}

/// A token bucket: calls deposit a fraction of a token, retries withdraw whole tokens, and
/// time refills it at the configured floor rate.
///
/// All updates are compare-and-swap loops on atomics, so concurrent tasks take no lock and
/// never create tokens. Tokens are lost only to the capacity clamp.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// The tenant of the bucket; `None` for the bucket of calls without one.
    key: Option<TenantId>,
    settings: BucketSettings,
    /// The time the refill is measured from.
    origin: Instant,
    /// The balance, in millionths of a token; never above `settings.capacity`.
    balance: AtomicU64,
    /// Nanoseconds after `origin` up to which the floor has been refilled.
    refilled_until: AtomicU64,
    /// Nanoseconds after `origin` of the last warning about a skipped retry, or `NEVER`.
    last_warning: AtomicU64,
    /// Retries skipped since the last warning.
    skipped: AtomicU64,
}

impl TokenBucket {
    /// Creates a bucket holding the starting balance, refilled from `origin` on.
    pub(crate) fn new(settings: BucketSettings, key: Option<TenantId>, origin: Instant) -> Self {
        Self {
            key,
            settings,
            origin,
            balance: AtomicU64::new(settings.start),
            refilled_until: AtomicU64::new(0),
            last_warning: AtomicU64::new(NEVER),
            skipped: AtomicU64::new(0),
        }
    }

    /// Returns the tenant of the bucket, or `"shared"` for the bucket of calls without one.
    pub(crate) fn key(&self) -> &str {
        self.key.as_ref().map_or("shared", TenantId::as_str)
    }

    /// Returns the balance in millionths of a token, without refilling first.
    pub(crate) fn balance_micros(&self) -> u64 {
        self.balance.load(Ordering::Acquire)
    }

    /// Returns the balance in millionths of a token after refilling up to `now`.
    pub(crate) fn balance_at(&self, now: Instant) -> u64 {
        self.refill(now);
        self.balance_micros()
    }

    /// Returns the balance a new bucket starts with, in millionths of a token.
    pub(crate) fn start_micros(&self) -> u64 {
        self.settings.start
    }

    /// Adds the deposit of one call, up to the capacity.
    pub(crate) fn deposit(&self) {
        self.add(u128::from(self.settings.deposit));
    }

    /// Withdraws one token for a retry at `now`, after refilling; returns whether the
    /// balance held a whole token.
    pub(crate) fn try_withdraw(&self, now: Instant) -> bool {
        self.refill(now);
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |balance| {
                balance.checked_sub(MICROS_PER_TOKEN)
            })
            .is_ok()
    }

    /// Counts a retry skipped at `now` for lack of tokens, and returns the number of retries
    /// skipped since the last warning when this one should be logged as a warning.
    ///
    /// At most one warning per refill period is returned, so an outage logs a few lines and
    /// a count rather than one line per call.
    pub(crate) fn note_skip(&self, now: Instant) -> Option<u64> {
        self.skipped.fetch_add(1, Ordering::AcqRel);
        let now = self.nanos_since_origin(now);
        let last = self.last_warning.load(Ordering::Acquire);
        let due =
            last == NEVER || u128::from(now.saturating_sub(last)) >= self.settings.period_nanos;
        if !due {
            return None;
        }
        // Only the task that moves `last_warning` logs the warning.
        self.last_warning
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // A warning of an earlier period may have counted this skip already.
        Some(self.skipped.swap(0, Ordering::AcqRel).max(1))
    }

    /// Adds the floor earned between the last refill and `now`.
    ///
    /// Each interval of time is claimed by exactly one task, the one whose compare-and-swap
    /// moves `refilled_until` over it. The amount is a difference of totals since `origin`,
    /// so the refills add up exactly however the intervals are split.
    fn refill(&self, now: Instant) {
        let now = self.nanos_since_origin(now);
        let mut last = self.refilled_until.load(Ordering::Acquire);
        loop {
            if now <= last {
                return;
            }
            match self.refilled_until.compare_exchange_weak(
                last,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(current) => last = current,
            }
        }
        let amount = self.refilled_by(now) - self.refilled_by(last);
        self.add(amount);
    }

    /// Returns the total floor refilled from `origin` to `nanos` after it.
    fn refilled_by(&self, nanos: u64) -> u128 {
        // At most about 1.8e19 ns times 4.3e15 millionths: well within u128.
        u128::from(nanos) * self.settings.refill_per_period / self.settings.period_nanos
    }

    /// Adds `amount` millionths of a token, up to the capacity.
    fn add(&self, amount: u128) {
        if amount == 0 {
            return;
        }
        let capacity = self.settings.capacity;
        let amount = u64::try_from(amount).unwrap_or(u64::MAX);
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |balance| {
                Some(balance.saturating_add(amount).min(capacity))
            });
    }

    fn nanos_since_origin(&self, now: Instant) -> u64 {
        // A time before `origin` (a clock paused after the bucket was made) refills nothing.
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed).unwrap_or(u64::MAX - 1)
    }
}

#[cfg(test)]
#[path = "bucket_tests.rs"]
mod tests;
