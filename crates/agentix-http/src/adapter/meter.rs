//! Token usage of responses and spending estimates of requests.

use agentix_core::{MeterUsage, Usage, UsageCallback};
use bytes::Bytes;
use http::{Request, Response};
use serde::Deserialize;

use super::LlmAdapter;
use crate::LlmBody;

impl MeterUsage<Request<Bytes>, Response<LlmBody>> for LlmAdapter {
    /// Returns the request's output limit plus its body length in bytes.
    ///
    /// The output limit is `max_tokens` (Anthropic, older OpenAI models) or
    /// `max_completion_tokens` (OpenAI), the larger when both are set. The body length bounds
    /// the input because every text token covers at least one byte of the JSON body, which
    /// also contains the field names and quoting. `None` when the body sets no output limit or
    /// is not JSON.
    ///
    /// NOTE: the byte length is not a bound for content that the provider fetches itself, such
    /// as an image or a file given by URL or file id, which can cost more tokens than the bytes
    /// that name it.
    fn estimate(&self, request: &Request<Bytes>) -> Option<u64> {
        #[derive(Deserialize)]
        struct Limits {
            max_tokens: Option<u64>,
            max_completion_tokens: Option<u64>,
        }
        let limits: Limits = serde_json::from_slice(request.body()).ok()?;
        let output = match (limits.max_tokens, limits.max_completion_tokens) {
            (Some(a), Some(b)) => a.max(b),
            (Some(limit), None) | (None, Some(limit)) => limit,
            (None, None) => return None,
        };
        let input = u64::try_from(request.body().len()).unwrap_or(u64::MAX);
        Some(output.saturating_add(input))
    }

    /// Returns the `usage` object of an Anthropic or OpenAI response.
    ///
    /// A streamed response returns `None`, because its usage arrives with its events; read it
    /// with [`LlmBody::usage_so_far`] or [`LlmBody::on_finish`] instead.
    ///
    /// Anthropic's `input_tokens` excludes cached tokens, which it reports apart. OpenAI's
    /// `prompt_tokens` includes `prompt_tokens_details.cached_tokens`, so those are moved from
    /// the input to [`Usage::cache_read_input_tokens`] and counted once. `None` when the body
    /// is not JSON, has no `usage`, or a count is not a non-negative integer.
    fn usage(&self, response: &Response<LlmBody>) -> Option<Usage> {
        if response.body().is_stream() {
            return None;
        }
        usage_of_json(response.body().as_bytes())
    }

    /// Settles a streamed response's usage through [`LlmBody::on_finish`]: the usage of a
    /// completed stream, and no usage for one that failed or was dropped, so the budget
    /// charges its whole reservation. A stream cut midway reports too little (Anthropic sends
    /// output tokens only at the end), while the provider bills what it generated.
    fn defer_usage(
        &self,
        response: &mut Response<LlmBody>,
        settle: UsageCallback,
    ) -> Option<UsageCallback> {
        if !response.body().is_stream() {
            return Some(settle);
        }
        response
            .body_mut()
            .on_finish(move |end| settle(end.is_completed().then(|| end.usage()).flatten()));
        None
    }
}

/// Returns the `usage` object of a JSON response body of either format.
pub(crate) fn usage_of_json(body: &[u8]) -> Option<Usage> {
    let envelope: UsageEnvelope = serde_json::from_slice(body).ok()?;
    envelope.usage?.into_usage()
}

#[derive(Deserialize)]
struct UsageEnvelope {
    usage: Option<RawUsage>,
}

/// The counts of both formats; a field that the format does not use stays `None`.
#[derive(Deserialize)]
pub(crate) struct RawUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    cached_tokens: Option<u64>,
}

impl RawUsage {
    /// Overwrites the Anthropic counts this object reports, as the cumulative `usage` of a
    /// streamed `message_delta` event does, and keeps the others.
    pub(crate) fn update(&self, usage: &mut Usage) {
        let counts = [
            (self.input_tokens, &mut usage.input_tokens),
            (self.output_tokens, &mut usage.output_tokens),
            (
                self.cache_creation_input_tokens,
                &mut usage.cache_creation_input_tokens,
            ),
            (
                self.cache_read_input_tokens,
                &mut usage.cache_read_input_tokens,
            ),
        ];
        for (reported, count) in counts {
            if let Some(reported) = reported {
                *count = reported;
            }
        }
    }

    /// Converts the counts of either format; `None` when the object has none.
    pub(crate) fn into_usage(self) -> Option<Usage> {
        if self.input_tokens.is_some() || self.output_tokens.is_some() {
            return Some(Usage {
                input_tokens: self.input_tokens.unwrap_or(0),
                output_tokens: self.output_tokens.unwrap_or(0),
                cache_creation_input_tokens: self.cache_creation_input_tokens.unwrap_or(0),
                cache_read_input_tokens: self.cache_read_input_tokens.unwrap_or(0),
            });
        }
        if self.prompt_tokens.is_some() || self.completion_tokens.is_some() {
            let prompt = self.prompt_tokens.unwrap_or(0);
            let cached = self
                .prompt_tokens_details
                .and_then(|details| details.cached_tokens)
                .unwrap_or(0)
                // A cached count above the prompt count is malformed; it is clamped so the
                // total stays the prompt count.
                .min(prompt);
            return Some(Usage {
                input_tokens: prompt - cached,
                output_tokens: self.completion_tokens.unwrap_or(0),
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: cached,
            });
        }
        None
    }
}

#[cfg(test)]
#[path = "meter_tests.rs"]
mod tests;
