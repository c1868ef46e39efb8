//! One exchange of [`HttpClient`](crate::HttpClient): send the request, then read a buffered
//! body in full or a stream up to its first content event.

use std::future::poll_fn;
use std::time::Duration;

use agentix_core::BoxError;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::response::Parts;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde::Deserialize;

use super::error::{describe_target, TransportError, TransportErrorKind};
use crate::stream::{EarlyStreamError, Prelude, SseBody};
use crate::LlmBody;

pub(super) type HyperClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Limits of one exchange.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_response_bytes: usize,
    pub(super) stream_idle_timeout: Option<Duration>,
}

/// Sends `request` and reads its response as far as the client reads before returning it.
pub(super) async fn exchange(
    client: HyperClient,
    request: Request<Bytes>,
    limits: Limits,
) -> Result<Response<LlmBody>, BoxError> {
    let method = request.method().clone();
    let uri = request.uri().clone();
    // A reference-count increment; the body is parsed only when the response does not say
    // whether it streams.
    let request_body = request.body().clone();

    let response = match client.request(request.map(Full::new)).await {
        Ok(response) => response,
        Err(error) => {
            let kind = super::send_error_kind(&error);
            let target = describe_target(&method, &uri);
            return Err(TransportError::new(kind, target, Some(Box::new(error))).into());
        }
    };
    let (parts, body) = response.into_parts();

    if parts.status.is_success() && is_event_stream(&parts.headers, &request_body) {
        return read_prelude(parts, body, limits).await;
    }
    match Limited::new(body, limits.max_response_bytes)
        .collect()
        .await
    {
        Ok(collected) => Ok(Response::from_parts(
            parts,
            LlmBody::full(collected.to_bytes()),
        )),
        Err(error) if parts.status.is_success() && error.is::<LengthLimitError>() => {
            Err(TransportError::body_too_large(
                describe_target(&method, &uri),
                parts.status,
                Some(error),
            )
            .into())
        }
        Err(error) => Err(TransportError::new(
            TransportErrorKind::BodyRead,
            describe_target(&method, &uri),
            Some(error),
        )
        .into()),
    }
}

/// Reads a stream up to its first content event; see [`crate::stream`].
async fn read_prelude(
    mut parts: Parts,
    body: Incoming,
    limits: Limits,
) -> Result<Response<LlmBody>, BoxError> {
    let body = body.map_err(BoxError::from).boxed();
    let mut stream = SseBody::new(body, limits.stream_idle_timeout, limits.max_response_bytes);
    match poll_fn(|cx| stream.poll_prelude(cx)).await {
        Ok(Prelude::Streaming) => Ok(Response::from_parts(parts, LlmBody::from_stream(stream))),
        Ok(Prelude::ErrorBeforeContent(event)) => {
            tracing::debug!(
                error_type = %event.error_type,
                "stream sent an error event before any content"
            );
            let marker = EarlyStreamError {
                error_type: event.error_type.clone(),
                status_received: parts.status,
            };
            parts.status = event.status();
            parts.headers.remove(TRANSFER_ENCODING);
            parts
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(event.body.len()));
            parts.extensions.insert(marker);
            Ok(Response::from_parts(parts, LlmBody::full(event.body)))
        }
        Err(error) => {
            tracing::debug!(error = %error, "stream failed before any content");
            Err(error.into())
        }
    }
}

/// Returns whether a successful response streams: its content type is `text/event-stream`,
/// or it has no JSON content type and the request set `"stream": true`.
fn is_event_stream(headers: &HeaderMap, request_body: &Bytes) -> bool {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim());
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case("text/event-stream") => true,
        Some(media_type) if is_json(media_type) => false,
        _ => requests_stream(request_body),
    }
}

fn is_json(media_type: &str) -> bool {
    let lower = media_type.to_ascii_lowercase();
    lower == "application/json" || lower.ends_with("+json")
}

/// Returns whether a JSON request body sets `"stream": true`.
fn requests_stream(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct StreamFlag {
        #[serde(default)]
        stream: Option<bool>,
    }
    serde_json::from_slice::<StreamFlag>(body)
        .ok()
        .and_then(|flag| flag.stream)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn event_stream_content_type_streams() {
        let plain = Bytes::from_static(b"{\"model\":\"m\"}");
        for value in [
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "Text/Event-Stream",
        ] {
            assert!(is_event_stream(&headers(Some(value)), &plain), "{value}");
        }
    }

    #[test]
    fn stream_flag_decides_without_json_content_type() {
        let streamed = Bytes::from_static(b"{\"model\":\"m\",\"stream\":true}");
        let plain = Bytes::from_static(b"{\"model\":\"m\",\"stream\":false}");
        assert!(is_event_stream(&headers(None), &streamed));
        assert!(is_event_stream(&headers(Some("text/plain")), &streamed));
        assert!(!is_event_stream(&headers(None), &plain));
        assert!(!is_event_stream(
            &headers(Some("application/json")),
            &streamed
        ));
        assert!(!is_event_stream(
            &headers(Some("application/problem+json")),
            &streamed
        ));
    }

    #[test]
    fn stream_flag_ignores_other_bodies() {
        for body in [
            "",
            "not json",
            "[]",
            "{\"stream\":\"true\"}",
            "{\"stream\":null}",
        ] {
            assert!(!requests_stream(body.as_bytes()), "{body:?}");
        }
    }
}
