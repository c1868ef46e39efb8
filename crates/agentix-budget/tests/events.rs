//! Tracing events of rejections and settlements.

mod support;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use agentix_budget::{InMemoryLedger, TokenBudgetLayer};
use support::{request, Provider, TestMeter};
use tower::{Layer, Service, ServiceExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata};

/// One recorded event: its level and its fields as `name=value` strings.
type Recorded = (Level, Vec<String>);

/// Records every event's fields; spans are ignored.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Recorded>>>,
}

struct FieldVisitor<'a>(&'a mut Vec<String>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={:?}", field.name(), value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={}", field.name(), value));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut FieldVisitor(&mut fields));
        let level = *event.metadata().level();
        self.events.lock().unwrap().push((level, fields));
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

fn find<'a>(events: &'a [Recorded], text: &str) -> &'a Recorded {
    events
        .iter()
        .find(|(_, fields)| fields.iter().any(|field| field.contains(text)))
        .unwrap_or_else(|| panic!("no event mentions `{text}`"))
}

#[tokio::test(flavor = "current_thread")]
async fn rejection_event_names_scope_and_numbers() {
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let mut service =
        TokenBudgetLayer::new(InMemoryLedger::new(50), TestMeter).layer(Provider::default());

    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "70"))
        .await
        .unwrap();
    service
        .ready()
        .await
        .unwrap()
        .call(request(Some(10), "1"))
        .await
        .expect_err("the budget is spent");

    let events = recorder.events.lock().unwrap().clone();
    let (level, fields) = find(&events, "call rejected");
    assert_eq!(*level, Level::INFO);
    assert!(fields.contains(&"scope=client".to_owned()), "{fields:?}");
    assert!(fields.contains(&"used=70".to_owned()), "{fields:?}");
    assert!(fields.contains(&"limit=50".to_owned()), "{fields:?}");

    let (level, fields) = find(&events, "settled to reported usage");
    assert_eq!(*level, Level::DEBUG);
    assert!(fields.contains(&"reserved=10".to_owned()), "{fields:?}");
    assert!(fields.contains(&"actual=70".to_owned()), "{fields:?}");
}
