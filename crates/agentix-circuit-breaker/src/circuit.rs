//! The state machine of one breaker, as the in-memory backend stores it.
//!
//! Every function here runs with the key's lock held, so each command applies atomically.
//! The transitions follow the contract in [`crate::backend`].

use std::time::Duration;

use tokio::time::Instant;

use crate::backend::{
    BreakerKey, BreakerPolicy, BreakerReply, CallResult, CircuitSnapshot, CircuitState, Permit,
};

/// A span used in place of a deadline that `Instant` cannot represent.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The stored state of one breaker.
#[derive(Debug)]
pub(crate) struct Circuit {
    pub(crate) epoch: u64,
    pub(crate) failures: u32,
    pub(crate) phase: Phase,
}

/// Closed, or open with its deadlines. Half-open is an open phase whose cooldown has ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    Closed,
    Open {
        opened_at: Instant,
        /// End of the cooldown: the first admit from then on may probe.
        until: Instant,
        /// End of the running probe's lease, if a probe holds the permit.
        probe_until: Option<Instant>,
    },
}

impl Circuit {
    /// Creates a closed circuit whose epochs start at `epoch`.
    pub(crate) fn new(epoch: u64) -> Self {
        Self {
            epoch,
            failures: 0,
            phase: Phase::Closed,
        }
    }

    /// Applies an admit: closed admits, open rejects, half-open grants the single probe.
    pub(crate) fn admit(
        &mut self,
        key: &BreakerKey,
        policy: &BreakerPolicy,
        now: Instant,
    ) -> BreakerReply {
        let Phase::Open {
            until, probe_until, ..
        } = &mut self.phase
        else {
            return BreakerReply::Admitted(Permit {
                epoch: self.epoch,
                probe: false,
            });
        };

        if now < *until {
            return BreakerReply::Rejected {
                retry_after: until.saturating_duration_since(now),
            };
        }
        if let Some(lease_end) = *probe_until {
            if now < lease_end {
                // NOTE: the running probe may finish sooner; the lease end is the latest time
                // at which another caller is sure to get the permit.
                return BreakerReply::Rejected {
                    retry_after: lease_end.saturating_duration_since(now),
                };
            }
            tracing::warn!(
                key = %key,
                "circuit breaker probe lease expired without an outcome; granting a new probe"
            );
        }

        *probe_until = Some(deadline(now, policy.probe_lease));
        self.epoch = self.epoch.wrapping_add(1);
        tracing::info!(
            key = %key,
            probe_lease_ms = duration_ms(policy.probe_lease),
            "circuit breaker half-open: cooldown ended, one probe admitted"
        );
        BreakerReply::Admitted(Permit {
            epoch: self.epoch,
            probe: true,
        })
    }

    /// Applies the outcome of a call admitted with `permit`; stale epochs change nothing.
    pub(crate) fn record(
        &mut self,
        key: &BreakerKey,
        policy: &BreakerPolicy,
        permit: Permit,
        result: CallResult,
        now: Instant,
    ) {
        if permit.epoch != self.epoch {
            return;
        }
        match self.phase {
            Phase::Closed => match result {
                CallResult::Success => self.failures = 0,
                CallResult::Failure => {
                    self.failures = self.failures.saturating_add(1);
                    if policy.failure_threshold > 0 && self.failures >= policy.failure_threshold {
                        self.open(now, policy);
                        tracing::warn!(
                            key = %key,
                            failures = self.failures,
                            cooldown_ms = duration_ms(policy.cooldown),
                            "circuit breaker opened after consecutive failures"
                        );
                    }
                }
                CallResult::Released => {}
            },
            // Only the probe is admitted at an open circuit's epoch.
            Phase::Open { .. } if !permit.probe => {}
            Phase::Open { .. } => match result {
                CallResult::Success => {
                    self.failures = 0;
                    self.phase = Phase::Closed;
                    self.epoch = self.epoch.wrapping_add(1);
                    tracing::info!(key = %key, "circuit breaker closed: the probe succeeded");
                }
                CallResult::Failure => {
                    self.open(now, policy);
                    tracing::warn!(
                        key = %key,
                        failures = self.failures,
                        cooldown_ms = duration_ms(policy.cooldown),
                        "circuit breaker re-opened: the probe failed"
                    );
                }
                CallResult::Released => {
                    if let Phase::Open { probe_until, .. } = &mut self.phase {
                        *probe_until = None;
                    }
                    tracing::debug!(key = %key, "circuit breaker probe released without an outcome");
                }
            },
        }
    }

    /// Returns the state an admit at `now` would see, without changing it.
    pub(crate) fn snapshot(&self, now: Instant) -> CircuitSnapshot {
        let (state, retry_after) = match self.phase {
            Phase::Closed => (CircuitState::Closed, None),
            Phase::Open { until, .. } if now < until => (
                CircuitState::Open,
                Some(until.saturating_duration_since(now)),
            ),
            Phase::Open {
                probe_until: Some(lease_end),
                ..
            } if now < lease_end => (
                CircuitState::HalfOpen,
                Some(lease_end.saturating_duration_since(now)),
            ),
            Phase::Open { .. } => (CircuitState::HalfOpen, None),
        };
        CircuitSnapshot {
            state,
            consecutive_failures: self.failures,
            retry_after,
            epoch: self.epoch,
        }
    }

    /// Returns whether forgetting this circuit loses nothing worth keeping.
    ///
    /// That holds for a closed circuit without failures, and for an open one without a live
    /// probe whose cooldown ended at least one cooldown ago. Forgetting the latter closes it,
    /// which only skips the single-probe step after a long quiet period.
    pub(crate) fn is_idle(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Closed => self.failures == 0,
            Phase::Open {
                opened_at,
                until,
                probe_until,
            } => {
                let probe_running = probe_until.is_some_and(|lease_end| now < lease_end);
                let cooldown = until.saturating_duration_since(opened_at);
                let long_expired = until
                    .checked_add(cooldown)
                    .is_some_and(|idle_from| now >= idle_from);
                !probe_running && long_expired
            }
        }
    }

    /// Opens the circuit for a full cooldown from `now`, under a new epoch.
    fn open(&mut self, now: Instant, policy: &BreakerPolicy) {
        self.phase = Phase::Open {
            opened_at: now,
            until: deadline(now, policy.cooldown),
            probe_until: None,
        };
        self.epoch = self.epoch.wrapping_add(1);
    }
}

/// Returns `now + span`, capped far in the future instead of overflowing.
fn deadline(now: Instant, span: Duration) -> Instant {
    now.checked_add(span)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// Converts a duration to whole milliseconds for log fields, saturating.
pub(crate) fn duration_ms(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}
