//! `AgentixAgentOptions`: every resilience setting of a client, with the Python API's names
//! and defaults.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Resilience settings of an [`crate::AgentixClient`].
///
/// Field names, units and defaults follow the Python Agentix API, and delays are float seconds.
/// `Default` gives 3 attempts, a 1 s base delay doubling up to 30 s, a breaker that opens
/// after 5 consecutive failures and probes after 60 s, no fallback model and no token budget.
/// Deserializing rejects unknown fields, so a misspelt option is an error, not a default.
///
/// # Examples
///
/// ```
/// let options: agentix::AgentixAgentOptions = serde_json::from_str(
///     r#"{"provider": "anthropic", "model": "claude-opus-4-20250514",
///         "fallback_model": "claude-sonnet-4-20250514", "retry_base_delay": 0.5}"#,
/// ).unwrap();
/// options.validate().unwrap();
/// assert_eq!(options.retry_max_attempts, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentixAgentOptions {
    /// Provider name, part of the breaker key: `"anthropic"` or `"openai"`.
    pub provider: String,
    /// The primary model.
    pub model: String,
    /// The model tried when the primary fails all its retries or its circuit is open.
    pub fallback_model: Option<String>,
    /// Attempts per call, the first included. Must be at least 1.
    pub retry_max_attempts: u32,
    /// Delay before the first retry, in seconds; it doubles for each further retry.
    pub retry_base_delay: f64,
    /// Cap on any retry delay, in seconds. A server delay hint above it ends the retries.
    pub retry_max_delay: f64,
    /// Fraction of each retry delay that is randomised, from 0.0 (exact schedule) to 1.0.
    pub retry_jitter: f64,
    /// Consecutive failures that open the circuit; 0 disables the breaker.
    pub circuit_breaker_failure_threshold: u32,
    /// Seconds the circuit stays open before one probe is let through.
    pub circuit_breaker_cooldown: f64,
    /// Hard stop on the total tokens of all calls through the client; `None` means no budget.
    pub max_tokens_budget: Option<u64>,
}

impl Default for AgentixAgentOptions {
    fn default() -> Self {
        Self {
            provider: "anthropic".to_owned(),
            model: String::new(),
            fallback_model: None,
            retry_max_attempts: 3,
            retry_base_delay: 1.0,
            retry_max_delay: 30.0,
            retry_jitter: DEFAULT_JITTER,
            circuit_breaker_failure_threshold: 5,
            circuit_breaker_cooldown: 60.0,
            max_tokens_budget: None,
        }
    }
}

/// Default `retry_jitter`: each delay is drawn from its last fifth, so workers that failed
/// together spread out without waiting much less than the schedule.
const DEFAULT_JITTER: f64 = 0.2;

/// Maximum delay the options accept, one day: anything longer is a unit mistake.
const MAX_DELAY_SECONDS: f64 = 86_400.0;

/// Providers the options accept.
const PROVIDERS: [&str; 2] = ["anthropic", "openai"];

impl AgentixAgentOptions {
    /// Checks every field and returns the first invalid one.
    ///
    /// # Errors
    ///
    /// Returns [`OptionsError`] naming the field, its value and the accepted range. A delay
    /// must be finite, not negative and at most a day, and the cooldown at least 1 ns. The
    /// base delay must not exceed the cap, attempts must be at least 1, and the jitter must
    /// lie in `0.0..=1.0`. The provider must be known, model names non-empty and distinct,
    /// and a token budget at least 1.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if !PROVIDERS.contains(&self.provider.as_str()) {
            return Err(OptionsError::new(
                "provider",
                format!("{:?}", self.provider),
                "must be \"anthropic\" or \"openai\"",
            ));
        }
        if self.model.trim().is_empty() {
            return Err(OptionsError::new(
                "model",
                format!("{:?}", self.model),
                "must name the primary model",
            ));
        }
        if let Some(fallback) = &self.fallback_model {
            if fallback.trim().is_empty() || *fallback == self.model {
                return Err(OptionsError::new(
                    "fallback_model",
                    format!("{fallback:?}"),
                    "must be a non-empty model name other than `model`",
                ));
            }
        }
        if self.retry_max_attempts == 0 {
            return Err(OptionsError::new(
                "retry_max_attempts",
                "0".to_owned(),
                "must be at least 1 (the first call counts as an attempt)",
            ));
        }
        check_seconds("retry_base_delay", self.retry_base_delay, false)?;
        check_seconds("retry_max_delay", self.retry_max_delay, false)?;
        check_seconds(
            "circuit_breaker_cooldown",
            self.circuit_breaker_cooldown,
            true,
        )?;
        if self.retry_base_delay > self.retry_max_delay {
            return Err(OptionsError::new(
                "retry_base_delay",
                format!(
                    "{} (with retry_max_delay = {})",
                    self.retry_base_delay, self.retry_max_delay
                ),
                "must not exceed retry_max_delay; lower it or raise retry_max_delay",
            ));
        }
        if !(0.0..=1.0).contains(&self.retry_jitter) {
            return Err(OptionsError::new(
                "retry_jitter",
                self.retry_jitter.to_string(),
                "must be a fraction from 0.0 to 1.0",
            ));
        }
        if self.max_tokens_budget == Some(0) {
            return Err(OptionsError::new(
                "max_tokens_budget",
                "0".to_owned(),
                "must be at least 1 token, or null for no budget",
            ));
        }
        Ok(())
    }

    /// Returns `retry_base_delay` as a `Duration`; call [`Self::validate`] first.
    pub fn retry_base_delay(&self) -> Duration {
        seconds(self.retry_base_delay)
    }

    /// Returns `retry_max_delay` as a `Duration`; call [`Self::validate`] first.
    pub fn retry_max_delay(&self) -> Duration {
        seconds(self.retry_max_delay)
    }

    /// Returns `circuit_breaker_cooldown` as a `Duration`; call [`Self::validate`] first.
    pub fn circuit_breaker_cooldown(&self) -> Duration {
        seconds(self.circuit_breaker_cooldown)
    }
}

fn check_seconds(field: &'static str, value: f64, positive: bool) -> Result<(), OptionsError> {
    if !value.is_finite() {
        return Err(OptionsError::new(
            field,
            value.to_string(),
            "must be a finite number of seconds",
        ));
    }
    if value < 0.0 || (positive && seconds(value).is_zero()) {
        let rule = if positive {
            "must be at least 1 nanosecond"
        } else {
            "must not be negative"
        };
        return Err(OptionsError::new(field, value.to_string(), rule));
    }
    if value > MAX_DELAY_SECONDS {
        return Err(OptionsError::new(
            field,
            value.to_string(),
            "must be at most 86400 seconds (one day)",
        ));
    }
    Ok(())
}

/// Converts validated seconds; out-of-range values saturate instead of panicking.
fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.clamp(0.0, MAX_DELAY_SECONDS)).unwrap_or(Duration::ZERO)
}

/// An invalid option, naming the field, its value and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsError {
    /// The option's name, as in `AgentixAgentOptions`.
    pub field: &'static str,
    /// The rejected value.
    pub value: String,
    /// The rule the value breaks, stated as what it must be.
    pub rule: &'static str,
}

impl OptionsError {
    fn new(field: &'static str, value: String, rule: &'static str) -> Self {
        Self { field, value, rule }
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid option `{}` = {}: {}",
            self.field, self.value, self.rule
        )
    }
}

impl std::error::Error for OptionsError {}
