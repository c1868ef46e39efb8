//! The breaker backend on the async Redis client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix_circuit_breaker::{BreakerCommand, BreakerReply};
use agentix_core::BoxError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tower_service::Service;

use crate::core::{key_of, Core, Step};
use crate::error::RedisBackendError;
use crate::options::RedisBackendOptions;

/// A breaker backend storing state in Redis through a multiplexed, reconnecting connection.
///
/// Every command is one Lua script applied atomically on the server, so every process using
/// the same Redis and key prefix (with this backend or [`crate::RedisCircuitBreakerBackend`])
/// shares one breaker per key. Clones share the connection and the outage state.
///
/// Each command is bounded by `command_timeout`; failures follow `on_redis_error` (see
/// [`RedisBackendOptions`]). Creating the backend never writes to Redis.
///
/// # Examples
///
/// ```no_run
/// # async fn example() -> Result<(), agentix_redis::RedisBackendError> {
/// use agentix_redis::AsyncRedisCircuitBreakerBackend;
///
/// let backend = AsyncRedisCircuitBreakerBackend::new("redis://127.0.0.1:6379/0").await?;
/// # drop(backend);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncRedisCircuitBreakerBackend {
    connection: ConnectionManager,
    core: Arc<Core>,
}

impl AsyncRedisCircuitBreakerBackend {
    /// Creates a backend for the Redis server at `url` with default options.
    ///
    /// # Errors
    ///
    /// Fails only when `url` is invalid. An unreachable server is logged and handled by the
    /// failure policy on each command until it responds.
    pub async fn new(url: &str) -> Result<Self, RedisBackendError> {
        Self::with_options(url, RedisBackendOptions::default()).await
    }

    /// Creates a backend for the Redis server at `url` with `options`.
    ///
    /// The connection is attempted once, bounded by `command_timeout`, so that an
    /// unreachable server is reported at start.
    ///
    /// # Errors
    ///
    /// Fails when `url` or an option is invalid.
    pub async fn with_options(
        url: &str,
        options: RedisBackendOptions,
    ) -> Result<Self, RedisBackendError> {
        options.validate()?;
        let client = redis::Client::open(url).map_err(RedisBackendError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.command_timeout))
            .set_response_timeout(Some(options.command_timeout))
            // The backoff in front of Redis paces reconnects, so the manager retries once.
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(RedisBackendError::InvalidUrl)?;
        let backend = Self::from_connection_manager(connection, options)?;

        let ping = redis::cmd("PING");
        let mut connection = backend.connection.clone();
        let timeout = backend.core.options.command_timeout;
        let reached = tokio::time::timeout(timeout, ping.query_async::<()>(&mut connection)).await;
        let error = match reached {
            Ok(Ok(())) => None,
            Ok(Err(source)) => Some(RedisBackendError::Redis {
                key: String::from("(connection check)"),
                source,
            }),
            Err(_) => Some(RedisBackendError::TimedOut {
                key: String::from("(connection check)"),
                timeout,
            }),
        };
        if let Some(error) = error {
            backend.core.redis_failed_at_start(&error);
        }
        Ok(backend)
    }

    /// Creates a backend on an existing connection manager.
    ///
    /// Set the manager's response timeout to at most `options.command_timeout`; the backend
    /// bounds each command with `command_timeout` either way.
    ///
    /// # Errors
    ///
    /// Fails when an option is invalid.
    pub fn from_connection_manager(
        connection: ConnectionManager,
        options: RedisBackendOptions,
    ) -> Result<Self, RedisBackendError> {
        options.validate()?;
        Ok(Self {
            connection,
            core: Arc::new(Core::new(options)),
        })
    }

    /// Returns the options of this backend.
    pub fn options(&self) -> &RedisBackendOptions {
        &self.core.options
    }

    /// Applies one command and returns the reply.
    ///
    /// # Errors
    ///
    /// Fails only with [`crate::RedisFailurePolicy::FailClosed`], when Redis does not
    /// answer within the command timeout or returns an error.
    pub async fn execute(&self, command: BreakerCommand) -> Result<BreakerReply, BoxError> {
        let invocation = match self.core.start(&command) {
            Step::Done(reply) => return reply,
            Step::Redis(invocation) => invocation,
        };

        let timeout = self.core.options.command_timeout;
        let mut connection = self.connection.clone();
        let result = match tokio::time::timeout(
            timeout,
            invocation.invoke_async::<Vec<i64>>(&mut connection),
        )
        .await
        {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(source)) => Err(RedisBackendError::Redis {
                key: key_of(&command).to_string(),
                source,
            }),
            Err(_) => Err(RedisBackendError::TimedOut {
                key: key_of(&command).to_string(),
                timeout,
            }),
        };
        self.core.finish(command, result)
    }
}

impl fmt::Debug for AsyncRedisCircuitBreakerBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRedisCircuitBreakerBackend")
            .field("options", &self.core.options)
            .finish_non_exhaustive()
    }
}

impl Service<BreakerCommand> for AsyncRedisCircuitBreakerBackend {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = AsyncResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The multiplexed connection queues commands itself; there is nothing to reserve.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        let backend = self.clone();
        AsyncResponseFuture {
            inner: Box::pin(async move { backend.execute(command).await }),
        }
    }
}

/// Response future of [`AsyncRedisCircuitBreakerBackend`].
///
/// The script invocation borrows its connection across awaits, so the future is boxed: one
/// allocation next to a network round trip.
pub struct AsyncResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<BreakerReply, BoxError>> + Send + 'static>>,
}

impl Future for AsyncResponseFuture {
    type Output = Result<BreakerReply, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for AsyncResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResponseFuture")
            .finish_non_exhaustive()
    }
}
