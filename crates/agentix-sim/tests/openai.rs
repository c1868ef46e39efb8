//! OpenAI Chat Completions format over real loopback HTTP.

mod support;

use agentix_sim::{SimServer, Step};
use serde_json::{json, Value};
use support::{client, openai_body, post_ok, send_raw, CHAT};

#[tokio::test]
async fn reply_has_the_chat_completion_shape() {
    let server = SimServer::start().await.unwrap();
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("x-request-id").unwrap().starts_with("req_"));
    let body = response.json();
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "gpt-test");
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[0]["message"]["role"], "assistant");
    assert_eq!(
        choices[0]["message"]["content"],
        "Simulated reply from the Agentix test provider model. Simulated reply from the"
    );
    assert_eq!(choices[0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 6, "completion_tokens": 12, "total_tokens": 18})
    );
}

#[tokio::test]
async fn max_completion_tokens_cuts_the_reply() {
    let server = SimServer::start().await.unwrap();
    let client = client();
    let cases = [
        (json!({"max_completion_tokens": 2}), 2),
        (json!({"max_tokens": 5}), 5),
        (json!({"max_completion_tokens": 4, "max_tokens": 9}), 4),
    ];

    for (limits, expected) in cases {
        let mut body = openai_body("gpt-test");
        for (field, value) in limits.as_object().unwrap() {
            body[field] = value.clone();
        }
        let response = post_ok(&client, &server, CHAT, &body).await;
        let body = response.json();
        assert_eq!(body["usage"]["completion_tokens"], expected, "{limits}");
        assert_eq!(body["choices"][0]["finish_reason"], "length", "{limits}");
    }
}

#[tokio::test]
async fn scripted_usage_is_reported() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::ok().usage(900, 100)]);
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(
        response.json()["usage"],
        json!({"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000})
    );
}

#[tokio::test]
async fn error_statuses_have_realistic_types_and_codes() {
    let cases: [(u16, &str, Value); 9] = [
        (400, "invalid_request_error", Value::Null),
        (401, "invalid_request_error", json!("invalid_api_key")),
        (403, "invalid_request_error", Value::Null),
        (404, "invalid_request_error", json!("model_not_found")),
        (413, "invalid_request_error", Value::Null),
        (429, "requests", json!("rate_limit_exceeded")),
        (500, "server_error", Value::Null),
        (502, "server_error", Value::Null),
        (503, "server_error", json!("service_unavailable")),
    ];
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", cases.iter().map(|case| Step::error(case.0)));
    let client = client();

    for (status, error_type, code) in cases {
        let response = post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
        assert_eq!(response.status, status);
        assert!(response.header("x-request-id").is_some(), "status {status}");
        let body = response.json();
        let error = &body["error"];
        assert_eq!(error["type"], error_type, "status {status}");
        assert_eq!(error["code"], code, "status {status}");
        assert_eq!(error["param"], Value::Null, "status {status}");
        assert!(error["message"].is_string(), "status {status}");
        assert_eq!(body.as_object().unwrap().len(), 1, "status {status}");
        assert_eq!(error.as_object().unwrap().len(), 4, "status {status}");
    }
}

#[tokio::test]
async fn insufficient_quota_is_a_typed_429() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::error_typed(429, "insufficient_quota")]);
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.status, 429);
    assert_eq!(
        response.json(),
        json!({"error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": null,
            "code": "insufficient_quota",
        }})
    );
}

#[tokio::test]
async fn unknown_error_name_becomes_the_type() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::error_typed(418, "teapot_error")]);
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.status, 418);
    assert_eq!(response.json()["error"]["type"], "teapot_error");
    assert_eq!(response.json()["error"]["code"], Value::Null);
}

#[tokio::test]
async fn context_length_error_has_its_code() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::context_length_exceeded()]);
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.status, 400);
    let error = &response.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "context_length_exceeded");
    assert_eq!(error["param"], "messages");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("maximum context length"));
}

#[tokio::test]
async fn delay_hint_headers_are_sent() {
    let server = SimServer::start().await.unwrap();
    server.script(
        "gpt-test",
        [Step::error(429)
            .retry_after("3")
            .should_retry(false)
            .header("x-ratelimit-reset-requests", "1s")],
    );
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.header("retry-after"), Some("3"));
    assert_eq!(response.header("x-should-retry"), Some("false"));
    assert_eq!(response.header("x-ratelimit-reset-requests"), Some("1s"));
}

#[tokio::test]
async fn non_json_body_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let response = send_raw(&client(), &server, "POST", CHAT, &[], "{\"model\": ")
        .await
        .unwrap();

    assert_eq!(response.status, 400);
    let error = &response.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], Value::Null);
}

#[tokio::test]
async fn missing_model_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let body = json!({"messages": []});
    let response = post_ok(&client(), &server, CHAT, &body).await;

    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["error"]["message"],
        "you must provide a model parameter"
    );
}

#[tokio::test]
async fn non_string_model_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let body = json!({"model": 4, "messages": []});
    let response = post_ok(&client(), &server, CHAT, &body).await;

    assert_eq!(response.status, 400);
    assert_eq!(server.requests("4"), 0);
    assert_eq!(server.total_requests(), 1);
}

#[tokio::test]
async fn missing_messages_names_the_param() {
    let server = SimServer::start().await.unwrap();
    let response = post_ok(&client(), &server, CHAT, &json!({"model": "gpt-test"})).await;

    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["param"], "messages");
}

#[tokio::test]
async fn invalid_stream_flag_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let mut body = openai_body("gpt-test");
    body["stream"] = json!("yes");
    let response = post_ok(&client(), &server, CHAT, &body).await;

    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"]["param"], "stream");
}

#[tokio::test]
async fn unknown_path_is_not_found_in_openai_shape() {
    let server = SimServer::start().await.unwrap();
    let response = send_raw(&client(), &server, "POST", "/v1/completions", &[], "{}")
        .await
        .unwrap();

    assert_eq!(response.status, 404);
    assert_eq!(
        response.json(),
        json!({"error": {
            "message": "Invalid URL (POST /v1/completions)",
            "type": "invalid_request_error",
            "param": null,
            "code": null,
        }})
    );
}

#[tokio::test]
async fn wrong_bearer_token_is_invalid_api_key() {
    let server = SimServer::builder()
        .api_key("sk-right")
        .start()
        .await
        .unwrap();
    // The shared helper sends `Bearer sk-test`.
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.status, 401);
    assert_eq!(response.json()["error"]["code"], "invalid_api_key");

    let headers = [("authorization", "Bearer sk-right")];
    let body = openai_body("gpt-test").to_string();
    let accepted = send_raw(&client(), &server, "POST", CHAT, &headers, body)
        .await
        .unwrap();
    assert_eq!(accepted.status, 200);
}

#[tokio::test]
async fn negative_max_tokens_is_invalid_request() {
    let server = SimServer::start().await.unwrap();
    let client = client();

    for field in ["max_tokens", "max_completion_tokens"] {
        let mut body = openai_body("gpt-test");
        body[field] = json!(-1);
        let response = post_ok(&client, &server, CHAT, &body).await;
        assert_eq!(response.status, 400, "{field}");
        assert_eq!(response.json()["error"]["param"], field);
    }
}
