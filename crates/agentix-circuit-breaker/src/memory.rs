//! An in-memory breaker backend whose clones share one state.
//!
//! # Locking
//!
//! Breakers live in a `RwLock<HashMap<BreakerKey, Slot>>`. A command takes the read lock to
//! find its key's slot, and takes the write lock only to insert a key seen for the first time
//! (and, at capacity, to sweep idle keys out).
//!
//! Each slot has a `Mutex` around its state machine and an `AtomicU64` mirroring the state
//! of a closed circuit. The mirror is written under the mutex after every change and read
//! without it. The hot path is admitting a call at a closed circuit and recording a success
//! when no failures are counted: it costs one read lock and one atomic load, with no
//! allocation and no exclusive lock. Failures, open circuits and probes take the slot's
//! mutex, which is held for a few comparisons and never across an await.
//!
//! # Memory
//!
//! Keys are tenants times providers, and tenants come and go. Once the map contains `capacity`
//! keys, inserting a new one first evicts every idle breaker: closed without failures, or
//! open with no probe running and a cooldown that ended at least one cooldown ago. Breakers
//! that still hold information are kept, so the map can exceed `capacity` while many of
//! them are failing; it sweeps again after growing by half, which keeps the cost of sweeps
//! proportional to the insertions.
//!
//! An evicted key that comes back starts from an epoch above every epoch evicted before, so
//! the outcome of a call admitted before the eviction is ignored, as a stale record is.

use std::collections::HashMap;
use std::fmt;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};

use agentix_core::BoxError;
use tokio::time::Instant;
use tower_service::Service;

use crate::backend::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply, CallResult,
    CircuitSnapshot, CircuitState, Permit,
};
use crate::circuit::{Circuit, Phase};

/// A breaker backend in process memory, the default backend of a client.
///
/// Clones share state, so every service built from one layer, and every clone of those
/// services, sees the same breakers. Commands are applied synchronously inside `call`, whose
/// future is already complete, and through [`BlockingBackend`] without any runtime. Time
/// comes from `tokio::time::Instant`, so a paused tokio clock drives cooldowns in tests and
/// the system clock is used where no runtime runs.
///
/// # Examples
///
/// ```
/// use agentix_circuit_breaker::{
///     BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy, BreakerReply,
///     InMemoryCircuitBreakerBackend,
/// };
///
/// let backend = InMemoryCircuitBreakerBackend::new();
/// let reply = backend
///     .execute(BreakerCommand::Admit {
///         key: BreakerKey::new("acme".into(), "anthropic"),
///         policy: BreakerPolicy::default(),
///     })
///     .unwrap();
/// assert!(matches!(reply, BreakerReply::Admitted(_)));
/// ```
#[derive(Clone)]
pub struct InMemoryCircuitBreakerBackend {
    shared: Arc<Shared>,
}

struct Shared {
    slots: RwLock<Slots>,
    capacity: usize,
}

struct Slots {
    map: HashMap<BreakerKey, Slot>,
    /// Map size at which the next insertion sweeps idle keys out first.
    sweep_at: usize,
    /// An epoch above every epoch of an evicted key; new keys start here.
    epoch_floor: u64,
}

struct Slot {
    /// Lock-free mirror of a closed circuit; see [`encode_closed`].
    closed: AtomicU64,
    circuit: Mutex<Circuit>,
}

