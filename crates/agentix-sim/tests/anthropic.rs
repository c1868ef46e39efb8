//! Anthropic Messages format over real loopback HTTP.

mod support;

use agentix_sim::{SimServer, Step};
use serde_json::{json, Value};
use support::{anthropic_body, client, post_ok, send_raw, MESSAGES};

#[tokio::test]
async fn reply_has_the_messages_shape() {
    let server = SimServer::start().await.unwrap();
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("request-id").unwrap().starts_with("req_"));
    let body = response.json();
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(
        body["content"][0]["text"],
        "Simulated reply from the Agentix test provider model. Simulated reply from the"
    );
    assert_eq!(body["content"].as_array().unwrap().len(), 1);
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert_eq!(
        body["usage"],
        json!({
            "input_tokens": 6,
            "output_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        })
    );
}

#[tokio::test]
async fn input_tokens_count_system_and_blocks() {
    let server = SimServer::start().await.unwrap();
    let body = json!({
        "model": "claude-test",
        "max_tokens": 100,
        "system": "12345678",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "text", "text": "e"}]},
            {"role": "assistant", "content": "xyz"},
        ],
    });
    let response = post_ok(&client(), &server, MESSAGES, &body).await;

    // 8 + 5 + 3 = 16 characters, at four per token.
    assert_eq!(response.json()["usage"]["input_tokens"], 4);
}

#[tokio::test]
async fn empty_messages_still_cost_one_input_token() {
    let server = SimServer::start().await.unwrap();
    let body = json!({"model": "claude-test", "max_tokens": 10, "messages": []});
    let response = post_ok(&client(), &server, MESSAGES, &body).await;

    assert_eq!(response.json()["usage"]["input_tokens"], 1);
}

#[tokio::test]
async fn reply_stops_at_max_tokens() {
    let server = SimServer::start().await.unwrap();
    let mut body = anthropic_body("claude-test");
    body["max_tokens"] = json!(3);
    let response = post_ok(&client(), &server, MESSAGES, &body).await;

    let body = response.json();
    assert_eq!(body["usage"]["output_tokens"], 3);
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(body["content"][0]["text"], "Simulated reply from");
}

#[tokio::test]
async fn scripted_usage_and_text_are_reported() {
    let server = SimServer::start().await.unwrap();
    server.script(
        "claude-test",
        [Step::ok().usage(1500, 40), Step::ok().text("Hi there")],
    );
    let client = client();

    let first = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    let usage = &first.json()["usage"];
    assert_eq!(usage["input_tokens"], 1500);
    assert_eq!(usage["output_tokens"], 40);

    let second = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    let body = second.json();
    assert_eq!(body["content"][0]["text"], "Hi there");
    assert_eq!(body["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn error_statuses_have_the_documented_types() {
    let cases = [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ];
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", cases.map(|(status, _)| Step::error(status)));
    let client = client();

    for (status, error_type) in cases {
        let response = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
        assert_eq!(response.status, status);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(response.header("request-id").unwrap().starts_with("req_"));
        let body = response.json();
        assert_eq!(body["type"], "error", "status {status}");
        assert_eq!(body["error"]["type"], error_type, "status {status}");
        assert!(body["error"]["message"].is_string(), "status {status}");
        assert_eq!(
            body["request_id"].as_str(),
            response.header("request-id"),
            "status {status}"
        );
        assert_eq!(body.as_object().unwrap().len(), 3, "status {status}");
    }
}

#[tokio::test]
async fn overloaded_error_body_is_exact() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::error(529)]);
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 529);
    assert_eq!(
        response.json(),
        json!({
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": response.header("request-id").unwrap(),
        })
    );
}

#[tokio::test]
async fn typed_error_and_message_override() {
    let server = SimServer::start().await.unwrap();
    server.script(
        "claude-test",
        [Step::error_typed(500, "overloaded_error").message("Busy right now")],
    );
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"]["type"], "overloaded_error");
    assert_eq!(response.json()["error"]["message"], "Busy right now");
}

#[tokio::test]
async fn context_length_error_is_prompt_too_long() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::context_length_exceeded()]);
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 250000 tokens > 200000 maximum",
            },
            "request_id": response.header("request-id").unwrap(),
        })
    );
}

#[tokio::test]
async fn delay_hint_headers_are_sent() {
    let server = SimServer::start().await.unwrap();
    server.script(
        "claude-test",
        [Step::error(429)
            .retry_after("7")
            .retry_after_ms(6500)
            .should_retry(true)
            .header("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:07Z")],
    );
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("7"));
    assert_eq!(response.header("retry-after-ms"), Some("6500"));
    assert_eq!(response.header("x-should-retry"), Some("true"));
    assert_eq!(
        response.header("anthropic-ratelimit-requests-reset"),
        Some("2026-01-01T00:00:07Z")
    );
}

