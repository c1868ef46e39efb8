//! Transport failures of [`HttpClient`](crate::HttpClient) and configuration errors.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use agentix_core::BoxError;
use http::Uri;

/// The kind of a transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The TCP connection or the TLS handshake failed (refused, unreachable, bad certificate).
    Connect,
    /// The connect timeout or the request timeout elapsed.
    Timeout,
    /// The connection failed or was closed after it was established but before the response
    /// head arrived.
    Closed,
    /// The response head arrived but reading its body failed.
    BodyRead,
    /// A success response arrived, but its buffered body exceeds `max_response_bytes`.
    ///
    /// The provider served the request, and usually billed it, so a retry is unlikely to end
    /// differently. The error keeps the response status.
    BodyTooLarge,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::Closed => "connection closed before a response arrived",
            Self::BodyRead => "reading the response body failed",
            Self::BodyTooLarge => "the response body exceeds `max_response_bytes`",
        }
    }
}

/// A request that failed before a complete response arrived.
///
/// The message names the method, the host, the port and the path of the request. It never
/// contains headers, the query string or user information of the URI, because those can carry
/// credentials.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    target: String,
    timeout: Option<Duration>,
    status: Option<http::StatusCode>,
    source: Option<BoxError>,
}

impl TransportError {
    pub(crate) fn new(kind: TransportErrorKind, target: String, source: Option<BoxError>) -> Self {
        Self {
            kind,
            target,
            timeout: None,
            status: None,
            source,
        }
    }

    pub(crate) fn body_too_large(
        target: String,
        status: http::StatusCode,
        source: Option<BoxError>,
    ) -> Self {
        Self {
            kind: TransportErrorKind::BodyTooLarge,
            target,
            timeout: None,
            status: Some(status),
            source,
        }
    }

    pub(crate) fn timed_out(target: String, after: Duration) -> Self {
        Self {
            kind: TransportErrorKind::Timeout,
            target,
            timeout: Some(after),
            status: None,
            source: None,
        }
    }

    /// Returns what went wrong.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Returns the status of the response, when its head arrived before the failure.
    ///
    /// Only [`TransportErrorKind::BodyTooLarge`] errors carry a status.
    pub fn status(&self) -> Option<http::StatusCode> {
        self.status
    }

    /// Returns the request the error is about, as `METHOD scheme://host:port/path`.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.kind.describe())?;
        if let Some(status) = self.status {
            write!(f, " (status {})", status.as_u16())?;
        }
        if let Some(after) = self.timeout {
            write!(f, " after {:.3} s", after.as_secs_f64())?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
            // hyper's messages are short; the cause (refused, reset) is further down the chain.
            let mut cause = source.source();
            while let Some(inner) = cause {
                write!(f, ": {inner}")?;
                cause = inner.source();
            }
        }
        Ok(())
    }
}

impl StdError for TransportError {
    // NOTE: the source chain is already part of the message, so callers that print the chain
    // see each cause twice. It is kept so that callers can still downcast the cause.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Formats `METHOD scheme://host:port/path` without user information or query.
pub(crate) fn describe_target(method: &http::Method, uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or("<no host>");
    let path = uri.path();
    match uri.port_u16() {
        Some(port) => format!("{method} {scheme}://{host}:{port}{path}"),
        None => format!("{method} {scheme}://{host}{path}"),
    }
}

/// An invalid [`HttpClientConfig`](crate::HttpClientConfig) field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid HTTP client config: `{field}` {reason}")]
pub struct ConfigError {
    /// The name of the invalid field.
    pub field: &'static str,
    /// The reason the value is invalid.
    pub reason: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_omits_credentials_and_query() {
        let uri: Uri = "https://user:secret@api.example.com:8443/v1/messages?key=sk-123"
            .parse()
            .unwrap();
        let target = describe_target(&http::Method::POST, &uri);
        assert_eq!(target, "POST https://api.example.com:8443/v1/messages");
    }

    #[test]
    fn message_names_target_kind_and_cause() {
        let cause: BoxError = Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        let error = TransportError::new(
            TransportErrorKind::Connect,
            "POST http://127.0.0.1:9/v1/messages".into(),
            Some(cause),
        );
        let message = error.to_string();
        assert!(message.contains("127.0.0.1:9/v1/messages"), "{message}");
        assert!(message.contains("connection failed"), "{message}");
        assert!(message.contains("connection refused"), "{message}");
        assert!(error.source().is_some());
    }

    #[test]
    fn timeout_message_names_duration() {
        let error = TransportError::timed_out("POST http://h/p".into(), Duration::from_millis(250));
        assert_eq!(error.kind(), TransportErrorKind::Timeout);
        assert_eq!(
            error.to_string(),
            "POST http://h/p: timed out after 0.250 s"
        );
    }
}
