//! Redis backends for the Agentix circuit breaker, blocking and async, sharing one state.
//!
//! [`AsyncRedisCircuitBreakerBackend`] uses a multiplexed, reconnecting connection
//! (`redis::aio::ConnectionManager`); [`RedisCircuitBreakerBackend`] uses a pool of blocking
//! connections and also works without an async runtime through
//! [`agentix_circuit_breaker::BlockingBackend`]. Both are `tower::Service`s of
//! [`agentix_circuit_breaker::BreakerCommand`]s, so they plug into the circuit breaker layer
//! and can be wrapped by ordinary tower middleware.
//!
//! # One state, one truth
//!
//! Each command (admit, record, inspect) is one Lua script that reads and updates the
//! breaker's hash atomically on the server, with the time taken from the server's `TIME`.
//! Workers of either backend, in any number of processes, therefore see one breaker per key:
//! failures add up across the fleet, exactly one probe is admitted after the cooldown, and
//! the record of a call admitted under an older epoch is ignored.
//!
//! # Keys
//!
//! One hash per breaker at `{prefix}{{tenant byte length}:{tenant}|{provider}}`, for example
//! `agentix:cb:{12:customer-abc|anthropic}`. The braces are a Redis Cluster hash tag, and the
//! length field makes the encoding injective. Every write sets the key's TTL to
//! `idle_ttl`, or to the policy's cooldown plus probe lease when that is longer, so keys of
//! idle tenants expire; an expired key reads as a closed breaker.
//!
//! # Requirements
//!
//! Redis 4.0 or later (the scripts use multi-field `HSET`); tested with Redis 7.0.
//!
//! # Failures of Redis
//!
//! A command waits at most `command_timeout`. When Redis is down, slow or returns an
//! error, the default [`RedisFailurePolicy::LocalFallback`] applies commands to a local
//! in-memory breaker with the same policy until Redis responds again, so a failing provider
//! is still cut off during the outage. [`RedisFailurePolicy::FailClosed`] returns an error
//! instead. A key holding data the scripts cannot read is logged and reset to closed.
//!
//! # Epochs
//!
//! Epochs grow on every transition as the contract requires, but a Redis epoch jumps to the
//! server time in microseconds when that is larger than the next integer, so a key that
//! expired and was created again never reuses an epoch. Permits granted by the local
//! fallback have the top bit set, and their records always go to the local breaker.

mod async_backend;
mod blocking_backend;
mod core;
mod error;
mod key;
mod options;
mod scripts;

pub use async_backend::{AsyncRedisCircuitBreakerBackend, AsyncResponseFuture};
pub use blocking_backend::{BlockingResponseFuture, RedisCircuitBreakerBackend};
pub use error::RedisBackendError;
pub use key::{decode_key, encode_key, DEFAULT_KEY_PREFIX};
pub use options::{RedisBackendOptions, RedisFailurePolicy};
