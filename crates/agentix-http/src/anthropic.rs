//! The Anthropic Messages format: request construction and error types.

use agentix_core::FailureKind;
use bytes::Bytes;
use http::header::HeaderName;
use http::Request;

use crate::provider::{json_post, BuildRequestError};

/// The `anthropic-version` header value sent with every request.
pub const API_VERSION: &str = "2023-06-01";

/// Builds a `POST {base_url}/v1/messages` request with `body` as JSON.
///
/// The request carries `x-api-key` (marked sensitive), `anthropic-version: 2023-06-01`,
/// `content-type: application/json` and `content-length`. `base_url` may end with a slash and
/// may have a path prefix (`https://proxy.example.com/anthropic`).
///
/// # Errors
///
/// Fails when `base_url` is not an absolute `http` or `https` URL without query, when
/// `api_key` cannot be a header value, or when `body` cannot be serialized.
///
/// # Examples
///
/// ```
/// let body = serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": []});
/// let request = agentix_http::anthropic::messages_request("https://api.anthropic.com", "sk-ant", &body)?;
/// assert_eq!(request.uri(), "https://api.anthropic.com/v1/messages");
/// assert_eq!(request.headers()["anthropic-version"], "2023-06-01");
/// # Ok::<(), agentix_http::BuildRequestError>(())
/// ```
pub fn messages_request(
    base_url: &str,
    api_key: &str,
    body: &serde_json::Value,
) -> Result<Request<Bytes>, BuildRequestError> {
    json_post(
        base_url,
        "/v1/messages",
        (HeaderName::from_static("x-api-key"), api_key.to_owned()),
        &[(HeaderName::from_static("anthropic-version"), API_VERSION)],
        body,
    )
}

/// Maps an Anthropic `error.type` to a failure kind; `None` for a type this crate does not
/// know, which the caller maps from the status instead.
pub(crate) fn failure_kind(error_type: &str, message: &str) -> Option<FailureKind> {
    let kind = match error_type {
        "rate_limit_error" => FailureKind::RateLimited,
        "overloaded_error" => FailureKind::Overloaded,
        "api_error" => FailureKind::ServerError,
        "timeout_error" => FailureKind::Timeout,
        "invalid_request_error" if mentions_context_length(message) => {
            FailureKind::ContextLengthExceeded
        }
        "invalid_request_error" | "request_too_large" => FailureKind::InvalidRequest,
        "authentication_error" => FailureKind::Authentication,
        "permission_error" => FailureKind::Permission,
        "not_found_error" => FailureKind::NotFound,
        _ => return None,
    };
    Some(kind)
}

/// Returns whether an invalid-request message states that the prompt does not fit the context window.
///
/// Anthropic reports this as a plain `invalid_request_error`, so the message is the only sign:
/// "prompt is too long: 210000 tokens > 200000 maximum" or "input length and `max_tokens`
/// exceed context limit". OpenAI's messages ("maximum context length is ...") match as well.
pub(crate) fn mentions_context_length(message: &str) -> bool {
    const PHRASES: [&str; 5] = [
        "prompt is too long",
        "context length",
        "context limit",
        "context window",
        "maximum context",
    ];
    let lower = message.to_ascii_lowercase();
    PHRASES.iter().any(|phrase| lower.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_request_has_anthropic_headers() {
        let body = serde_json::json!({"model": "claude-haiku-4-5", "max_tokens": 5});
        let request = messages_request("https://api.anthropic.com/", "sk-ant-1", &body).unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "https://api.anthropic.com/v1/messages");
        let headers = request.headers();
        assert_eq!(headers["x-api-key"], "sk-ant-1");
        assert!(headers["x-api-key"].is_sensitive());
        assert_eq!(headers["anthropic-version"], "2023-06-01");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["content-length"],
            request.body().len().to_string().as_str()
        );
        assert!(headers.get("authorization").is_none());
        let sent: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(sent, body);
    }

    #[test]
    fn messages_request_rejects_key_with_line_break() {
        let body = serde_json::json!({});
        let error = messages_request("https://h", "sk\r\nx-evil: 1", &body).unwrap_err();
        assert!(matches!(error, BuildRequestError::InvalidApiKey));
        assert!(!error.to_string().contains("sk"), "{error}");
    }

    #[test]
    fn context_length_phrases() {
        assert!(mentions_context_length(
            "prompt is too long: 208000 tokens > 200000 maximum"
        ));
        assert!(mentions_context_length(
            "input length and `max_tokens` exceed context limit: 199000 + 8192 > 200000"
        ));
        assert!(mentions_context_length(
            "This model's maximum context length is 8192 tokens"
        ));
        assert!(!mentions_context_length("messages: field required"));
        assert!(!mentions_context_length(""));
    }
}
