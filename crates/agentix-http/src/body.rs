//! The response body of an LLM call.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use agentix_core::{BoxError, Usage};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::adapter::usage_of_json;
use crate::stream::{SseBody, StreamEnd};

/// The body of an LLM response: buffered, or a stream of server-sent events.
///
/// A buffered body was read in full before the response was returned, so the classifier
/// and the usage meter can parse it. A streamed body (see [`LlmBody::is_stream`]) yields the
/// raw bytes of complete events as they arrive. It fails with a
/// [`StreamError`](crate::StreamError) when the stream breaks before its terminal event. Its
/// usage is known only as the events arrive ([`LlmBody::usage_so_far`],
/// [`LlmBody::on_finish`]).
pub struct LlmBody {
    kind: Kind,
}

enum Kind {
    /// A body read in full; `sent` records whether [`Body::poll_frame`] has yielded it.
    Full { bytes: Bytes, sent: bool },
    /// Boxed so that a buffered body stays three words.
    Stream(Box<SseBody>),
}

impl LlmBody {
    /// Creates a body from bytes that were read in full.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full {
                bytes: bytes.into(),
                sent: false,
            },
        }
    }

    /// Creates an empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// Creates a streamed body over server-sent events, as
    /// [`HttpClient`](crate::HttpClient) does for a streamed response.
    ///
    /// The stream fails with [`StreamErrorKind::IdleTimeout`](crate::StreamErrorKind) when
    /// `idle_timeout` passes without an event, and with
    /// [`StreamErrorKind::Malformed`](crate::StreamErrorKind) when one event exceeds
    /// `max_event_bytes`. Unlike the client, this constructor does not read ahead to the
    /// first content event.
    pub fn sse<B>(body: B, idle_timeout: Option<Duration>, max_event_bytes: usize) -> Self
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let body = body.map_err(Into::into).boxed();
        Self::from_stream(SseBody::new(body, idle_timeout, max_event_bytes))
    }

    pub(crate) fn from_stream(stream: SseBody) -> Self {
        Self {
            kind: Kind::Stream(Box::new(stream)),
        }
    }

    /// Returns whether the body is a stream of server-sent events rather than buffered.
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }

    /// Returns the bytes of a buffered body; empty for a stream.
    ///
    /// The whole buffered body is returned, also after [`Body::poll_frame`] has yielded it.
    /// A stream's bytes are yielded only once, by [`Body::poll_frame`].
    pub fn as_bytes(&self) -> &[u8] {
        match &self.kind {
            Kind::Full { bytes, .. } => bytes,
            Kind::Stream(_) => &[],
        }
    }

    /// Consumes a buffered body and returns its bytes without copying them; empty for a
    /// stream, which is dropped (see [`LlmBody::on_finish`]).
    ///
    /// Read a stream with `http_body_util::BodyExt::collect` instead.
    pub fn into_bytes(self) -> Bytes {
        match self.kind {
            Kind::Full { bytes, .. } => bytes,
            Kind::Stream(_) => Bytes::new(),
        }
    }

    /// Returns the usage the body reports so far.
    ///
    /// A buffered body returns the `usage` object of its JSON, as
    /// [`LlmAdapter`](crate::LlmAdapter)'s `MeterUsage::usage` does. A stream returns the
    /// counts its events have reported: Anthropic's input counts from `message_start` and the
    /// cumulative counts of the latest `message_delta`, or OpenAI's usage chunk. `None` before
    /// any event reported usage.
    ///
    /// NOTE: Anthropic reports output tokens only in `message_start` (usually 1) and in
    /// `message_delta` at the end, so a stream that breaks before `message_delta` reports
    /// fewer output tokens than it generated.
    pub fn usage_so_far(&self) -> Option<Usage> {
        match &self.kind {
            Kind::Full { bytes, .. } => usage_of_json(bytes),
            Kind::Stream(stream) => stream.usage(),
        }
    }

    /// Registers `callback` to run exactly once, when the body ends.
    ///
    /// A stream calls it with [`StreamEnd::Completed`] when `poll_frame` reports the end
    /// after the terminal event, with [`StreamEnd::Failed`] when `poll_frame` returns a
    /// [`StreamError`](crate::StreamError), and on drop otherwise: `Completed` when the
    /// terminal event had arrived, `Failed` when a failure was pending, else
    /// [`StreamEnd::Dropped`]. Each carries the usage reported by then. A callback
    /// registered after the end runs at once, and several callbacks run in the order they
    /// were registered.
    ///
    /// A buffered body runs `callback` at once with `Completed` and the usage of its JSON,
    /// without allocating.
    ///
    /// The callback runs inside `poll_frame` or `drop`, so it should be quick; a panic in it
    /// during a drop that unwinds aborts the process.
    pub fn on_finish<F>(&mut self, callback: F)
    where
        F: FnOnce(StreamEnd) + Send + 'static,
    {
        match &mut self.kind {
            Kind::Full { bytes, .. } => callback(StreamEnd::Completed {
                usage: usage_of_json(bytes),
            }),
            Kind::Stream(stream) => stream.on_finish(Box::new(callback)),
        }
    }
}

impl Default for LlmBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Bytes> for LlmBody {
    fn from(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

impl From<String> for LlmBody {
    fn from(text: String) -> Self {
        Self::full(text)
    }
}

impl From<&'static str> for LlmBody {
    fn from(text: &'static str) -> Self {
        Self::full(text)
    }
}

impl From<Vec<u8>> for LlmBody {
    fn from(bytes: Vec<u8>) -> Self {
        Self::full(bytes)
    }
}

impl fmt::Debug for LlmBody {
    // The contents are left out because a body can contain prompts and completions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full { bytes, .. } => f
                .debug_struct("LlmBody")
                .field("len", &bytes.len())
                .finish_non_exhaustive(),
            Kind::Stream(stream) => f
                .debug_struct("LlmBody")
                .field("stream", &true)
                .field("bytes_read", &stream.bytes_read())
                .finish_non_exhaustive(),
        }
    }
}

impl Body for LlmBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full { bytes, sent } => {
                if *sent || bytes.is_empty() {
                    *sent = true;
                    return Poll::Ready(None);
                }
                *sent = true;
                // Cloning `Bytes` is a reference-count increment, so `as_bytes` keeps working.
                Poll::Ready(Some(Ok(Frame::data(bytes.clone()))))
            }
            Kind::Stream(stream) => stream
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map(Frame::data).map_err(BoxError::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { bytes, sent } => *sent || bytes.is_empty(),
            Kind::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { bytes, sent } => {
                let remaining = if *sent { 0 } else { bytes.len() as u64 };
                SizeHint::with_exact(remaining)
            }
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn collect_yields_whole_body_once() {
        let body = LlmBody::from("{\"id\":1}");
        assert_eq!(body.size_hint().exact(), Some(8));
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"{\"id\":1}");
    }

    #[tokio::test]
    async fn as_bytes_survives_polling() {
        let mut body = LlmBody::from(String::from("abc"));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"abc"));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
        assert_eq!(body.as_bytes(), b"abc");
        assert_eq!(body.into_bytes(), Bytes::from_static(b"abc"));
    }

    #[tokio::test]
    async fn empty_body_ends_at_once() {
        let mut body = LlmBody::empty();
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
        assert_eq!(body.as_bytes(), b"");
    }

    #[test]
    fn debug_omits_contents() {
        let body = LlmBody::from("secret prompt");
        let debug = format!("{body:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("13"), "{debug}");
    }
}
