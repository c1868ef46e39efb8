//! The backend contract: breaker state behind a `tower::Service` of commands.
//!
//! The layer never touches state itself. It sends a [`BreakerCommand`] carrying the key and
//! the [`BreakerPolicy`], and the backend applies that command atomically, in one critical
//! section for the in-memory backend or one server-side script for Redis. Because the policy
//! travels with each command, a backend holds no configuration of its own and several layers
//! with different policies can share one backend.
//!
//! # State machine
//!
//! - **Closed**: every call is admitted. A failure adds one to the consecutive-failure
//!   count; the failure that brings it to `failure_threshold` opens the circuit. A success
//!   resets the count.
//! - **Open**: calls are rejected with the time left until `cooldown` ends. Rejected calls
//!   never extend the cooldown.
//! - **Half-open**: the first admit after the cooldown gets the single probe permit, with a
//!   lease of `probe_lease`. Others are rejected while the lease runs. The probe's success
//!   closes the circuit, its failure re-opens it for another cooldown, and a release (its
//!   future was dropped, or its outcome says nothing about the provider) frees the permit for
//!   the next caller. A lease that runs out frees the permit too.
//!
//! Every transition that opens, closes or re-grants a probe increments the key's epoch. A
//! record whose permit carries another epoch is ignored, so a call admitted before the
//! circuit opened cannot close it afterwards.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agentix_core::{BoxError, TenantId};
use tower_service::Service;

/// Identity of one breaker: a tenant calling a provider, displayed as `"{tenant}:{provider}"`.
///
/// Equality compares the two parts, not the displayed string, so `("a:b", "c")` and
/// `("a", "b:c")` are different breakers. Cloning increments two reference counts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BreakerKey {
    tenant: TenantId,
    provider: Arc<str>,
}

impl BreakerKey {
    /// Creates the key of `tenant` calling `provider`.
    pub fn new(tenant: TenantId, provider: impl Into<Arc<str>>) -> Self {
        Self {
            tenant,
            provider: provider.into(),
        }
    }

    /// Returns the tenant part.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Returns the provider part.
    pub fn provider(&self) -> &str {
        &self.provider
    }
}

impl fmt::Display for BreakerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tenant, self.provider)
    }
}

impl fmt::Debug for BreakerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BreakerKey({self})")
    }
}

/// The thresholds a backend applies, sent with every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the circuit; 0 disables the breaker.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe is let through.
    pub cooldown: Duration,
    /// How long a probe keeps its permit before another caller may probe.
    pub probe_lease: Duration,
}

impl BreakerPolicy {
    /// Default probe lease: long enough for a slow LLM completion, short enough that a
    /// lost probe cannot hold the circuit half-open for long.
    pub const DEFAULT_PROBE_LEASE: Duration = Duration::from_secs(120);
}

impl Default for BreakerPolicy {
    /// Opens after 5 consecutive failures, probes after 60 s.
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(60),
            probe_lease: Self::DEFAULT_PROBE_LEASE,
        }
    }
}

/// A command sent to a breaker backend.
#[derive(Debug, Clone)]
pub enum BreakerCommand {
    /// Asks whether a call may go to the provider.
    Admit {
        /// The breaker.
        key: BreakerKey,
        /// The policy to apply.
        policy: BreakerPolicy,
    },
    /// Records how an admitted call ended.
    Record {
        /// The breaker.
        key: BreakerKey,
        /// The policy to apply.
        policy: BreakerPolicy,
        /// The permit the call was admitted with.
        permit: Permit,
        /// How the call ended.
        result: CallResult,
    },
    /// Reads the state of a breaker without changing it.
    Inspect {
        /// The breaker.
        key: BreakerKey,
        /// The policy to apply, for cooldown arithmetic.
        policy: BreakerPolicy,
    },
}

/// Proof that a call was admitted, returned by [`BreakerCommand::Admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    /// The key's epoch at admission.
    pub epoch: u64,
    /// Whether this call is the half-open probe.
    pub probe: bool,
}

/// How an admitted call ended, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// The provider answered in a way that shows it is healthy.
    Success,
    /// The provider failed in a way the breaker counts.
    Failure,
    /// The call says nothing about the provider (its future was dropped, or a local
    /// rejection ended it): a probe's permit is freed, and nothing else changes.
    Released,
}

/// The state of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are rejected until the cooldown ends.
    Open,
    /// The cooldown has ended; one probe decides.
    HalfOpen,
}

/// A read-only view of one breaker, returned by [`BreakerCommand::Inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSnapshot {
    /// Current state. An open circuit whose cooldown has ended reads as half-open.
    pub state: CircuitState,
    /// Consecutive failures counted while closed.
    pub consecutive_failures: u32,
    /// Time left until a probe is allowed, while open.
    pub retry_after: Option<Duration>,
    /// The key's epoch.
    pub epoch: u64,
}

/// A backend's reply to a [`BreakerCommand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerReply {
    /// The call may proceed with this permit.
    Admitted(Permit),
    /// The circuit is open, or a probe is in flight.
    Rejected {
        /// Time until a probe may be allowed.
        retry_after: Duration,
    },
    /// The outcome was applied (or ignored because its epoch had passed).
    Recorded,
    /// The breaker's state, for [`BreakerCommand::Inspect`].
    State(CircuitSnapshot),
}

/// A breaker state store usable by [`crate::CircuitBreakerLayer`].
///
/// Implemented for every clonable `tower::Service` of [`BreakerCommand`]s, so middleware
/// such as `tower::timeout::Timeout` can wrap a backend.
///
/// # Contract
///
/// - Each command is applied atomically with respect to every other command on the key,
///   across all clones and, for shared stores, all processes.
/// - Time is read by the backend, never taken from the command.
/// - `call` applies or starts the command without waiting for `poll_ready`'s readiness to be
///   driven afterwards: the layer releases a dropped probe's permit from `Drop`, where it can
///   only call `call` and spawn the returned future.
pub trait BreakerBackend:
    Service<BreakerCommand, Response = BreakerReply, Error = BoxError, Future = Self::CommandFuture>
    + Clone
    + Send
    + 'static
{
    /// The future of one command.
    type CommandFuture: std::future::Future<Output = Result<BreakerReply, BoxError>>
        + Send
        + 'static;
}

impl<S> BreakerBackend for S
where
    S: Service<BreakerCommand, Response = BreakerReply, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type CommandFuture = S::Future;
}

/// A breaker state store that applies commands synchronously, for code without an async
/// runtime; see [`crate::BlockingCircuitBreaker`].
///
/// Both the in-memory backend and the blocking Redis backend implement it, next to their
/// `tower::Service` implementation, and apply the same state machine either way.
pub trait BlockingBackend: Send + Sync {
    /// Applies one command and returns the reply, blocking the calling thread meanwhile.
    ///
    /// # Errors
    ///
    /// Fails when the store cannot be reached or holds data it cannot read.
    fn execute(&self, command: BreakerCommand) -> Result<BreakerReply, BoxError>;
}
