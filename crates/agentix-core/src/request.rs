//! What the layers need from a request: its tenant and a copy for another attempt.

use std::fmt;
use std::sync::Arc;

/// The tenant a call is made for, set per route in the request's extensions.
///
/// A route middleware (axum, tonic) inserts it; the breaker and the budget read it and fall
/// back to the client's tenant when it is absent. Cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Creates a tenant id from any string; every string is a valid id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// Returns the id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the shared string, without copying it.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TenantId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for TenantId {
    fn from(id: String) -> Self {
        Self::new(id)
    }
}

/// A request that may carry the tenant it is made for.
pub trait TenantScoped {
    /// Returns the tenant a route attached to this request, if any.
    fn tenant(&self) -> Option<&TenantId>;
}

impl<B> TenantScoped for http::Request<B> {
    fn tenant(&self) -> Option<&TenantId> {
        self.extensions().get::<TenantId>()
    }
}

/// A request that can be sent again byte for byte.
pub trait ReplayRequest: Sized {
    /// Returns a copy to send as another attempt, or `None` when the body cannot be
    /// replayed (a one-shot stream, say). A request without a copy is sent once.
    fn replay(&self) -> Option<Self>;
}

impl<B: Clone> ReplayRequest for http::Request<B> {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_comes_from_extensions() {
        let mut request = http::Request::new(());
        assert!(request.tenant().is_none());
        request.extensions_mut().insert(TenantId::new("acme"));
        assert_eq!(request.tenant().map(TenantId::as_str), Some("acme"));
    }

    #[test]
    fn replay_copies_headers_body_and_extensions() {
        let mut request = http::Request::builder()
            .method("POST")
            .uri("/v1/messages")
            .header("x-api-key", "k")
            .body(String::from("{\"model\":\"m\"}"))
            .unwrap();
        request.extensions_mut().insert(TenantId::new("acme"));

        let copy = request.replay().expect("a String body is replayable");
        assert_eq!(copy.uri(), request.uri());
        assert_eq!(copy.headers(), request.headers());
        assert_eq!(copy.body(), request.body());
        assert_eq!(copy.tenant(), request.tenant());
    }
}
