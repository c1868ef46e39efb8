//! The retry layer.

use std::sync::Arc;

use tower_layer::Layer;

use crate::budget::Budgets;
use crate::service::new_budgets;
use crate::{ConfigError, Retry, RetryConfig};

/// Wraps services in [`Retry`], with one set of options and one classifier.
///
/// Every service the layer wraps, and every clone of the layer, shares one retry budget
/// when the options have one.
///
/// # Examples
///
/// ```
/// use agentix_retry::{RetryConfig, RetryLayer};
/// # #[derive(Clone)]
/// # struct Adapter;
///
/// let layer = RetryLayer::try_new(RetryConfig::default(), Adapter)
///     .expect("default options are valid");
/// # let _ = layer;
/// ```
#[derive(Debug, Clone)]
pub struct RetryLayer<C> {
    config: RetryConfig,
    classifier: C,
    budgets: Option<Arc<Budgets>>,
}

impl<C> RetryLayer<C> {
    /// Creates a layer from the retry options and the classifier that judges each result.
    ///
    /// # Panics
    ///
    /// Panics when `config` fails [`RetryConfig::validate`]; use [`RetryLayer::try_new`] to
    /// get the error instead.
    pub fn new(config: RetryConfig, classifier: C) -> Self {
        match Self::try_new(config, classifier) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Creates a layer from the retry options and the classifier that judges each result.
    ///
    /// # Errors
    ///
    /// Returns the [`ConfigError`] of [`RetryConfig::validate`] when `config` is invalid.
    pub fn try_new(config: RetryConfig, classifier: C) -> Result<Self, ConfigError> {
        config.validate()?;
        let budgets = new_budgets(&config);
        Ok(Self {
            config,
            classifier,
            budgets,
        })
    }

    /// Returns the retry options.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }
}

impl<S, C: Clone> Layer<S> for RetryLayer<C> {
    type Service = Retry<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_parts(
            inner,
            &self.config,
            self.classifier.clone(),
            self.budgets.clone(),
        )
    }
}
