//! The decision taken on each classified result: return it, or retry after a delay.

use std::time::Duration;

use agentix_core::Outcome;

use crate::{Backoff, RetryConfig};

/// The per-call limits of a retry service, copied into each response future.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Attempts allowed in all.
    pub(crate) max_attempts: u32,
    /// The delay schedule.
    pub(crate) backoff: Backoff,
    /// Time from the first attempt after which no retry starts.
    pub(crate) deadline: Option<Duration>,
    /// Whether the deadline cancels the attempt in flight.
    pub(crate) cancel_at_deadline: bool,
}

impl From<&RetryConfig> for Limits {
    fn from(config: &RetryConfig) -> Self {
        Self {
            max_attempts: config.max_attempts,
            backoff: Backoff::from(config),
            deadline: config.deadline,
            cancel_at_deadline: config.cancel_at_deadline,
        }
    }
}

/// The response future's next step after an attempt has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Return the attempt's result to the caller unchanged.
    Return,
    /// Send the request again after waiting this long.
    RetryAfter(Duration),
}

/// The state of a logical call when one of its attempts has finished.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    /// Attempts sent so far, the finished one included.
    pub(crate) attempts: u32,
    /// Attempts allowed in all.
    pub(crate) max_attempts: u32,
    /// Whether a copy of the request exists for another attempt.
    pub(crate) can_replay: bool,
    /// Time left until the call's deadline, or `None` without a deadline.
    pub(crate) time_left: Option<Duration>,
}

/// Decides whether the attempt that produced `outcome` is retried, and after which delay.
///
/// Successes and local rejections return at once. A failure is retried only when it is
/// retryable, attempts remain, the request can be replayed, and the server's delay hint (if
/// any) is no longer than the backoff cap. The delay is then the longer of the hint and the
/// backoff delay, so a hint is always waited in full. With a deadline, the retry is
/// scheduled only when that delay ends before the deadline.
///
/// The retry budget is not checked here: the caller withdraws a token only for a retry this
/// function schedules, so a retry skipped for another reason costs nothing.
pub(crate) fn decide(outcome: &Outcome, progress: Progress, backoff: &Backoff) -> Decision {
    let failure = match outcome {
        Outcome::Success | Outcome::Rejected(_) => return Decision::Return,
        Outcome::Failure(failure) => failure,
    };

    if !failure.is_retryable() {
        tracing::debug!(
            attempt = progress.attempts,
            kind = ?failure.kind,
            status = failure.status,
            should_retry = failure.should_retry,
            "failure is not retryable; returning it"
        );
        return Decision::Return;
    }

    if progress.attempts >= progress.max_attempts {
        tracing::warn!(
            attempts = progress.attempts,
            kind = ?failure.kind,
            status = failure.status,
            "retries exhausted; returning the last failure"
        );
        return Decision::Return;
    }

    if !progress.can_replay {
        tracing::warn!(
            attempt = progress.attempts,
            kind = ?failure.kind,
            status = failure.status,
            "retryable failure not retried: the request cannot be replayed"
        );
        return Decision::Return;
    }

    let computed = backoff.delay(progress.attempts);
    let delay = match failure.retry_after {
        Some(hint) if hint > backoff.max_delay() => {
            tracing::info!(
                attempt = progress.attempts,
                kind = ?failure.kind,
                status = failure.status,
                retry_after = ?hint,
                max_delay = ?backoff.max_delay(),
                "server delay hint exceeds max_delay; returning the failure without retrying"
            );
            return Decision::Return;
        }
        Some(hint) => hint.max(computed),
        None => computed,
    };

    if let Some(time_left) = progress.time_left {
        if delay >= time_left {
            tracing::info!(
                attempts = progress.attempts,
                kind = ?failure.kind,
                status = failure.status,
                delay = ?delay,
                time_left = ?time_left,
                "retry would start after the deadline; returning the last failure"
            );
            return Decision::Return;
        }
    }

    tracing::warn!(
        attempt = progress.attempts + 1,
        max_attempts = progress.max_attempts,
        delay = ?delay,
        kind = ?failure.kind,
        status = failure.status,
        "retrying failed call"
    );
    Decision::RetryAfter(delay)
}

#[cfg(test)]
mod tests {
    use agentix_core::{Failure, FailureKind, Rejection};

    use super::*;

    fn exact_backoff() -> Backoff {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0.0)
    }

    fn first_of(max_attempts: u32) -> Progress {
        Progress {
            attempts: 1,
            max_attempts,
            can_replay: true,
            time_left: None,
        }
    }

    fn failure(kind: FailureKind) -> Outcome {
        Outcome::Failure(Failure::new(kind))
    }

    #[test]
    fn success_and_rejections_return() {
        let backoff = exact_backoff();
        for outcome in [
            Outcome::Success,
            Outcome::Rejected(Rejection::CircuitOpen),
            Outcome::Rejected(Rejection::BudgetExceeded),
        ] {
            assert_eq!(
                decide(&outcome, first_of(3), &backoff),
                Decision::Return,
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn transient_failure_retries_with_backoff() {
        let decision = decide(
            &failure(FailureKind::Overloaded),
            first_of(3),
            &exact_backoff(),
        );
        assert_eq!(decision, Decision::RetryAfter(Duration::from_secs(1)));
    }

    #[test]
    fn last_attempt_returns() {
        let progress = Progress {
            attempts: 3,
            ..first_of(3)
        };
        let decision = decide(
            &failure(FailureKind::ServerError),
            progress,
            &exact_backoff(),
        );
        assert_eq!(decision, Decision::Return);
    }

    #[test]
    fn missing_copy_returns() {
        let progress = Progress {
            can_replay: false,
            ..first_of(3)
        };
        let decision = decide(
            &failure(FailureKind::RateLimited),
            progress,
            &exact_backoff(),
        );
        assert_eq!(decision, Decision::Return);
    }

    #[test]
    fn hint_equal_to_cap_is_waited() {
        let mut hinted = Failure::new(FailureKind::RateLimited);
        hinted.retry_after = Some(Duration::from_secs(30));
        let decision = decide(&Outcome::Failure(hinted), first_of(3), &exact_backoff());
        assert_eq!(decision, Decision::RetryAfter(Duration::from_secs(30)));
    }

    #[test]
    fn delay_ending_at_deadline_returns() {
        let progress = Progress {
            time_left: Some(Duration::from_secs(1)),
            ..first_of(3)
        };
        let decision = decide(
            &failure(FailureKind::Overloaded),
            progress,
            &exact_backoff(),
        );
        assert_eq!(decision, Decision::Return);
    }

    #[test]
    fn delay_ending_before_deadline_retries() {
        let progress = Progress {
            time_left: Some(Duration::from_millis(1001)),
            ..first_of(3)
        };
        let decision = decide(
            &failure(FailureKind::Overloaded),
            progress,
            &exact_backoff(),
        );
        assert_eq!(decision, Decision::RetryAfter(Duration::from_secs(1)));
    }

    #[test]
    fn hint_shorter_than_backoff_uses_backoff() {
        let mut hinted = Failure::new(FailureKind::RateLimited);
        hinted.retry_after = Some(Duration::from_millis(100));
        let progress = Progress {
            attempts: 2,
            ..first_of(3)
        };
        let decision = decide(&Outcome::Failure(hinted), progress, &exact_backoff());
        assert_eq!(decision, Decision::RetryAfter(Duration::from_secs(2)));
    }
}
