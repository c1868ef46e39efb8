//! Anthropic Messages wire format: request checks, reply bodies, error bodies and events.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::format::{self, ChatRequest, Invalid};
use crate::reply::Reply;

/// Header that carries the request id on every response.
pub(crate) const REQUEST_ID_HEADER: &str = "request-id";

/// Message of the scripted context-length error, as the API words it.
pub(crate) const PROMPT_TOO_LONG: &str = "prompt is too long: 250000 tokens > 200000 maximum";

pub(crate) fn request_id(sequence: u64) -> String {
    format!("req_sim{sequence:016x}")
}

/// Checks the fields the Messages API requires besides `model`.
///
/// `max_tokens` is required and at least 1, `messages` is required and a list, and
/// `stream` is a boolean when present.
pub(crate) fn parse(body: &Value, model: &str) -> Result<ChatRequest, Invalid> {
    format::require_messages(body)?;
    let max_tokens = match format::optional_u64(body, "max_tokens")? {
        None => {
            return Err(Invalid::bad_request(
                "max_tokens: Field required",
                Some("max_tokens"),
            ))
        }
        Some(0) => {
            return Err(Invalid::bad_request(
                "max_tokens: Input should be greater than or equal to 1",
                Some("max_tokens"),
            ))
        }
        Some(limit) => limit,
    };
    Ok(ChatRequest {
        model: model.to_owned(),
        max_tokens: Some(max_tokens),
        input_tokens: format::estimate_input_tokens(body),
        stream: format::stream_flag(body)?,
        stream_usage: true,
    })
}

/// Message of the error a request without a string `model` gets.
pub(crate) fn missing_model() -> Invalid {
    Invalid::bad_request("model: Field required", Some("model"))
}

fn message_id(reply: &Reply) -> String {
    format!("msg_sim{:016x}", reply.sequence)
}

fn stop_reason(reply: &Reply) -> &'static str {
    if reply.truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn usage(input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// Renders a complete, non-streaming Messages response body.
pub(crate) fn message_body(reply: &Reply) -> Value {
    json!({
        "id": message_id(reply),
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": stop_reason(reply),
        "stop_sequence": null,
        "usage": usage(reply.input_tokens, reply.output_tokens),
    })
}

/// Renders the server-sent events of a streamed reply, one `Bytes` per event.
///
/// The order is the API's: `message_start` (input usage), `content_block_start`, `ping`,
/// one `content_block_delta` per text chunk, `content_block_stop`, `message_delta` (stop
/// reason and output usage) and `message_stop`.
pub(crate) fn stream_events(reply: &Reply) -> Vec<Bytes> {
    let start_usage = usage(reply.input_tokens, reply.output_tokens.min(1));
    let mut events = vec![
        event(
            "message_start",
            &json!({
                "type": "message_start",
                "message": {
                    "id": message_id(reply),
                    "type": "message",
                    "role": "assistant",
                    "model": reply.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": start_usage,
                },
            }),
        ),
        event(
            "content_block_start",
            &json!({
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for chunk in reply.text_chunks() {
        events.push(event(
            "content_block_delta",
            &json!({
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": chunk},
            }),
        ));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
            "usage": {"output_tokens": reply.output_tokens},
        }),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    events
}

/// Renders an `error` event, which the API sends in place of the rest of a stream.
pub(crate) fn error_event(error: &Value) -> Bytes {
    event("error", error)
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Renders an error body `{"type":"error","error":{"type":..,"message":..},"request_id":..}`.
///
/// `request_id` repeats the `request-id` header, as the API does.
/// Without `error_type` the type follows the status as the API documents it. The type
/// `context_length_exceeded` is the sim's name for the API's prompt-too-long error: it
/// renders as `invalid_request_error` with the API's message.
pub(crate) fn error_body(
    status: u16,
    error_type: Option<&str>,
    message: Option<&str>,
    sequence: u64,
) -> Value {
    let (error_type, default_message) = match error_type {
        Some("context_length_exceeded") => ("invalid_request_error", PROMPT_TOO_LONG),
        Some(error_type) => (error_type, default_message(error_type)),
        None => {
            let error_type = type_for_status(status);
            (error_type, default_message(error_type))
        }
    };
    json!({
        "type": "error",
        "error": {
            "type": error_type,
            "message": message.unwrap_or(default_message),
        },
        "request_id": request_id(sequence),
    })
}

/// Returns the error type the API uses for `status`. Unlisted 5xx statuses map to
/// `api_error` and other unlisted statuses to `invalid_request_error`.
pub(crate) fn type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn default_message(error_type: &str) -> &'static str {
    match error_type {
        "invalid_request_error" => "The request is invalid.",
        "authentication_error" => "invalid x-api-key",
        "billing_error" => "The billing details of the organization need attention.",
        "permission_error" => "The API key has no permission to use this resource.",
        "not_found_error" => "Not found.",
        "request_too_large" => "Request exceeds the maximum allowed number of bytes.",
        "rate_limit_error" => "This request would exceed the rate limit of the organization.",
        "timeout_error" => "The request timed out while processing.",
        "overloaded_error" => "Overloaded",
        "api_error" => "Internal server error.",
        _ => "Simulated error.",
    }
}
