//! Redis key of one breaker: `{prefix}{{tenant byte length}:{tenant}|{provider}}`.
//!
//! The tenant is written after its length in bytes, so the encoding is injective: the
//! pairs `("a:b", "c")` and `("a", "b:c")` map to `{4:a:b|c}`-style keys that differ in
//! their length field, and no tenant string can end the tenant part early, reach into the
//! provider part or change the prefix. The provider is the rest of the key up to the
//! closing brace.
//!
//! The braces form a Redis Cluster hash tag, so every key of a breaker lands in one slot.
//! A tenant that itself contains `}` shortens the hash tag, which still maps the key to one
//! fixed slot: every script touches one key only, so this never splits a command.

use agentix_circuit_breaker::BreakerKey;

/// Default prefix of breaker keys.
pub const DEFAULT_KEY_PREFIX: &str = "agentix:cb:";

/// Encodes `key` as the Redis key of its breaker under `prefix`.
///
/// The prefix is checked by [`crate::RedisBackendOptions::validate`]: it must not contain
/// `{` or `}`, which would move the hash tag.
pub fn encode_key(prefix: &str, key: &BreakerKey) -> Vec<u8> {
    let tenant = key.tenant().as_str().as_bytes();
    let provider = key.provider().as_bytes();
    let length = tenant.len().to_string();

    let mut encoded =
        Vec::with_capacity(prefix.len() + length.len() + tenant.len() + provider.len() + 4);
    encoded.extend_from_slice(prefix.as_bytes());
    encoded.push(b'{');
    encoded.extend_from_slice(length.as_bytes());
    encoded.push(b':');
    encoded.extend_from_slice(tenant);
    encoded.push(b'|');
    encoded.extend_from_slice(provider);
    encoded.push(b'}');
    encoded
}

/// Decodes a key made by [`encode_key`] back into its tenant and provider bytes.
///
/// Returns `None` when `encoded` does not start with `prefix` or is not in the format.
pub fn decode_key<'a>(prefix: &str, encoded: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
    let rest = encoded.strip_prefix(prefix.as_bytes())?;
    let rest = rest.strip_prefix(b"{")?;
    let rest = rest.strip_suffix(b"}")?;

    let colon = rest.iter().position(|&byte| byte == b':')?;
    let (digits, rest) = rest.split_at(colon);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let tenant_len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;

    let rest = &rest[1..];
    if rest.len() < tenant_len + 1 {
        return None;
    }
    let (tenant, rest) = rest.split_at(tenant_len);
    let provider = rest.strip_prefix(b"|")?;
    Some((tenant, provider))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentix_core::TenantId;
    use proptest::prelude::*;

    fn key(tenant: &str, provider: &str) -> BreakerKey {
        BreakerKey::new(TenantId::new(tenant), provider)
    }

    #[test]
    fn key_format_is_prefix_and_hash_tag() {
        let encoded = encode_key("agentix:cb:", &key("customer-abc", "anthropic"));
        assert_eq!(encoded, b"agentix:cb:{12:customer-abc|anthropic}");
    }

    #[test]
    fn key_separators_in_tenant_stay_distinct() {
        let left = encode_key("p:", &key("a:b", "c"));
        let right = encode_key("p:", &key("a", "b:c"));
        assert_ne!(left, right);

        let left = encode_key("p:", &key("a|b", "c"));
        let right = encode_key("p:", &key("a", "b|c"));
        assert_ne!(left, right);
    }

    #[test]
    fn key_empty_parts_round_trip() {
        let encoded = encode_key("p:", &key("", ""));
        assert_eq!(encoded, b"p:{0:|}");
        assert_eq!(decode_key("p:", &encoded), Some((&b""[..], &b""[..])));
    }

    #[test]
    fn key_decode_rejects_malformed_input() {
        for bad in [
            &b"other:{1:a|b}"[..],
            b"p:1:a|b}",
            b"p:{1:a|b",
            b"p:{x:a|b}",
            b"p:{:a|b}",
            b"p:{5:a|b}",
            b"p:{1:ab}",
        ] {
            assert_eq!(
                decode_key("p:", bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        #[test]
        fn key_round_trips(tenant in ".*", provider in ".*") {
            let encoded = encode_key("agentix:cb:", &key(&tenant, &provider));
            let decoded = decode_key("agentix:cb:", &encoded);
            prop_assert_eq!(decoded, Some((tenant.as_bytes(), provider.as_bytes())));
        }

        #[test]
        fn key_encoding_is_injective(
            tenant_a in "[a:|{}0-9]{0,6}",
            provider_a in "[a:|{}0-9]{0,6}",
            tenant_b in "[a:|{}0-9]{0,6}",
            provider_b in "[a:|{}0-9]{0,6}",
        ) {
            let a = encode_key("p:", &key(&tenant_a, &provider_a));
            let b = encode_key("p:", &key(&tenant_b, &provider_b));
            prop_assert_eq!(a == b, tenant_a == tenant_b && provider_a == provider_b);
        }

        #[test]
        fn key_tenant_never_changes_prefix(tenant in ".*", provider in ".*") {
            let encoded = encode_key("agentix:cb:", &key(&tenant, &provider));
            let starts = encoded.starts_with(b"agentix:cb:{");
            let ends = encoded.ends_with(b"}");
            prop_assert!(starts, "prefix changed: {:?}", encoded);
            prop_assert!(ends, "closing brace missing: {:?}", encoded);
        }
    }
}
