//! The breaker backend on the blocking Redis client, with a pool of connections.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use agentix_circuit_breaker::{BlockingBackend, BreakerCommand, BreakerReply};
use agentix_core::BoxError;
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tower_service::Service;

use crate::core::{key_of, Core, Step};
use crate::error::RedisBackendError;
use crate::options::RedisBackendOptions;

/// A breaker backend storing state in Redis through a pool of blocking connections.
///
/// It runs the same scripts on the same keys as [`crate::AsyncRedisCircuitBreakerBackend`],
/// so processes using either backend share breakers. It implements [`BlockingBackend`] for
/// code without an async runtime and is safe to use from many threads at once. Its
/// `tower::Service` implementation runs each command on tokio's blocking thread pool, so it
/// never blocks a runtime worker thread.
///
/// Each command is bounded by `command_timeout`: waiting for a pooled connection,
/// connecting, writing and reading share that budget. A connection that failed is closed
/// instead of returned to the pool. Creating the backend opens no connection.
///
/// # Examples
///
/// ```no_run
/// use agentix_circuit_breaker::{BlockingBackend, BreakerCommand, BreakerKey, BreakerPolicy};
/// use agentix_redis::RedisCircuitBreakerBackend;
///
/// let backend = RedisCircuitBreakerBackend::new("redis://127.0.0.1:6379/0")?;
/// let reply = backend.execute(BreakerCommand::Admit {
///     key: BreakerKey::new("acme".into(), "anthropic"),
///     policy: BreakerPolicy::default(),
/// })?;
/// # drop(reply);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
#[derive(Clone)]
pub struct RedisCircuitBreakerBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: r2d2::Pool<Connector>,
    core: Core,
}

impl RedisCircuitBreakerBackend {
    /// Creates a backend for the Redis server at `url` with default options.
    ///
    /// # Errors
    ///
    /// Fails only when `url` is invalid. The server is not contacted.
    pub fn new(url: &str) -> Result<Self, RedisBackendError> {
        Self::with_options(url, RedisBackendOptions::default())
    }

    /// Creates a backend for the Redis server at `url` with `options`.
    ///
    /// # Errors
    ///
    /// Fails when `url` or an option is invalid. The server is not contacted.
    pub fn with_options(
        url: &str,
        options: RedisBackendOptions,
    ) -> Result<Self, RedisBackendError> {
        let client = redis::Client::open(url).map_err(RedisBackendError::InvalidUrl)?;
        Self::from_client(client, options)
    }

    /// Creates a backend that opens its connections with `client`.
    ///
    /// # Errors
    ///
    /// Fails when an option is invalid.
    pub fn from_client(
        client: redis::Client,
        options: RedisBackendOptions,
    ) -> Result<Self, RedisBackendError> {
        options.validate()?;
        let connector = Connector {
            client,
            connect_timeout: options.command_timeout.min(LONGEST_TIMEOUT),
        };
        // No idle connections are kept open in advance (min_idle 0), so a server that is down
        // at start costs nothing until a command needs it, and no health check runs on
        // checkout, so a command is one round trip.
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(options.command_timeout)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(connector);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                core: Core::new(options),
            }),
        })
    }

    /// Returns the options of this backend.
    pub fn options(&self) -> &RedisBackendOptions {
        &self.inner.core.options
    }

    fn run_script(
        &self,
        command: &BreakerCommand,
        invocation: &redis::ScriptInvocation<'static>,
    ) -> Result<Vec<i64>, RedisBackendError> {
        // `Duration::MAX` ("never") cannot be added to a clock; a day is as good as never here.
        let timeout = self.inner.core.options.command_timeout.min(LONGEST_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let key = || key_of(command).to_string();

        let mut connection = self
            .inner
            .pool
            .get_timeout(timeout)
            .map_err(|source| RedisBackendError::Pool { key: key(), source })?;
        let remaining = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| RedisBackendError::TimedOut {
                key: key(),
                timeout,
            })?;

        let result = connection
            .set_deadline(remaining)
            .and_then(|()| invocation.invoke::<Vec<i64>>(&mut connection.connection));
        result.map_err(|source| {
            // The reply may still arrive later on this socket; never reuse it.
            // NOTE: the server may still run a timed-out admit and grant the probe to no caller.
            // Unlike the async backend, this one does not read the late reply, so such a
            // probe holds the circuit until its probe lease ends.
            connection.broken = true;
            if source.is_timeout() {
                RedisBackendError::TimedOut {
                    key: key(),
                    timeout,
                }
            } else {
                RedisBackendError::Redis { key: key(), source }
            }
        })
    }
}

impl BlockingBackend for RedisCircuitBreakerBackend {
    fn execute(&self, command: BreakerCommand) -> Result<BreakerReply, BoxError> {
        let invocation = match self.inner.core.start(&command) {
            Step::Done(reply) => return reply,
            Step::Redis(invocation) => invocation,
        };
        let result = self.run_script(&command, &invocation);
        self.inner.core.finish(command, result)
    }
}

impl fmt::Debug for RedisCircuitBreakerBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCircuitBreakerBackend")
            .field("options", &self.inner.core.options)
            .finish_non_exhaustive()
    }
}

impl Service<BreakerCommand> for RedisCircuitBreakerBackend {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = BlockingResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Runs the command on tokio's blocking thread pool.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        let key = key_of(&command).to_string();
        let backend = self.clone();
        BlockingResponseFuture {
            key,
            handle: tokio::task::spawn_blocking(move || backend.execute(command)),
        }
    }
}

pin_project! {
    /// Response future of [`RedisCircuitBreakerBackend`]: the command's blocking task.
    pub struct BlockingResponseFuture {
        key: String,
        #[pin]
        handle: JoinHandle<Result<BreakerReply, BoxError>>,
    }
}

impl Future for BlockingResponseFuture {
    type Output = Result<BreakerReply, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match ready!(this.handle.poll(cx)) {
            Ok(reply) => Poll::Ready(reply),
            Err(source) => Poll::Ready(Err(RedisBackendError::Join {
                key: std::mem::take(this.key),
                source,
            }
            .into())),
        }
    }
}

impl fmt::Debug for BlockingResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingResponseFuture")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Opens pooled connections with a connect timeout and tracks the ones that failed.
struct Connector {
    client: redis::Client,
    connect_timeout: Duration,
}

/// A pooled connection and whether a command on it failed.
struct PooledConnection {
    connection: redis::Connection,
    broken: bool,
}

/// Longest command timeout the blocking client applies; longer ones are clamped to it.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(86_400);

impl PooledConnection {
    /// Bounds the next write and read on this connection by `timeout`.
    fn set_deadline(&mut self, timeout: Duration) -> redis::RedisResult<()> {
        self.connection.set_write_timeout(Some(timeout))?;
        self.connection.set_read_timeout(Some(timeout))
    }
}

impl r2d2::ManageConnection for Connector {
    type Connection = PooledConnection;
    type Error = redis::RedisError;

    fn connect(&self) -> Result<PooledConnection, redis::RedisError> {
        let connection = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        Ok(PooledConnection {
            connection,
            broken: false,
        })
    }

    fn is_valid(&self, pooled: &mut PooledConnection) -> Result<(), redis::RedisError> {
        redis::cmd("PING").query::<()>(&mut pooled.connection)
    }

    fn has_broken(&self, pooled: &mut PooledConnection) -> bool {
        use redis::ConnectionLike;
        pooled.broken || !pooled.connection.is_open()
    }
}
