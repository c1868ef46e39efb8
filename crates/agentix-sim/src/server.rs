//! The server handle: start, address, script and inspection, shutdown.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::format::Format;
use crate::handler;
use crate::script::Step;
use crate::state::{Options, RecordedRequest, Shared};

/// A simulated LLM provider listening on loopback.
///
/// The server handles `POST /v1/messages` in the Anthropic Messages format and
/// `POST /v1/chat/completions` in the OpenAI Chat Completions format, over HTTP/1.1 or
/// HTTP/2 with prior knowledge. Each request to a model takes the next [`Step`] scripted for
/// that model, and with no step left it gets a successful reply.
///
/// Dropping the handle, or calling [`shutdown`](SimServer::shutdown), stops the listener
/// and closes every open connection.
///
/// # Examples
///
/// ```
/// use agentix_sim::{SimServer, Step};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let server = SimServer::start().await?;
/// server.script("claude-sonnet-4-5", [Step::error(529), Step::ok()]);
/// let url = format!("{}/v1/messages", server.base_url());
/// # let _ = url;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Starts a server with default options on `127.0.0.1` and an ephemeral port.
    ///
    /// The server runs in a task spawned on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// Returns the error of binding the listening socket.
    pub async fn start() -> io::Result<SimServer> {
        SimServer::builder().start().await
    }

    /// Creates a builder for a server with non-default options.
    pub fn builder() -> SimServerBuilder {
        SimServerBuilder::default()
    }

    /// Returns the address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Appends `steps` to the queue of `model`; each request to the model consumes one.
    pub fn script(&self, model: &str, steps: impl IntoIterator<Item = Step>) {
        self.shared.lock().script.push(model, steps);
    }

    /// Sets the step every request to `model` gets once its queue is empty, so a model can
    /// fail forever.
    pub fn script_repeat(&self, model: &str, step: Step) {
        self.shared.lock().script.repeat(model, step);
    }

    /// Removes the queued and repeated steps of `model`.
    pub fn clear_script(&self, model: &str) {
        self.shared.lock().script.clear_model(model);
    }

    /// Returns how many queued steps of `model` are not consumed yet.
    pub fn pending_steps(&self, model: &str) -> usize {
        self.shared.lock().script.pending(model)
    }

    /// Returns how many requests named `model`, on either path.
    ///
    /// Requests rejected by a check after the model was read (API key, required fields)
    /// count; requests without a readable model do not.
    pub fn requests(&self, model: &str) -> u64 {
        self.shared.lock().requests(model)
    }

    /// Returns how many requests named `model` in the given format.
    pub fn requests_to(&self, format: Format, model: &str) -> u64 {
        self.shared.lock().requests_to(format, model)
    }

    /// Returns how many requests the server received, including malformed ones.
    pub fn total_requests(&self) -> u64 {
        self.shared.lock().total()
    }

    /// Returns the last request that named `model`, headers and body as received.
    pub fn last_request(&self, model: &str) -> Option<RecordedRequest> {
        self.shared.lock().last_request(model)
    }

    /// Clears every script, count and recorded request.
    pub fn reset(&self) {
        self.shared.lock().reset();
    }

    /// Stops the listener and closes every open connection.
    ///
    /// Requests in flight end without a response. Calling it again does nothing.
    pub fn shutdown(&self) {
        // Aborting the accept task drops its `JoinSet`, which aborts the connection tasks.
        self.task.abort();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Options of a [`SimServer`], set before it starts.
#[derive(Clone, Debug, Default)]
pub struct SimServerBuilder {
    options: Options,
}

impl SimServerBuilder {
    /// Sets latency added before every response (default none); steps add their own on top.
    pub fn default_latency(mut self, latency: Duration) -> Self {
        self.options.default_latency = latency;
        self
    }

    /// Sets how many output tokens a default reply has before `max_tokens` cuts it
    /// (default 12).
    pub fn reply_tokens(mut self, tokens: u64) -> Self {
        self.options.reply_tokens = tokens;
        self
    }

    /// Requires this API key: `x-api-key` for Anthropic, `Authorization: Bearer` for
    /// OpenAI. Without it (the default) any key or none is accepted.
    pub fn api_key(mut self, key: &str) -> Self {
        self.options.api_key = Some(key.to_owned());
        self
    }

    /// Sets the largest request body accepted, in bytes (default 32 MiB); larger bodies
    /// get a 413 error.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.options.max_body_bytes = bytes;
        self
    }

    /// Serves HTTP/1.1 only, refusing HTTP/2 prior knowledge (default: both).
    pub fn http1_only(mut self) -> Self {
        self.options.http1_only = true;
        self
    }

    /// Binds `127.0.0.1` on an ephemeral port and starts serving in a spawned task.
    ///
    /// # Errors
    ///
    /// Returns the error of binding the listening socket.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime.
    pub async fn start(self) -> io::Result<SimServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(self.options));
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, "simulated provider started");
        Ok(SimServer { addr, shared, task })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if shared.options.http1_only {
        builder = builder.http1_only();
    }
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Accept errors such as a full file table are transient; keep serving.
                    tracing::warn!(%error, "simulated provider failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            // Reap finished connections so the set does not grow with every one served.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let builder = Arc::clone(&builder);
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = service_fn(move |request| handler::handle(Arc::clone(&shared), request));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "simulated provider connection ended with an error");
            }
        });
    }
}
