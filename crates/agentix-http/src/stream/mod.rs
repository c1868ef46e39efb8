//! Streamed responses: server-sent events of the Anthropic Messages and OpenAI Chat
//! Completions formats.
//!
//! [`HttpClient`](crate::HttpClient) streams a 2xx response whose content type is
//! `text/event-stream`, or whose request set `"stream": true` and whose content type is not
//! JSON. The body yields the bytes of complete events as they arrive, so they can be passed
//! on verbatim, and parses each event on the way:
//!
//! - Anthropic: `message_start` (input usage), `content_block_start`, `content_block_delta`,
//!   `content_block_stop`, `message_delta` (cumulative output usage), `message_stop` (the
//!   terminal event), `ping` and `error`.
//! - OpenAI: `data: {chunk}` lines, the usage chunk sent with
//!   `stream_options.include_usage`, `data: [DONE]` (the terminal event) and chunks with an
//!   `error` object.
//!
//! # The first content event
//!
//! The client reads each stream up to its first content event (Anthropic's first
//! `content_block_delta` or `message_delta`, OpenAI's first chunk with text, a refusal, a tool
//! call, a finish reason or usage), or its terminal event, before it returns the response. The
//! classifier, the retry layer and the fallback layer therefore see a stream that fails
//! early exactly as they see a failed non-streamed call:
//!
//! - An error event before any content becomes a response with the status the provider sends
//!   with that error type: 529 for `overloaded_error`, 429 for `rate_limit_error`, 500 for an
//!   unknown type. The event's data, which is the error body of the format, becomes its JSON
//!   body, and the response carries an [`EarlyStreamError`] extension.
//! - A connection failure, a malformed event or an idle timeout before any content fails the
//!   call with a [`StreamError`]. The adapter classifies these as `FailureKind::Connection`,
//!   `FailureKind::Other` and `FailureKind::Timeout` in that order.
//!
//! # After the first content event
//!
//! Failures come out of the body's `poll_frame` as a [`StreamError`], after the bytes of the
//! last complete event before them, so a broken stream never ends like a complete one. The
//! bytes of an error event are passed on before its error. The body reports how it ended,
//! with the usage the provider reported, to [`LlmBody::on_finish`](crate::LlmBody::on_finish)
//! callbacks.
//!
//! # Examples
//!
//! ```no_run
//! use agentix_http::{anthropic, HttpClient, StreamEnd};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # async fn run() -> Result<(), agentix_core::BoxError> {
//! let body = serde_json::json!({
//!     "model": "claude-sonnet-4-5",
//!     "max_tokens": 256,
//!     "stream": true,
//!     "messages": [{"role": "user", "content": "Hello"}],
//! });
//! let request = anthropic::messages_request("https://api.anthropic.com", "sk-ant-...", &body)?;
//! let response = HttpClient::new().oneshot(request).await?;
//! if !response.status().is_success() {
//!     // An `overloaded_error` event before any content arrives here as a 529 response.
//!     return Ok(());
//! }
//! let mut body = response.into_body();
//! body.on_finish(|end: StreamEnd| println!("stream ended: {end:?}"));
//! while let Some(frame) = body.frame().await {
//!     // Each frame contains whole events, ready to pass on. An error means the stream broke.
//!     let events = frame?.into_data().unwrap_or_default();
//!     print!("{}", String::from_utf8_lossy(&events));
//! }
//! # Ok(())
//! # }
//! ```

mod body;
mod error;
mod event;
mod sse;

pub(crate) use body::{Prelude, SseBody};
pub use error::{StreamEnd, StreamError, StreamErrorKind};

/// Marks a response rebuilt from an error event that a stream sent before any content.
///
/// The provider responded `200 OK` with `text/event-stream` and then an error event. The
/// response carrying this extension has the status the provider sends with that error type
/// in a non-streamed response, and the event's data as its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyStreamError {
    /// The error's `type` (OpenAI's `code` when the type is missing).
    pub error_type: String,
    /// The status the provider actually sent.
    pub status_received: http::StatusCode,
}
