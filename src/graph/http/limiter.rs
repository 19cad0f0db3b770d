//! How many Graph calls one client keeps in flight: at most the configured
//! parallelism, halved when Graph throttles and raised by one per window
//! of successes (AIMD), with a throttled answer's `Retry-After` holding
//! back new calls. One cut per throttling episode: a 429 to a call sent
//! before the last cut says nothing the cut did not already answer.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::graph::retry::Timer;

/// What one exchange said about Graph's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Answered (or failed) for reasons that are no sign of load.
    Neutral,
    Success,
    /// A 429, with the longest `Retry-After` it carried.
    Throttled(Option<Duration>),
}

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    /// Bumped at every cut: a call holding an older epoch was sent before it.
    epoch: u64,
    /// Successes of calls sent since the limit last changed.
    successes: usize,
    /// After a cut, no call starts before this.
    resume_at: Option<DateTime<Utc>>,
    cuts: u64,
}

pub(crate) struct Limiter {
    max: usize,
    /// When false the limit stays at `max` (a fixed parallelism).
    adaptive: bool,
    state: Mutex<State>,
    freed: Notify,
}

/// A slot in flight; freed when dropped.
pub(crate) struct Permit<'a> {
    limiter: &'a Limiter,
    /// The epoch the call was sent in.
    pub(crate) epoch: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        {
            let mut s = self.limiter.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.limiter.freed.notify_one();
    }
}

impl Limiter {
    pub(crate) fn new(max: usize, adaptive: bool) -> Self {
        let max = max.max(1);
        Limiter {
            max,
            adaptive,
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                epoch: 0,
                successes: 0,
                resume_at: None,
                cuts: 0,
            }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls allowed in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Times the limit was cut.
    pub(crate) fn cuts(&self) -> u64 {
        self.lock().cuts
    }

    /// Waits for a slot (and for the end of a throttling pause).
    pub(crate) async fn acquire(&self, clock: &dyn Timer) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a slot freed in between is not missed.
            freed.as_mut().enable();
            let pause = {
                let mut s = self.lock();
                let now = clock.now();
                match s.resume_at {
                    Some(at) if at > now => Some((at - now).to_std().unwrap_or(Duration::ZERO)),
                    _ => {
                        s.resume_at = None;
                        if s.in_flight < s.limit {
                            s.in_flight += 1;
                            return Permit {
                                limiter: self,
                                epoch: s.epoch,
                            };
                        }
                        None
                    }
                }
            };
            match pause {
                Some(d) => clock.sleep(d).await,
                None => freed.await,
            }
        }
    }

    /// Takes what a call sent in `epoch` was answered into account.
    pub(crate) fn observe(&self, epoch: u64, signal: Signal, clock: &dyn Timer) {
        if !self.adaptive {
            return;
        }
        let mut s = self.lock();
        // A call sent before the last change says nothing about the new limit.
        if epoch != s.epoch {
            return;
        }
        match signal {
            Signal::Neutral => {}
            Signal::Success => {
                s.successes += 1;
                if s.successes >= s.limit {
                    s.successes = 0;
                    if s.limit < self.max {
                        s.limit += 1;
                        drop(s);
                        self.freed.notify_one();
                    }
                }
            }
            Signal::Throttled(retry_after) => {
                s.limit = (s.limit / 2).max(1);
                s.epoch += 1;
                s.successes = 0;
                s.cuts += 1;
                if let Some(d) = retry_after.and_then(|d| chrono::TimeDelta::from_std(d).ok()) {
                    let at = clock.now() + d;
                    s.resume_at = Some(s.resume_at.map_or(at, |r| r.max(at)));
                }
                tracing::info!(
                    limit = s.limit,
                    "Graph throttles: calls in flight cut to {}",
                    s.limit
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::retry::tests::FakeClock;
    use crate::model::Clock as _;

    #[tokio::test]
    async fn cuts_once_per_episode() {
        let clock = FakeClock::new();
        let l = Limiter::new(8, true);
        let permits: Vec<_> = futures::future::join_all((0..8).map(|_| l.acquire(&clock))).await;
        let sent_before: Vec<u64> = permits.iter().map(|p| p.epoch).collect();
        drop(permits);
        // All eight were sent in one epoch and all come back throttled.
        for e in &sent_before {
            l.observe(*e, Signal::Throttled(None), &clock);
        }
        assert_eq!((l.limit(), l.cuts()), (4, 1));
        // A call sent after the cut, throttled too: a new episode.
        let p = l.acquire(&clock).await;
        let epoch = p.epoch;
        drop(p);
        l.observe(epoch, Signal::Throttled(None), &clock);
        assert_eq!((l.limit(), l.cuts()), (2, 2));
        // And an answer to a call sent before that cut changes nothing.
        l.observe(epoch, Signal::Throttled(None), &clock);
        l.observe(epoch, Signal::Success, &clock);
        assert_eq!((l.limit(), l.cuts()), (2, 2));
    }

    #[tokio::test]
    async fn recovers_one_per_window_and_never_above_the_maximum() {
        let clock = FakeClock::new();
        let l = Limiter::new(4, true);
        l.observe(0, Signal::Throttled(None), &clock);
        l.observe(1, Signal::Throttled(None), &clock);
        assert_eq!(l.limit(), 1);
        let mut seen = vec![l.limit()];
        for _ in 0..40 {
            let p = l.acquire(&clock).await;
            let epoch = p.epoch;
            drop(p);
            l.observe(epoch, Signal::Success, &clock);
            if seen.last() != Some(&l.limit()) {
                seen.push(l.limit());
            }
        }
        // +1 after a window as large as the limit: 1, then 2, then 3 successes.
        assert_eq!(seen, [1, 2, 3, 4]);
        assert_eq!(l.limit(), 4, "never above the configured parallelism");
    }

    #[tokio::test]
    async fn never_below_one_and_holds_calls_for_retry_after() {
        let clock = FakeClock::new();
        let l = Limiter::new(2, true);
        for epoch in 0..5 {
            l.observe(
                epoch,
                Signal::Throttled(Some(Duration::from_secs(3))),
                &clock,
            );
        }
        assert_eq!(l.limit(), 1);
        let before = clock.now();
        let p = l.acquire(&clock).await;
        assert!(clock.now() - before >= chrono::TimeDelta::seconds(3));
        assert_eq!(p.epoch, 5);
    }

    #[tokio::test]
    async fn holds_calls_beyond_the_limit_until_one_ends() {
        let clock = FakeClock::new();
        let l = Limiter::new(2, true);
        l.observe(0, Signal::Throttled(None), &clock);
        let first = l.acquire(&clock).await;
        let mut second = Box::pin(l.acquire(&clock));
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "one in flight at a limit of one"
        );
        drop(first);
        let p = second.await;
        assert_eq!(p.epoch, 1);
    }

    #[tokio::test]
    async fn a_fixed_limiter_does_not_move() {
        let clock = FakeClock::new();
        let l = Limiter::new(3, false);
        l.observe(0, Signal::Throttled(Some(Duration::from_secs(5))), &clock);
        assert_eq!(l.limit(), 3);
        let before = clock.now();
        let _p = l.acquire(&clock).await;
        assert_eq!(clock.now(), before, "no pause either");
    }
}
