use serde_json::json;

use super::*;
use crate::{anthropic, openai};

const ANTHROPIC_URL: &str = "http://127.0.0.1:1";
const OPENAI_URL: &str = "http://127.0.0.1:2";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tenant(&'static str);

fn anthropic_request(body: Value) -> Request<Bytes> {
    let mut request = anthropic::messages_request(ANTHROPIC_URL, "sk-ant", &body).unwrap();
    request.extensions_mut().insert(Tenant("acme"));
    request
}

fn openai_request(body: Value) -> Request<Bytes> {
    let mut request = openai::chat_request(OPENAI_URL, "sk-oai", &body).unwrap();
    request.extensions_mut().insert(Tenant("acme"));
    request
}

fn to_openai(body: Value) -> Result<Value, TranslateError> {
    let request = anthropic_to_openai(&anthropic_request(body), "gpt-4o", OPENAI_URL, "sk-oai")?;
    Ok(serde_json::from_slice(request.body()).unwrap())
}

fn to_anthropic(body: Value) -> Result<Value, TranslateError> {
    let request = openai_to_anthropic(&openai_request(body), "claude-x", ANTHROPIC_URL, "sk-ant")?;
    Ok(serde_json::from_slice(request.body()).unwrap())
}

/// Returns the field and reason of an `Unsupported` error, failing on any other result.
fn rejection(result: Result<Value, TranslateError>) -> (String, String) {
    match result {
        Err(TranslateError::Unsupported { field, reason, .. }) => (field, reason),
        other => panic!("expected an unsupported field, got {other:?}"),
    }
}

fn anthropic_body(extra: Value) -> Value {
    let mut body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hello"}],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

fn openai_body(extra: Value) -> Value {
    let mut body = json!({
        "model": "gpt-4o",
        "max_completion_tokens": 100,
        "messages": [{"role": "user", "content": "Hello"}],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

// Anthropic to OpenAI: mappings.

#[test]
fn anthropic_request_becomes_openai_request() {
    let request = anthropic_request(anthropic_body(json!({})));

    let translated = anthropic_to_openai(&request, "gpt-4o", OPENAI_URL, "sk-oai").unwrap();

    assert_eq!(translated.uri(), "http://127.0.0.1:2/v1/chat/completions");
    assert_eq!(translated.headers()["authorization"], "Bearer sk-oai");
    assert!(translated.headers().get("x-api-key").is_none());
    assert!(translated.headers().get("anthropic-version").is_none());
    assert_eq!(
        translated.extensions().get::<Tenant>(),
        Some(&Tenant("acme"))
    );
    let body: Value = serde_json::from_slice(translated.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o",
            "max_completion_tokens": 100,
            "messages": [{"role": "user", "content": "Hello"}],
        })
    );
}

#[test]
fn anthropic_system_string_becomes_system_message() {
    let body = to_openai(anthropic_body(json!({"system": "Be brief."}))).unwrap();

    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ])
    );
}

#[test]
fn anthropic_text_blocks_become_text_parts() {
    let body = to_openai(anthropic_body(json!({
        "system": [
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ],
    })))
    .unwrap();

    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ])
    );
}

#[test]
fn anthropic_sampling_fields_are_copied() {
    let body = to_openai(anthropic_body(json!({
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END", "STOP"],
        "metadata": {"user_id": "user-7"},
    })))
    .unwrap();

    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["stop"], json!(["END", "STOP"]));
    assert_eq!(body["user"], "user-7");
    assert!(body.get("stop_sequences").is_none());
    assert!(body.get("metadata").is_none());
    assert!(body.get("max_tokens").is_none());
}

#[test]
fn anthropic_stream_requests_usage() {
    let streaming = to_openai(anthropic_body(json!({"stream": true}))).unwrap();
    assert_eq!(streaming["stream"], true);
    assert_eq!(streaming["stream_options"], json!({"include_usage": true}));

    let plain = to_openai(anthropic_body(json!({"stream": false}))).unwrap();
    assert_eq!(plain["stream"], false);
    assert!(plain.get("stream_options").is_none());
}

#[test]
fn anthropic_null_fields_are_ignored() {
    let body = to_openai(anthropic_body(json!({
        "system": null,
        "tools": null,
        "temperature": null,
        "metadata": {"user_id": null},
    })))
    .unwrap();

    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert!(body.get("tools").is_none());
    assert!(body.get("temperature").is_none());
    assert!(body.get("user").is_none());
}

