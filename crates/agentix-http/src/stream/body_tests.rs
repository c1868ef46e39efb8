use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentix_core::{BoxError, Usage};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;

use crate::{LlmBody, StreamEnd, StreamError, StreamErrorKind};

/// A body that yields scripted chunks, then ends, fails or stays pending forever.
struct ScriptedBody {
    chunks: VecDeque<Result<Bytes, BoxError>>,
    then_pending: bool,
}

impl Body for ScriptedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.chunks.pop_front() {
            Some(chunk) => std::task::Poll::Ready(Some(chunk.map(Frame::data))),
            None if self.then_pending => std::task::Poll::Pending,
            None => std::task::Poll::Ready(None),
        }
    }
}

fn body_of(chunks: &[&str], then_pending: bool) -> LlmBody {
    let chunks = chunks
        .iter()
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk.as_bytes())))
        .collect();
    let body = ScriptedBody {
        chunks,
        then_pending,
    };
    LlmBody::sse(body, Some(Duration::from_secs(5)), 1024)
}

/// Records every `StreamEnd` the body reports.
fn record_ends(body: &mut LlmBody) -> Arc<Mutex<Vec<StreamEnd>>> {
    let ends = Arc::new(Mutex::new(Vec::new()));
    let sink = ends.clone();
    body.on_finish(move |end| sink.lock().unwrap().push(end));
    ends
}

/// Reads the body to its end; returns the bytes and the error it ended with.
async fn read_all(body: &mut LlmBody) -> (String, Option<BoxError>) {
    let mut text = String::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => text.push_str(std::str::from_utf8(frame.data_ref().unwrap()).unwrap()),
            Err(error) => return (text, Some(error)),
        }
    }
    (text, None)
}

fn stream_error_kind(error: &BoxError) -> StreamErrorKind {
    error
        .downcast_ref::<StreamError>()
        .expect("the body fails with a StreamError")
        .kind()
        .clone()
}

const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n";
const DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
const MESSAGE_DELTA: &str = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":7}}\n\n";
const STOP: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn usage(input: u64, output: u64) -> Option<Usage> {
    Some(Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    })
}

#[tokio::test]
async fn complete_stream_yields_every_byte_and_reports_usage() {
    // Split inside events, so frames follow event boundaries rather than chunks.
    let whole = format!("{START}{DELTA}{MESSAGE_DELTA}{STOP}");
    let (first, rest) = whole.split_at(30);
    let (second, third) = rest.split_at(100);
    let mut body = body_of(&[first, second, third], false);
    assert!(body.is_stream());
    assert_eq!(body.as_bytes(), b"");
    let ends = record_ends(&mut body);

    let (text, error) = read_all(&mut body).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text, whole);
    assert!(body.is_end_stream());
    assert_eq!(body.usage_so_far(), usage(10, 7));
    assert_eq!(
        *ends.lock().unwrap(),
        [StreamEnd::Completed {
            usage: usage(10, 7)
        }]
    );
    drop(body);
    assert_eq!(ends.lock().unwrap().len(), 1, "on_finish ran again on drop");
}

#[tokio::test]
async fn frames_end_on_event_boundaries() {
    let whole = format!("{START}{DELTA}");
    let (first, second) = whole.split_at(START.len() + 10);
    let mut body = body_of(&[first, second, STOP], false);

    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&frame[..], START.as_bytes());
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&frame[..], DELTA.as_bytes());
}

#[tokio::test]
async fn missing_terminal_event_is_interrupted() {
    let mut body = body_of(&[START, DELTA, MESSAGE_DELTA], false);
    let ends = record_ends(&mut body);

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, format!("{START}{DELTA}{MESSAGE_DELTA}"));
    let error = error.expect("the stream fails");
    assert_eq!(stream_error_kind(&error), StreamErrorKind::Interrupted);
    assert!(error.to_string().contains("terminal event"), "{error}");
    assert!(
        body.frame().await.is_none(),
        "a failed stream ends after its error"
    );
    let expected = StreamEnd::Failed {
        error: StreamErrorKind::Interrupted,
        usage: usage(10, 7),
    };
    assert_eq!(*ends.lock().unwrap(), [expected]);
}

#[tokio::test]
async fn body_ending_inside_an_event_is_interrupted() {
    let mut body = body_of(&[START, &DELTA[..20]], false);
    let (text, error) = read_all(&mut body).await;
    assert_eq!(text, START, "the partial event is not passed on");
    let error = error.expect("the stream fails");
    assert_eq!(stream_error_kind(&error), StreamErrorKind::Interrupted);
    assert!(error.to_string().contains("inside an event"), "{error}");
}

#[tokio::test]
async fn read_error_is_interrupted_with_source() {
    let chunks = VecDeque::from([
        Ok(Bytes::from_static(START.as_bytes())),
        Err(BoxError::from(std::io::Error::other("connection reset"))),
    ]);
    let body = ScriptedBody {
        chunks,
        then_pending: false,
    };
    let mut body = LlmBody::sse(body, None, 1024);

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, START);
    let error = error.expect("the stream fails");
    assert_eq!(stream_error_kind(&error), StreamErrorKind::Interrupted);
    assert!(error.to_string().contains("connection reset"), "{error}");
    assert!(std::error::Error::source(&*error).is_some());
}

#[tokio::test]
async fn malformed_line_fails_after_the_events_before_it() {
    let cases = [
        "data: {not json}\n\n",
        "{\"type\":\"content_block_delta\"}\n\n",
        "data: \u{0}\n\n",
    ];
    for malformed in cases {
        let mut body = body_of(&[START, DELTA, malformed, STOP], false);
        let ends = record_ends(&mut body);

        let (text, error) = read_all(&mut body).await;

        assert_eq!(text, format!("{START}{DELTA}"), "{malformed:?}");
        let error = error.expect("the stream fails");
        assert_eq!(
            stream_error_kind(&error),
            StreamErrorKind::Malformed,
            "{malformed:?}"
        );
        let ends = ends.lock().unwrap();
        assert!(
            matches!(
                &ends[..],
                [StreamEnd::Failed {
                    error: StreamErrorKind::Malformed,
                    ..
                }]
            ),
            "{ends:?}"
        );
    }
}

