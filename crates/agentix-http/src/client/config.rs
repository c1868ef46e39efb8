//! Timeouts and connection-pool settings of [`HttpClient`](crate::HttpClient).

use std::time::Duration;

use super::error::ConfigError;
use super::HttpClient;

/// Settings of an [`HttpClient`](crate::HttpClient).
///
/// The defaults are:
///
/// | field | default |
/// | --- | --- |
/// | `connect_timeout` | 10 s |
/// | `request_timeout` | 600 s |
/// | `pool_idle_timeout` | 90 s |
/// | `pool_max_idle_per_host` | 32 |
/// | `max_response_bytes` | 64 MiB |
/// | `stream_idle_timeout` | 60 s |
///
/// The request timeout is long because a single non-streaming completion of a large model can
/// take minutes. A streamed response is bounded by the request timeout only until its first
/// content event, and from then on by the idle timeout between events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientConfig {
    /// Maximum time to open the TCP connection; `None` waits as long as the OS does.
    ///
    /// The TLS handshake is not covered; the request timeout bounds it.
    pub connect_timeout: Option<Duration>,
    /// Maximum time for a whole call, from sending the request to the last byte of a buffered
    /// response body, or to the first content event of a streamed one. `None` waits forever.
    pub request_timeout: Option<Duration>,
    /// How long an idle pooled connection is kept; `None` keeps it until the server closes it.
    pub pool_idle_timeout: Option<Duration>,
    /// Maximum number of idle connections kept per host; 0 disables pooling.
    pub pool_max_idle_per_host: usize,
    /// Maximum size of a buffered response body in bytes. A larger body fails the call with a
    /// [`TransportErrorKind::BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge) error when
    /// the status is a success, and a
    /// [`TransportErrorKind::BodyRead`](crate::TransportErrorKind::BodyRead) error otherwise.
    ///
    /// A streamed body has no total limit, because its bytes are passed on as they arrive, but
    /// a single server-sent event larger than this fails the stream as
    /// [`StreamErrorKind::Malformed`](crate::StreamErrorKind::Malformed).
    pub max_response_bytes: usize,
    /// Maximum time between two server-sent events of a streamed response, where comments
    /// such as keep-alive lines count as events. A longer gap fails the stream with
    /// [`StreamErrorKind::IdleTimeout`](crate::StreamErrorKind::IdleTimeout). `None` waits
    /// forever.
    pub stream_idle_timeout: Option<Duration>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(600)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: 32,
            max_response_bytes: 64 * 1024 * 1024,
            stream_idle_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl HttpClientConfig {
    /// Checks every field.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the field when a timeout or `max_response_bytes` is
    /// zero, which would fail every call. Use `None` to disable a timeout.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = "must be greater than zero (use `None` to disable it)";
        if self.connect_timeout == Some(Duration::ZERO) {
            return Err(ConfigError {
                field: "connect_timeout",
                reason: zero,
            });
        }
        if self.request_timeout == Some(Duration::ZERO) {
            return Err(ConfigError {
                field: "request_timeout",
                reason: zero,
            });
        }
        if self.pool_idle_timeout == Some(Duration::ZERO) {
            return Err(ConfigError {
                field: "pool_idle_timeout",
                reason: zero,
            });
        }
        if self.stream_idle_timeout == Some(Duration::ZERO) {
            return Err(ConfigError {
                field: "stream_idle_timeout",
                reason: zero,
            });
        }
        if self.max_response_bytes == 0 {
            return Err(ConfigError {
                field: "max_response_bytes",
                reason: "must be greater than zero",
            });
        }
        Ok(())
    }
}

/// A builder of [`HttpClient`], starting from [`HttpClientConfig::default`].
#[derive(Debug, Clone, Default)]
pub struct HttpClientBuilder {
    config: HttpClientConfig,
}

impl HttpClientBuilder {
    /// Creates a builder with the default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`HttpClientConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Sets [`HttpClientConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Sets [`HttpClientConfig::pool_idle_timeout`].
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.pool_idle_timeout = timeout;
        self
    }

    /// Sets [`HttpClientConfig::pool_max_idle_per_host`].
    pub fn pool_max_idle_per_host(mut self, max_idle: usize) -> Self {
        self.config.pool_max_idle_per_host = max_idle;
        self
    }

    /// Sets [`HttpClientConfig::max_response_bytes`].
    pub fn max_response_bytes(mut self, max_bytes: usize) -> Self {
        self.config.max_response_bytes = max_bytes;
        self
    }

    /// Sets [`HttpClientConfig::stream_idle_timeout`].
    pub fn stream_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.stream_idle_timeout = timeout;
        self
    }

    /// Returns the settings built so far.
    pub fn config(&self) -> &HttpClientConfig {
        &self.config
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] when [`HttpClientConfig::validate`] rejects the settings.
    pub fn build(self) -> Result<HttpClient, ConfigError> {
        HttpClient::with_config(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(HttpClientConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_timeouts_name_their_field() {
        let cases: [(&str, HttpClientConfig); 5] = [
            (
                "max_response_bytes",
                HttpClientConfig {
                    max_response_bytes: 0,
                    ..HttpClientConfig::default()
                },
            ),
            (
                "connect_timeout",
                HttpClientConfig {
                    connect_timeout: Some(Duration::ZERO),
                    ..HttpClientConfig::default()
                },
            ),
            (
                "request_timeout",
                HttpClientConfig {
                    request_timeout: Some(Duration::ZERO),
                    ..HttpClientConfig::default()
                },
            ),
            (
                "pool_idle_timeout",
                HttpClientConfig {
                    pool_idle_timeout: Some(Duration::ZERO),
                    ..HttpClientConfig::default()
                },
            ),
            (
                "stream_idle_timeout",
                HttpClientConfig {
                    stream_idle_timeout: Some(Duration::ZERO),
                    ..HttpClientConfig::default()
                },
            ),
        ];
        for (field, config) in cases {
            let error = config.validate().unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(field), "{error}");
        }
    }

    #[test]
    fn disabled_timeouts_are_valid() {
        let config = HttpClientConfig {
            connect_timeout: None,
            request_timeout: None,
            pool_idle_timeout: None,
            pool_max_idle_per_host: 0,
            max_response_bytes: 1,
            stream_idle_timeout: None,
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn builder_sets_every_field() {
        let builder = HttpClientBuilder::new()
            .connect_timeout(Some(Duration::from_secs(1)))
            .request_timeout(None)
            .pool_idle_timeout(Some(Duration::from_secs(5)))
            .pool_max_idle_per_host(2)
            .max_response_bytes(1024)
            .stream_idle_timeout(Some(Duration::from_secs(7)));
        let expected = HttpClientConfig {
            connect_timeout: Some(Duration::from_secs(1)),
            request_timeout: None,
            pool_idle_timeout: Some(Duration::from_secs(5)),
            pool_max_idle_per_host: 2,
            max_response_bytes: 1024,
            stream_idle_timeout: Some(Duration::from_secs(7)),
        };
        assert_eq!(builder.config(), &expected);
        assert!(builder.build().is_ok());
    }
}