// Anthropic to OpenAI: rejections.

#[test]
fn anthropic_image_block_is_rejected() {
    let result = to_openai(anthropic_body(json!({
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        ]}],
    })));

    let (field, reason) = rejection(result);
    assert_eq!(field, "messages[0].content[1].type");
    assert!(reason.contains("`image`"), "{reason}");
}

#[test]
fn anthropic_tool_blocks_are_rejected() {
    let tool_use = json!({"messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {}}]},
    ]});
    let (field, reason) = rejection(to_openai(anthropic_body(tool_use)));
    assert_eq!(field, "messages[1].content[0].type");
    assert!(reason.contains("`tool_use`"), "{reason}");

    let tool_result = json!({"messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    ]});
    let (field, reason) = rejection(to_openai(anthropic_body(tool_result)));
    assert_eq!(field, "messages[0].content[0].type");
    assert!(reason.contains("`tool_result`"), "{reason}");
}

#[test]
fn anthropic_fields_without_equivalent_are_rejected() {
    let cases = [
        (
            json!({"tools": [{"name": "weather", "input_schema": {}}]}),
            "tools",
        ),
        (json!({"tool_choice": {"type": "auto"}}), "tool_choice"),
        (
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
            "thinking",
        ),
        (json!({"top_k": 40}), "top_k"),
        (json!({"service_tier": "auto"}), "service_tier"),
    ];
    for (extra, expected) in cases {
        let (field, reason) = rejection(to_openai(anthropic_body(extra)));
        assert_eq!(field, expected);
        assert_eq!(reason, "has no OpenAI Chat Completions equivalent");
    }
}

#[test]
fn anthropic_invalid_values_are_rejected() {
    let cases = [
        (
            json!({"stop_sequences": ["a", "b", "c", "d", "e"]}),
            "stop_sequences",
            "has 5 sequences",
        ),
        (
            json!({"stop_sequences": ["a", 1]}),
            "stop_sequences[1]",
            "not a string",
        ),
        (
            json!({"max_tokens": "many"}),
            "max_tokens",
            "non-negative integer",
        ),
        (
            json!({"temperature": "warm"}),
            "temperature",
            "not a number",
        ),
        (json!({"stream": "yes"}), "stream", "not a boolean"),
        (
            json!({"metadata": {"user_id": "u", "trace": "x"}}),
            "metadata.trace",
            "cannot be translated",
        ),
        (json!({"messages": "Hello"}), "messages", "not an array"),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].role",
            "not `user` or `assistant`",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x", "name": "bob"}]}),
            "messages[0].name",
            "cannot be translated",
        ),
        (
            json!({"messages": [{"role": "user"}]}),
            "messages[0].content",
            "is missing",
        ),
        (
            json!({"messages": [{"role": "user", "content": 7}]}),
            "messages[0].content",
            "not a string or an array",
        ),
        (
            json!({"system": [{"type": "text", "text": "x", "citations": []}]}),
            "system[0].citations",
            "cannot be translated",
        ),
        (
            json!({"system": [{"text": "x"}]}),
            "system[0].type",
            "is missing",
        ),
    ];
    for (extra, expected_field, expected_reason) in cases {
        let (field, reason) = rejection(to_openai(anthropic_body(extra.clone())));
        assert_eq!(field, expected_field, "{extra}");
        assert!(reason.contains(expected_reason), "{extra}: {reason}");
    }
}

#[test]
fn anthropic_missing_messages_is_rejected() {
    let result = to_openai(json!({"model": "claude-x", "max_tokens": 5}));

    let (field, reason) = rejection(result);
    assert_eq!(field, "messages");
    assert_eq!(reason, "is missing");
}

#[test]
fn anthropic_error_names_both_formats() {
    let error = to_openai(anthropic_body(json!({"top_k": 5}))).unwrap_err();

    assert_eq!(
        error.to_string(),
        "cannot translate the anthropic request to openai: `top_k` has no OpenAI Chat \
         Completions equivalent"
    );
}

#[test]
fn non_object_body_is_invalid() {
    for body in [&b"not json"[..], b"[1, 2]", b""] {
        let request = Request::new(Bytes::copy_from_slice(body));

        let error = anthropic_to_openai(&request, "gpt-4o", OPENAI_URL, "k").unwrap_err();
        assert!(
            matches!(
                error,
                TranslateError::InvalidBody {
                    from: Provider::Anthropic,
                    ..
                }
            ),
            "{error}"
        );
        let error = openai_to_anthropic(&request, "claude-x", ANTHROPIC_URL, "k").unwrap_err();
        assert!(
            matches!(
                error,
                TranslateError::InvalidBody {
                    from: Provider::OpenAi,
                    ..
                }
            ),
            "{error}"
        );
    }
}

