//! The response body of an LLM call.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use agentix_core::BoxError;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The body of an LLM response.
///
/// Today every body is read in full before the response is returned, so the classifier and
/// the usage meter can parse it. The representation is private so that a streaming variant
/// (server-sent events) can be added later without changing any signature.
pub struct LlmBody {
    kind: Kind,
}

enum Kind {
    /// A body read in full; `sent` records whether [`Body::poll_frame`] has yielded it.
    Full { bytes: Bytes, sent: bool },
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

    /// Returns the bytes of the body.
    ///
    /// The whole body is returned, also after [`Body::poll_frame`] has yielded it.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.kind {
            Kind::Full { bytes, .. } => bytes,
        }
    }

    /// Consumes the body and returns its bytes without copying them.
    pub fn into_bytes(self) -> Bytes {
        match self.kind {
            Kind::Full { bytes, .. } => bytes,
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
        }
    }
}

impl Body for LlmBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { bytes, sent } => *sent || bytes.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { bytes, sent } => {
                let remaining = if *sent { 0 } else { bytes.len() as u64 };
                SizeHint::with_exact(remaining)
            }
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
