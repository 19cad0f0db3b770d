//! Fault injection and request statistics: latency, per-client throttling,
//! random 503/504, dropped connections (before or after a write took effect)
//! and replication delay (of new schedules, and of new principals and roles),
//! for Graph and ARM routes alike.
//! All off by default; one seeded RNG makes runs repeatable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What can go wrong, and how often. Rates are probabilities per request (0.0–1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Fixed delay before every Graph response.
    pub latency_ms: u64,
    /// Extra random delay, uniform in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Requests each client may make per 1-second window before getting 429.
    pub throttle_per_second: Option<u32>,
    /// Share of requests answered 503 or 504 (half each).
    pub error_rate: f64,
    /// Share of requests whose connection is dropped without a response.
    pub reset_rate: f64,
    /// Of the dropped write requests, the share dropped after the write took effect.
    pub reset_after_write_share: f64,
    /// New schedules stay invisible to reads for this long.
    pub replication_delay_ms: u64,
    /// Seed of the fault RNG.
    pub rng_seed: u64,
    /// Principals and custom roles created while the emulator runs stay
    /// unknown to schedule requests for this long (on the emulator's
    /// clock): `404 SubjectNotFound` / `RoleNotFound`, as Graph answers
    /// until a new object has reached PIM. Observed as 5–30 s and more
    /// (terraform-provider-azuread retries exactly these two codes); how
    /// long, and whether reads see the same lag, is UNVERIFIED.
    pub new_object_delay_ms: u64,
    /// ARM's token buckets (the ARM routes only; `throttlePerSecond`
    /// applies there too).
    pub arm_limits: crate::ArmLimits,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            jitter_ms: 0,
            throttle_per_second: None,
            error_rate: 0.0,
            reset_rate: 0.0,
            reset_after_write_share: 0.5,
            replication_delay_ms: 0,
            rng_seed: 0,
            new_object_delay_ms: 0,
            arm_limits: crate::ArmLimits::default(),
        }
    }
}

/// When to drop a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    No,
    BeforeHandling,
    AfterHandling,
}

pub(crate) struct FaultState {
    pub cfg: Faults,
    rng: Mutex<StdRng>,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FaultState {
    pub fn new(cfg: Faults) -> Self {
        let rng = StdRng::seed_from_u64(cfg.rng_seed);
        FaultState {
            cfg,
            rng: Mutex::new(rng),
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.random::<f64>() < rate
    }

    pub fn latency(&self) -> Option<Duration> {
        let c = &self.cfg;
        if c.latency_ms == 0 && c.jitter_ms == 0 {
            return None;
        }
        let jitter = if c.jitter_ms > 0 {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            rng.random_range(0..=c.jitter_ms)
        } else {
            0
        };
        Some(Duration::from_millis(c.latency_ms + jitter))
    }

    /// `Some(seconds to wait)` when `client` is over its quota in this window.
    pub fn throttle(&self, client: &str) -> Option<u64> {
        let limit = self.cfg.throttle_per_second?;
        let now = Instant::now();
        let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let entry = w.entry(client.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > limit {
            let left = Duration::from_secs(1).saturating_sub(now.duration_since(entry.0));
            Some(left.as_secs_f64().ceil().max(1.0) as u64)
        } else {
            None
        }
    }

    /// A random 503 or 504.
    pub fn server_error(&self) -> Option<u16> {
        if !self.roll(self.cfg.error_rate) {
            return None;
        }
        Some(if self.roll(0.5) { 503 } else { 504 })
    }

    pub fn reset(&self, is_write: bool) -> Reset {
        if !self.roll(self.cfg.reset_rate) {
            return Reset::No;
        }
        if is_write && self.roll(self.cfg.reset_after_write_share) {
            Reset::AfterHandling
        } else {
            Reset::BeforeHandling
        }
    }

    pub fn replication_delay(&self) -> Option<Duration> {
        (self.cfg.replication_delay_ms > 0)
            .then(|| Duration::from_millis(self.cfg.replication_delay_ms))
    }

    /// How long a principal or role created at run time stays unknown to PIM.
    pub fn new_object_delay(&self) -> Option<chrono::TimeDelta> {
        let ms = i64::try_from(self.cfg.new_object_delay_ms).unwrap_or(i64::MAX);
        (ms > 0).then(|| chrono::TimeDelta::try_milliseconds(ms).unwrap_or(chrono::TimeDelta::MAX))
    }
}

/// Counters served at `/_emulator/stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    total: u64,
    by_route: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
}

impl Counters {
    pub fn record(&mut self, route: &str, status: &str) {
        self.total += 1;
        // Look up before inserting: the keys repeat, and allocating them on
        // every request showed up in the throughput profile.
        for (map, key) in [(&mut self.by_route, route), (&mut self.by_status, status)] {
            match map.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    map.insert(key.to_string(), 1);
                }
            }
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "total": self.total, "byRoute": self.by_route, "byStatus": self.by_status })
    }
}

/// A route name for statistics: the path with ids replaced by `{id}`.
pub(crate) fn route_key(method: &str, path: &str) -> String {
    let segs: Vec<String> = path
        .split('/')
        .map(|s| {
            if let Some(i) = s.find('(') {
                format!("{}(…)", &s[..i])
            } else if looks_like_id(s) {
                "{id}".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    format!("{method} {}", segs.join("/"))
}

fn looks_like_id(s: &str) -> bool {
    s.contains('@')
        || s.starts_with("DirectoryRole_")
        || s.starts_with("Directory_")
        || s.starts_with("Group_")
        || (s.len() >= 20 && s.chars().any(|c| c.is_ascii_digit()))
        || s.contains('%')
}
