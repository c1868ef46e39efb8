use super::*;

fn apply(tracker: &mut UsageTracker, name: Option<&str>, data: &str) -> Signal {
    tracker.apply(name, data).expect("the event is well formed")
}

#[test]
fn anthropic_events_give_signals_and_usage() {
    let mut tracker = UsageTracker::default();
    let start = r#"{"type":"message_start","message":{"id":"msg_1","content":[],
        "usage":{"input_tokens":25,"output_tokens":1,"cache_creation_input_tokens":5,
        "cache_read_input_tokens":7}}}"#;
    assert_eq!(
        apply(&mut tracker, Some("message_start"), start),
        Signal::Prelude
    );
    let expected_start = Usage {
        input_tokens: 25,
        output_tokens: 1,
        cache_creation_input_tokens: 5,
        cache_read_input_tokens: 7,
    };
    assert_eq!(tracker.usage(), Some(expected_start));

    let block =
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#;
    assert_eq!(
        apply(&mut tracker, Some("content_block_start"), block),
        Signal::Prelude
    );
    assert_eq!(
        apply(&mut tracker, Some("ping"), r#"{"type":"ping"}"#),
        Signal::Prelude
    );
    let delta =
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;
    assert_eq!(
        apply(&mut tracker, Some("content_block_delta"), delta),
        Signal::Content
    );

    let message_delta = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},
        "usage":{"output_tokens":15}}"#;
    assert_eq!(
        apply(&mut tracker, Some("message_delta"), message_delta),
        Signal::Content
    );
    assert_eq!(
        tracker.usage(),
        Some(Usage {
            output_tokens: 15,
            ..expected_start
        })
    );
    let stop = r#"{"type":"message_stop"}"#;
    assert_eq!(
        apply(&mut tracker, Some("message_stop"), stop),
        Signal::Terminal
    );
}

#[test]
fn anthropic_message_delta_overwrites_reported_counts_only() {
    let mut tracker = UsageTracker::default();
    let delta = r#"{"type":"message_delta","usage":{"output_tokens":9,"input_tokens":null}}"#;
    apply(&mut tracker, None, delta);
    assert_eq!(
        tracker.usage(),
        Some(Usage {
            output_tokens: 9,
            ..Usage::default()
        })
    );
    let later = r#"{"type":"message_delta","usage":{"input_tokens":4,"output_tokens":12}}"#;
    apply(&mut tracker, None, later);
    assert_eq!(
        tracker.usage(),
        Some(Usage {
            input_tokens: 4,
            output_tokens: 12,
            ..Usage::default()
        })
    );
}

#[test]
fn anthropic_unknown_event_type_is_ignored() {
    let mut tracker = UsageTracker::default();
    let future = r#"{"type":"thinking_summary","text":"..."}"#;
    assert_eq!(
        apply(&mut tracker, Some("thinking_summary"), future),
        Signal::Prelude
    );
    assert_eq!(tracker.usage(), None);
}

#[test]
fn anthropic_error_event_keeps_type_message_and_body() {
    let data = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let Signal::Error(event) = apply(&mut UsageTracker::default(), Some("error"), data) else {
        panic!("expected an error signal");
    };
    assert_eq!(event.error_type, "overloaded_error");
    assert_eq!(event.message, "Overloaded");
    assert_eq!(event.code, None);
    assert_eq!(&event.body[..], data.as_bytes());
    assert_eq!(event.status(), StatusCode::from_u16(529).unwrap());
}

#[test]
fn openai_chunks_give_signals_and_usage() {
    let mut tracker = UsageTracker::default();
    let role = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,
        "delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#;
    assert_eq!(apply(&mut tracker, None, role), Signal::Prelude);
    let text = r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
    assert_eq!(apply(&mut tracker, None, text), Signal::Content);
    let tool = r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t"}]}}]}"#;
    assert_eq!(apply(&mut tracker, None, tool), Signal::Content);
    let refusal = r#"{"choices":[{"index":0,"delta":{"refusal":"No"}}]}"#;
    assert_eq!(apply(&mut tracker, None, refusal), Signal::Content);
    let finish = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    assert_eq!(apply(&mut tracker, None, finish), Signal::Content);
    assert_eq!(tracker.usage(), None);

    let usage = r#"{"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,
        "total_tokens":25,"prompt_tokens_details":{"cached_tokens":8}}}"#;
    assert_eq!(apply(&mut tracker, None, usage), Signal::Content);
    let expected = Usage {
        input_tokens: 12,
        output_tokens: 5,
        cache_read_input_tokens: 8,
        ..Usage::default()
    };
    assert_eq!(tracker.usage(), Some(expected));
    assert_eq!(apply(&mut tracker, None, "[DONE]"), Signal::Terminal);
}

#[test]
fn openai_empty_choices_without_usage_is_prelude() {
    let mut tracker = UsageTracker::default();
    for data in [
        r#"{"choices":[]}"#,
        r#"{"choices":[{"index":0}]}"#,
        "{}",
        "",
    ] {
        assert_eq!(apply(&mut tracker, None, data), Signal::Prelude, "{data}");
    }
}

#[test]
fn openai_error_chunk_uses_code_for_status() {
    let data = r#"{"error":{"message":"busy","type":"server_error","param":null,
        "code":"service_unavailable"}}"#;
    let Signal::Error(event) = apply(&mut UsageTracker::default(), None, data) else {
        panic!("expected an error signal");
    };
    assert_eq!(event.error_type, "server_error");
    assert_eq!(event.code.as_deref(), Some("service_unavailable"));
    assert_eq!(event.message, "busy");
    assert_eq!(event.status(), StatusCode::SERVICE_UNAVAILABLE);

    let untyped = r#"{"error":{"message":"slow down","code":"rate_limit_exceeded"}}"#;
    let Signal::Error(event) = apply(&mut UsageTracker::default(), None, untyped) else {
        panic!("expected an error signal");
    };
    assert_eq!(event.error_type, "rate_limit_exceeded");
    assert_eq!(event.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn error_statuses_follow_the_providers() {
    let cases = [
        ("overloaded_error", None, 529),
        ("rate_limit_error", None, 429),
        ("api_error", None, 500),
        ("timeout_error", None, 504),
        ("invalid_request_error", None, 400),
        ("authentication_error", None, 401),
        ("permission_error", None, 403),
        ("not_found_error", None, 404),
        ("request_too_large", None, 413),
        ("server_error", None, 500),
        ("insufficient_quota", Some("insufficient_quota"), 429),
        (
            "invalid_request_error",
            Some("context_length_exceeded"),
            400,
        ),
        ("something_new", None, 500),
    ];
    for (error_type, code, status) in cases {
        let event = ErrorEvent {
            error_type: error_type.to_owned(),
            code: code.map(str::to_owned),
            message: String::new(),
            body: Bytes::new(),
        };
        assert_eq!(event.status().as_u16(), status, "{error_type} {code:?}");
    }
}

#[test]
fn error_event_without_details_is_unknown() {
    let Signal::Error(event) = apply(&mut UsageTracker::default(), Some("error"), "{}") else {
        panic!("expected an error signal");
    };
    assert_eq!(event.error_type, "unknown_error");
    assert_eq!(event.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn data_that_is_not_json_is_malformed() {
    let mut tracker = UsageTracker::default();
    for data in [
        "not json",
        "{\"type\":",
        "[DONE",
        r#"{"type":"message_start","message":{"usage":{"input_tokens":"ten"}}}"#,
        r#"{"choices":{"index":0}}"#,
        "42",
    ] {
        assert_eq!(tracker.apply(None, data), Err(MalformedEvent), "{data}");
    }
}
