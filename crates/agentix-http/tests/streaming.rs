//! Streamed responses of `HttpClient` against the simulated provider over loopback HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentix_core::{BoxError, Classify, Failure, FailureKind, MeterUsage, Outcome, Usage};
use agentix_http::{
    EarlyStreamError, HttpClient, LlmAdapter, LlmBody, Provider, StreamEnd, StreamError,
    StreamErrorKind,
};
use agentix_sim::{SimServer, Step};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::ServiceExt;

const MODEL: &str = "m";

fn stream_request(provider: Provider, base_url: &str, include_usage: bool) -> http::Request<Bytes> {
    let mut body = serde_json::json!({
        "model": MODEL,
        "max_tokens": 100,
        "stream": true,
        "messages": [{"role": "user", "content": "Tell me about circuit breakers."}],
    });
    if include_usage {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    provider.request(base_url, "sk-test", &body).unwrap()
}

/// Starts the simulator with `steps` scripted for [`MODEL`].
async fn sim_with(steps: impl IntoIterator<Item = Step>) -> SimServer {
    let server = SimServer::start().await.unwrap();
    server.script(MODEL, steps);
    server
}

async fn call(
    client: &HttpClient,
    provider: Provider,
    server: &SimServer,
) -> Result<http::Response<LlmBody>, BoxError> {
    let request = stream_request(provider, &server.base_url(), true);
    client.clone().oneshot(request).await
}

/// Records every `StreamEnd` a body reports.
fn record_ends(body: &mut LlmBody) -> Arc<Mutex<Vec<StreamEnd>>> {
    let ends = Arc::new(Mutex::new(Vec::new()));
    let sink = ends.clone();
    body.on_finish(move |end| sink.lock().unwrap().push(end));
    ends
}

/// Reads a body to its end; returns the text and the error it ended with.
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

fn stream_error_kind(error: &BoxError) -> &StreamErrorKind {
    error
        .downcast_ref::<StreamError>()
        .unwrap_or_else(|| panic!("expected a StreamError, got {error}"))
        .kind()
}

fn failure_of(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failure(failure) => failure,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn usage(input: u64, output: u64) -> Option<Usage> {
    Some(Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    })
}

/// Asserts that `ends` contains exactly one end, and returns it.
fn single_end(ends: &Mutex<Vec<StreamEnd>>) -> StreamEnd {
    let ends = ends.lock().unwrap();
    assert_eq!(
        ends.len(),
        1,
        "on_finish ran {} times: {ends:?}",
        ends.len()
    );
    ends[0].clone()
}

#[tokio::test]
async fn both_formats_stream_to_completion_with_usage() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let server = sim_with([Step::ok().usage(21, 8)]).await;
        let response = call(&HttpClient::new(), provider, &server).await.unwrap();

        let adapter = LlmAdapter::new();
        assert_eq!(
            adapter.classify(Ok(&response)),
            Outcome::Success,
            "{provider}"
        );
        assert_eq!(
            adapter.usage(&response),
            None,
            "{provider}: usage is unknown yet"
        );
        assert!(response.body().is_stream(), "{provider}");

        let mut body = response.into_body();
        let ends = record_ends(&mut body);
        let (text, error) = read_all(&mut body).await;

        assert!(error.is_none(), "{provider}: {error:?}");
        let terminal = match provider {
            Provider::Anthropic => "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            Provider::OpenAi => "data: [DONE]\n\n",
        };
        assert!(text.ends_with(terminal), "{provider}: {text}");
        assert_eq!(body.usage_so_far(), usage(21, 8), "{provider}");
        drop(body);
        let end = single_end(&ends);
        assert_eq!(
            end,
            StreamEnd::Completed {
                usage: usage(21, 8)
            },
            "{provider}"
        );
    }
}

#[tokio::test]
async fn openai_stream_without_include_usage_completes_without_usage() {
    let server = sim_with([]).await;
    let request = stream_request(Provider::OpenAi, &server.base_url(), false);
    let mut body = HttpClient::new()
        .oneshot(request)
        .await
        .unwrap()
        .into_body();
    let ends = record_ends(&mut body);

    let (_, error) = read_all(&mut body).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(single_end(&ends), StreamEnd::Completed { usage: None });
}

