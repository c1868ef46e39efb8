//! `AgentixClient`: the four layers stacked in their documented order around a provider
//! client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use agentix_budget::{BilledOnSuccess, InMemoryLedger, TokenBudget, TokenBudgetLayer};
use agentix_circuit_breaker::{
    BreakerBackend, BreakerConfig, BreakerPolicy, CircuitBreaker, CircuitBreakerLayer,
    InMemoryCircuitBreakerBackend,
};
use agentix_core::{BoxError, Classify, Outcome, TenantId};
use agentix_fallback::{Fallback, FallbackConfig, FallbackLayer};
use agentix_http::{HttpClient, LlmAdapter, LlmBody, Provider};
use agentix_retry::{Retry, RetryConfig, RetryLayer};
use bytes::Bytes;
use tower::util::Either;
use tower::{Layer, Service, ServiceExt};

use crate::{AgentixAgentOptions, AgentixError};

type Request = http::Request<Bytes>;
type Response = http::Response<LlmBody>;

/// The layers below the budget: fallback, then retry, then the breaker next to the provider.
type Resilient<S, B> = Fallback<Retry<CircuitBreaker<S, B, LlmAdapter>, LlmAdapter>, LlmAdapter>;

/// The whole stack; the budget layer is left out when `max_tokens_budget` is `None`.
type Stack<S, B> = Either<
    TokenBudget<Resilient<S, B>, InMemoryLedger, LlmAdapter, BilledOnSuccess>,
    Resilient<S, B>,
>;

/// An LLM client with retry, circuit breaker, fallback and token budget.
///
/// The layers run outermost first: token budget, fallback, retry, circuit breaker, then the
/// provider client `S` (by default [`HttpClient`]). Clones share the breaker state and the
/// budget, so a budget covers every clone of the client.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), agentix::AgentixError> {
/// use agentix::{AgentixAgentOptions, AgentixClient};
///
/// let options = AgentixAgentOptions {
///     model: "claude-sonnet-4-20250514".into(),
///     ..Default::default()
/// };
/// let client = AgentixClient::builder(options)
///     .tenant_id("customer-abc")
///     .api_key(std::env::var("ANTHROPIC_API_KEY").unwrap_or_default())
///     .build()?;
/// let response = client
///     .create(serde_json::json!({
///         "max_tokens": 256,
///         "messages": [{"role": "user", "content": "Hello"}],
///     }))
///     .await?;
/// # Ok(()) }
/// ```
pub struct AgentixClient<S = HttpClient, B = InMemoryCircuitBreakerBackend> {
    stack: Stack<S, B>,
    shared: Arc<Shared>,
}

/// State shared by every clone of a client: the options and the request target.
struct Shared {
    options: AgentixAgentOptions,
    provider: Provider,
    base_url: String,
    api_key: String,
}

