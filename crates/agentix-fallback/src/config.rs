//! The fallback chain: the primary model, the models tried after it, and the policy.

use std::collections::HashSet;
use std::sync::Arc;

use crate::{ConfigError, FallbackPolicy};

/// Settings of a [`FallbackLayer`](crate::FallbackLayer).
///
/// # Examples
///
/// ```
/// use agentix_fallback::FallbackConfig;
///
/// let config = FallbackConfig {
///     primary: Some("claude-opus-4-20250514".into()),
///     models: vec!["claude-sonnet-4-20250514".into()],
///     ..FallbackConfig::default()
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FallbackConfig {
    /// The primary model, which the request names when it reaches the layer.
    ///
    /// With it, the layer records which model served a response without reading the
    /// request. When `None`, the layer reads the request's model with
    /// [`RouteModel::model`](agentix_core::RouteModel::model), and only when it needs the
    /// name: to record a response of the primary, to log a fallback, and to skip a chain
    /// entry that names the primary again.
    pub primary: Option<Arc<str>>,
    /// The models tried after the primary, in order; empty means no fallback.
    pub models: Vec<Arc<str>>,
    /// The outcomes that move a call on to the next model.
    pub policy: FallbackPolicy,
}

impl FallbackConfig {
    /// Checks that every model name is non-blank and that no model appears twice,
    /// counting the primary.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyModel`] names the field of a blank name, and
    /// [`ConfigError::DuplicateModel`] names a repeated model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen: HashSet<&str> = HashSet::with_capacity(self.models.len() + 1);

        if let Some(primary) = &self.primary {
            if primary.trim().is_empty() {
                return Err(ConfigError::EmptyModel {
                    field: "primary".to_owned(),
                });
            }
            seen.insert(primary);
        }

        for (index, model) in self.models.iter().enumerate() {
            if model.trim().is_empty() {
                return Err(ConfigError::EmptyModel {
                    field: format!("models[{index}]"),
                });
            }
            if !seen.insert(model) {
                return Err(ConfigError::DuplicateModel {
                    model: model.clone(),
                    field: format!("models[{index}]"),
                });
            }
        }
        Ok(())
    }
}