#[tokio::test(start_paused = true)]
async fn client_returns_at_first_content_event() {
    // Anthropic sends message_start, content_block_start and ping before the first delta,
    // one second apart.
    let server = sim_with([Step::ok().event_interval(Duration::from_secs(1))]).await;
    let started = tokio::time::Instant::now();

    let response = call(&HttpClient::new(), Provider::Anthropic, &server)
        .await
        .unwrap();

    assert_eq!(started.elapsed(), Duration::from_secs(3));
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first = std::str::from_utf8(&first).unwrap();
    assert!(first.starts_with("event: message_start\n"), "{first}");
    assert!(first.contains("event: content_block_delta\n"), "{first}");
}

#[tokio::test]
async fn error_event_before_content_classifies_as_its_kind() {
    let cases = [
        (
            Provider::Anthropic,
            Step::error_in_stream(3, 529),
            529,
            FailureKind::Overloaded,
        ),
        (
            Provider::Anthropic,
            Step::error_in_stream(1, 429),
            429,
            FailureKind::RateLimited,
        ),
        (
            Provider::Anthropic,
            Step::error_in_stream(0, 500),
            500,
            FailureKind::ServerError,
        ),
        (
            Provider::OpenAi,
            Step::error_in_stream(1, 503),
            503,
            FailureKind::Overloaded,
        ),
        (
            Provider::OpenAi,
            Step::error_in_stream(1, 429),
            429,
            FailureKind::RateLimited,
        ),
    ];
    for (provider, step, status, kind) in cases {
        let server = sim_with([step]).await;
        let response = call(&HttpClient::new(), provider, &server).await.unwrap();

        assert_eq!(response.status().as_u16(), status, "{provider} {kind:?}");
        assert!(!response.body().is_stream());
        let marker = response.extensions().get::<EarlyStreamError>().unwrap();
        assert_eq!(marker.status_received, http::StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let error_body: serde_json::Value =
            serde_json::from_slice(response.body().as_bytes()).unwrap();
        assert!(error_body["error"]["message"].is_string(), "{error_body}");

        let failure = failure_of(LlmAdapter::new().classify(Ok(&response)));
        assert_eq!(failure.kind, kind, "{provider} {status}");
        assert_eq!(failure.status, Some(status));
        assert!(failure.is_retryable());
    }
}

#[tokio::test]
async fn error_event_after_content_fails_the_body() {
    let cases = [
        (
            Provider::Anthropic,
            Step::error_in_stream(5, 529),
            "overloaded_error",
        ),
        (
            Provider::OpenAi,
            Step::error_in_stream(2, 500).message("boom"),
            "server_error",
        ),
    ];
    for (provider, step, error_type) in cases {
        let server = sim_with([step.usage(30, 9)]).await;
        let response = call(&HttpClient::new(), provider, &server).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        let mut body = response.into_body();
        let ends = record_ends(&mut body);

        let (text, error) = read_all(&mut body).await;

        let error = error.unwrap_or_else(|| panic!("{provider}: the stream ended cleanly"));
        let StreamErrorKind::ProviderError {
            error_type: received,
            ..
        } = stream_error_kind(&error)
        else {
            panic!("{provider}: expected a provider error, got {error}");
        };
        assert_eq!(received, error_type, "{provider}");
        assert!(
            text.contains(error_type),
            "{provider}: the error event is passed on"
        );
        assert!(body.frame().await.is_none(), "{provider}");
        drop(body);
        let StreamEnd::Failed {
            error,
            usage: reported,
        } = single_end(&ends)
        else {
            panic!("{provider}: expected a failed end");
        };
        assert!(
            matches!(error, StreamErrorKind::ProviderError { .. }),
            "{provider}"
        );
        if provider == Provider::Anthropic {
            assert_eq!(reported, usage(30, 1), "message_start reported the input");
        }
    }
}

#[tokio::test]
async fn cut_midway_is_interrupted() {
    for provider in [Provider::Anthropic, Provider::OpenAi] {
        let server = sim_with([Step::cut_after(5)]).await;
        let mut body = call(&HttpClient::new(), provider, &server)
            .await
            .unwrap()
            .into_body();
        let ends = record_ends(&mut body);

        let (text, error) = read_all(&mut body).await;

        let error = error.unwrap_or_else(|| panic!("{provider}: the stream ended cleanly"));
        assert_eq!(
            stream_error_kind(&error),
            &StreamErrorKind::Interrupted,
            "{provider}"
        );
        assert!(!text.is_empty(), "{provider}");
        drop(body);
        let end = single_end(&ends);
        assert!(
            matches!(
                end,
                StreamEnd::Failed {
                    error: StreamErrorKind::Interrupted,
                    ..
                }
            ),
            "{provider}: {end:?}"
        );
    }
}

#[tokio::test]
async fn cut_before_content_fails_the_call_as_connection() {
    let server = sim_with([Step::cut_after(2)]).await;
    let result = call(&HttpClient::new(), Provider::Anthropic, &server).await;

    let error = result.unwrap_err();
    assert_eq!(stream_error_kind(&error), &StreamErrorKind::Interrupted);
    let failure = failure_of(LlmAdapter::new().classify(Err(&error)));
    assert_eq!(failure.kind, FailureKind::Connection);
}

const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n";
const DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
const MESSAGE_DELTA: &str = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n";

fn raw_stream(body: String) -> Step {
    Step::raw(200, "text/event-stream", body)
}

#[tokio::test]
async fn missing_terminal_event_is_interrupted() {
    let server = sim_with([raw_stream(format!("{START}{DELTA}{MESSAGE_DELTA}"))]).await;
    let mut body = call(&HttpClient::new(), Provider::Anthropic, &server)
        .await
        .unwrap()
        .into_body();
    let ends = record_ends(&mut body);

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, format!("{START}{DELTA}{MESSAGE_DELTA}"));
    let error = error.expect("a stream without message_stop fails");
    assert_eq!(stream_error_kind(&error), &StreamErrorKind::Interrupted);
    drop(body);
    let expected = StreamEnd::Failed {
        error: StreamErrorKind::Interrupted,
        usage: usage(10, 4),
    };
    assert_eq!(single_end(&ends), expected);
}

