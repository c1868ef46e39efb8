//! The breaker backend on the async Redis client.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use agentix_circuit_breaker::{BreakerCommand, BreakerPolicy, BreakerReply};
use agentix_core::BoxError;
use pin_project_lite::pin_project;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::task::JoinHandle;
use tokio::time::Sleep;
use tower_service::Service;

use crate::core::{key_of, Core, Step};
use crate::error::RedisBackendError;
use crate::options::RedisBackendOptions;

/// How long the connection waits for a reply after the caller's command timeout ended.
///
/// NOTE: this equals the default probe lease. A late admit reply that arrives after it is
/// dropped, so a longer custom lease can still hold a probe granted to no caller until it ends.
const LATE_REPLY_TIMEOUT: Duration = BreakerPolicy::DEFAULT_PROBE_LEASE;

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
            // Each command is bounded by `command_timeout` in the backend. The connection
            // waits longer, so that the late reply of a timed-out admit is still read and a
            // probe it grants can be released.
            .set_response_timeout(Some(options.command_timeout.max(LATE_REPLY_TIMEOUT)))
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
    /// The backend bounds each command with `command_timeout` whatever the manager's
    /// response timeout. A manager response timeout at least as long as the probe lease lets
    /// the backend read the late reply of a timed-out admit and release the probe it grants.
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
        AsyncResponseFuture::start(self, command).await
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

    /// Starts `command` in a task on the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics when called outside a Tokio runtime.
    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        AsyncResponseFuture::start(self, command)
    }
}

pin_project! {
    /// Response future of [`AsyncRedisCircuitBreakerBackend`].
    ///
    /// The script runs in a spawned task, so a reply that arrives after the command timeout
    /// (or after this future is dropped) is still read. When such a late reply grants the
    /// half-open probe to no waiting caller, the probe is released at once instead of holding the
    /// circuit for its whole lease. The task is the one allocation of a command.
    pub struct AsyncResponseFuture {
        #[pin]
        state: State,
    }

    impl PinnedDrop for AsyncResponseFuture {
        fn drop(this: Pin<&mut Self>) {
            if let StateProj::Running { task, command, backend, .. } = this.project().state.project() {
                if let (Some(task), Some(command)) = (task.take(), command.take()) {
                    backend.watch_abandoned(command, task);
                }
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Done {
            reply: Option<Result<BreakerReply, BoxError>>,
        },
        Running {
            task: Option<JoinHandle<redis::RedisResult<Vec<i64>>>>,
            #[pin]
            deadline: Sleep,
            command: Option<BreakerCommand>,
            backend: AsyncRedisCircuitBreakerBackend,
        },
    }
}

impl AsyncResponseFuture {
    fn start(backend: &AsyncRedisCircuitBreakerBackend, command: BreakerCommand) -> Self {
        let invocation = match backend.core.start(&command) {
            Step::Done(reply) => {
                return Self {
                    state: State::Done { reply: Some(reply) },
                }
            }
            Step::Redis(invocation) => invocation,
        };

        let mut connection = backend.connection.clone();
        let task =
            tokio::spawn(async move { invocation.invoke_async::<Vec<i64>>(&mut connection).await });
        Self {
            state: State::Running {
                task: Some(task),
                deadline: tokio::time::sleep(backend.core.options.command_timeout),
                command: Some(command),
                backend: backend.clone(),
            },
        }
    }
}

impl Future for AsyncResponseFuture {
    type Output = Result<BreakerReply, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Done { reply } => Poll::Ready(
                reply
                    .take()
                    .expect("AsyncResponseFuture polled after completion"),
            ),
            StateProj::Running {
                task,
                deadline,
                command,
                backend,
            } => {
                let handle = task
                    .as_mut()
                    .expect("AsyncResponseFuture polled after completion");
                let key = |command: &Option<BreakerCommand>| {
                    let command = command.as_ref().expect("command kept until completion");
                    key_of(command).to_string()
                };
                let result = match Pin::new(handle).poll(cx) {
                    Poll::Ready(Ok(Ok(values))) => Ok(values),
                    Poll::Ready(Ok(Err(source))) => Err(RedisBackendError::Redis {
                        key: key(command),
                        source,
                    }),
                    Poll::Ready(Err(source)) => Err(RedisBackendError::Join {
                        key: key(command),
                        source,
                    }),
                    Poll::Pending => {
                        ready!(deadline.poll(cx));
                        let late = task.take().expect("task kept until completion");
                        let admit = command.clone().expect("command kept until completion");
                        backend.watch_abandoned(admit, late);
                        Err(RedisBackendError::TimedOut {
                            key: key(command),
                            timeout: backend.core.options.command_timeout,
                        })
                    }
                };
                task.take();
                let command = command.take().expect("command kept until completion");
                Poll::Ready(backend.core.finish(command, result))
            }
        }
    }
}

impl fmt::Debug for AsyncResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResponseFuture")
            .finish_non_exhaustive()
    }
}

impl AsyncRedisCircuitBreakerBackend {
    /// Keeps reading the reply of a command whose caller stopped waiting, and releases the
    /// probe if that reply grants one.
    ///
    /// Only an admit can grant a probe, so the task of any other command is left to finish
    /// on its own.
    fn watch_abandoned(
        &self,
        command: BreakerCommand,
        task: JoinHandle<redis::RedisResult<Vec<i64>>>,
    ) {
        if !matches!(command, BreakerCommand::Admit { .. }) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // NOTE: without a runtime the reply cannot be read; the probe lease bounds a
            // probe granted to no caller.
            return;
        };
        let backend = self.clone();
        runtime.spawn(async move {
            let Ok(Ok(values)) = task.await else {
                return;
            };
            let Some(release) = backend.core.abandoned_probe_release(&command, &values) else {
                return;
            };
            let mut connection = backend.connection.clone();
            let timeout = backend.core.options.command_timeout;
            let released =
                tokio::time::timeout(timeout, release.invoke_async::<Vec<i64>>(&mut connection))
                    .await;
            let error = match released {
                Ok(Ok(_)) => return,
                Ok(Err(source)) => source.to_string(),
                Err(_) => format!("timed out after {timeout:?}"),
            };
            tracing::warn!(
                key = %key_of(&command),
                error = %error,
                "failed to release a probe granted after its admit timed out; the probe lease bounds it"
            );
        });
    }
}
