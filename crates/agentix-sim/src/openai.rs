//! OpenAI Chat Completions wire format: request checks, reply bodies, error bodies and chunks.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::format::{self, ChatRequest, Invalid};
use crate::reply::Reply;

/// Header that carries the request id on every response.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// Message of the scripted context-length error.
pub(crate) const CONTEXT_LENGTH_EXCEEDED: &str = "This model's maximum context length is 128000 \
    tokens. However, your messages resulted in 250000 tokens. Please reduce the length of the \
    messages.";

pub(crate) fn request_id(sequence: u64) -> String {
    format!("req_sim{sequence:024x}")
}

/// Checks the fields Chat Completions requires besides `model`.
///
/// `messages` is required and a list. The generation cap is `max_completion_tokens`, or
/// the older `max_tokens` when that is absent, and either must be a non-negative integer.
/// `stream_options.include_usage` requests a final chunk with the usage.
pub(crate) fn parse(body: &Value, model: &str) -> Result<ChatRequest, Invalid> {
    format::require_messages(body)?;
    let max_tokens = match format::optional_u64(body, "max_completion_tokens")? {
        Some(limit) => Some(limit),
        None => format::optional_u64(body, "max_tokens")?,
    };
    let stream_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatRequest {
        model: model.to_owned(),
        max_tokens,
        input_tokens: format::estimate_input_tokens(body),
        stream: format::stream_flag(body)?,
        stream_usage,
    })
}

/// Error a request without a string `model` gets.
pub(crate) fn missing_model() -> Invalid {
    Invalid::bad_request("you must provide a model parameter", None)
}

fn completion_id(reply: &Reply) -> String {
    format!("chatcmpl-sim{:016x}", reply.sequence)
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.truncated {
        "length"
    } else {
        "stop"
    }
}

fn usage(reply: &Reply) -> Value {
    json!({
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens.saturating_add(reply.output_tokens),
    })
}

/// Renders a complete, non-streaming `chat.completion` body.
pub(crate) fn completion_body(reply: &Reply) -> Value {
    json!({
        "id": completion_id(reply),
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.text, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason(reply),
        }],
        "usage": usage(reply),
    })
}

/// Renders the server-sent events of a streamed reply, one `Bytes` per event.
///
/// A first chunk carries the role, then one chunk per text piece, a chunk with the finish
/// reason, a usage chunk with empty `choices` when `include_usage` is set, and `[DONE]`.
pub(crate) fn stream_events(reply: &Reply, include_usage: bool) -> Vec<Bytes> {
    let chunk = |delta: Value, finish_reason: Value| {
        let mut chunk = json!({
            "id": completion_id(reply),
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        data(&chunk)
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in reply.text_chunks() {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!(finish_reason(reply))));
    if include_usage {
        events.push(data(&json!({
            "id": completion_id(reply),
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "choices": [],
            "usage": usage(reply),
        })));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// Renders an error as a `data:` event, which ends a stream without `[DONE]`.
pub(crate) fn error_event(error: &Value) -> Bytes {
    data(error)
}

fn data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// Renders an error body `{"error":{"message":..,"type":..,"param":..,"code":..}}`.
///
/// `error_type` may name an error `code` the API uses: `context_length_exceeded`,
/// `rate_limit_exceeded`, `insufficient_quota`, `invalid_api_key`, `model_not_found` or
/// `service_unavailable`. Such a name sets both the code and the type the API pairs with
/// it. Any other name becomes the `type`, with a null `code`. Without `error_type` the
/// type and code follow the status.
pub(crate) fn error_body(
    status: u16,
    error_type: Option<&str>,
    message: Option<&str>,
    param: Option<&str>,
) -> Value {
    let (error_type, code, default_message): (&str, Option<&str>, &str) = match error_type {
        None => pair_for_status(status),
        Some(name) => known_code(name).unwrap_or((name, None, "Simulated error.")),
    };
    let param = match (param, code) {
        (Some(param), _) => Some(param),
        (None, Some("context_length_exceeded")) => Some("messages"),
        (None, _) => None,
    };
    json!({
        "error": {
            "message": message.unwrap_or(default_message),
            "type": error_type,
            "param": param,
            "code": code,
        },
    })
}

type ErrorPair = (&'static str, Option<&'static str>, &'static str);

fn known_code(code: &str) -> Option<ErrorPair> {
    let pair = match code {
        "context_length_exceeded" => (
            "invalid_request_error",
            Some("context_length_exceeded"),
            CONTEXT_LENGTH_EXCEEDED,
        ),
        "rate_limit_exceeded" => (
            "requests",
            Some("rate_limit_exceeded"),
            "Rate limit reached for requests per minute. Please try again later.",
        ),
        "insufficient_quota" => (
            "insufficient_quota",
            Some("insufficient_quota"),
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        "invalid_api_key" => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided.",
        ),
        "model_not_found" => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        "service_unavailable" => (
            "server_error",
            Some("service_unavailable"),
            "The server is overloaded or not ready yet.",
        ),
        _ => return None,
    };
    Some(pair)
}

/// Type, code and message the API pairs with `status`.
fn pair_for_status(status: u16) -> ErrorPair {
    let code = match status {
        401 => "invalid_api_key",
        404 => "model_not_found",
        429 => "rate_limit_exceeded",
        503 => "service_unavailable",
        _ => "",
    };
    if let Some(pair) = known_code(code) {
        return pair;
    }
    match status {
        403 => (
            "invalid_request_error",
            None,
            "The API key has no permission to use this resource.",
        ),
        413 => ("invalid_request_error", None, "Request too large."),
        500..=599 => (
            "server_error",
            None,
            "The server had an error while processing the request.",
        ),
        _ => ("invalid_request_error", None, "The request is invalid."),
    }
}
