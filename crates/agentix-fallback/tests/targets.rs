//! Fallback targets on other providers' services, the provider in `ServedBy`, and the
//! `NoFallback` opt-out.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use agentix_core::{BoxError, NoFallback, ServedBy};
use agentix_fallback::{
    ConfigError, Fallback, FallbackConfig, FallbackLayer, FallbackTarget, FallbackTargets,
};
use support::{model_of, request, served_by, Provider, Reply, Request, Response, Router};
use tower::{Layer, Service, ServiceExt};

type Target = FallbackTarget<Request, Response>;
type TargetedFallback = Fallback<Provider, Router, FallbackTargets<Request, Response>>;

fn config(models: &[&str]) -> FallbackConfig {
    FallbackConfig {
        primary: Some("opus".into()),
        provider: Some("anthropic".into()),
        models: models.iter().map(|&model| Arc::from(model)).collect(),
        ..FallbackConfig::default()
    }
}

/// Rewrites a request for the second provider: another path, another key and the target's
/// model, keeping the extensions.
fn to_openai(request: &Request, model: &str) -> Result<Request, BoxError> {
    let mut translated = http::Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header("authorization", "Bearer second-key")
        .body(format!(
            r#"{{"model":"{model}","messages":"{}"}}"#,
            request.body().len()
        ))?;
    *translated.extensions_mut() = request.extensions().clone();
    Ok(translated)
}

fn stack(config: FallbackConfig, targets: Vec<Target>, inner: &Provider) -> TargetedFallback {
    FallbackLayer::with_targets(config, targets, Router::default()).layer(inner.clone())
}

async fn send(service: &mut TargetedFallback, request: Request) -> Result<Response, BoxError> {
    service.ready().await?.call(request).await
}

fn served(model: &str, position: usize, provider: Option<&str>) -> Option<ServedBy> {
    Some(ServedBy {
        model: model.into(),
        position,
        provider: provider.map(Arc::from),
    })
}

