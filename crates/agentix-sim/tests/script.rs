//! Scripted steps, counts and the server lifecycle over real loopback HTTP.

mod support;

use std::time::Duration;

use agentix_sim::{Format, SimServer, Step};
use http::Version;
use serde_json::json;
use support::{
    anthropic_body, client, http2_client, openai_body, post, post_ok, send_raw, CHAT, MESSAGES,
};
use tokio::time::Instant;

#[tokio::test]
async fn steps_are_consumed_one_per_request() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::error(429), Step::error(529)]);
    let client = client();

    let statuses = [
        post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test"))
            .await
            .status,
        post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test"))
            .await
            .status,
        post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test"))
            .await
            .status,
    ];

    assert_eq!(statuses.map(|s| s.as_u16()), [429, 529, 200]);
    assert_eq!(server.pending_steps("claude-test"), 0);
}

#[tokio::test]
async fn scripts_are_per_model() {
    let server = SimServer::start().await.unwrap();
    server.script("primary", [Step::error(529)]);
    let client = client();

    let other = post_ok(&client, &server, MESSAGES, &anthropic_body("fallback")).await;
    let primary = post_ok(&client, &server, MESSAGES, &anthropic_body("primary")).await;

    assert_eq!(other.status, 200);
    assert_eq!(primary.status, 529);
}

#[tokio::test]
async fn repeated_step_fails_forever() {
    let server = SimServer::start().await.unwrap();
    server.script_repeat("gpt-test", Step::error(503));
    let client = client();

    for _ in 0..4 {
        let response = post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
        assert_eq!(response.status, 503);
    }
    server.clear_script("gpt-test");
    let response = post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn counts_per_model_and_format() {
    let server = SimServer::start().await.unwrap();
    let client = client();

    post_ok(&client, &server, MESSAGES, &anthropic_body("shared-name")).await;
    post_ok(&client, &server, CHAT, &openai_body("shared-name")).await;
    post_ok(&client, &server, CHAT, &openai_body("shared-name")).await;
    post_ok(&client, &server, CHAT, &openai_body("other")).await;
    send_raw(&client, &server, "POST", CHAT, &[], "garbage")
        .await
        .unwrap();

    assert_eq!(server.requests("shared-name"), 3);
    assert_eq!(server.requests_to(Format::Anthropic, "shared-name"), 1);
    assert_eq!(server.requests_to(Format::OpenAi, "shared-name"), 2);
    assert_eq!(server.requests("other"), 1);
    assert_eq!(server.requests("never-called"), 0);
    assert_eq!(server.total_requests(), 5);
}

#[tokio::test]
async fn last_request_keeps_body_and_headers() {
    let server = SimServer::start().await.unwrap();
    let body = r#"{"model":"claude-test","max_tokens":5,"messages":[],"extra":  1}"#;
    let headers = [("x-api-key", "sk-ant-test"), ("idempotency-key", "abc")];
    send_raw(&client(), &server, "POST", MESSAGES, &headers, body)
        .await
        .unwrap();

    let recorded = server.last_request("claude-test").unwrap();
    assert_eq!(recorded.body().as_ref(), body.as_bytes());
    assert_eq!(recorded.method(), "POST");
    assert_eq!(recorded.path(), MESSAGES);
    assert_eq!(recorded.headers()["idempotency-key"], "abc");
    assert_eq!(recorded.json().unwrap()["extra"], 1);
    assert!(server.last_request("other").is_none());
}

#[tokio::test]
async fn reset_clears_scripts_and_counts() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::error(500), Step::error(500)]);
    let client = client();
    post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;

    server.reset();

    assert_eq!(server.requests("gpt-test"), 0);
    assert_eq!(server.total_requests(), 0);
    assert!(server.last_request("gpt-test").is_none());
    let response = post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn drop_connection_sends_no_response() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::drop_connection()]);
    let client = client();

    let dropped = post(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert!(
        dropped.is_err(),
        "expected a transport error, got {dropped:?}"
    );
    assert_eq!(server.requests("claude-test"), 1);

    let next = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert_eq!(next.status, 200);
    assert_eq!(server.requests("claude-test"), 2);
}

#[tokio::test]
async fn cut_json_reply_fails_the_body() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::cut_after(1)]);
    let client = client();

    let cut = post(&client, &server, CHAT, &openai_body("gpt-test")).await;
    assert!(cut.is_err(), "expected a body error, got {cut:?}");

    let next = post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
    assert_eq!(next.status, 200);
}

#[tokio::test]
async fn raw_step_sends_the_body_verbatim() {
    let server = SimServer::start().await.unwrap();
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    server.script(
        "claude-test",
        [
            Step::raw(502, "text/html", html),
            Step::raw(200, "application/json", "{\"id\": \"msg_"),
        ],
    );
    let client = client();

    let proxy = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert_eq!(proxy.status, 502);
    assert_eq!(proxy.header("content-type"), Some("text/html"));
    assert_eq!(proxy.text(), html);

    let malformed = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert_eq!(malformed.status, 200);
    assert_eq!(malformed.text(), "{\"id\": \"msg_");
}

