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
use serde_json::{json, Map, Value};

use crate::provider::BuildRequestError;
use crate::Provider;

/// The maximum number of stop sequences the OpenAI Chat Completions API accepts.
const OPENAI_MAX_STOP: usize = 4;

/// The maximum `temperature` the Anthropic Messages API accepts; OpenAI accepts up to 2.
const ANTHROPIC_MAX_TEMPERATURE: f64 = 1.0;

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
struct Unsupported {
    field: String,
    reason: String,
}

fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Unsupported {
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
    let translated =
        anthropic_body_to_openai(&body, model).map_err(|error| error.into_translate(from, to))?;
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
    let translated =
        openai_body_to_anthropic(&body, model).map_err(|error| error.into_translate(from, to))?;
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

/// Translates an Anthropic body into an OpenAI body for `model`.
fn anthropic_body_to_openai(body: &Map<String, Value>, model: &str) -> Result<Value, Unsupported> {
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    let mut messages = Vec::new();

    if let Some(system) = present(body, "system") {
        let content = anthropic_content(system, "system")?;
        messages.push(json!({"role": "system", "content": content}));
    }
    let Some(input) = present(body, "messages") else {
        return Err(unsupported("messages", "is missing"));
    };
    let input = input
        .as_array()
        .ok_or_else(|| unsupported("messages", "is not an array"))?;
    for (index, message) in input.iter().enumerate() {
        messages.push(anthropic_message(message, index)?);
    }
    out.insert("messages".into(), Value::Array(messages));

    for (key, value) in body.iter().filter(|(_, value)| !value.is_null()) {
        match key.as_str() {
            "model" | "system" | "messages" => {}
            "max_tokens" => {
                out.insert("max_completion_tokens".into(), token_limit(value, key)?);
            }
            "temperature" | "top_p" => {
                out.insert(key.clone(), number(value, key)?);
            }
            "stop_sequences" => {
                let stops = strings(value, key)?;
                if stops.len() > OPENAI_MAX_STOP {
                    return Err(unsupported(
                        key.as_str(),
                        format!(
                            "has {} sequences, and OpenAI accepts at most {OPENAI_MAX_STOP}",
                            stops.len()
                        ),
                    ));
                }
                out.insert("stop".into(), Value::from(stops));
            }
            "stream" => {
                let stream = boolean(value, key)?;
                out.insert("stream".into(), stream.into());
                if stream {
                    // Without it, an OpenAI stream reports no usage for the token budget.
                    out.insert("stream_options".into(), json!({"include_usage": true}));
                }
            }
            "metadata" => {
                if let Some(user) = anthropic_metadata_user(value)? {
                    out.insert("user".into(), user.into());
                }
            }
            other => return Err(no_equivalent(other, "OpenAI Chat Completions")),
        }
    }
    Ok(Value::Object(out))
}

/// Translates an OpenAI body into an Anthropic body for `model`.
fn openai_body_to_anthropic(body: &Map<String, Value>, model: &str) -> Result<Value, Unsupported> {
    let mut out = Map::new();
    out.insert("model".into(), model.into());

    let Some(input) = present(body, "messages") else {
        return Err(unsupported("messages", "is missing"));
    };
    let input = input
        .as_array()
        .ok_or_else(|| unsupported("messages", "is not an array"))?;
    let (system, messages) = openai_messages(input)?;
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(messages));

    let limit = present(body, "max_completion_tokens")
        .map(|value| (value, "max_completion_tokens"))
        .or_else(|| present(body, "max_tokens").map(|value| (value, "max_tokens")));
    let Some((limit, field)) = limit else {
        return Err(unsupported(
            "max_completion_tokens",
            "is missing, and Anthropic requires `max_tokens`; set `max_completion_tokens`",
        ));
    };
    out.insert("max_tokens".into(), token_limit(limit, field)?);

    for (key, value) in body.iter().filter(|(_, value)| !value.is_null()) {
        match key.as_str() {
            "model" | "messages" | "max_completion_tokens" | "max_tokens" => {}
            "temperature" => {
                let temperature = number(value, key)?;
                if temperature
                    .as_f64()
                    .is_some_and(|t| t > ANTHROPIC_MAX_TEMPERATURE)
                {
                    return Err(unsupported(
                        key.as_str(),
                        format!("is {temperature}, above Anthropic's maximum of 1"),
                    ));
                }
                out.insert(key.clone(), temperature);
            }
            "top_p" => {
                out.insert(key.clone(), number(value, key)?);
            }
            "stop" => {
                let stops = match value {
                    Value::String(stop) => vec![stop.clone()],
                    other => strings(other, key)?,
                };
                out.insert("stop_sequences".into(), Value::from(stops));
            }
            "stream" => {
                out.insert("stream".into(), boolean(value, key)?.into());
            }
            // Anthropic streams always end with the usage, so the option is dropped.
            "stream_options" => check_stream_options(value)?,
            "n" if value.as_u64() == Some(1) => {}
            "n" => {
                return Err(unsupported(
                    "n",
                    format!("is {value}, and Anthropic returns one choice"),
                ))
            }
            "user" => {
                let user = value
                    .as_str()
                    .ok_or_else(|| unsupported("user", "is not a string"))?;
                out.insert("metadata".into(), json!({"user_id": user}));
            }
            other => return Err(no_equivalent(other, "Anthropic Messages")),
        }
    }
    Ok(Value::Object(out))
}

