use super::*;
use http::HeaderValue;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// Returns a fixed "now", 2026-01-01T00:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn after(d: &[(&'static str, &str)]) -> Option<Duration> {
    retry_after(&headers(d), now())
}

#[test]
fn retry_after_integer_seconds() {
    assert_eq!(after(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
    assert_eq!(after(&[("retry-after", "0")]), Some(Duration::ZERO));
}

#[test]
fn retry_after_fractional_seconds() {
    assert_eq!(
        after(&[("retry-after", "1.5")]),
        Some(Duration::from_millis(1500))
    );
}

#[test]
fn retry_after_ms_fractional() {
    assert_eq!(
        after(&[("retry-after-ms", "250.5")]),
        Some(Duration::from_micros(250_500))
    );
}

#[test]
fn retry_after_ms_takes_precedence() {
    let hint = after(&[("retry-after", "30"), ("retry-after-ms", "120")]);
    assert_eq!(hint, Some(Duration::from_millis(120)));
}

#[test]
fn invalid_retry_after_ms_is_skipped() {
    let hint = after(&[("retry-after-ms", "soon"), ("retry-after", "2")]);
    assert_eq!(hint, Some(Duration::from_secs(2)));
}

#[test]
fn retry_after_garbage_is_ignored() {
    for value in [
        "", "soon", "-1", "-0.5", "NaN", "nan", "inf", "+5", "1,5", "5 s", "0x10", "1.2.3",
    ] {
        assert_eq!(
            after(&[("retry-after", value)]),
            None,
            "retry-after: {value:?}"
        );
        assert_eq!(
            after(&[("retry-after-ms", value)]),
            None,
            "retry-after-ms: {value:?}"
        );
    }
}

#[test]
fn retry_after_non_ascii_value_is_ignored() {
    let mut map = HeaderMap::new();
    map.insert("retry-after", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
    assert_eq!(retry_after(&map, now()), None);
}

#[test]
fn retry_after_enormous_saturates() {
    for value in ["86401", "99999999999999999999999999", "1e300", "1e400"] {
        assert_eq!(
            after(&[("retry-after", value)]),
            Some(MAX_DELAY_HINT),
            "{value}"
        );
    }
    assert_eq!(after(&[("retry-after-ms", "1e30")]), Some(MAX_DELAY_HINT));
}

#[test]
fn retry_after_surrounding_whitespace_is_trimmed() {
    assert_eq!(
        after(&[("retry-after", " 3 ")]),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn retry_after_http_date_in_future() {
    // 90 seconds after `now()`.
    let hint = after(&[("retry-after", "Thu, 01 Jan 2026 00:01:30 GMT")]);
    assert_eq!(hint, Some(Duration::from_secs(90)));
}

#[test]
fn retry_after_http_date_in_past_is_zero() {
    let hint = after(&[("retry-after", "Wed, 31 Dec 2025 23:00:00 GMT")]);
    assert_eq!(hint, Some(Duration::ZERO));
}

#[test]
fn retry_after_http_date_far_future_saturates() {
    let hint = after(&[("retry-after", "Fri, 01 Jan 2100 00:00:00 GMT")]);
    assert_eq!(hint, Some(MAX_DELAY_HINT));
}

#[test]
fn retry_after_malformed_date_is_ignored() {
    assert_eq!(
        after(&[("retry-after", "Thu, 32 Jan 2026 00:00:00 GMT")]),
        None
    );
    assert_eq!(after(&[("retry-after", "tomorrow")]), None);
}

#[test]
fn retry_after_missing_is_none() {
    assert_eq!(after(&[]), None);
}

fn reset(d: &[(&'static str, &str)]) -> Option<Duration> {
    rate_limit_reset(&headers(d), now())
}

#[test]
fn anthropic_reset_rfc3339() {
    let hint = reset(&[("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:12Z")]);
    assert_eq!(hint, Some(Duration::from_secs(12)));
}

#[test]
fn anthropic_reset_with_offset_and_fraction() {
    // 01:00:05.5 at +01:00 is 00:00:05.5 UTC.
    let hint = reset(&[(
        "anthropic-ratelimit-tokens-reset",
        "2026-01-01T01:00:05.5+01:00",
    )]);
    assert_eq!(hint, Some(Duration::from_millis(5500)));
}

#[test]
fn anthropic_reset_in_past_is_zero() {
    let hint = reset(&[("anthropic-ratelimit-requests-reset", "2025-12-31T23:59:00Z")]);
    assert_eq!(hint, Some(Duration::ZERO));
}

#[test]
fn anthropic_reset_malformed_is_ignored() {
    for value in ["2026-01-01 00:00:12", "soon", "2026-13-01T00:00:00Z", ""] {
        let hint = reset(&[("anthropic-ratelimit-requests-reset", value)]);
        assert_eq!(hint, None, "{value:?}");
    }
}

#[test]
fn spent_window_reset_is_chosen() {
    let hint = reset(&[
        ("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:02Z"),
        ("anthropic-ratelimit-requests-remaining", "10"),
        (
            "anthropic-ratelimit-output-tokens-reset",
            "2026-01-01T00:00:40Z",
        ),
        ("anthropic-ratelimit-output-tokens-remaining", "0"),
    ]);
    assert_eq!(hint, Some(Duration::from_secs(40)));
}

#[test]
fn latest_of_spent_windows_is_chosen() {
    let hint = reset(&[
        ("x-ratelimit-reset-requests", "3s"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-tokens", "45s"),
        ("x-ratelimit-remaining-tokens", "0"),
    ]);
    assert_eq!(hint, Some(Duration::from_secs(45)));
}

#[test]
fn earliest_reset_without_spent_window() {
    let hint = reset(&[
        ("x-ratelimit-reset-requests", "1m30s"),
        ("x-ratelimit-reset-tokens", "6s"),
    ]);
    assert_eq!(hint, Some(Duration::from_secs(6)));
}

#[test]
fn openai_reset_durations() {
    let cases = [
        ("12ms", Duration::from_millis(12)),
        ("6s", Duration::from_secs(6)),
        ("1m30s", Duration::from_secs(90)),
        ("6m0s", Duration::from_secs(360)),
        ("1.5s", Duration::from_millis(1500)),
        ("2h", Duration::from_secs(7200)),
        ("100us", Duration::from_micros(100)),
        ("100µs", Duration::from_micros(100)),
        ("500ns", Duration::from_nanos(500)),
        ("1000h", MAX_DELAY_HINT),
    ];
    for (value, expected) in cases {
        assert_eq!(
            reset(&[("x-ratelimit-reset-tokens", value)]),
            Some(expected),
            "{value}"
        );
    }
}

#[test]
fn openai_reset_malformed_is_ignored() {
    for value in ["", "6", "s", "-6s", "6x", "1m-30s", "1..5s", "six seconds"] {
        assert_eq!(
            reset(&[("x-ratelimit-reset-requests", value)]),
            None,
            "{value:?}"
        );
    }
}

#[test]
fn should_retry_any_case() {
    for (value, expected) in [
        ("true", Some(true)),
        ("TRUE", Some(true)),
        ("False", Some(false)),
        (" false ", Some(false)),
        ("1", None),
        ("yes", None),
        ("", None),
    ] {
        let map = headers(&[("x-should-retry", value)]);
        assert_eq!(should_retry(&map), expected, "{value:?}");
    }
    assert_eq!(should_retry(&HeaderMap::new()), None);
}
