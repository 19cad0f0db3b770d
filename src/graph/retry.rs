//! When and how long to wait before trying a Graph call again: the server's
//! `Retry-After` when it gives one, else exponential backoff with jitter,
//! within a bounded number of attempts and a bounded total time. Time is
//! behind the `Timer` trait so tests run instantly and deterministically.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{ErrorKind, GraphError};
use crate::model::{Clock, SystemClock};

/// What a call does after an exchange broke in transport: `Ok` with the
/// error to retry on, or `Err` to stop with: not worth retrying, or a
/// write that may have arrived (`OutcomeUnknown`: never sent again here,
/// the caller reads to find out). Graph's and ARM's clients decide alike.
pub(crate) fn after_transport_failure(
    error: GraphError,
    maybe_sent: bool,
    retryable: bool,
    idempotent: bool,
) -> Result<GraphError, GraphError> {
    if !retryable {
        return Err(error);
    }
    if maybe_sent && !idempotent {
        return Err(GraphError {
            kind: ErrorKind::OutcomeUnknown,
            ..error
        });
    }
    Ok(error)
}

/// The error a call gives up with once its retries are spent: a 429 or
/// 5xx becomes `Throttled`, and the message says why pim stopped waiting
/// (`replicating_for`: seconds spent waiting for a new principal or role to
/// reach PIM).
fn given_up(
    error: GraphError,
    retry_after: Option<Duration>,
    attempt: u32,
    policy: &RetryPolicy,
    replicating_for: Option<i64>,
) -> GraphError {
    let kind = match error.status {
        Some(429 | 502 | 503 | 504) => ErrorKind::Throttled,
        _ => error.kind.clone(),
    };
    let service = error.service.name();
    let message = match (replicating_for, retry_after) {
        (Some(waited), _) => format!(
            "{} (still unknown to PIM after {} s of retrying; a principal or role created moments ago can take minutes to reach it; PIM_RETRY_DEADLINE sets how long pim waits, now {} s)",
            error.message,
            waited.max(0),
            policy.max_total.as_secs()
        ),
        (None, Some(d)) if attempt < policy.max_attempts => format!(
            "{} ({service} asked to wait {} s, past the retry deadline of {} s; PIM_RETRY_DEADLINE sets it)",
            error.message,
            d.as_secs(),
            policy.max_total.as_secs()
        ),
        _ => error.message.clone(),
    };
    GraphError {
        kind,
        message,
        ..error
    }
}

/// Limits on retrying one call.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No retry starts once this much time has passed since the first
    /// attempt, nor one whose wait would end past it: the deadline a user
    /// sets with `PIM_RETRY_DEADLINE`.
    pub max_total: Duration,
    /// First backoff step; doubles per attempt.
    pub base_delay: Duration,
    /// Cap of one backoff step. A server's `Retry-After` is waited in full
    /// (within `max_total`): retrying sooner only spends an attempt on
    /// another refusal.
    pub max_delay: Duration,
    /// Seed of the jitter RNG (deterministic runs).
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            max_total: Duration::from_secs(180),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            seed: 0x5eed,
        }
    }
}

/// Waiting for a new principal or role to reach PIM may take this many
/// times [`RetryPolicy::max_attempts`], within the deadline.
pub const REPLICATION_ATTEMPTS_FACTOR: u32 = 10;

/// A clock that can also wait: what retries and polling need, so tests
/// can move time instead of spending it.
pub trait Timer: Clock {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// Wall-clock time, and real sleeps through tokio.
impl Timer for SystemClock {
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Jittered exponential backoff, shared by every call of one client.
pub struct Backoff {
    policy: RetryPolicy,
    rng: Mutex<StdRng>,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Self {
        let rng = StdRng::seed_from_u64(policy.seed);
        Backoff {
            policy,
            rng: Mutex::new(rng),
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The wait before attempt `attempt + 1` (after `attempt` failures,
    /// counting from 1): `Retry-After` if the server gave one, else half the
    /// exponential step plus a random share of the other half, so that
    /// clients that failed together do not come back together.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d;
        }
        let exp = attempt.saturating_sub(1).min(20);
        let step = self
            .policy
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.policy.max_delay);
        let half = step / 2;
        let jitter = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            rng.random_range(0..=half.as_millis() as u64)
        };
        half + Duration::from_millis(jitter)
    }

