//! The part of a command shared by both backends: routing to Redis or to the local
//! fallback, decoding the script's reply, logging, and outage tracking.
//!
//! # Outages
//!
//! After a Redis command fails, commands skip Redis for `retry_backoff`; then one command
//! tries Redis again while the others keep skipping it. The first failure logs the start of
//! the outage at `warn`, and the first success after it logs the end at `info`. Failures in
//! between are logged at `debug` only.
//!
//! # Permits from the local fallback
//!
//! A permit granted by the local in-memory breaker carries [`LOCAL_EPOCH_BIT`] in its epoch,
//! and its record goes back to the local breaker even after Redis responds again. A record of
//! a Redis permit that arrives while Redis is skipped is dropped: a probe among them keeps
//! its Redis lease until the lease ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agentix_circuit_breaker::{
    BlockingBackend, BreakerCommand, BreakerKey, BreakerReply, CallResult,
    InMemoryCircuitBreakerBackend,
};
use agentix_core::BoxError;
use redis::ScriptInvocation;
use tokio::time::Instant;

use crate::error::RedisBackendError;
use crate::key::encode_key;
use crate::options::{RedisBackendOptions, RedisFailurePolicy};
use crate::scripts::{self, ScriptReply, Transition};

/// Epoch bit marking a permit granted by the local fallback. Redis epochs stay below 2^53.
pub(crate) const LOCAL_EPOCH_BIT: u64 = 1 << 63;

/// The route of a command, decided before any Redis I/O.
pub(crate) enum Step {
    /// Run this script invocation on Redis, then pass its result to [`Core::finish`].
    Redis(ScriptInvocation<'static>),
    /// The reply is already known.
    Done(Result<BreakerReply, BoxError>),
}

/// Options, outage state and local fallback, shared by the clones of one backend.
pub(crate) struct Core {
    pub(crate) options: RedisBackendOptions,
    local: InMemoryCircuitBreakerBackend,
    /// Start of the outage clock.
    base: Instant,
    /// 0 while Redis is healthy. During an outage, 1 plus the millisecond offset from `base`
    /// at which a command may try Redis again.
    retry_at: AtomicU64,
}

impl Core {
    pub(crate) fn new(options: RedisBackendOptions) -> Self {
        Self {
            options,
            local: InMemoryCircuitBreakerBackend::new(),
            base: Instant::now(),
            retry_at: AtomicU64::new(0),
        }
    }

    /// Routes `command`: to Redis, to the local fallback, or to an error.
    pub(crate) fn start(&self, command: &BreakerCommand) -> Step {
        if let BreakerCommand::Record { permit, .. } = command {
            if permit.epoch & LOCAL_EPOCH_BIT != 0 {
                return Step::Done(self.run_local(command.clone()));
            }
        }

        match self.claim_redis() {
            Ok(()) => {
                let key = encode_key(&self.options.key_prefix, key_of(command));
                Step::Redis(scripts::invocation(command, &key, self.options.idle_ttl))
            }
            Err(retry_in) => Step::Done(self.skip_redis(command, retry_in)),
        }
    }

    /// Turns the result of a Redis script into the reply, falling back when it failed.
    pub(crate) fn finish(
        &self,
        command: BreakerCommand,
        result: Result<Vec<i64>, RedisBackendError>,
    ) -> Result<BreakerReply, BoxError> {
        let key = key_of(&command);
        let error = match result {
            Ok(values) => match scripts::decode(&values) {
                Ok(decoded) => {
                    self.redis_responded();
                    log_reply(key, &decoded);
                    return Ok(decoded.reply);
                }
                Err(reply) => {
                    // The script or the server does not match this client. Treating it as an
                    // outage logs it once and retries after the backoff.
                    let error = RedisBackendError::InvalidReply {
                        key: key.to_string(),
                        reply,
                    };
                    self.redis_failed(key, &error);
                    error
                }
            },
            Err(error) => {
                self.redis_failed(key, &error);
                error
            }
        };

        match self.options.on_redis_error {
            RedisFailurePolicy::FailClosed => Err(error.into()),
            RedisFailurePolicy::LocalFallback => self.run_local(command),
        }
    }

    /// Builds the record that releases a probe granted by an admit whose caller stopped
    /// waiting, or `None` when `values` grant no Redis probe.
    ///
    /// The record goes to Redis even during an outage: the probe lives there, and dropping
    /// the record would reject every worker until the probe lease ends.
    pub(crate) fn abandoned_probe_release(
        &self,
        admit: &BreakerCommand,
        values: &[i64],
    ) -> Option<ScriptInvocation<'static>> {
        let BreakerCommand::Admit { key, policy } = admit else {
            return None;
        };
        let permit = match scripts::decode(values) {
            Ok(ScriptReply {
                reply: BreakerReply::Admitted(permit),
                ..
            }) if permit.probe => permit,
            _ => return None,
        };
        tracing::info!(
            key = %key,
            "Redis granted a probe after its admit timed out; releasing it"
        );
        let release = BreakerCommand::Record {
            key: key.clone(),
            policy: *policy,
            permit,
            result: CallResult::Released,
        };
        let encoded = encode_key(&self.options.key_prefix, key);
        Some(scripts::invocation(
            &release,
            &encoded,
            self.options.idle_ttl,
        ))
    }

