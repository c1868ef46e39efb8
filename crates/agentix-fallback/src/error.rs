//! Errors of the fallback layer: an invalid chain, and a request whose model cannot be set.

use std::fmt;
use std::sync::Arc;

use agentix_core::BoxError;

/// An invalid [`FallbackConfig`](crate::FallbackConfig), found by its `validate` method.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A model name is empty or only whitespace.
    EmptyModel {
        /// The field holding the name: `"primary"`, `"models[i]"` or `"targets[i].model"`.
        field: String,
    },
    /// A provider name is empty or only whitespace.
    EmptyProvider {
        /// The field holding the name: `"provider"` or `"targets[i].provider"`.
        field: String,
    },
    /// A model appears twice in the chain, which would send a call to it twice.
    DuplicateModel {
        /// The repeated model name.
        model: Arc<str>,
        /// The field of its second appearance: `"models[i]"`.
        field: String,
    },
    /// A target repeats the provider and model of an earlier entry of the chain, which
    /// would send a call to it twice.
    DuplicateTarget {
        /// The repeated target's provider.
        provider: Arc<str>,
        /// The repeated target's model.
        model: Arc<str>,
        /// The field of its second appearance: `"targets[i]"`.
        field: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyModel { field } => {
                write!(
                    f,
                    "invalid fallback config: `{field}` is an empty model name"
                )
            }
            Self::EmptyProvider { field } => {
                write!(
                    f,
                    "invalid fallback config: `{field}` is an empty provider name"
                )
            }
            Self::DuplicateModel { model, field } => write!(
                f,
                "invalid fallback config: model `{model}` appears twice in the chain \
                 (again at `{field}`); list each model once"
            ),
            Self::DuplicateTarget {
                provider,
                model,
                field,
            } => write!(
                f,
                "invalid fallback config: target `{provider}/{model}` appears twice in the \
                 chain (again at `{field}`); list each provider and model once"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The router failed to put a fallback model into the request, so no fallback was sent.
///
/// Returned by the layer instead of the failure that triggered the fallback, because the
/// request itself cannot be routed (its body is not the format the router expects, say).
#[derive(Debug)]
pub struct SetModelError {
    /// The fallback model that could not be set.
    pub model: Arc<str>,
    /// The model's position in the chain; 1 is the first fallback.
    pub position: usize,
    /// The router's error.
    pub source: BoxError,
}

impl fmt::Display for SetModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to set model `{}` (fallback position {}) on the request: {}",
            self.model, self.position, self.source
        )
    }
}

impl std::error::Error for SetModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
