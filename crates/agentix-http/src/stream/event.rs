//! Interpretation of the events of an Anthropic or OpenAI stream: content, usage, the end, or
//! an error.
//!
//! The format is recognised per event, as the adapter recognises response bodies: an event
//! whose JSON has a top-level `type` is an Anthropic Messages event, `[DONE]` and any other
//! JSON object are OpenAI Chat Completions chunks.

use std::borrow::Cow;
use std::fmt;

use agentix_core::Usage;
use bytes::Bytes;
use http::StatusCode;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::adapter::{ErrorDetail, RawUsage};

/// The meaning of one event for the stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Nothing generated yet: `message_start`, `ping`, a role-only chunk, an unknown event.
    Prelude,
    /// Generated output, or the message's closing summary (`message_delta`, a usage chunk).
    Content,
    /// The terminal event: Anthropic's `message_stop` or OpenAI's `data: [DONE]`.
    Terminal,
    /// An error event in place of the rest of the stream.
    Error(ErrorEvent),
}

/// An error event and its data, kept to rebuild an error response before any content.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ErrorEvent {
    pub(crate) error_type: String,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    /// The event's data: the error body the format uses in a non-streamed error response.
    pub(crate) body: Bytes,
}

impl ErrorEvent {
    /// Returns the status the provider sends with this error in a non-streamed response.
    ///
    /// Unknown types give 500, because an error in a started stream is most likely on the
    /// provider's side.
    pub(crate) fn status(&self) -> StatusCode {
        let status = match (self.code.as_deref(), self.error_type.as_str()) {
            (Some("rate_limit_exceeded" | "insufficient_quota"), _) => 429,
            (Some("invalid_api_key"), _) => 401,
            (Some("model_not_found"), _) => 404,
            (Some("context_length_exceeded"), _) => 400,
            (Some("service_unavailable"), _) => 503,
            (_, "invalid_request_error") => 400,
            (_, "authentication_error") => 401,
            (_, "billing_error") => 402,
            (_, "permission_error") => 403,
            (_, "not_found_error") => 404,
            (_, "request_too_large") => 413,
            (_, "rate_limit_error" | "insufficient_quota") => 429,
            (_, "timeout_error") => 504,
            (_, "overloaded_error") => 529,
            _ => 500,
        };
        StatusCode::from_u16(status).expect("the mapped statuses are valid")
    }
}

/// A data payload that is not the JSON its format uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedEvent;

/// The usage a stream has reported so far.
#[derive(Debug, Default)]
pub(crate) struct UsageTracker {
    usage: Option<Usage>,
}

impl UsageTracker {
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Interprets one event's data, recording the usage it reports.
    pub(crate) fn apply(
        &mut self,
        name: Option<&str>,
        data: &str,
    ) -> Result<Signal, MalformedEvent> {
        if data == "[DONE]" {
            return Ok(Signal::Terminal);
        }
        if data.is_empty() {
            return Ok(Signal::Prelude);
        }
        let mut payload: Payload<'_> = serde_json::from_str(data).map_err(|_| MalformedEvent)?;
        match payload.event_type.take() {
            Some(event_type) => Ok(self.apply_anthropic(&event_type, payload, data)),
            // Anthropic names error events in the `event` field as well.
            None if name == Some("error") || payload.error.is_some() => {
                Ok(Signal::Error(error_event(payload.error, data)))
            }
            None => Ok(self.apply_openai(payload)),
        }
    }

    fn apply_anthropic(&mut self, event_type: &str, payload: Payload<'_>, data: &str) -> Signal {
        match event_type {
            "message_start" => {
                if let Some(raw) = payload.message.and_then(|message| message.usage) {
                    self.usage = raw.into_usage().or(self.usage);
                }
                Signal::Prelude
            }
            "content_block_delta" => Signal::Content,
            "message_delta" => {
                if let Some(raw) = payload.usage {
                    raw.update(self.usage.get_or_insert_with(Usage::default));
                }
                Signal::Content
            }
            "message_stop" => Signal::Terminal,
            "error" => Signal::Error(error_event(payload.error, data)),
            // `content_block_start`, `content_block_stop`, `ping`, and event types added after
            // this crate was written, which the API's versioning policy allows.
            _ => Signal::Prelude,
        }
    }

    fn apply_openai(&mut self, payload: Payload<'_>) -> Signal {
        if let Some(raw) = payload.usage {
            if let Some(usage) = raw.into_usage() {
                self.usage = Some(usage);
                return Signal::Content;
            }
        }
        match payload.choices {
            Some(ChoicesHaveOutput(true)) => Signal::Content,
            _ => Signal::Prelude,
        }
    }
}

fn error_event(detail: Option<ErrorDetail<'_>>, data: &str) -> ErrorEvent {
    let (error_type, code, message) = match &detail {
        Some(detail) => (
            detail.error_type.as_deref().or(detail.code()),
            detail.code(),
            detail.message.as_deref(),
        ),
        None => (None, None, None),
    };
    ErrorEvent {
        error_type: error_type.unwrap_or("unknown_error").to_owned(),
        code: code.map(str::to_owned),
        message: message.unwrap_or("").to_owned(),
        body: Bytes::copy_from_slice(data.as_bytes()),
    }
}

/// The fields of either format's events that a stream's state depends on.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "type", borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default)]
    message: Option<MessageStart>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(borrow, default)]
    error: Option<ErrorDetail<'a>>,
    #[serde(default)]
    choices: Option<ChoicesHaveOutput>,
}

#[derive(Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<RawUsage>,
}

/// Whether any choice of an OpenAI chunk carries output, read without collecting the list.
struct ChoicesHaveOutput(bool);

impl<'de> Deserialize<'de> for ChoicesHaveOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChoicesVisitor;

        impl<'de> Visitor<'de> for ChoicesVisitor {
            type Value = ChoicesHaveOutput;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of choices")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut any = false;
                while let Some(choice) = seq.next_element::<Choice<'de>>()? {
                    any |= choice.has_output();
                }
                Ok(ChoicesHaveOutput(any))
            }
        }

        deserializer.deserialize_seq(ChoicesVisitor)
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<IgnoredAny>,
    #[serde(default)]
    function_call: Option<IgnoredAny>,
}

impl Choice<'_> {
    /// Returns whether the choice carries text, a refusal, a tool call or its finish reason;
    /// the first chunk's role with empty content is not output.
    fn has_output(&self) -> bool {
        let delta_has_output = self.delta.as_ref().is_some_and(|delta| {
            delta
                .content
                .as_deref()
                .is_some_and(|text| !text.is_empty())
                || delta
                    .refusal
                    .as_deref()
                    .is_some_and(|text| !text.is_empty())
                || delta.tool_calls.is_some()
                || delta.function_call.is_some()
        });
        delta_has_output || self.finish_reason.is_some()
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
