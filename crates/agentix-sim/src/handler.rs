//! Handling of one HTTP request: routing, checks, the scripted step and the response.

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderValue, ALLOW};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::body::SimBody;
use crate::format::{Format, Invalid};
use crate::response::{error_response, invalid_response, respond};
use crate::script::Step;
use crate::state::Shared;
use crate::{anthropic, openai};

/// Error returned to hyper to close the connection without a response.
#[derive(Debug)]
pub(crate) struct ConnectionDropped;

impl fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by the simulation script")
    }
}

impl std::error::Error for ConnectionDropped {}

pub(crate) type HandlerResult = Result<Response<SimBody>, ConnectionDropped>;

/// Handles one request and builds its response.
///
/// A failed check gets the format's error and consumes no scripted step. The checks run
/// in this order: known path (404), POST (405), body size (413), JSON object (400),
/// `model` (400), the API key when the server requires one (401), and the format's
/// required fields (400).
///
/// Every request counts towards the total. A request that names its model also counts
/// for that model and becomes its last request.
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> HandlerResult {
    let sequence = shared.next_sequence();
    let (parts, body) = request.into_parts();
    let Some(format) = Format::from_path(parts.uri.path()) else {
        shared.count_anonymous();
        let format = guess_format(&parts.headers);
        let message = match format {
            Format::Anthropic => "Not found.".to_owned(),
            Format::OpenAi => format!("Invalid URL ({} {})", parts.method, parts.uri.path()),
        };
        let invalid = Invalid {
            status: 404,
            message,
            param: None,
        };
        return Ok(invalid_response(format, &invalid, sequence));
    };
    if parts.method != Method::POST {
        shared.count_anonymous();
        let invalid = Invalid {
            status: 405,
            message: format!("Method {} is not allowed. Use POST.", parts.method),
            param: None,
        };
        let mut response = invalid_response(format, &invalid, sequence);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }

    let body = match Limited::new(body, shared.options.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            shared.count_anonymous();
            let invalid = Invalid {
                status: 413,
                message: format!(
                    "Request body exceeds the maximum size of {} bytes.",
                    shared.options.max_body_bytes
                ),
                param: None,
            };
            return Ok(invalid_response(format, &invalid, sequence));
        }
        // The client disconnected while sending the body, so no response can be sent.
        Err(error) => {
            tracing::debug!(%error, "simulated provider failed to read a request body");
            return Err(ConnectionDropped);
        }
    };

    let json = match serde_json::from_slice::<Value>(&body) {
        Ok(json @ Value::Object(_)) => json,
        Ok(_) => {
            shared.count_anonymous();
            let invalid = Invalid::bad_request("The request body must be a JSON object.", None);
            return Ok(invalid_response(format, &invalid, sequence));
        }
        Err(error) => {
            shared.count_anonymous();
            let invalid =
                Invalid::bad_request(format!("The request body is not valid JSON: {error}"), None);
            return Ok(invalid_response(format, &invalid, sequence));
        }
    };
    let Some(model) = json.get("model").and_then(Value::as_str) else {
        shared.count_anonymous();
        let invalid = match format {
            Format::Anthropic => anthropic::missing_model(),
            Format::OpenAi => openai::missing_model(),
        };
        return Ok(invalid_response(format, &invalid, sequence));
    };
    shared.record(format, model, &parts, &body);

    if let Some(expected) = shared.options.api_key.as_deref() {
        if let Err(error_type) = check_api_key(format, &parts.headers, expected) {
            let step = Step::error_typed(401, error_type);
            return Ok(error_response(format, &step, sequence));
        }
    }
    let parsed = match format {
        Format::Anthropic => anthropic::parse(&json, model),
        Format::OpenAi => openai::parse(&json, model),
    };
    let chat = match parsed {
        Ok(chat) => chat,
        Err(invalid) => return Ok(invalid_response(format, &invalid, sequence)),
    };

    let step = shared.next_step(model);
    let latency = shared.options.default_latency + step.latency;
    tracing::debug!(
        model,
        step = step.action.name(),
        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        "simulated provider runs a scripted step"
    );
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    respond(&shared, format, &chat, &step, sequence)
}

/// Chooses the error format for an unknown path: Anthropic when the request carries
/// Anthropic's headers, OpenAI otherwise.
fn guess_format(headers: &http::HeaderMap) -> Format {
    if headers.contains_key("anthropic-version") || headers.contains_key("x-api-key") {
        Format::Anthropic
    } else {
        Format::OpenAi
    }
}

/// Compares the request's credential with `expected` and returns the error type to send
/// on a mismatch.
fn check_api_key(
    format: Format,
    headers: &http::HeaderMap,
    expected: &str,
) -> Result<(), &'static str> {
    let presented = match format {
        Format::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()),
        Format::OpenAi => headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ")),
    };
    match (presented == Some(expected), format) {
        (true, _) => Ok(()),
        (false, Format::Anthropic) => Err("authentication_error"),
        (false, Format::OpenAi) => Err("invalid_api_key"),
    }
}
