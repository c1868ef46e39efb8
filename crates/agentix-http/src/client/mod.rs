//! A hyper client as a `tower::Service` that reads whole LLM responses or streams them.

mod config;
mod error;
mod exchange;
mod future;

use std::error::Error as StdError;
use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use agentix_core::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower_service::Service;

pub use config::{HttpClientBuilder, HttpClientConfig};
pub use error::{ConfigError, TransportError, TransportErrorKind};
pub use future::ResponseFuture;

use crate::LlmBody;
use error::describe_target;
use exchange::{HyperClient, Limits};

/// An HTTP/1.1 and HTTP/2 client for `http` and `https` URLs that returns whole or streamed
/// responses.
///
/// It is a [`Service`] from `http::Request<Bytes>` to `http::Response<LlmBody>`, built on
/// hyper-util's pooled client with rustls (ring) and the Mozilla roots of `webpki-roots`.
/// Cloning shares the connection pool, so a clone per task is cheap.
///
/// A response is read in full before it is returned, except a successful stream of
/// server-sent events, which is read only up to its first content event and then returned
/// with a streamed [`LlmBody`]; see [`crate::stream`].
///
/// # Errors
///
/// A call fails with a [`TransportError`] (as a `BoxError`) when no complete response
/// arrives: the connection fails, a timeout elapses, the connection closes before the response
/// head, or reading the body fails. A stream that breaks before its first content event fails
/// the call with a [`StreamError`](crate::StreamError). An HTTP error status is not an error of
/// this service, because the classifier reads it from the returned response. An error event
/// that a stream sends before any content is returned as such a response too.
#[derive(Clone)]
pub struct HttpClient {
    client: HyperClient,
    request_timeout: Option<Duration>,
    limits: Limits,
}

impl HttpClient {
    /// Creates a client with [`HttpClientConfig::default`].
    pub fn new() -> Self {
        Self::with_config(HttpClientConfig::default())
            .expect("the default HTTP client config is valid")
    }

    /// Returns a builder that starts from the default settings.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::new()
    }

    /// Creates a client with `config`.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] when [`HttpClientConfig::validate`] rejects `config`.
    pub fn with_config(config: HttpClientConfig) -> Result<Self, ConfigError> {
        config.validate()?;

        let mut http = HttpConnector::new();
        // The TLS wrapper below accepts both schemes, so the inner connector must too.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(config.connect_timeout);

        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports the default TLS protocol versions")
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);

        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .build(https);

        Ok(Self {
            client,
            request_timeout: config.request_timeout,
            limits: Limits {
                max_response_bytes: config.max_response_bytes,
                stream_idle_timeout: config.stream_idle_timeout,
            },
        })
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.limits.max_response_bytes)
            .field("stream_idle_timeout", &self.limits.stream_idle_timeout)
            .finish_non_exhaustive()
    }
}

impl Service<Request<Bytes>> for HttpClient {
    type Response = Response<LlmBody>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // hyper-util's client waits for a pooled or new connection inside the call itself.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        let timeout = self.request_timeout;
        let limits = self.limits;
        // Names the request if the timeout drops the exchange; both clones are cheap.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let exchange = exchange::exchange(client, request, limits);

        ResponseFuture::new(Box::pin(async move {
            let result = match timeout {
                Some(limit) => match tokio::time::timeout(limit, exchange).await {
                    Ok(result) => result,
                    Err(_elapsed) => {
                        let target = describe_target(&method, &uri);
                        Err(TransportError::timed_out(target, limit).into())
                    }
                },
                None => exchange.await,
            };
            result.inspect_err(|error| {
                if let Some(transport) = error.downcast_ref::<TransportError>() {
                    tracing::debug!(
                        request = transport.target(),
                        kind = ?transport.kind(),
                        "HTTP call failed"
                    );
                }
            })
        }))
    }
}

/// Maps a hyper-util client error to a transport error kind.
fn send_error_kind(error: &hyper_util::client::legacy::Error) -> TransportErrorKind {
    if caused_by_timeout(error) {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Closed
    }
}

/// Returns whether an `io::Error` of kind `TimedOut` is in the source chain of `error`; the
/// connector reports its connect timeout that way.
fn caused_by_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        current = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("tcp connect error")
        }
    }

    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn timed_out_cause_is_found_in_chain() {
        let timed_out = Wrapped(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let refused = Wrapped(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(caused_by_timeout(&timed_out));
        assert!(!caused_by_timeout(&refused));
    }

    #[test]
    fn with_config_rejects_invalid_config() {
        let config = HttpClientConfig {
            request_timeout: Some(Duration::ZERO),
            ..HttpClientConfig::default()
        };
        let error = HttpClient::with_config(config).unwrap_err();
        assert_eq!(error.field, "request_timeout");
    }
}
