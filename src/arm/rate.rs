//! ARM's request limits, kept on pim's side: a token bucket per
//! subscription (or tenant, for calls above any subscription) and kind of
//! operation, refilled at ARM's documented rates, so that writes stay
//! under 10 a second sustained without waiting for a 429. ARM's
//! `x-ms-ratelimit-remaining-*` headers correct the count: a bucket never
//! holds more than ARM says remain (other clients of the same principal
//! and subscription draw from ARM's bucket too), so pim slows down as they
//! run low, before ARM throttles. Time is the injected clock's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::settings::{ArmRates, RateLimit};
use crate::graph::Timer;

/// How ARM counts a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    Write,
    Delete,
}

impl Operation {
    /// GET reads, DELETE deletes, the rest write (POST `cancel` too:
    /// UNVERIFIED, ARM generally counts it so).
    pub fn of(method: &reqwest::Method) -> Operation {
        match *method {
            reqwest::Method::GET | reqwest::Method::HEAD => Operation::Read,
            reqwest::Method::DELETE => Operation::Delete,
            _ => Operation::Write,
        }
    }

    fn header_suffix(self) -> &'static str {
        match self {
            Operation::Read => "reads",
            Operation::Write => "writes",
            Operation::Delete => "deletes",
        }
    }
}

/// Which of ARM's buckets a call draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketKey {
    /// Lower case; `None`: a tenant-level call (management groups, no scope).
    pub subscription: Option<String>,
    pub operation: Operation,
}

impl BucketKey {
    /// The bucket of a call to `path` (an absolute path under the endpoint).
    pub fn of(method: &reqwest::Method, path: &str) -> BucketKey {
        let lower = path.to_ascii_lowercase();
        let lower = lower
            .strip_prefix("/providers/microsoft.subscription")
            .unwrap_or(&lower);
        let subscription = lower
            .strip_prefix("/subscriptions/")
            .and_then(|r| r.split('/').next())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        BucketKey {
            subscription,
            operation: Operation::of(method),
        }
    }

