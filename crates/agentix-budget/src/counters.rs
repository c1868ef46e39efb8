//! The lock-free counters of one budget.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Admission;

/// The counters of one budget: tokens committed (used plus reserved) and tokens used.
///
/// Admission reads and updates only `committed`, in one compare-exchange, so two calls can
/// never both take the same remaining tokens. `used` only grows; it makes a budget whose
/// usage saturated at `u64::MAX` stay spent, and it splits `committed` for snapshots.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    committed: AtomicU64,
    used: AtomicU64,
}

impl Counters {
    /// Reserves tokens for one call under `limit`.
    ///
    /// Returns the tokens reserved, or the committed count at the moment of the rejection.
    pub(crate) fn reserve(
        &self,
        estimate: u64,
        limit: u64,
        admission: Admission,
    ) -> Result<u64, u64> {
        let used = self.used.load(Ordering::Acquire);
        let mut committed = self.committed.load(Ordering::Acquire);
        loop {
            if used >= limit || committed >= limit {
                return Err(committed.max(used));
            }
            let remaining = limit - committed;
            let tokens = match admission {
                Admission::Capped => estimate.min(remaining),
                Admission::Strict if estimate <= remaining => estimate,
                Admission::Strict => return Err(committed),
            };
            // `tokens <= limit - committed`, so the sum cannot overflow.
            match self.committed.compare_exchange_weak(
                committed,
                committed + tokens,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(tokens),
                Err(current) => committed = current,
            }
        }
    }

    /// Replaces a reservation of `reserved` tokens with `actual` used tokens.
    pub(crate) fn settle(&self, reserved: u64, actual: u64) {
        self.update_committed(|committed| {
            committed.saturating_sub(reserved).saturating_add(actual)
        });
        // NOTE: `used` grows after `committed`, so a snapshot taken in between counts the
        // settled tokens as still reserved; admission never reads the pair together.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_add(actual))
            });
    }

    /// Returns a reservation of `reserved` tokens unused.
    pub(crate) fn release(&self, reserved: u64) {
        self.update_committed(|committed| committed.saturating_sub(reserved));
    }

    /// Returns `(used, reserved)`; exact when no call is settling at the same time.
    pub(crate) fn snapshot(&self) -> (u64, u64) {
        let used = self.used.load(Ordering::Acquire);
        let committed = self.committed.load(Ordering::Acquire);
        (used, committed.saturating_sub(used))
    }

    /// Returns whether nothing was ever used and nothing is reserved.
    pub(crate) fn is_unused(&self) -> bool {
        self.committed.load(Ordering::Acquire) == 0 && self.used.load(Ordering::Acquire) == 0
    }

    fn update_committed(&self, update: impl Fn(u64) -> u64) {
        let _ = self
            .committed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |committed| {
                Some(update(committed))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reserves_at_most_the_remainder() {
        let counters = Counters::default();
        assert_eq!(counters.reserve(40, 100, Admission::Capped), Ok(40));
        assert_eq!(counters.reserve(80, 100, Admission::Capped), Ok(60));
        assert_eq!(counters.reserve(1, 100, Admission::Capped), Err(100));
        assert_eq!(counters.snapshot(), (0, 100));
    }

    #[test]
    fn strict_rejects_an_estimate_that_does_not_fit() {
        let counters = Counters::default();
        assert_eq!(counters.reserve(40, 100, Admission::Strict), Ok(40));
        assert_eq!(counters.reserve(61, 100, Admission::Strict), Err(40));
        assert_eq!(counters.reserve(60, 100, Admission::Strict), Ok(60));
    }

    #[test]
    fn settle_and_release_keep_the_pair_consistent() {
        let counters = Counters::default();
        let first = counters.reserve(50, 100, Admission::Capped).unwrap();
        let second = counters.reserve(50, 100, Admission::Capped).unwrap();
        counters.settle(first, 70);
        counters.release(second);
        assert_eq!(counters.snapshot(), (70, 0));
        assert!(!counters.is_unused());
    }

    #[test]
    fn saturated_usage_stays_spent() {
        let counters = Counters::default();
        let first = counters.reserve(10, u64::MAX, Admission::Capped).unwrap();
        let second = counters.reserve(10, u64::MAX, Admission::Capped).unwrap();
        counters.settle(first, u64::MAX);
        // Settling the second call lowers `committed` below the limit again, but `used`
        // stays saturated, so the budget stays spent.
        counters.settle(second, 0);
        assert_eq!(
            counters.reserve(1, u64::MAX, Admission::Capped),
            Err(u64::MAX)
        );
    }
}
