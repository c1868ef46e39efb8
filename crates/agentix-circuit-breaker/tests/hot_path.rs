//! A call through a closed circuit allocates nothing once its key exists, and an outage of
//! the backend logs one warning.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use agentix_circuit_breaker::{
    BreakerCommand, BreakerConfig, BreakerReply, CircuitBreakerLayer, InMemoryCircuitBreakerBackend,
};
use agentix_core::{BoxError, Classify, Outcome, TenantId, TenantScoped};
use futures_util::FutureExt;
use tower::{Layer, Service};

/// Counts the allocations of the current thread, so tests on other threads do not count.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: forwards the caller's layout unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwards a pointer this allocator returned, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A request that may name its tenant, and nothing else.
struct Ping(Option<TenantId>);

impl TenantScoped for Ping {
    fn tenant(&self) -> Option<&TenantId> {
        self.0.as_ref()
    }
}

#[derive(Clone)]
struct Pong;

impl Service<Ping> for Pong {
    type Response = ();
    type Error = BoxError;
    type Future = Ready<Result<(), BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Ping) -> Self::Future {
        ready(Ok(()))
    }
}

#[derive(Clone)]
struct AlwaysSuccess;

impl Classify<()> for AlwaysSuccess {
    fn classify(&self, _result: Result<&(), &BoxError>) -> Outcome {
        Outcome::Success
    }
}

#[test]
fn closed_call_allocates_nothing() {
    let layer = CircuitBreakerLayer::new(
        BreakerConfig::new("anthropic"),
        InMemoryCircuitBreakerBackend::new(),
        AlwaysSuccess,
    );
    let mut service = layer.layer(Pong);
    let tenant = TenantId::new("acme");
    let mut call = |tenant: Option<TenantId>| {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        assert!(service.poll_ready(&mut cx).is_ready());
        service
            .call(Ping(tenant))
            .now_or_never()
            .expect("every part completes at once")
            .expect("the call succeeds");
    };

    // The first call of each key inserts it.
    call(None);
    call(Some(tenant.clone()));

    let before = allocations();
    for _ in 0..1_000 {
        call(None);
        call(Some(tenant.clone()));
    }
    assert_eq!(allocations() - before, 0);
}

/// Counts WARN events whose message mentions the backend.
#[derive(Default)]
struct WarningCounter {
    backend_warnings: AtomicUsize,
    recoveries: AtomicUsize,
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Subscriber handle that feeds a shared [`WarningCounter`].
struct CountingSubscriber(Arc<WarningCounter>);

impl tracing::Subscriber for CountingSubscriber {
    fn enabled(&self, _metadata: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _span: &tracing::span::Id, _values: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _span: &tracing::span::Id, _follows: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        let level = *event.metadata().level();
        if level == tracing::Level::WARN && message.0.contains("backend failed") {
            self.0.backend_warnings.fetch_add(1, Ordering::SeqCst);
        }
        if message.0.contains("backend recovered") {
            self.0.recoveries.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(&self, _span: &tracing::span::Id) {}

    fn exit(&self, _span: &tracing::span::Id) {}
}

/// A backend that fails while its flag is set.
#[derive(Clone, Default)]
struct Switchable {
    inner: InMemoryCircuitBreakerBackend,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Service<BreakerCommand> for Switchable {
    type Response = BreakerReply;
    type Error = BoxError;
    type Future = Ready<Result<BreakerReply, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, command: BreakerCommand) -> Self::Future {
        if self.down.load(Ordering::SeqCst) {
            return ready(Err("breaker store unreachable".into()));
        }
        self.inner.call(command)
    }
}

#[test]
fn outage_warns_once_and_logs_recovery() {
    let counter = Arc::new(WarningCounter::default());
    let _guard = tracing::subscriber::set_default(CountingSubscriber(counter.clone()));

    let backend = Switchable::default();
    let layer = CircuitBreakerLayer::new(
        BreakerConfig::new("anthropic"),
        backend.clone(),
        AlwaysSuccess,
    );
    let first = layer.layer(Pong);
    let second = first.clone();
    let send = |mut service: agentix_circuit_breaker::CircuitBreaker<_, _, _>| {
        service
            .call(Ping(None))
            .now_or_never()
            .expect("every part completes at once")
            .expect("the call fails open");
    };

    for outage in 1..=2 {
        backend.down.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            send(first.clone());
            send(second.clone());
        }
        assert_eq!(counter.backend_warnings.load(Ordering::SeqCst), outage);

        backend.down.store(false, Ordering::SeqCst);
        send(second.clone());
        send(first.clone());
        assert_eq!(counter.recoveries.load(Ordering::SeqCst), outage);
    }
}