#[tokio::test(start_paused = true)]
async fn latency_delays_the_response() {
    let server = SimServer::start().await.unwrap();
    server.script(
        "claude-test",
        [Step::ok().latency(Duration::from_secs(5)), Step::ok()],
    );
    let client = client();

    let started = Instant::now();
    let response = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert_eq!(response.status, 200);
    assert!(started.elapsed() >= Duration::from_secs(5));

    let started = Instant::now();
    post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn latency_outlasts_a_client_timeout() {
    let server = SimServer::start().await.unwrap();
    server.script(
        "gpt-test",
        [Step::error(500).latency(Duration::from_secs(30))],
    );
    let client = client();

    let body = openai_body("gpt-test");
    let request = post(&client, &server, CHAT, &body);
    let timed_out = tokio::time::timeout(Duration::from_secs(10), request).await;

    assert!(timed_out.is_err());
    assert_eq!(server.requests("gpt-test"), 1);
}

#[tokio::test(start_paused = true)]
async fn default_latency_applies_to_every_request() {
    let server = SimServer::builder()
        .default_latency(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    server.script(
        "gpt-test",
        [Step::error(429).latency(Duration::from_millis(300))],
    );
    let client = client();

    let started = Instant::now();
    post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
    assert!(started.elapsed() >= Duration::from_millis(500));

    let started = Instant::now();
    post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200));
    assert!(elapsed < Duration::from_millis(500));
}

#[tokio::test]
async fn reply_tokens_option_sets_reply_length() {
    let server = SimServer::builder().reply_tokens(3).start().await.unwrap();
    let response = post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert_eq!(response.json()["usage"]["completion_tokens"], 3);
    assert_eq!(response.json()["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let server = SimServer::start().await.unwrap();
    let response = post_ok(
        &http2_client(),
        &server,
        MESSAGES,
        &anthropic_body("claude-test"),
    )
    .await;

    assert_eq!(response.version, Version::HTTP_2);
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["model"], "claude-test");
}

#[tokio::test]
async fn drop_connection_over_http2_resets_the_stream() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", [Step::drop_connection()]);
    let client = http2_client();

    let dropped = post(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert!(
        dropped.is_err(),
        "expected a transport error, got {dropped:?}"
    );
    let next = post_ok(&client, &server, MESSAGES, &anthropic_body("claude-test")).await;
    assert_eq!(next.status, 200);
}

#[tokio::test]
async fn http1_only_refuses_http2() {
    let server = SimServer::builder().http1_only().start().await.unwrap();
    let result = post(&http2_client(), &server, CHAT, &openai_body("gpt-test")).await;

    assert!(result.is_err(), "expected HTTP/2 to fail, got {result:?}");
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let server = SimServer::start().await.unwrap();
    let addr = server.addr();
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    post_ok(&client(), &server, CHAT, &openai_body("gpt-test")).await;

    server.shutdown();

    let mut refused = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the listener still accepts after shutdown");
}

#[tokio::test]
async fn drop_closes_open_connections() {
    let server = SimServer::start().await.unwrap();
    let client = client();
    post_ok(&client, &server, CHAT, &openai_body("gpt-test")).await;
    let base = server.base_url();

    drop(server);

    let request = http::Request::post(format!("{base}{CHAT}"))
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"model": "gpt-test", "messages": []}).to_string(),
        )))
        .unwrap();
    // The pooled keep-alive connection is gone, and so is the listener.
    assert!(client.request(request).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_take_each_step_once() {
    let server = SimServer::start().await.unwrap();
    server.script("claude-test", std::iter::repeat_n(Step::error(529), 10));
    let client = client();

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        let url = server.base_url();
        tasks.spawn(async move {
            let request = http::Request::post(format!("{url}{MESSAGES}"))
                .body(http_body_util::Full::new(bytes::Bytes::from(
                    anthropic_body("claude-test").to_string(),
                )))
                .unwrap();
            client.request(request).await.unwrap().status().as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }

    assert_eq!(statuses.iter().filter(|&&s| s == 529).count(), 10);
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 10);
    assert_eq!(server.requests("claude-test"), 20);
}

#[tokio::test]
async fn shutdown_ends_requests_in_flight() {
    let server = SimServer::start().await.unwrap();
    server.script("gpt-test", [Step::ok().latency(Duration::from_secs(3600))]);
    let client = client();
    let url = format!("{}{CHAT}", server.base_url());
    let in_flight = tokio::spawn(async move {
        let request = http::Request::post(url)
            .body(http_body_util::Full::new(bytes::Bytes::from(
                openai_body("gpt-test").to_string(),
            )))
            .unwrap();
        client.request(request).await.map(|r| r.status())
    });
    while server.requests("gpt-test") == 0 {
        tokio::task::yield_now().await;
    }

    server.shutdown();

    let result = in_flight.await.unwrap();
    assert!(result.is_err(), "expected no response, got {result:?}");
}
