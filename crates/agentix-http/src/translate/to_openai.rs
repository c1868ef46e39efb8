//! Translation of an Anthropic Messages body into an OpenAI Chat Completions body.

use serde_json::{json, Map, Value};

use super::{
    boolean, no_equivalent, number, present, strings, text_block, token_limit, unsupported,
    Unsupported,
};

/// The maximum number of stop sequences the OpenAI Chat Completions API accepts.
const OPENAI_MAX_STOP: usize = 4;

/// Translates an Anthropic body into an OpenAI body for `model`.
pub(super) fn anthropic_body_to_openai(
    body: &Map<String, Value>,
    model: &str,
) -> Result<Value, Unsupported> {
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
