//! The streamed variant of [`LlmBody`](crate::LlmBody): raw event bytes out, parsed state kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use agentix_core::{BoxError, Usage};
use bytes::Bytes;
use http_body::Body;
use http_body_util::combinators::BoxBody;
use tokio::time::{Instant, Sleep};

use super::event::{ErrorEvent, Signal, UsageTracker};
use super::sse::{Block, SseDecoder};
use super::{StreamEnd, StreamError, StreamErrorKind};

/// Maximum wait for the end of the body after the terminal event.
///
/// The end (the last chunk of a chunked HTTP/1.1 body, or the end of an HTTP/2 stream)
/// normally follows the terminal event at once, and reading it lets the connection go back to
/// the pool. A server that keeps the body open is abandoned after this wait, which costs only
/// the connection: the stream still completes.
const MAX_END_OF_BODY_WAIT: Duration = Duration::from_secs(1);

/// A callback of [`LlmBody::on_finish`](crate::LlmBody::on_finish).
pub(crate) type FinishCallback = Box<dyn FnOnce(StreamEnd) + Send + 'static>;

/// The result of reading a stream up to its first content event.
#[derive(Debug)]
pub(crate) enum Prelude {
    /// Content or the terminal event arrived; the stream is returned to the caller.
    Streaming,
    /// The provider sent an error event before any content.
    ErrorBeforeContent(ErrorEvent),
}

/// A server-sent event stream that yields the bytes of complete events and tracks the
/// stream's content, usage and end.
pub(crate) struct SseBody {
    /// The response body; `None` once it ended, failed or was abandoned.
    inner: Option<BoxBody<Bytes, BoxError>>,
    decoder: SseDecoder,
    usage: UsageTracker,
    bytes_read: u64,
    content_seen: bool,
    terminal_seen: bool,
    /// The failure to return once the bytes before it are yielded.
    error: Option<StreamError>,
    /// The error event, while it came before any content.
    error_before_content: Option<ErrorEvent>,
    idle_timeout: Option<Duration>,
    /// The idle timer, and after the terminal event the wait for the end of the body.
    idle: Option<Pin<Box<Sleep>>>,
    waiting_for_end_of_body: bool,
    /// The end of the stream, once `poll_frame` reported it.
    ended: Option<StreamEnd>,
    // NOTE: accessed only through `&mut self` with `get_mut`, which never locks. The mutex
    // only makes the body `Sync`, because the callback need not be.
    on_finish: Mutex<Option<FinishCallback>>,
}

impl SseBody {
    /// Creates a stream over `body` that fails when `idle_timeout` passes without an event,
    /// or when a single event exceeds `max_event_bytes`.
    pub(crate) fn new(
        body: BoxBody<Bytes, BoxError>,
        idle_timeout: Option<Duration>,
        max_event_bytes: usize,
    ) -> Self {
        Self {
            inner: Some(body),
            decoder: SseDecoder::new(max_event_bytes),
            usage: UsageTracker::default(),
            bytes_read: 0,
            content_seen: false,
            terminal_seen: false,
            error: None,
            error_before_content: None,
            waiting_for_end_of_body: false,
            idle: idle_timeout.map(|timeout| Box::pin(tokio::time::sleep(timeout))),
            idle_timeout,
            ended: None,
            on_finish: Mutex::new(None),
        }
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage.usage()
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.ended.is_some()
    }

    /// Reads until the first content event, the terminal event or a failure, keeping the
    /// bytes read for `poll_frame`.
    pub(crate) fn poll_prelude(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Prelude, StreamError>> {
        loop {
            if let Some(event) = self.error_before_content.take() {
                return Poll::Ready(Ok(Prelude::ErrorBeforeContent(event)));
            }
            if self.content_seen || self.terminal_seen {
                return Poll::Ready(Ok(Prelude::Streaming));
            }
            if let Some(error) = self.error.take() {
                return Poll::Ready(Err(error));
            }
            std::task::ready!(self.poll_read(cx));
        }
    }

    /// Registers `callback` to run once when the stream ends, fails or is dropped; at once
    /// when it has already ended.
    pub(crate) fn on_finish(&mut self, callback: FinishCallback) {
        if let Some(end) = &self.ended {
            callback(end.clone());
            return;
        }
        let slot = self
            .on_finish
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(match slot.take() {
            None => callback,
            Some(first) => Box::new(move |end: StreamEnd| {
                first(end.clone());
                callback(end);
            }),
        });
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, StreamError>>> {
        loop {
            let accepted = self.decoder.take_accepted();
            if !accepted.is_empty() {
                return Poll::Ready(Some(Ok(accepted)));
            }
            if self.ended.is_some() {
                return Poll::Ready(None);
            }
            if let Some(error) = self.error.take() {
                tracing::debug!(error = %error, "streamed response failed");
                self.inner = None;
                self.finish(StreamEnd::Failed {
                    error: error.kind().clone(),
                    usage: self.usage(),
                });
                return Poll::Ready(Some(Err(error)));
            }
            if self.terminal_seen {
                std::task::ready!(self.poll_end_of_body(cx));
                self.finish(StreamEnd::Completed {
                    usage: self.usage(),
                });
                return Poll::Ready(None);
            }
            std::task::ready!(self.poll_read(cx));
        }
    }

    /// Reads one chunk of the response body, or notes why none will come.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(inner) = self.inner.as_mut() else {
            // NOTE: not reached, because the body is released only after the terminal event
            // or with an error. Failing keeps a broken invariant from spinning or hanging.
            if self.error.is_none() && !self.terminal_seen {
                let detail = "the body was released before the terminal event";
                let error = StreamError::new(StreamErrorKind::Interrupted, self.bytes_read, detail);
                self.error = Some(error);
            }
            return Poll::Ready(());
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => {
                if let Some(idle) = self.idle.as_mut() {
                    if idle.as_mut().poll(cx).is_ready() {
                        let timeout = self.idle_timeout.unwrap_or_default();
                        self.fail(StreamError::idle(self.bytes_read, timeout));
                        return Poll::Ready(());
                    }
                }
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                // Trailers carry nothing a stream's state depends on.
                if let Ok(data) = frame.into_data() {
                    self.consume(&data);
                }
                Poll::Ready(())
            }
            Poll::Ready(Some(Err(source))) => {
                let error = StreamError::new(
                    StreamErrorKind::Interrupted,
                    self.bytes_read,
                    "reading the response body failed",
                )
                .with_source(source);
                self.fail(error);
                Poll::Ready(())
            }
            Poll::Ready(None) => {
                self.inner = None;
                self.decoder.end_input();
                self.parse_blocks();
                if self.terminal_seen || self.error.is_some() {
                    return Poll::Ready(());
                }
                let detail = if self.decoder.has_partial_block() {
                    "the body ended inside an event, before the terminal event"
                } else {
                    "the body ended before the terminal event (`message_stop` or `[DONE]`)"
                };
                let error = StreamError::new(StreamErrorKind::Interrupted, self.bytes_read, detail);
                self.fail(error);
                Poll::Ready(())
            }
        }
    }