    /// Marks the start of an outage after a failure that happened outside a command, such
    /// as the first connection attempt.
    pub(crate) fn redis_failed_at_start(&self, error: &RedisBackendError) {
        self.enter_outage();
        tracing::warn!(
            error = %error,
            policy = ?self.options.on_redis_error,
            "Redis breaker backend cannot reach Redis at start; using the failure policy until it responds"
        );
    }

    fn skip_redis(
        &self,
        command: &BreakerCommand,
        retry_in: Duration,
    ) -> Result<BreakerReply, BoxError> {
        let key = key_of(command);
        match self.options.on_redis_error {
            RedisFailurePolicy::FailClosed => Err(RedisBackendError::Unavailable {
                key: key.to_string(),
                retry_in,
            }
            .into()),
            RedisFailurePolicy::LocalFallback => {
                if let BreakerCommand::Record { .. } = command {
                    tracing::debug!(key = %key, "Redis unavailable; dropped the record of a Redis permit");
                    return Ok(BreakerReply::Recorded);
                }
                self.run_local(command.clone())
            }
        }
    }

    /// Applies `command` to the local fallback, translating epochs to and from local ones.
    fn run_local(&self, mut command: BreakerCommand) -> Result<BreakerReply, BoxError> {
        if let BreakerCommand::Record { permit, .. } = &mut command {
            permit.epoch &= !LOCAL_EPOCH_BIT;
        }
        let reply = self.local.execute(command)?;
        Ok(match reply {
            BreakerReply::Admitted(mut permit) => {
                permit.epoch |= LOCAL_EPOCH_BIT;
                BreakerReply::Admitted(permit)
            }
            BreakerReply::State(mut snapshot) => {
                snapshot.epoch |= LOCAL_EPOCH_BIT;
                BreakerReply::State(snapshot)
            }
            other => other,
        })
    }

    /// Returns `Ok` when this command may use Redis, or the time until the next attempt.
    fn claim_redis(&self) -> Result<(), Duration> {
        let mut retry_at = self.retry_at.load(Ordering::Acquire);
        loop {
            if retry_at == 0 {
                return Ok(());
            }
            let now = self.now_mark();
            if now < retry_at {
                return Err(Duration::from_millis(retry_at - now));
            }
            // Claim the attempt, so that one command tries Redis and the others stay local.
            let next = now.saturating_add(duration_ms(self.options.retry_backoff));
            match self.retry_at.compare_exchange(
                retry_at,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => retry_at = current,
            }
        }
    }

    fn redis_responded(&self) {
        if self.retry_at.load(Ordering::Relaxed) != 0
            && self.retry_at.swap(0, Ordering::AcqRel) != 0
        {
            tracing::info!(
                "Redis breaker backend reaches Redis again; breakers use the shared state"
            );
        }
    }

    fn redis_failed(&self, key: &BreakerKey, error: &RedisBackendError) {
        if self.enter_outage() {
            tracing::warn!(
                key = %key,
                error = %error,
                policy = ?self.options.on_redis_error,
                retry_backoff_ms = duration_ms(self.options.retry_backoff),
                "Redis breaker backend lost Redis; using the failure policy until it responds"
            );
        } else {
            tracing::debug!(key = %key, error = %error, "Redis breaker command failed during an outage");
        }
    }

    /// Starts or extends the outage; returns whether it has just started.
    fn enter_outage(&self) -> bool {
        let next = self
            .now_mark()
            .saturating_add(duration_ms(self.options.retry_backoff));
        self.retry_at.swap(next, Ordering::AcqRel) == 0
    }

    /// Milliseconds since `base`, plus one so that the value is never 0.
    fn now_mark(&self) -> u64 {
        duration_ms(self.base.elapsed()).saturating_add(1)
    }
}

/// Returns the breaker key of any command.
pub(crate) fn key_of(command: &BreakerCommand) -> &BreakerKey {
    match command {
        BreakerCommand::Admit { key, .. }
        | BreakerCommand::Record { key, .. }
        | BreakerCommand::Inspect { key, .. } => key,
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn log_reply(key: &BreakerKey, decoded: &ScriptReply) {
    if decoded.reset_corrupt_key {
        tracing::warn!(
            key = %key,
            "Redis breaker key held data the scripts cannot read; reset it to closed"
        );
    }
    match decoded.transition {
        Some(Transition::Opened) => {
            tracing::warn!(key = %key, "circuit breaker opened after consecutive failures");
        }
        Some(Transition::Reopened) => {
            tracing::warn!(key = %key, "circuit breaker re-opened: the probe failed");
        }
        Some(Transition::Closed) => {
            tracing::info!(key = %key, "circuit breaker closed: the probe succeeded");
        }
        Some(Transition::ProbeReleased) => {
            tracing::debug!(key = %key, "circuit breaker probe released without an outcome");
        }
        Some(Transition::Ignored | Transition::None) | None => {}
    }
    if let BreakerReply::Admitted(permit) = &decoded.reply {
        if permit.probe {
            tracing::info!(key = %key, "circuit breaker half-open: one probe admitted");
        }
    }
}