    /// Whether another attempt may start after `attempt` failures, having
    /// started at `first`, if it would begin after waiting `wait`.
    pub fn may_retry(
        &self,
        attempt: u32,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> bool {
        attempt < self.policy.max_attempts && self.within_deadline(first, now, wait)
    }

    /// After `attempt` failures of a call begun at `first`, the last with
    /// `error`: how long to wait before the next attempt (`error` handed
    /// back for the caller to report), or the error the call gives up with.
    /// `replicating`: the failure was a principal or role not yet known to
    /// PIM, waited for as long as the deadline allows. Graph's and ARM's
    /// clients decide alike.
    #[allow(clippy::too_many_arguments, clippy::result_large_err)]
    pub(crate) fn next_wait(
        &self,
        op: &str,
        error: GraphError,
        attempt: u32,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
        replicating: bool,
    ) -> Result<(Duration, GraphError), GraphError> {
        let wait = self.delay(attempt, retry_after);
        let may = if replicating {
            self.may_wait_for_replication(attempt, first, now, wait)
        } else {
            self.may_retry(attempt, first, now, wait)
        };
        if may {
            return Ok((wait, error));
        }
        tracing::warn!(operation = %op, attempts = attempt, request_id = ?error.request_id, "giving up: {error}");
        Err(given_up(
            error,
            retry_after,
            attempt,
            &self.policy,
            replicating.then(|| (now - first).num_seconds()),
        ))
    }

    /// Whether a wait of `wait` would end within the deadline. Waits for a
    /// new principal or role to reach PIM are bounded by this alone (and a
    /// ceiling of [`REPLICATION_ATTEMPTS_FACTOR`] times the attempts):
    /// Graph takes seconds to minutes, and backoff reaches its cap long
    /// before that, so counting attempts would give up early.
    pub fn within_deadline(
        &self,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> bool {
        // A clock set back reads as no time passed.
        let passed = (now - first).to_std().unwrap_or(Duration::ZERO);
        passed + wait <= self.policy.max_total
    }

    /// Whether another attempt may start while Graph does not know a new
    /// principal or role yet (see [`Backoff::within_deadline`]).
    pub fn may_wait_for_replication(
        &self,
        attempt: u32,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        wait: Duration,
    ) -> bool {
        attempt
            < self
                .policy
                .max_attempts
                .saturating_mul(REPLICATION_ATTEMPTS_FACTOR)
            && self.within_deadline(first, now, wait)
    }
}

/// `Retry-After`: decimal seconds (`2`, `2.128`) or an HTTP-date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A clock that moves only when slept on, recording every sleep.
    #[derive(Clone)]
    pub struct FakeClock {
        pub start: DateTime<Utc>,
        pub slept: Arc<Mutex<Vec<Duration>>>,
    }

    impl FakeClock {
        pub fn new() -> Self {
            FakeClock {
                start: Utc::now(),
                slept: Arc::new(Mutex::new(Vec::new())),
            }
        }

        pub fn total(&self) -> Duration {
            self.slept.lock().unwrap().iter().sum()
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> DateTime<Utc> {
            self.start + self.total()
        }
    }

    impl Timer for FakeClock {
        fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
            self.slept.lock().unwrap().push(d);
            Box::pin(async {})
        }
    }

    #[test]
    fn retry_after_decimal_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_grows_is_jittered_capped_and_repeatable() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let a = Backoff::new(p.clone());
        let b = Backoff::new(p);
        let da: Vec<Duration> = (1..=8).map(|n| a.delay(n, None)).collect();
        let db: Vec<Duration> = (1..=8).map(|n| b.delay(n, None)).collect();
        assert_eq!(da, db, "same seed, same waits");
        for (n, d) in da.iter().enumerate() {
            let step = Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(2));
            assert!(
                *d >= step / 2 && *d <= step,
                "attempt {n}: {d:?} vs {step:?}"
            );
        }
        // The server's word is waited in full, beyond the backoff cap.
        assert_eq!(
            a.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            a.delay(1, Some(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn bounded_by_attempts_and_total_time() {
        let b = Backoff::new(RetryPolicy {
            max_attempts: 3,
            max_total: Duration::from_secs(10),
            ..RetryPolicy::default()
        });
        let t0 = Utc::now();
        assert!(b.may_retry(1, t0, t0, Duration::from_secs(1)));
        assert!(!b.may_retry(3, t0, t0, Duration::from_secs(1)));
        assert!(!b.may_retry(1, t0, t0 + Duration::from_secs(9), Duration::from_secs(2)));
        // Waiting for replication spends more attempts, never more time.
        assert!(b.may_wait_for_replication(3, t0, t0, Duration::from_secs(1)));
        assert!(!b.may_wait_for_replication(30, t0, t0, Duration::from_secs(1)));
        assert!(!b.may_wait_for_replication(
            3,
            t0,
            t0 + Duration::from_secs(9),
            Duration::from_secs(2)
        ));
    }
}