#[test]
fn invalid_base_url_is_build_error() {
    let request = anthropic_request(anthropic_body(json!({})));

    let error = anthropic_to_openai(&request, "gpt-4o", "api.openai.com", "k").unwrap_err();

    assert!(matches!(error, TranslateError::Build(_)), "{error}");
    assert!(error.to_string().contains("`api.openai.com`"), "{error}");
}

// OpenAI to Anthropic: mappings.

#[test]
fn openai_request_becomes_anthropic_request() {
    let request = openai_request(openai_body(json!({})));

    let translated = openai_to_anthropic(&request, "claude-x", ANTHROPIC_URL, "sk-ant").unwrap();

    assert_eq!(translated.uri(), "http://127.0.0.1:1/v1/messages");
    assert_eq!(translated.headers()["x-api-key"], "sk-ant");
    assert_eq!(
        translated.headers()["anthropic-version"],
        anthropic::API_VERSION
    );
    assert!(translated.headers().get("authorization").is_none());
    assert_eq!(
        translated.extensions().get::<Tenant>(),
        Some(&Tenant("acme"))
    );
    let body: Value = serde_json::from_slice(translated.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-x",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hello"}],
        })
    );
}

#[test]
fn openai_leading_system_becomes_top_level_system() {
    let body = to_anthropic(openai_body(json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "Bye"}]},
    ]})))
    .unwrap();

    assert_eq!(body["system"], "Be brief.");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "Bye"}]},
        ])
    );
}

#[test]
fn openai_several_system_messages_become_blocks() {
    let body = to_anthropic(openai_body(json!({"messages": [
        {"role": "developer", "content": "Rule one."},
        {"role": "system", "content": [{"type": "text", "text": "Rule two."}]},
        {"role": "user", "content": "Hi"},
    ]})))
    .unwrap();

    assert_eq!(
        body["system"],
        json!([
            {"type": "text", "text": "Rule one."},
            {"type": "text", "text": "Rule two."},
        ])
    );
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
}

#[test]
fn openai_sampling_fields_are_copied() {
    let body = to_anthropic(openai_body(json!({
        "temperature": 0.7,
        "top_p": 0.5,
        "stop": ["END"],
        "stream": true,
        "stream_options": {"include_usage": true},
        "n": 1,
        "user": "user-7",
    })))
    .unwrap();

    assert_eq!(body["temperature"], 0.7);
    assert_eq!(body["top_p"], 0.5);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["stream"], true);
    assert_eq!(body["metadata"], json!({"user_id": "user-7"}));
    assert!(body.get("stop").is_none());
    assert!(body.get("stream_options").is_none());
    assert!(body.get("n").is_none());
    assert!(body.get("user").is_none());
}

#[test]
fn openai_stop_string_becomes_list() {
    let body = to_anthropic(openai_body(json!({"stop": "END"}))).unwrap();

    assert_eq!(body["stop_sequences"], json!(["END"]));
}

#[test]
fn openai_token_limit_prefers_completion_field() {
    let legacy = json!({
        "model": "gpt-4o",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
    });
    assert_eq!(to_anthropic(legacy).unwrap()["max_tokens"], 64);

    let both = openai_body(json!({"max_completion_tokens": 32, "max_tokens": 64}));
    assert_eq!(to_anthropic(both).unwrap()["max_tokens"], 32);
}

#[test]
fn round_trip_keeps_supported_fields() {
    let original = anthropic_body(json!({
        "model": "claude-x",
        "system": "Be brief.",
        "temperature": 0.5,
        "top_p": 0.8,
        "stop_sequences": ["END"],
        "stream": true,
        "metadata": {"user_id": "u1"},
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
        ],
    }));

    let openai = anthropic_to_openai(
        &anthropic_request(original.clone()),
        "gpt-4o",
        OPENAI_URL,
        "k",
    )
    .unwrap();
    let back = openai_to_anthropic(&openai, "claude-x", ANTHROPIC_URL, "k").unwrap();

    let back: Value = serde_json::from_slice(back.body()).unwrap();
    assert_eq!(back, original);
}

