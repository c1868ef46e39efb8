//! The OpenAI Chat Completions format: request construction and error types.

use agentix_core::FailureKind;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::Request;

use crate::anthropic::mentions_context_length;
use crate::provider::{json_post, BuildRequestError};

/// Builds a `POST {base_url}/v1/chat/completions` request with `body` as JSON.
///
/// The request carries `authorization: Bearer {api_key}` (marked sensitive),
/// `content-type: application/json` and `content-length`. `base_url` may end with a slash and
/// may have a path prefix.
///
/// # Errors
///
/// Fails when `base_url` is not an absolute `http` or `https` URL without query, when
/// `api_key` cannot be a header value, or when `body` cannot be serialized.
///
/// # Examples
///
/// ```
/// let body = serde_json::json!({"model": "gpt-4o-mini", "messages": []});
/// let request = agentix_http::openai::chat_request("https://api.openai.com/", "sk-1", &body)?;
/// assert_eq!(request.uri(), "https://api.openai.com/v1/chat/completions");
/// # Ok::<(), agentix_http::BuildRequestError>(())
/// ```
pub fn chat_request(
    base_url: &str,
    api_key: &str,
    body: &serde_json::Value,
) -> Result<Request<Bytes>, BuildRequestError> {
    json_post(
        base_url,
        "/v1/chat/completions",
        (AUTHORIZATION, format!("Bearer {api_key}")),
        &[],
        body,
    )
}

/// Maps an OpenAI error to a failure kind from its `code`, then its `type`.
///
/// Returns `None` when neither is known, so the caller maps the status instead.
///
/// `insufficient_quota` (the account has no credit left) maps to
/// [`FailureKind::RateLimited`], because OpenAI sends it with status 429, but the caller must
/// also mark it as not worth retrying: the quota does not come back within a retry schedule.
pub(crate) fn failure_kind(
    error_type: Option<&str>,
    code: Option<&str>,
    message: &str,
) -> Option<FailureKind> {
    let from_code = code.and_then(|code| match code {
        "context_length_exceeded" | "string_above_max_length" => {
            Some(FailureKind::ContextLengthExceeded)
        }
        "rate_limit_exceeded" | "insufficient_quota" => Some(FailureKind::RateLimited),
        "invalid_api_key" => Some(FailureKind::Authentication),
        "model_not_found" => Some(FailureKind::NotFound),
        "content_policy_violation" | "content_filter" => Some(FailureKind::ContentPolicy),
        _ => None,
    });
    if from_code.is_some() {
        return from_code;
    }
    match error_type? {
        "invalid_request_error" if mentions_context_length(message) => {
            Some(FailureKind::ContextLengthExceeded)
        }
        "invalid_request_error" => Some(FailureKind::InvalidRequest),
        "insufficient_quota" | "rate_limit_error" => Some(FailureKind::RateLimited),
        "server_error" => Some(FailureKind::ServerError),
        "authentication_error" => Some(FailureKind::Authentication),
        "permission_error" => Some(FailureKind::Permission),
        "not_found_error" => Some(FailureKind::NotFound),
        _ => None,
    }
}

/// Returns whether an OpenAI error reports that the account's quota is spent.
pub(crate) fn is_quota_exhausted(error_type: Option<&str>, code: Option<&str>) -> bool {
    code == Some("insufficient_quota") || error_type == Some("insufficient_quota")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_request_has_bearer_auth() {
        let body = serde_json::json!({"model": "gpt-4o", "messages": []});
        let request = chat_request("http://127.0.0.1:9000", "sk-test", &body).unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "http://127.0.0.1:9000/v1/chat/completions");
        let headers = request.headers();
        assert_eq!(headers["authorization"], "Bearer sk-test");
        assert!(headers["authorization"].is_sensitive());
        assert_eq!(headers["content-type"], "application/json");
        assert!(headers.get("x-api-key").is_none());
        assert!(headers.get("anthropic-version").is_none());
    }

    #[test]
    fn chat_request_rejects_relative_base_url() {
        let body = serde_json::json!({});
        let error = chat_request("/v1", "k", &body).unwrap_err();
        assert!(error.to_string().contains("`/v1`"), "{error}");
    }
}