/// Translates one Anthropic message into an OpenAI message.
fn anthropic_message(message: &Value, index: usize) -> Result<Value, Unsupported> {
    let path = format!("messages[{index}]");
    let object = message
        .as_object()
        .ok_or_else(|| unsupported(path.as_str(), "is not an object"))?;
    let extra = object
        .iter()
        .find(|(key, value)| !matches!(key.as_str(), "role" | "content") && !value.is_null());
    if let Some((key, _)) = extra {
        return Err(unsupported(format!("{path}.{key}"), "cannot be translated"));
    }
    let role = match object.get("role").and_then(Value::as_str) {
        Some(role @ ("user" | "assistant")) => role,
        _ => {
            return Err(unsupported(
                format!("{path}.role"),
                "is not `user` or `assistant`",
            ))
        }
    };
    let content = object
        .get("content")
        .ok_or_else(|| unsupported(format!("{path}.content"), "is missing"))?;
    let content = anthropic_content(content, &format!("{path}.content"))?;
    Ok(json!({"role": role, "content": content}))
}

/// Translates Anthropic content (a string or text blocks) into OpenAI content (a string or
/// text parts).
fn anthropic_content(content: &Value, path: &str) -> Result<Value, Unsupported> {
    match content {
        Value::String(_) => Ok(content.clone()),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(index, block)| {
                let text = text_block(block, &format!("{path}[{index}]"), &["cache_control"])?;
                Ok(json!({"type": "text", "text": text}))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(unsupported(
            path,
            "is not a string or an array of content blocks",
        )),
    }
}

/// Returns the text of a `{"type": "text", "text": ..}` block or part whose other keys are
/// among `droppable`.
fn text_block<'a>(
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

/// Splits OpenAI messages into the Anthropic `system` value and the Anthropic messages.
///
/// Only leading `system` and `developer` messages can become the top-level system prompt.
fn openai_messages(input: &[Value]) -> Result<(Option<Value>, Vec<Value>), Unsupported> {
    let mut system_texts: Vec<String> = Vec::new();
    let mut messages = Vec::with_capacity(input.len());

    for (index, message) in input.iter().enumerate() {
        let path = format!("messages[{index}]");
        let object = message
            .as_object()
            .ok_or_else(|| unsupported(path.as_str(), "is not an object"))?;
        let extra = object
            .iter()
            .find(|(key, value)| !matches!(key.as_str(), "role" | "content") && !value.is_null());
        if let Some((key, _)) = extra {
            return Err(unsupported(format!("{path}.{key}"), "cannot be translated"));
        }
        let role = object.get("role").and_then(Value::as_str).unwrap_or("");
        let content_path = format!("{path}.content");
        let content = present(object, "content")
            .ok_or_else(|| unsupported(content_path.as_str(), "is missing"))?;

        match role {
            "system" | "developer" if messages.is_empty() => {
                system_texts.extend(openai_texts(content, &content_path)?);
            }
            "system" | "developer" => {
                return Err(unsupported(
                    format!("{path}.role"),
                    format!("is `{role}` after the conversation started, and Anthropic takes the system prompt only before it"),
                ))
            }
            "user" | "assistant" => {
                let content = match content {
                    Value::String(_) => content.clone(),
                    _ => {
                        let texts = openai_texts(content, &content_path)?;
                        Value::Array(texts.into_iter().map(|text| json!({"type": "text", "text": text})).collect())
                    }
                };
                messages.push(json!({"role": role, "content": content}));
            }
            other => {
                return Err(unsupported(
                    format!("{path}.role"),
                    format!("is `{other}`, and only `system`, `developer`, `user` and `assistant` messages can be translated"),
                ))
            }
        }
    }

    let system = match system_texts.len() {
        0 => None,
        1 => system_texts.pop().map(Value::String),
        _ => Some(Value::Array(
            system_texts
                .into_iter()
                .map(|text| json!({"type": "text", "text": text}))
                .collect(),
        )),
    };
    Ok((system, messages))
}

/// Returns the texts of OpenAI content: a string, or an array of text parts.
fn openai_texts(content: &Value, path: &str) -> Result<Vec<String>, Unsupported> {
    match content {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(index, part)| {
                text_block(part, &format!("{path}[{index}]"), &[]).map(str::to_owned)
            })
            .collect(),
        _ => Err(unsupported(
            path,
            "is not a string or an array of content parts",
        )),
    }
}

