//! The emulator's notion of "now": the system clock or a clock that tests fix
//! and move by hand, so schedules, instances and expiry are reproducible.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use pim_model::Clock;

/// A shared, cloneable clock. Clones see the same time, so a test can keep
/// one handle and move the emulator's time with [`EmulatorClock::set`] or
/// [`EmulatorClock::advance`].
#[derive(Clone)]
pub struct EmulatorClock(Arc<Mutex<ClockState>>);

struct ClockState {
    fixed: Option<DateTime<Utc>>,
    offset: TimeDelta,
}

impl EmulatorClock {
    /// Wall-clock time (plus any offset given with [`EmulatorClock::advance`]).
    pub fn system() -> Self {
        EmulatorClock(Arc::new(Mutex::new(ClockState {
            fixed: None,
            offset: TimeDelta::zero(),
        })))
    }

    /// A clock standing still at `t` until moved.
    pub fn fixed(t: DateTime<Utc>) -> Self {
        EmulatorClock(Arc::new(Mutex::new(ClockState {
            fixed: Some(t),
            offset: TimeDelta::zero(),
        })))
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

impl Clock for EmulatorClock {
    fn now(&self) -> DateTime<Utc> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.fixed.unwrap_or_else(Utc::now) + s.offset
    }
}

impl Default for EmulatorClock {
    fn default() -> Self {
        EmulatorClock::system()
    }
}

impl std::fmt::Debug for EmulatorClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmulatorClock({})", self.now())
    }
}
