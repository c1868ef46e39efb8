//! The budget and the deadline add no allocation to a call.
//!
//! A counting global allocator counts the allocations of the test's own thread while a
//! measurement runs, so allocations by the test harness on other threads do not count. The
//! runtime is current-thread, so every allocation of a call happens on that thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentix_core::{BoxError, Classify, Outcome};
use agentix_retry::{BudgetScope, RetryBudgetConfig, RetryConfig, RetryLayer};
use tower::{service_fn, Layer, Service, ServiceExt};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether allocations on this thread are counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone)]
struct AlwaysSuccess;

impl Classify<http::Response<()>> for AlwaysSuccess {
    fn classify(&self, _result: Result<&http::Response<()>, &BoxError>) -> Outcome {
        Outcome::Success
    }
}

/// Returns the number of allocations made by `calls` successful calls through a layer built from
/// `config`, after a warm-up that lets the runtime and the layer allocate what they keep.
fn allocations_per_run(config: RetryConfig, calls: usize) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let inner = service_fn(|_request: http::Request<()>| async {
        Ok::<_, BoxError>(http::Response::new(()))
    });
    let mut service = RetryLayer::new(config, AlwaysSuccess).layer(inner);

    runtime.block_on(async {
        send(&mut service, 10).await;
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTING.with(|counting| counting.set(true));
        send(&mut service, calls).await;
        COUNTING.with(|counting| counting.set(false));
        ALLOCATIONS.load(Ordering::Relaxed) - before
    })
}

/// Sends `count` requests one after the other; the requests are built before the first call.
async fn send<S>(service: &mut S, count: usize)
where
    S: Service<http::Request<()>, Response = http::Response<()>, Error = BoxError>,
{
    let requests: Vec<_> = (0..count).map(|_| http::Request::new(())).collect();
    for request in requests {
        let ready = service.ready().await.expect("always ready");
        ready.call(request).await.expect("a response");
    }
}

#[test]
fn budget_and_deadline_allocate_nothing() {
    let plain = allocations_per_run(RetryConfig::default(), 1000);
    assert!(plain >= 1, "the vector of requests is counted");

    let shared_budget = RetryConfig {
        budget: Some(RetryBudgetConfig::default()),
        ..RetryConfig::default()
    };
    assert_eq!(allocations_per_run(shared_budget, 1000), plain);

    let deadline = RetryConfig {
        deadline: Some(Duration::from_secs(30)),
        ..RetryConfig::default()
    };
    assert_eq!(allocations_per_run(deadline, 1000), plain);

    let cancelling = RetryConfig {
        deadline: Some(Duration::from_secs(30)),
        cancel_at_deadline: true,
        ..RetryConfig::default()
    };
    assert_eq!(allocations_per_run(cancelling, 1000), plain);

    // Requests without a tenant use the shared bucket, so the per-tenant scope allocates
    // nothing for them either.
    let per_tenant = RetryConfig {
        budget: Some(RetryBudgetConfig {
            scope: BudgetScope::PerTenant { max_tenants: 8 },
            ..RetryBudgetConfig::default()
        }),
        ..RetryConfig::default()
    };
    assert_eq!(allocations_per_run(per_tenant, 1000), plain);
}
