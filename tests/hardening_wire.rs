//! Malformed provider replies over real loopback HTTP, from a raw TCP server that writes
//! scripted bytes: the client must return a clear error or a response, never panic or hang.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentix::http::HttpClientConfig;
use agentix::{AgentixAgentOptions, AgentixClient, AgentixError, FailureKind, HttpClient};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MODEL: &str = "claude-opus-4-20250514";

/// What the raw server does with one connection.
#[derive(Clone)]
enum Action {
    /// Writes these bytes, then closes the connection.
    Write(Vec<u8>),
    /// Reads the request and never sends a response.
    Hang,
}

/// A TCP server on loopback that runs the next scripted action on each connection, and
/// with the last one once the script is used up.
struct RawServer {
    url: String,
    connections: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    async fn start(script: Vec<Action>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(Mutex::new(0));
        let counter = connections.clone();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                *counter.lock().unwrap() += 1;
                let action = {
                    let mut script = script.lock().unwrap();
                    if script.len() > 1 {
                        script.pop_front().unwrap()
                    } else {
                        script.front().cloned().unwrap()
                    }
                };
                tokio::spawn(async move {
                    read_request(&mut socket).await;
                    match action {
                        Action::Write(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                            let _ = socket.shutdown().await;
                        }
                        Action::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                });
            }
        });
        Self {
            url,
            connections,
            task,
        }
    }

    fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head and its `content-length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(read) = socket.read(&mut chunk).await else {
            return;
        };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return;
            }
        }
    }
}

fn response(status_line: &str, headers: &[&str], body: &[u8]) -> Action {
    let mut bytes = format!("{status_line}\r\n").into_bytes();
    for header in headers {
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body);
    Action::Write(bytes)
}

fn raw(bytes: &[u8]) -> Action {
    Action::Write(bytes.to_vec())
}

fn options() -> AgentixAgentOptions {
    AgentixAgentOptions {
        model: MODEL.into(),
        retry_base_delay: 0.01,
        retry_max_delay: 0.05,
        retry_jitter: 0.0,
        ..AgentixAgentOptions::default()
    }
}

fn client(server: &RawServer, options: AgentixAgentOptions) -> AgentixClient {
    let http = HttpClient::with_config(HttpClientConfig {
        request_timeout: Some(Duration::from_millis(500)),
        max_response_bytes: 1024 * 1024,
        stream_idle_timeout: Some(Duration::from_millis(300)),
        ..HttpClientConfig::default()
    })
    .unwrap();
    AgentixClient::builder(options)
        .base_url(server.url.clone())
        .api_key("k")
        .build_with(http)
        .unwrap()
}

fn prompt() -> serde_json::Value {
    json!({"max_tokens": 16, "messages": [{"role": "user", "content": "ping"}]})
}

async fn create(client: &AgentixClient, body: serde_json::Value) -> Result<String, AgentixError> {
    let call = client.create(body);
    let response = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends within 10 s")?;
    Ok(String::from_utf8_lossy(response.body().as_bytes()).into_owned())
}

#[tokio::test]
async fn non_json_success_body_is_returned() {
    let server = RawServer::start(vec![response(
        "HTTP/1.1 200 OK",
        &["content-type: application/json"],
        b"<html>not json</html>",
    )])
    .await;
    let body = create(&client(&server, options()), prompt()).await.unwrap();
    assert_eq!(body, "<html>not json</html>");
}

#[tokio::test]
async fn html_error_page_is_quoted_and_truncated() {
    let page = format!("<html>{}</html>", "é".repeat(5_000));
    let server = RawServer::start(vec![response(
        "HTTP/1.1 502 Bad Gateway",
        &["content-type: text/html"],
        page.as_bytes(),
    )])
    .await;
    let error = create(&client(&server, options()), prompt())
        .await
        .unwrap_err();
    match error {
        AgentixError::Api {
            status,
            kind,
            message,
            ..
        } => {
            assert_eq!(status, 502);
            assert_eq!(kind, FailureKind::ServerError);
            assert!(message.chars().count() <= 203, "{message}");
            assert!(message.ends_with("..."), "{message}");
        }
        other => panic!("expected an API error, got {other}"),
    }
    assert_eq!(server.connections(), 3, "a 502 is retried");
}

#[tokio::test]
async fn error_body_with_wrong_json_types() {
    let bodies: [&[u8]; 6] = [
        br#"{"type":"error","error":{"type":42,"message":["x"]}}"#,
        br#"{"type":"error","error":"overloaded"}"#,
        br#"{"error":{"type":null,"code":12.5,"message":{"a":1}}}"#,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"#,
        b"\xff\xfe\x00garbage",
        b"",
    ];
    for body in bodies {
        let server = RawServer::start(vec![response("HTTP/1.1 529 Overloaded", &[], body)]).await;
        let error = create(&client(&server, options()), prompt())
            .await
            .unwrap_err();
        assert!(
            matches!(error, AgentixError::Api { status: 529, .. }),
            "{:?}: {error}",
            String::from_utf8_lossy(body)
        );
    }
}

#[tokio::test]
async fn odd_headers_over_real_http() {
    let cases: [(&str, &[u8]); 7] = [
        ("retry-after", b"-1"),
        ("retry-after", b"NaN"),
        ("retry-after", b"0.0001"),
        ("retry-after", b"\xff\xfe"),
        ("retry-after-ms", b"1e-300"),
        ("x-should-retry", b"\xc3\x28"),
        (
            "anthropic-ratelimit-requests-reset",
            b"99999-12-31T00:00:00Z",
        ),
    ];
    for (name, value) in cases {
        let mut head = b"HTTP/1.1 429 Too Many Requests\r\n".to_vec();
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\nretry-after: 5\r\ncontent-length: 0\r\n\r\n");
        let server = RawServer::start(vec![raw(&head)]).await;
        let error = create(&client(&server, options()), prompt())
            .await
            .unwrap_err();
        assert!(
            matches!(error, AgentixError::Api { status: 429, .. }),
            "{name}: {error}"
        );
    }
}

#[tokio::test]
async fn malformed_http_is_a_transport_error() {
    let cases: Vec<(&str, Action)> = vec![
        ("not HTTP", raw(b"SSH-2.0-OpenSSH\r\n\r\n")),
        (
            "status 1000",
            raw(b"HTTP/1.1 1000 What\r\ncontent-length: 0\r\n\r\n"),
        ),
        (
            "truncated body",
            raw(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"id\":"),
        ),
        (
            "bad chunk size",
            raw(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ),
        ("closed at once", raw(b"")),
        ("no answer", Action::Hang),
    ];
    for (name, action) in cases {
        let server = RawServer::start(vec![action]).await;
        let error = create(&client(&server, options()), prompt())
            .await
            .unwrap_err();
        assert!(
            matches!(error, AgentixError::Transport(_)),
            "{name}: {error}"
        );
    }
}

#[tokio::test]
async fn oversized_success_is_not_retried() {
    let big = vec![b'a'; 2 * 1024 * 1024];
    let server = RawServer::start(vec![response(
        "HTTP/1.1 200 OK",
        &["content-type: application/json"],
        &big,
    )])
    .await;
    let error = create(&client(&server, options()), prompt())
        .await
        .unwrap_err();
    assert!(matches!(error, AgentixError::Transport(_)), "{error}");
    // The provider served and billed the oversized 200 response, so it is not sent again.
    assert_eq!(
        server.connections(),
        1,
        "attempts sent for one oversized 200 response"
    );
}

#[tokio::test]
async fn malformed_streams_end_with_an_error() {
    let streams: Vec<(&str, Vec<u8>)> = vec![
        ("garbage line", b"this is not sse\n\n".to_vec()),
        (
            "non-UTF-8 data",
            b"event: message_start\ndata: \xff\xfe\n\n".to_vec(),
        ),
        (
            "data not JSON",
            b"event: content_block_delta\ndata: {not json\n\n".to_vec(),
        ),
        ("huge event", {
            let mut event = b"event: ping\ndata: ".to_vec();
            event.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
            event.extend_from_slice(b"\n\n");
            event
        }),
        ("empty", Vec::new()),
    ];
    for (name, body) in streams {
        let server = RawServer::start(vec![response(
            "HTTP/1.1 200 OK",
            &["content-type: text/event-stream"],
            &body,
        )])
        .await;
        let mut request = prompt();
        request["stream"] = true.into();
        let result = create(&client(&server, options()), request).await;
        assert!(result.is_err(), "{name}: a broken stream is not a success");
    }
}

#[tokio::test]
async fn model_that_is_not_a_string() {
    let server = RawServer::start(vec![response(
        "HTTP/1.1 529 Overloaded",
        &[],
        br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
    )])
    .await;
    let with_fallback = AgentixAgentOptions {
        fallback_model: Some("claude-sonnet-4-20250514".into()),
        circuit_breaker_failure_threshold: 0,
        ..options()
    };
    let client = client(&server, with_fallback);
    for model in [json!(7), json!(null), json!({"name": "x"}), json!(["a"])] {
        let mut body = prompt();
        body["model"] = model.clone();
        let error = create(&client, body).await.unwrap_err();
        assert!(
            matches!(error, AgentixError::Api { status: 529, .. }),
            "model {model}: {error}"
        );
    }
    for body in [json!("just a string"), json!([1, 2]), json!(null)] {
        let result = create(&client, body.clone()).await;
        assert!(result.is_err(), "body {body}: not an object");
    }
}
