//! Translation of requests between the Anthropic Messages and OpenAI Chat Completions
//! formats, so that a call can fall back to a model of the other provider.
//!
//! [`anthropic_to_openai`] and [`openai_to_anthropic`] read a request's JSON body and build
//! a new request in the other format with [`crate::anthropic::messages_request`] or
//! [`crate::openai::chat_request`]. The new request has the other provider's URL and
//! credentials, the target model, and the original request's extensions (a tenant, say).
//! Other headers of the original, such as `anthropic-beta`, are not carried over.
//!
//! # What is translated
//!
//! | Anthropic Messages | OpenAI Chat Completions |
//! |---|---|
//! | top-level `system` (string or text blocks) | leading `system` or `developer` messages |
//! | `messages` with `user`/`assistant` roles, string or `text` block content | `messages` with string or `text` part content |
//! | `max_tokens` | `max_completion_tokens` (or the older `max_tokens`) |
//! | `temperature`, `top_p` | `temperature` (at most 1 for Anthropic), `top_p` |
//! | `stop_sequences` | `stop` (a string or at most 4 strings for OpenAI) |
//! | `stream` | `stream`, with `stream_options.include_usage` set for OpenAI |
//! | `metadata.user_id` | `user` |
//!
//! A field set to `null` counts as absent. The `cache_control` of a text block is dropped,
//! because it only affects prompt caching and billing.
//!
//! # Errors
//!
//! Anything else is rejected with a [`TranslateError`] naming the field, rather than
//! dropped, because a request without its tools, images or sampling settings would ask
//! the other model for something else. Rejected are tool use and tool results, images
//! and documents, extended thinking, `top_k`, `response_format`, penalties, `n` above 1,
//! and any field this module does not know.

use bytes::Bytes;
use http::Request;
use serde_json::{Map, Value};

use crate::provider::BuildRequestError;
use crate::Provider;

mod to_anthropic;
mod to_openai;

/// A request that could not be translated into the other provider's format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranslateError {
    /// The request body is not a JSON object.
    #[error("cannot translate the {from} request: the body is not a JSON object ({reason})")]
    InvalidBody {
        /// The format of the request.
        from: Provider,
        /// The parse error.
        reason: String,
    },
    /// A field has no equivalent in the other format, or a value the other format rejects.
    #[error("cannot translate the {from} request to {to}: `{field}` {reason}")]
    Unsupported {
        /// The format of the request.
        from: Provider,
        /// The format it was to be translated into.
        to: Provider,
        /// The path of the field, such as `messages[1].content[0].type`.
        field: String,
        /// The problem with the field, as a clause that follows its name.
        reason: String,
    },
    /// The translated request could not be built (an invalid base URL or API key, say).
    #[error("cannot build the translated request: {0}")]
    Build(#[from] BuildRequestError),
}

/// A field that cannot be translated, before the direction is known.
pub(super) struct Unsupported {
    field: String,
    reason: String,
}

