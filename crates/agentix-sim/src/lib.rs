//! A local LLM provider that speaks the Anthropic and OpenAI wire formats and follows a
//! script of faults.
//!
//! [`SimServer`] listens on loopback and serves `POST /v1/messages` (Anthropic Messages)
//! and `POST /v1/chat/completions` (OpenAI Chat Completions) with the providers' real
//! response and error bodies, usage fields included, as JSON or as server-sent events when
//! the request sets `"stream": true`. It is the fixture of the integration tests, the load
//! target of the benchmarks and the embedded provider of the examples.
//!
//! # Scripting faults
//!
//! Each model has a queue of [`Step`]s, consumed one per request, and an empty queue means
//! success. A step sends a reply, an error body for a status, a raw body, a dropped
//! connection, a response cut midway or a stream that ends in an error event, with
//! optional headers (`retry-after`,
//! `retry-after-ms`, `x-should-retry`, rate-limit resets), latency and fixed usage.
//!
//! ```
//! use agentix_sim::{SimServer, Step};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = SimServer::start().await?;
//! server.script(
//!     "gpt-4o",
//!     [Step::error(429).retry_after("1"), Step::drop_connection()],
//! );
//! // The first request to gpt-4o gets a 429, the second a closed connection, the third
//! // and later ones a reply.
//! assert_eq!(server.requests("gpt-4o"), 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Replies
//!
//! Replies are deterministic. Input tokens are a quarter of the characters of the message
//! text, rounded up and at least 1. A default reply has 12 output tokens (see
//! [`SimServerBuilder::reply_tokens`]), cut to the request's `max_tokens`, in which case
//! the stop reason is `max_tokens` (Anthropic) or `length` (OpenAI).

mod anthropic;
mod body;
mod format;
mod handler;
mod openai;
mod reply;
mod response;
mod script;
mod server;
mod state;

pub use body::{ResponseCut, SimBody};
pub use format::Format;
pub use script::Step;
pub use server::{SimServer, SimServerBuilder};
pub use state::RecordedRequest;
