//! Model routing: reading and replacing the model of a request, and recording who served it.

use std::sync::Arc;

use crate::BoxError;

/// Reads and replaces the model named in a request, so a fallback can re-send it.
pub trait RouteModel<Req> {
    /// Returns the model the request names, if it names one.
    fn model(&self, request: &Req) -> Option<String>;

    /// Replaces the model the request names.
    ///
    /// # Errors
    ///
    /// Fails when the request body cannot be read or rewritten (not JSON, say).
    fn set_model(&self, request: &mut Req, model: &str) -> Result<(), BoxError>;
}

/// Which model served a response, and how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedBy {
    /// The model that produced the response.
    pub model: Arc<str>,
    /// Position of that model in the fallback chain; 0 is the primary.
    pub position: usize,
    /// The provider that served the model, such as `"anthropic"` or `"openai"`; `None`
    /// when the layer that recorded it was not told the provider's name.
    pub provider: Option<Arc<str>>,
}

impl ServedBy {
    /// Returns whether a fallback model, not the primary, served the response.
    pub fn is_fallback(&self) -> bool {
        self.position > 0
    }
}

/// A response that can record which model served it.
pub trait RecordServedBy {
    /// Stores `served` in the response.
    fn record_served_by(&mut self, served: ServedBy);
}

impl<B> RecordServedBy for http::Response<B> {
    fn record_served_by(&mut self, served: ServedBy) {
        self.extensions_mut().insert(served);
    }
}

/// How many attempts the retry layer made for a response, recorded only when it retried:
/// a response without it took one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts(pub u32);

/// A response that can record how many attempts it took.
pub trait RecordAttempts {
    /// Stores `attempts` in the response.
    fn record_attempts(&mut self, attempts: Attempts);
}

impl<B> RecordAttempts for http::Response<B> {
    fn record_attempts(&mut self, attempts: Attempts) {
        self.extensions_mut().insert(attempts);
    }
}

/// Marks a request that must not be re-sent to a fallback model or provider, whatever the
/// failure; insert it into the request's extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoFallback;

/// A request that may opt out of fallback.
pub trait FallbackOptOut {
    /// Returns whether the request carries [`NoFallback`].
    fn fallback_disabled(&self) -> bool;
}

impl<B> FallbackOptOut for http::Request<B> {
    fn fallback_disabled(&self) -> bool {
        self.extensions().get::<NoFallback>().is_some()
    }
}

impl<Req, R: RouteModel<Req> + ?Sized> RouteModel<Req> for Arc<R> {
    fn model(&self, request: &Req) -> Option<String> {
        (**self).model(request)
    }

    fn set_model(&self, request: &mut Req, model: &str) -> Result<(), BoxError> {
        (**self).set_model(request, model)
    }
}
