//! ARM's request limits: a token bucket per client, subscription (or
//! tenant, for calls with no subscription in their path) and operation
//! type, the `x-ms-ratelimit-remaining-*` header every answer carries,
//! and the 429 that an empty bucket (or the `--throttle` fault) gets.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::cloud_error;
use crate::error::ApiError;

/// Bucket sizes and refill rates (per second), as ARM documents them for
/// the token-bucket model; `enforce: false` only counts (the header). A
/// bucket that never refills (rate 0) asks to wait an hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArmLimits {
    pub enforce: bool,
    pub reads: u32,
    pub reads_per_second: u32,
    pub writes: u32,
    pub writes_per_second: u32,
    pub deletes: u32,
    pub deletes_per_second: u32,
}

impl Default for ArmLimits {
    fn default() -> Self {
        ArmLimits {
            enforce: true,
            reads: 250,
            reads_per_second: 25,
            writes: 200,
            writes_per_second: 10,
            deletes: 200,
            deletes_per_second: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Read,
    Write,
    Delete,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Delete => "delete",
        }
    }
}

/// Which bucket a call draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Bucket {
    client: String,
    /// `None`: tenant-level (management groups, no scope).
    subscription: Option<String>,
    op: Op,
}

impl Bucket {
    /// GET/HEAD read; DELETE deletes; anything else (POST `cancel` and
    /// `validate` too: UNVERIFIED, ARM generally counts them) writes.
    pub fn of(method: &str, path: &str, client: &str) -> Bucket {
        let op = match method {
            "GET" | "HEAD" => Op::Read,
            "DELETE" => Op::Delete,
            _ => Op::Write,
        };
        let lower = path.to_ascii_lowercase();
        let lower = lower
            .strip_prefix("/providers/microsoft.subscription")
            .unwrap_or(&lower);
        let subscription = lower
            .strip_prefix("/subscriptions/")
            .and_then(|r| r.split('/').next())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Bucket {
            client: client.to_ascii_lowercase(),
            subscription,
            op,
        }
    }

    /// The remaining-quota header of this bucket. `-tenant-deletes` is
    /// UNVERIFIED (only the subscription one is seen in recorded traffic).
    pub fn header(&self) -> &'static str {
        match (&self.subscription, self.op) {
            (Some(_), Op::Read) => "x-ms-ratelimit-remaining-subscription-reads",
            (Some(_), Op::Write) => "x-ms-ratelimit-remaining-subscription-writes",
            (Some(_), Op::Delete) => "x-ms-ratelimit-remaining-subscription-deletes",
            (None, Op::Read) => "x-ms-ratelimit-remaining-tenant-reads",
            (None, Op::Write) => "x-ms-ratelimit-remaining-tenant-writes",
            (None, Op::Delete) => "x-ms-ratelimit-remaining-tenant-deletes",
        }
    }
}

/// ARM's 429. UNVERIFIED: code and message are those ARM is seen to give
/// for its own (not a resource provider's) limits.
pub(crate) fn throttled(bucket: &Bucket, retry_after: u64) -> ApiError {
    let (code, whose) = match &bucket.subscription {
        Some(s) => (
            "SubscriptionRequestsThrottled",
            format!("subscription '{s}'"),
        ),
        None => ("TenantRequestsThrottled", "tenant".to_string()),
    };
    cloud_error(
        429,
        code,
        format!(
            "Number of '{}' requests for {whose} actor '{}' exceeded. Please try again after '{retry_after}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.",
            bucket.op.as_str(),
            bucket.client
        ),
    )
    .with_header("Retry-After", retry_after.to_string())
    .with_header(bucket.header(), "0")
}

/// The buckets of one emulator; they fill in real time.
#[derive(Debug, Default)]
pub(crate) struct Buckets(Mutex<HashMap<Bucket, (f64, Instant)>>);

impl Buckets {
    /// Take one token: `Ok(tokens left)` or `Err(seconds to wait)`.
    pub fn take(&self, bucket: &Bucket, limits: &ArmLimits) -> Result<u64, u64> {
        let (size, rate) = match bucket.op {
            Op::Read => (limits.reads, limits.reads_per_second),
            Op::Write => (limits.writes, limits.writes_per_second),
            Op::Delete => (limits.deletes, limits.deletes_per_second),
        };
        let (size, rate) = (f64::from(size), f64::from(rate));
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = map.entry(bucket.clone()).or_insert((size, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(size);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(tokens.floor() as u64)
        } else if !limits.enforce {
            Ok(0)
        } else {
            let wait = if rate > 0.0 {
                (1.0 - *tokens) / rate
            } else {
                3600.0
            };
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_per_client_subscription_and_operation() {
        let b = Buckets::default();
        let limits = ArmLimits {
            writes: 2,
            writes_per_second: 0,
            ..ArmLimits::default()
        };
        let w = Bucket::of(
            "PUT",
            "/subscriptions/S1/providers/Microsoft.Authorization/x",
            "app",
        );
        assert_eq!(b.take(&w, &limits), Ok(1));
        assert_eq!(b.take(&w, &limits), Ok(0));
        assert_eq!(b.take(&w, &limits), Err(3600));
        // Another subscription, another client, reads: their own buckets.
        let other = Bucket::of(
            "PUT",
            "/providers/Microsoft.Subscription/subscriptions/S2/x",
            "app",
        );
        assert_eq!(b.take(&other, &limits), Ok(1));
        assert_eq!(
            b.take(&Bucket::of("PUT", "/subscriptions/S1/x", "other"), &limits),
            Ok(1)
        );
        let r = Bucket::of("GET", "/subscriptions/S1/x", "app");
        assert_eq!(r.header(), "x-ms-ratelimit-remaining-subscription-reads");
        assert_eq!(b.take(&r, &limits), Ok(249));
        let mg = Bucket::of(
            "PUT",
            "/providers/Microsoft.Management/managementGroups/m/x",
            "app",
        );
        assert_eq!(mg.header(), "x-ms-ratelimit-remaining-tenant-writes");
        let counting = ArmLimits {
            enforce: false,
            ..limits
        };
        assert_eq!(b.take(&w, &counting), Ok(0));
    }
}