    /// The header ARM reports this bucket's remaining requests in. The
    /// `-tenant-deletes` one is UNVERIFIED (arm-pim.md §9.3).
    pub fn header(&self) -> String {
        let level = if self.subscription.is_some() {
            "subscription"
        } else {
            "tenant"
        };
        format!(
            "x-ms-ratelimit-remaining-{level}-{}",
            self.operation.header_suffix()
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    at: DateTime<Utc>,
}

/// The buckets of one client.
pub(crate) struct Buckets {
    rates: ArmRates,
    levels: Mutex<HashMap<BucketKey, Level>>,
}

impl Buckets {
    pub(crate) fn new(rates: ArmRates) -> Self {
        Buckets {
            rates,
            levels: Mutex::new(HashMap::new()),
        }
    }

    fn rate(&self, op: Operation) -> RateLimit {
        match op {
            Operation::Read => self.rates.reads,
            Operation::Write => self.rates.writes,
            Operation::Delete => self.rates.deletes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BucketKey, Level>> {
        self.levels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one token of `key`'s bucket, waiting on `clock` until there is
    /// one. Returns how long it waited.
    pub(crate) async fn take(&self, key: &BucketKey, clock: &dyn Timer) -> Duration {
        let rate = self.rate(key.operation);
        let mut waited = Duration::ZERO;
        loop {
            let wait = {
                let now = clock.now();
                let mut levels = self.lock();
                let level = levels.entry(key.clone()).or_insert(Level {
                    tokens: f64::from(rate.burst),
                    at: now,
                });
                refill(level, rate, now);
                if level.tokens >= 1.0 {
                    level.tokens -= 1.0;
                    return waited;
                }
                Duration::from_secs_f64((1.0 - level.tokens) / rate.per_second)
            };
            // Never a zero sleep: a clock that does not move would spin.
            let wait = wait.max(Duration::from_millis(1));
            clock.sleep(wait).await;
            waited += wait;
        }
    }

    /// What ARM said remains of `key`'s bucket after a call: the bucket
    /// holds no more than that.
    pub(crate) fn observe(&self, key: &BucketKey, remaining: u64, clock: &dyn Timer) {
        let rate = self.rate(key.operation);
        let now = clock.now();
        let mut levels = self.lock();
        let level = levels.entry(key.clone()).or_insert(Level {
            tokens: f64::from(rate.burst),
            at: now,
        });
        refill(level, rate, now);
        let remaining = remaining as f64;
        if remaining < level.tokens {
            tracing::debug!(
                subscription = ?key.subscription,
                operation = ?key.operation,
                remaining,
                "ARM reports fewer requests left than pim counted; pacing to its figure"
            );
            level.tokens = remaining;
        }
    }

    /// Tokens in `key`'s bucket now (tests).
    #[cfg(test)]
    fn tokens(&self, key: &BucketKey, clock: &dyn Timer) -> f64 {
        let rate = self.rate(key.operation);
        let mut levels = self.lock();
        match levels.get_mut(key) {
            Some(l) => {
                refill(l, rate, clock.now());
                l.tokens
            }
            None => f64::from(rate.burst),
        }
    }
}

fn refill(level: &mut Level, rate: RateLimit, now: DateTime<Utc>) {
    // A clock set back reads as no time passed.
    let passed = (now - level.at).to_std().unwrap_or(Duration::ZERO);
    level.tokens =
        (level.tokens + passed.as_secs_f64() * rate.per_second).min(f64::from(rate.burst));
    if now > level.at {
        level.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::retry::tests::FakeClock;

    fn rates(burst: u32, per_second: f64) -> ArmRates {
        ArmRates {
            writes: RateLimit { burst, per_second },
            ..ArmRates::default()
        }
    }

    fn write(sub: &str) -> BucketKey {
        BucketKey::of(
            &reqwest::Method::PUT,
            &format!("/subscriptions/{sub}/providers/Microsoft.Authorization/x/y"),
        )
    }

    #[tokio::test]
    async fn a_burst_then_the_sustained_rate() {
        let clock = FakeClock::new();
        let b = Buckets::new(rates(3, 10.0));
        let key = write("s1");
        for _ in 0..3 {
            assert_eq!(b.take(&key, &clock).await, Duration::ZERO);
        }
        // Then one every 100 ms: 10 a second.
        for _ in 0..5 {
            let w = b.take(&key, &clock).await;
            assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
        }
        assert!((clock.total().as_secs_f64() - 0.5).abs() < 1e-6);
        // Another subscription has a bucket of its own.
        assert_eq!(b.take(&write("s2"), &clock).await, Duration::ZERO);
    }

    #[tokio::test]
    async fn arms_count_lowers_pims() {
        let clock = FakeClock::new();
        let b = Buckets::new(rates(200, 10.0));
        let key = write("s1");
        b.observe(&key, 2, &clock);
        assert_eq!(b.tokens(&key, &clock), 2.0);
        // A higher figure never raises it above the refill.
        b.observe(&key, 150, &clock);
        assert_eq!(b.tokens(&key, &clock), 2.0);
        b.take(&key, &clock).await;
        b.take(&key, &clock).await;
        let w = b.take(&key, &clock).await;
        assert!(w > Duration::ZERO, "paced once ARM's figure ran out");
    }

    #[test]
    fn keys_and_headers() {
        let k = BucketKey::of(
            &reqwest::Method::GET,
            "/providers/Microsoft.Subscription/subscriptions/AB/providers/Microsoft.Authorization/x",
        );
        assert_eq!(k.subscription.as_deref(), Some("ab"));
        assert_eq!(k.header(), "x-ms-ratelimit-remaining-subscription-reads");
        let k = BucketKey::of(
            &reqwest::Method::POST,
            "/providers/Microsoft.Management/managementGroups/m/providers/Microsoft.Authorization/x/y/cancel",
        );
        assert_eq!(k.subscription, None);
        assert_eq!(k.header(), "x-ms-ratelimit-remaining-tenant-writes");
    }
}
