use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::budget::{BudgetScope, Budgets};

const TOKEN: u64 = MICROS_PER_TOKEN;

fn config(retry_ratio: f64, min_retries: u32, capacity: u32) -> RetryBudgetConfig {
    RetryBudgetConfig {
        retry_ratio,
        min_retries,
        period: Duration::from_secs(10),
        capacity,
        scope: BudgetScope::Shared,
    }
}

fn bucket(config: &RetryBudgetConfig, origin: Instant) -> TokenBucket {
    TokenBucket::new(BucketSettings::from_config(config), None, origin)
}

#[test]
fn new_bucket_holds_min_retries() {
    let origin = Instant::now();
    let bucket = bucket(&config(0.2, 10, 100), origin);
    assert_eq!(bucket.balance_micros(), 10 * TOKEN);
    assert_eq!(bucket.start_micros(), 10 * TOKEN);
}

#[test]
fn start_is_capped_by_capacity() {
    let bucket = bucket(&config(0.2, 10, 3), Instant::now());
    assert_eq!(bucket.balance_micros(), 3 * TOKEN);
}

#[test]
fn withdraw_takes_whole_tokens_only() {
    let origin = Instant::now();
    let bucket = bucket(&config(0.5, 1, 100), origin);

    assert!(bucket.try_withdraw(origin), "the starting token");
    assert!(!bucket.try_withdraw(origin), "empty");

    bucket.deposit();
    assert_eq!(bucket.balance_micros(), TOKEN / 2);
    assert!(!bucket.try_withdraw(origin), "half a token is not enough");

    bucket.deposit();
    assert!(
        bucket.try_withdraw(origin),
        "two deposits of 0.5 make a token"
    );
    assert_eq!(bucket.balance_micros(), 0);
}

#[test]
fn deposits_stop_at_capacity() {
    let bucket = bucket(&config(1.0, 1, 2), Instant::now());
    for _ in 0..10 {
        bucket.deposit();
    }
    assert_eq!(bucket.balance_micros(), 2 * TOKEN);
}

#[test]
fn floor_refills_evenly_over_period() {
    let origin = Instant::now();
    let bucket = bucket(&config(0.0, 10, 100), origin);
    for _ in 0..10 {
        assert!(bucket.try_withdraw(origin));
    }
    assert!(
        !bucket.try_withdraw(origin),
        "the starting balance is spent"
    );

    // 10 tokens per 10 s is one token per second.
    assert!(!bucket.try_withdraw(origin + Duration::from_millis(999)));
    assert!(bucket.try_withdraw(origin + Duration::from_secs(1)));
    assert!(!bucket.try_withdraw(origin + Duration::from_secs(1)));
    assert_eq!(
        bucket.balance_at(origin + Duration::from_millis(1500)),
        TOKEN / 2
    );
}

#[test]
fn refill_stops_at_capacity() {
    let origin = Instant::now();
    let bucket = bucket(&config(0.0, 10, 20), origin);
    let later = origin + Duration::from_secs(3600);
    assert_eq!(bucket.balance_at(later), 20 * TOKEN);
}

#[test]
fn time_before_origin_refills_nothing() {
    let origin = Instant::now() + Duration::from_secs(60);
    let bucket = bucket(&config(0.0, 1, 10), origin);
    assert!(bucket.try_withdraw(origin - Duration::from_secs(30)));
    assert!(!bucket.try_withdraw(origin - Duration::from_secs(10)));
}

#[test]
fn skips_warn_once_per_period_with_count() {
    let origin = Instant::now();
    let bucket = bucket(&config(0.2, 10, 100), origin);

    assert_eq!(bucket.note_skip(origin), Some(1), "the first skip warns");
    assert_eq!(bucket.note_skip(origin + Duration::from_secs(1)), None);
    assert_eq!(bucket.note_skip(origin + Duration::from_secs(9)), None);
    assert_eq!(
        bucket.note_skip(origin + Duration::from_secs(10)),
        Some(3),
        "the next warning counts the skips since the last one"
    );
}

#[test]
fn key_names_tenant_or_shared() {
    let settings = BucketSettings::from_config(&RetryBudgetConfig::default());
    let origin = Instant::now();
    assert_eq!(TokenBucket::new(settings, None, origin).key(), "shared");
    let tenant = Some(agentix_core::TenantId::new("acme"));
    assert_eq!(TokenBucket::new(settings, tenant, origin).key(), "acme");
}

