//! The layer that wraps a service in [`Fallback`].

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::service::Shared;
use crate::target::NoTargets;
use crate::{ConfigError, Fallback, FallbackConfig, FallbackTarget, FallbackTargets};

/// Wraps services in [`Fallback`], which re-sends a failed call with the next model of a
/// chain.
///
/// The config is validated once here and shared by every service the layer builds.
///
/// # Examples
///
/// ```
/// # use agentix_core::{BoxError, Classify, Outcome, RouteModel};
/// # #[derive(Clone)]
/// # struct Router;
/// # impl Classify<http::Response<String>> for Router {
/// #     fn classify(&self, _: Result<&http::Response<String>, &BoxError>) -> Outcome {
/// #         Outcome::Success
/// #     }
/// # }
/// # impl RouteModel<http::Request<String>> for Router {
/// #     fn model(&self, _: &http::Request<String>) -> Option<String> { None }
/// #     fn set_model(&self, _: &mut http::Request<String>, _: &str) -> Result<(), BoxError> {
/// #         Ok(())
/// #     }
/// # }
/// use agentix_fallback::{FallbackConfig, FallbackLayer};
/// use tower_layer::Layer;
///
/// let layer = FallbackLayer::new(
///     FallbackConfig {
///         primary: Some("claude-opus-4-20250514".into()),
///         models: vec!["claude-sonnet-4-20250514".into()],
///         ..FallbackConfig::default()
///     },
///     Router,
/// );
/// let provider = tower::service_fn(|_request: http::Request<String>| async {
///     Ok::<_, BoxError>(http::Response::new(String::from("{}")))
/// });
/// let service = layer.layer(provider);
/// # let _ = service;
/// ```
pub struct FallbackLayer<R, T = NoTargets> {
    shared: Arc<Shared<R, T>>,
}

impl<R> FallbackLayer<R> {
    /// Creates a layer from a chain config and the router that classifies results and
    /// rewrites the model of a request.
    ///
    /// # Panics
    ///
    /// Panics with the [`ConfigError`] message when `config` is invalid; see
    /// [`FallbackConfig::validate`]. [`FallbackLayer::try_new`] returns the error instead.
    pub fn new(config: FallbackConfig, router: R) -> Self {
        match Self::try_new(config, router) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Creates a layer, or returns why `config` is invalid.
    ///
    /// # Errors
    ///
    /// Returns the first problem [`FallbackConfig::validate`] finds.
    pub fn try_new(config: FallbackConfig, router: R) -> Result<Self, ConfigError> {
        Ok(Self {
            shared: Arc::new(Shared::new(config, router)?),
        })
    }
}

impl<R, Req, Res> FallbackLayer<R, FallbackTargets<Req, Res>> {
    /// Creates a layer whose chain is the models of `config`, then `targets`, which may
    /// name other providers and use their own services.
    ///
    /// # Panics
    ///
    /// Panics with the [`ConfigError`] message when the chain is invalid; see
    /// [`FallbackConfig::validate_with_targets`]. [`FallbackLayer::try_with_targets`]
    /// returns the error instead.
    pub fn with_targets(
        config: FallbackConfig,
        targets: Vec<FallbackTarget<Req, Res>>,
        router: R,
    ) -> Self {
        match Self::try_with_targets(config, targets, router) {
            Ok(layer) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    /// Creates a layer with targets, or returns why the chain is invalid.
    ///
    /// # Errors
    ///
    /// Returns the first problem [`FallbackConfig::validate_with_targets`] finds, such as
    /// a target that repeats the provider and model of an earlier entry.
    pub fn try_with_targets(
        config: FallbackConfig,
        targets: Vec<FallbackTarget<Req, Res>>,
        router: R,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            shared: Arc::new(Shared::with_targets(config, targets, router)?),
        })
    }
}

impl<S, R, T> Layer<S> for FallbackLayer<R, T> {
    type Service = Fallback<S, R, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Fallback::from_shared(inner, Arc::clone(&self.shared))
    }
}

impl<R, T> Clone for FallbackLayer<R, T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: fmt::Debug, T: fmt::Debug> fmt::Debug for FallbackLayer<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("shared", &self.shared)
            .finish()
    }
}