impl<S: Clone, B: Clone> Clone for AgentixClient<S, B> {
    fn clone(&self) -> Self {
        Self {
            stack: self.stack.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl AgentixClient {
    /// Starts a client from `options`, with the in-memory breaker backend and an
    /// [`HttpClient`] unless the builder replaces them.
    pub fn builder(options: AgentixAgentOptions) -> AgentixClientBuilder {
        AgentixClientBuilder {
            options,
            tenant_id: TenantId::new(DEFAULT_TENANT),
            backend: InMemoryCircuitBreakerBackend::new(),
            base_url: None,
            api_key: String::new(),
        }
    }
}

/// Tenant of calls that carry no [`TenantId`] and come from a client built without one.
pub const DEFAULT_TENANT: &str = "default";

/// Builds an [`AgentixClient`]; see [`AgentixClient::builder`].
pub struct AgentixClientBuilder<B = InMemoryCircuitBreakerBackend> {
    options: AgentixAgentOptions,
    tenant_id: TenantId,
    backend: B,
    base_url: Option<String>,
    api_key: String,
}

impl<B: BreakerBackend> AgentixClientBuilder<B> {
    /// Sets the tenant of calls whose request carries no [`TenantId`] extension.
    pub fn tenant_id(mut self, tenant_id: impl Into<TenantId>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// Replaces the breaker's state backend, for example with a Redis backend shared by
    /// every worker of a deployment.
    pub fn circuit_breaker_backend<B2: BreakerBackend>(
        self,
        backend: B2,
    ) -> AgentixClientBuilder<B2> {
        AgentixClientBuilder {
            options: self.options,
            tenant_id: self.tenant_id,
            backend,
            base_url: self.base_url,
            api_key: self.api_key,
        }
    }

    /// Sets the provider's base URL used by [`AgentixClient::create`]; defaults to the
    /// provider's public API.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// Sets the API key used by [`AgentixClient::create`].
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = api_key.into();
        self
    }

    /// Builds the client around an [`HttpClient`] with default settings.
    ///
    /// # Errors
    ///
    /// Returns [`AgentixError::InvalidOptions`] naming the first invalid option.
    pub fn build(self) -> Result<AgentixClient<HttpClient, B>, AgentixError> {
        self.build_with(HttpClient::new())
    }

    /// Builds the client around any provider service that speaks the HTTP wire formats.
    ///
    /// # Errors
    ///
    /// Returns [`AgentixError::InvalidOptions`] naming the first invalid option.
    pub fn build_with<S>(self, service: S) -> Result<AgentixClient<S, B>, AgentixError>
    where
        S: Service<Request, Response = Response> + Clone,
        S::Error: Into<BoxError>,
    {
        let options = self.options;
        options.validate()?;
        let provider: Provider = options
            .provider
            .parse()
            .expect("validate() accepts only providers that parse");

        let adapter = LlmAdapter::default();
        let breaker = CircuitBreakerLayer::new(
            BreakerConfig {
                policy: BreakerPolicy {
                    failure_threshold: options.circuit_breaker_failure_threshold,
                    cooldown: options.circuit_breaker_cooldown(),
                    ..BreakerPolicy::default()
                },
                provider: Arc::from(provider.as_str()),
                tenant: self.tenant_id,
                ..BreakerConfig::default()
            },
            self.backend,
            adapter,
        );
        let retry = RetryLayer::new(
            RetryConfig {
                max_attempts: options.retry_max_attempts,
                base_delay: options.retry_base_delay(),
                max_delay: options.retry_max_delay(),
                jitter: options.retry_jitter,
                ..RetryConfig::default()
            },
            adapter,
        );
        let fallback = FallbackLayer::new(
            FallbackConfig {
                primary: Some(Arc::from(options.model.as_str())),
                provider: Some(Arc::from(provider.as_str())),
                models: options
                    .fallback_model
                    .iter()
                    .map(|m| Arc::from(m.as_str()))
                    .collect(),
                ..FallbackConfig::default()
            },
            adapter,
        );
        let resilient = fallback.layer(retry.layer(breaker.layer(service)));
        let stack = match options.max_tokens_budget {
            Some(limit) => Either::Left(
                TokenBudgetLayer::new(InMemoryLedger::new(limit), adapter)
                    .with_billing(BilledOnSuccess)
                    .layer(resilient),
            ),
            None => Either::Right(resilient),
        };

        let base_url = self
            .base_url
            .unwrap_or_else(|| provider.default_base_url().to_owned());
        Ok(AgentixClient {
            stack,
            shared: Arc::new(Shared {
                options,
                provider,
                base_url,
                api_key: self.api_key,
            }),
        })
    }
}

impl<S, B> AgentixClient<S, B>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: BreakerBackend,
{
    /// Returns the options the client was built with.
    pub fn options(&self) -> &AgentixAgentOptions {
        &self.shared.options
    }

    /// Sends one request body in the provider's format through the whole stack.
    ///
    /// The body's `model` defaults to the options' `model`. A final error status from the
    /// provider becomes [`AgentixError::Api`].
    ///
    /// # Errors
    ///
    /// Every variant of [`AgentixError`] except `InvalidOptions`.
    pub async fn create(&self, body: serde_json::Value) -> Result<Response, AgentixError> {
        self.create_inner(None, body).await
    }

    /// Like [`Self::create`], for `tenant` instead of the client's tenant.
    ///
    /// # Errors
    ///
    /// As [`Self::create`].
    pub async fn create_for_tenant(
        &self,
        tenant: impl Into<TenantId>,
        body: serde_json::Value,
    ) -> Result<Response, AgentixError> {
        self.create_inner(Some(tenant.into()), body).await
    }

    async fn create_inner(
        &self,
        tenant: Option<TenantId>,
        mut body: serde_json::Value,
    ) -> Result<Response, AgentixError> {
        let shared = &self.shared;
        if let Some(object) = body.as_object_mut() {
            object
                .entry("model")
                .or_insert_with(|| shared.options.model.clone().into());
        }
        let mut request = shared
            .provider
            .request(&shared.base_url, &shared.api_key, &body)
            .map_err(|error| AgentixError::InvalidRequest(error.into()))?;
        if let Some(tenant) = tenant {
            request.extensions_mut().insert(tenant);
        }

        let response = self.clone().oneshot(request).await?;
        match LlmAdapter::default().classify(Ok(&response)) {
            Outcome::Failure(failure) => Err(AgentixError::Api {
                provider: shared.options.provider.clone(),
                model: response
                    .extensions()
                    .get::<agentix_core::ServedBy>()
                    .map(|served| served.model.to_string())
                    .unwrap_or_else(|| shared.options.model.clone()),
                status: failure.status.unwrap_or_else(|| response.status().as_u16()),
                kind: failure.kind,
                message: error_message(response.body().as_bytes()),
                retry_after: failure.retry_after,
            }),
            _ => Ok(response),
        }
    }
}

/// Maximum number of characters of a non-JSON error body quoted in [`AgentixError::Api`].
const MAX_QUOTED_BODY: usize = 200;

/// Extracts `error.message` from an error body of either format, or quotes the start of a
/// body that has none (an HTML page from a proxy, say).
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(message) = parsed
        .as_ref()
        .and_then(|value| value.pointer("/error/message"))
        .and_then(serde_json::Value::as_str)
    {
        return message.to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let mut quoted: String = text.trim().chars().take(MAX_QUOTED_BODY).collect();
    if quoted.is_empty() {
        quoted.push_str("(empty body)");
    } else if quoted.len() < text.trim().len() {
        quoted.push_str("...");
    }
    quoted
}

impl<S, B> Service<Request> for AgentixClient<S, B>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: BreakerBackend,
{
    type Response = Response;
    type Error = AgentixError;
    type Future = ResponseFuture<<Stack<S, B> as Service<Request>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.stack
            .poll_ready(cx)
            .map_err(AgentixError::from_layer_error)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let span = tracing::info_span!(
            "agentix_call",
            provider = %self.shared.provider,
            tenant = request.extensions().get::<TenantId>().map(TenantId::as_str),
        );
        let inner = span.in_scope(|| self.stack.call(request));
        ResponseFuture { inner, span }
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`AgentixClient`], converting layer errors into [`AgentixError`].
    ///
    /// Every poll runs inside the call's `agentix_call` span, so the layers' retry, breaker,
    /// fallback and budget events of one logical call share it.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, BoxError>>,
{
    type Output = Result<Response, AgentixError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(result.map_err(AgentixError::from_layer_error))
    }
}
