//! Outcome classification of LLM responses and transport errors.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::time::SystemTime;

use agentix_core::{rejection_of, BoxError, Classify, Failure, FailureKind, Outcome};
use http::{Response, StatusCode};
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::LlmAdapter;
use crate::{
    anthropic, hints, openai, LlmBody, StreamError, StreamErrorKind, TransportError,
    TransportErrorKind,
};

impl Classify<Response<LlmBody>> for LlmAdapter {
    /// Classifies a response or an error.
    ///
    /// An error is first checked with [`rejection_of`]. Then the first [`TransportError`],
    /// [`StreamError`], `io::Error` or hyper error in the error's source chain decides the
    /// kind: a timeout gives [`FailureKind::Timeout`], and anything else gives
    /// [`FailureKind::Connection`]. A malformed stream gives [`FailureKind::Other`], and an
    /// error event in a stream gives the kind of its error type. Any other error is
    /// [`FailureKind::Other`].
    ///
    /// A streamed 2xx response is a success: an error event that arrives before its first
    /// content event has already been turned into an error response by the client (see
    /// [`crate::stream`]).
    ///
    /// A 2xx response is a success. Any other response is a failure whose kind comes from the
    /// error body's type when the body has a known, specific one, else from the status. The
    /// generic types `api_error`, `server_error` and `invalid_request_error` defer to the
    /// status, so OpenAI's 503 `server_error` is [`FailureKind::Overloaded`]. The status is
    /// always recorded, and the hints come from [`crate::hints`]: `retry-after-ms` or
    /// `retry-after`, then, for a rate-limit failure only, the rate-limit reset headers.
    ///
    /// OpenAI's `insufficient_quota` is [`FailureKind::RateLimited`] with `should_retry` set to
    /// `false`, unless the server sent `x-should-retry`. A spent quota does not come back
    /// within a retry schedule, but the kind still shows a breaker or a dashboard that the
    /// provider limited the caller.
    fn classify(&self, result: Result<&Response<LlmBody>, &BoxError>) -> Outcome {
        match result {
            Ok(response) => classify_response(response, SystemTime::now()),
            Err(error) => classify_error(error),
        }
    }
}

/// Classifies a response, measuring date hints from `now`.
pub(crate) fn classify_response(response: &Response<LlmBody>, now: SystemTime) -> Outcome {
    let status = response.status();
    if status.is_success() {
        return Outcome::Success;
    }

    let headers = response.headers();
    let error_body = ErrorBody::parse(response.body().as_bytes());
    let status_kind = kind_from_status(status);
    let kind = match error_body.as_ref().and_then(ErrorBody::kind) {
        // Generic types (`api_error`, `server_error`, a plain `invalid_request_error`) only
        // name the side at fault, so a status with a specific kind (503, 409) refines them.
        Some(FailureKind::ServerError | FailureKind::InvalidRequest)
            if status_kind != FailureKind::Other =>
        {
            status_kind
        }
        Some(body_kind) => body_kind,
        None => status_kind,
    };

    let mut should_retry = hints::should_retry(headers);
    if should_retry.is_none()
        && error_body
            .as_ref()
            .is_some_and(ErrorBody::is_quota_exhausted)
    {
        should_retry = Some(false);
    }

    let mut retry_after = hints::retry_after(headers, now);
    if retry_after.is_none() && kind == FailureKind::RateLimited {
        retry_after = hints::rate_limit_reset(headers, now);
    }

    Outcome::Failure(Failure {
        kind,
        status: Some(status.as_u16()),
        retry_after,
        should_retry,
    })
}

/// Classifies an error returned instead of a response.
pub(crate) fn classify_error(error: &BoxError) -> Outcome {
    if let Some(rejection) = rejection_of(error) {
        return Outcome::Rejected(rejection);
    }
    if let Some(status) = oversized_success_status(&**error) {
        // The provider served and billed the call; a retry would pay for it again.
        let mut failure = Failure::new(FailureKind::Other);
        failure.status = Some(status.as_u16());
        return Outcome::Failure(failure);
    }
    Outcome::Failure(Failure::new(kind_from_error(&**error)))
}

