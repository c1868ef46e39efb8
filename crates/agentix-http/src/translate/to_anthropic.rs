//! Translation of an OpenAI Chat Completions body into an Anthropic Messages body.

use serde_json::{json, Map, Value};

use super::{
    boolean, no_equivalent, number, present, strings, text_block, token_limit, unsupported,
    Unsupported,
};

/// The maximum `temperature` the Anthropic Messages API accepts; OpenAI accepts up to 2.
const ANTHROPIC_MAX_TEMPERATURE: f64 = 1.0;

/// Translates an OpenAI body into an Anthropic body for `model`.
pub(super) fn openai_body_to_anthropic(
    body: &Map<String, Value>,
    model: &str,
) -> Result<Value, Unsupported> {
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
