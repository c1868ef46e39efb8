//! The Lua scripts that apply breaker commands, and the decoding of their replies.
//!
//! Each command is one script made of `lua/prelude.lua` followed by the command's own file.
//! [`redis::Script`] sends it with `EVALSHA` and loads it with `SCRIPT LOAD` only when the
//! server replies `NOSCRIPT`, so a warm connection spends one round trip per command. The
//! scripts read the time with `TIME` on the server; worker clocks are never used.
//!
//! The scripts need Redis 4.0 or later (multi-field `HSET`); they are tested on Redis 7.0.

use std::sync::LazyLock;
use std::time::Duration;

use agentix_circuit_breaker::{
    BreakerCommand, BreakerPolicy, BreakerReply, CallResult, CircuitSnapshot, CircuitState, Permit,
};
use redis::{Script, ScriptInvocation};

const PRELUDE: &str = include_str!("lua/prelude.lua");

static ADMIT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&[PRELUDE, include_str!("lua/admit.lua")].concat()));
static RECORD: LazyLock<Script> =
    LazyLock::new(|| Script::new(&[PRELUDE, include_str!("lua/record.lua")].concat()));
static INSPECT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&[PRELUDE, include_str!("lua/inspect.lua")].concat()));

/// A state change reported by the record script, for logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The record was ignored: breaker disabled, or its permit's epoch has passed.
    Ignored,
    /// Applied without changing the state.
    None,
    /// The circuit opened.
    Opened,
    /// The probe succeeded and the circuit closed.
    Closed,
    /// The probe failed and the circuit opened for another cooldown.
    Reopened,
    /// The probe's permit was freed.
    ProbeReleased,
}

/// A decoded script reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScriptReply {
    /// The reply for the layer.
    pub(crate) reply: BreakerReply,
    /// The state change a record caused, if the command was a record.
    pub(crate) transition: Option<Transition>,
    /// Whether the key held data the script could not read and reset to closed.
    pub(crate) reset_corrupt_key: bool,
}

/// Builds the script invocation for `command` on the Redis key `key`.
///
/// `idle_ttl` is the TTL the key gets on every write, raised to at least the policy's
/// cooldown plus probe lease so that an open circuit or a probe lease never expires early.
pub(crate) fn invocation(
    command: &BreakerCommand,
    key: &[u8],
    idle_ttl: Duration,
) -> ScriptInvocation<'static> {
    let (script, policy): (&'static Script, &BreakerPolicy) = match command {
        BreakerCommand::Admit { policy, .. } => (&ADMIT, policy),
        BreakerCommand::Record { policy, .. } => (&RECORD, policy),
        BreakerCommand::Inspect { policy, .. } => (&INSPECT, policy),
    };

    let ttl = idle_ttl.max(policy.cooldown.saturating_add(policy.probe_lease));
    let mut invocation = script.prepare_invoke();
    invocation
        .key(key)
        .arg(policy.failure_threshold)
        .arg(micros(policy.cooldown))
        .arg(micros(policy.probe_lease))
        .arg(millis_at_least_one(ttl));

    if let BreakerCommand::Record { permit, result, .. } = command {
        let result = match result {
            CallResult::Success => "success",
            CallResult::Failure => "failure",
            CallResult::Released => "released",
        };
        invocation
            .arg(permit.epoch)
            .arg(u8::from(permit.probe))
            .arg(result);
    }
    invocation
}

/// Largest duration in microseconds passed to a script; Lua numbers are exact up to 2^53
/// and the scripts add durations to the server time (about 2^51 µs today).
const MAX_SCRIPT_MICROS: u64 = 1 << 52;

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .min(MAX_SCRIPT_MICROS)
}

fn millis_at_least_one(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_SCRIPT_MICROS / 1000)
}