/// Returns the `user_id` of Anthropic `metadata`, which may have no other key.
fn anthropic_metadata_user(metadata: &Value) -> Result<Option<&str>, Unsupported> {
    let object = metadata
        .as_object()
        .ok_or_else(|| unsupported("metadata", "is not an object"))?;
    if let Some((key, _)) = object
        .iter()
        .find(|(key, value)| *key != "user_id" && !value.is_null())
    {
        return Err(unsupported(
            format!("metadata.{key}"),
            "cannot be translated",
        ));
    }
    match object.get("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(user)) => Ok(Some(user)),
        Some(_) => Err(unsupported("metadata.user_id", "is not a string")),
    }
}

fn check_stream_options(options: &Value) -> Result<(), Unsupported> {
    let object = options
        .as_object()
        .ok_or_else(|| unsupported("stream_options", "is not an object"))?;
    match object.keys().find(|key| *key != "include_usage") {
        Some(key) => Err(unsupported(
            format!("stream_options.{key}"),
            "cannot be translated",
        )),
        None => Ok(()),
    }
}

/// Returns the field's value unless it is absent or `null`.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn no_equivalent(field: &str, format: &str) -> Unsupported {
    unsupported(field, format!("has no {format} equivalent"))
}

fn token_limit(value: &Value, field: &str) -> Result<Value, Unsupported> {
    match value.as_u64() {
        Some(limit) => Ok(limit.into()),
        None => Err(unsupported(field, "is not a non-negative integer")),
    }
}

fn number(value: &Value, field: &str) -> Result<Value, Unsupported> {
    if value.is_number() {
        Ok(value.clone())
    } else {
        Err(unsupported(field, "is not a number"))
    }
}

fn boolean(value: &Value, field: &str) -> Result<bool, Unsupported> {
    value
        .as_bool()
        .ok_or_else(|| unsupported(field, "is not a boolean"))
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, Unsupported> {
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
#[path = "translate_tests.rs"]
mod tests;