/// Returns the status of a success response whose body exceeded `max_response_bytes`.
fn oversized_success_status(error: &(dyn StdError + 'static)) -> Option<StatusCode> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(transport) = cause.downcast_ref::<TransportError>() {
            return match transport.kind() {
                TransportErrorKind::BodyTooLarge => transport.status(),
                _ => None,
            };
        }
        current = cause.source();
    }
    None
}

/// Returns the kind from the first recognised cause in the source chain of `error`.
fn kind_from_error(error: &(dyn StdError + 'static)) -> FailureKind {
    // A hyper-util client error whose cause is not recognised is still a connection failure.
    let mut fallback = FailureKind::Other;
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(transport) = cause.downcast_ref::<TransportError>() {
            return match transport.kind() {
                TransportErrorKind::Timeout => FailureKind::Timeout,
                TransportErrorKind::BodyTooLarge => FailureKind::Other,
                _ => FailureKind::Connection,
            };
        }
        if let Some(stream) = cause.downcast_ref::<StreamError>() {
            return kind_from_stream_error(stream.kind());
        }
        if cause.is::<tokio::time::error::Elapsed>() {
            return FailureKind::Timeout;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::TimedOut => FailureKind::Timeout,
                _ => FailureKind::Connection,
            };
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            return if hyper.is_timeout() {
                FailureKind::Timeout
            } else {
                FailureKind::Connection
            };
        }
        if cause.is::<hyper_util::client::legacy::Error>() {
            fallback = FailureKind::Connection;
        }
        current = cause.source();
    }
    fallback
}

fn kind_from_stream_error(kind: &StreamErrorKind) -> FailureKind {
    match kind {
        StreamErrorKind::Interrupted => FailureKind::Connection,
        StreamErrorKind::IdleTimeout => FailureKind::Timeout,
        StreamErrorKind::ProviderError {
            error_type,
            message,
        } => anthropic::failure_kind(error_type, message)
            .or_else(|| openai::failure_kind(Some(error_type), Some(error_type), message))
            .unwrap_or(FailureKind::ServerError),
        StreamErrorKind::Malformed => FailureKind::Other,
    }
}

/// Maps an HTTP error status to a failure kind.
pub(crate) fn kind_from_status(status: StatusCode) -> FailureKind {
    match status.as_u16() {
        408 => FailureKind::Timeout,
        409 => FailureKind::Conflict,
        429 => FailureKind::RateLimited,
        503 | 529 => FailureKind::Overloaded,
        500..=599 => FailureKind::ServerError,
        400 | 413 | 422 => FailureKind::InvalidRequest,
        401 => FailureKind::Authentication,
        403 => FailureKind::Permission,
        404 => FailureKind::NotFound,
        _ => FailureKind::Other,
    }
}

/// The error body of either format.
///
/// Anthropic: `{"type": "error", "error": {"type": "...", "message": "..."}}`.
/// OpenAI: `{"error": {"type": "...", "code": "...", "message": "..."}}`.
#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type", borrow, default)]
    envelope_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: ErrorDetail<'a>,
}

/// The `error` object of either format.
#[derive(Deserialize)]
pub(crate) struct ErrorDetail<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(crate) error_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    code: Option<ErrorCode<'a>>,
    #[serde(borrow, default)]
    pub(crate) message: Option<Cow<'a, str>>,
}

impl ErrorDetail<'_> {
    /// Returns OpenAI's `code` when it is a string.
    pub(crate) fn code(&self) -> Option<&str> {
        match &self.code {
            Some(ErrorCode::Text(code)) => Some(code),
            _ => None,
        }
    }
}

/// OpenAI's `code`: usually a string, sometimes `null` or a number, which carry no kind.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorCode<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Other(IgnoredAny),
}

impl<'a> ErrorBody<'a> {
    /// Parses an error body; `None` when it is not JSON or not in either format.
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    fn code(&self) -> Option<&str> {
        self.error.code()
    }

    fn kind(&self) -> Option<FailureKind> {
        let error_type = self.error.error_type.as_deref();
        let message = self.error.message.as_deref().unwrap_or("");
        if self.envelope_type.as_deref() == Some("error") {
            anthropic::failure_kind(error_type?, message)
        } else {
            openai::failure_kind(error_type, self.code(), message)
        }
    }

    fn is_quota_exhausted(&self) -> bool {
        openai::is_quota_exhausted(self.error.error_type.as_deref(), self.code())
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
