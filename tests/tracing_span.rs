//! Every event of one logical call carries the client's `agentix_call` span.

use std::io::Write;
use std::sync::{Arc, Mutex};

use agentix::{AgentixAgentOptions, AgentixClient};
use agentix_sim::{SimServer, Step};
use serde_json::json;

/// A log sink that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn retry_events_carry_call_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = SimServer::start().await.unwrap();
    sim.script("claude-opus-4-20250514", [Step::error(529)]);
    let client = AgentixClient::builder(AgentixAgentOptions {
        model: "claude-opus-4-20250514".into(),
        retry_base_delay: 0.0,
        ..AgentixAgentOptions::default()
    })
    .tenant_id("acme")
    .base_url(sim.base_url())
    .build()
    .unwrap();

    client
        .create_for_tenant(
            "tenant-b",
            json!({"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .expect("the retry succeeds");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let retry_line = logs
        .lines()
        .find(|line| line.contains("WARN"))
        .unwrap_or_else(|| panic!("no retry event in:\n{logs}"));
    assert!(retry_line.contains("agentix_call"), "{retry_line}");
    assert!(retry_line.contains("provider=anthropic"), "{retry_line}");
    assert!(retry_line.contains("tenant=\"tenant-b\""), "{retry_line}");
}