pub(super) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Unsupported {
    Unsupported {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Builds an OpenAI Chat Completions request for `model` from an Anthropic Messages
/// request.
///
/// # Errors
///
/// Returns [`TranslateError::Unsupported`] naming the first field that cannot be
/// translated (see the [module docs](self)), [`TranslateError::InvalidBody`] when the body
/// is not a JSON object, and [`TranslateError::Build`] for an invalid base URL or key.
///
/// # Examples
///
/// ```
/// use agentix_http::{anthropic, translate};
///
/// let body = serde_json::json!({
///     "model": "claude-sonnet-4-5",
///     "system": "Answer briefly.",
///     "max_tokens": 256,
///     "messages": [{"role": "user", "content": "Hello"}],
/// });
/// let request = anthropic::messages_request("https://api.anthropic.com", "sk-ant", &body)?;
///
/// let openai = translate::anthropic_to_openai(&request, "gpt-4o", "https://api.openai.com", "sk-oai")?;
///
/// assert_eq!(openai.uri(), "https://api.openai.com/v1/chat/completions");
/// let sent: serde_json::Value = serde_json::from_slice(openai.body())?;
/// assert_eq!(sent["messages"][0], serde_json::json!({"role": "system", "content": "Answer briefly."}));
/// assert_eq!(sent["max_completion_tokens"], 256);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn anthropic_to_openai(
    request: &Request<Bytes>,
    model: &str,
    base_url: &str,
    api_key: &str,
) -> Result<Request<Bytes>, TranslateError> {
    let (from, to) = (Provider::Anthropic, Provider::OpenAi);
    let body = parse_object(request.body(), from)?;
    let translated = to_openai::anthropic_body_to_openai(&body, model)
        .map_err(|error| error.into_translate(from, to))?;
    let mut built = crate::openai::chat_request(base_url, api_key, &translated)?;
    *built.extensions_mut() = request.extensions().clone();
    Ok(built)
}

/// Builds an Anthropic Messages request for `model` from an OpenAI Chat Completions
/// request.
///
/// # Errors
///
/// Returns [`TranslateError::Unsupported`] naming the first field that cannot be
/// translated (see the [module docs](self)), including a request without
/// `max_completion_tokens` or `max_tokens`, which Anthropic requires.
/// [`TranslateError::InvalidBody`] when the body is not a JSON object, and
/// [`TranslateError::Build`] for an invalid base URL or key.
pub fn openai_to_anthropic(
    request: &Request<Bytes>,
    model: &str,
    base_url: &str,
    api_key: &str,
) -> Result<Request<Bytes>, TranslateError> {
    let (from, to) = (Provider::OpenAi, Provider::Anthropic);
    let body = parse_object(request.body(), from)?;
    let translated = to_anthropic::openai_body_to_anthropic(&body, model)
        .map_err(|error| error.into_translate(from, to))?;
    let mut built = crate::anthropic::messages_request(base_url, api_key, &translated)?;
    *built.extensions_mut() = request.extensions().clone();
    Ok(built)
}

impl Unsupported {
    fn into_translate(self, from: Provider, to: Provider) -> TranslateError {
        TranslateError::Unsupported {
            from,
            to,
            field: self.field,
            reason: self.reason,
        }
    }
}

fn parse_object(body: &[u8], from: Provider) -> Result<Map<String, Value>, TranslateError> {
    serde_json::from_slice(body).map_err(|error| TranslateError::InvalidBody {
        from,
        reason: error.to_string(),
    })
}

/// Returns the text of a `{"type": "text", "text": ..}` block or part whose other keys are
/// among `droppable`.
pub(super) fn text_block<'a>(
    block: &'a Value,
    path: &str,
    droppable: &[&str],
) -> Result<&'a str, Unsupported> {
    let object = block
        .as_object()
        .ok_or_else(|| unsupported(path, "is not an object"))?;
    match object.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some(other) => {
            return Err(unsupported(
                format!("{path}.type"),
                format!("is `{other}`, and only text content can be translated"),
            ))
        }
        None => return Err(unsupported(format!("{path}.type"), "is missing")),
    }
    let extra = object
        .keys()
        .find(|key| !matches!(key.as_str(), "type" | "text") && !droppable.contains(&key.as_str()));
    if let Some(key) = extra {
        return Err(unsupported(format!("{path}.{key}"), "cannot be translated"));
    }
    object
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| unsupported(format!("{path}.text"), "is not a string"))
}

/// Returns the field's value unless it is absent or `null`.
pub(super) fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

pub(super) fn no_equivalent(field: &str, format: &str) -> Unsupported {
    unsupported(field, format!("has no {format} equivalent"))
}

pub(super) fn token_limit(value: &Value, field: &str) -> Result<Value, Unsupported> {
    match value.as_u64() {
        Some(limit) => Ok(limit.into()),
        None => Err(unsupported(field, "is not a non-negative integer")),
    }
}

pub(super) fn number(value: &Value, field: &str) -> Result<Value, Unsupported> {
    if value.is_number() {
        Ok(value.clone())
    } else {
        Err(unsupported(field, "is not a number"))
    }
}

pub(super) fn boolean(value: &Value, field: &str) -> Result<bool, Unsupported> {
    value
        .as_bool()
        .ok_or_else(|| unsupported(field, "is not a boolean"))
}

pub(super) fn strings(value: &Value, field: &str) -> Result<Vec<String>, Unsupported> {
    let items = value
        .as_array()
        .ok_or_else(|| unsupported(field, "is not an array of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| unsupported(format!("{field}[{index}]"), "is not a string"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
