//! Responses of the simulated provider: replies, streams and error bodies in either format.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode};

use crate::body::SimBody;
use crate::format::{ChatRequest, Format, Invalid};
use crate::handler::{ConnectionDropped, HandlerResult};
use crate::reply::{Reply, ReplyOptions};
use crate::script::{Action, Step};
use crate::state::Shared;
use crate::{anthropic, openai};

/// Builds the response of a scripted step, or drops the connection.
pub(crate) fn respond(
    shared: &Shared,
    format: Format,
    chat: &ChatRequest,
    step: &Step,
    sequence: u64,
) -> HandlerResult {
    let mut response = match &step.action {
        Action::DropConnection => return Err(ConnectionDropped),
        Action::Error { .. } => error_response(format, step, sequence),
        Action::StreamError { .. } if !chat.stream => error_response(format, step, sequence),
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
        Action::Reply | Action::Cut { .. } | Action::StreamError { .. } => {
            let options = ReplyOptions {
                text: step.text.as_deref(),
                usage: step.usage,
                default_tokens: shared.options.reply_tokens,
            };
            let reply = Reply::generate(chat, options, sequence, unix_seconds());
            let ending = match &step.action {
                Action::Cut { after_events } => Ending::Cut(*after_events),
                Action::StreamError {
                    after_events,
                    status,
                    error_type,
                } => {
                    let error = error_json(
                        format,
                        status.as_u16(),
                        error_type.as_deref(),
                        step.message.as_deref(),
                        sequence,
                    );
                    let event = match format {
                        Format::Anthropic => anthropic::error_event(&error),
                        Format::OpenAi => openai::error_event(&error),
                    };
                    Ending::Error(*after_events, event)
                }
                _ => Ending::Complete,
            };
            reply_response(format, chat, &reply, step, ending, sequence)
        }
    };
    for (name, value) in &step.headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    Ok(response)
}

/// Ending of a successful reply.
enum Ending {
    Complete,
    /// The connection closes after this many events, or half the JSON body.
    Cut(usize),
    /// A stream sends this many events, then this error event, and ends.
    Error(usize, Bytes),
}

fn reply_response(
    format: Format,
    chat: &ChatRequest,
    reply: &Reply,
    step: &Step,
    ending: Ending,
    sequence: u64,
) -> Response<SimBody> {
    if chat.stream {
        let mut events = match format {
            Format::Anthropic => anthropic::stream_events(reply),
            Format::OpenAi => openai::stream_events(reply, chat.stream_usage),
        };
        let body = match ending {
            Ending::Complete => SimBody::frames(events, step.event_interval),
            Ending::Cut(after) => SimBody::frames(events, step.event_interval).cut_after(after),
            Ending::Error(after, error_event) => {
                events.truncate(after);
                events.push(error_event);
                SimBody::frames(events, step.event_interval)
            }
        };
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
    let Ending::Cut(_) = ending else {
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
pub(crate) fn error_response(format: Format, step: &Step, sequence: u64) -> Response<SimBody> {
    let (status, error_type) = match &step.action {
        Action::Error { status, error_type }
        | Action::StreamError {
            status, error_type, ..
        } => (*status, error_type.as_deref()),
        _ => unreachable!("error_response is called only for error steps"),
    };
    let json = error_json(
        format,
        status.as_u16(),
        error_type,
        step.message.as_deref(),
        sequence,
    );
    json_response(format, status, Bytes::from(json.to_string()), sequence)
}

fn error_json(
    format: Format,
    status: u16,
    error_type: Option<&str>,
    message: Option<&str>,
    sequence: u64,
) -> serde_json::Value {
    match format {
        Format::Anthropic => anthropic::error_body(status, error_type, message, sequence),
        Format::OpenAi => openai::error_body(status, error_type, message, None),
    }
}

/// Builds the format's error response for a request that failed a check.
pub(crate) fn invalid_response(
    format: Format,
    invalid: &Invalid,
    sequence: u64,
) -> Response<SimBody> {
    let message = Some(invalid.message.as_str());
    let json = match format {
        Format::Anthropic => anthropic::error_body(invalid.status, None, message, sequence),
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