/// Decodes a script's integer array into a reply.
///
/// # Errors
///
/// Returns a description of the reply when it does not have the shape the scripts return.
pub(crate) fn decode(values: &[i64]) -> Result<ScriptReply, String> {
    let describe = || format!("{values:?}");
    let count = |value: i64| u64::try_from(value).map_err(|_| describe());
    let flag = |value: i64| match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(describe()),
    };

    let decoded = match *values {
        [0, epoch, probe, corrupt] => ScriptReply {
            reply: BreakerReply::Admitted(Permit {
                epoch: count(epoch)?,
                probe: flag(probe)?,
            }),
            transition: None,
            reset_corrupt_key: flag(corrupt)?,
        },
        [1, retry_after_us, 0, corrupt] => ScriptReply {
            reply: BreakerReply::Rejected {
                retry_after: Duration::from_micros(count(retry_after_us)?),
            },
            transition: None,
            reset_corrupt_key: flag(corrupt)?,
        },
        [2, transition, corrupt] => ScriptReply {
            reply: BreakerReply::Recorded,
            transition: Some(match transition {
                0 => Transition::Ignored,
                1 => Transition::None,
                2 => Transition::Opened,
                3 => Transition::Closed,
                4 => Transition::Reopened,
                5 => Transition::ProbeReleased,
                _ => return Err(describe()),
            }),
            reset_corrupt_key: flag(corrupt)?,
        },
        [3, state, failures, epoch, retry_after_us, corrupt] => ScriptReply {
            reply: BreakerReply::State(CircuitSnapshot {
                state: match state {
                    0 => CircuitState::Closed,
                    1 => CircuitState::Open,
                    2 => CircuitState::HalfOpen,
                    _ => return Err(describe()),
                },
                consecutive_failures: u32::try_from(failures).map_err(|_| describe())?,
                retry_after: match retry_after_us {
                    -1 => None,
                    micros => Some(Duration::from_micros(count(micros)?)),
                },
                epoch: count(epoch)?,
            }),
            transition: None,
            reset_corrupt_key: flag(corrupt)?,
        },
        _ => return Err(describe()),
    };
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_admitted_probe() {
        let decoded = decode(&[0, 42, 1, 0]).unwrap();
        assert_eq!(
            decoded.reply,
            BreakerReply::Admitted(Permit {
                epoch: 42,
                probe: true
            })
        );
        assert!(!decoded.reset_corrupt_key);
    }

    #[test]
    fn decode_rejected_with_retry_after() {
        let decoded = decode(&[1, 1_500, 0, 1]).unwrap();
        assert_eq!(
            decoded.reply,
            BreakerReply::Rejected {
                retry_after: Duration::from_micros(1_500)
            }
        );
        assert!(decoded.reset_corrupt_key);
    }

    #[test]
    fn decode_record_transitions() {
        let decoded = decode(&[2, 2, 0]).unwrap();
        assert_eq!(decoded.reply, BreakerReply::Recorded);
        assert_eq!(decoded.transition, Some(Transition::Opened));
    }

    #[test]
    fn decode_inspect_half_open() {
        let decoded = decode(&[3, 2, 0, 7, -1, 0]).unwrap();
        assert_eq!(
            decoded.reply,
            BreakerReply::State(CircuitSnapshot {
                state: CircuitState::HalfOpen,
                consecutive_failures: 0,
                retry_after: None,
                epoch: 7,
            })
        );
    }

    #[test]
    fn decode_rejects_malformed_replies() {
        for bad in [
            &[][..],
            &[0, 1, 2, 0],
            &[0, -1, 0, 0],
            &[1, -5, 0, 0],
            &[2, 9, 0],
            &[3, 5, 0, 0, -1, 0],
            &[3, 0, -1, 0, -1, 0],
            &[3, 1, 0, 0, -2, 0],
            &[4],
            &[0, 1, 0, 2],
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_are_capped_for_lua() {
        assert_eq!(micros(Duration::MAX), MAX_SCRIPT_MICROS);
        assert_eq!(millis_at_least_one(Duration::ZERO), 1);
        assert_eq!(micros(Duration::from_millis(250)), 250_000);
    }
}
