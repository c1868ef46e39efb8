use super::*;

fn request(body: &str) -> Request<Bytes> {
    Request::builder()
        .method("POST")
        .uri("http://h/v1/messages")
        .body(Bytes::from(body.to_owned()))
        .unwrap()
}

fn response(body: &str) -> Response<LlmBody> {
    Response::new(LlmBody::from(body.to_owned()))
}

fn usage_of(body: &str) -> Option<Usage> {
    LlmAdapter::new().usage(&response(body))
}

#[test]
fn estimate_is_max_tokens_plus_body_length() {
    let body = r#"{"model":"m","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]}"#;
    let estimate = LlmAdapter::new().estimate(&request(body));
    assert_eq!(estimate, Some(1000 + body.len() as u64));
}

#[test]
fn estimate_uses_max_completion_tokens() {
    let body = r#"{"model":"m","max_completion_tokens":64}"#;
    assert_eq!(
        LlmAdapter::new().estimate(&request(body)),
        Some(64 + body.len() as u64)
    );
}

#[test]
fn estimate_takes_larger_of_both_limits() {
    let body = r#"{"max_tokens":10,"max_completion_tokens":300}"#;
    assert_eq!(
        LlmAdapter::new().estimate(&request(body)),
        Some(300 + body.len() as u64)
    );
}

#[test]
fn estimate_saturates() {
    let body = format!(r#"{{"max_tokens":{}}}"#, u64::MAX);
    assert_eq!(LlmAdapter::new().estimate(&request(&body)), Some(u64::MAX));
}

#[test]
fn estimate_without_limit_or_json_is_none() {
    for body in [
        r#"{"model":"m"}"#,
        r#"{"max_tokens":null}"#,
        r#"{"max_tokens":-5}"#,
        r#"{"max_tokens":"100"}"#,
        r#"{"max_tokens":1.5}"#,
        "not json",
        "",
        "[]",
    ] {
        assert_eq!(LlmAdapter::new().estimate(&request(body)), None, "{body:?}");
    }
}

#[test]
fn anthropic_usage_with_cache_fields() {
    let body = r#"{"id":"msg_1","type":"message","usage":{"input_tokens":12,"output_tokens":30,
        "cache_creation_input_tokens":100,"cache_read_input_tokens":200,"service_tier":"standard"}}"#;
    let expected = Usage {
        input_tokens: 12,
        output_tokens: 30,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 200,
    };
    assert_eq!(usage_of(body), Some(expected));
}

#[test]
fn anthropic_usage_with_null_cache_fields() {
    let body =
        r#"{"usage":{"input_tokens":5,"output_tokens":7,"cache_creation_input_tokens":null}}"#;
    let usage = usage_of(body).unwrap();
    assert_eq!(usage.total(), 12);
    assert_eq!(usage.cache_creation_input_tokens, 0);
}

#[test]
fn openai_usage_without_details() {
    let body = r#"{"object":"chat.completion","usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#;
    let expected = Usage {
        input_tokens: 9,
        output_tokens: 12,
        ..Usage::default()
    };
    assert_eq!(usage_of(body), Some(expected));
}

#[test]
fn openai_cached_tokens_counted_once() {
    let body = r#"{"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
        "prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},
        "completion_tokens_details":{"reasoning_tokens":100}}}"#;
    let usage = usage_of(body).unwrap();
    assert_eq!(usage.input_tokens, 86);
    assert_eq!(usage.cache_read_input_tokens, 1920);
    assert_eq!(usage.output_tokens, 300);
    assert_eq!(usage.total(), 2306);
}

#[test]
fn openai_cached_above_prompt_is_clamped() {
    let body = r#"{"usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":50}}}"#;
    let usage = usage_of(body).unwrap();
    assert_eq!(usage.input_tokens, 0);
    assert_eq!(usage.cache_read_input_tokens, 10);
    assert_eq!(usage.total(), 11);
}

#[test]
fn missing_or_malformed_usage_is_none() {
    for body in [
        r#"{"id":"x"}"#,
        r#"{"usage":null}"#,
        r#"{"usage":{}}"#,
        r#"{"usage":{"total_tokens":5}}"#,
        r#"{"usage":{"input_tokens":-1,"output_tokens":2}}"#,
        r#"{"usage":{"input_tokens":"12","output_tokens":2}}"#,
        r#"{"usage":{"prompt_tokens":1.5}}"#,
        r#"{"usage":"lots"}"#,
        "not json",
        "",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    ] {
        assert_eq!(usage_of(body), None, "{body:?}");
    }
}
