//! LLM wire formats and an HTTP client service for the Agentix layers.
//!
//! This crate connects the format-free layers of Agentix to real providers:
//!
//! - [`HttpClient`] is a `tower::Service` from `http::Request<Bytes>` to
//!   `http::Response<LlmBody>` over hyper, for `http` and `https`, with connect and request
//!   timeouts. Failures before a complete response are [`TransportError`]s. A response
//!   with server-sent events streams: its [`LlmBody`] yields the events as they arrive and
//!   fails with a [`StreamError`] when the stream breaks; see [`stream`].
//! - [`anthropic::messages_request`] and [`openai::chat_request`] build requests in the
//!   Anthropic Messages and OpenAI Chat Completions formats.
//! - [`LlmAdapter`] implements the `agentix-core` traits for these types: outcome
//!   classification, model routing and token usage.
//! - [`hints`] parses the delay and retry hints of response headers.
//! - [`translate`] rewrites a request from one format into the other, for a fallback to a
//!   model of the other provider.
//!
//! # Examples
//!
//! ```no_run
//! use agentix_core::{Classify, Outcome};
//! use agentix_http::{anthropic, HttpClient, LlmAdapter};
//! use tower::ServiceExt;
//!
//! # async fn run() -> Result<(), agentix_core::BoxError> {
//! let body = serde_json::json!({
//!     "model": "claude-sonnet-4-5",
//!     "max_tokens": 256,
//!     "messages": [{"role": "user", "content": "Hello"}],
//! });
//! let request = anthropic::messages_request("https://api.anthropic.com", "sk-ant-...", &body)?;
//! let result = HttpClient::new().oneshot(request).await;
//! match LlmAdapter::new().classify(result.as_ref()) {
//!     Outcome::Success => println!("{:?}", result?.body()),
//!     other => println!("failed: {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod adapter;
pub mod anthropic;
mod body;
mod client;
pub mod hints;
pub mod openai;
mod provider;
pub mod stream;
pub mod translate;

pub use adapter::{LlmAdapter, SetModelError};
pub use body::LlmBody;
pub use client::{
    ConfigError, HttpClient, HttpClientBuilder, HttpClientConfig, ResponseFuture, TransportError,
    TransportErrorKind,
};
pub use provider::{BuildRequestError, ParseProviderError, Provider};
pub use stream::{EarlyStreamError, StreamEnd, StreamError, StreamErrorKind};
