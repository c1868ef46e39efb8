//! [`LlmAdapter`]: the core traits of `agentix-core` for the Anthropic and OpenAI formats.

mod classify;
mod meter;
mod route;

pub(crate) use classify::ErrorDetail;
pub(crate) use meter::{usage_of_json, RawUsage};
pub use route::SetModelError;

/// Reads Anthropic Messages and OpenAI Chat Completions requests and responses for the
/// Agentix layers.
///
/// It implements:
///
/// - [`Classify`](agentix_core::Classify) for `http::Response<LlmBody>` results: the outcome
///   kind from the error body's type when it has a known one, else from the status, with the
///   server's delay and retry hints from the headers (see [`crate::hints`]).
/// - [`RouteModel`](agentix_core::RouteModel) for `http::Request<Bytes>`: the top-level
///   `model` field of the JSON body.
/// - [`MeterUsage`](agentix_core::MeterUsage): the `usage` object of either format, and an
///   upper estimate of what a request can spend.
///
/// Both formats are recognised from the body itself, so one adapter serves both providers.
/// The adapter has no state; copies are free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LlmAdapter {
    _private: (),
}

impl LlmAdapter {
    /// Creates an adapter.
    pub fn new() -> Self {
        Self::default()
    }
}
