//! The ledger contract: where budgets are kept and how calls reserve and settle tokens.

use agentix_core::TenantId;

use crate::error::ReserveError;

/// Tokens held for one admitted call until it settles.
///
/// A reservation is not `Clone` and every ledger operation takes it by value, so it settles
/// at most once. [`Settlement`](crate::Settlement) also settles it when dropped.
pub trait Reservation {
    /// Returns the tokens reserved.
    fn tokens(&self) -> u64;
}

/// Keeps token budgets and applies the admission rule atomically.
///
/// The layer calls [`reserve`](Self::reserve) once per call, synchronously, before the inner
/// service runs, and then exactly one of [`settle`](Self::settle) or
/// [`release`](Self::release) with the reservation. Clones of a ledger share its budgets.
///
/// # Admission rule
///
/// A call is rejected when `used + reserved >= limit`. Otherwise it reserves
/// `min(estimate, limit - used - reserved)`, or, under a strict rule, is rejected unless the
/// whole estimate fits. Because the reservation counts at once, concurrent calls cannot all
/// pass while the budget fills. A call then settles to its real usage, which may exceed what
/// it reserved. In that case `used` goes past the limit and every later call is rejected.
///
// NOTE: the operations are synchronous because the layer reserves inside `Service::call`.
// A ledger on a shared store (Redis) needs either a blocking client or an asynchronous
// variant of `reserve`, which the response future would poll before calling the inner
// service.
pub trait BudgetLedger {
    /// Tokens held for one admitted call.
    type Reservation: Reservation + Send + 'static;

    /// Reserves tokens for a call of `tenant` that can spend at most `estimate` tokens.
    ///
    /// A ledger that keeps one budget for all calls ignores `tenant`.
    ///
    /// # Errors
    ///
    /// [`ReserveError::Exceeded`] when the budget covering `tenant` is spent, or the strict
    /// rule rejects the estimate; [`ReserveError::Unavailable`] when the ledger cannot decide.
    fn reserve(&self, tenant: &TenantId, estimate: u64) -> Result<Self::Reservation, ReserveError>;

    /// Replaces a reservation with the `actual` tokens the call used.
    fn settle(&self, reservation: Self::Reservation, actual: u64);

    /// Returns a reservation's tokens unused, for a call the provider does not bill.
    fn release(&self, reservation: Self::Reservation);
}
