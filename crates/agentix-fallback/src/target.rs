//! Fallback targets: chain entries that name a provider and may use their own service.

use std::fmt;
use std::sync::Arc;

use agentix_core::BoxError;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;
use tower_service::Service;

/// Builds the request for a target from the original request and the target's model.
pub type Translator<Req> = Arc<dyn Fn(&Req, &str) -> Result<Req, BoxError> + Send + Sync>;

/// One entry of a fallback chain: a model, the provider that serves it, and optionally the
/// service that reaches that provider and a translator into its wire format.
///
/// A target without a service goes through the layer's inner service, like an entry of
/// [`FallbackConfig::models`](crate::FallbackConfig::models). A target with a service is
/// sent through a clone of that service, which can carry its own retry and circuit breaker
/// layers. A target whose provider speaks another wire format needs a translator, such as
/// `agentix_http::translate::anthropic_to_openai`.
///
/// # Building the request
///
/// With a translator, the target's request is what the translator returns for the original
/// request and the target's model. Without one, the target's request is a copy of the
/// original ([`ReplayRequest::replay`](agentix_core::ReplayRequest::replay)) with the model
/// set by the router ([`RouteModel::set_model`](agentix_core::RouteModel::set_model)).
///
/// # Examples
///
/// ```
/// use agentix_core::BoxError;
/// use agentix_fallback::FallbackTarget;
///
/// type Request = http::Request<String>;
/// type Response = http::Response<String>;
///
/// let second_provider = tower::service_fn(|_request: Request| async {
///     Ok::<_, BoxError>(http::Response::new(String::from("{}")))
/// });
/// let target: FallbackTarget<Request, Response> =
///     FallbackTarget::service("openai", "gpt-4o", second_provider)
///         .translate(|request: &Request, model: &str| {
///             let body = format!(r#"{{"model":"{model}","messages":[]}}"#);
///             let mut translated = http::Request::new(body);
///             *translated.uri_mut() = "/v1/chat/completions".parse()?;
///             *translated.extensions_mut() = request.extensions().clone();
///             Ok(translated)
///         });
/// assert_eq!(&**target.provider(), "openai");
/// assert!(!target.uses_inner_service());
/// ```
pub struct FallbackTarget<Req, Res> {
    pub(crate) model: Arc<str>,
    pub(crate) provider: Arc<str>,
    pub(crate) service: Option<BoxCloneSyncService<Req, Res, BoxError>>,
    pub(crate) translator: Option<Translator<Req>>,
}

impl<Req, Res> FallbackTarget<Req, Res> {
    /// Creates a target for `model` on the layer's inner service.
    pub fn inner(provider: impl Into<Arc<str>>, model: impl Into<Arc<str>>) -> Self {
        Self {
            model: model.into(),
            provider: provider.into(),
            service: None,
            translator: None,
        }
    }

    /// Creates a target for `model` reached through `service`, another provider's client.
    pub fn service<S>(provider: impl Into<Arc<str>>, model: impl Into<Arc<str>>, service: S) -> Self
    where
        S: Service<Req, Response = Res> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        Req: 'static,
        Res: 'static,
    {
        let service = service.map_err(Into::<BoxError>::into);
        Self {
            model: model.into(),
            provider: provider.into(),
            service: Some(BoxCloneSyncService::new(service)),
            translator: None,
        }
    }

    /// Sets the function that builds this target's request from the original request and
    /// the target's model.
    ///
    /// When the function fails, the target is skipped with a warning in the log and the
    /// chain moves on to its next entry.
    pub fn translate<F>(mut self, translator: F) -> Self
    where
        F: Fn(&Req, &str) -> Result<Req, BoxError> + Send + Sync + 'static,
    {
        self.translator = Some(Arc::new(translator));
        self
    }

    /// Returns the model this target sends the call to.
    pub fn model(&self) -> &Arc<str> {
        &self.model
    }

    /// Returns the name of the provider that serves the model.
    pub fn provider(&self) -> &Arc<str> {
        &self.provider
    }

    /// Returns whether the target goes through the layer's inner service.
    pub fn uses_inner_service(&self) -> bool {
        self.service.is_none()
    }

    /// Returns whether the target builds its request with a translator.
    pub fn has_translator(&self) -> bool {
        self.translator.is_some()
    }
}

impl<Req, Res> Clone for FallbackTarget<Req, Res> {
    fn clone(&self) -> Self {
        Self {
            model: Arc::clone(&self.model),
            provider: Arc::clone(&self.provider),
            service: self.service.clone(),
            translator: self.translator.clone(),
        }
    }
}

impl<Req, Res> fmt::Debug for FallbackTarget<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackTarget")
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("uses_inner_service", &self.uses_inner_service())
            .field("has_translator", &self.has_translator())
            .finish()
    }
}

/// The targets of a chain built with
/// [`FallbackLayer::with_targets`](crate::FallbackLayer::with_targets), tried after the
/// models of [`FallbackConfig::models`](crate::FallbackConfig::models).
pub struct FallbackTargets<Req, Res> {
    targets: Box<[FallbackTarget<Req, Res>]>,
}

impl<Req, Res> FallbackTargets<Req, Res> {
    pub(crate) fn new(targets: Vec<FallbackTarget<Req, Res>>) -> Self {
        Self {
            targets: targets.into_boxed_slice(),
        }
    }
}

impl<Req, Res> fmt::Debug for FallbackTargets<Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.targets.iter()).finish()
    }
}

/// The target list of a chain of models on the inner service alone, built with
/// [`FallbackLayer::new`](crate::FallbackLayer::new).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoTargets;

/// The targets a [`Fallback`](crate::Fallback) service tries after its models.
///
/// Implemented by [`NoTargets`] and [`FallbackTargets`] only.
pub trait TargetList<Req, Res>: sealed::Sealed {
    /// Returns the targets in chain order.
    fn targets(&self) -> &[FallbackTarget<Req, Res>];
}

impl<Req, Res> TargetList<Req, Res> for NoTargets {
    fn targets(&self) -> &[FallbackTarget<Req, Res>] {
        &[]
    }
}

impl<Req, Res> TargetList<Req, Res> for FallbackTargets<Req, Res> {
    fn targets(&self) -> &[FallbackTarget<Req, Res>] {
        &self.targets
    }
}

mod sealed {
    pub trait Sealed {}

    impl Sealed for super::NoTargets {}
    impl<Req, Res> Sealed for super::FallbackTargets<Req, Res> {}
}
