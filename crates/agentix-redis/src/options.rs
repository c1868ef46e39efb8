//! Options shared by the blocking and the async Redis backend.

use std::time::Duration;

use crate::error::RedisBackendError;
use crate::key::DEFAULT_KEY_PREFIX;

/// The behavior of a backend when Redis does not reply in time or returns an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisFailurePolicy {
    /// Applies commands to a local in-memory breaker with the same policy until Redis
    /// responds again, so a failing provider is still cut off during the outage. Breakers of
    /// different processes do not share state meanwhile.
    #[default]
    LocalFallback,
    /// Returns an error for every command while Redis is unavailable; the circuit breaker
    /// layer then applies its own backend error policy.
    FailClosed,
}

/// Options of a Redis breaker backend.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use agentix_redis::{RedisBackendOptions, RedisFailurePolicy};
///
/// let options = RedisBackendOptions {
///     key_prefix: "myapp:breaker:".to_owned(),
///     command_timeout: Duration::from_millis(100),
///     on_redis_error: RedisFailurePolicy::FailClosed,
///     ..RedisBackendOptions::default()
/// };
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisBackendOptions {
    /// Prefix of every breaker key (default `"agentix:cb:"`). Must not contain `{` or `}`,
    /// which would move the Redis Cluster hash tag.
    pub key_prefix: String,
    /// Maximum time one command may take, connecting included (default 250 ms). A command
    /// that takes longer fails as timed out and follows `on_redis_error`.
    pub command_timeout: Duration,
    /// TTL of a breaker key, set again on every write (default 1 hour). The TTL is never
    /// shorter than the policy's cooldown plus probe lease, so state that still matters is
    /// kept. An idle breaker's key expires, which reads as a closed breaker.
    pub idle_ttl: Duration,
    /// The behavior while Redis is unavailable (default [`RedisFailurePolicy::LocalFallback`]).
    pub on_redis_error: RedisFailurePolicy,
    /// After a failed Redis command, how long commands skip Redis before one of them tries it
    /// again (default 1 s). Zero tries Redis on every command.
    pub retry_backoff: Duration,
    /// Largest number of pooled connections of the blocking backend (default 16); the async
    /// backend multiplexes one connection and ignores it.
    pub max_connections: u32,
}

impl RedisBackendOptions {
    /// Default `command_timeout`: far above a loopback or same-zone round trip, small next
    /// to an LLM call.
    pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
    /// Default `idle_ttl`.
    pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(3600);
    /// Default `retry_backoff`.
    pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(1);
    /// Default `max_connections`.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

    /// Checks every option and names the first invalid one.
    ///
    /// # Errors
    ///
    /// Returns [`RedisBackendError::InvalidOption`] when `key_prefix` contains a brace,
    /// `command_timeout` or `idle_ttl` is zero, or `max_connections` is zero.
    pub fn validate(&self) -> Result<(), RedisBackendError> {
        if self.key_prefix.contains(['{', '}']) {
            return Err(invalid(
                "key_prefix",
                format!("{:?} contains a brace", self.key_prefix),
            ));
        }
        if self.command_timeout.is_zero() {
            return Err(invalid("command_timeout", "must be greater than zero"));
        }
        if self.idle_ttl < Duration::from_millis(1) {
            return Err(invalid("idle_ttl", "must be at least 1 ms"));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be greater than zero"));
        }
        Ok(())
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> RedisBackendError {
    RedisBackendError::InvalidOption {
        field,
        reason: reason.into(),
    }
}

impl Default for RedisBackendOptions {
    fn default() -> Self {
        Self {
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            command_timeout: Self::DEFAULT_COMMAND_TIMEOUT,
            idle_ttl: Self::DEFAULT_IDLE_TTL,
            on_redis_error: RedisFailurePolicy::default(),
            retry_backoff: Self::DEFAULT_RETRY_BACKOFF,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(options: RedisBackendOptions) -> &'static str {
        match options.validate() {
            Err(RedisBackendError::InvalidOption { field, .. }) => field,
            other => panic!("expected an invalid option, got {other:?}"),
        }
    }

    #[test]
    fn options_default_is_valid() {
        assert!(RedisBackendOptions::default().validate().is_ok());
    }

    #[test]
    fn options_reject_braces_in_prefix() {
        for prefix in ["a{", "}b", "{x}"] {
            let options = RedisBackendOptions {
                key_prefix: prefix.to_owned(),
                ..Default::default()
            };
            assert_eq!(field_of(options), "key_prefix");
        }
    }

    #[test]
    fn options_reject_zero_timeout() {
        let options = RedisBackendOptions {
            command_timeout: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(field_of(options), "command_timeout");
    }

    #[test]
    fn options_reject_sub_millisecond_ttl() {
        let options = RedisBackendOptions {
            idle_ttl: Duration::from_micros(999),
            ..Default::default()
        };
        assert_eq!(field_of(options), "idle_ttl");
    }

    #[test]
    fn options_reject_empty_pool() {
        let options = RedisBackendOptions {
            max_connections: 0,
            ..Default::default()
        };
        assert_eq!(field_of(options), "max_connections");
    }
}
