//! Fallback middleware: re-sends a failed LLM call with the next model of a chain.
//!
//! [`FallbackLayer`] wraps a service in [`Fallback`]. A call goes to the primary model, the
//! one the request names. When its outcome is one the [`FallbackPolicy`] lists, the call is
//! sent again with the first fallback model, then the next, each model at most once. The
//! response records which model and provider served it as an [`agentix_core::ServedBy`].
//! A request that carries [`agentix_core::NoFallback`] goes to the primary alone.
//!
//! # Other providers
//!
//! [`FallbackLayer::with_targets`] appends [`FallbackTarget`]s to the chain. A target names
//! a provider and a model, and may have its own service (another provider's client, with
//! its own retry and breaker layers) and a translator that builds the request in that
//! provider's wire format. So an Anthropic primary can fall back to an OpenAI model. A
//! chain of models alone ([`FallbackLayer::new`]) sends every attempt through the inner
//! service without boxing.
//!
//! # Where it sits
//!
//! Fallback belongs outside retry: a fallback model is used only after the primary has
//! failed all its retries, or at once when the primary's circuit is open. The default policy
//! follows from that. A transient failure that reaches this layer means the retries behind
//! it are exhausted, and an open circuit means the primary is not worth waiting for.
//!
//! A circuit breaker keyed by provider (not by model) opens for every model of that
//! provider at once, so a chain of models of one provider falls through to the last
//! `CircuitOpen` error. Such a chain helps against overload of one model, not an outage of
//! the provider.
//!
//! # What the layer needs
//!
//! A router (`R`) that classifies results ([`agentix_core::Classify`]) and sets the model of
//! a request ([`agentix_core::RouteModel`]). Requests implement
//! [`agentix_core::ReplayRequest`] and [`agentix_core::FallbackOptOut`], and responses
//! implement [`agentix_core::RecordServedBy`]. The inner service must be `Clone`, because
//! each fallback attempt readies the service again before sending. A target's own service
//! must be `Clone + Send + Sync + 'static`, because it is boxed and shared by every clone
//! of the layer.

mod chain;
mod config;
mod error;
mod future;
mod layer;
mod policy;
mod service;
mod target;

pub use config::FallbackConfig;
pub use error::{ConfigError, SetModelError};
pub use future::ResponseFuture;
pub use layer::FallbackLayer;
pub use policy::FallbackPolicy;
pub use service::Fallback;
pub use target::{FallbackTarget, FallbackTargets, NoTargets, TargetList, Translator};