#[tokio::test]
async fn openai_stream_without_done_is_interrupted() {
    let chunk = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    let server = sim_with([raw_stream(chunk.repeat(3))]).await;
    let mut body = call(&HttpClient::new(), Provider::OpenAi, &server)
        .await
        .unwrap()
        .into_body();

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, chunk.repeat(3));
    let error = error.expect("a stream without [DONE] fails");
    assert_eq!(stream_error_kind(&error), &StreamErrorKind::Interrupted);
}

#[tokio::test]
async fn malformed_line_after_content_fails_the_body() {
    let server = sim_with([raw_stream(format!(
        "{START}{DELTA}data: {{oops\n\n{MESSAGE_DELTA}"
    ))])
    .await;
    let mut body = call(&HttpClient::new(), Provider::Anthropic, &server)
        .await
        .unwrap()
        .into_body();
    let ends = record_ends(&mut body);

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, format!("{START}{DELTA}"));
    let error = error.expect("a malformed line fails the stream");
    assert_eq!(stream_error_kind(&error), &StreamErrorKind::Malformed);
    drop(body);
    assert!(matches!(
        single_end(&ends),
        StreamEnd::Failed {
            error: StreamErrorKind::Malformed,
            ..
        }
    ));
}

#[tokio::test]
async fn malformed_line_before_content_fails_the_call() {
    let server = sim_with([raw_stream(format!("{START}not an event\n\n{DELTA}"))]).await;
    let error = call(&HttpClient::new(), Provider::Anthropic, &server)
        .await
        .unwrap_err();

    assert_eq!(stream_error_kind(&error), &StreamErrorKind::Malformed);
    let failure = failure_of(LlmAdapter::new().classify(Err(&error)));
    assert_eq!(failure.kind, FailureKind::Other);
}

fn client_with_idle_timeout(timeout: Duration) -> HttpClient {
    HttpClient::builder()
        .stream_idle_timeout(Some(timeout))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn stall_before_content_fails_the_call_as_timeout() {
    let server = sim_with([Step::ok().event_interval(Duration::from_secs(3600))]).await;
    let client = client_with_idle_timeout(Duration::from_secs(30));
    let started = tokio::time::Instant::now();

    let error = call(&client, Provider::OpenAi, &server).await.unwrap_err();

    assert_eq!(stream_error_kind(&error), &StreamErrorKind::IdleTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let failure = failure_of(LlmAdapter::new().classify(Err(&error)));
    assert_eq!(failure.kind, FailureKind::Timeout);
}

/// Starts a server that responds to one request with a stream head, sends `events` and then
/// keeps the connection open without sending more.
async fn stalling_server(events: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0; 8192];
        let _ = stream.read(&mut buffer).await;
        let chunk = format!("{:x}\r\n{events}\r\n", events.len());
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(chunk.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        // Keeps the connection open until the client gives up.
        while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
    });
    (base_url, task)
}

