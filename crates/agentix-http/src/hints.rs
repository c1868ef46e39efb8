//! Parsing of the retry hints that LLM providers send in response headers.
//!
//! This module is the only place in the crate that reads these headers:
//!
//! - [`retry_after`]: `retry-after-ms` (milliseconds, possibly fractional) takes precedence
//!   over `retry-after`, which is either seconds (integer or fractional) or an HTTP date. A
//!   header whose value cannot be used is skipped, so a valid `retry-after` still applies when
//!   `retry-after-ms` is invalid.
//! - [`rate_limit_reset`]: the reset times of the rate-limit windows, as Anthropic
//!   (`anthropic-ratelimit-*-reset`, RFC 3339 timestamps) and OpenAI
//!   (`x-ratelimit-reset-*`, durations such as `1m30s`) send them.
//! - [`should_retry`]: `x-should-retry: true|false`.
//!
//! Values are never trusted: negative, NaN, infinite, non-numeric and malformed values give
//! `None`, and finite values above [`MAX_DELAY_HINT`] saturate to it. A date in the past gives
//! a zero delay.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// The largest delay a hint can give: one day.
///
/// Larger values saturate to it. A caller that caps its own delays (a retry layer with a
/// maximum delay, say) can still tell that the hint is too long to wait for.
pub const MAX_DELAY_HINT: Duration = Duration::from_secs(24 * 60 * 60);

/// Anthropic's reset headers, each with the header that says whether its window is spent.
const ANTHROPIC_RESETS: [(&str, &str); 4] = [
    (
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-requests-remaining",
    ),
    (
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-tokens-remaining",
    ),
    (
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-input-tokens-remaining",
    ),
    (
        "anthropic-ratelimit-output-tokens-reset",
        "anthropic-ratelimit-output-tokens-remaining",
    ),
];

/// OpenAI's reset headers, each with the header that says whether its window is spent.
const OPENAI_RESETS: [(&str, &str); 2] = [
    (
        "x-ratelimit-reset-requests",
        "x-ratelimit-remaining-requests",
    ),
    ("x-ratelimit-reset-tokens", "x-ratelimit-remaining-tokens"),
];

/// Returns the delay the server requests in `retry-after-ms` or `retry-after`.
///
/// `now` is the time an HTTP date is measured from.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(millis) = header_str(headers, "retry-after-ms").and_then(parse_seconds) {
        return Some(saturating_from_secs(millis / 1000.0));
    }
    let value = header_str(headers, "retry-after")?;
    match parse_seconds(value) {
        Some(seconds) => Some(saturating_from_secs(seconds)),
        None => parse_http_date(value, now),
    }
}

/// Returns the time until the spent rate-limit window resets, from Anthropic's or OpenAI's
/// reset headers.
///
/// When a `remaining` header says a window is spent (`0`), the latest reset among the spent
/// windows is returned, since the call cannot pass before all of them reset. When no window is
/// known to be spent, the earliest reset of any window is returned. `now` is the time the
/// Anthropic timestamps are measured from.
///
/// These headers come with every response, not only with rate-limit errors, so callers should
/// use them only for a rate-limit failure that has no [`retry_after`] hint.
pub fn rate_limit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let anthropic = ANTHROPIC_RESETS.iter().map(|(reset, remaining)| {
        let delay = header_str(headers, reset).and_then(|v| parse_rfc3339_delay(v, now));
        (delay, is_spent(headers, remaining))
    });
    let openai = OPENAI_RESETS.iter().map(|(reset, remaining)| {
        let delay = header_str(headers, reset).and_then(parse_go_duration);
        (delay, is_spent(headers, remaining))
    });

    let mut latest_spent: Option<Duration> = None;
    let mut earliest: Option<Duration> = None;
    for (delay, spent) in anthropic.chain(openai) {
        let Some(delay) = delay else { continue };
        earliest = Some(earliest.map_or(delay, |e| e.min(delay)));
        if spent {
            latest_spent = Some(latest_spent.map_or(delay, |l| l.max(delay)));
        }
    }
    latest_spent.or(earliest)
}

/// Returns the server's `x-should-retry` hint: `true` or `false` in any letter case, else
/// `None`.
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    let value = header_str(headers, "x-should-retry")?;
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Returns the trimmed value of the first `name` header, if it is UTF-8.
///
/// UTF-8 rather than visible ASCII, so that Go's `µs` unit can be read.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let bytes = headers.get(name)?.as_bytes();
    std::str::from_utf8(bytes).ok().map(str::trim)
}

fn is_spent(headers: &HeaderMap, remaining: &str) -> bool {
    header_str(headers, remaining).is_some_and(|v| v.parse::<u64>() == Ok(0))
}

/// Parses a non-negative decimal number such as `3`, `1.5` or `0.25`.
///
/// A number too large for `f64` gives infinity, which [`saturating_from_secs`] caps.
fn parse_seconds(value: &str) -> Option<f64> {
    // `f64::from_str` also accepts `inf`, `NaN` and a leading `+`, which no server means.
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'-');
    if !plain {
        return None;
    }
    let number: f64 = value.parse().ok()?;
    (number >= 0.0).then_some(number)
}

/// Converts seconds to a duration, saturating at [`MAX_DELAY_HINT`].
fn saturating_from_secs(seconds: f64) -> Duration {
    debug_assert!(seconds >= 0.0, "a delay hint is never negative or NaN");
    if seconds >= MAX_DELAY_HINT.as_secs_f64() {
        MAX_DELAY_HINT
    } else {
        Duration::from_secs_f64(seconds)
    }
}

/// Returns the time from `now` until `target`: zero for a past time, capped at the maximum.
fn delay_until(target: SystemTime, now: SystemTime) -> Duration {
    target
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
        .min(MAX_DELAY_HINT)
}

fn parse_http_date(value: &str, now: SystemTime) -> Option<Duration> {
    let date = httpdate::parse_http_date(value).ok()?;
    Some(delay_until(date, now))
}

fn parse_rfc3339_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let format = time::format_description::well_known::Rfc3339;
    let timestamp = time::OffsetDateTime::parse(value, &format).ok()?;
    Some(delay_until(SystemTime::from(timestamp), now))
}

/// Parses a duration in Go's `time.Duration` notation, which OpenAI uses for its reset
/// headers: one or more `<number><unit>` pairs such as `6s`, `12ms`, `1m30s` or `1.5h`, with
/// units `ns`, `us` (or `µs`), `ms`, `s`, `m` and `h`.
fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value;
    let mut total_seconds = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];

        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_seconds += number * seconds_per_unit;
    }
    // Each number is a non-negative decimal, so the sum is at worst infinite, which saturates.
    Some(saturating_from_secs(total_seconds))
}

#[cfg(test)]
#[path = "hints_tests.rs"]
mod tests;