#[tokio::test]
async fn error_event_after_content_is_provider_error() {
    let error_event = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let mut body = body_of(&[START, DELTA, error_event], false);

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, format!("{START}{DELTA}{error_event}"));
    let error = error.expect("the stream fails");
    let expected = StreamErrorKind::ProviderError {
        error_type: "overloaded_error".into(),
        message: "Overloaded".into(),
    };
    assert_eq!(stream_error_kind(&error), expected);
}

#[tokio::test(start_paused = true)]
async fn stall_between_events_is_idle_timeout() {
    let mut body = body_of(&[START, DELTA], true);
    let ends = record_ends(&mut body);
    let started = tokio::time::Instant::now();

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, format!("{START}{DELTA}"));
    let error = error.expect("the stream fails");
    assert_eq!(stream_error_kind(&error), StreamErrorKind::IdleTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert!(matches!(
        &ends.lock().unwrap()[..],
        [StreamEnd::Failed {
            error: StreamErrorKind::IdleTimeout,
            ..
        }]
    ));
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_reset_the_idle_timer() {
    let chunks = VecDeque::from([Ok(Bytes::from_static(START.as_bytes()))]);
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let body = ChannelBody {
        first: ScriptedBody {
            chunks,
            then_pending: false,
        },
        receiver,
    };
    let mut body = LlmBody::sse(body, Some(Duration::from_secs(5)), 1024);
    let feeder = tokio::spawn(async move {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            sender
                .send(Bytes::from_static(b": keep-alive\n\n"))
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        sender.send(Bytes::from_static(STOP.as_bytes())).unwrap();
    });
    let started = tokio::time::Instant::now();

    let (text, error) = read_all(&mut body).await;

    assert!(error.is_none(), "{error:?}");
    assert!(text.ends_with(STOP));
    assert_eq!(started.elapsed(), Duration::from_secs(16));
    feeder.await.unwrap();
}

/// A body that yields scripted chunks, then chunks from a channel until it closes.
struct ChannelBody {
    first: ScriptedBody,
    receiver: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.first.chunks.pop_front() {
            return std::task::Poll::Ready(Some(chunk.map(Frame::data)));
        }
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[tokio::test]
async fn dropped_stream_reports_usage_so_far_once() {
    let mut body = body_of(&[START, DELTA, MESSAGE_DELTA, STOP], false);
    let ends = record_ends(&mut body);
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    assert_eq!(body.usage_so_far(), usage(10, 1));

    drop(body);

    assert_eq!(
        *ends.lock().unwrap(),
        [StreamEnd::Dropped {
            usage: usage(10, 1)
        }]
    );
}

#[tokio::test]
async fn dropped_after_terminal_event_is_completed() {
    let whole = format!("{START}{DELTA}{MESSAGE_DELTA}{STOP}");
    let mut body = body_of(&[&whole], false);
    let ends = record_ends(&mut body);
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame.len(), whole.len());

    drop(body);

    assert_eq!(
        *ends.lock().unwrap(),
        [StreamEnd::Completed {
            usage: usage(10, 7)
        }]
    );
}

#[tokio::test]
async fn on_finish_callbacks_run_in_order() {
    let mut body = body_of(&[START, DELTA, STOP], false);
    let order = Arc::new(Mutex::new(Vec::new()));
    for name in ["first", "second"] {
        let order = order.clone();
        body.on_finish(move |end| order.lock().unwrap().push((name, end.is_completed())));
    }
    let (_, error) = read_all(&mut body).await;
    assert!(error.is_none());
    assert_eq!(*order.lock().unwrap(), [("first", true), ("second", true)]);

    let late = order.clone();
    body.on_finish(move |end| late.lock().unwrap().push(("late", end.is_completed())));
    drop(body);
    assert_eq!(
        *order.lock().unwrap(),
        [("first", true), ("second", true), ("late", true)]
    );
}

#[tokio::test]
async fn buffered_body_finishes_at_once_with_its_usage() {
    let mut body = LlmBody::from(r#"{"usage":{"input_tokens":3,"output_tokens":4}}"#);
    assert!(!body.is_stream());
    assert_eq!(body.usage_so_far(), usage(3, 4));
    let ends = record_ends(&mut body);
    assert_eq!(
        *ends.lock().unwrap(),
        [StreamEnd::Completed { usage: usage(3, 4) }]
    );
    drop(body);
    assert_eq!(ends.lock().unwrap().len(), 1);
}

#[test]
fn body_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LlmBody>();
}

#[tokio::test]
async fn debug_of_stream_omits_contents() {
    let mut body = body_of(&[START, STOP], false);
    let _ = body.frame().await;
    let debug = format!("{body:?}");
    assert!(debug.contains("stream: true"), "{debug}");
    assert!(!debug.contains("message_start"), "{debug}");
}

#[tokio::test(start_paused = true)]
async fn body_kept_open_after_terminal_event_completes() {
    let mut body = body_of(&[START, DELTA, STOP], true);
    let ends = record_ends(&mut body);
    let started = tokio::time::Instant::now();

    let (text, error) = read_all(&mut body).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text, format!("{START}{DELTA}{STOP}"));
    assert_eq!(started.elapsed(), super::MAX_END_OF_BODY_WAIT);
    assert!(ends.lock().unwrap()[0].is_completed());
}
