//! Handling of one HTTP request: routing, checks, the scripted step and the response.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::body::SimBody;
use crate::format::{ChatRequest, Format, Invalid};
use crate::reply::{Reply, ReplyOptions};
use crate::script::{Action, Step};
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

type HandlerResult = Result<Response<SimBody>, ConnectionDropped>;

/// Answers one request.
///
/// Checks run in this order, and a failed check answers with the format's error without
/// consuming a scripted step: known path (404), POST (405), body size (413), JSON object
/// (400), `model` (400), API key when the server requires one (401), the format's required
/// fields (400). Every request counts towards the total; one that names its model also
/// counts for that model and becomes its last request.
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
            message: format!("Method {} is not allowed; use POST.", parts.method),
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
        // The client went away while sending the body: there is no one to answer.
        Err(_) => return Err(ConnectionDropped),
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

/// Compares the request's credential with `expected`; on mismatch returns the error type
/// to send.
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

fn respond(
    shared: &Shared,
    format: Format,
    chat: &ChatRequest,
    step: &Step,
    sequence: u64,
) -> HandlerResult {
    let mut response = match &step.action {
        Action::DropConnection => return Err(ConnectionDropped),
        Action::Error { .. } => error_response(format, step, sequence),
        Action::Raw {
            status,
            content_type,
            body,
        } => {
            let mut response = Response::new(SimBody::full(body.clone()));
            *response.status_mut() = *status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, content_type.clone());
            response
        }
        Action::Reply | Action::Cut { .. } => {
            let options = ReplyOptions {
                text: step.text.as_deref(),
                usage: step.usage,
                default_tokens: shared.options.reply_tokens,
            };
            let reply = Reply::generate(chat, options, sequence, unix_seconds());
            let cut_after = match step.action {
                Action::Cut { after_events } => Some(after_events),
                _ => None,
            };
            reply_response(format, chat, &reply, step, cut_after, sequence)
        }
    };
    for (name, value) in &step.headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    Ok(response)
}

fn reply_response(
    format: Format,
    chat: &ChatRequest,
    reply: &Reply,
    step: &Step,
    cut_after: Option<usize>,
    sequence: u64,
) -> Response<SimBody> {
    if chat.stream {
        let events = match format {
            Format::Anthropic => anthropic::stream_events(reply),
            Format::OpenAi => openai::stream_events(reply, chat.stream_usage),
        };
        let mut body = SimBody::frames(events, step.event_interval);
        if let Some(after) = cut_after {
            body = body.cut_after(after);
        }
        let mut response = with_request_id(format, Response::new(body), sequence);
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }

    let json = match format {
        Format::Anthropic => anthropic::message_body(reply),
        Format::OpenAi => openai::completion_body(reply),
    };
    let bytes = Bytes::from(json.to_string());
    let Some(_) = cut_after else {
        return json_response(format, StatusCode::OK, bytes, sequence);
    };
    // A cut JSON reply announces its full length and sends half of it.
    let full_length = bytes.len();
    let body = SimBody::frames(vec![bytes.slice(..full_length / 2)], step.event_interval);
    let mut response = with_request_id(format, Response::new(body.cut_after(1)), sequence);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(full_length));
    response
}

/// Builds the format's error response for an error step, including its message override.
fn error_response(format: Format, step: &Step, sequence: u64) -> Response<SimBody> {
    let Action::Error { status, error_type } = &step.action else {
        unreachable!("error_response is called only for error steps");
    };
    let (error_type, message) = (error_type.as_deref(), step.message.as_deref());
    let json = match format {
        Format::Anthropic => anthropic::error_body(status.as_u16(), error_type, message),
        Format::OpenAi => openai::error_body(status.as_u16(), error_type, message, None),
    };
    json_response(format, *status, Bytes::from(json.to_string()), sequence)
}

/// Builds the format's error response for a request that failed a check.
fn invalid_response(format: Format, invalid: &Invalid, sequence: u64) -> Response<SimBody> {
    let message = Some(invalid.message.as_str());
    let json = match format {
        Format::Anthropic => anthropic::error_body(invalid.status, None, message),
        // A failed check has no error code, whatever its status.
        Format::OpenAi => openai::error_body(
            invalid.status,
            Some("invalid_request_error"),
            message,
            invalid.param,
        ),
    };
    let status = StatusCode::from_u16(invalid.status).expect("check statuses are valid");
    json_response(format, status, Bytes::from(json.to_string()), sequence)
}

fn json_response(
    format: Format,
    status: StatusCode,
    body: Bytes,
    sequence: u64,
) -> Response<SimBody> {
    let mut response = Response::new(SimBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_request_id(format, response, sequence)
}

fn with_request_id(
    format: Format,
    mut response: Response<SimBody>,
    sequence: u64,
) -> Response<SimBody> {
    let (name, id) = match format {
        Format::Anthropic => (
            anthropic::REQUEST_ID_HEADER,
            anthropic::request_id(sequence),
        ),
        Format::OpenAi => (openai::REQUEST_ID_HEADER, openai::request_id(sequence)),
    };
    let value = HeaderValue::from_str(&id).expect("request ids are ASCII");
    response.headers_mut().insert(name, value);
    response
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
