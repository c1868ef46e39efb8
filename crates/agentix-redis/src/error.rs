//! Errors of the Redis backends.

use std::time::Duration;

/// An error of a Redis breaker backend.
///
/// Command errors reach the caller only with [`crate::RedisFailurePolicy::FailClosed`];
/// with the default local fallback they are logged and the command is applied locally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBackendError {
    /// An option is invalid.
    #[error("invalid Redis backend option `{field}`: {reason}")]
    InvalidOption {
        /// The option's field name.
        field: &'static str,
        /// The reason the value is invalid.
        reason: String,
    },
    /// The Redis URL could not be parsed.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(#[source] redis::RedisError),
    /// A command did not complete within the command timeout.
    #[error("Redis command for breaker {key} timed out after {timeout:?}")]
    TimedOut {
        /// The breaker key, as `tenant:provider`.
        key: String,
        /// The command timeout.
        timeout: Duration,
    },
    /// Redis returned an error or the connection failed.
    #[error("Redis command for breaker {key} failed: {source}")]
    Redis {
        /// The breaker key, as `tenant:provider`.
        key: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// No pooled connection could be had within the command timeout.
    #[error("no Redis connection for breaker {key}: {source}")]
    Pool {
        /// The breaker key, as `tenant:provider`.
        key: String,
        /// The pool's error.
        #[source]
        source: r2d2::Error,
    },
    /// A script returned a reply of an unexpected shape.
    #[error("unexpected reply from the breaker script for {key}: {reply}")]
    InvalidReply {
        /// The breaker key, as `tenant:provider`.
        key: String,
        /// The reply as received.
        reply: String,
    },
    /// Redis failed recently and is not tried again until the retry backoff ends.
    #[error("Redis is unavailable for breaker {key}; next attempt in {retry_in:?}")]
    Unavailable {
        /// The breaker key, as `tenant:provider`.
        key: String,
        /// Time until a command tries Redis again.
        retry_in: Duration,
    },
    /// The blocking command's worker thread panicked or was cancelled.
    #[error("blocking Redis command for breaker {key} did not complete: {source}")]
    Join {
        /// The breaker key, as `tenant:provider`.
        key: String,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}
