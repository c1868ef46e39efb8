//! Shows each resilience behaviour of Agentix against a local simulated provider.
//!
//! Run with `cargo run --example quickstart`. Delays are scaled down through the options so
//! the whole tour takes a few seconds. With `ANTHROPIC_API_KEY` (or `OPENAI_API_KEY`) and
//! `AGENTIX_BASE_URL` set, it sends one request through the same stack to that provider
//! instead.

use std::time::Instant;

use agentix::core::MeterUsage;
use agentix::{AgentixAgentOptions, AgentixClient, HttpClient, ServedBy};
use agentix_sim::{SimServer, Step};
use serde_json::json;
use tower::ServiceExt;

const PRIMARY: &str = "claude-opus-4-20250514";
const FALLBACK: &str = "claude-sonnet-4-20250514";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some((provider, key)) = provider_from_env() {
        return call_real_provider(provider, key).await;
    }

    let sim = SimServer::start().await?;
    println!("agentix-sim listening on {}\n", sim.base_url());

    retries(&sim).await?;
    circuit_breaker(&sim).await?;
    fallback(&sim).await?;
    budget(&sim).await?;
    tenants(&sim).await?;
    Ok(())
}

/// Options with the default policy, delays scaled down so the tour is quick.
fn scaled_options() -> AgentixAgentOptions {
    AgentixAgentOptions {
        provider: "anthropic".into(),
        model: PRIMARY.into(),
        retry_base_delay: 0.1,
        retry_max_delay: 1.0,
        retry_jitter: 0.0,
        circuit_breaker_cooldown: 1.0,
        ..AgentixAgentOptions::default()
    }
}

/// Wraps the HTTP client so every physical attempt prints its time and status.
fn logged_http(
    started: Instant,
) -> impl tower::Service<
    http::Request<bytes::Bytes>,
    Response = http::Response<agentix::LlmBody>,
    Error = agentix::core::BoxError,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    HttpClient::new().map_result(move |result| {
        let elapsed = started.elapsed().as_millis();
        match &result {
            Ok(response) => println!(
                "    +{elapsed:>5} ms  attempt -> {}",
                describe(response.status())
            ),
            Err(error) => println!("    +{elapsed:>5} ms  attempt -> {error}"),
        }
        result
    })
}

/// Names a status, including Anthropic's 529, which has no standard reason phrase.
fn describe(status: http::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None if status.as_u16() == 529 => "529 Overloaded".to_owned(),
        None => status.as_u16().to_string(),
    }
}

fn hello() -> serde_json::Value {
    json!({"max_tokens": 64, "messages": [{"role": "user", "content": "Hello, Agentix!"}]})
}

async fn retries(sim: &SimServer) -> Result<(), Box<dyn std::error::Error>> {
    println!("1. Retry: two 529 overloaded answers, then success (base delay 100 ms, doubling)");
    sim.reset();
    sim.script(PRIMARY, [Step::error(529), Step::error(529)]);
    let started = Instant::now();
    let client = AgentixClient::builder(scaled_options())
        .base_url(sim.base_url())
        .build_with(logged_http(started))?;

    let response = client.create(hello()).await?;
    println!(
        "   -> {} after {} ms and {} attempts\n",
        describe(response.status()),
        started.elapsed().as_millis(),
        sim.requests(PRIMARY)
    );
    Ok(())
}

async fn circuit_breaker(sim: &SimServer) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "2. Circuit breaker: the provider keeps failing; the 5th consecutive failure opens it"
    );
    sim.reset();
    sim.script(PRIMARY, std::iter::repeat_n(Step::error(500), 50));
    let started = Instant::now();
    let client = AgentixClient::builder(scaled_options())
        .base_url(sim.base_url())
        .build_with(logged_http(started))?;

    for call in 1..=3 {
        let before = sim.requests(PRIMARY);
        let call_started = Instant::now();
        match client.create(hello()).await {
            Err(error) => println!(
                "   call {call}: failed after {} attempts reached the provider, in {} ms: {error}",
                sim.requests(PRIMARY) - before,
                call_started.elapsed().as_millis()
            ),
            Ok(response) => println!("   call {call}: {}", describe(response.status())),
        }
    }
    println!();
    Ok(())
}

