//! The parts of a chat request and reply that both wire formats share.

use serde_json::Value;

/// Wire format of a request, chosen by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Anthropic Messages, `POST /v1/messages`.
    Anthropic,
    /// OpenAI Chat Completions, `POST /v1/chat/completions`.
    OpenAi,
}

impl Format {
    /// Path that serves this format.
    pub const fn path(self) -> &'static str {
        match self {
            Format::Anthropic => "/v1/messages",
            Format::OpenAi => "/v1/chat/completions",
        }
    }

    /// Returns the format served at `path`, if any.
    pub fn from_path(path: &str) -> Option<Format> {
        match path {
            "/v1/messages" => Some(Format::Anthropic),
            "/v1/chat/completions" => Some(Format::OpenAi),
            _ => None,
        }
    }
}

/// Fields of a valid chat request that the reply depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    /// Cap on generated tokens, when the request sets one.
    pub(crate) max_tokens: Option<u64>,
    pub(crate) input_tokens: u64,
    pub(crate) stream: bool,
    /// OpenAI `stream_options.include_usage`: a final chunk carries the usage.
    pub(crate) stream_usage: bool,
}

/// A request the provider rejects before any scripted step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) status: u16,
    pub(crate) message: String,
    /// Request field at fault, reported as OpenAI's `param`.
    pub(crate) param: Option<&'static str>,
}

impl Invalid {
    pub(crate) fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Invalid {
            status: 400,
            message: message.into(),
            param,
        }
    }
}

/// Estimates the input tokens of a request: a quarter of the characters of its message
/// text, rounded up, and at least 1.
///
/// The text counted is every string `content` and every `text` field of content blocks in
/// `messages`, plus `system` when it is present (Anthropic's top-level system prompt).
pub(crate) fn estimate_input_tokens(body: &Value) -> u64 {
    let mut chars = 0usize;
    if let Some(system) = body.get("system") {
        chars += content_chars(system);
    }
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for message in messages {
            if let Some(content) = message.get("content") {
                chars += content_chars(content);
            }
        }
    }
    tokens_for_chars(chars)
}

/// Converts a character count to tokens at four characters per token, at least 1.
pub(crate) fn tokens_for_chars(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

fn content_chars(content: &Value) -> usize {
    match content {
        Value::String(text) => text.chars().count(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .map(|text| text.chars().count())
            .sum(),
        _ => 0,
    }
}

/// Reads a non-negative integer field, distinguishing absent from invalid.
pub(crate) fn optional_u64(body: &Value, field: &'static str) -> Result<Option<u64>, Invalid> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            Invalid::bad_request(
                format!("{field}: Input should be a valid non-negative integer"),
                Some(field),
            )
        }),
    }
}

/// Reads the `stream` flag, which is false when absent.
pub(crate) fn stream_flag(body: &Value) -> Result<bool, Invalid> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(Invalid::bad_request(
            "stream: Input should be a valid boolean",
            Some("stream"),
        )),
    }
}

/// Checks that `messages` is present and an array.
pub(crate) fn require_messages(body: &Value) -> Result<(), Invalid> {
    match body.get("messages") {
        Some(Value::Array(_)) => Ok(()),
        None => Err(Invalid::bad_request(
            "messages: Field required",
            Some("messages"),
        )),
        Some(_) => Err(Invalid::bad_request(
            "messages: Input should be a valid list",
            Some("messages"),
        )),
    }
}
