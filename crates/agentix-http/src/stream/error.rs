//! The error a streamed body fails with, and how a stream ended.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use agentix_core::{BoxError, Usage};

/// The kind of a [`StreamError`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// The connection failed or closed before the stream's terminal event (`message_stop` or
    /// `data: [DONE]`) arrived.
    Interrupted,
    /// The provider sent an error event in the stream (Anthropic `event: error`, or an OpenAI
    /// chunk with an `error` object).
    ProviderError {
        /// The error's `type`, or OpenAI's `code` when the type is missing.
        error_type: String,
        /// The error's `message`.
        message: String,
    },
    /// A line is not a server-sent event field, an event's data is not the JSON its format
    /// uses, or a single event exceeds the size limit.
    Malformed,
    /// No event arrived within the idle timeout.
    IdleTimeout,
}

/// A streamed response body that failed before its terminal event.
///
/// [`LlmBody`](crate::LlmBody) returns it, boxed, from `poll_frame` after the last complete
/// event before the failure, so a stream never looks complete when it is not.
/// [`HttpClient`](crate::HttpClient) returns it from the call itself when the stream fails
/// before its first content event.
#[derive(Debug)]
pub struct StreamError {
    kind: StreamErrorKind,
    bytes_read: u64,
    detail: &'static str,
    idle_timeout: Option<Duration>,
    source: Option<BoxError>,
}

impl StreamError {
    pub(crate) fn new(kind: StreamErrorKind, bytes_read: u64, detail: &'static str) -> Self {
        Self {
            kind,
            bytes_read,
            detail,
            idle_timeout: None,
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: BoxError) -> Self {
        self.source = Some(source);
        self
    }

    pub(crate) fn idle(bytes_read: u64, timeout: Duration) -> Self {
        let mut error = Self::new(StreamErrorKind::IdleTimeout, bytes_read, "");
        error.idle_timeout = Some(timeout);
        error
    }

    /// Returns what went wrong.
    pub fn kind(&self) -> &StreamErrorKind {
        &self.kind
    }

    /// Returns how many body bytes had arrived when the stream failed.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let read = self.bytes_read;
        match &self.kind {
            StreamErrorKind::Interrupted => {
                write!(f, "stream interrupted after {read} bytes: {}", self.detail)?
            }
            StreamErrorKind::ProviderError {
                error_type,
                message,
            } => write!(
                f,
                "provider sent an error event after {read} bytes of the stream: \
                 {error_type}: {message}"
            )?,
            StreamErrorKind::Malformed => {
                write!(f, "malformed stream after {read} bytes: {}", self.detail)?
            }
            StreamErrorKind::IdleTimeout => {
                let seconds = self.idle_timeout.unwrap_or_default().as_secs_f64();
                write!(
                    f,
                    "stream idle for {seconds:.3} s after {read} bytes \
                     (raise `stream_idle_timeout` to wait longer)"
                )?
            }
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for StreamError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The end of a streamed body, with the usage the provider had reported by then.
///
/// [`LlmBody::on_finish`](crate::LlmBody::on_finish) passes it to its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEnd {
    /// The terminal event arrived; the usage is final when the provider reported any.
    Completed {
        /// The stream's usage; `None` when it reported none (an OpenAI stream without
        /// `stream_options.include_usage`, say).
        usage: Option<Usage>,
    },
    /// The stream failed with a [`StreamError`] of this kind.
    Failed {
        /// The kind of the error.
        error: StreamErrorKind,
        /// The usage reported before the failure.
        usage: Option<Usage>,
    },
    /// The body was dropped before its end.
    Dropped {
        /// The usage reported before the drop.
        usage: Option<Usage>,
    },
}

impl StreamEnd {
    /// Returns the usage the stream had reported when it ended.
    pub fn usage(&self) -> Option<Usage> {
        match self {
            Self::Completed { usage } | Self::Failed { usage, .. } | Self::Dropped { usage } => {
                *usage
            }
        }
    }

    /// Returns whether the terminal event arrived.
    pub fn is_completed(&self) -> bool {
        matches!(self, Self::Completed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_kind_and_bytes() {
        let cut = StreamError::new(StreamErrorKind::Interrupted, 120, "connection closed")
            .with_source(Box::new(std::io::Error::other("reset by peer")));
        assert_eq!(
            cut.to_string(),
            "stream interrupted after 120 bytes: connection closed: reset by peer"
        );
        assert!(cut.source().is_some());

        let provider = StreamError::new(
            StreamErrorKind::ProviderError {
                error_type: "overloaded_error".into(),
                message: "Overloaded".into(),
            },
            9,
            "",
        );
        assert!(provider
            .to_string()
            .contains("overloaded_error: Overloaded"));

        let idle = StreamError::idle(0, Duration::from_millis(1500));
        assert!(idle.to_string().contains("1.500 s"), "{idle}");
        assert!(idle.to_string().contains("stream_idle_timeout"), "{idle}");
    }

    #[test]
    fn stream_end_reports_usage_of_every_variant() {
        let usage = Some(Usage {
            input_tokens: 3,
            ..Usage::default()
        });
        let ends = [
            StreamEnd::Completed { usage },
            StreamEnd::Failed {
                error: StreamErrorKind::IdleTimeout,
                usage,
            },
            StreamEnd::Dropped { usage },
        ];
        for end in &ends {
            assert_eq!(end.usage(), usage, "{end:?}");
        }
        assert!(ends[0].is_completed());
        assert!(!ends[1].is_completed());
    }
}