#[tokio::test]
async fn overloaded_primary_falls_back_to_other_provider() {
    let anthropic = Provider::new().reply("opus", Reply::Status(529));
    let openai = Provider::new();
    let target = Target::service("openai", "gpt-4o", openai.clone()).translate(to_openai);
    let mut service = stack(config(&[]), vec![target], &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(anthropic.models(), ["opus"]);
    assert_eq!(openai.models(), ["gpt-4o"]);
    let sent = &openai.received()[0];
    assert_eq!(sent.uri(), "/v1/chat/completions");
    assert_eq!(sent.headers()["authorization"], "Bearer second-key");
    assert_eq!(served_by(&response), served("gpt-4o", 1, Some("openai")));
}

#[tokio::test]
async fn primary_response_records_config_provider() {
    let anthropic = Provider::new();
    let openai = Provider::new();
    let target = Target::service("openai", "gpt-4o", openai.clone()).translate(to_openai);
    let mut service = stack(config(&["sonnet"]), vec![target], &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(served_by(&response), served("opus", 0, Some("anthropic")));
    assert_eq!(openai.calls(), 0);
}

#[tokio::test]
async fn models_come_before_targets() {
    let anthropic = Provider::new()
        .reply("opus", Reply::Status(503))
        .reply("sonnet", Reply::Status(529));
    let openai = Provider::new();
    let target = Target::service("openai", "gpt-4o", openai.clone()).translate(to_openai);
    let mut service = stack(config(&["sonnet"]), vec![target], &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(anthropic.models(), ["opus", "sonnet"]);
    assert_eq!(openai.models(), ["gpt-4o"]);
    assert_eq!(served_by(&response), served("gpt-4o", 2, Some("openai")));
}

#[tokio::test]
async fn model_entry_records_config_provider() {
    let anthropic = Provider::new().reply("opus", Reply::Status(503));
    let mut service = stack(config(&["sonnet"]), Vec::new(), &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(served_by(&response), served("sonnet", 1, Some("anthropic")));
}

#[tokio::test]
async fn target_without_translator_gets_routed_copy() {
    let primary = Provider::new().reply("opus", Reply::Status(503));
    let second_account = Provider::new();
    let target = Target::service("anthropic-eu", "opus", second_account.clone());
    let mut service = stack(config(&[]), vec![target], &primary);

    let response = send(&mut service, request("opus")).await.unwrap();

    let sent = &second_account.received()[0];
    assert_eq!(sent.body(), r#"{"model":"opus","prompt":"hello"}"#);
    assert_eq!(sent.headers()["x-api-key"], "test-key");
    assert_eq!(
        served_by(&response),
        served("opus", 1, Some("anthropic-eu"))
    );
}

#[tokio::test]
async fn inner_target_uses_inner_service() {
    let inner = Provider::new().reply("opus", Reply::Status(503));
    let target = Target::inner("anthropic", "haiku");
    let mut service = stack(config(&[]), vec![target], &inner);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(inner.models(), ["opus", "haiku"]);
    assert_eq!(served_by(&response), served("haiku", 1, Some("anthropic")));
}

#[tokio::test]
async fn every_target_failing_is_tried_once() {
    let anthropic = Provider::new()
        .reply("opus", Reply::Status(503))
        .reply("sonnet", Reply::Status(503));
    let openai = Provider::new()
        .reply("gpt-4o", Reply::Status(503))
        .reply("gpt-4o-mini", Reply::Status(500));
    let targets = vec![
        Target::service("openai", "gpt-4o", openai.clone()).translate(to_openai),
        Target::service("openai", "gpt-4o-mini", openai.clone()).translate(to_openai),
    ];
    let mut service = stack(config(&["sonnet"]), targets, &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(anthropic.models(), ["opus", "sonnet"]);
    assert_eq!(openai.models(), ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(
        response.status(),
        500,
        "the last target's response is returned"
    );
    assert_eq!(
        served_by(&response),
        served("gpt-4o-mini", 3, Some("openai"))
    );
}

#[tokio::test]
async fn client_error_of_target_is_returned() {
    let anthropic = Provider::new().reply("opus", Reply::Status(503));
    let openai = Provider::new().reply("gpt-4o", Reply::Status(400));
    let last = Provider::new();
    let targets = vec![
        Target::service("openai", "gpt-4o", openai.clone()).translate(to_openai),
        Target::service("other", "m", last.clone()),
    ];
    let mut service = stack(config(&[]), targets, &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(openai.calls(), 1);
    assert_eq!(last.calls(), 0);
}

#[tokio::test]
async fn failed_translation_skips_target() {
    let anthropic = Provider::new().reply("opus", Reply::Status(529));
    let openai = Provider::new();
    let later = Provider::new();
    let targets = vec![
        Target::service("openai", "gpt-4o", openai.clone())
            .translate(|_: &Request, _: &str| Err("`tools` cannot be translated".into())),
        Target::service("backup", "opus", later.clone()),
    ];
    let mut service = stack(config(&[]), targets, &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(openai.calls(), 0);
    assert_eq!(later.models(), ["opus"]);
    assert_eq!(served_by(&response), served("opus", 2, Some("backup")));
}

#[tokio::test]
async fn failed_translation_of_last_target_returns_primary_result() {
    let anthropic = Provider::new().reply("opus", Reply::Status(529));
    let openai = Provider::new();
    let target = Target::service("openai", "gpt-4o", openai.clone())
        .translate(|_: &Request, _: &str| Err("image blocks cannot be translated".into()));
    let mut service = stack(config(&[]), vec![target], &anthropic);

    let response = send(&mut service, request("opus")).await.unwrap();

    assert_eq!(response.status(), 529);
    assert_eq!(openai.calls(), 0);
    assert_eq!(served_by(&response), served("opus", 0, Some("anthropic")));
}

#[tokio::test]
async fn no_fallback_request_is_sent_once() {
    for reply in [
        Reply::Status(529),
        Reply::CircuitOpen,
        Reply::Connection("reset"),
    ] {
        let anthropic = Provider::new().reply("opus", reply.clone());
        let openai = Provider::new();
        let target = Target::service("openai", "gpt-4o", openai.clone()).translate(to_openai);
        let mut service = stack(config(&["sonnet"]), vec![target], &anthropic);
        let mut opted_out = request("opus");
        opted_out.extensions_mut().insert(NoFallback);

        let result = send(&mut service, opted_out).await;

        assert_eq!(anthropic.models(), ["opus"], "{reply:?}");
        assert_eq!(openai.calls(), 0, "{reply:?}");
        if let Ok(response) = result {
            assert_eq!(
                served_by(&response),
                served("opus", 0, Some("anthropic")),
                "{reply:?}"
            );
        }
    }
}

#[tokio::test]
async fn no_fallback_applies_to_model_only_chain() {
    let provider = Provider::new().reply("opus", Reply::Status(503));
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(provider.clone());
    let mut opted_out = request("opus");
    opted_out.extensions_mut().insert(NoFallback);

    let response = service
        .ready()
        .await
        .unwrap()
        .call(opted_out)
        .await
        .unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(provider.models(), ["opus"]);
}

#[tokio::test]
async fn translator_sees_original_request_and_target_model() {
    let anthropic = Provider::new().reply("opus", Reply::Status(503));
    let openai = Provider::new();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let target = Target::service("openai", "gpt-4o", openai.clone()).translate(
        move |request: &Request, model: &str| {
            let original = model_of(request.body()).unwrap_or("").to_owned();
            record.lock().unwrap().push((original, model.to_owned()));
            to_openai(request, model)
        },
    );
    let mut service = stack(config(&[]), vec![target], &anthropic);

    send(&mut service, request("opus")).await.unwrap();

    assert_eq!(
        *seen.lock().unwrap(),
        [("opus".to_owned(), "gpt-4o".to_owned())]
    );
}

#[tokio::test]
async fn target_service_clone_is_readied_before_call() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let openai = tower::service_fn(move |request: Request| {
        counter.fetch_add(1, Ordering::SeqCst);
        let model = model_of(request.body()).unwrap_or("").to_owned();
        async move { Reply::Status(200).into_result(&model) }
    });
    // A call without readiness would panic inside the limit.
    let openai = tower::limit::ConcurrencyLimit::new(openai, 1);
    let anthropic = Provider::new().reply("opus", Reply::Status(503));
    let target = Target::service("openai", "gpt-4o", openai).translate(to_openai);
    let service = stack(config(&[]), vec![target], &anthropic);

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move { send(&mut service, request("opus")).await })
        })
        .collect();
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
    }

    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[test]
fn duplicate_target_is_rejected_by_name() {
    let openai = Provider::new();
    let targets = vec![
        Target::service("openai", "gpt-4o", openai.clone()),
        Target::service("openai", "gpt-4o-mini", openai.clone()),
        Target::service("openai", "gpt-4o", openai),
    ];

    let error = FallbackLayer::try_with_targets(config(&["sonnet"]), targets, Router::default())
        .map(|_| ())
        .unwrap_err();

    assert_eq!(
        error,
        ConfigError::DuplicateTarget {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            field: "targets[2]".into(),
        }
    );
    assert!(error.to_string().contains("`openai/gpt-4o`"), "{error}");
    assert!(error.to_string().contains("targets[2]"), "{error}");
}

#[test]
fn target_repeating_primary_or_model_is_rejected() {
    for model in ["opus", "sonnet"] {
        let targets = vec![Target::inner("anthropic", model)];

        let error = config(&["sonnet"])
            .validate_with_targets(&targets)
            .unwrap_err();

        assert_eq!(
            error,
            ConfigError::DuplicateTarget {
                provider: "anthropic".into(),
                model: model.into(),
                field: "targets[0]".into(),
            }
        );
    }
}

#[test]
fn same_model_on_other_provider_is_allowed() {
    let targets = vec![
        Target::service("azure", "opus", Provider::new()),
        Target::inner("openai", "sonnet"),
    ];

    assert_eq!(config(&["sonnet"]).validate_with_targets(&targets), Ok(()));
}

#[test]
fn blank_target_names_are_rejected_by_field() {
    let cases = [
        (
            Target::inner("", "gpt-4o"),
            ConfigError::EmptyProvider {
                field: "targets[0].provider".into(),
            },
        ),
        (
            Target::inner("openai", " "),
            ConfigError::EmptyModel {
                field: "targets[0].model".into(),
            },
        ),
    ];
    for (target, expected) in cases {
        let error = config(&[]).validate_with_targets(&[target]).unwrap_err();
        assert_eq!(error, expected);
    }

    let blank_provider = FallbackConfig {
        provider: Some(" ".into()),
        ..config(&[])
    };
    assert_eq!(
        blank_provider.validate(),
        Err(ConfigError::EmptyProvider {
            field: "provider".into()
        })
    );
}

#[test]
#[should_panic(expected = "target `openai/gpt-4o` appears twice")]
fn with_targets_panics_on_duplicate() {
    let _ = FallbackLayer::with_targets(
        config(&[]),
        vec![
            Target::inner("openai", "gpt-4o"),
            Target::inner("openai", "gpt-4o"),
        ],
        Router::default(),
    );
}

#[test]
fn target_debug_shows_names_not_services() {
    let target = Target::service("openai", "gpt-4o", Provider::new()).translate(to_openai);

    let text = format!("{target:?}");

    assert_eq!(
        text,
        r#"FallbackTarget { model: "gpt-4o", provider: "openai", uses_inner_service: false, has_translator: true }"#
    );
}
