//! Behaviour of the fallback layer over a scripted provider.

mod support;

use std::sync::Arc;

use agentix_core::{BoxError, BudgetExceeded, CircuitOpen, FailureKind, ServedBy};
use agentix_fallback::{Fallback, FallbackConfig, FallbackLayer, FallbackPolicy, SetModelError};
use support::{request, served_by, Provider, Reply, Request, Response, Router};
use tower::{Layer, Service, ServiceExt};

fn config(primary: &str, models: &[&str]) -> FallbackConfig {
    FallbackConfig {
        primary: Some(primary.into()),
        models: models.iter().map(|&model| Arc::from(model)).collect(),
        ..FallbackConfig::default()
    }
}

fn stack(config: FallbackConfig, provider: &Provider) -> (Fallback<Provider, Router>, Router) {
    let router = Router::default();
    let layer = FallbackLayer::new(config, router.clone());
    (layer.layer(provider.clone()), router)
}

async fn send(
    service: &mut Fallback<Provider, Router>,
    request: Request,
) -> Result<Response, BoxError> {
    service.ready().await?.call(request).await
}

fn served(model: &str, position: usize) -> Option<ServedBy> {
    Some(ServedBy {
        model: model.into(),
        position,
        provider: None,
    })
}

#[tokio::test]
async fn primary_success_is_served_by_primary() {
    let provider = Provider::new();
    let (mut service, router) = stack(config("opus", &["sonnet"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(provider.models(), ["opus"]);
    assert_eq!(served_by(&response), served("opus", 0));
    assert_eq!(
        router.model_reads(),
        0,
        "a configured primary is never read"
    );
}

#[tokio::test]
async fn transient_failure_falls_back_to_next_model() {
    let provider = Provider::new().reply("opus", Reply::Status(503));
    let (mut service, router) = stack(config("opus", &["sonnet"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "answer from sonnet");
    assert_eq!(provider.models(), ["opus", "sonnet"]);
    assert_eq!(served_by(&response), served("sonnet", 1));
    assert_eq!(
        router.model_reads(),
        0,
        "a configured primary is never read"
    );

    let fallback = &provider.received()[1];
    assert_eq!(fallback.body(), r#"{"model":"sonnet","prompt":"hello"}"#);
    assert_eq!(fallback.headers()["x-api-key"], "test-key");
    assert_eq!(fallback.uri(), "/v1/messages");
}

#[tokio::test]
async fn every_transient_kind_falls_back() {
    for status in [429, 500, 502, 503, 529, 408, 409] {
        let provider = Provider::new().reply("opus", Reply::Status(status));
        let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

        let response = send(&mut service, request("opus")).await.unwrap();

        assert_eq!(provider.models(), ["opus", "sonnet"], "status {status}");
        assert_eq!(served_by(&response), served("sonnet", 1), "status {status}");
    }

    let provider = Provider::new().reply("opus", Reply::Connection("connection reset"));
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);
    let response = send(&mut service, request("opus")).await.unwrap();
    assert_eq!(provider.models(), ["opus", "sonnet"]);
    assert_eq!(served_by(&response), served("sonnet", 1));
}

#[tokio::test]
async fn circuit_open_falls_back_at_once() {
    let provider = Provider::new().reply("opus", Reply::CircuitOpen);
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(provider.models(), ["opus", "sonnet"]);
    assert_eq!(served_by(&response), served("sonnet", 1));
}

#[tokio::test]
async fn budget_exceeded_is_returned_without_fallback() {
    let provider = Provider::new().reply("opus", Reply::BudgetExceeded);
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

    let error = send(&mut service, request("opus")).await.unwrap_err();

    assert!(error.is::<BudgetExceeded>(), "{error}");
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn client_errors_do_not_fall_back() {
    for status in [400, 401, 403, 404, 413, 422, 451] {
        let provider = Provider::new().reply("opus", Reply::Status(status));
        let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

        let response = send(&mut service, request("opus")).await.unwrap();

        assert_eq!(response.status(), status);
        assert_eq!(provider.calls(), 1, "status {status}");
        assert_eq!(served_by(&response), served("opus", 0), "status {status}");
    }
}

#[tokio::test]
async fn chain_all_failing_tries_each_once() {
    let provider = Provider::new()
        .reply("opus", Reply::Status(503))
        .reply("sonnet", Reply::Status(529))
        .reply("haiku", Reply::Status(500))
        .reply("mini", Reply::Status(502));
    let (mut service, _) = stack(config("opus", &["sonnet", "haiku", "mini"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(provider.models(), ["opus", "sonnet", "haiku", "mini"]);
    assert_eq!(
        response.status(),
        502,
        "the last model's response is returned"
    );
    assert_eq!(response.body(), "answer from mini");
    assert_eq!(served_by(&response), served("mini", 3));
}

#[tokio::test]
async fn chain_all_erroring_returns_last_error() {
    let provider = Provider::new()
        .reply("opus", Reply::Connection("connection reset"))
        .reply("sonnet", Reply::CircuitOpen)
        .reply("haiku", Reply::Connection("connection refused"));
    let (mut service, _) = stack(config("opus", &["sonnet", "haiku"]), &provider);

    let error = send(&mut service, request("opus")).await.unwrap_err();

    assert_eq!(provider.models(), ["opus", "sonnet", "haiku"]);
    assert_eq!(error.to_string(), "connection refused (haiku)");
}

#[tokio::test]
async fn open_circuit_on_every_model_returns_circuit_open() {
    let provider = Provider::new()
        .reply("opus", Reply::CircuitOpen)
        .reply("sonnet", Reply::CircuitOpen);
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

    let error = send(&mut service, request("opus")).await.unwrap_err();

    assert!(error.is::<CircuitOpen>(), "{error}");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn both_unauthorized_calls_once() {
    let provider = Provider::new()
        .reply("opus", Reply::Status(401))
        .reply("sonnet", Reply::Status(401));
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn fallback_client_error_is_returned() {
    let provider = Provider::new()
        .reply("opus", Reply::Status(503))
        .reply("sonnet", Reply::Status(400))
        .reply("haiku", Reply::Status(200));
    let (mut service, _) = stack(config("opus", &["sonnet", "haiku"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(provider.models(), ["opus", "sonnet"]);
    assert_eq!(served_by(&response), served("sonnet", 1));
}

#[tokio::test]
async fn later_model_serves_after_two_failures() {
    let provider = Provider::new()
        .reply("opus", Reply::Status(429))
        .reply("sonnet", Reply::Status(503));
    let (mut service, _) = stack(config("opus", &["sonnet", "haiku"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(provider.models(), ["opus", "sonnet", "haiku"]);
    assert_eq!(served_by(&response), served("haiku", 2));
    assert_eq!(
        provider.received()[2].body(),
        r#"{"model":"haiku","prompt":"hello"}"#,
        "each attempt starts from the original request"
    );
}

#[tokio::test]
async fn context_length_falls_back_only_when_enabled() {
    let too_long = Reply::StatusWithBody(400, "prompt is too long for the context window");

    let provider = Provider::new().reply("small", too_long.clone());
    let (mut service, _) = stack(config("small", &["large"]), &provider);
    let response = send(&mut service, request("small")).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(provider.models(), ["small"], "off by default");

    let provider = Provider::new().reply("small", too_long);
    let enabled = FallbackConfig {
        policy: FallbackPolicy {
            on_context_length: true,
            ..FallbackPolicy::default()
        },
        ..config("small", &["large"])
    };
    let (mut service, _) = stack(enabled, &provider);
    let response = send(&mut service, request("small")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(provider.models(), ["small", "large"]);
    assert_eq!(served_by(&response), served("large", 1));
}

#[tokio::test]
async fn extra_kind_triggers_fallback() {
    let provider = Provider::new().reply("retired", Reply::Status(404));
    let policy = FallbackPolicy {
        on_kinds: vec![FailureKind::NotFound],
        ..FallbackPolicy::default()
    };
    let (mut service, _) = stack(
        FallbackConfig {
            policy,
            ..config("retired", &["current"])
        },
        &provider,
    );

    let response = send(&mut service, request("retired")).await.unwrap();

    assert_eq!(provider.models(), ["retired", "current"]);
    assert_eq!(served_by(&response), served("current", 1));
}

#[tokio::test]
async fn disabled_transient_flag_returns_overload() {
    let provider = Provider::new().reply("opus", Reply::Status(529));
    let policy = FallbackPolicy {
        on_transient: false,
        ..FallbackPolicy::default()
    };
    let (mut service, _) = stack(
        FallbackConfig {
            policy,
            ..config("opus", &["sonnet"])
        },
        &provider,
    );

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 529);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn should_retry_false_still_falls_back() {
    let provider = Provider::new().reply(
        "opus",
        Reply::StatusWithHeader(529, "x-should-retry", "false"),
    );
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(provider.models(), ["opus", "sonnet"]);
    assert_eq!(served_by(&response), served("sonnet", 1));
}

#[tokio::test]
async fn should_retry_true_does_not_trigger_fallback() {
    let provider = Provider::new().reply(
        "opus",
        Reply::StatusWithHeader(400, "x-should-retry", "true"),
    );
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn empty_chain_sends_once_and_records_primary() {
    let provider = Provider::new().reply("opus", Reply::Status(503));
    let (mut service, router) = stack(config("opus", &[]), &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(provider.calls(), 1);
    assert_eq!(served_by(&response), served("opus", 0));
    assert_eq!(router.model_reads(), 0);
}

#[tokio::test]
async fn unnamed_primary_is_read_from_request() {
    let provider = Provider::new();
    let unnamed = FallbackConfig {
        primary: None,
        ..config("unused", &["sonnet"])
    };
    let (mut service, router) = stack(unnamed, &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(served_by(&response), served("opus", 0));
    assert_eq!(router.model_reads(), 1);
}

#[tokio::test]
async fn unnamed_primary_is_not_tried_twice() {
    let provider = Provider::new()
        .reply("opus", Reply::Status(503))
        .reply("sonnet", Reply::Status(503));
    let unnamed = FallbackConfig {
        primary: None,
        ..config("unused", &["opus", "sonnet"])
    };
    let (mut service, _) = stack(unnamed, &provider);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(provider.models(), ["opus", "sonnet"]);
    assert_eq!(response.status(), 503);
    assert_eq!(served_by(&response), served("sonnet", 2));
}

#[tokio::test]
async fn unnamed_primary_without_model_records_nothing() {
    let provider = Provider::new();
    let unnamed = FallbackConfig {
        primary: None,
        ..config("unused", &["sonnet"])
    };
    let (mut service, _) = stack(unnamed, &provider);
    let bare = http::Request::new(String::from("plain text"));

    let response = send(&mut service, bare).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&response), None);
}

#[tokio::test]
async fn set_model_failure_names_the_model() {
    let provider = Provider::new().reply("", Reply::Status(503));
    let (mut service, _) = stack(config("opus", &["sonnet"]), &provider);
    let bare = http::Request::new(String::from("plain text"));

    let error = send(&mut service, bare).await.unwrap_err();

    let error = error.downcast::<SetModelError>().expect("a SetModelError");
    assert_eq!(&*error.model, "sonnet");
    assert_eq!(error.position, 1);
    assert!(error.to_string().contains("`sonnet`"), "{error}");
    assert!(error.to_string().contains("names no model"), "{error}");
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn service_clones_share_chain() {
    let provider = Provider::new().reply("opus", Reply::Status(503));
    let (service, _) = stack(config("opus", &["sonnet"]), &provider);
    let mut clone = service.clone();

    let response = send(&mut clone, request("opus")).await.unwrap();

    assert_eq!(served_by(&response), served("sonnet", 1));
    assert_eq!(service.models(), [Arc::from("sonnet")]);
    assert_eq!(service.policy(), &FallbackPolicy::default());
}
