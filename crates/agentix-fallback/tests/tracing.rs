//! Log events of the fallback layer.

mod support;

use std::io;
use std::sync::{Arc, Mutex};

use agentix_fallback::{FallbackConfig, FallbackLayer, FallbackTarget};
use support::{request, OneShot, PlainResponse, Provider, Reply, Request, Router};
use tower::{service_fn, Layer, Service, ServiceExt};

/// A log writer that keeps everything written, for assertions.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn config(models: &[&str]) -> FallbackConfig {
    FallbackConfig {
        primary: Some("opus".into()),
        models: models.iter().map(|&model| Arc::from(model)).collect(),
        ..FallbackConfig::default()
    }
}

#[tokio::test]
async fn fallback_event_names_models_and_failure() {
    let (captured, _guard) = capture();
    let provider = Provider::new()
        .reply("opus", Reply::Status(529))
        .reply("sonnet", Reply::CircuitOpen);
    let layer = FallbackLayer::new(config(&["sonnet", "haiku"]), Router::default());
    let mut service = layer.layer(provider);

    service
        .ready()
        .await
        .unwrap()
        .call(request("opus"))
        .await
        .unwrap();

    let lines: Vec<String> = captured.text().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("from=\"opus\""), "{}", lines[0]);
    assert!(lines[0].contains("to=\"sonnet\""), "{}", lines[0]);
    assert!(lines[0].contains("kind=Overloaded"), "{}", lines[0]);
    assert!(lines[0].contains("status=529"), "{}", lines[0]);
    assert!(lines[1].contains("from=\"sonnet\""), "{}", lines[1]);
    assert!(lines[1].contains("to=\"haiku\""), "{}", lines[1]);
    assert!(lines[1].contains("rejection=CircuitOpen"), "{}", lines[1]);
}

#[tokio::test]
async fn exhausted_chain_is_logged() {
    let (captured, _guard) = capture();
    let provider = Provider::new()
        .reply("opus", Reply::Status(503))
        .reply("sonnet", Reply::Status(503));
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(provider);

    service
        .ready()
        .await
        .unwrap()
        .call(request("opus"))
        .await
        .unwrap();

    let text = captured.text();
    assert!(
        text.contains("every model of the fallback chain failed"),
        "{text}"
    );
    assert!(text.contains("model=\"sonnet\""), "{text}");
}

#[tokio::test]
async fn unreplayable_failure_is_logged() {
    let (captured, _guard) = capture();
    let provider = service_fn(|_request: OneShot| async {
        Ok::<_, agentix_core::BoxError>(PlainResponse {
            status: 503,
            served_by: None,
        })
    });
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(provider);

    let stream = OneShot::new("opus", 0);
    service.ready().await.unwrap().call(stream).await.unwrap();

    let text = captured.text();
    assert!(text.contains("cannot fall back"), "{text}");
    assert!(text.contains("model=\"opus\""), "{text}");
}

#[tokio::test]
async fn success_logs_nothing() {
    let (captured, _guard) = capture();
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(Provider::new());

    service
        .ready()
        .await
        .unwrap()
        .call(request("opus"))
        .await
        .unwrap();

    assert_eq!(captured.text(), "");
}

#[tokio::test]
async fn target_fallback_names_provider() {
    let (captured, _guard) = capture();
    let primary = Provider::new().reply("opus", Reply::Status(529));
    let targets = vec![FallbackTarget::service("openai", "gpt-4o", Provider::new())];
    let layer = FallbackLayer::with_targets(config(&[]), targets, Router::default());
    let mut service = layer.layer(primary);

    service
        .ready()
        .await
        .unwrap()
        .call(request("opus"))
        .await
        .unwrap();

    let text = captured.text();
    assert!(text.contains("to=\"gpt-4o\""), "{text}");
    assert!(text.contains("provider=\"openai\""), "{text}");
}

#[tokio::test]
async fn failed_translation_is_logged_with_error() {
    let (captured, _guard) = capture();
    let primary = Provider::new().reply("opus", Reply::Status(529));
    let target = FallbackTarget::service("openai", "gpt-4o", Provider::new())
        .translate(|_: &Request, _: &str| Err("`tools` has no equivalent".into()));
    let layer = FallbackLayer::with_targets(config(&[]), vec![target], Router::default());
    let mut service = layer.layer(primary);

    service
        .ready()
        .await
        .unwrap()
        .call(request("opus"))
        .await
        .unwrap();

    let text = captured.text();
    assert!(text.contains("skipping fallback target"), "{text}");
    assert!(text.contains("provider=\"openai\""), "{text}");
    assert!(text.contains("`tools` has no equivalent"), "{text}");
}

#[tokio::test]
async fn opted_out_failure_logs_no_warning() {
    let (captured, _guard) = capture();
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(Provider::new().reply("opus", Reply::Status(503)));
    let mut opted_out = request("opus");
    opted_out.extensions_mut().insert(agentix_core::NoFallback);

    service
        .ready()
        .await
        .unwrap()
        .call(opted_out)
        .await
        .unwrap();

    assert_eq!(
        captured.text(),
        "",
        "the default subscriber drops debug events"
    );
}