#[tokio::test]
async fn retry_after_http_date_is_sent() {
    let server = SimServer::start().await.unwrap();
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    server.script("claude-test", [Step::error(503).retry_after_date(at)]);
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(
        response.header("retry-after"),
        Some("Fri, 15 Jan 2027 08:00:00 GMT")
    );
}

#[tokio::test]
async fn non_json_body_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let response = send_raw(&client(), &server, "POST", MESSAGES, &[], "not json")
        .await
        .unwrap();

    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert_eq!(server.total_requests(), 1);
}

#[tokio::test]
async fn json_array_body_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let response = send_raw(&client(), &server, "POST", MESSAGES, &[], "[1, 2]")
        .await
        .unwrap();

    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn missing_model_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let body = json!({"max_tokens": 10, "messages": []});
    let response = post_ok(&client(), &server, MESSAGES, &body).await;

    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "model: Field required"},
            "request_id": response.header("request-id").unwrap(),
        })
    );
    assert_eq!(server.total_requests(), 1);
}

#[tokio::test]
async fn missing_or_zero_max_tokens_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::error(529)]);
    let client = client();
    let cases = [
        (json!(null), "max_tokens: Field required"),
        (
            json!(0),
            "max_tokens: Input should be greater than or equal to 1",
        ),
        (
            json!("many"),
            "max_tokens: Input should be a valid non-negative integer",
        ),
    ];

    for (max_tokens, message) in cases {
        let mut body = anthropic_body("claude-test");
        body["max_tokens"] = max_tokens;
        let response = post_ok(&client, &server, MESSAGES, &body).await;
        assert_eq!(response.status, 400);
        assert_eq!(response.json()["error"]["message"], message);
    }
    // Rejected requests count for the model but leave its script untouched.
    assert_eq!(server.requests("claude-test"), 3);
    assert_eq!(server.pending_steps("claude-test"), 1);
}

#[tokio::test]
async fn missing_messages_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let body = json!({"model": "claude-test", "max_tokens": 10});
    let response = post_ok(&client(), &server, MESSAGES, &body).await;

    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["error"]["message"],
        "messages: Field required"
    );
}

#[tokio::test]
async fn unknown_path_is_not_found_in_anthropic_shape() {
    let server = SimServer::start().await.unwrap();
    let headers = [("anthropic-version", "2023-06-01")];
    let response = send_raw(&client(), &server, "POST", "/v1/complete", &headers, "{}")
        .await
        .unwrap();

    assert_eq!(response.status, 404);
    assert_eq!(response.json()["type"], "error");
    assert_eq!(response.json()["error"]["type"], "not_found_error");
    assert_eq!(server.total_requests(), 1);
}

#[tokio::test]
async fn get_is_method_not_allowed() {
    let server = SimServer::start().await.unwrap();
    let response = send_raw(&client(), &server, "GET", MESSAGES, &[], "")
        .await
        .unwrap();

    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST"));
    assert_eq!(response.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn oversized_body_is_request_too_large() {
    let server = SimServer::builder()
        .max_body_bytes(64)
        .start()
        .await
        .unwrap();
    let response = post_ok(
        &client(),
        &server,
        MESSAGES,
        &anthropic_body(&"x".repeat(100)),
    )
    .await;

    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["type"], "request_too_large");
}

#[tokio::test]
async fn wrong_api_key_is_authentication_error() {
    let server = SimServer::builder()
        .api_key("sk-ant-right")
        .start()
        .await
        .unwrap();
    // The shared helper sends the key `sk-ant-test`.
    let response = post_ok(&client(), &server, MESSAGES, &anthropic_body("claude-test")).await;

    assert_eq!(response.status, 401);
    assert_eq!(response.json()["error"]["type"], "authentication_error");

    let headers = [("x-api-key", "sk-ant-right")];
    let body = anthropic_body("claude-test").to_string();
    let accepted = send_raw(&client(), &server, "POST", MESSAGES, &headers, body)
        .await
        .unwrap();
    assert_eq!(accepted.status, 200);
}

#[tokio::test]
async fn missing_api_key_is_authentication_error() {
    let server = SimServer::builder()
        .api_key("sk-ant-right")
        .start()
        .await
        .unwrap();
    let body = anthropic_body("claude-test").to_string();
    let response = send_raw(&client(), &server, "POST", MESSAGES, &[], body)
        .await
        .unwrap();

    assert_eq!(response.status, 401);
    assert_eq!(response.json()["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn messages_must_be_a_list() {
    let server = SimServer::start().await.unwrap();
    let body = json!({"model": "claude-test", "max_tokens": 10, "messages": "hi"});
    let response = post_ok(&client(), &server, MESSAGES, &body).await;

    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["error"]["message"],
        "messages: Input should be a valid list"
    );
}
