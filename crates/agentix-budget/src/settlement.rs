//! The guard that settles one call's reservation once.

use std::fmt;

use agentix_core::Usage;

use crate::ledger::{BudgetLedger, Reservation};

/// Guard of one admitted call's reservation, settled once by a method call or on drop.
///
/// Each method consumes the guard. A guard dropped without one of them charges the whole
/// reservation, because a call abandoned midway may still be billed by the provider. A guard
/// leaked with `mem::forget` never settles, and its tokens stay reserved.
///
// NOTE: a streamed response moves this guard into its body wrapper instead of settling it in
// the response future. The body then calls `settle_usage` when the final usage event arrives
// and charges the reservation through `Drop` when the stream is cut or dropped.
pub struct Settlement<L: BudgetLedger> {
    pending: Option<(L, L::Reservation)>,
}

impl<L: BudgetLedger> Settlement<L> {
    /// Creates a guard for `reservation`, taken from `ledger`.
    pub fn new(ledger: L, reservation: L::Reservation) -> Self {
        Self {
            pending: Some((ledger, reservation)),
        }
    }

    /// Returns the tokens reserved.
    pub fn reserved(&self) -> u64 {
        self.pending
            .as_ref()
            .map_or(0, |(_, reservation)| reservation.tokens())
    }

    /// Settles to the usage a response reported, or, with no usage, charges the reservation
    /// when `billed` and releases it otherwise.
    pub fn settle_usage(self, usage: Option<Usage>, billed: impl FnOnce() -> bool) {
        match usage {
            Some(usage) => self.settle(usage.total()),
            None if billed() => self.charge_reserved(),
            None => self.release(),
        }
    }

    /// Replaces the reservation with the `actual` tokens used.
    pub fn settle(mut self, actual: u64) {
        if let Some((ledger, reservation)) = self.pending.take() {
            tracing::debug!(
                reserved = reservation.tokens(),
                actual,
                "token budget settled to reported usage"
            );
            ledger.settle(reservation, actual);
        }
    }

    /// Charges the whole reservation as used.
    pub fn charge_reserved(mut self) {
        self.charge_pending();
    }

    /// Returns the reservation unused.
    pub fn release(mut self) {
        if let Some((ledger, reservation)) = self.pending.take() {
            tracing::debug!(
                reserved = reservation.tokens(),
                "token budget reservation released"
            );
            ledger.release(reservation);
        }
    }

    fn charge_pending(&mut self) {
        if let Some((ledger, reservation)) = self.pending.take() {
            let reserved = reservation.tokens();
            tracing::debug!(reserved, "token budget charged the whole reservation");
            ledger.settle(reservation, reserved);
        }
    }
}

impl<L: BudgetLedger> Drop for Settlement<L> {
    fn drop(&mut self) {
        self.charge_pending();
    }
}

impl<L: BudgetLedger> fmt::Debug for Settlement<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settlement")
            .field("reserved", &self.reserved())
            .field("pending", &self.pending.is_some())
            .finish()
    }
}