async fn fallback(sim: &SimServer) -> Result<(), Box<dyn std::error::Error>> {
    println!("3. Fallback: {PRIMARY} is overloaded on every attempt; {FALLBACK} serves the call");
    sim.reset();
    sim.script(PRIMARY, std::iter::repeat_n(Step::error(529), 3));
    let started = Instant::now();
    let client = AgentixClient::builder(AgentixAgentOptions {
        fallback_model: Some(FALLBACK.into()),
        ..scaled_options()
    })
    .base_url(sim.base_url())
    .build_with(logged_http(started))?;

    let response = client.create(hello()).await?;
    let served = response.extensions().get::<ServedBy>();
    println!(
        "   -> {} served by {}; primary received {} requests, fallback {}\n",
        describe(response.status()),
        served.map_or("the primary".to_owned(), |served| served.model.to_string()),
        sim.requests(PRIMARY),
        sim.requests(FALLBACK)
    );
    Ok(())
}

async fn budget(sim: &SimServer) -> Result<(), Box<dyn std::error::Error>> {
    println!("4. Token budget: max_tokens_budget = 60 tokens");
    sim.reset();
    let client = AgentixClient::builder(AgentixAgentOptions {
        max_tokens_budget: Some(60),
        ..scaled_options()
    })
    .base_url(sim.base_url())
    .build()?;

    let mut spent = 0;
    for call in 1..=10 {
        match client.create(hello()).await {
            Ok(response) => {
                let usage = MeterUsage::<http::Request<bytes::Bytes>, _>::usage(
                    &agentix::LlmAdapter::default(),
                    &response,
                );
                let total = usage.map(|usage| usage.total()).unwrap_or_default();
                spent += total;
                println!(
                    "   call {call}: {} using {total} tokens ({spent} spent)",
                    describe(response.status())
                );
            }
            Err(error) => {
                println!("   call {call}: {error}");
                break;
            }
        }
    }
    println!("   provider received {} requests\n", sim.requests(PRIMARY));
    Ok(())
}

async fn tenants(sim: &SimServer) -> Result<(), Box<dyn std::error::Error>> {
    println!("5. Tenants: tenant-a trips its circuit; tenant-b shares the client and is untouched");
    sim.reset();
    let client = AgentixClient::builder(AgentixAgentOptions {
        retry_max_attempts: 1,
        ..scaled_options()
    })
    .base_url(sim.base_url())
    .build()?;

    sim.script(PRIMARY, std::iter::repeat_n(Step::error(503), 5));
    for _ in 0..5 {
        let _ = client.create_for_tenant("tenant-a", hello()).await;
    }
    println!("   tenant-a made 5 calls that failed with 503");
    for tenant in ["tenant-a", "tenant-b"] {
        match client.create_for_tenant(tenant, hello()).await {
            Ok(response) => println!("   {tenant}: {}", describe(response.status())),
            Err(error) => println!("   {tenant}: {error}"),
        }
    }
    Ok(())
}

fn provider_from_env() -> Option<(&'static str, String)> {
    std::env::var("AGENTIX_BASE_URL").ok()?;
    let has_key = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
        .iter()
        .any(|name| std::env::var(name).is_ok());
    if !has_key {
        eprintln!(
            "AGENTIX_BASE_URL is set but neither ANTHROPIC_API_KEY nor OPENAI_API_KEY is: running the local tour instead"
        );
        return None;
    }
    if let Ok(key) = std::env::var("ANTHROPIC_API_KEY") {
        return Some(("anthropic", key));
    }
    std::env::var("OPENAI_API_KEY")
        .ok()
        .map(|key| ("openai", key))
}

async fn call_real_provider(
    provider: &str,
    api_key: String,
) -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::var("AGENTIX_BASE_URL")?;
    let model = std::env::var("AGENTIX_MODEL").unwrap_or_else(|_| match provider {
        "anthropic" => "claude-sonnet-4-20250514".to_owned(),
        _ => "gpt-4o-mini".to_owned(),
    });
    println!("Sending one request to {provider} at {base_url} with model {model}");
    let client = AgentixClient::builder(AgentixAgentOptions {
        provider: provider.to_owned(),
        model,
        ..AgentixAgentOptions::default()
    })
    .base_url(base_url)
    .api_key(api_key)
    .build()?;

    let response = client.create(hello()).await?;
    let body = response.into_body();
    println!("{}", String::from_utf8_lossy(body.as_bytes()));
    Ok(())
}
