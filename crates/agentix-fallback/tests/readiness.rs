//! Readiness of the service clones the fallback layer calls, and requests sent only once.

mod support;

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use agentix_core::{BoxError, ServedBy};
use agentix_fallback::{FallbackConfig, FallbackLayer};
use support::{model_of, request, served_by, OneShot, PlainResponse, Request, Response, Router};
use tower::limit::ConcurrencyLimit;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_test::mock;

fn config(models: &[&str]) -> FallbackConfig {
    FallbackConfig {
        primary: Some("opus".into()),
        models: models.iter().map(|&model| Arc::from(model)).collect(),
        ..FallbackConfig::default()
    }
}

fn status(status: u16) -> Response {
    http::Response::builder()
        .status(status)
        .body(String::new())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_survives_many_failovers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // Every third call of the primary fails; the provider takes 10 ms per call.
    let provider = service_fn(move |request: Request| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        let model = model_of(request.body()).unwrap_or("").to_owned();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let code = if model == "opus" && call.is_multiple_of(3) {
                503
            } else {
                200
            };
            Ok::<_, BoxError>(status(code))
        }
    });
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(ConcurrencyLimit::new(provider, 1));

    let mut fallbacks = 0;
    for _ in 0..1_000 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request("opus"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let served = served_by(&response).expect("every response records its model");
        if served.is_fallback() {
            fallbacks += 1;
        }
    }

    assert!(fallbacks > 300, "{fallbacks} fallbacks");
    assert_eq!(calls.load(Ordering::SeqCst), 1_000 + fallbacks);
}

#[tokio::test(start_paused = true)]
async fn concurrency_limit_shared_by_concurrent_callers() {
    let provider = service_fn(|request: Request| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let code = if model_of(request.body()) == Some("opus") {
            529
        } else {
            200
        };
        Ok::<_, BoxError>(status(code))
    });
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let service = layer.layer(ConcurrencyLimit::new(provider, 1));

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move {
                let response = service.ready().await?.call(request("opus")).await?;
                Ok::<_, BoxError>(served_by(&response))
            })
        })
        .collect();

    for task in tasks {
        let served = task.await.unwrap().unwrap();
        assert_eq!(
            served,
            Some(ServedBy {
                model: "sonnet".into(),
                position: 1,
                provider: None,
            })
        );
    }
}

#[tokio::test]
async fn fallback_clone_is_readied_before_call() {
    let (inner, mut handle) = mock::pair::<Request, Response>();
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(inner);

    handle.allow(1);
    service.ready().await.unwrap();
    let mut future = Box::pin(service.call(request("opus")));

    let (primary, reply) = handle.next_request().await.unwrap();
    assert_eq!(model_of(primary.body()), Some("opus"));
    reply.send_response(status(503));

    // The mock has no capacity left, so the fallback waits in `poll_ready`; a call made
    // without readiness would panic inside the mock.
    let pending = poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await;
    assert!(pending, "the fallback waits for readiness");
    assert!(
        handle.poll_request().is_pending(),
        "nothing sent before readiness"
    );

    handle.allow(1);
    let pending = poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await;
    assert!(pending, "the fallback waits for its response");
    let (fallback, reply) = handle.next_request().await.unwrap();
    assert_eq!(model_of(fallback.body()), Some("sonnet"));
    reply.send_response(status(200));

    let response = future.await.unwrap();
    assert_eq!(served_by(&response).map(|served| served.position), Some(1));
}

#[tokio::test]
async fn fallback_readiness_error_is_returned() {
    let (inner, mut handle) = mock::pair::<Request, Response>();
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(inner);

    handle.allow(1);
    service.ready().await.unwrap();
    let future = service.call(request("opus"));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(status(503));
    handle.send_error("provider pool closed");

    let error = future.await.unwrap_err();
    assert_eq!(error.to_string(), "provider pool closed");
}

/// A provider that returns 200 for the model `serving` and 503 for every other model.
fn one_shot_provider(
    calls: Arc<AtomicUsize>,
    serving: &'static str,
) -> impl Service<OneShot, Response = PlainResponse, Error = BoxError, Future = impl Send> + Clone {
    service_fn(move |request: OneShot| {
        calls.fetch_add(1, Ordering::SeqCst);
        let status = if request.model == serving { 200 } else { 503 };
        async move {
            Ok::<_, BoxError>(PlainResponse {
                status,
                served_by: None,
            })
        }
    })
}

#[tokio::test]
async fn unreplayable_request_is_sent_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let unnamed = FallbackConfig {
        primary: None,
        ..config(&["sonnet"])
    };
    let router = Router::default();
    let layer = FallbackLayer::new(unnamed, router.clone());
    let mut service = layer.layer(one_shot_provider(Arc::clone(&calls), "sonnet"));

    let stream = OneShot::new("opus", 0);
    let response = service.ready().await.unwrap().call(stream).await.unwrap();

    assert_eq!(response.status, 503, "the primary's failure is returned");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        response.served_by,
        Some(ServedBy {
            model: "opus".into(),
            position: 0,
            provider: None,
        })
    );
    assert_eq!(
        router.model_reads(),
        1,
        "the model is read before the request is sent"
    );
}

#[tokio::test]
async fn replayable_one_shot_request_falls_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = FallbackLayer::new(config(&["sonnet"]), Router::default());
    let mut service = layer.layer(one_shot_provider(Arc::clone(&calls), "sonnet"));

    let copyable = OneShot::new("opus", usize::MAX);
    let response = service.ready().await.unwrap().call(copyable).await.unwrap();

    assert_eq!(response.status, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(response.served_by.map(|served| served.position), Some(1));
}

#[tokio::test]
async fn request_copied_once_stops_chain_after_one_fallback() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = FallbackLayer::new(config(&["sonnet", "haiku"]), Router::default());
    let mut service = layer.layer(one_shot_provider(Arc::clone(&calls), "haiku"));

    // One copy is kept at the call; the copy for `sonnet` fails, so `sonnet` gets the
    // original and nothing is left for `haiku`.
    let response = service
        .ready()
        .await
        .unwrap()
        .call(OneShot::new("opus", 1))
        .await
        .unwrap();

    assert_eq!(response.status, 503, "the failure of `sonnet` is returned");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        response.served_by,
        Some(ServedBy {
            model: "sonnet".into(),
            position: 1,
            provider: None,
        })
    );
}
