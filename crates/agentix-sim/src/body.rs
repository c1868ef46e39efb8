//! The response body of the simulated provider.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Response body: a JSON document in one frame, or server-sent events one frame each.
///
/// A body built to be cut ends with [`ResponseCut`] after its frames, which makes the
/// server close the connection before the response is complete.
pub struct SimBody {
    frames: VecDeque<Bytes>,
    /// Pause between frames, for streamed replies.
    interval: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    cut: bool,
    /// The body has returned `Pending` once before failing, so the server flushed the
    /// frames sent so far.
    flushed: bool,
    /// Exact length when the body is sent whole.
    length: Option<u64>,
}

impl SimBody {
    /// Creates a body sent as one frame.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        SimBody {
            length: Some(bytes.len() as u64),
            frames: VecDeque::from([bytes]),
            interval: Duration::ZERO,
            sleep: None,
            cut: false,
            flushed: false,
        }
    }

    /// Creates a body that sends `frames` with `interval` between them.
    pub(crate) fn frames(frames: Vec<Bytes>, interval: Duration) -> Self {
        SimBody {
            frames: frames.into(),
            interval,
            sleep: None,
            cut: false,
            flushed: false,
            length: None,
        }
    }

    /// Keeps the first `frames` frames and fails the body after them.
    pub(crate) fn cut_after(mut self, frames: usize) -> Self {
        self.frames.truncate(frames);
        self.cut = true;
        self.length = None;
        self
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = ResponseCut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseCut>>> {
        let this = &mut *self;
        if let Some(sleep) = this.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        match this.frames.pop_front() {
            Some(frame) => {
                if !this.interval.is_zero() && (!this.frames.is_empty() || this.cut) {
                    this.sleep = Some(Box::pin(tokio::time::sleep(this.interval)));
                }
                Poll::Ready(Some(Ok(Frame::data(frame))))
            }
            None if this.cut && !this.flushed => {
                // NOTE: hyper drops its unflushed write buffer when a body fails, so a
                // failure straight after the last frame would lose the frames and the head.
                this.flushed = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            None if this.cut => {
                this.cut = false;
                Poll::Ready(Some(Err(ResponseCut)))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && !self.cut
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}

impl fmt::Debug for SimBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBody")
            .field("frames_left", &self.frames.len())
            .field("cut", &self.cut)
            .finish()
    }
}

/// Error that ends a body the script cut midway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCut;

impl fmt::Display for ResponseCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response cut midway by the simulation script")
    }
}

impl std::error::Error for ResponseCut {}
