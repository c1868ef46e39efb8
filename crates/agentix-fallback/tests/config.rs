//! Validation of the fallback chain at construction.

mod support;

use std::sync::Arc;

use agentix_fallback::{ConfigError, Fallback, FallbackConfig, FallbackLayer};
use support::{Provider, Router};

fn config(primary: Option<&str>, models: &[&str]) -> FallbackConfig {
    FallbackConfig {
        primary: primary.map(Arc::from),
        models: models.iter().map(|&model| Arc::from(model)).collect(),
        ..FallbackConfig::default()
    }
}

#[test]
fn valid_chains_pass() {
    assert_eq!(config(Some("opus"), &["sonnet"]).validate(), Ok(()));
    assert_eq!(config(Some("opus"), &[]).validate(), Ok(()));
    assert_eq!(config(None, &["sonnet", "haiku"]).validate(), Ok(()));
    assert_eq!(FallbackConfig::default().validate(), Ok(()));
}

#[test]
fn duplicate_in_chain_is_rejected_by_name() {
    let error = config(Some("opus"), &["sonnet", "haiku", "sonnet"])
        .validate()
        .unwrap_err();

    assert_eq!(
        error,
        ConfigError::DuplicateModel {
            model: "sonnet".into(),
            field: "models[2]".into(),
        }
    );
    assert!(error.to_string().contains("`sonnet`"), "{error}");
    assert!(error.to_string().contains("models[2]"), "{error}");
}

#[test]
fn primary_in_chain_is_rejected_by_name() {
    let error = config(Some("opus"), &["sonnet", "opus"])
        .validate()
        .unwrap_err();

    assert_eq!(
        error,
        ConfigError::DuplicateModel {
            model: "opus".into(),
            field: "models[1]".into(),
        }
    );
}

#[test]
fn blank_names_are_rejected_by_field() {
    let cases = [
        (config(Some(""), &["sonnet"]), "primary"),
        (config(Some("  "), &["sonnet"]), "primary"),
        (config(Some("opus"), &[""]), "models[0]"),
        (config(None, &["sonnet", "\t"]), "models[1]"),
    ];
    for (config, field) in cases {
        let error = config.validate().unwrap_err();
        assert_eq!(
            error,
            ConfigError::EmptyModel {
                field: field.into()
            }
        );
        assert!(error.to_string().contains(field), "{error}");
    }
}

#[test]
fn try_new_returns_the_validation_error() {
    let invalid = config(Some("opus"), &["opus"]);

    let layer = FallbackLayer::try_new(invalid.clone(), Router::default());
    let service = Fallback::try_new(Provider::new(), invalid, Router::default());

    assert!(matches!(
        layer.map(|_| ()),
        Err(ConfigError::DuplicateModel { .. })
    ));
    assert!(matches!(
        service.map(|_| ()),
        Err(ConfigError::DuplicateModel { .. })
    ));
}

#[test]
#[should_panic(expected = "model `sonnet` appears twice")]
fn layer_new_panics_on_duplicate() {
    let _ = FallbackLayer::new(
        config(Some("opus"), &["sonnet", "sonnet"]),
        Router::default(),
    );
}

#[test]
#[should_panic(expected = "`models[0]` is an empty model name")]
fn service_new_panics_on_empty_name() {
    let _ = Fallback::new(
        Provider::new(),
        config(Some("opus"), &[""]),
        Router::default(),
    );
}