#[test]
fn shared_scope_ignores_tenants() {
    let budgets = Budgets::new(&RetryBudgetConfig::default(), Instant::now());
    let acme = agentix_core::TenantId::new("acme");
    let first = budgets.bucket_for(Some(&acme));
    let second = budgets.bucket_for(None);
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(budgets.tenant_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn per_tenant_scope_separates_tenants() {
    let config = RetryBudgetConfig {
        scope: BudgetScope::PerTenant { max_tenants: 8 },
        ..RetryBudgetConfig::default()
    };
    let budgets = Budgets::new(&config, Instant::now());
    let acme = agentix_core::TenantId::new("acme");
    let globex = agentix_core::TenantId::new("globex");

    let acme_bucket = budgets.bucket_for(Some(&acme));
    assert!(Arc::ptr_eq(&acme_bucket, &budgets.bucket_for(Some(&acme))));
    assert!(!Arc::ptr_eq(
        &acme_bucket,
        &budgets.bucket_for(Some(&globex))
    ));
    assert!(!Arc::ptr_eq(&acme_bucket, &budgets.bucket_for(None)));
    assert_eq!(acme_bucket.key(), "acme");
    assert_eq!(budgets.tenant_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn full_map_evicts_only_idle_buckets() {
    let config = RetryBudgetConfig {
        scope: BudgetScope::PerTenant { max_tenants: 1 },
        ..RetryBudgetConfig::default()
    };
    let budgets = Budgets::new(&config, Instant::now());
    let acme = agentix_core::TenantId::new("acme");
    let globex = agentix_core::TenantId::new("globex");
    let initech = agentix_core::TenantId::new("initech");

    // A bucket held by a call in flight is never evicted.
    let held = budgets.bucket_for(Some(&acme));
    let overflow = budgets.bucket_for(Some(&globex));
    assert_eq!(overflow.key(), "shared", "no idle bucket to replace");
    drop(overflow);

    // A drained bucket is kept, because a new one would start with more tokens.
    assert!(held.try_withdraw(Instant::now()));
    drop(held);
    assert_eq!(budgets.bucket_for(Some(&globex)).key(), "shared");

    // Once refilled to its starting balance, the bucket makes room.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(budgets.bucket_for(Some(&initech)).key(), "initech");
    assert_eq!(budgets.tenant_count(), 1);
}

/// One thread's share of a concurrent run: deposits, and withdrawal attempts at times.
#[derive(Debug, Clone)]
struct Work {
    deposits: u32,
    withdrawals: Vec<u64>,
}

fn work() -> impl Strategy<Value = Work> {
    (0u32..300, proptest::collection::vec(0u64..20_000, 0..300)).prop_map(
        |(deposits, withdrawals)| Work {
            deposits,
            withdrawals,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn concurrent_updates_conserve_tokens(
        retry_ratio in 0.0f64..3.0,
        min_retries in 0u32..50,
        threads in proptest::collection::vec(work(), 2..5),
    ) {
        // A capacity no run can reach, so every token is accounted for.
        let config = RetryBudgetConfig { capacity: u32::MAX, ..config(retry_ratio, min_retries, 1) };
        let settings = BucketSettings::from_config(&config);
        let origin = Instant::now();
        let bucket = Arc::new(TokenBucket::new(settings, None, origin));

        let handles: Vec<_> = threads
            .iter()
            .cloned()
            .map(|work| {
                let bucket = Arc::clone(&bucket);
                std::thread::spawn(move || {
                    let mut withdrawn = 0u64;
                    let mut times = work.withdrawals.into_iter();
                    for round in 0.. {
                        let deposit = round < work.deposits;
                        let time = times.next();
                        if !deposit && time.is_none() {
                            break;
                        }
                        if deposit {
                            bucket.deposit();
                        }
                        if let Some(millis) = time {
                            let now = origin + Duration::from_millis(millis);
                            withdrawn += u64::from(bucket.try_withdraw(now));
                        }
                    }
                    withdrawn
                })
            })
            .collect();
        let withdrawn: u64 = handles
            .into_iter()
            .map(|handle| handle.join().expect("a worker thread"))
            .sum();

        let deposits: u64 = threads.iter().map(|work| u64::from(work.deposits)).sum();
        let latest = threads
            .iter()
            .flat_map(|work| work.withdrawals.iter().copied())
            .max()
            .unwrap_or(0);
        let refilled = (u128::from(latest) * 1_000_000 * settings.refill_per_period
            / settings.period_nanos) as u64;
        let credited = settings.start + deposits * settings.deposit + refilled;

        prop_assert_eq!(
            bucket.balance_micros() + withdrawn * TOKEN,
            credited,
            "balance plus withdrawals must equal every credit"
        );
    }

    #[test]
    fn concurrent_updates_respect_capacity(
        capacity in 1u32..20,
        threads in 2usize..5,
        rounds in 1usize..200,
    ) {
        let origin = Instant::now();
        let bucket = Arc::new(bucket(&config(0.7, 5, capacity), origin));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let bucket = Arc::clone(&bucket);
                std::thread::spawn(move || {
                    let mut withdrawn = 0u64;
                    for round in 0..rounds {
                        bucket.deposit();
                        if round % 3 == 0 {
                            withdrawn += u64::from(bucket.try_withdraw(origin));
                        }
                        assert!(bucket.balance_micros() <= u64::from(capacity) * TOKEN);
                    }
                    withdrawn
                })
            })
            .collect();
        let withdrawn: u64 = handles.into_iter().map(|h| h.join().expect("a worker")).sum();

        let credited = (5u64.min(u64::from(capacity))) * TOKEN
            + (threads * rounds) as u64 * (TOKEN * 7 / 10);
        prop_assert!(bucket.balance_micros() <= u64::from(capacity) * TOKEN);
        prop_assert!(withdrawn * TOKEN + bucket.balance_micros() <= credited, "tokens were created");
    }
}