impl InMemoryCircuitBreakerBackend {
    /// Number of keys kept before idle ones are evicted, unless set otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// Creates an empty backend with [`Self::DEFAULT_CAPACITY`].
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// Creates an empty backend that evicts idle keys once it contains `capacity` keys.
    ///
    /// The map allocates as keys arrive, not up front. A capacity of 0 sweeps before every
    /// new key.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                slots: RwLock::new(Slots {
                    map: HashMap::new(),
                    sweep_at: capacity,
                    epoch_floor: 0,
                }),
                capacity,
            }),
        }
    }

    /// Returns the number of keys after which idle keys are evicted.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Returns the number of keys currently stored, idle ones included.
    pub fn len(&self) -> usize {
        self.read_slots().map.len()
    }

    /// Returns whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one command atomically and returns the reply.
    fn apply(&self, command: BreakerCommand) -> BreakerReply {
        let now = Instant::now();
        match command {
            BreakerCommand::Admit { key, policy } => self.admit(&key, &policy, now),
            BreakerCommand::Record {
                key,
                policy,
                permit,
                result,
            } => {
                self.record(&key, &policy, permit, result, now);
                BreakerReply::Recorded
            }
            BreakerCommand::Inspect { key, .. } => BreakerReply::State(self.inspect(&key, now)),
        }
    }

    fn admit(&self, key: &BreakerKey, policy: &BreakerPolicy, now: Instant) -> BreakerReply {
        if policy.failure_threshold == 0 {
            // A disabled breaker admits everything and stores nothing.
            let slots = self.read_slots();
            let epoch = slots
                .map
                .get(key)
                .map_or(slots.epoch_floor, |slot| slot.lock().epoch);
            return BreakerReply::Admitted(Permit {
                epoch,
                probe: false,
            });
        }

        self.with_slot_or_insert(key, now, |slot| {
            if let Some(epoch) = decode_closed(slot.closed.load(Ordering::Acquire)) {
                return BreakerReply::Admitted(Permit {
                    epoch,
                    probe: false,
                });
            }
            let mut circuit = slot.lock();
            let reply = circuit.admit(key, policy, now);
            slot.publish(&circuit);
            reply
        })
    }

    fn record(
        &self,
        key: &BreakerKey,
        policy: &BreakerPolicy,
        permit: Permit,
        result: CallResult,
        now: Instant,
    ) {
        // Releasing an ordinary call never changes anything.
        if result == CallResult::Released && !permit.probe {
            return;
        }
        let slots = self.read_slots();
        // A key that is not stored was never admitted, or was evicted after the permit was
        // issued. In both cases the permit's epoch is below the floor, so the record is stale.
        let Some(slot) = slots.map.get(key) else {
            return;
        };
        let mirror = slot.closed.load(Ordering::Acquire);
        if result == CallResult::Success
            && !permit.probe
            && mirror == encode_closed(permit.epoch, 0)
        {
            // Success at a closed circuit without failures: nothing to reset.
            return;
        }
        let mut circuit = slot.lock();
        circuit.record(key, policy, permit, result, now);
        slot.publish(&circuit);
    }

    fn inspect(&self, key: &BreakerKey, now: Instant) -> CircuitSnapshot {
        let slots = self.read_slots();
        match slots.map.get(key) {
            Some(slot) => slot.lock().snapshot(now),
            None => CircuitSnapshot {
                state: CircuitState::Closed,
                consecutive_failures: 0,
                retry_after: None,
                epoch: slots.epoch_floor,
            },
        }
    }

    /// Runs `apply` on the slot of `key`, inserting the key first if it is new.
    fn with_slot_or_insert<R>(
        &self,
        key: &BreakerKey,
        now: Instant,
        apply: impl FnOnce(&Slot) -> R,
    ) -> R {
        {
            let slots = self.read_slots();
            if let Some(slot) = slots.map.get(key) {
                return apply(slot);
            }
        }

        let mut slots = self
            .shared
            .slots
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another thread may have inserted the key between the two locks.
        if !slots.map.contains_key(key) && slots.map.len() >= slots.sweep_at {
            slots.evict_idle(now, self.shared.capacity);
        }
        let epoch_floor = slots.epoch_floor;
        let slot = slots
            .map
            .entry(key.clone())
            .or_insert_with(|| Slot::new(Circuit::new(epoch_floor)));
        apply(slot)
    }

    fn read_slots(&self) -> RwLockReadGuard<'_, Slots> {
        self.shared
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slots {
    /// Removes every idle breaker and sets the size of the next sweep.
    fn evict_idle(&mut self, now: Instant, capacity: usize) {
        let before = self.map.len();
        let mut epoch_floor = self.epoch_floor;
        self.map.retain(|_, slot| {
            let circuit = slot
                .circuit
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            if circuit.is_idle(now) {
                epoch_floor = epoch_floor.max(circuit.epoch.wrapping_add(1));
                false
            } else {
                true
            }
        });
        self.epoch_floor = epoch_floor;

        let kept = self.map.len();
        self.sweep_at = capacity.max(kept.saturating_add(kept / 2).saturating_add(1));
        tracing::debug!(
            evicted = before - kept,
            kept,
            capacity,
            "circuit breaker backend evicted idle keys"
        );
    }
}

impl Slot {
    fn new(circuit: Circuit) -> Self {
        let slot = Self {
            closed: AtomicU64::new(0),
            circuit: Mutex::new(circuit),
        };
        let circuit = slot.lock();
        slot.publish(&circuit);
        drop(circuit);
        slot
    }

    fn lock(&self) -> MutexGuard<'_, Circuit> {
        // Nothing panics while the lock is held, and every state it can hold is valid.
        self.circuit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Updates the lock-free mirror; called with the lock held, after every change.
    fn publish(&self, circuit: &Circuit) {
        let mirror = match circuit.phase {
            Phase::Closed => encode_closed(circuit.epoch, circuit.failures),
            Phase::Open { .. } => 0,
        };
        self.closed.store(mirror, Ordering::Release);
    }
}

/// Encodes a closed circuit as `(epoch + 1) << 1 | (failures == 0)`.
///
/// 0 means "take the lock": the circuit is open, or its epoch is too large to encode.
fn encode_closed(epoch: u64, failures: u32) -> u64 {
    match epoch.checked_add(1) {
        Some(shifted) if shifted < 1 << 62 => (shifted << 1) | u64::from(failures == 0),
        _ => 0,
    }
}

/// Returns the epoch of a closed circuit from its mirror, or `None` when it is not closed.
fn decode_closed(mirror: u64) -> Option<u64> {
    (mirror != 0).then(|| (mirror >> 1) - 1)
}

impl Default for InMemoryCircuitBreakerBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryCircuitBreakerBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryCircuitBreakerBackend")
            .field("keys", &self.len())
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

impl Service<BreakerCommand> for InMemoryCircuitBreakerBackend {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = Ready<Result<BreakerReply, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        ready(Ok(self.apply(command)))
    }
}

impl BlockingBackend for InMemoryCircuitBreakerBackend {
    fn execute(&self, command: BreakerCommand) -> Result<BreakerReply, BoxError> {
        Ok(self.apply(command))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_mirror_round_trips_epoch() {
        for epoch in [0, 1, 41, (1 << 61) - 2] {
            assert_eq!(decode_closed(encode_closed(epoch, 0)), Some(epoch));
            assert_eq!(decode_closed(encode_closed(epoch, 3)), Some(epoch));
            assert_ne!(encode_closed(epoch, 0), encode_closed(epoch, 3));
        }
    }

    #[test]
    fn closed_mirror_falls_back_to_lock_for_huge_epochs() {
        assert_eq!(encode_closed(u64::MAX, 0), 0);
        assert_eq!(encode_closed(1 << 62, 0), 0);
        assert_eq!(decode_closed(0), None);
    }
}