// OpenAI to Anthropic: rejections.

#[test]
fn openai_missing_token_limit_is_rejected() {
    let result = to_anthropic(json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
    }));

    let (field, reason) = rejection(result);
    assert_eq!(field, "max_completion_tokens");
    assert!(
        reason.contains("Anthropic requires `max_tokens`"),
        "{reason}"
    );
}

#[test]
fn openai_temperature_above_one_is_rejected() {
    let (field, reason) = rejection(to_anthropic(openai_body(json!({"temperature": 1.5}))));

    assert_eq!(field, "temperature");
    assert_eq!(reason, "is 1.5, above Anthropic's maximum of 1");
    assert!(to_anthropic(openai_body(json!({"temperature": 1}))).is_ok());
}

#[test]
fn openai_image_part_is_rejected() {
    let result = to_anthropic(openai_body(
        json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ]}]}),
    ));

    let (field, reason) = rejection(result);
    assert_eq!(field, "messages[0].content[1].type");
    assert!(reason.contains("`image_url`"), "{reason}");
}

#[test]
fn openai_tool_calls_are_rejected() {
    let calls = json!({"messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function"}]},
    ]});
    let (field, _) = rejection(to_anthropic(openai_body(calls)));
    assert_eq!(field, "messages[1].tool_calls");

    let result = json!({"messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]});
    let (field, _) = rejection(to_anthropic(openai_body(result)));
    assert_eq!(field, "messages[1].tool_call_id");

    let tool_role = json!({"messages": [{"role": "tool", "content": "sunny"}]});
    let (field, reason) = rejection(to_anthropic(openai_body(tool_role)));
    assert_eq!(field, "messages[0].role");
    assert!(reason.contains("`tool`"), "{reason}");
}

#[test]
fn openai_fields_without_equivalent_are_rejected() {
    let cases = [
        (json!({"tools": [{"type": "function"}]}), "tools"),
        (json!({"tool_choice": "auto"}), "tool_choice"),
        (
            json!({"response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (json!({"frequency_penalty": 0.5}), "frequency_penalty"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"seed": 7}), "seed"),
    ];
    for (extra, expected) in cases {
        let (field, reason) = rejection(to_anthropic(openai_body(extra)));
        assert_eq!(field, expected);
        assert_eq!(reason, "has no Anthropic Messages equivalent");
    }
}

#[test]
fn openai_invalid_values_are_rejected() {
    let cases = [
        (json!({"n": 2}), "n", "one choice"),
        (json!({"stop": 5}), "stop", "not an array of strings"),
        (json!({"user": 5}), "user", "not a string"),
        (
            json!({"stream_options": {"include_obfuscation": false}}),
            "stream_options.include_obfuscation",
            "cannot be translated",
        ),
        (
            json!({"max_completion_tokens": -1}),
            "max_completion_tokens",
            "non-negative integer",
        ),
        (
            json!({"messages": [{"role": "user", "content": "Hi", "name": "bob"}]}),
            "messages[0].name",
            "cannot be translated",
        ),
        (
            json!({"messages": [{"role": "user", "content": null}]}),
            "messages[0].content",
            "is missing",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "messages[0].content[0].type",
            "`input_audio`",
        ),
        (
            json!({"messages": [{"content": "Hi"}]}),
            "messages[0].role",
            "is ``",
        ),
    ];
    for (extra, expected_field, expected_reason) in cases {
        let (field, reason) = rejection(to_anthropic(openai_body(extra.clone())));
        assert_eq!(field, expected_field, "{extra}");
        assert!(reason.contains(expected_reason), "{extra}: {reason}");
    }
}

#[test]
fn openai_late_system_message_is_rejected() {
    let result = to_anthropic(openai_body(json!({"messages": [
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": "Now be formal."},
    ]})));

    let (field, reason) = rejection(result);
    assert_eq!(field, "messages[1].role");
    assert!(
        reason.contains("after the conversation started"),
        "{reason}"
    );
}

#[test]
fn extensions_are_copied_not_moved() {
    let request = anthropic_request(anthropic_body(json!({})));

    let translated = anthropic_to_openai(&request, "gpt-4o", OPENAI_URL, "k").unwrap();

    assert_eq!(request.extensions().get::<Tenant>(), Some(&Tenant("acme")));
    assert_eq!(
        translated.extensions().get::<Tenant>(),
        Some(&Tenant("acme"))
    );
}
