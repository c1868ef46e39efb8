//! The supported providers and the request construction they share.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Uri};

/// An LLM provider whose wire format this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// The Anthropic Messages API.
    Anthropic,
    /// The OpenAI Chat Completions API.
    OpenAi,
}

impl Provider {
    /// Returns the provider's name: `"anthropic"` or `"openai"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
        }
    }

    /// Returns the base URL of the provider's public API.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::Anthropic => "https://api.anthropic.com",
            Self::OpenAi => "https://api.openai.com",
        }
    }

    /// Builds a request in the provider's format: [`crate::anthropic::messages_request`] or
    /// [`crate::openai::chat_request`].
    ///
    /// # Errors
    ///
    /// Fails as those functions do, on an invalid base URL, API key or body.
    pub fn request(
        self,
        base_url: &str,
        api_key: &str,
        body: &serde_json::Value,
    ) -> Result<Request<Bytes>, BuildRequestError> {
        match self {
            Self::Anthropic => crate::anthropic::messages_request(base_url, api_key, body),
            Self::OpenAi => crate::openai::chat_request(base_url, api_key, body),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = ParseProviderError;

    /// Parses `anthropic` or `openai`, in any letter case.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.eq_ignore_ascii_case("anthropic") {
            Ok(Self::Anthropic)
        } else if value.eq_ignore_ascii_case("openai") {
            Ok(Self::OpenAi)
        } else {
            Err(ParseProviderError {
                value: value.to_owned(),
            })
        }
    }
}

/// A provider name that is not `anthropic` or `openai`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider `{value}`: expected `anthropic` or `openai`")]
pub struct ParseProviderError {
    /// The rejected name.
    pub value: String,
}

/// A request that could not be built from its base URL, API key and body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildRequestError {
    /// The base URL is not an absolute `http` or `https` URL.
    #[error("invalid base URL `{base_url}`: {reason}")]
    InvalidBaseUrl {
        /// The rejected base URL.
        base_url: String,
        /// The reason for the rejection.
        reason: String,
    },
    /// The API key contains characters that a header value cannot hold (a line break, say).
    /// The key itself is not part of the error.
    #[error("invalid API key: it contains characters that are not allowed in an HTTP header")]
    InvalidApiKey,
    /// The body could not be serialized.
    #[error("failed to serialize the request body: {0}")]
    Body(#[from] serde_json::Error),
}

/// Builds a JSON `POST` to `{base_url}{path}` with `auth` as a sensitive header.
pub(crate) fn json_post(
    base_url: &str,
    path: &str,
    auth: (HeaderName, String),
    extra: &[(HeaderName, &'static str)],
    body: &serde_json::Value,
) -> Result<Request<Bytes>, BuildRequestError> {
    let uri = join_url(base_url, path)?;
    let body = Bytes::from(serde_json::to_vec(body)?);

    let (auth_name, auth_value) = auth;
    let mut auth_value =
        HeaderValue::try_from(auth_value).map_err(|_| BuildRequestError::InvalidApiKey)?;
    // Keeps the key out of `Debug` output and out of HTTP/2 header compression tables.
    auth_value.set_sensitive(true);

    let length = HeaderValue::from(body.len());
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(auth_name, auth_value);
    for (name, value) in extra {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, length);
    Ok(request)
}

/// Appends `path` (which starts with `/`) to `base_url`, with or without a trailing slash.
fn join_url(base_url: &str, path: &str) -> Result<Uri, BuildRequestError> {
    let invalid = |reason: &str| BuildRequestError::InvalidBaseUrl {
        base_url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = base_url.trim_end_matches('/');
    if trimmed.contains(['?', '#']) {
        return Err(invalid("a base URL cannot have a query or a fragment"));
    }
    let uri: Uri = format!("{trimmed}{path}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(invalid("the scheme must be `http` or `https`")),
        None => {
            return Err(invalid(
                "expected an absolute URL such as `https://api.example.com`",
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for provider in [Provider::Anthropic, Provider::OpenAi] {
            assert_eq!(provider.as_str().parse::<Provider>(), Ok(provider));
            assert_eq!(provider.to_string(), provider.as_str());
        }
        assert_eq!("OpenAI".parse::<Provider>(), Ok(Provider::OpenAi));
    }

    #[test]
    fn request_uses_provider_format() {
        let body = serde_json::json!({"model": "m"});
        let anthropic = Provider::Anthropic
            .request(Provider::Anthropic.default_base_url(), "k", &body)
            .unwrap();
        assert_eq!(anthropic.uri(), "https://api.anthropic.com/v1/messages");
        assert_eq!(anthropic.headers()["x-api-key"], "k");

        let openai = Provider::OpenAi
            .request(Provider::OpenAi.default_base_url(), "k", &body)
            .unwrap();
        assert_eq!(openai.uri(), "https://api.openai.com/v1/chat/completions");
        assert_eq!(openai.headers()["authorization"], "Bearer k");
    }

    #[test]
    fn unknown_provider_error_names_value() {
        let error = "gemini".parse::<Provider>().unwrap_err();
        assert_eq!(error.value, "gemini");
        assert_eq!(
            error.to_string(),
            "unknown provider `gemini`: expected `anthropic` or `openai`"
        );
        assert!("".parse::<Provider>().is_err());
        assert!(" anthropic".parse::<Provider>().is_err());
    }

    #[test]
    fn join_url_accepts_trailing_slash_and_prefix() {
        let expected = "https://api.example.com/v1/messages";
        assert_eq!(
            join_url("https://api.example.com", "/v1/messages").unwrap(),
            expected
        );
        assert_eq!(
            join_url("https://api.example.com/", "/v1/messages").unwrap(),
            expected
        );
        assert_eq!(
            join_url("http://127.0.0.1:8080/proxy/", "/v1/messages").unwrap(),
            "http://127.0.0.1:8080/proxy/v1/messages"
        );
    }

    #[test]
    fn join_url_rejects_bad_base_urls() {
        for base in [
            "",
            "api.example.com",
            "ftp://api.example.com",
            "https://",
            "https://api.example.com/?key=1",
            "https://api example.com",
        ] {
            let error = join_url(base, "/v1/messages").unwrap_err();
            assert!(
                matches!(&error, BuildRequestError::InvalidBaseUrl { base_url, .. } if base_url == base),
                "{base:?}: {error}"
            );
        }
    }
}
