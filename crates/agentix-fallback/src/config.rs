//! The fallback chain: the primary model, the models tried after it, and the policy.

use std::collections::HashSet;
use std::sync::Arc;

use crate::{ConfigError, FallbackPolicy, FallbackTarget};

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
    /// The provider of the primary and of `models`, such as `"anthropic"`, recorded in
    /// [`ServedBy::provider`](agentix_core::ServedBy::provider). `None` records no provider.
    pub provider: Option<Arc<str>>,
    /// The models tried after the primary on the same service, in order; empty means no
    /// fallback unless the layer has [`FallbackTarget`]s.
    pub models: Vec<Arc<str>>,
    /// The outcomes that move a call on to the next model.
    pub policy: FallbackPolicy,
}

impl FallbackConfig {
    /// Checks that every model and provider name is non-blank and that no model appears
    /// twice, counting the primary.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyModel`] and [`ConfigError::EmptyProvider`] name the field of a
    /// blank name, and [`ConfigError::DuplicateModel`] names a repeated model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_models().map(|_| ())
    }

    /// Checks the config as [`FallbackConfig::validate`] does, then the targets tried after
    /// its models.
    ///
    /// A target's key is its provider and model, and the key of the primary and of each
    /// entry of `models` is [`FallbackConfig::provider`] and that model. The same model
    /// under another provider name is another target.
    ///
    /// # Errors
    ///
    /// The errors of [`FallbackConfig::validate`]; [`ConfigError::EmptyModel`] or
    /// [`ConfigError::EmptyProvider`] for a blank name of a target, and
    /// [`ConfigError::DuplicateTarget`] for a target whose key appears earlier in the chain.
    pub fn validate_with_targets<Req, Res>(
        &self,
        targets: &[FallbackTarget<Req, Res>],
    ) -> Result<(), ConfigError> {
        let mut seen = self.check_models()?;
        let provider = self.provider.as_deref();
        let mut keys: HashSet<(Option<&str>, &str)> =
            seen.drain().map(|model| (provider, model)).collect();

        for (index, target) in targets.iter().enumerate() {
            if target.provider.trim().is_empty() {
                return Err(ConfigError::EmptyProvider {
                    field: format!("targets[{index}].provider"),
                });
            }
            if target.model.trim().is_empty() {
                return Err(ConfigError::EmptyModel {
                    field: format!("targets[{index}].model"),
                });
            }
            if !keys.insert((Some(&target.provider), &target.model)) {
                return Err(ConfigError::DuplicateTarget {
                    provider: Arc::clone(&target.provider),
                    model: Arc::clone(&target.model),
                    field: format!("targets[{index}]"),
                });
            }
        }
        Ok(())
    }

    /// Checks the names of the provider, the primary and `models`, and returns the set of
    /// model names.
    fn check_models(&self) -> Result<HashSet<&str>, ConfigError> {
        if let Some(provider) = &self.provider {
            if provider.trim().is_empty() {
                return Err(ConfigError::EmptyProvider {
                    field: "provider".to_owned(),
                });
            }
        }

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
        Ok(seen)
    }
}
