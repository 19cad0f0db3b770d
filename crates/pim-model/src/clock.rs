//! What time it is, behind one trait, so that every stage that reads the
//! time (retries, self-service checks, the emulator) can be given a clock a
//! test fixes and moves.

use chrono::{DateTime, Utc};

/// The time now, as the caller sees it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