#[tokio::test(start_paused = true)]
async fn stall_after_content_is_idle_timeout() {
    let (base_url, server) = stalling_server(format!("{START}{DELTA}")).await;
    let client = client_with_idle_timeout(Duration::from_secs(30));
    let request = stream_request(Provider::Anthropic, &base_url, false);
    let mut body = client.oneshot(request).await.unwrap().into_body();
    let ends = record_ends(&mut body);
    let started = tokio::time::Instant::now();

    let (text, error) = read_all(&mut body).await;

    assert_eq!(text, format!("{START}{DELTA}"));
    let error = error.expect("a stalled stream fails");
    assert_eq!(stream_error_kind(&error), &StreamErrorKind::IdleTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    drop(body);
    let expected = StreamEnd::Failed {
        error: StreamErrorKind::IdleTimeout,
        usage: usage(10, 1),
    };
    assert_eq!(single_end(&ends), expected);
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn dropped_stream_reports_usage_so_far_once() {
    let server = sim_with([Step::ok()
        .usage(40, 12)
        .event_interval(Duration::from_secs(1))])
    .await;
    let mut body = call(&HttpClient::new(), Provider::Anthropic, &server)
        .await
        .unwrap()
        .into_body();
    let ends = record_ends(&mut body);
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    assert!(
        ends.lock().unwrap().is_empty(),
        "the stream has not ended yet"
    );

    drop(body);

    assert_eq!(
        single_end(&ends),
        StreamEnd::Dropped {
            usage: usage(40, 1)
        }
    );
}

#[tokio::test]
async fn buffered_reply_is_not_a_stream() {
    let server = sim_with([Step::ok().usage(5, 6)]).await;
    let body = serde_json::json!({
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    });
    let request = Provider::Anthropic
        .request(&server.base_url(), "sk-test", &body)
        .unwrap();
    let response = HttpClient::new().oneshot(request).await.unwrap();

    assert!(!response.body().is_stream());
    assert_eq!(LlmAdapter::new().usage(&response), usage(5, 6));
    let mut body = response.into_body();
    let ends = record_ends(&mut body);
    assert_eq!(
        single_end(&ends),
        StreamEnd::Completed { usage: usage(5, 6) }
    );
}

#[tokio::test]
async fn retry_layer_retries_error_event_before_content() {
    use agentix_retry::{RetryConfig, RetryLayer};
    use tower::Layer;

    let server = sim_with([Step::error_in_stream(3, 529), Step::ok().usage(12, 3)]).await;
    let config = RetryConfig {
        base_delay: Duration::ZERO,
        jitter: 0.0,
        ..RetryConfig::default()
    };
    let service = RetryLayer::new(config, LlmAdapter::new()).layer(HttpClient::new());
    let request = stream_request(Provider::Anthropic, &server.base_url(), false);

    let response = service.oneshot(request).await.unwrap();

    assert_eq!(server.requests(MODEL), 2);
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut body = response.into_body();
    let ends = record_ends(&mut body);
    let (_, error) = read_all(&mut body).await;
    assert!(error.is_none(), "{error:?}");
    drop(body);
    assert_eq!(
        single_end(&ends),
        StreamEnd::Completed {
            usage: usage(12, 3)
        }
    );
}

/// A response body sent as one chunk of unknown length, so HTTP/1.1 sends it chunked and
/// the final empty chunk follows the data.
struct OneChunk(Option<Bytes>);

impl http_body::Body for OneChunk {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.take().map(|data| Ok(http_body::Frame::data(data))))
    }
}

/// Starts a server that responds to every request with `events` as a chunked event stream,
/// and returns its base URL and a count of the connections it accepted.
async fn chunked_stream_server(events: String) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicU64::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let events = events.clone();
            let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
                let events = Bytes::from(events.clone());
                async move {
                    let _ = request.into_body().collect().await;
                    let response = http::Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(OneChunk(Some(events)))
                        .unwrap();
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (base_url, connections)
}

#[tokio::test]
async fn completed_stream_returns_connection_to_pool() {
    let events = format!(
        "{START}{DELTA}{MESSAGE_DELTA}event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let (base_url, connections) = chunked_stream_server(events.clone()).await;
    let client = HttpClient::new();

    for _ in 0..3 {
        let request = stream_request(Provider::Anthropic, &base_url, false);
        let mut body = client.clone().oneshot(request).await.unwrap().into_body();
        let (text, error) = read_all(&mut body).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(text, events);
    }

    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "each stream left its connection reusable"
    );
}
