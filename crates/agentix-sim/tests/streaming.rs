//! Server-sent event streams of both formats over real loopback HTTP.

mod support;

use std::time::Duration;

use agentix_sim::{SimServer, Step};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use support::{anthropic_body, client, openai_body, post_ok, HttpClient, CHAT, MESSAGES};

/// Splits an SSE body into `(event name, data)` pairs.
fn parse_events(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            (name, data)
        })
        .collect()
}

fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn anthropic_stream_has_the_event_sequence() {
    let server = SimServer::builder().reply_tokens(3).start().await.unwrap();
    let response = post_ok(
        &client(),
        &server,
        MESSAGES,
        &streamed(anthropic_body("claude-test")),
    )
    .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = parse_events(&response.text());
    let names: Vec<&str> = events.iter().map(|e| e.0.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &events {
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], name.as_deref().unwrap());
    }

    let start: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(start["message"]["model"], "claude-test");
    assert_eq!(start["message"]["usage"]["input_tokens"], 6);
    let text: String = events[3..6]
        .iter()
        .map(|(_, data)| {
            let data: Value = serde_json::from_str(data).unwrap();
            data["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Simulated reply from");
    let delta: Value = serde_json::from_str(&events[7].1).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn openai_stream_ends_with_usage_and_done() {
    let server = SimServer::builder().reply_tokens(2).start().await.unwrap();
    let mut body = streamed(openai_body("gpt-test"));
    body["stream_options"] = json!({"include_usage": true});
    let response = post_ok(&client(), &server, CHAT, &body).await;

    assert_eq!(response.status, 200);
    let events = parse_events(&response.text());
    assert!(events.iter().all(|(name, _)| name.is_none()));
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    // Role chunk, two content chunks, finish chunk, usage chunk.
    assert_eq!(chunks.len(), 5);
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-test");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Simulated ");
    assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "reply");
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"], json!([]));
    assert_eq!(
        chunks[4]["usage"],
        json!({"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8})
    );
}

#[tokio::test]
async fn openai_stream_omits_usage_unless_asked() {
    let server = SimServer::start().await.unwrap();
    let response = post_ok(&client(), &server, CHAT, &streamed(openai_body("gpt-test"))).await;

    let events = parse_events(&response.text());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    for (_, data) in &events[..events.len() - 1] {
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert!(chunk.get("usage").is_none(), "unexpected usage in {chunk}");
    }
}

/// Reads a response body frame by frame, returning the data received and whether the
/// body ended with an error.
async fn read_until_error(client: &HttpClient, url: String, body: &Value) -> (String, bool) {
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received = String::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    received.push_str(std::str::from_utf8(data).unwrap());
                }
            }
            Err(_) => return (received, true),
        }
    }
    (received, false)
}

#[tokio::test]
async fn cut_stream_sends_some_events_then_fails() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::cut_after(4)]);
    let url = format!("{}{MESSAGES}", server.base_url());

    let (received, failed) =
        read_until_error(&client(), url, &streamed(anthropic_body("claude-test"))).await;

    assert!(failed, "the stream ended cleanly: {received}");
    let names: Vec<String> = parse_events(&received)
        .into_iter()
        .map(|(name, _)| name.unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );
}

#[tokio::test]
async fn whole_stream_ends_cleanly() {
    let server = SimServer::start().await.unwrap();
    let url = format!("{}{CHAT}", server.base_url());

    let (received, failed) =
        read_until_error(&client(), url, &streamed(openai_body("gpt-test"))).await;

    assert!(!failed);
    assert!(received.ends_with("data: [DONE]\n\n"));
}

#[tokio::test(start_paused = true)]
async fn event_interval_spaces_the_events() {
    let server = SimServer::builder().reply_tokens(2).start().await.unwrap();
    server.script(
        "gpt-test",
        [Step::ok().event_interval(Duration::from_secs(1))],
    );
    let started = tokio::time::Instant::now();
    let response = post_ok(&client(), &server, CHAT, &streamed(openai_body("gpt-test"))).await;

    // Five events (role, two pieces, finish, done) have four gaps between them.
    assert_eq!(parse_events(&response.text()).len(), 5);
    assert!(started.elapsed() >= Duration::from_secs(4));
}

#[tokio::test]
async fn cut_json_reply_sends_half_the_body() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::cut_after(1)]);
    let url = format!("{}{CHAT}", server.base_url());

    let (received, failed) = read_until_error(&client(), url, &openai_body("gpt-test")).await;

    assert!(failed, "the body ended cleanly: {received}");
    assert!(received.starts_with('{'), "received {received}");
    assert!(serde_json::from_str::<Value>(&received).is_err());
}

#[tokio::test]
async fn anthropic_stream_error_event_ends_the_stream() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::error_in_stream(3, 529)]);
    let response = post_ok(
        &client(),
        &server,
        MESSAGES,
        &streamed(anthropic_body("claude-test")),
    )
    .await;

    assert_eq!(response.status, 200);
    let events = parse_events(&response.text());
    let names: Vec<&str> = events.iter().map(|e| e.0.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        ["message_start", "content_block_start", "ping", "error"]
    );
    let error: Value = serde_json::from_str(&events[3].1).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn openai_stream_error_has_no_done() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::error_in_stream(2, 500).message("boom")]);
    let response = post_ok(&client(), &server, CHAT, &streamed(openai_body("gpt-test"))).await;

    assert_eq!(response.status, 200);
    let events = parse_events(&response.text());
    assert_eq!(events.len(), 3);
    let error: Value = serde_json::from_str(&events[2].1).unwrap();
    assert_eq!(error["error"]["type"], "server_error");
    assert_eq!(error["error"]["message"], "boom");
    assert!(events.iter().all(|(_, data)| data != "[DONE]"));
}

#[tokio::test]
async fn stream_error_without_stream_is_plain_error() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::error_in_stream(3, 529)]);
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 529);
    assert_eq!(response.json()["error"]["type"], "overloaded_error");
}
