//! The fallback policy: the outcomes that move a call on to the next model of the chain.

use agentix_core::{FailureKind, Outcome, Rejection};

/// Decides which outcomes of a call send it on to the next model.
///
/// The policy is a set of flags, so a caller changes one decision with struct update syntax:
///
/// ```
/// use agentix_fallback::FallbackPolicy;
///
/// // A fallback model with a larger context window also takes prompts that are too long.
/// let policy = FallbackPolicy {
///     on_context_length: true,
///     ..FallbackPolicy::default()
/// };
/// # assert!(policy.on_transient);
/// ```
///
/// # Defaults
///
/// A call falls back after a transient provider failure ([`FailureKind::is_transient`]: rate
/// limited, overloaded, server error, timeout, connection, conflict). Behind a retry layer,
/// such a failure means the retries of the current model are exhausted. A call also falls
/// back at once when the current model's circuit is open ([`Rejection::CircuitOpen`]).
///
/// By default, a call does not fall back after an invalid request, a context length error,
/// an authentication or permission error, an unknown model, a content policy refusal or an
/// unclassified failure. Another model would most likely fail the same way.
/// [`Rejection::BudgetExceeded`] never triggers a fallback, whatever the flags are set to,
/// because a spent budget covers every model.
///
/// # The `x-should-retry` hint
///
/// The policy ignores the server's `x-should-retry` header in both directions. The hint
/// says whether sending the same request to the same model again could succeed. A fallback
/// sends it to another model, so an overloaded primary that answers `x-should-retry: false`
/// still falls back, and an invalid request marked `x-should-retry: true` does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackPolicy {
    /// Falls back after a transient provider failure. Default `true`.
    pub on_transient: bool,
    /// Falls back when the current model's circuit is open. Default `true`.
    pub on_circuit_open: bool,
    /// Falls back when the prompt does not fit the current model's context window, for a
    /// chain whose next model has a larger one. Default `false`.
    pub on_context_length: bool,
    /// Further failure kinds that trigger a fallback, such as [`FailureKind::NotFound`] for
    /// a primary model that may be retired. Empty by default.
    pub on_kinds: Vec<FailureKind>,
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        Self {
            on_transient: true,
            on_circuit_open: true,
            on_context_length: false,
            on_kinds: Vec::new(),
        }
    }
}

impl FallbackPolicy {
    /// Returns whether `outcome` sends the call on to the next model.
    pub fn should_fall_back(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Success => false,
            Outcome::Failure(failure) => self.triggers_on(failure.kind),
            Outcome::Rejected(Rejection::CircuitOpen) => self.on_circuit_open,
            // A spent budget covers every model, and a rejection added to the core later is
            // not known to be specific to one model.
            Outcome::Rejected(_) => false,
        }
    }

    /// Returns whether a provider failure of `kind` sends the call on to the next model.
    pub fn triggers_on(&self, kind: FailureKind) -> bool {
        if self.on_kinds.contains(&kind) {
            return true;
        }
        if kind == FailureKind::ContextLengthExceeded {
            return self.on_context_length;
        }
        self.on_transient && kind.is_transient()
    }
}

#[cfg(test)]
mod tests {
    use agentix_core::Failure;

    use super::*;

    fn failure(kind: FailureKind) -> Outcome {
        Outcome::Failure(Failure::new(kind))
    }

    #[test]
    fn default_triggers_on_transient_kinds_and_open_circuit() {
        let policy = FallbackPolicy::default();
        for kind in [
            FailureKind::RateLimited,
            FailureKind::Overloaded,
            FailureKind::ServerError,
            FailureKind::Timeout,
            FailureKind::Connection,
            FailureKind::Conflict,
        ] {
            assert!(policy.should_fall_back(&failure(kind)), "{kind:?}");
        }
        assert!(policy.should_fall_back(&Outcome::Rejected(Rejection::CircuitOpen)));
    }

    #[test]
    fn default_ignores_client_errors_success_and_budget() {
        let policy = FallbackPolicy::default();
        for kind in [
            FailureKind::ContextLengthExceeded,
            FailureKind::InvalidRequest,
            FailureKind::Authentication,
            FailureKind::Permission,
            FailureKind::NotFound,
            FailureKind::ContentPolicy,
            FailureKind::Other,
        ] {
            assert!(!policy.should_fall_back(&failure(kind)), "{kind:?}");
        }
        assert!(!policy.should_fall_back(&Outcome::Success));
        assert!(!policy.should_fall_back(&Outcome::Rejected(Rejection::BudgetExceeded)));
    }

    #[test]
    fn should_retry_hint_is_ignored() {
        let policy = FallbackPolicy::default();

        let mut overloaded = Failure::new(FailureKind::Overloaded);
        overloaded.should_retry = Some(false);
        assert!(policy.should_fall_back(&Outcome::Failure(overloaded)));

        let mut invalid = Failure::new(FailureKind::InvalidRequest);
        invalid.should_retry = Some(true);
        assert!(!policy.should_fall_back(&Outcome::Failure(invalid)));
    }

    #[test]
    fn flags_switch_each_trigger() {
        let policy = FallbackPolicy {
            on_transient: false,
            on_circuit_open: false,
            on_context_length: true,
            on_kinds: vec![FailureKind::NotFound],
        };
        assert!(!policy.should_fall_back(&failure(FailureKind::Overloaded)));
        assert!(!policy.should_fall_back(&Outcome::Rejected(Rejection::CircuitOpen)));
        assert!(policy.should_fall_back(&failure(FailureKind::ContextLengthExceeded)));
        assert!(policy.should_fall_back(&failure(FailureKind::NotFound)));
        assert!(!policy.should_fall_back(&failure(FailureKind::Authentication)));
    }

    #[test]
    fn budget_rejection_never_triggers() {
        let policy = FallbackPolicy {
            on_transient: true,
            on_circuit_open: true,
            on_context_length: true,
            on_kinds: vec![FailureKind::Other],
        };
        assert!(!policy.should_fall_back(&Outcome::Rejected(Rejection::BudgetExceeded)));
    }
}
