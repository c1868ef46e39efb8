//! Errors that Agentix layers raise themselves, and how every layer recognises them.

use std::fmt;
use std::time::Duration;

/// The error type of every Agentix layer's service, as in `tower`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A call rejected by an open circuit breaker; the provider was not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    /// The breaker key, `"{tenant_id}:{provider}"`.
    pub key: String,
    /// Time left until the breaker lets a probe through: exact while the circuit is open, and
    /// the time left on the probe's lease while another caller's probe is in flight.
    pub retry_after: Duration,
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit open for `{}`: the provider was not called; the next probe is due within {:.3} s",
            self.key,
            self.retry_after.as_secs_f64()
        )
    }
}

impl std::error::Error for CircuitOpen {}

/// A call rejected because its token budget is spent; the provider was not called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// The scope of the budget: `"client"` or `"tenant:{id}"`.
    pub scope: String,
    /// Tokens used and reserved by calls in flight when the call was rejected.
    pub used: u64,
    /// The budget's limit in tokens.
    pub limit: u64,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "token budget exceeded for {}: {} of {} tokens used; the provider was not called \
             (raise `max_tokens_budget`, or build a new client to start a new budget)",
            self.scope, self.used, self.limit
        )
    }
}

impl std::error::Error for BudgetExceeded {}

/// Returns which local rejection `error` is, if Agentix raised it rather than the provider.
///
/// Every layer calls this before classifying an error as a provider failure, so that a
/// rejection is never retried, never counted by a breaker, and falls back only where the
/// fallback policy allows it.
pub fn rejection_of(error: &BoxError) -> Option<crate::Rejection> {
    if error.is::<CircuitOpen>() {
        Some(crate::Rejection::CircuitOpen)
    } else if error.is::<BudgetExceeded>() {
        Some(crate::Rejection::BudgetExceeded)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_of_recognises_local_errors() {
        let open: BoxError = Box::new(CircuitOpen {
            key: "t:anthropic".into(),
            retry_after: Duration::from_secs(3),
        });
        let spent: BoxError = Box::new(BudgetExceeded {
            scope: "client".into(),
            used: 10,
            limit: 10,
        });
        let io: BoxError = Box::new(std::io::Error::other("reset"));

        assert_eq!(rejection_of(&open), Some(crate::Rejection::CircuitOpen));
        assert_eq!(rejection_of(&spent), Some(crate::Rejection::BudgetExceeded));
        assert_eq!(rejection_of(&io), None);
    }

    #[test]
    fn messages_name_key_and_numbers() {
        let open = CircuitOpen {
            key: "acme:openai".into(),
            retry_after: Duration::from_millis(1500),
        };
        assert!(open.to_string().contains("acme:openai"));
        assert!(open.to_string().contains("within 1.500 s"));

        let spent = BudgetExceeded {
            scope: "tenant:acme".into(),
            used: 120,
            limit: 100,
        };
        assert!(spent.to_string().contains("120 of 100"));
        assert!(spent.to_string().contains("tenant:acme"));
    }
}
