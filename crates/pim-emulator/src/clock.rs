//! The emulator's notion of "now": the system clock or a clock that tests fix
//! and move by hand, so schedules, instances and expiry are reproducible.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

/// A shared, cloneable clock. Clones see the same time, so a test can keep one
/// handle and move the emulator's time with [`Clock::set`] or [`Clock::advance`].
#[derive(Clone)]
pub struct Clock(Arc<Mutex<ClockState>>);

struct ClockState {
    fixed: Option<DateTime<Utc>>,
    offset: TimeDelta,
}

impl Clock {
    /// Wall-clock time (plus any offset given with [`Clock::advance`]).
    pub fn system() -> Self {
        Clock(Arc::new(Mutex::new(ClockState {
            fixed: None,
            offset: TimeDelta::zero(),
        })))
    }

    /// A clock standing still at `t` until moved.
    pub fn fixed(t: DateTime<Utc>) -> Self {
        Clock(Arc::new(Mutex::new(ClockState {
            fixed: Some(t),
            offset: TimeDelta::zero(),
        })))
    }

    pub fn now(&self) -> DateTime<Utc> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.fixed.unwrap_or_else(Utc::now) + s.offset
    }

    /// Stop the clock at `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.fixed = Some(t);
        s.offset = TimeDelta::zero();
    }

    /// Move the clock forward (or back, with a negative delta).
    pub fn advance(&self, d: TimeDelta) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.offset += d;
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