    /// Parses the complete events of a received chunk.
    fn consume(&mut self, data: &[u8]) {
        self.bytes_read += data.len() as u64;
        self.decoder.push(data);
        if self.parse_blocks() {
            if let (Some(idle), Some(timeout)) = (self.idle.as_mut(), self.idle_timeout) {
                // A timeout too long to add to the clock (`Duration::MAX` for "never") keeps
                // the timer that `tokio::time::sleep` already clamped.
                if let Some(deadline) = Instant::now().checked_add(timeout) {
                    idle.as_mut().reset(deadline);
                }
            }
        }
    }

    /// Parses the complete blocks buffered in the decoder, stopping at the terminal event or
    /// a failure; returns whether any block was complete.
    fn parse_blocks(&mut self) -> bool {
        let mut any_block = false;
        loop {
            let block = match self.decoder.next_block() {
                Ok(Some(block)) => block,
                Ok(None) => break,
                Err(error) => {
                    let error =
                        StreamError::new(StreamErrorKind::Malformed, self.bytes_read, error.0);
                    self.fail(error);
                    return true;
                }
            };
            any_block = true;
            let Block::Event { name, data } = block else {
                self.decoder.accept_block();
                continue;
            };
            match self.usage.apply(name, data) {
                Ok(Signal::Prelude) => {}
                Ok(Signal::Content) => self.content_seen = true,
                Ok(Signal::Terminal) => {
                    self.decoder.accept_block();
                    self.terminal_seen = true;
                    return true;
                }
                Ok(Signal::Error(event)) => {
                    self.decoder.accept_block();
                    let kind = StreamErrorKind::ProviderError {
                        error_type: event.error_type.clone(),
                        message: event.message.clone(),
                    };
                    if !self.content_seen {
                        self.error_before_content = Some(event);
                    }
                    self.fail(StreamError::new(kind, self.bytes_read, ""));
                    return true;
                }
                Err(_) => {
                    let detail = "an event's data is not the JSON of its format";
                    let error =
                        StreamError::new(StreamErrorKind::Malformed, self.bytes_read, detail);
                    self.fail(error);
                    return true;
                }
            }
            self.decoder.accept_block();
        }
        any_block
    }

    /// Records `error` to return after the accepted bytes and stops reading.
    fn fail(&mut self, error: StreamError) {
        self.inner = None;
        self.error = Some(error);
    }

    /// Reads the body after the terminal event to its end, so the connection can go back to
    /// the pool, and abandons it after [`MAX_END_OF_BODY_WAIT`].
    fn poll_end_of_body(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Some(inner) = self.inner.as_mut() {
            match Pin::new(inner).poll_frame(cx) {
                // Bytes after the terminal event are not part of the message.
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(_)) | None) => self.inner = None,
                Poll::Pending => {
                    let deadline = Instant::now() + MAX_END_OF_BODY_WAIT;
                    let wait = self
                        .idle
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    if !self.waiting_for_end_of_body {
                        self.waiting_for_end_of_body = true;
                        wait.as_mut().reset(deadline);
                    }
                    if wait.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.inner = None;
                }
            }
        }
        Poll::Ready(())
    }

    fn finish(&mut self, end: StreamEnd) {
        self.idle = None;
        let callback = self
            .on_finish
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        self.ended = Some(end.clone());
        if let Some(callback) = callback {
            callback(end);
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        let Some(callback) = self
            .on_finish
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let usage = self.usage();
        let end = if self.terminal_seen {
            StreamEnd::Completed { usage }
        } else if let Some(error) = &self.error {
            StreamEnd::Failed {
                error: error.kind().clone(),
                usage,
            }
        } else {
            StreamEnd::Dropped { usage }
        };
        callback(end);
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
